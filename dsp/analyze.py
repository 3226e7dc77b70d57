"""Automatic recording analysis: measure what is wrong with a recording and decide the repair chain.

One streaming pass over the input measures, with the engines' own estimators wherever one exists:

* **noise floor and SNR** (new here): 10 ms frame powers, split by the speech detector
  (:class:`dsp.vad.SpeechDetector`) into speech and pause frames; the SNR is the speech frames'
  excess power over the pause frames' power (the long-term segmental view of ITU-T P.56's
  active speech level against the background);
* **mains hum**: :func:`dsp.hum.detect_hum` on the same first seconds the hum notches of
  :class:`dsp.hum.HumRemover` (and of the noise reducer) decide on;
* **reverberation**: :class:`dsp.dereverb.ReverbAnalyzer` (blind T60 from free decays and the
  share of the energy the WPE filters predict);
* **discrete echo**: :class:`dsp.echo.EchoAnalyzer` (cepstral peak score);
* **clipping** (new here): runs of three or more identical samples at the recording's peak
  magnitude, the flat tops hard clipping leaves (the amplitude-histogram view of Aleinik et al.
  2014, counted directly on the flat runs);
* **speech and harmonic (speech or music) share**: :class:`dsp.vad.SpeechDetector`;
* **loudness**: :class:`dsp.loudness.LoudnessMeter` (ITU-R BS.1770-4 integrated loudness);
* **spectral balance**: :class:`dsp.eq.EqAnalyzer` (speech LTASS against Byrne et al. 1994),
  summarised here by the least-squares tilt of the deviation in dB per octave.

:meth:`RecordingAnalyzer.finish` returns an :class:`Analysis`: the measurements and one
:class:`Decision` per engine (on/off, a strength where the engine takes one, the measurement and
the threshold behind it). Which thresholds were measured on the DEV half of the synthetic set of
``bench/autoid.py`` is said at each constant.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsp._typing import Audio, FloatArray
from dsp._validate import as_2d, check_block, check_channels, check_range, check_sr, valid_audio
from dsp.dereverb import ReverbAnalyzer, ReverbEstimate
from dsp.echo import EchoAnalyzer, EchoEstimate
from dsp.eq import EqAnalyzer, EqCurve
from dsp.hum import HumEstimate, detect_hum
from dsp.loudness import LoudnessMeasurement, LoudnessMeter
from dsp.vad import SpeechDetector

__all__ = ["Analysis", "Decision", "RecordingAnalyzer", "analyze"]

#: Frame of the power track behind the SNR, in seconds (the speech detector's hop, so its
#: segments split the frames without rounding).
FRAME_S = 0.010
#: Seconds analysed for hum: :class:`dsp.hum.HumRemover`'s default ``detect_s``, so the decision
#: is the one the hum notches (in the noise reducer or alone) will take.
HUM_DETECT_S = 2.0
#: Pause frames needed for the noise floor; with fewer the floor is the quietest frames'
#: (``FLOOR_QUANTILE``) power. One second: a few pauses of normal speech.
MIN_PAUSE_S = 1.0
#: Quantile of the frame powers taken as the noise floor when the pauses are too short (minimum
#: statistics, Martin 2001, uses the minimum of a smoothed power; a low quantile is its robust form).
FLOOR_QUANTILE = 0.1
#: Frames quieter than this (dBFS) are digital silence, not noise: the floor never goes below it.
SILENCE_DBFS = -100.0
#: Flat run length (samples) that counts as clipping: three identical samples in a row at the
#: peak. Two equal samples happen at a crest of low-pitched speech quantised to 16 bits; three
#: were never seen at the peak of the clean DEV speech of bench/autoid.py.
CLIP_RUN = 3
#: A flat run is at the peak when within this many dB of the recording's largest magnitude.
CLIP_NEAR_PEAK_DB = 0.1
#: Clipped share (samples in flat runs at the peak, per thousand samples) that turns the clipping
#: decision on. Measured on the DEV half of bench/autoid.py (clean inputs: 0; clipped inputs:
#: 2 per thousand and up).
CLIP_PERMILLE = 0.5
#: SNR (dB) below which the noise reducer runs. Measured on the DEV half of bench/autoid.py
#: (noisy inputs at 0-25 dB, clean controls of real recordings measure 35 dB and up).
DENOISE_SNR_DB = 30.0
#: SNR (dB) at and below which the noise reducer runs at full strength; between it and
#: ``DENOISE_SNR_DB`` the amount falls linearly to ``MIN_AMOUNT``. 10 dB is the noisy end of the
#: SNRs bench/denoise.py measures, where the full-strength reducer gains most.
FULL_AMOUNT_SNR_DB = 10.0
#: The gentlest amount autoid runs the noise reducer at (of its 1-100 scale): half strength.
MIN_AMOUNT = 50.0
#: T60 (s) from which dereverberation runs, on top of the reverb analyzer's own decision (its
#: predicted-energy share): measured on the DEV half of bench/autoid.py (dry speech measures
#: about 0.2-0.35 s blind; the rooms of the set 0.5 s and more).
T60_S = 0.45
#: Loudness tolerance (LU) around the target before the loudness step runs. EBU R 128 s1 allows
#: +-1 LU where exact normalisation is not possible; 2 LU leaves room for the short-file spread
#: of the gated measurement (measured on the DEV half of bench/autoid.py).
LOUDNESS_TOL_LU = 2.0
#: Spectral tilt (dB per octave, absolute) of the speech LTASS against Byrne et al. 1994 from
#: which autoeq runs. Measured on the DEV half of bench/autoid.py (clean voices: under 1.5 dB/oct;
#: the set's tilts: 3 dB/oct).
TILT_DB_OCT = 2.0
#: Speech share under which the speech engines (denoise, dereverberation, EQ) are not run: the
#: recording holds too little speech for their estimators (autoeq needs 1 s of speech). 5 %: one
#: second in twenty.
MIN_SPEECH_SHARE = 0.05
#: The loudness target the decision measures against (the loudness step's AudioCleaner target).
TARGET_LUFS = -16.0


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
    """

    engine: str
    on: bool
    strength: float | None
    measure: str
    value: float | None
    threshold: float | None
    unit: str
    reason: str

    def report(self) -> dict[str, Any]:
        """JSON-ready form."""

        def r(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 3)

        return {
            "engine": self.engine,
            "on": self.on,
            "strength": r(self.strength),
            "measure": self.measure,
            "value": r(self.value),
            "threshold": r(self.threshold),
            "unit": self.unit,
            "reason": self.reason,
        }


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
        Samples in flat runs at the peak, per thousand samples.
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
    decisions : tuple of Decision
        One per engine, in chain order.
    """

    sr: int
    duration_s: float
    snr_db: float
    noise_floor_dbfs: float
    speech_level_dbfs: float
    hum: HumEstimate | None
    reverb: ReverbEstimate
    echo: EchoEstimate
    clipped_permille: float
    speech_share: float
    sound_share: float
    loudness: LoudnessMeasurement
    eq: EqCurve
    tilt_db_per_octave: float
    speech: tuple[tuple[float, float], ...] = ()
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
        }

    def report(self) -> dict[str, Any]:
        """``measurements`` and ``decisions`` as JSON-ready data."""
        return {"measurements": self.measurements(), "decisions": [d.report() for d in self.decisions]}


class RecordingAnalyzer:
    """Streaming analysis pass: feed the whole recording, then :meth:`finish` for the decisions.

    Memory grows with the duration only by the estimators' per-frame tracks (10 ms frame powers
    here, the reverb analyzer's frame energies, the EQ analyzer's band powers): a few hundred
    kilobytes per hour. The result does not depend on how the stream is cut into blocks.

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
        self._vad = SpeechDetector(self.sr, self.channels)
        self._echo = EchoAnalyzer(self.sr, self.channels)
        self._reverb = ReverbAnalyzer(self.sr, self.channels)
        self._eq = EqAnalyzer(self.sr, self.channels)
        self._meter = LoudnessMeter(self.sr, self.channels)
        self._frame = max(1, round(FRAME_S * self.sr))
        self._acc = np.zeros(0, np.float64)  # mono power not yet in a whole frame
        self._powers: list[FloatArray] = []
        self._hum_n = round(HUM_DETECT_S * self.sr)
        self._hum_buf: list[Audio] = []
        self._hum_have = 0
        self._prev = np.full((self.channels, CLIP_RUN - 1), np.nan, np.float32)
        # flat-run sample counts per 0.05 dB magnitude bin (-200 dBFS .. +20 dBFS), so the peak
        # can be known only at the end without keeping the samples
        self._clip_hist = np.zeros(4401, np.int64)
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
        for a in (self._vad, self._echo, self._reverb, self._eq, self._meter):
            a.process(x)
        if self._hum_have < self._hum_n:
            take = x[:, : self._hum_n - self._hum_have]
            self._hum_buf.append(take.copy())
            self._hum_have += take.shape[-1]
        p = np.concatenate([self._acc, np.mean(x.astype(np.float64) ** 2, axis=0)])
        k = p.size // self._frame
        if k:
            self._powers.append(p[: k * self._frame].reshape(k, self._frame).mean(axis=1))
        self._acc = p[k * self._frame :]
        self._count_flat(x)

    def _count_flat(self, x: Audio) -> None:
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
        """The noise gate's keep segments (finishes the speech detector)."""
        return self._vad.keep_segments()

    def finish(self) -> Analysis:
        """The measurements and decisions, once the whole stream was read."""
        if self._result is None:
            self._result = self._decide()
        return self._result

    def report(self) -> dict[str, Any]:
        """``{"step": "autoid", "measurements", "decisions"}`` (finishes the analysis)."""
        return {"step": "autoid", **self.finish().report()}

    # ------------------------------------------------------------------ measurements
    def _snr(self, speech: list[tuple[float, float]]) -> tuple[float, float, float]:
        powers = np.concatenate([*self._powers, np.zeros(0)])
        if not powers.size:
            return math.nan, -math.inf, -math.inf
        centre = (np.arange(powers.size) + 0.5) * FRAME_S
        inside = np.zeros(powers.size, bool)
        for a, b in speech:
            inside |= (centre >= a) & (centre < b)
        silence = 10 ** (SILENCE_DBFS / 10)
        pauses = powers[~inside]
        if pauses.size * FRAME_S >= MIN_PAUSE_S:
            noise = float(np.mean(pauses))
        else:
            noise = float(np.quantile(powers, FLOOR_QUANTILE))
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
        return 1000.0 * flat / (self._n * self.channels)

    @staticmethod
    def _tilt(eq: EqCurve) -> float:
        if not eq.applied:
            return math.nan
        c = np.log2(np.asarray(eq.centres_hz))
        d = np.asarray(eq.measured_db) - np.asarray(eq.target_db)
        # the bands holding speech (as the EQ analyzer chose them: absent bands get no boost)
        present = d > -30.0
        if np.count_nonzero(present) < 3:
            return math.nan
        return float(np.polyfit(c[present], d[present], 1)[0])

    # ------------------------------------------------------------------ decisions
    def _decide(self) -> Analysis:
        speech = self._vad.finish()
        keep = self._vad.keep_segments()
        duration = self._n / self.sr
        speech_share = sum(b - a for a, b in speech) / duration if duration > 0 else 0.0
        sound_share = sum(b - a for a, b in keep) / duration if duration > 0 else 0.0
        snr, floor_db, level_db = self._snr(speech)
        hum_audio = np.concatenate(self._hum_buf, axis=1) if self._hum_buf else np.zeros((self.channels, 0))
        self._hum_buf = []
        hum = detect_hum(hum_audio, self.sr) if hum_audio.shape[-1] >= 0.25 * self.sr else None
        reverb = self._reverb.finish()
        echo = self._echo.finish()
        eq = self._eq.finish()
        loud = self._meter.finish()
        clipped = self._clipped_permille(loud.peak_dbfs)
        tilt = self._tilt(eq)
        a = Analysis(
            self.sr,
            duration,
            snr,
            floor_db,
            level_db,
            hum,
            reverb,
            echo,
            clipped,
            speech_share,
            sound_share,
            loud,
            eq,
            tilt,
            tuple(keep),
        )
        return Analysis(**{**a.__dict__, "decisions": tuple(_decisions(a, self.target_lufs))})


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
    t60 = r.t60_s
    on = speechy and r.applied and math.isfinite(t60) and t60 >= T60_S
    if not speechy:
        why = few
    elif not r.applied:
        why = r.reason or "no reverberation to remove"
    elif not math.isfinite(t60):
        why = "the T60 could not be measured (too few free decays)"
    else:
        why = f"blind T60 {t60:.2f} s {'>=' if on else '<'} {T60_S:g} s"
    out.append(Decision("remove_reverb", on, None, "t60_s", t60, T60_S, "s", why))
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
    out.append(
        Decision(
            "dehum",
            h is not None,
            None,
            "hum_hz",
            h.f0_hz if h is not None else None,
            None,
            "Hz",
            f"mains hum at {h.f0_hz:g} Hz, harmonics {list(h.harmonics)}"
            if h is not None
            else f"no mains hum in the first {HUM_DETECT_S:g} s",
        )
    )
    tilt = a.tilt_db_per_octave
    on = speechy and math.isfinite(tilt) and abs(tilt) >= TILT_DB_OCT
    if not speechy:
        why = few
    elif not math.isfinite(tilt):
        why = a.eq.reason or "no speech spectrum to measure"
    else:
        why = f"LTASS tilt {tilt:+.2f} dB/octave against Byrne et al. 1994: |tilt| {'>=' if on else '<'} {TILT_DB_OCT:g}"
    out.append(Decision("autoeq", on, None, "tilt_db_per_octave", tilt, TILT_DB_OCT, "dB/octave", why))
    lufs = a.loudness.integrated_lufs
    off_by = lufs - target_lufs if math.isfinite(lufs) else math.nan
    on = math.isfinite(off_by) and abs(off_by) > LOUDNESS_TOL_LU
    if not math.isfinite(lufs):
        why = "the audio is silent"
    elif on:
        why = f"integrated loudness {lufs:.1f} LUFS is {off_by:+.1f} LU from {target_lufs:g} (tolerance {LOUDNESS_TOL_LU:g})"
    else:
        why = f"integrated loudness {lufs:.1f} LUFS is within {LOUDNESS_TOL_LU:g} LU of {target_lufs:g}"
    out.append(Decision("loudness", on, -off_by if on else None, "lufs_off_target", off_by, LOUDNESS_TOL_LU, "LU", why))
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
