"""Speech/music discrimination: where a recording holds music, speech, speech over music, or neither.

The analyzer follows Scheirer & Slaney (1997): features that separate speech from music are
measured on short frames and summarised over ~1 s windows, then a decision is taken and smoothed
into segments. All analysis runs on a fixed grid whatever the sample rate (64 ms Hann frames every
10 ms, bins 15.6 Hz apart, 60 Hz - 4 kHz), so a file gives the same answer at 8, 16 or 48 kHz.

Per 10 ms frame (streaming, state carried between blocks):

1. **Level**: power in the band, dB.
2. **Spectral flux** (Scheirer & Slaney feature 6): the RMS change, in dB, of 16 mel-spaced band
   levels from one frame to the next. Speech alternates between phones every 50-100 ms and
   pauses; music changes less, and when it does (drums) it changes in a steady pulse.
3. **4 Hz modulation energy** (feature 1): the band amplitudes filtered by a 2-8 Hz band-pass
   (the syllabic rate of speech, Houtgast & Steeneken 1985), as a share of their total power.
4. **Pitch continuity** (after the tonal-persistence idea of Saunders 1996 and Scheirer &
   Slaney's spectral-stability features): each bin's minimum over the last 0.3 s, and how much
   that minimum spectrum stands out in peaks over its own smoothed envelope (dB). A held note
   keeps its partials in the same bins, so they survive the minimum; speech harmonics glide
   with the intonation and vanish between syllables, so the minimum is smooth.

Per window (in :meth:`MusicDetector.finish`, over the stored per-frame numbers):

5. **Low-energy ratio** (feature 2): the share of frames in a 1 s window whose power is below
   half the window's mean power. Speech has many (pauses between syllables), music few.

Decision: a window is *active* when its level is within ``ACTIVE_RANGE_DB`` of the loud
frames of the recording; an active window is *music* when its pitch-continuity score is high
(``TONAL_MIN``) and its speech evidence (the mean of the standardised 4 Hz modulation,
low-energy ratio and flux) is negative, *speech* when that evidence is positive, and *other*
(noise) otherwise. Music runs on (hysteresis) through weaker evidence, across short rests, and
runs shorter than ``MIN_MUSIC_S`` are dropped.
The evidence and the tonal score are averaged over ``SMOOTH_S`` of active frames first.
Speech windows whose floor (the gaps between words) stays ``BED_RISE_DB`` over the recording's
pause floor and whose persistent-peak share is high are *speech over music* (a music bed).

For a background gate the map also carries the speech detector's segments and, among them, the
*foreground*: where the 100 ms level stands ``FOREGROUND_DB`` over the local background level.

Limits (measured, see bench/keep_music.py): a loud, very steady tonal bed under speech can be
taken for music only (the gaps between words are then all bed); a fade to silence or a long
rest ends a music stretch early; steady noise is not music (``TONAL_MIN``), but loud noise
lowers the pitch-continuity score of music in it.

The result, :class:`MusicMap`, lists the segments; :class:`MusicBypass` and
:class:`MusicSafeShortener` use it to leave music alone in the noise reducer and the pause cutter.

References
----------
.. [1] E. Scheirer, M. Slaney, "Construction and evaluation of a robust multifeature
   speech/music discriminator", Proc. IEEE ICASSP 1997, pp. 1331-1334.
.. [2] J. Saunders, "Real-time discrimination of broadcast speech/music", Proc. IEEE ICASSP
   1996, pp. 993-996.
.. [3] T. Houtgast, H. J. M. Steeneken, "A review of the MTF concept in room acoustics and its
   use for estimating speech intelligibility in auditoria", JASA 77(3), 1985 (speech envelope
   modulation peaks near 4 Hz).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft
from scipy.ndimage import minimum_filter1d, percentile_filter, uniform_filter1d
from scipy.signal import butter, sosfilt, sosfilt_zi

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_sr, valid_audio
from dsp.errors import InvalidParameterError
from dsp.vad import GATE_MIN_JUDGED_S, SpeechDetector

__all__ = [
    "BackgroundRemover",
    "Blend",
    "Envelope",
    "MusicBypass",
    "MusicDetector",
    "MusicMap",
    "MusicSafeShortener",
    "detect_music",
    "protect_cuts",
]

F32 = np.float32
Segments = tuple[tuple[float, float], ...]

#: Analysis grid (seconds, Hz): 64 ms frames give 15.6 Hz bins, fine enough to resolve the
#: partials of notes down to ~60 Hz; 10 ms hop as in the VAD (dsp/vad.py).
HOP_S = 0.010
WIN_S = 0.064
BAND_LO_HZ = 60.0
#: Top of the analysis band: the band an 8 kHz file still has (as in dsp/vad.py).
BAND_HI_HZ = 4000.0
#: Mel bands of the flux and modulation features (as in dsp/vad.py).
N_BANDS = 16
#: Syllabic modulation band (Hz), Houtgast & Steeneken 1985: speech envelopes peak at 3-5 Hz.
MOD_BAND_HZ = (2.0, 8.0)
#: Window of the per-bin minimum (s): longer than a syllable (~0.2 s), shorter than most notes.
PERSIST_S = 0.3
#: Frequency smoothing of the minimum spectrum (bins either side of the centre) that defines the
#: envelope persistent peaks are measured against: 15 bins = 234 Hz, wider than a partial (two bins).
ENVELOPE_BINS = 15
#: A bin of the minimum spectrum this many dB over the envelope is a persistent peak.
PEAK_DB = 6.0

#: Summary window (s) of Scheirer & Slaney: features are averaged over 1 s.
WINDOW_S = 1.0
#: Low-energy frames are below this share of the window's mean power (Scheirer & Slaney 1997).
LOW_ENERGY_SHARE = 0.5
#: Decision smoothing (s): the speech evidence and the tonal score are averaged over this long
#: (2 s against 1 s on the DEV podcasts of bench/keep_music.py).
SMOOTH_S = 2.0
#: Centres and scales of the speech evidence, one per feature: about the midpoint between the
#: speech and music medians and a quarter of their distance, read off a survey at 16 kHz of the
#: realdev music clips (all six), the eight realdev speech recordings and four TTS files of the
#: VAD corpus (1 s windows): 4 Hz modulation 0.22-0.37 speech / 0.03-0.15 music, flux
#: 2.2-3.7 / 0.8-1.8 dB, low-energy ratio 0.45-0.70 / 0.10-0.40 (medians).
MOD_CENTRE, MOD_SCALE = 0.18, 0.06
FLUX_CENTRE_DB, FLUX_SCALE_DB = 2.0, 0.4
LOW_CENTRE, LOW_SCALE = 0.40, 0.12
#: Largest say of one standardised feature (scale units); 2 against 1 and 1.5 on the DEV
#: podcasts of bench/keep_music.py.
EVIDENCE_CLIP = 2.0
#: Least persistent-peak share of music (medians in the survey above: music 0.20-0.30, speech
#: 0.13-0.18, steady noises 0.11-0.16); 0.17 against 0.18 on the DEV podcasts of
#: bench/keep_music.py. Without it a steady noise with little speech evidence would be music.
TONAL_MIN = 0.17
#: A window is active when its level is within this many dB of the loud windows (95th
#: percentile of the recording); quieter windows are "other" (pauses, fades to silence).
ACTIVE_RANGE_DB = 40.0
#: Windows under this level (dBFS, 60 Hz - 4 kHz) are never active (digital silence, dither).
ABS_FLOOR_DBFS = -70.0
#: Frames under this level (dBFS) are digital silence, left out of the recording's pause floor:
#: 16-bit TPDF dither sits near -96 dBFS (Lipshitz, Wannamaker & Vanderkooy 1992), and an edit's
#: inserted zeros far below.
SILENT_FRAME_DBFS = -110.0
#: Once music is found, it runs on while the speech evidence stays under this (half a scale
#: unit: a fade-out or a sparse bar has weaker music evidence, not speech evidence; 0.5
#: against 1.0 on the DEV podcasts of bench/keep_music.py).
MUSIC_HOLD = 0.5
#: ... and the persistent-peak share stays over this (steady noises stay under 0.16 on the DEV
#: material, so a noisy pause next to music is not taken into it).
TONAL_HOLD = 0.16
#: Shortest music-only run kept (s); shorter runs go to their neighbours. Jingles and stings
#: are 2 s and more; shorter "music" is most often a held vowel or a tonal noise.
MIN_MUSIC_S = 2.0
#: Gaps without speech shorter than this (s) between music runs (a rest, a change of track, a
#: breath of silence in a song) are music too.
MUSIC_BRIDGE_S = 3.0
#: Speech over music: the speech window's floor (the quietest 100 ms in ``BED_FLOOR_S``) lies at
#: least ``BED_RISE_DB`` over the recording's pause floor, and its persistent-peak share is at
#: least ``BED_TONAL``: the gaps between words are filled with something tonal. From the survey
#: above: Vibe Ace, Brahms and Let's Go Fishin' 12 and 20 dB under a LibriSpeech reading reach
#: a share of 0.17-0.20 against 0.12-0.18 for the speech alone; the bed's floor rise is the
#: bed's level over the pauses. bench/keep_music.py prints how much of the bed is found.
BED_FLOOR_S = 2.0
BED_RISE_DB = 10.0
BED_TONAL = 0.17
#: Shortest speech-over-music run kept (s).
MIN_BED_S = 2.0
#: Padding (s) at both ends of a protected stretch (music fades in and out around its label).
PROTECT_PAD_S = 0.5
#: A recording is music only (:attr:`MusicMap.music_only`) when, outside its music-only
#: stretches (padded by PROTECT_PAD_S), under GLIDE_SPEECH_MAX of its clearly voiced frames glide
#: in pitch (:meth:`dsp.vad.SpeechDetector.glide_share`: intonation glides, 't Hart et al. 1990;
#: notes hold and step), over at least GLIDE_MIN_VOICED_S of them (with less voiced sound outside
#: the music, over all of the recording's). Measured on the realdev recordings (the material of
#: bench/autoid_music.py; no held-out half: there are three instrumental recordings): Brahms,
#: Vibe Ace and the solo trumpet 0.000-0.002, the song with a lead vocal 0.021, clean speech
#: 0.67-1.00, speech over an instrumental bed 14 dB down 0.062-0.76; on the 192 degraded speech
#: items of bench/autoid.py the lowest is 0.026 (LJ Speech in a measured room: reverberation
#: holds the pitch), then 0.080; synthetic speech over a loud chord bed that the map takes for
#: music throughout 0.48-0.65. 0.01 lies between the instrumentals and the speech (a monotone
#: voice, robotic TTS, could still fall under it and be left alone).
GLIDE_SPEECH_MAX = 0.01
GLIDE_MIN_VOICED_S = 1.0

#: Foreground voice: its 100 ms level is this many dB over the background level, the
#: FOREGROUND_PERCENTILE-th percentile of the 100 ms levels over FOREGROUND_WINDOW_S (the pauses
#: between words fall to the background; a rest of under a fifth of the window does not).
#: Set on bench/background.py (first corpus file, 8 kHz): 6 dB removed more babble between
#: speech but cost up to 2.3 dB of speech SI-SDR at 0 dB SNR; 3 dB costs at most 0.1 dB.
FOREGROUND_DB = 3.0
FOREGROUND_PERCENTILE = 30
FOREGROUND_WINDOW_S = 8.0
#: Gaps shorter than this (s) between foreground stretches are foreground (between syllables).
FOREGROUND_BRIDGE_S = 0.4

LABELS = ("other", "speech", "music", "bed")


@dataclass(frozen=True)
class MusicMap:
    """Where a recording holds music, speech over music, and speech.

    Attributes
    ----------
    music : tuple of (float, float)
        Music-only stretches ``(start_s, end_s)`` in seconds, sorted and apart.
    bed : tuple of (float, float)
        Speech over a music bed, in seconds.
    speech : tuple of (float, float)
        Speech found by the speech detector (:class:`dsp.vad.SpeechDetector`) over the same
        stream, in seconds (it may overlap ``music``: that detector takes some music for voice,
        and speech over loud music for music; a background gate keys on it).
    duration_s : float
        Length of the analysed audio in seconds.
    foreground : tuple of (float, float) or None
        The parts of ``speech`` that stand out of the background by level (see
        ``FOREGROUND_DB``): the voice over babble or a loud bed. None: not measured (``speech``).
    music_only : bool
        True when the recording holds no speech at all (see ``GLIDE_SPEECH_MAX``), whatever
        share of it ``music`` covers (a music detector's stretches miss fades, rests and
        staccato passages). The segments are not changed by it.
    glide_share : float
        The share of the clearly voiced frames, outside ``music`` where enough of them lie
        there, whose pitch glides (``nan``: no voiced sound); what ``music_only`` rests on.

    Examples
    --------
    >>> m = MusicMap(music=((0.0, 8.0),), bed=((20.0, 30.0),), speech=((9.0, 30.0),), duration_s=40.0)
    >>> m.music_s, m.music_share
    (8.0, 0.2)
    >>> m.protected(pad_s=0.0)
    ((0.0, 8.0), (20.0, 30.0))
    """

    music: Segments
    bed: Segments
    speech: Segments
    duration_s: float
    foreground: Segments | None = None
    music_only: bool = False
    glide_share: float = field(default=float("nan"), compare=False)  # nan != nan: maps compare by segments

    @property
    def music_s(self) -> float:
        """Music-only time in seconds."""
        return float(sum(e - s for s, e in self.music))

    @property
    def bed_s(self) -> float:
        """Speech-over-music time in seconds."""
        return float(sum(e - s for s, e in self.bed))

    @property
    def music_share(self) -> float:
        """Share of the duration that is music only, in [0, 1]."""
        return self.music_s / self.duration_s if self.duration_s > 0 else 0.0

    def why_music_only(self) -> str:
        """What :attr:`music_only` rests on, in words (for a report).

        Examples
        --------
        >>> m = MusicMap(music=((0.0, 8.0),), bed=(), speech=(), duration_s=10.0, music_only=True, glide_share=0.0)
        >>> for part in m.why_music_only().split("; "):
        ...     print(part)
        the recording is music only (8.0 s of its 10.0 s found as music
        0.0 % of its voiced sound glides in pitch as speech does, under 1 %)
        """
        return (
            f"the recording is music only ({self.music_s:.1f} s of its {self.duration_s:.1f} s found as music; "
            f"{100 * self.glide_share:.1f} % of its voiced sound glides in pitch as speech does, under "
            f"{100 * GLIDE_SPEECH_MAX:g} %)"
        )

    def protected(self, pad_s: float = PROTECT_PAD_S) -> Segments:
        """Music-only and speech-over-music stretches, padded by ``pad_s`` and merged."""
        spans = sorted((max(0.0, s - pad_s), min(self.duration_s, e + pad_s)) for s, e in (*self.music, *self.bed))
        return _merge(spans)

    def report(self) -> dict[str, Any]:
        """JSON-ready summary: segments in seconds, durations and share."""
        return {
            "music_segments": [[round(s, 2), round(e, 2)] for s, e in self.music],
            "music_s": round(self.music_s, 2),
            "music_share": round(self.music_share, 3),
            "speech_over_music_segments": [[round(s, 2), round(e, 2)] for s, e in self.bed],
            "speech_over_music_s": round(self.bed_s, 2),
            "speech_segments": len(self.speech),
            "duration_s": round(self.duration_s, 3),
            "music_only": self.music_only,
            "glide_share": None if math.isnan(self.glide_share) else round(self.glide_share, 3),
        }


def _merge(spans: list[tuple[float, float]]) -> Segments:
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def _intersect(a: Segments, b: Segments) -> Segments:
    """Where both ``a`` and ``b`` (sorted, in seconds) hold."""
    out = [(max(s, t), min(e, u)) for s, e in a for t, u in b if min(e, u) > max(s, t)]
    return _merge(out)


def _subtract(spans: Segments, holes: Segments) -> Segments:
    """``spans`` without ``holes`` (both sorted, in seconds)."""
    out: list[tuple[float, float]] = []
    for s, e in spans:
        cur = s
        for hs, he in holes:
            if he <= cur or hs >= e:
                continue
            if hs > cur:
                out.append((cur, hs))
            cur = max(cur, he)
        if cur < e:
            out.append((cur, e))
    return tuple(out)


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start and end indices (end exclusive) of the True runs of ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _fill_short(mask: npt.NDArray[np.bool_], min_len: int, value: bool) -> npt.NDArray[np.bool_]:
    """Runs of ``value`` shorter than ``min_len`` frames are set to ``not value`` (edges included)."""
    out = mask.copy()
    starts, ends = _runs(mask if value else ~mask)
    for a, b in zip(starts, ends, strict=True):
        if b - a < min_len and (value or (a > 0 and b < mask.size)):
            out[a:b] = not value
    return out


def _pause_floor(frame_db: FloatArray) -> float:
    """The recording's pause floor (dBFS), over the frames that hold any sound.

    The 10th percentile of its frame levels, at least ``ABS_FLOOR_DBFS``, over the frames above
    ``SILENT_FRAME_DBFS``: an edit's digital silence put the percentile at the bottom, and every
    gap between the words of clean read speech rose over it as a music bed (18.9 s of 20 s, in an
    outside audit).

    >>> round(_pause_floor(np.r_[np.full(30, -200.0), np.linspace(-55.0, -20.0, 70)]), 1)
    -51.5
    """
    sounding = frame_db[frame_db > SILENT_FRAME_DBFS]
    return max(float(np.percentile(sounding, 10)) if sounding.size else ABS_FLOOR_DBFS, ABS_FLOOR_DBFS)


class MusicDetector:
    """Streaming speech/music discriminator (Scheirer & Slaney 1997 features, see the module notes).

    Feed ``(channels, m)`` float32 blocks of any size to :meth:`process`, then call
    :meth:`finish` once for the :class:`MusicMap`. Per-frame features are computed as the blocks
    arrive (state carried, so the result does not depend on the block sizes); the decision is
    taken on the whole stream of features at the end (non-causal smoothing). Memory: five float32
    numbers per 10 ms frame (2 kB per second of input, about 7 MB per hour) plus the speech
    detector's own. Channels are mixed down.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000]. Features use 60 Hz - 4 kHz at every rate.
    channels : int
        Number of channels of every block, >= 1.

    Raises
    ------
    InvalidParameterError
        If ``sr`` or ``channels`` is out of range, or a block has the wrong shape.

    References
    ----------
    .. [1] E. Scheirer, M. Slaney, "Construction and evaluation of a robust multifeature
       speech/music discriminator", Proc. IEEE ICASSP 1997.
    .. [2] J. Saunders, "Real-time discrimination of broadcast speech/music", Proc. IEEE ICASSP 1996.

    Examples
    --------
    >>> sr = 16000
    >>> t = np.arange(6 * sr) / sr
    >>> root = 110.0 * 2 ** (np.floor(t / 0.75) % 4 * 5 / 12)  # a chord every 0.75 s
    >>> x = sum(np.sin(2 * np.pi * h * r * np.cumsum(root) / sr) / h for r in (1, 1.25, 1.5, 2) for h in range(1, 9))
    >>> det = MusicDetector(sr, 1)
    >>> det.process((0.02 * x[np.newaxis]).astype(np.float32))
    >>> det.finish().music
    ((0.0, 6.0),)
    """

    def __init__(self, sr: int, channels: int) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.hop = max(1, round(HOP_S * self.sr))
        self.win = round(WIN_S * self.sr)
        self._window = np.hanning(self.win + 2)[1:-1].astype(F32)
        freqs = np.arange(self.win // 2 + 1) * self.sr / self.win
        self._k_lo = int(np.searchsorted(freqs, BAND_LO_HZ))
        self._k_hi = int(np.searchsorted(freqs, BAND_HI_HZ))
        # power of a full-scale sine spread by the window: scale so levels read in dBFS
        self._scale = F32(2.0 / float(np.sum(self._window.astype(np.float64)) ** 2))
        mel = np.linspace(_mel(BAND_LO_HZ), _mel(BAND_HI_HZ), N_BANDS + 1)
        edges = np.searchsorted(freqs[self._k_lo : self._k_hi], 700.0 * (10 ** (mel / 2595.0) - 1.0))
        edges = np.maximum.accumulate(np.maximum(edges, np.arange(N_BANDS + 1) + edges[0]))
        n_bins = self._k_hi - self._k_lo
        self._bands = np.zeros((n_bins, N_BANDS), F32)
        for b in range(N_BANDS):
            self._bands[min(edges[b], n_bins - 1) : max(edges[b + 1], edges[b] + 1), b] = 1.0
        self._sos = butter(2, MOD_BAND_HZ, btype="band", fs=1.0 / HOP_S, output="sos")
        self._zi = np.repeat(sosfilt_zi(self._sos)[:, :, np.newaxis], N_BANDS, axis=2) * 0.0
        self._persist = max(2, round(PERSIST_S / HOP_S))
        self._hist = np.zeros((0, n_bins), F32)  # the last persist-1 spectra (dB)
        self._prev_bands: FloatArray | None = None
        self._pending = np.zeros(0, F32)
        self._feats: list[FloatArray] = []
        self._n_in = 0
        self._vad = SpeechDetector(self.sr, self.channels)
        self._map: MusicMap | None = None
        self._foreground = np.zeros(0, bool)

    @property
    def speech_detector(self) -> SpeechDetector:
        """The speech detector that listened to the same stream (its segments are in the map)."""
        return self._vad

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block; nothing is returned (this pass only listens)."""
        if self._map is not None:
            raise InvalidParameterError("the detector has finished; make a new one for a new stream")
        x = check_block(block, self.channels)
        self._vad.process(x)
        self._n_in += x.shape[-1]
        mono = x[0] if self.channels == 1 else x.mean(axis=0, dtype=np.float64).astype(F32)
        self._pending = np.concatenate([self._pending, mono])
        n = self._pending.size
        n_frames = 0 if n < self.win else (n - self.win) // self.hop + 1
        if n_frames:
            self._frames(self._pending[: (n_frames - 1) * self.hop + self.win], n_frames)
            self._pending = self._pending[n_frames * self.hop :]

    def _frames(self, x: Audio, n_frames: int) -> None:
        frames = np.lib.stride_tricks.sliding_window_view(x, self.win)[:: self.hop][:n_frames]
        spec = sfft.rfft(frames * self._window, axis=1)[:, self._k_lo : self._k_hi]
        power = (spec.real**2 + spec.imag**2).astype(F32) * self._scale
        level = power.sum(axis=1)
        bands = power @ self._bands + F32(1e-11)
        # spectral flux: RMS change of the band levels (dB) from the previous frame
        log_b = 10 * np.log10(bands)
        prev = self._prev_bands if self._prev_bands is not None else log_b[:1]
        flux = np.sqrt(np.mean(np.diff(np.concatenate([prev, log_b]), axis=0) ** 2, axis=1))
        self._prev_bands = log_b[-1:]
        # 4 Hz modulation: band amplitudes through the 2-8 Hz band-pass, state carried
        amp = np.sqrt(bands, dtype=np.float64)
        mod, self._zi = sosfilt(self._sos, amp, axis=0, zi=self._zi)
        mod_num = np.sum(mod**2, axis=1)
        mod_den = np.sum(amp**2, axis=1)
        # pitch continuity: persistent peaks of the per-bin minimum over the last PERSIST_S
        log_p = 10 * np.log10(power + F32(1e-15))
        both = np.concatenate([self._hist, log_p])
        k, h = self._persist, self._hist.shape[0]
        pos = np.arange(h, both.shape[0])
        mins = np.empty_like(log_p)
        full = pos >= k - 1
        if np.any(full):
            win = np.lib.stride_tricks.sliding_window_view(both, k, axis=0)
            mins[full] = win[pos[full] - k + 1].min(axis=-1)
        if not np.all(full):  # the stream's first frames: the minimum over what exists
            mins[~full] = np.minimum.accumulate(both, axis=0)[pos[~full]]
        self._hist = both[max(0, both.shape[0] - (k - 1)) :]
        env = uniform_filter1d(mins, ENVELOPE_BINS, axis=1, mode="nearest")
        tonal = np.mean(mins - env > PEAK_DB, axis=1)
        self._feats.append(np.stack([level, flux, mod_num, mod_den, tonal], axis=1).astype(F32))

    def finish(self) -> MusicMap:
        """End the stream and return the :class:`MusicMap` (idempotent)."""
        if self._map is None:
            feats = np.concatenate([*self._feats, np.zeros((0, 5), F32)])
            self._feats = []
            self._labels = self._decide(feats)
            self._map = self._to_map(self._labels)
        return self._map

    def report(self) -> dict[str, Any]:
        """The map's summary (:meth:`MusicMap.report`) with the frame counts per label."""
        m = self.finish()
        counts = {name: int(np.sum(self._labels == i)) for i, name in enumerate(LABELS)}
        return {**m.report(), "frames": counts}

    # ------------------------------------------------------------------ decision
    def _decide(self, feats: FloatArray) -> npt.NDArray[np.int8]:
        """Per-frame labels (indices into ``LABELS``) from the per-frame features."""
        n = feats.shape[0]
        labels = np.zeros(n, np.int8)
        if n == 0:
            return labels
        f64 = feats.astype(np.float64)
        level, flux, mod_num, mod_den, tonal = f64.T
        w = max(1, round(WINDOW_S / HOP_S))

        def avg(v: FloatArray, width: int = w) -> FloatArray:
            out: FloatArray = uniform_filter1d(v, min(width, n), mode="nearest")
            return out

        def power_avg(width: int = w) -> FloatArray:
            # the running sum leaves rounding residue after loud frames: in digital silence it
            # may dip under zero, and one NaN level would make the 95th percentile (the
            # reference of every window's activity) NaN and no window active
            return np.maximum(avg(level, width), 0.0)

        mean_p = power_avg()
        low = avg((level < LOW_ENERGY_SHARE * mean_p).astype(np.float64))
        mod = avg(mod_num) / np.maximum(avg(mod_den), 1e-20)
        flux_w = avg(flux)
        tonal_w = avg(tonal)
        level_db = 10 * np.log10(mean_p + 1e-20)
        frame_db = 10 * np.log10(level + 1e-20)
        # speech evidence: the mean of three standardised features (positive: speech)
        terms = (
            (mod - MOD_CENTRE) / MOD_SCALE,
            (flux_w - FLUX_CENTRE_DB) / FLUX_SCALE_DB,
            (low - LOW_CENTRE) / LOW_SCALE,
        )
        # each term clipped to +-EVIDENCE_CLIP: no one feature outvotes the other two. Pitch
        # continuity is not a term but a condition of music (TONAL_MIN): as a term it let a
        # tonal bed under speech outvote the speech (DEV F1 0.859 with it, 0.880 without)
        evidence = np.mean([np.clip(v, -EVIDENCE_CLIP, EVIDENCE_CLIP) for v in terms], axis=0)
        ref = float(np.percentile(level_db, 95))
        active = level_db > max(ref - ACTIVE_RANGE_DB, ABS_FLOOR_DBFS)
        # smoothing over the active frames only: a pause is neither speech nor music evidence
        s = max(1, round(SMOOTH_S / HOP_S))
        weight = np.maximum(avg(active.astype(np.float64), s), 1e-9)
        evidence = avg(np.where(active, evidence, 0.0), s) / weight
        tonal_s = avg(np.where(active, tonal_w, 0.0), s) / weight
        speech = active & (evidence >= 0)
        core = active & (evidence < 0) & (tonal_s >= TONAL_MIN)
        # hysteresis: music runs on through active frames without clear speech evidence (a
        # fade, a bar without harmony) as long as they touch a core frame
        # foreground: 100 ms level at least FOREGROUND_DB over the local background level (its
        # FOREGROUND_PERCENTILE-th percentile over FOREGROUND_WINDOW_S), gaps under
        # FOREGROUND_BRIDGE_S closed: the voice that stands out of babble or a loud bed
        short_db = 10 * np.log10(power_avg(max(1, round(0.1 / HOP_S))) + 1e-20)
        span = max(1, round(FOREGROUND_WINDOW_S / HOP_S))
        step = max(1, round(0.1 / HOP_S))
        coarse = short_db[::step]
        bg = percentile_filter(
            coarse, FOREGROUND_PERCENTILE, size=max(1, min(span // step, coarse.size)), mode="nearest"
        )
        bg = np.repeat(bg, step)[:n]
        fg = short_db >= bg + FOREGROUND_DB
        self._foreground = _fill_short(fg, round(FOREGROUND_BRIDGE_S / HOP_S), value=False)
        music = np.zeros(n, bool)
        for a, b in zip(*_runs(active & (evidence < MUSIC_HOLD) & (tonal_s >= TONAL_HOLD)), strict=True):
            if core[a:b].any():
                music[a:b] = True
        # a short gap without speech between two music runs (a rest, a change of track) is music
        for a, b in zip(*_runs(~music), strict=True):
            if a > 0 and b < n and b - a < round(MUSIC_BRIDGE_S / HOP_S) and not speech[a:b].any():
                music[a:b] = True
        music = _fill_short(music, round(MIN_MUSIC_S / HOP_S), value=True)
        speech &= ~music
        # speech over music: the gaps between words do not fall to the recording's pause floor
        floor = minimum_filter1d(power_avg(max(1, round(0.1 / HOP_S))), max(1, round(BED_FLOOR_S / HOP_S)))
        pause_floor = _pause_floor(frame_db)
        rise = 10 * np.log10(floor + 1e-20) - pause_floor
        bed = speech & (rise >= BED_RISE_DB) & (tonal_s >= BED_TONAL)
        bed = _fill_short(bed, round(MIN_BED_S / HOP_S), value=True)
        labels[speech] = 1
        labels[music] = 2
        labels[bed] = 3
        return labels

    def _to_map(self, labels: npt.NDArray[np.int8]) -> MusicMap:
        duration = self._n_in / self.sr
        t0 = (self.win / 2 - self.hop / 2) / self.sr  # frame i covers [t0 + i hop, t0 + (i+1) hop)

        def spans(mask: npt.NDArray[np.bool_]) -> Segments:
            a, b = _runs(mask)
            return tuple(
                (
                    round(float(t0 + s * HOP_S) if s else 0.0, 3),
                    round(min(duration, float(t0 + e * HOP_S)) if e < mask.size else duration, 3),
                )
                for s, e in zip(a, b, strict=True)
            )

        music = spans(labels == 2)
        bed = spans(labels == 3)
        speech = tuple(self._vad.finish())
        foreground = _intersect(speech, spans(self._foreground))
        # no speech at all: outside the music stretches, the voiced sound does not glide in pitch
        share, voiced_s = self._vad.glide_share(_merge([(s - PROTECT_PAD_S, e + PROTECT_PAD_S) for s, e in music]))
        if voiced_s < GLIDE_MIN_VOICED_S:  # too little voiced sound outside the music: all of it
            share, voiced_s = self._vad.glide_share()
        only = voiced_s >= GLIDE_MIN_VOICED_S and share < GLIDE_SPEECH_MAX
        return MusicMap(
            music=music,
            bed=bed,
            speech=speech,
            duration_s=duration,
            foreground=foreground,
            music_only=only,
            glide_share=share,
        )


def _mel(f_hz: float) -> float:
    return float(2595.0 * np.log10(1.0 + f_hz / 700.0))


def detect_music(audio: Audio, sr: int) -> MusicMap:
    """Find music, speech over music and speech in an in-memory recording.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float
        The recording, nominal range [-1, 1].
    sr : int
        Sample rate in Hz, in [8000, 192000].

    Returns
    -------
    MusicMap
        The segments, in seconds.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is not a finite float array of a valid shape.
    InvalidParameterError
        If ``sr`` is out of range.
    """
    x = as_2d(valid_audio(audio, allow_empty=True))
    det = MusicDetector(sr, x.shape[0])
    det.process(x)
    return det.finish()


# ---------------------------------------------------------------------------- using the map


class Envelope:
    """A piecewise-linear function of time: 1 (or ``inside``) on segments, ``outside`` away from them.

    Parameters
    ----------
    segments : sequence of (float, float)
        ``(start_s, end_s)`` in seconds, sorted.
    inside, outside : float
        Values on and away from the segments (linear gains or mix weights, unitless).
    ramp_s : float
        Length in seconds of the linear ramps, placed outside each segment (so the segment
        itself gets ``inside`` throughout).

    Examples
    --------
    >>> env = Envelope([(1.0, 2.0)], inside=1.0, outside=0.0, ramp_s=0.5)
    >>> env(np.array([0.0, 0.75, 1.5, 2.25, 3.0])).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def __init__(self, segments: Any, *, inside: float, outside: float, ramp_s: float) -> None:
        spans = _merge([(float(s) - ramp_s, float(e) + ramp_s) for s, e in segments])
        t: list[float] = []
        v: list[float] = []
        for s, e in spans:  # merged ramps: each knot pair is a ramp up and a ramp down
            t += [s, s + ramp_s, e - ramp_s, e]
            v += [outside, inside, inside, outside]
        self._t = np.asarray(t, np.float64)
        self._v = np.asarray(v, np.float64)
        # two ramps closer than their length overlap after merging: keep the knots ordered
        if self._t.size:
            self._t = np.maximum.accumulate(self._t)
        self.outside = float(outside)

    def __call__(self, t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The value at the times ``t_s`` (seconds)."""
        if self._t.size == 0:
            return np.full(t_s.shape, self.outside)
        return np.interp(t_s, self._t, self._v, left=self.outside, right=self.outside)


class Blend:
    """Wrap a block processor: ``gain(t) * (w(t) * processed + (1 - w(t)) * input)``.

    The wrapped processor must return its output aligned with its input and of the same total
    length (every :class:`dsp.stream.BlockProcessor` of this package does, latency
    compensated). Implements :class:`dsp.stream.BlockProcessor`; chunk-size invariant when the
    wrapped processor is.

    Parameters
    ----------
    inner : BlockProcessor
        The processor whose output is blended with its input.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    wet : Envelope or None
        Mix weight ``w(t)`` of the processed signal, in [0, 1]; None: 1 everywhere.
    gain : Envelope or None
        Linear gain applied after the mix; None: 1 everywhere.
    """

    def __init__(self, inner: Any, sr: int, channels: int, *, wet: Envelope | None, gain: Envelope | None) -> None:
        self.inner = inner
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.wet, self.gain = wet, gain
        self._dry = np.zeros((self.channels, 0), F32)
        self._pos = 0  # absolute index of the next output sample

    def _mix(self, y: Audio) -> Audio:
        m = y.shape[-1]
        if m == 0:
            return y
        dry, self._dry = self._dry[:, :m], self._dry[:, m:]
        t = (self._pos + np.arange(m)) / self.sr
        self._pos += m
        out = y.astype(np.float64)
        if self.wet is not None:
            w = self.wet(t)
            out = w * out + (1.0 - w) * dry
        if self.gain is not None:
            out = out * self.gain(t)
        return out.astype(F32)

    def process(self, block: Audio) -> Audio:
        """Take a ``(channels, m)`` block, return the samples now final."""
        x = check_block(block, self.channels)
        self._dry = np.concatenate([self._dry, x], axis=1)
        return self._mix(self.inner.process(x))

    def flush(self) -> Audio:
        """Return every sample still held back."""
        return self._mix(self.inner.flush())

    def report(self) -> dict[str, Any]:
        """The wrapped processor's report."""
        report: dict[str, Any] = self.inner.report()
        return report


#: Mix weight of the noise reducer's output under speech over music: half the processed signal,
#: half the input, so the bed is attenuated by at most 6 dB (20 log10 0.5) while the voice's
#: noise is still reduced. Design choice, checked on bench/keep_music.py (bed kept within 6 dB).
BED_WET = 0.5
#: Ramp (s) between bypass and processing: 50 ms, longer than a pitch period and a 20 ms
#: crossfade of editors (Reiss & McPherson 2014, ch. 2), short against the padded segments.
BYPASS_RAMP_S = 0.05


class MusicBypass(Blend):
    """A processor that leaves music alone.

    The input passes untouched on music-only stretches and is mixed half-and-half with the
    processed signal under speech over music.

    Parameters
    ----------
    inner : BlockProcessor
        The processor to bypass (the noise reducer), aligned with its input.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    music : MusicMap
        Where the stream holds music (from :class:`MusicDetector` over the same stream).
    bed_wet : float
        Share of the processed signal under speech over music, in [0, 1].
    gain : Envelope or None
        Gain after the mix (the background gate); it is forced to 1 on music-only stretches.
    report_key : str
        The key of the report entry saying what was left alone (``keep_music`` when the job
        keeps music; ``music_spared`` when a voice step spares music on its own).

    Examples
    --------
    >>> class Silence:
    ...     def process(self, x): return 0 * x
    ...     def flush(self): return np.zeros((1, 0), np.float32)
    ...     def report(self): return {"step": "silence"}
    >>> m = MusicMap(music=((0.0, 1.0),), bed=(), speech=(), duration_s=2.0)
    >>> p = MusicBypass(Silence(), 8000, 1, m)
    >>> y = p.process(np.ones((1, 16000), np.float32))
    >>> float(y[0, 4000]), float(y[0, 14000])
    (1.0, 0.0)
    """

    def __init__(
        self,
        inner: Any,
        sr: int,
        channels: int,
        music: MusicMap,
        *,
        bed_wet: float = BED_WET,
        gain: Envelope | None = None,
        report_key: str = "keep_music",
    ) -> None:
        from dsp._validate import check_range

        self.music = music
        self.report_key = report_key
        self.bed_wet = check_range("bed_wet", bed_wet, 0.0, 1.0)
        pad = PROTECT_PAD_S
        music_p = [(s - pad, e + pad) for s, e in music.music]
        bed_p = _subtract(_merge([(s - pad, e + pad) for s, e in music.bed]), _merge(music_p))
        # wet = 1 - (1 - bed_wet) * bed(t) - music(t): both envelopes ramp outside their spans
        self._untouched = not _subtract(((0.0, music.duration_s),), _merge(music_p))  # all of it is music
        m_env = Envelope(music_p, inside=1.0, outside=0.0, ramp_s=BYPASS_RAMP_S)
        b_env = Envelope(bed_p, inside=1.0, outside=0.0, ramp_s=BYPASS_RAMP_S)
        self._music_env, self._bed_env, self._gate = m_env, b_env, gain
        super().__init__(inner, sr, channels, wet=None, gain=None)

    def _mix(self, y: Audio) -> Audio:
        m = y.shape[-1]
        if m == 0:
            return y
        dry, self._dry = self._dry[:, :m], self._dry[:, m:]
        t = (self._pos + np.arange(m)) / self.sr
        self._pos += m
        mu = np.minimum(self._music_env(t), 1.0)
        w = np.clip(1.0 - mu - (1.0 - self.bed_wet) * self._bed_env(t), 0.0, 1.0)
        out = w * y.astype(np.float64) + (1.0 - w) * dry
        if self._gate is not None:
            out = out * (mu + (1.0 - mu) * self._gate(t))
        return out.astype(F32)

    def report(self) -> dict[str, Any]:
        """The wrapped processor's report, with a ``report_key`` entry: what was left alone.

        When the whole recording is music the output is the input, and the wrapped processor's
        figures (which describe audio the mix discarded) give way to ``not_applied``.
        """
        report = dict(self.inner.report())
        if self._untouched and self.music.duration_s > 0:
            report = {
                "step": report.get("step"),
                "not_applied": f"the whole recording is music: {self.report_key} passed it through untouched",
            }
        report[self.report_key] = {
            "music_segments": len(self.music.music),
            "bypassed_s": round(self.music.music_s, 2),
            "speech_over_music_s": round(self.music.bed_s, 2),
            "speech_over_music_wet": self.bed_wet,
        }
        return report


#: Suppression between speech of the background remover (dB): the middle of the -20...-30 dB
#: of broadcast "ducking" practice (EBU Tech 3343 on programme loudness: beds sit 20-30 dB
#: under the voice); 25 dB takes music and babble from audible to barely audible.
BACKGROUND_DEPTH_DB = 25.0
#: Hangover (s) at both ends of each speech segment before the gate closes (Ramirez et al. 2007
#: on VAD hangover: 0.1-0.3 s keeps word onsets and release tails).
GATE_PAD_S = 0.2
#: Length (s) of the gate's linear ramps.
GATE_RAMP_S = 0.1


class BackgroundRemover(MusicBypass):
    """Remove background audio: a noise reducer under speech, a speech-keyed gate between speech.

    The wrapped noise reducer runs at full strength; away from the speech (and speech over
    music) of ``music`` the output is taken down by ``depth_db`` more, with ``GATE_PAD_S`` of
    hangover and ``GATE_RAMP_S`` ramps. With ``keep_music`` the music-only stretches are passed
    through untouched (no reduction, no gate) and speech over music is blended as in
    :class:`MusicBypass`. Implements :class:`dsp.stream.BlockProcessor`.

    Parameters
    ----------
    inner : BlockProcessor
        The noise reducer, aligned with its input.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1.
    music : MusicMap or None
        The stream's map (its ``speech`` and ``bed`` key the gate). None: no gate (the step is
        being checked, not run).
    keep_music : bool
        Leave music alone (the job also keeps music).
    depth_db : float
        Gate depth in dB, in [0, 60].

    Raises
    ------
    InvalidParameterError
        If ``depth_db`` is out of range.

    References
    ----------
    .. [1] J. Ramirez, J. M. Gorriz, J. C. Segura, "Voice activity detection. Fundamentals and
       speech recognition system robustness", I-Tech, 2007 (hangover schemes).
    """

    def __init__(
        self,
        inner: Any,
        sr: int,
        channels: int,
        music: MusicMap | None,
        *,
        keep_music: bool = False,
        depth_db: float = BACKGROUND_DEPTH_DB,
    ) -> None:
        from dsp._validate import check_range

        self.depth_db = check_range("depth_db", depth_db, 0.0, 60.0)
        self.keep_music = bool(keep_music)
        full = music if music is not None else MusicMap((), (), (), 0.0)
        self.full_map = full
        key = full.foreground if full.foreground is not None else full.speech
        talk = _merge([*key, *full.bed])
        gate = None
        # a recording too short to hold a pause (the speech gate's rule, dsp.vad.GATE_MIN_JUDGED_S)
        # is not gated: a 0.05 s clip lost 43 dB, the whole of it taken for background
        self.too_short = music is not None and 0 < full.duration_s < GATE_MIN_JUDGED_S
        if music is not None and not self.too_short:
            gate = Envelope(
                [(s - GATE_PAD_S, e + GATE_PAD_S) for s, e in talk],
                inside=1.0,
                outside=10 ** (-self.depth_db / 20),
                ramp_s=GATE_RAMP_S,
            )
        spared = full if self.keep_music else MusicMap((), (), full.speech, full.duration_s)
        super().__init__(inner, sr, channels, spared, gain=gate)
        self._energy = np.zeros(2)  # input and output energy where the gate is closed
        self._heard = False  # any sample not zero

    def _mix(self, y: Audio) -> Audio:
        m = y.shape[-1]
        if not self._heard:
            self._heard = bool(np.any(self._dry[:, :m]))
        if m == 0 or self._gate is None:
            return super()._mix(y)
        t = (self._pos + np.arange(m)) / self.sr
        closed = (self._gate(t) < 0.5) & (self._music_env(t) < 0.5)
        dry = self._dry[:, :m]
        self._energy[0] += float(np.sum(dry[:, closed].astype(np.float64) ** 2))
        out = super()._mix(y)
        self._energy[1] += float(np.sum(out[:, closed].astype(np.float64) ** 2))
        return out

    def report(self) -> dict[str, Any]:
        """``step`` remove_background: the gate, what it took away, and the noise reducer's report."""
        inner = dict(self.inner.report())
        out: dict[str, Any] = {"step": "remove_background", "depth_db": self.depth_db}
        if self._gate is None:
            why = "no speech map was given"
            if self.too_short:
                why = f"the recording is shorter than {GATE_MIN_JUDGED_S:g} s: too short to tell a pause"
            out["gate"] = {"applied": False, "reason": why}
        else:
            e_in, e_out = self._energy
            key = self.full_map.foreground if self.full_map.foreground is not None else self.full_map.speech
            gated = _subtract(
                ((0.0, self.full_map.duration_s),),
                _merge([(s - GATE_PAD_S, e + GATE_PAD_S) for s, e in (*key, *self.full_map.bed)]),
            )
            out["gate"] = {
                "applied": True,
                "speech_segments": len(key) + len(self.full_map.bed),
                "between_speech_s": round(sum(e - s for s, e in gated), 2),
                "removed_db": round(10 * np.log10(e_in / e_out), 1) if e_in > 0 and e_out > 0 else None,
            }
        if self.keep_music:
            out["keep_music"] = {
                "music_segments": len(self.music.music),
                "bypassed_s": round(self.music.music_s, 2),
                "speech_over_music_s": round(self.music.bed_s, 2),
            }
        out["denoise"] = inner
        if not self._heard:
            out["applied"] = False
            out["not_applied"] = "the audio is digitally silent: there is no background to remove"
        return out


def protect_cuts(cuts: Any, protected: Segments, *, min_cut_s: float = 0.05) -> Any:
    """Remove ``protected`` stretches from a plan of cuts (:class:`dsp.silence.SilenceCuts`).

    Parameters
    ----------
    cuts : SilenceCuts
        The planned cuts, in samples.
    protected : sequence of (float, float)
        Stretches (seconds, sorted) no cut may touch: music.
    min_cut_s : float
        Cut pieces left shorter than this (seconds) are dropped: five crossfades (10 ms each,
        :data:`dsp.silence.CROSSFADE_S`) is the least a join is worth.

    Returns
    -------
    SilenceCuts
        The cuts outside ``protected``, in samples.
    """
    from dsp.silence import SilenceCuts

    sr = cuts.sr
    secs = tuple((a / sr, b / sr) for a, b in cuts.cuts)
    kept = _subtract(secs, tuple(protected))
    out = tuple((round(a * sr), round(b * sr)) for a, b in kept if b - a >= min_cut_s and round(b * sr) > round(a * sr))
    return SilenceCuts(cuts=out, sr=sr, n=cuts.n)


class MusicSafeShortener:
    """Pause shortening (:class:`dsp.silence.SilenceShortener`) that never cuts into music.

    Same protocol as the wrapped shortener (``process``, ``finish``, ``report``); the cuts it
    plans are trimmed off every music-only and speech-over-music stretch of ``music``, padded by
    :data:`PROTECT_PAD_S` (a music pause, a fade to silence or the silence between two tracks
    is part of the music).

    Parameters
    ----------
    inner : SilenceShortener
        The shortener, built for the same stream.
    music : MusicMap
        Where the stream holds music.
    """

    def __init__(self, inner: Any, music: MusicMap) -> None:
        self.inner = inner
        self.music = music
        self._cuts: Any = None

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block."""
        self.inner.process(block)

    def finish(self) -> Any:
        """The cuts, outside music."""
        if self._cuts is None:
            self._cuts = protect_cuts(self.inner.finish(), self.music.protected())
        return self._cuts

    def exclude_speech(self, spans_s: list[tuple[float, float]]) -> None:
        """Plan again with ``spans_s`` taken out of the speech (see the wrapped shortener's)."""
        self.inner.exclude_speech(spans_s)
        self._cuts = None

    def report(self) -> dict[str, Any]:
        """The shortener's report, for the cuts actually kept, with what music protected."""
        planned = self.inner.finish()
        cuts = self.finish()
        sr = cuts.sr
        report = dict(self.inner.report())
        report.update(
            pauses_shortened=len(cuts.cuts),
            removed_s=round(cuts.removed / sr, 3),
            cuts=[[round(a / sr, 3), round(b / sr, 3)] for a, b in cuts.cuts],
        )
        report["keep_music"] = {
            "music_segments": len(self.music.music),
            "protected_s": round(sum(e - s for s, e in self.music.protected()), 2),
            "cut_s_spared": round((planned.removed - cuts.removed) / sr, 3),
        }
        return report
