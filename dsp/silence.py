"""Long-pause shortening: find pauses with the speech detector, cut their middles, crossfade.

A pause (no speech) longer than ``max_pause_s`` is shortened to ``keep_pause_s``: half of what is
kept stays after the speech before it, half before the speech after it, so breaths and word
endings are untouched; a pause at the start or end of the recording keeps ``keep_pause_s`` next
to the speech. Each join is an equal-gain linear crossfade of ``crossfade_s`` (the two sides are
both pause, so a plain linear fade neither dips nor bumps; Reiss & McPherson, *Audio Effects*,
2014, ch. 2 on crossfade laws). Like the truncate-silence tools of audio editors (Audacity's
"Truncate Silence": a threshold, a minimum length, a length to keep), but the decision is the
speech detector's (:mod:`dsp.vad`), so a quiet word is never taken for a pause.

The work is in two passes, as an edit that changes the duration must be: the detector reads
the whole stream first (:class:`SilenceShortener`, streaming, any length), then the plan of cuts
it returns is applied while the audio is copied (:func:`apply_cuts`, here in memory; the server
applies it streaming from disk).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsp._typing import Audio
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.vad import SpeechDetector

__all__ = ["SilenceCuts", "SilenceShortener", "apply_cuts", "plan_cuts", "shorten_silences"]

#: Crossfade at each join, in seconds (short: both sides are pause).
CROSSFADE_S = 0.01
#: A piece of speech left beside a filler taken out of it (:meth:`SilenceShortener.exclude_speech`)
#: shorter than this is the filler's own edge, not a word: two 10 ms detector frames and a bit.
_MIN_SPEECH_LEFT_S = 0.03


@dataclass(frozen=True)
class SilenceCuts:
    """Stretches to remove, as ``(start_sample, end_sample)`` pairs, sorted and apart."""

    cuts: tuple[tuple[int, int], ...]
    sr: int
    n: int

    @property
    def removed(self) -> int:
        """Samples removed in all."""
        return sum(b - a for a, b in self.cuts)


def plan_cuts(
    segments_s: list[tuple[float, float]],
    duration_s: float,
    sr: int,
    *,
    max_pause_s: float = 1.0,
    keep_pause_s: float = 0.5,
) -> SilenceCuts:
    """The cuts that shorten every pause longer than ``max_pause_s`` to ``keep_pause_s``.

    Parameters
    ----------
    segments_s : list of (float, float)
        Speech segments ``(start_s, end_s)`` in seconds, sorted, from the speech detector.
    duration_s : float
        Length of the recording in seconds.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    max_pause_s : float
        Pauses longer than this (seconds, in [0.2, 60]) are shortened.
    keep_pause_s : float
        What is left of a shortened pause, in seconds, in [0.05, ``max_pause_s``].

    Returns
    -------
    SilenceCuts
        Sample ranges to remove; with no speech at all, nothing is cut (the recording may be
        music or an ambience, not a pause).

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] Audacity manual, "Truncate Silence" (threshold, minimum length, truncate-to length).

    Examples
    --------
    >>> plan_cuts([(0.5, 1.0), (3.0, 4.0)], 4.0, 8000).cuts
    ((10000, 22000),)
    """
    sr = check_sr(sr)
    max_pause = check_range("max_pause_s", max_pause_s, 0.2, 60.0)
    keep = check_range("keep_pause_s", keep_pause_s, 0.05, max_pause)
    n = round(duration_s * sr)
    if not segments_s:
        return SilenceCuts((), sr, n)
    cuts: list[tuple[int, int]] = []
    edges: list[tuple[float | None, float | None]] = [(None, segments_s[0][0])]
    edges += [(a[1], b[0]) for a, b in itertools.pairwise(segments_s)]
    edges.append((segments_s[-1][1], None))
    for before, after in edges:
        start = 0.0 if before is None else before
        end = duration_s if after is None else after
        if end - start <= max_pause:
            continue
        if before is None:  # leading pause: keep what is next to the speech
            a, b = 0.0, end - keep
        elif after is None:  # trailing pause
            a, b = start + keep, duration_s
        else:
            a, b = start + keep / 2, end - keep / 2
        lo, hi = round(a * sr), min(round(b * sr), n)
        if hi > lo:
            cuts.append((lo, hi))
    return SilenceCuts(tuple(cuts), sr, n)


def apply_cuts(audio: Audio, cuts: SilenceCuts, *, crossfade_s: float = CROSSFADE_S) -> Audio:
    """Remove ``cuts`` from ``audio``, joining each side with a linear crossfade.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        The recording the cuts were planned on.
    cuts : SilenceCuts
        What to remove.
    crossfade_s : float
        Crossfade length in seconds, in [0, 0.1].

    Returns
    -------
    ndarray, float32
        ``n - cuts.removed`` samples per channel.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.

    References
    ----------
    .. [1] J. D. Reiss, A. P. McPherson, "Audio Effects: Theory, Implementation and Application,"
       CRC Press, 2014, ch. 2 (crossfades).

    Examples
    --------
    >>> x = np.ones(24000, np.float32)
    >>> apply_cuts(x, SilenceCuts(((8000, 16000),), 8000, 24000)).shape
    (16000,)
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    fade = round(check_range("crossfade_s", crossfade_s, 0.0, 0.1) * cuts.sr)
    parts: list[Audio] = []
    pos = 0
    for a, b in cuts.cuts:
        # the fade straddles each cut edge: the pause before the cut fades out across ``a`` while
        # the pause after it fades in across ``b``, so exactly ``b - a`` samples go
        h = max(0, min(fade // 2, a - pos, (b - a) // 2, x.shape[-1] - b))
        parts.append(x[:, pos : a - h])
        if h > 0:
            ramp = np.linspace(0.0, 1.0, 2 * h + 2, dtype=np.float32)[1:-1]
            parts.append(x[:, a - h : a + h] * (1 - ramp) + x[:, b - h : b + h] * ramp)
        pos = b + h
    parts.append(x[:, pos:])
    out = np.concatenate(parts, axis=-1).astype(np.float32)
    return out[0] if audio.ndim == 1 else out


class SilenceShortener:
    """Pass one of the edit: runs the speech detector over a stream and plans the cuts.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    max_pause_s : float
        Pauses longer than this, in seconds in [0.2, 60], are shortened.
    keep_pause_s : float
        What is left of such a pause, in seconds.
    spare_music : bool
        Also run the music detector (:class:`dsp.music.MusicDetector`, which carries the speech
        detector, so the stream is read once for both) and never cut into the music it finds, nor
        into its fade or the gap between two pieces (:meth:`dsp.music.MusicMap.protected`): music
        has no speech, but it is no pause either.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] Audacity manual, "Truncate Silence".

    Examples
    --------
    >>> s = SilenceShortener(16000, 1)
    >>> s.process(np.zeros((1, 16000), np.float32))
    >>> s.finish().cuts  # no speech: nothing is cut
    ()
    """

    def __init__(
        self,
        sr: int,
        channels: int,
        *,
        max_pause_s: float = 1.0,
        keep_pause_s: float = 0.5,
        spare_music: bool = False,
    ) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.max_pause_s = check_range("max_pause_s", max_pause_s, 0.2, 60.0)
        self.keep_pause_s = check_range("keep_pause_s", keep_pause_s, 0.05, self.max_pause_s)
        self._music: Any = None
        if spare_music:
            from dsp.music import MusicDetector

            self._music = MusicDetector(self.sr, self.channels)
            self._vad = self._music.speech_detector
        else:
            self._vad = SpeechDetector(self.sr, self.channels, min_non_speech_s=0.0)
        self._n = 0
        self._cuts: SilenceCuts | None = None
        self._planned: SilenceCuts | None = None
        self._segments: list[tuple[float, float]] = []
        self._joined = 0

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block (nothing is returned: this pass only listens)."""
        x = check_block(block, self.channels)
        self._n += x.shape[-1]
        (self._music if self._music is not None else self._vad).process(x)  # the music detector feeds the VAD

    def finish(self) -> SilenceCuts:
        """The cuts, once the whole stream was read."""
        if self._cuts is None:
            if self._music is not None:
                self._music.finish()  # finishes its speech detector too
            self._plan(list(self._vad.finish()))
        assert self._cuts is not None
        return self._cuts

    def _plan(self, segments: list[tuple[float, float]]) -> None:
        """The cuts for these speech segments, kept off the music when the step spares it."""
        self._segments = segments
        self._planned = self._cuts = plan_cuts(
            segments, self._n / self.sr, self.sr, max_pause_s=self.max_pause_s, keep_pause_s=self.keep_pause_s
        )
        if self._music is not None:
            from dsp.music import protect_cuts

            self._cuts = protect_cuts(self._planned, self._music.finish().protected())

    def exclude_speech(self, spans_s: list[tuple[float, float]]) -> None:
        """Plan again with ``spans_s`` (seconds) taken out of the speech found.

        The spans are filled pauses ("um", "er") another edit removes: a pause, a filler and a
        pause are then one pause, shortened to ``keep_pause_s`` as a whole (cut separately, the
        two edits left pauses of 0.2-0.4 s where each meant to leave 0.5 s).
        """
        self.finish()
        segments: list[tuple[float, float]] = []
        for a, b in self._segments:
            pieces = [(a, b)]
            for fs, fe in spans_s:
                pieces = [p for lo, hi in pieces for p in ((lo, min(hi, fs)), (max(lo, fe), hi)) if p[1] > p[0]]
            segments += [(lo, hi) for lo, hi in pieces if hi - lo >= _MIN_SPEECH_LEFT_S]
        self._joined = sum(1 for fs, fe in spans_s if any(a < fe and fs < b for a, b in self._segments))
        self._plan(segments)

    def report(self) -> dict[str, Any]:
        """What was cut: each cut in seconds, how much in all, the speech found."""
        cuts = self.finish()
        return {
            "step": "long_silences",
            "max_pause_s": self.max_pause_s,
            "keep_pause_s": self.keep_pause_s,
            "pauses_shortened": len(cuts.cuts),
            "removed_s": round(cuts.removed / self.sr, 3),
            "cuts": [[round(a / self.sr, 3), round(b / self.sr, 3)] for a, b in cuts.cuts],
            "speech_segments": len(self._segments),
            **({} if cuts.cuts else {"not_applied": self._why_uncut()}),
            **(self._music_report() if self._music is not None else {}),
            **({"fillers_joined": self._joined} if self._joined else {}),
        }

    def _why_uncut(self) -> str:
        """Say why nothing was cut.

        No speech to shorten the pauses between (a recording of silence or noise is one pause, and
        "no pause longer than 1 s" said the opposite), or no pause too long.
        """
        if not self._segments:
            return "no speech found, so there are no pauses between speech to shorten: the audio is unchanged"
        return f"no pause longer than {self.max_pause_s:g} s: the audio is unchanged"

    def _music_report(self) -> dict[str, Any]:
        music = self._music.finish()
        planned = self._planned.removed if self._planned is not None else 0
        return {
            "music_segments": len(music.music),
            # the protected seconds hold the speech-over-music stretches too: counted beside them, so
            # "0 music segments, 20.9 s protected" says where those seconds are (report audit)
            "speech_over_music_segments": len(music.bed),
            "speech_over_music_s": round(music.bed_s, 2),
            "music_protected_s": round(sum(e - s for s, e in music.protected()), 2),
            "music_cut_s_spared": round((planned - self.finish().removed) / self.sr, 3),
        }


def shorten_silences(audio: Audio, sr: int, *, max_pause_s: float = 1.0, keep_pause_s: float = 0.5) -> Audio:
    """Shorten every pause longer than ``max_pause_s`` to ``keep_pause_s`` (both passes in memory).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    max_pause_s : float
        Pauses longer than this (seconds) are shortened.
    keep_pause_s : float
        What is left of each (seconds).

    Returns
    -------
    ndarray, float32
        Shorter (or equal) along the last axis.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] Audacity manual, "Truncate Silence".

    Examples
    --------
    >>> shorten_silences(np.zeros(16000, np.float32), 16000).shape  # no speech, no cut
    (16000,)
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    s = SilenceShortener(sr, x.shape[0], max_pause_s=max_pause_s, keep_pause_s=keep_pause_s)
    s.process(x)
    return apply_cuts(audio, s.finish())
