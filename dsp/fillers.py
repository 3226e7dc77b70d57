"""Filled-pause removal: find "um", "uh", "er", "mm" by their acoustics and cut them out.

A filled pause is a hesitation voiced on one sustained vowel or nasal: while it lasts the
fundamental frequency stays nearly flat and the spectral envelope barely moves, for longer than
the vowels of words do, and it usually stands between pauses (Goto, Itou & Hayamizu 1999; Shriberg
2001 on its prosody). The detector follows that description with explainable features computed
on a fixed analysis band (60 Hz to 4 kHz, 32 ms Hann frames every 10 ms, as :mod:`dsp.vad`), so a
file gives the same answer at 8, 16 or 48 kHz:

1. **Energy** of each frame in the band, in dB; the recording's speech level (95th percentile of
   frame energies) and floor (10th percentile) place a pause threshold between them.
2. **F0 and voicing** by the normalized autocorrelation of the band-limited frame divided by the
   window's own autocorrelation, the shortest-lag peak within 85 % of the highest in lags
   2.5-14 ms (70-400 Hz), parabolic interpolation (Boersma 1993).
3. **Spectral envelope**: 12 mel-frequency cepstral coefficients (24 triangular mel bands in the
   analysis band, DCT-II of the log energies plus each band's floor over the recording, so bands
   holding only noise stay flat; Davis & Mermelstein 1980) and their frame-to-frame
   Euclidean distance.
4. **Decision** over the whole stream (non-causal): a frame is *stable* where it lies in a 150 ms
   window in which 80 % of the frames are voiced, the F0 spread (10th to 90th percentile) is below
   ``F0_SPREAD_ST`` semitones and the mean cepstral step below ``CEP_STEP_MAX``, and neither the
   pitch nor the envelope jumps between it and the frame before (the next syllable). An *island*
   is a stretch of energetic frames between two pauses of at least ``MIN_PAUSE_S``; an island of
   150-800 ms mostly covered by one stable run, or two at one pitch with a short transition
   between them (the vowel and nasal of "um"), is a candidate. A word or phrase is rarely that
   short *and* that steady; an elongated word vowel inside a phrase is not bounded by pauses, so
   it is left alone. Within 2 s around a candidate, the other energetic frames (other candidates
   left out) must be words: at least 0.3 s of them, mostly unsteady; among sung or played notes a
   steady island is no filler.

Each filled pause found is cut together with half of the pause that follows it (so the two
pauses around it do not add up to a long gap), joined with the crossfade of the long-pause edit
(:func:`dsp.silence.apply_cuts`); every cut is reported with its start, end and a confidence.

Streaming: :class:`FillerDetector` takes blocks of any size and keeps 27 float32 numbers per
10 ms frame (energy, F0, voicing, 24 mel band energies: 10.8 kB per second of input, about
39 MB per hour) for the final decision; the plan it
returns is applied while the audio is copied, by :func:`dsp.silence.apply_cuts` in memory or the
server's streaming cut. :func:`remove_fillers` is the one-call form over an in-memory array.

References
----------
.. [1] M. Goto, K. Itou, S. Hayamizu, "A real-time filled pause detection system for spontaneous
   speech recognition", Proc. Eurospeech 1999, pp. 227-230.
.. [2] E. Shriberg, "To 'errrr' is human: ecology and acoustics of speech disfluencies", Journal of
   the International Phonetic Association 31(1), 2001.
.. [3] P. Boersma, "Accurate short-term analysis of the fundamental frequency and the
   harmonics-to-noise ratio of a sampled sound", Proc. Institute of Phonetic Sciences 17, 1993.
.. [4] S. B. Davis, P. Mermelstein, "Comparison of parametric representations for monosyllabic
   word recognition in continuously spoken sentences", IEEE Trans. ASSP 28(4), 1980.
.. [5] P. Lockwood, J. Boudy, "Experiments with a nonlinear spectral subtractor (NSS), hidden
   Markov models and the projection, for robust speech recognition in cars", Speech
   Communication 11(2-3), 1992.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.silence import CROSSFADE_S, SilenceCuts, apply_cuts

__all__ = ["FillerCut", "FillerDetector", "FrameFeatures", "remove_fillers"]

# -- analysis frames: the speech detector's (dsp.vad), so both read the same 10 ms grid
#: Frame hop in seconds (dsp.vad.HOP_S; Goto et al. 1999 use a 10 ms shift too).
HOP_S = 0.010
#: Analysis window in seconds (dsp.vad.WIN_S): two periods of a 70 Hz voice fit in it.
WIN_S = 0.032
#: Analysis band in Hz (dsp.vad.BAND_LO_HZ/BAND_HI_HZ): the telephone band every rate holds.
BAND_LO_HZ = 60.0
BAND_HI_HZ = 4000.0
#: Pitch search range in seconds of lag, 70-400 Hz (dsp.vad.PITCH_MIN/MAX_LAG_S: adult voices).
PITCH_MIN_LAG_S = 1 / 400.0
PITCH_MAX_LAG_S = 1 / 70.0
#: A pitch peak at a shorter lag wins when it reaches this share of the highest one (measured on
#: DEV by bench/fillers.py: without it female TTS voices were tracked an octave low half the time).
PEAK_TOLERANCE = 0.85
#: Mel bands and cepstral coefficients kept (c1..c12; Davis & Mermelstein 1980 use 10-20 bands and
#: the first 6-12 coefficients; c0, the level, is left out so loudness changes do not count).
N_MEL = 24
N_CEP = 12
#: Percentile of each mel band over the recording taken as its noise floor, and the multiple of
#: it added before the log (Lockwood & Boudy 1992 floor spectra likewise; both measured on DEV by
#: bench/fillers.py at 20 and 10 dB SNR).
MEL_FLOOR_PCT = 20.0
MEL_FLOOR_MULT = 1.0
#: Energy of an all-zero frame, dB (a floor far below any 16-bit signal, -96 dB full scale).
SILENT_DB = -120.0

# -- decision (the values were chosen on the DEV half of bench/fillers.py, espeak-ng and flite
#    sentences with inserted fillers at 20 and 10 dB SNR, and checked on its CHECK half)
#: Stability window, frames: 150 ms, the shortest filled pause Goto et al. 1999 accept.
STABLE_FRAMES = 15
#: Normalized-autocorrelation peak above which a frame is voiced (measured on DEV by
#: bench/fillers.py; Boersma 1993 uses 0.45 for Praat's voicing threshold).
VOICING_MIN = 0.5
#: Share of a stability window's frames that must be voiced (measured on DEV by bench/fillers.py).
VOICED_SHARE = 0.8
#: Largest F0 spread (10th to 90th percentile over the window, semitones) of a stable stretch (measured on DEV
#: by bench/fillers.py; Goto et al. 1999 bound the F0 transition of a filled pause likewise).
F0_SPREAD_ST = 3.0
#: Largest F0 change (semitones) and cepstral distance between two frames of one steady stretch
#: (a filler glides by well under 1 semitone per 10 ms; measured on DEV by bench/fillers.py).
F0_JUMP_ST = 2.0
CEP_JUMP = 3.0
#: Percentiles of the F0 spread (a few octave errors of the tracker do not count; measured on DEV
#: by bench/fillers.py).
F0_PCT_LO = 10.0
F0_PCT_HI = 90.0
#: Largest mean frame-to-frame cepstral distance of a stable stretch (measured on DEV by
#: bench/fillers.py; vowels of words move 2-3 times more as formants glide to the next sound).
CEP_STEP_MAX = 1.2
#: Pause threshold: this share of the way from the floor to the speech level, in dB (measured on
#: DEV by bench/fillers.py at 20 and 10 dB SNR).
PAUSE_SHARE = 0.25
#: Shortest pause that bounds an island, seconds (a stop closure inside a phrase lasts 50-100 ms;
#: measured on DEV by bench/fillers.py).
MIN_PAUSE_S = 0.11
#: Island duration range of a filled pause, seconds (150 ms: Goto et al. 1999; 800 ms: the long
#: end of filled pauses in Shriberg 2001).
MIN_FILLER_S = 0.15
MAX_FILLER_S = 0.8
#: Share of an island that one unbroken stable run must cover (onset and release of "um" are
#: not stable; the syllables of a word each are, but none covers the word; measured on DEV by
#: bench/fillers.py).
STABLE_SHARE = 0.5
#: Longest break (frames, 80 ms) and largest pitch change (semitones) at which two stable runs are
#: one segment, as the vowel and nasal of "um" (measured on DEV by bench/fillers.py).
JOIN_FRAMES = 8
#: Shortest stable run that counts as a segment, frames (shorter ones are transitions).
MIN_RUN_FRAMES = 5
JOIN_ST = 3.0
#: Context around a candidate, seconds, and the largest share of its energetic frames that may be
#: steady: speech around a filler is words, whose frames are rarely steady, while music is notes
#: (the neighbourhood test of dsp.vad's tonal guard; both measured by bench/fillers.py on DEV and
#: on the realdev music clips).
CONTEXT_S = 2.0
#: Least speech (energetic frames outside candidates, seconds) that context must hold: a filler
#: is said among words (measured likewise).
CONTEXT_MIN_S = 0.3
CONTEXT_STABLE_MAX = 0.15
#: Default confidence below which a filler found is reported but not cut (on DEV of
#: bench/fillers.py true fillers scored 0.42-0.78 and the one false find under it 0.25).
MIN_CONFIDENCE = 0.35
#: Most of the following pause cut with a filler, seconds (half of it is cut; the rest remains).
MAX_PAUSE_CUT_S = 0.3


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame features on the 10 ms grid, frame ``k`` centred at ``(k * hop + win / 2) / sr``.

    Attributes
    ----------
    energy_db : ndarray, shape (frames,)
        Band energy 60 Hz-4 kHz, dB (relative to a full-scale sine, roughly).
    f0_hz : ndarray, shape (frames,)
        F0 estimate in Hz (meaningful where ``voicing`` is high).
    voicing : ndarray, shape (frames,)
        Normalized autocorrelation peak in [0, 1] (Boersma 1993).
    cep : ndarray, shape (frames, 12)
        Mel cepstral coefficients c1..c12.
    hop_s : float
        Frame hop in seconds.
    """

    energy_db: FloatArray
    f0_hz: FloatArray
    voicing: FloatArray
    cep: FloatArray
    hop_s: float


