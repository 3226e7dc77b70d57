"""Automatic recording analysis: measure what is wrong with a recording and decide the repair chain.

One streaming pass over the input measures, with the engines' own estimators wherever one exists:

* **noise floor and SNR** (new here): the power of 128 ms frames in the third-octave bands from
  100 Hz to 8 kHz (the EQ analyzer's bands, leaving out those a hum harmonic is in), split by the
  speech detector (:class:`dsp.vad.SpeechDetector`) into speech and pause frames; the SNR is the
  speech frames' mean power less the noise over the noise, the noise a low quantile of the pause
  frames (the active-level view of ITU-T P.56 against the background);
* **mains hum**: :class:`dsp.hum.HumRemover` with ``HUM_DETECT_S`` windows (what
  :func:`dsp.hum.detect_hum` finds in the first of them is the hum reported); the other
  estimators listen to its output, the input with the hum notched wherever the remover found it;
* **reverberation**: :class:`dsp.dereverb.ReverbAnalyzer` (the share of the energy its WPE
  filters predict from the past, and the blind T60 from free decays);
* **discrete echo**: :class:`dsp.echo.EchoAnalyzer` (cepstral peak score);
* **clipping** (new here): runs of three or more identical samples at the recording's peak
  magnitude, the flat tops hard clipping leaves, or the samples sitting exactly at the peak (the
  spike at the top of the amplitude histogram, Aleinik et al. 2014), whichever is larger;
* **speech and harmonic (speech or music) share**: :class:`dsp.vad.SpeechDetector`;
* **music**: :class:`dsp.music.MusicDetector` (which carries that speech detector, so it is
  fed once): the music-only stretches, and whether the recording is music only (no voiced sound
  that glides in pitch as intonation does, :attr:`dsp.music.MusicMap.music_only`);
* **loudness**: :class:`dsp.loudness.LoudnessMeter` (ITU-R BS.1770-4 integrated loudness);
* **spectral balance**: :class:`dsp.eq.EqAnalyzer` (which Byrne et al. 1994 LTASS the speech
  is closer to) and, on the EQ analyzer's third-octave bands, the speech frames' spectrum less
  the pauses' noise spectrum, summarised by the least-squares tilt of its deviation from the
  target in dB per octave (noise would otherwise read as a treble boost).

:meth:`RecordingAnalyzer.finish` returns an :class:`Analysis`: the measurements and one
:class:`Decision` per engine (on/off, a strength where the engine takes one, the measurement and
the threshold behind it). Every threshold was set on speech and every engine decided here repairs
a voice recording, so on a recording that is music only no engine is turned on: each decision
says what it measured and, in ``not_applied``, that the recording is music. Which thresholds
were measured on the DEV half of the synthetic set of ``bench/autoid.py`` is said at each
constant.

References
----------
.. [1] ITU-T Rec. P.56, "Objective measurement of active speech level", 2011.
.. [2] S. Aleinik, Y. Matveev, A. Raev, "Method of evaluation of speech signal clipping level",
   Scientific and Technical Journal of Information Technologies, Mechanics and Optics, 2014.
.. [3] D. Byrne et al., "An international comparison of long-term average speech spectra",
   JASA 96(4), 1994.
.. [4] ITU-R BS.1770-4, "Algorithms to measure audio programme loudness and true-peak audio
   level", 2015; EBU R 128, "Loudness normalisation and permitted maximum level", 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft
from scipy import signal as sps

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.dereverb import MIN_SHARE as REVERB_MIN_SHARE
from dsp.dereverb import ReverbAnalyzer, ReverbEstimate
from dsp.echo import EchoAnalyzer, EchoEstimate

# the EQ analyzer's own band layout and framing (its private helpers: one definition of the bands)
from dsp.eq import BYRNE_CENTRES_HZ, BYRNE_FEMALE_DB, BYRNE_MALE_DB, EqAnalyzer, EqCurve, _band_matrix, _bands_for
from dsp.eq import FRAME_S as EQ_FRAME_S
from dsp.hum import HumEstimate, HumRemover, detect_hum
from dsp.loudness import LoudnessMeasurement, LoudnessMeter
from dsp.music import MusicDetector, MusicMap

__all__ = ["Analysis", "Decision", "RecordingAnalyzer", "analyze"]

#: Seconds analysed for hum: the streaming hum notch's windows (the estimators listen through
#: it; its opening window decides the hum reported), and the head whose pauses are searched.
#: Longer than the noise reducer's windows: hum 20-35 dB under the speech was missed in 2 s on
#: the DEV half of bench/autoid.py. The ``dehum`` step autoid adds is given the hum found, so it
#: notches exactly that.
HUM_DETECT_S = 8.0
#: Pause time (s) needed for the noise floor; with less the floor is the quietest frames'
#: (``FLOOR_QUANTILE``) power. Chosen, not tuned: one second is a few pauses of normal speech.
MIN_PAUSE_S = 1.0
#: Quantile of the frame powers taken as the noise floor when the pauses are too short (minimum
#: statistics, Martin 2001, uses the minimum of a smoothed power; a low quantile is its robust form).
FLOOR_QUANTILE = 0.1
#: Hum level (dB re the speech level) from which it is notched: quieter hum sits under the noise
#: floor of a normal recording and is not heard. Measured on the DEV half of bench/autoid.py (the
#: set's hum: -33 to -18 dB; a LibriSpeech recording's own 60 Hz hum: -52 dB). Hum found only
#: within speech (no pause to measure it in) is not decided: in reverberant speech that is most
#: often a sustained voice partial.
HUM_RE_SPEECH_DB = -40.0
#: Mains hum is strongest in its first harmonics (the supply's fundamental and its rectifier
#: harmonics): one of the first ``HUM_LOW_HARMONICS`` must stand ``HUM_LOW_PROMINENCE_DB`` over
#: its neighbourhood. Measured on the DEV half of bench/autoid.py: the set's hum 20.5-57 dB, voice
#: partials the detector took for hum (at harmonics 7-24 mostly) at most 21.7 dB.
HUM_LOW_HARMONICS = 5
HUM_LOW_PROMINENCE_DB = 20.0
#: Pause time (s) the hum search and level need: :func:`dsp.hum.detect_hum`'s shortest input
#: (a quarter second, 12 periods of 50 Hz).
MIN_HUM_PAUSE_S = 0.25
#: Largest distance (Hz) of a hum fundamental from 50 or 60 Hz: ENTSO-E's maximum steady-state
#: frequency deviation of the European grid (200 mHz; the standard range is +-50 mHz). Voice
#: partials that :func:`dsp.hum.detect_hum` takes for hum lie anywhere in its +-0.6 Hz search.
MAINS_TOL_HZ = 0.2
#: Quantile of the pause frames taken as the noise floor: low enough that reverberation tails and
#: speech the detector missed in the pauses do not lift it, high enough for fluctuating noise to
#: count (measured on the DEV half of bench/autoid.py; the median read reverberant rooms as
#: 13-26 dB SNR).
PAUSE_QUANTILE = 0.25
#: Frames quieter than this (dBFS) are digital silence, not noise: the floor never goes below it.
SILENCE_DBFS = -100.0
#: Flat run length (samples) that counts as clipping: three identical samples in a row at the
#: peak (chosen: no clean DEV input of bench/autoid.py has one; shorter clipped tops are caught by
#: the count of samples exactly at the peak).
CLIP_RUN = 3
#: A flat run is at the peak when within this many dB of the recording's largest magnitude.
CLIP_NEAR_PEAK_DB = 0.1
#: Clipped share (samples in flat runs at the peak or exactly at it, per thousand samples) that
#: turns the clipping decision on. Measured on the DEV half of bench/autoid.py (unclipped inputs:
#: at most 0.021 per thousand; clipped inputs: 3.7 and up).
CLIP_PERMILLE = 0.5
#: SNR (dB) below which the noise reducer runs. Measured on the DEV half of bench/autoid.py: the
#: inputs with noise added at 0-20 dB measure at most 20 dB, the others at least 23.7 dB but for
#: two very reverberant rooms (their tails fill the pauses).
DENOISE_SNR_DB = 22.0
#: SNR (dB) at and below which the noise reducer runs at full strength; between it and
#: ``DENOISE_SNR_DB`` the amount falls linearly to ``MIN_AMOUNT``. 10 dB is the noisy end of the
#: SNRs bench/denoise.py measures, where the full-strength reducer gains most.
FULL_AMOUNT_SNR_DB = 10.0
#: The gentlest amount autoid runs the noise reducer at (of its 1-100 scale). Chosen, not tuned:
#: half strength, so that a decided denoise always does something audible.
MIN_AMOUNT = 50.0
#: Share of the energy the reverb analyzer's WPE filters predict from the past (its
#: ``share``; it acts from 3 %) from which dereverberation is decided. Measured on the DEV half of
#: bench/autoid.py: dry speech 0-3.5 %, the rooms of the set 8 % and more. The blind T60 is
#: reported with it; it is not the criterion (dry speech measured 0.2-0.5 s, some rooms 0.4 s).
REVERB_SHARE = 0.05
#: The same with a discrete echo found: the echo is predictable from the past too (the DEV echo
#: inputs measured up to 6.4 %); echo removal runs first and the reverb is judged above it.
REVERB_SHARE_ECHO = 0.10
#: Blind T60 (s) from which a recording the reverb analyzer would act on (its own 3 % share) is
#: dereverberated even under ``REVERB_SHARE`` (and without a discrete echo): synthetic voices in
#: rooms of 0.6-1.2 s measured a share of only 3.4-3.8 %. No dry DEV input of bench/autoid.py
#: reached the analyzer's 3 % without an echo.
REVERB_T60_S = 0.5
#: Loudness tolerance (LU) around the target before the loudness step runs. EBU R 128 s1 allows
#: +-1 LU where exact normalisation is not possible; 2 LU leaves room for the short-file spread
#: of the gated measurement (on the DEV half of bench/autoid.py the level-matched inputs measure
#: within 0.1 LU of the target, the level changes 6 LU and more off it).
LOUDNESS_TOL_LU = 2.0
#: Band SNR (dB) a third-octave band of the speech spectrum needs to enter the tilt fit. Chosen,
#: not tuned: at 3 dB the noise is at most half the band's power, so the subtraction of the pause
#: noise is at most doubled by an error in it.
TILT_BAND_SNR_DB = 3.0
#: Spectral tilt (dB per octave, absolute) of the noise-compensated speech LTASS against the mean
#: Byrne et al. 1994 LTASS from which autoeq runs. Measured on the DEV half of bench/autoid.py: the
#: middle of the gap between the inputs without a tilt (clean voices -2.0 to +2.3 dB/octave, noisy
#: ones up to 3.3; one very reverberant room -5.1) and those with one (4.7 dB/octave and more).
TILT_DB_OCT = 4.0
#: Speech share under which the speech engines (denoise, dereverberation, EQ) are not run: the
#: recording holds too little speech for their estimators (autoeq needs 1 s of speech). Chosen,
#: not tuned: 5 %, one second in twenty.
MIN_SPEECH_SHARE = 0.05
#: The loudness target the decision measures against (the loudness step's AudioCleaner target).
TARGET_LUFS = -16.0
#: Longest piece (s) of a block the estimators take at once. Their work arrays (STFT frames,
#: band powers, the speech detector's features of the piece) grow with what they are given, so
#: a caller's long block (the server's ``block_seconds`` goes up to 60 s) or what the hum
#: remover releases at once would set the peak; cut to 1 s they stay at a few MB at 48 kHz
#: stereo. The result does not depend on it.
PIECE_S = 1.0


@dataclass(frozen=True)
class Decision:
    """One engine's decision and what it rests on.

    Attributes
    ----------
    engine : str
        The step that would run (``denoise``, ``dehum``, ``remove_reverb``, ``remove_echo``,
        ``declip``, ``autoeq``, ``loudness``).
    on : bool
        Whether it runs.
    strength : float or None
        The engine's strength parameter where it takes one (denoise ``amount`` 1-100), else None.
    measure : str
        Name of the measurement behind the decision.
    value : float or None
        Its value (None when it could not be measured).
    threshold : float or None
        The threshold it was compared with.
    unit : str
        Unit of ``value`` and ``threshold``.
    reason : str
        The comparison in words.
    not_applied : str
        Why the engine is off whatever the measurement says (the recording is music only);
        empty otherwise.
    """

    engine: str
    on: bool
    strength: float | None
    measure: str
    value: float | None
    threshold: float | None
    unit: str
    reason: str
    not_applied: str = ""

    def report(self) -> dict[str, Any]:
        """JSON-ready form."""

        def r(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 3)

        out: dict[str, Any] = {
            "engine": self.engine,
            "on": self.on,
            "strength": r(self.strength),
            "measure": self.measure,
            "value": r(self.value),
            "threshold": r(self.threshold),
            "unit": self.unit,
            "reason": self.reason,
        }
        if self.not_applied:
            out["not_applied"] = self.not_applied
        return out


@dataclass(frozen=True)
class Analysis:
    """The measurements of one recording and the decisions taken on them.

    Attributes
    ----------
    sr : int
        Sample rate in Hz.
    duration_s : float
        Length in seconds.
    snr_db : float
        Speech-to-noise ratio in dB (``inf`` over digital silence, ``nan`` without speech).
    noise_floor_dbfs : float
        Noise floor power in dBFS (mean power of the pauses, or the quiet-frame quantile).
    speech_level_dbfs : float
        Mean power of the speech frames in dBFS.
    hum : HumEstimate or None
        Mains hum found by :func:`dsp.hum.detect_hum`.
    reverb : ReverbEstimate
        The reverb analyzer's estimate (T60, predicted share).
    echo : EchoEstimate
        The echo analyzer's estimate (delay, gain, score).
    clipped_permille : float
        Samples in flat runs at the peak, or exactly at the peak, per thousand samples.
    speech_share : float
        Share of the duration that is speech, in [0, 1].
    sound_share : float
        Share that is speech or sustained harmonic sound (music, singing), in [0, 1].
    loudness : LoudnessMeasurement
        Integrated loudness (LUFS) and sample peak (dBFS).
    eq : EqCurve
        The autoeq analyzer's measured LTASS and correction.
    tilt_db_per_octave : float
        Least-squares slope of (measured - target) LTASS over the bands holding speech, in dB
        per octave (``nan`` without speech).
    speech : tuple of (float, float)
        The segments a noise gate must keep (:meth:`dsp.vad.SpeechDetector.keep_segments`), in
        seconds, for the noise reducer to reuse.
    music : MusicMap or None
        Where the recording holds music (:class:`dsp.music.MusicDetector` over the hum-notched
        stream), and whether it is music only.
    hum_later : (float, float) or None
        When no hum was found in the first ``HUM_DETECT_S``, where the decision is made: the
        fundamental (Hz) and start (s) of mains hum the streaming hum remover notched later on,
        for the report (its level against the speech is not measured, and it is left alone).
    decisions : tuple of Decision
        One per engine, in chain order.
    """

    sr: int
    duration_s: float
    snr_db: float
    noise_floor_dbfs: float
    speech_level_dbfs: float
    hum: HumEstimate | None
    hum_re_speech_db: float
    reverb: ReverbEstimate
    echo: EchoEstimate
    clipped_permille: float
    speech_share: float
    sound_share: float
    loudness: LoudnessMeasurement
    eq: EqCurve
    tilt_db_per_octave: float
    speech: tuple[tuple[float, float], ...] = ()
    music: MusicMap | None = None
    hum_later: tuple[float, float] | None = None
    decisions: tuple[Decision, ...] = field(default=())

    def decision(self, engine: str) -> Decision:
        """The decision for ``engine``; raises KeyError for an engine not decided on."""
        for d in self.decisions:
            if d.engine == engine:
                return d
        raise KeyError(engine)

    def measurements(self) -> dict[str, Any]:
        """JSON-ready measurements (floats rounded; ``None`` for what could not be measured)."""

        def r(v: float, nd: int = 2) -> float | None:
            return round(float(v), nd) if math.isfinite(v) else None

        return {
            "duration_s": r(self.duration_s),
            "snr_db": r(self.snr_db, 1) if not math.isinf(self.snr_db) else "inf",
            "noise_floor_dbfs": r(self.noise_floor_dbfs, 1),
            "speech_level_dbfs": r(self.speech_level_dbfs, 1),
            "hum_hz": self.hum.f0_hz if self.hum is not None else None,
            "hum_harmonics": list(self.hum.harmonics) if self.hum is not None else [],
            "hum_re_speech_db": r(self.hum_re_speech_db, 1),
            "hum_checked_s": HUM_DETECT_S,
            "hum_later_hz": round(self.hum_later[0], 2) if self.hum_later is not None else None,
            "hum_later_from_s": round(self.hum_later[1], 2) if self.hum_later is not None else None,
            "t60_s": r(self.reverb.t60_s),
            "reverb_share": r(self.reverb.share, 3),
            "echo_found": self.echo.found,
            "echo_delay_ms": r(self.echo.delay_ms, 1) if self.echo.found else None,
            "echo_score": r(self.echo.score, 1),
            "clipped_permille": r(self.clipped_permille, 3),
            "speech_share": r(self.speech_share, 3),
            "sound_share": r(self.sound_share, 3),
            "integrated_lufs": r(self.loudness.integrated_lufs, 1),
            "peak_dbfs": r(self.loudness.peak_dbfs, 1),
            "tilt_db_per_octave": r(self.tilt_db_per_octave),
            "eq_error_db": r(self.eq.error_before_db) if self.eq.applied else None,
            "music_s": r(self.music.music_s) if self.music is not None else None,
            "music_share": r(self.music.music_share, 3) if self.music is not None else None,
            "music_only": self.music.music_only if self.music is not None else False,
            "glide_share": r(self.music.glide_share, 3) if self.music is not None else None,
        }

    def report(self) -> dict[str, Any]:
        """``measurements`` and ``decisions`` as JSON-ready data."""
        return {"measurements": self.measurements(), "decisions": [d.report() for d in self.decisions]}


class RecordingAnalyzer:
    """Streaming analysis pass: feed the whole recording, then :meth:`finish` for the decisions.

    Memory grows with the duration only by the estimators' per-frame tracks (the speech and music
    detectors' features per 10 ms frame, about 17 MB an hour, and what their decisions compute
    over them at the end; the reverb analyzer's frame energies, the EQ analyzers' band powers: a
    few MB an hour). What the hum remover releases (quarter windows of ``HUM_DETECT_S``, as many
    as a block completes) is cut into pieces of at most ``PIECE_S`` before the estimators see it,
    so their work arrays do not grow with the caller's block either. The result does not depend on
    how the stream is cut into blocks.

    Parameters
    ----------
    sr : int
        Sample rate in Hz, in [8000, 192000].
    channels : int
        Channel count, >= 1 (one decision for all channels).
    target_lufs : float
        Loudness target the loudness decision measures against, in LUFS, in [-40, -5].

    Examples
    --------
    >>> sr = 16000
    >>> rng = np.random.default_rng(0)
    >>> a = RecordingAnalyzer(sr, 1)
    >>> a.process((0.01 * rng.standard_normal((1, 3 * sr))).astype(np.float32))
    >>> [d.engine for d in a.finish().decisions]
    ['remove_echo', 'remove_reverb', 'declip', 'denoise', 'dehum', 'autoeq', 'loudness']
    """

    def __init__(self, sr: int, channels: int, *, target_lufs: float = TARGET_LUFS) -> None:
        self.sr = check_sr(sr)
        self.channels = check_channels(channels)
        self.target_lufs = check_range("target_lufs", target_lufs, -40.0, -5.0)
        # the estimators listen to the input with its mains hum notched (the hum is dealt with
        # first: steady tones would read as predictable reverberation and as noise); the hum
        # remover streams HUM_DETECT_S to 1.25 * HUM_DETECT_S behind its input
        self._hum = HumRemover(self.sr, self.channels, detect_s=HUM_DETECT_S)
        self._music = MusicDetector(self.sr, self.channels)
        self._vad = self._music.speech_detector  # fed by the music detector
        self._echo = EchoAnalyzer(self.sr, self.channels)
        self._reverb = ReverbAnalyzer(self.sr, self.channels)
        self._eq = EqAnalyzer(self.sr, self.channels)
        self._meter = LoudnessMeter(self.sr, self.channels)
        # third-octave band powers of 128 ms Hann frames (the EQ analyzer's bands and framing),
        # for the noise-compensated spectral tilt
        self._n_fft = int(sfft.next_fast_len(round(EQ_FRAME_S * self.sr), real=True))
        self._hop = self._n_fft // 2
        self._window = np.hanning(self._n_fft + 2)[1:-1]
        self._centres = _bands_for(self.sr)
        self._matrix = _band_matrix(self._n_fft, self.sr, self._centres)
        self._buf = np.zeros((self.channels, 0))
        self._bands: list[FloatArray] = []
        self._head: list[Audio] = []  # the first HUM_DETECT_S of the input, for the gated hum search
        self._head_n = 0
        self._prev = np.full((self.channels, CLIP_RUN - 1), np.nan, np.float32)
        # flat-run sample counts per 0.05 dB magnitude bin (-200 dBFS .. +20 dBFS), so the peak
        # can be known only at the end without keeping the samples
        self._clip_hist = np.zeros(4401, np.int64)
        self._peak = 0.0  # largest magnitude so far and how many samples reach it exactly
        self._at_peak = 0
        self._n = 0
        self._result: Analysis | None = None

    def process(self, block: Audio) -> None:
        """Read a ``(channels, m)`` float32 block (nothing is returned: this pass only listens)."""
        if self._result is not None:
            raise RuntimeError("the analysis is finished")
        x = check_block(block, self.channels)
        if not x.shape[-1]:
            return
        self._n += x.shape[-1]
        if self._head_n < HUM_DETECT_S * self.sr:
            self._head.append(x[:, : round(HUM_DETECT_S * self.sr) - self._head_n].copy())
            self._head_n += self._head[-1].shape[-1]
        piece = max(1, round(PIECE_S * self.sr))
        for i in range(0, x.shape[-1], piece):
            self._meter.process(x[:, i : i + piece])
            self._count_flat(x[:, i : i + piece])
        # the hum remover takes the blocks as they come (its windows do not depend on them) and
        # releases what a block completes; _listen cuts it
        self._listen(self._hum.process(x))

    def _listen(self, x: Audio) -> None:
        """The hum-notched stream, in pieces of at most ``PIECE_S``."""
        piece = max(1, round(PIECE_S * self.sr))
        for i in range(0, x.shape[-1], piece):
            self._estimate(x[:, i : i + piece])

    def _estimate(self, x: Audio) -> None:
        """The estimators and the band track, over one piece of the hum-notched stream."""
        for a in (self._music, self._echo, self._reverb, self._eq):
            a.process(x)
        self._buf = np.concatenate([self._buf, x.astype(np.float64)], axis=1)
        if self._buf.shape[-1] >= self._n_fft:
            k = (self._buf.shape[-1] - self._n_fft) // self._hop + 1
            frames = np.lib.stride_tricks.sliding_window_view(self._buf, self._n_fft, axis=-1)[:, :: self._hop][:, :k]
            spec = np.abs(sfft.rfft(frames * self._window, axis=-1)) ** 2
            self._bands.append((np.mean(spec, axis=0) @ self._matrix).astype(np.float32))
            self._buf = self._buf[:, k * self._hop :]

    def _count_flat(self, x: Audio) -> None:
        m = float(np.max(np.abs(x)))
        if m > self._peak:
            self._peak, self._at_peak = m, 0
        if m == self._peak and m > 0:
            self._at_peak += int(np.count_nonzero(np.abs(x) == m))
        y = np.concatenate([self._prev, x], axis=1)
        flat = np.ones((self.channels, x.shape[-1]), bool)
        for lag in range(1, CLIP_RUN):
            flat &= y[:, CLIP_RUN - 1 :] == y[:, CLIP_RUN - 1 - lag : y.shape[1] - lag]
        mag = np.abs(x[flat])
        mag = mag[mag > 0]
        if mag.size:
            db = 20 * np.log10(mag.astype(np.float64))
            idx = np.clip(np.round((db + 200.0) / 0.05).astype(np.int64), 0, self._clip_hist.size - 1)
            self._clip_hist += np.bincount(idx, minlength=self._clip_hist.size)
        # a sample counts once, as the end of a run of CLIP_RUN equal samples; the last samples
        # carry over so a run across a block edge counts as in one block
        self._prev = y[:, -(CLIP_RUN - 1) :].copy()

    def speech_segments(self) -> list[tuple[float, float]]:
        """The noise gate's keep segments (finishes the analysis)."""
        return list(self.finish().speech)

    def finish(self) -> Analysis:
        """The measurements and decisions, once the whole stream was read."""
        if self._result is None:
            self._result = self._decide()
        return self._result

    def report(self) -> dict[str, Any]:
        """``{"step": "autoid", "measurements", "decisions"}`` (finishes the analysis)."""
        return {"step": "autoid", **self.finish().report()}

    # ------------------------------------------------------------------ measurements
    @staticmethod
    def _split(n: int, step_s: float, offset_s: float, speech: list[tuple[float, float]]) -> npt.NDArray[np.bool_]:
        """Which of ``n`` frames (centres ``offset_s + i * step_s``) lie inside ``speech``."""
        centre = offset_s + np.arange(n) * step_s
        inside = np.zeros(n, bool)
        for a, b in speech:
            inside |= (centre >= a) & (centre < b)
        return inside

    @staticmethod
    def _floor(frames: FloatArray, inside: npt.NDArray[np.bool_], frame_s: float) -> FloatArray:
        """Noise power per column: the pause frames' ``PAUSE_QUANTILE``, or the quiet-frame quantile."""
        pauses = frames[~inside]
        if pauses.shape[0] * frame_s >= MIN_PAUSE_S:
            return np.asarray(np.quantile(pauses, PAUSE_QUANTILE, axis=0), np.float64)
        return np.asarray(np.quantile(frames, FLOOR_QUANTILE, axis=0), np.float64)

    def _find_hum(self, speech: list[tuple[float, float]], tail_s: float) -> tuple[HumEstimate | None, float]:
        """Mains hum: the streaming detection, else :func:`dsp.hum.detect_hum` over the pauses.

        The pauses of the first ``HUM_DETECT_S`` (speech cut out with 50 ms margins, and
        ``tail_s`` more after each segment: the echo delay or the room's T60, at most 1 s; the
        pauses joined) hold the hum without the voice partials that bury its harmonics; the few phase
        jumps at the joins widen its lines a little (zeroing the speech instead keeps the phase
        but fails the detector's steadiness test). A fundamental off the mains by more than ``MAINS_TOL_HZ`` is a
        voice partial, not hum. Also returns the hum's power in the pauses (mean square, summed
        over its harmonics; :func:`_line_power`), 0 without hum, nan without pauses.
        """

        def mains(est: HumEstimate | None) -> HumEstimate | None:
            if est is None or min(abs(est.f0_hz - f) for f in (50.0, 60.0)) > MAINS_TOL_HZ:
                return None
            low = [p for k, p in zip(est.harmonics, est.prominence_db, strict=True) if k <= HUM_LOW_HARMONICS]
            if max(low, default=0.0) < HUM_LOW_PROMINENCE_DB:
                return None  # no strong line among the first harmonics: voice partials, not mains
            return est

        found = mains(self._hum.estimate)
        head = np.concatenate(self._head, axis=1) if self._head else np.zeros((self.channels, 0), np.float32)
        self._head = []
        pause = np.ones(head.shape[-1], bool)
        for a, b in speech:
            pause[max(0, round((a - 0.05) * self.sr)) : max(0, round((b + 0.05 + tail_s) * self.sr))] = False
        if np.count_nonzero(pause) < MIN_HUM_PAUSE_S * self.sr:
            return found, math.nan if found is not None else 0.0
        found = mains(detect_hum(np.ascontiguousarray(head[:, pause]), self.sr)) or found
        if found is None:
            return None, 0.0
        return found, _line_power(head[:, pause].astype(np.float64).mean(axis=0), self.sr, found)

    def _hum_later(self) -> tuple[float, float] | None:
        """Mains hum the streaming remover notched after the head (fundamental Hz, start s), or None."""
        for seg in self._hum.report()["hum_segments"]:
            hz = float(seg["hum_hz"])
            if min(abs(hz - f) for f in (50.0, 60.0)) <= MAINS_TOL_HZ and seg["end_s"] - seg["start_s"] >= 1.0:
                return hz, float(seg["start_s"])
        return None

    def _band_track(self) -> FloatArray:
        return np.concatenate([*self._bands, np.zeros((0, self._centres.size), np.float32)]).astype(np.float64)

    def _snr(self, speech: list[tuple[float, float]], hum: HumEstimate | None) -> tuple[float, float, float]:
        """SNR over the third-octave bands 100 Hz-8 kHz, leaving out the bands a hum harmonic is in."""
        bands = self._band_track()
        if not bands.shape[0]:
            return math.nan, -math.inf, -math.inf
        keep = np.ones(self._centres.size, bool)
        if hum is not None:
            lo, hi = self._centres * 10**-0.05, self._centres * 10**0.05
            for k in hum.harmonics:
                keep &= ~((lo <= k * hum.f0_hz) & (k * hum.f0_hz < hi))
        # one-sided Hann-windowed power to the frame's mean square (Parseval; Hann mean square 3/8)
        powers = bands[:, keep].sum(axis=1) * 2 / (0.375 * self._n_fft**2)
        frame_s = self._hop / self.sr
        inside = self._split(powers.size, frame_s, self._n_fft / 2 / self.sr, speech)
        silence = 10 ** (SILENCE_DBFS / 10)
        noise = float(self._floor(powers, inside, frame_s))
        noise = max(noise, silence)
        floor_db = 10 * math.log10(noise)
        if not inside.any():
            return math.nan, floor_db, -math.inf
        level = float(np.mean(powers[inside]))
        level_db = 10 * math.log10(max(level, 1e-30))
        if noise <= silence:
            return math.inf, floor_db, level_db
        return 10 * math.log10(max(level - noise, 1e-30) / noise), floor_db, level_db

    def _clipped_permille(self, peak_dbfs: float) -> float:
        if not math.isfinite(peak_dbfs) or not self._n:
            return 0.0
        lo = int(np.floor((peak_dbfs - CLIP_NEAR_PEAK_DB + 200.0) / 0.05))
        flat = int(self._clip_hist[max(lo, 0) :].sum())
        # clipping of a bright signal leaves single samples at the ceiling, not runs: the spike of
        # the amplitude histogram at its very top [2] counts them
        return 1000.0 * max(flat, self._at_peak) / (self._n * self.channels)

    def _tilt(self, eq: EqCurve, speech: list[tuple[float, float]]) -> float:
        """Slope (dB/octave) of the speech LTASS, less the pause noise, over the Byrne 1994 mean LTASS."""
        bands = self._band_track()
        if not eq.applied or bands.shape[0] < 4:
            return math.nan
        frame_s = self._hop / self.sr
        inside = self._split(bands.shape[0], frame_s, self._n_fft / 2 / self.sr, speech)
        if not inside.any():
            return math.nan
        noise = self._floor(bands, inside, frame_s)
        level = np.mean(bands[inside], axis=0)
        ok = level > noise * 10 ** (TILT_BAND_SNR_DB / 10)
        clean = 10 * np.log10(np.maximum(level - noise, 1e-30))
        # against the mean of the male and female LTASS, not the one the EQ found closer: that
        # choice follows the tilt (a darker voice is "male") and would absorb a third of it
        table = (BYRNE_MALE_DB + BYRNE_FEMALE_DB) / 2
        target = table[np.isin(BYRNE_CENTRES_HZ, self._centres)]
        d = clean - target
        d -= np.mean(d[ok]) if ok.any() else 0.0
        ok &= d > -30.0  # bands without speech (band-limited recordings) are left out, as the EQ does
        if np.count_nonzero(ok) < 3:
            return math.nan
        return float(np.polyfit(np.log2(self._centres[ok]), d[ok], 1)[0])

    # ------------------------------------------------------------------ decisions
    def _decide(self) -> Analysis:
        self._listen(self._hum.flush())
        speech = self._vad.finish()
        keep = self._vad.keep_segments()
        duration = self._n / self.sr
        speech_share = sum(b - a for a, b in speech) / duration if duration > 0 else 0.0
        sound_share = sum(b - a for a, b in keep) / duration if duration > 0 else 0.0
        reverb = self._reverb.finish()
        echo = self._echo.finish()
        # an echo or a room carries the voice into the pauses: its partials at k * 50/60 Hz would
        # pass for hum there, so the pauses start that much later
        room_s = min(reverb.t60_s, 1.0) if reverb.applied and math.isfinite(reverb.t60_s) else 0.0
        hum, hum_power = self._find_hum(speech, max(echo.delay_ms / 1000.0 if echo.found else 0.0, room_s))
        snr, floor_db, level_db = self._snr(speech, hum)
        hum_db = -math.inf
        if math.isnan(hum_power) or not math.isfinite(level_db):
            hum_db = math.nan  # found in the speech itself (no pauses to measure it in)
        elif hum_power > 0:
            hum_db = 10 * math.log10(hum_power) - level_db
        eq = self._eq.finish()
        loud = self._meter.finish()
        clipped = self._clipped_permille(loud.peak_dbfs)
        tilt = self._tilt(eq, speech)
        a = Analysis(
            self.sr,
            duration,
            snr,
            floor_db,
            level_db,
            hum,
            hum_db,
            reverb,
            echo,
            clipped,
            speech_share,
            sound_share,
            loud,
            eq,
            tilt,
            tuple(keep),
            self._music.finish(),
            self._hum_later() if hum is None else None,
        )
        return Analysis(**{**a.__dict__, "decisions": tuple(_decisions(a, self.target_lufs))})