@dataclass(frozen=True)
class FillerCut:
    """One filled pause found: the filler ``[start_s, end_s)`` and the cut ``[cut_start_s, cut_end_s)``.

    Times in seconds from the start of the input; ``confidence`` in [0, 1].
    """

    start_s: float
    end_s: float
    cut_start_s: float
    cut_end_s: float
    confidence: float


def _mel(f_hz: FloatArray | float) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(f_hz) / 700.0)


def _mel_inv(m: FloatArray) -> FloatArray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


class FillerDetector:
    """Pass one of the edit: reads a stream, finds the filled pauses and plans their cuts.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1 (the channels are averaged for the analysis).
    min_confidence : float
        Fillers found with a lower confidence (in [0, 1]) are reported but not cut; default
        ``MIN_CONFIDENCE``.

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] M. Goto, K. Itou, S. Hayamizu, "A real-time filled pause detection system for
       spontaneous speech recognition", Proc. Eurospeech 1999.

    Examples
    --------
    >>> d = FillerDetector(16000, 1)
    >>> d.process(np.zeros((1, 16000), np.float32))
    >>> d.finish().cuts  # silence: nothing to cut
    ()
    """

    def __init__(self, sr: int, channels: int, *, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.min_confidence = check_range("min_confidence", min_confidence, 0.0, 1.0)
        self.hop = max(1, round(HOP_S * self.sr))
        self.win = round(WIN_S * self.sr)
        self.nfft = 1 << int(np.ceil(np.log2(2 * self.win)))
        freqs = np.fft.rfftfreq(self.nfft, 1.0 / self.sr)
        self._band = (freqs >= BAND_LO_HZ) & (freqs <= BAND_HI_HZ)
        self._window = np.hanning(self.win + 2)[1:-1].astype(np.float64)
        w_acf = sfft.irfft(np.abs(sfft.rfft(self._window, self.nfft)) ** 2, self.nfft)[: self.win]
        self._w_acf = w_acf / w_acf[0]
        self._lag_lo = max(2, int(np.floor(PITCH_MIN_LAG_S * self.sr)))
        self._lag_hi = min(self.win // 2, int(np.ceil(PITCH_MAX_LAG_S * self.sr)))
        edges = _mel_inv(np.linspace(_mel(BAND_LO_HZ), _mel(BAND_HI_HZ), N_MEL + 2))
        fb = np.zeros((N_MEL, freqs.size))
        for i in range(N_MEL):
            lo, mid, hi = edges[i : i + 3]
            fb[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
        self._fb = fb
        self._buf = np.zeros(0, np.float64)
        self._n = 0
        self._frames = 0
        self._feats: list[npt.NDArray[np.float32]] = []
        self._cuts: SilenceCuts | None = None
        self._found: list[FillerCut] = []
        self._kept: list[FillerCut] = []
        self._absorbed = 0

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` block (nothing is returned: this pass only listens)."""
        if self._cuts is not None:
            raise RuntimeError("process() after finish()")
        x = check_block(block, self.channels)
        self._n += x.shape[-1]
        self._buf = np.concatenate([self._buf, x.mean(axis=0, dtype=np.float64)])
        self._analyse()

    def _analyse(self) -> None:
        count = 0 if self._buf.size < self.win else (self._buf.size - self.win) // self.hop + 1
        if count == 0:
            return
        idx = np.arange(count)[:, None] * self.hop + np.arange(self.win)[None, :]
        self._feats.append(self._features(self._buf[idx]))
        self._buf = self._buf[count * self.hop :]
        self._frames += count

    def _features(self, frames: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        frames = frames - frames.mean(axis=1, keepdims=True)
        spec = sfft.rfft(frames * self._window, self.nfft, axis=1)
        power = np.abs(spec) ** 2 * self._band
        # energy: mean band power per sample of window, in dB re a full-scale sine
        e = power.sum(axis=1) * 2.0 / (self.win * (self._window**2).sum())
        energy_db = np.where(e > 0, 10 * np.log10(np.maximum(e, 1e-30)), SILENT_DB)
        acf = sfft.irfft(power, self.nfft, axis=1)[:, : self._lag_hi + 2]
        r0 = np.maximum(acf[:, :1], 1e-30)
        r = acf / r0 / self._w_acf[None, : acf.shape[1]]
        seg = r[:, self._lag_lo : self._lag_hi + 1]
        # the shortest lag whose local peak is within PEAK_TOLERANCE of the highest: the window
        # correction lifts the multiples of the period, which would halve F0 (Boersma 1993 adds
        # an octave cost for the same reason)
        top = seg.max(axis=1, keepdims=True)
        local = np.zeros_like(seg, dtype=bool)
        local[:, 1:-1] = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
        cand = local & (seg >= PEAK_TOLERANCE * top)
        k = np.where(cand.any(axis=1), cand.argmax(axis=1), seg.argmax(axis=1))
        peak = seg[np.arange(seg.shape[0]), k]
        # parabolic interpolation of the peak lag (Boersma 1993, sec. 3)
        kk = np.clip(k, 1, seg.shape[1] - 2)
        a, b, c = (seg[np.arange(seg.shape[0]), kk + d] for d in (-1, 0, 1))
        den = a - 2 * b + c
        shift = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
        lag = self._lag_lo + kk + np.clip(shift, -1, 1)
        f0 = self.sr / lag
        voicing = np.where(e > 0, np.clip(peak, 0.0, 1.0), 0.0)
        mel = (self._fb @ power.T).T
        return np.column_stack([energy_db, f0, voicing, mel]).astype(np.float32)

    def features(self) -> FrameFeatures:
        """The per-frame features read so far (after :meth:`finish`, of the whole stream)."""
        f = np.concatenate(self._feats) if self._feats else np.zeros((0, 3 + N_MEL), np.float32)
        mel = f[:, 3:].astype(np.float64)
        # the band floor is added before the log, so bands holding only noise stay flat (a
        # noise-robust "log(x + floor)" compression; Lockwood & Boudy 1992 on floored spectra)
        floor = np.percentile(mel, MEL_FLOOR_PCT, axis=0) if mel.shape[0] else np.zeros(N_MEL)
        logmel = np.log(mel + MEL_FLOOR_MULT * floor + 1e-12)
        cep = sfft.dct(logmel, type=2, norm="ortho", axis=1)[:, 1 : N_CEP + 1] if mel.shape[0] else mel[:, :N_CEP]
        return FrameFeatures(f[:, 0], f[:, 1], f[:, 2], cep.astype(np.float32), self.hop / self.sr)

    def finish(self) -> SilenceCuts:
        """The cuts, once the whole stream was read."""
        if self._cuts is None:
            if self._n and self._buf.size:  # the tail: zero-pad so every sample is in a frame
                self._buf = np.concatenate([self._buf, np.zeros(self.win, np.float64)])
                self._analyse()
                self._buf = np.zeros(0, np.float64)
            self._found = find_fillers(self.features(), self.hop / self.sr, self.win / self.sr)
            self._kept = [f for f in self._found if f.confidence >= self.min_confidence]
            cuts = []
            for f in self._kept:
                a, b = round(f.cut_start_s * self.sr), min(round(f.cut_end_s * self.sr), self._n)
                if b > a:
                    cuts.append((a, b))
            self._cuts = SilenceCuts(tuple(cuts), self.sr, self._n)
        return self._cuts

    @property
    def kept(self) -> list[FillerCut]:
        """The filled pauses cut (confidence at least ``min_confidence``), after :meth:`finish`."""
        self.finish()
        return list(self._kept)

    def absorb(self, other: SilenceCuts) -> None:
        """Leave to ``other`` (another edit's cuts of the same stream) every filler cut it overlaps.

        The pause shortening that took the filler's pause in as a whole cuts the filler there.
        """
        self.finish()
        kept, cuts = [], []
        for f in self._kept:
            a, b = round(f.cut_start_s * self.sr), min(round(f.cut_end_s * self.sr), self._n)
            if any(a < d and c < b for c, d in other.cuts):
                self._absorbed += 1
                continue
            kept.append(f)
            if b > a:
                cuts.append((a, b))
        self._kept = kept
        self._cuts = SilenceCuts(tuple(cuts), self.sr, self._n)

    @property
    def fillers(self) -> list[FillerCut]:
        """Every filled pause found (also those under ``min_confidence``), after :meth:`finish`."""
        self.finish()
        return list(self._found)

    def report(self) -> dict[str, Any]:
        """What was cut: each cut's start, end (seconds of the input) and confidence."""
        cuts = self.finish()
        found = cuts.cuts or self._absorbed
        out: dict[str, Any] = {} if found else {"not_applied": "no filled pause found: the audio is unchanged"}
        return out | {
            "step": "fillers",
            "fillers_cut": len(cuts.cuts) + self._absorbed,
            "fillers_found": len(self._found),
            "removed_s": round(cuts.removed / self.sr, 3),
            "min_confidence": self.min_confidence,
            "cuts": [
                {
                    "start_s": round(f.cut_start_s, 3),
                    "end_s": round(f.cut_end_s, 3),
                    "filler_start_s": round(f.start_s, 3),
                    "filler_end_s": round(f.end_s, 3),
                    "confidence": round(f.confidence, 3),
                }
                for f in self._kept
            ],
            "timing": "seconds of the input, before any cut",
            **({"cut_by_long_silences": self._absorbed} if self._absorbed else {}),
        }


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, end)`` index pairs of the True runs of ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def stable_frames(feats: FrameFeatures) -> tuple[npt.NDArray[np.bool_], FloatArray, FloatArray]:
    """Frames inside a 150 ms stretch of flat F0, steady envelope and voicing.

    Parameters
    ----------
    feats : FrameFeatures
        The per-frame features.

    Returns
    -------
    stable : ndarray of bool, shape (frames,)
        Frames covered by at least one window that meets all three conditions.
    spread : ndarray, shape (frames,)
        F0 spread (10th to 90th percentile, semitones) of the window starting at each frame (inf at the end).
    step : ndarray, shape (frames,)
        Mean cepstral step of that window (inf at the end).
    """
    n = feats.energy_db.size
    w = STABLE_FRAMES
    stable = np.zeros(n, bool)
    spread = np.full(n, np.inf)
    step = np.full(n, np.inf)
    if n < w:
        return stable, spread, step
    st = 12 * np.log2(np.maximum(feats.f0_hz.astype(np.float64), 1.0))
    voiced = feats.voicing >= VOICING_MIN
    d = np.r_[np.inf, np.linalg.norm(np.diff(feats.cep.astype(np.float64), axis=0), axis=1)]
    view = np.lib.stride_tricks.sliding_window_view
    m = n - w + 1
    lo, hi = np.percentile(view(st, w), [F0_PCT_LO, F0_PCT_HI], axis=1)
    spread[:m] = hi - lo
    step[:m] = view(d, w)[:, 1:].mean(axis=1)
    all_voiced = view(voiced, w).mean(axis=1) >= VOICED_SHARE
    ok = all_voiced & (spread[:m] <= F0_SPREAD_ST) & (step[:m] <= CEP_STEP_MAX)
    cover = np.convolve(ok.astype(np.int32), np.ones(w, np.int32))[:n]
    # a pitch jump or a spectral jump between two frames ends a steady stretch (the next
    # syllable), even where the windows' percentiles would look past it
    # (on a 3-frame median of the pitch, so one octave error of the tracker is no jump)
    sm = np.median(view(np.r_[st[0], st, st[-1]], 3), axis=1)
    jump = (np.abs(np.r_[0.0, np.diff(sm)]) > F0_JUMP_ST) | (d > CEP_JUMP)
    stable = (cover > 0) & ~jump
    return stable, spread, step


def find_fillers(feats: FrameFeatures, hop_s: float, win_s: float) -> list[FillerCut]:
    """The filled pauses in a recording's frame features (the decision of the module docstring).

    Parameters
    ----------
    feats : FrameFeatures
        Features of the whole recording.
    hop_s : float
        Frame hop in seconds.
    win_s : float
        Frame length in seconds (frame ``k`` covers ``[k * hop_s, k * hop_s + win_s)``).

    Returns
    -------
    list of FillerCut
        In time order, times in seconds of the input.
    """
    e = feats.energy_db.astype(np.float64)
    n = e.size
    if n < STABLE_FRAMES:
        return []
    real = e > SILENT_DB
    if not real.any():
        return []
    level = float(np.percentile(e[real], 95))
    floor = float(np.percentile(e[real], 10))
    if level - floor < 6.0:  # no speech above the floor (a steady signal): nothing to find
        return []
    loud = e > floor + PAUSE_SHARE * (level - floor)
    # pauses shorter than MIN_PAUSE_S (stop closures) do not split an island
    min_pause = max(1, round(MIN_PAUSE_S / hop_s))
    for a, b in _runs(~loud):
        if b - a < min_pause and a > 0 and b < n:
            loud[a:b] = True
    stable, spread, step = stable_frames(feats)
    st = 12 * np.log2(np.maximum(feats.f0_hz.astype(np.float64), 1.0))
    centre = win_s / 2
    ctx = round(CONTEXT_S / hop_s)
    islands = _runs(loud)
    cands: list[tuple[int, float]] = []  # (island index, stable share)
    for i, (a, b) in enumerate(islands):
        dur = (b - a) * hop_s
        if not MIN_FILLER_S <= dur <= MAX_FILLER_S:
            continue
        # one steady segment, or two at one pitch with a short transition (the vowel and the
        # nasal of "um"); a word's syllables make more segments, or jumps in pitch between them
        runs = [(s, e) for s, e in _runs(stable[a:b]) if e - s >= MIN_RUN_FRAMES]
        if not runs or len(runs) > 2:
            continue
        if len(runs) == 2:
            (s0, e0), (s1, e1) = runs
            p0, p1 = np.median(st[a + s0 : a + e0]), np.median(st[a + s1 : a + e1])
            if s1 - e0 > JOIN_FRAMES or abs(float(p1 - p0)) > JOIN_ST:
                continue
        share = sum(e - s for s, e in runs) / (b - a)
        if share >= STABLE_SHARE:
            cands.append((i, share))
    # among words, a steady island stands out; among sung or played notes it does not: the
    # energetic frames around a candidate, other candidates left out, must be words (enough of
    # them, and mostly unsteady)
    words = loud.copy()
    for i, _ in cands:
        words[islands[i][0] : islands[i][1]] = False
    out: list[FillerCut] = []
    for i, share in cands:
        a, b = islands[i]
        lo, hi = max(0, a - ctx), min(n, b + ctx)
        around = words[lo:hi]
        if around.sum() * hop_s < CONTEXT_MIN_S or float(stable[lo:hi][around].mean()) > CONTEXT_STABLE_MAX:
            continue
        # the filler's best window: its spread and step margins give the confidence
        j = a + int(np.argmin(step[a : max(a + 1, b - STABLE_FRAMES + 1)]))
        margin_f0 = 1.0 - min(1.0, float(spread[j]) / F0_SPREAD_ST)
        margin_cep = 1.0 - min(1.0, float(step[j]) / CEP_STEP_MAX)
        conf = float(np.clip((share + margin_f0 + margin_cep) / 3.0, 0.0, 1.0))
        start, end = a * hop_s + centre - hop_s / 2, b * hop_s + centre - hop_s / 2
        start = max(0.0, start)
        nxt = islands[i + 1][0] if i + 1 < len(islands) else n
        pause_after = (nxt - b) * hop_s
        cut_end = end + min(MAX_PAUSE_CUT_S, pause_after / 2) if nxt < n else end
        # the cut starts a frame before the first loud one (a filler's onset rises under the frame's
        # bar) and half a crossfade more, which fades out across the cut's start: begun at the
        # onset, the fade let 4.5 ms of the filler through, a tick in a noise-gated recording
        prev_end = islands[i - 1][1] * hop_s + centre if i > 0 else 0.0
        cut_start = max(0.0, prev_end, start - hop_s - CROSSFADE_S / 2)
        out.append(FillerCut(start, end, min(cut_start, start), cut_end, conf))
    return out


def remove_fillers(audio: Audio, sr: int, *, min_confidence: float = MIN_CONFIDENCE) -> tuple[Audio, dict[str, Any]]:
    """Find and cut the filled pauses of ``audio`` (both passes in memory).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        Finite samples.
    sr : int
        Sample rate in Hz, in [8000, 192000].
    min_confidence : float
        Fillers below this confidence (in [0, 1]) are left in; default ``MIN_CONFIDENCE``.

    Returns
    -------
    audio : ndarray, float32
        Shorter (or equal) along the last axis.
    report : dict
        :meth:`FillerDetector.report`: each cut in seconds of the input, with its confidence.

    Raises
    ------
    InvalidAudioError
        If ``audio`` is empty, not finite or badly shaped.
    InvalidParameterError
        If a parameter is out of range.

    References
    ----------
    .. [1] M. Goto, K. Itou, S. Hayamizu, "A real-time filled pause detection system for
       spontaneous speech recognition", Proc. Eurospeech 1999.

    Examples
    --------
    >>> y, rep = remove_fillers(np.zeros(16000, np.float32), 16000)
    >>> y.shape, rep["fillers_cut"]
    ((16000,), 0)
    """
    audio = valid_audio(audio)
    x = as_2d(audio)
    d = FillerDetector(sr, x.shape[0], min_confidence=min_confidence)
    d.process(x)
    return apply_cuts(audio, d.finish(), crossfade_s=CROSSFADE_S), d.report()