def _line_power(x: FloatArray, sr: int, hum: HumEstimate) -> float:
    """Mean-square power of the hum's lines in ``x`` (summed over its harmonics).

    Each line is read from a Blackman-Harris spectrum (bins of at most 0.125 Hz, as
    :func:`dsp.hum.detect_hum`) at its strongest bin within +-0.6 k Hz of ``k * f0``: the power in
    +-1 Hz around it over the median of its +-25 Hz neighbourhood, to mean square by Parseval.
    """
    n = x.size
    nfft = sfft.next_fast_len(max(n, 8 * sr), real=True)
    w = sps.get_window("blackmanharris", n)
    spec = np.abs(sfft.rfft((x - x.mean()) * w, nfft)) ** 2
    df = sr / nfft
    total = 0.0
    for k in hum.harmonics:
        fk = k * hum.f0_hz
        lo, hi = int((fk - 0.6 * k) / df), int(np.ceil((fk + 0.6 * k) / df))
        if hi + 1 >= spec.size:
            continue
        peak = lo + int(np.argmax(spec[lo : hi + 1]))
        half = max(1, round(1.0 / df))
        line = spec[max(peak - half, 0) : peak + half + 1]
        neigh = spec[max(int((fk - 25) / df), 1) : int((fk + 25) / df)]
        total += max(0.0, float(line.sum()) - float(np.median(neigh)) * line.size)
    # a cosine of amplitude A puts A^2/4 * sum(w^2) * nfft in its positive-frequency line
    return float(2.0 * total / (int(nfft) * float(np.sum(w * w))))


def _decisions(a: Analysis, target_lufs: float) -> list[Decision]:
    """One decision per engine, in chain order (see the module constants for each threshold)."""
    out: list[Decision] = []
    speechy = a.speech_share >= MIN_SPEECH_SHARE
    few = f"speech share {100 * a.speech_share:.1f} % is under {100 * MIN_SPEECH_SHARE:g} %: too little speech"
    # discrete echo: the echo analyzer's own decision (its MIN_SCORE)
    e = a.echo
    out.append(
        Decision(
            "remove_echo",
            e.found,
            None,
            "echo_score",
            e.score,
            20.0,
            "z",
            f"discrete echo at {e.delay_ms:.0f} ms, {e.gain_db:.1f} dB (cepstral score {e.score:.1f})"
            if e.found
            else (e.reason or "no discrete echo"),
        )
    )
    r = a.reverb
    share_min = REVERB_SHARE_ECHO if a.echo.found else REVERB_SHARE
    long_t60 = not a.echo.found and math.isfinite(r.t60_s) and r.t60_s >= REVERB_T60_S
    on = speechy and r.applied and (r.share >= share_min or long_t60)
    t60 = f"blind T60 {r.t60_s:.2f} s" if math.isfinite(r.t60_s) else "T60 not measurable"
    if not speechy:
        why = few
    else:
        why = (
            f"{t60}; the delayed prediction explains {100 * r.share:.1f} % of the energy "
            f"({'>=' if r.share >= share_min else '<'} {100 * share_min:g} %"
            f"{' with a discrete echo' if a.echo.found else ''})"
        )
        if on and r.share < share_min:
            why += f", but over the analyzer's own {100 * REVERB_MIN_SHARE:g} % with a T60 >= {REVERB_T60_S:g} s"
    out.append(Decision("remove_reverb", on, None, "reverb_share", r.share, share_min, "share", why))
    on = a.clipped_permille >= CLIP_PERMILLE
    out.append(
        Decision(
            "declip",
            on,
            None,
            "clipped_permille",
            a.clipped_permille,
            CLIP_PERMILLE,
            "per mille of samples",
            f"{a.clipped_permille:.2f} per mille of the samples sit in flat runs at the peak "
            f"({'>=' if on else '<'} {CLIP_PERMILLE:g})",
        )
    )
    snr = a.snr_db
    on = speechy and math.isfinite(snr) and snr < DENOISE_SNR_DB
    amount = None
    if on:
        share = (DENOISE_SNR_DB - snr) / (DENOISE_SNR_DB - FULL_AMOUNT_SNR_DB)
        amount = float(round(min(100.0, MIN_AMOUNT + (100.0 - MIN_AMOUNT) * max(0.0, share))))
    if not speechy:
        why = few
    elif math.isinf(snr):
        why = "the pauses are digital silence: no noise"
    else:
        why = f"SNR {snr:.1f} dB {'<' if on else '>='} {DENOISE_SNR_DB:g} dB"
        if on:
            why += f": amount {amount:g}"
    out.append(Decision("denoise", on, amount, "snr_db", snr, DENOISE_SNR_DB, "dB", why))
    h = a.hum
    on = h is not None and a.hum_re_speech_db >= HUM_RE_SPEECH_DB  # nan (no pause to measure it in): off
    if h is None:
        why = f"no mains hum in the first {HUM_DETECT_S:g} s"
        if a.hum_later is not None:
            why += (
                f", where its level is measured; mains hum at {a.hum_later[0]:g} Hz from {a.hum_later[1]:g} s on "
                "was not measured and is left alone: the dehum step removes it"
            )
    elif math.isnan(a.hum_re_speech_db):
        why = (
            f"mains hum at {h.f0_hz:g} Hz (harmonics {list(h.harmonics)}), but no pause to measure its level "
            "against the speech in: left alone"
        )
    else:
        why = (
            f"mains hum at {h.f0_hz:g} Hz (harmonics {list(h.harmonics)}), {a.hum_re_speech_db:.1f} dB re the "
            f"speech ({'>=' if on else '<'} {HUM_RE_SPEECH_DB:g} dB)"
        )
    out.append(Decision("dehum", on, None, "hum_re_speech_db", a.hum_re_speech_db, HUM_RE_SPEECH_DB, "dB", why))
    tilt = a.tilt_db_per_octave
    on = speechy and math.isfinite(tilt) and abs(tilt) >= TILT_DB_OCT
    if not speechy:
        why = few
    elif not math.isfinite(tilt):
        why = a.eq.reason or "no speech spectrum to measure"
    else:
        why = (
            f"LTASS tilt {tilt:+.2f} dB/octave against Byrne et al. 1994: |tilt| {'>=' if on else '<'} {TILT_DB_OCT:g}"
        )
    out.append(Decision("autoeq", on, None, "tilt_db_per_octave", tilt, TILT_DB_OCT, "dB/octave", why))
    lufs = a.loudness.integrated_lufs
    off_by = lufs - target_lufs if math.isfinite(lufs) else math.nan
    # no voice: the level is what was recorded (room tone at -55 dBFS was raised 42 dB to hiss at the
    # target, reported as applied: an audit), as every other engine leaves a recording without speech
    on = speechy and math.isfinite(off_by) and abs(off_by) > LOUDNESS_TOL_LU
    if not math.isfinite(lufs):
        why = "the audio is silent"
    elif not speechy and abs(off_by) > LOUDNESS_TOL_LU:
        why = f"{few}: its level ({lufs:.1f} LUFS) is left as it is, raising it would raise only its noise"
    elif on:
        why = (
            f"integrated loudness {lufs:.1f} LUFS is {off_by:+.1f} LU from {target_lufs:g} "
            f"(tolerance {LOUDNESS_TOL_LU:g})"
        )
    else:
        why = f"integrated loudness {lufs:.1f} LUFS is within {LOUDNESS_TOL_LU:g} LU of {target_lufs:g}"
    out.append(Decision("loudness", on, -off_by if on else None, "lufs_off_target", off_by, LOUDNESS_TOL_LU, "LU", why))
    if a.music is not None and a.music.music_only:
        # every threshold above was set on speech, and every engine repairs a voice recording
        why = f"{a.music.why_music_only()}: these repairs are for a voice recording, so the music is left as it is"
        out = [replace(d, on=False, strength=None, not_applied=why) for d in out]
    return out


def analyze(audio: Audio, sr: int, *, target_lufs: float = TARGET_LUFS, block: int = 65536) -> Analysis:
    """Analyse a whole recording in memory (the streaming analyzer over ``block``-sample blocks).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (channels, n), float32
        The recording, samples in [-1, 1].
    sr : int
        Sample rate in Hz, in [8000, 192000].
    target_lufs : float
        Loudness target in LUFS.
    block : int
        Block length in samples (the result does not depend on it).

    Returns
    -------
    Analysis
        Measurements and decisions.
    """
    x = as_2d(valid_audio(audio, allow_empty=True))
    a = RecordingAnalyzer(sr, x.shape[0], target_lufs=target_lufs)
    for i in range(0, x.shape[-1], block):
        a.process(x[:, i : i + block])
    return a.finish()
