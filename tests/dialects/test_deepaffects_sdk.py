"""The official DeepAffects Python SDK (``deepaffects==1.4.1``, unchanged) against a real Hush.

The server runs on 127.0.0.1. The SDK is pointed at it with ``DenoiseApi(ApiClient(host=...))``
and authenticates with ``apikey``. ``Audio.from_file`` is broken by modern libmediainfo
(sdk-notes §1), so it is called unchanged first and retried with libmediainfo's ``Legacy=1``
option on exactly that ``KeyError``. The other test builds ``Audio(...)`` by hand, as customers
on current systems do.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

deepaffects = pytest.importorskip("deepaffects")
audio_module = pytest.importorskip("deepaffects.models.audio")

from app.settings import Settings  # noqa: E402  (after the importorskip guards)
from tests._services import BACKENDS  # noqa: E402
from tests.app._http_fixtures import LoopbackServer, Reply, serve_http  # noqa: E402
from tests.dialects._server import RunningServer, backend_server  # noqa: E402
from tests.signals import make_speech_like, make_white, mix_at_snr  # noqa: E402

pytestmark = [
    pytest.mark.sdk,
    # Audio.to_file leaves its output file for the garbage collector (vendor code, sdk-notes §2)
    pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning"),
]

KEY = "k1"
SR = 16000
MIN_PAUSE_REDUCTION_DB = 10.0


def make_noisy_speech_file(path: Path, fmt: str) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Write 3 s of speech-like audio in white noise (10 dB SNR); returns (samples, speech intervals)."""
    rng = np.random.default_rng(20261122)
    clean, intervals = make_speech_like(rng, SR, 3.0)
    noisy = mix_at_snr(clean, make_white(rng, clean.size), 10.0)
    sf.write(path, noisy, SR, format=fmt, subtype="PCM_16")
    return sf.read(path, dtype="float64")[0], intervals


def pause_mask(n: int, intervals: list[tuple[float, float]], margin_s: float = 0.1) -> np.ndarray:
    """True on samples at least ``margin_s`` away from any speech interval."""
    t = np.arange(n) / SR
    speech = np.zeros(n, bool)
    for start, end in intervals:
        speech |= (t >= start - margin_s) & (t < end + margin_s)
    return ~speech


def pause_reduction_db(before: np.ndarray, after: np.ndarray, intervals: list[tuple[float, float]]) -> float:
    """How much quieter the speech pauses got, in dB."""
    mask = pause_mask(before.size, intervals)
    assert mask.sum() > 0.3 * SR
    return float(10 * np.log10(np.mean(before[mask] ** 2) / max(np.mean(after[mask] ** 2), 1e-20)))


def audio_from_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """``Audio.from_file`` unchanged; on its libmediainfo ``KeyError: 'codec'``, again with Legacy=1."""
    try:
        return deepaffects.Audio.from_file(file_name=str(path))
    except KeyError as exc:
        if exc.args != ("codec",):
            raise
    parse = audio_module.MediaInfo.parse
    monkeypatch.setattr(audio_module.MediaInfo, "parse", functools.partial(parse, mediainfo_options={"Legacy": "1"}))
    return deepaffects.Audio.from_file(file_name=str(path))


@pytest.fixture(scope="module")
def hooks() -> Iterator[LoopbackServer]:
    with serve_http({"POST /hook": Reply(status=200, body=b"ok")}) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def hush(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        url_allowlist=("127.0.0.1",),
        data_dir=tmp_path_factory.mktemp("hush-sdk"),
        workers=1,
        api_keys=(KEY,),
        webhook_backoff_s=0.1,
    )
    with backend_server(request, settings) as server:
        yield server


@pytest.fixture
def denoise_api(hush: RunningServer) -> object:
    deepaffects.configuration.api_key["apikey"] = KEY
    return deepaffects.DenoiseApi(deepaffects.ApiClient(host=hush.base))


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
def test_deepaffects_sdk_sync_denoise_from_file(
    denoise_api: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    src = tmp_path / f"noisy.{fmt.lower()}"
    before, intervals = make_noisy_speech_file(src, fmt)
    body = audio_from_file(src, monkeypatch)
    assert body.encoding in {"Wave", "FLAC"}  # type: ignore[attr-defined]

    response = denoise_api.sync_denoise_audio(body)  # type: ignore[attr-defined]
    out = tmp_path / f"denoised.{fmt.lower()}"
    response.to_file(str(out))

    after, sr = sf.read(out, dtype="float64")
    assert sf.info(out).format == fmt
    assert sr == SR
    assert str(response.sample_rate) == str(SR)
    assert abs(after.size - before.size) <= 0.01 * before.size
    assert np.all(np.isfinite(after))
    reduction = pause_reduction_db(before, after[: before.size], intervals)
    assert reduction >= MIN_PAUSE_REDUCTION_DB, f"pauses only {reduction:.1f} dB quieter"


def test_deepaffects_sdk_sync_denoise_hand_built_audio(denoise_api: object, tmp_path: Path) -> None:
    src = tmp_path / "noisy.wav"
    before, intervals = make_noisy_speech_file(src, "WAV")
    body = deepaffects.Audio(encoding="Wave", sample_rate=SR, language_code="en-US", content=_b64(src))
    response = denoise_api.sync_denoise_audio(body)  # type: ignore[attr-defined]
    out = tmp_path / "denoised.wav"
    response.to_file(str(out))
    after, sr = sf.read(out, dtype="float64")
    assert sr == SR
    assert response.encoding == "Wave"
    assert response.language_code == "en-US"
    assert abs(after.size - before.size) <= 0.01 * before.size
    assert pause_reduction_db(before, after[: before.size], intervals) >= MIN_PAUSE_REDUCTION_DB


def test_deepaffects_sdk_async_denoise_webhook(
    denoise_api: object, hooks: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "noisy.wav"
    before, intervals = make_noisy_speech_file(src, "WAV")
    body = audio_from_file(src, monkeypatch)

    answer = denoise_api.async_denoise_audio(body, hooks.url("/hook"), request_id="sdk-async-1")  # type: ignore[attr-defined]
    assert answer.request_id == "sdk-async-1"
    assert answer.api == "denoise"

    deadline = time.monotonic() + 60
    received = None
    while received is None and time.monotonic() < deadline:
        for req in list(hooks.requests):
            if json.loads(req.body).get("request_id") == "sdk-async-1":
                received = req
        time.sleep(0.05)
    assert received is not None, "no webhook within 60 s"

    result = deepaffects.Audio.from_json(received.body.decode())
    out = tmp_path / "from-webhook.wav"
    result.to_file(str(out))
    after, sr = sf.read(out, dtype="float64")
    assert sr == SR
    assert result.encoding == "Wave"
    assert abs(after.size - before.size) <= 0.01 * before.size
    assert pause_reduction_db(before, after[: before.size], intervals) >= MIN_PAUSE_REDUCTION_DB


def test_deepaffects_sdk_wrong_key_raises_api_exception(hush: RunningServer, tmp_path: Path) -> None:
    from deepaffects.rest import ApiException  # type: ignore[import-untyped]

    deepaffects.configuration.api_key["apikey"] = "wrong"
    try:
        api = deepaffects.DenoiseApi(deepaffects.ApiClient(host=hush.base))
        src = tmp_path / "noisy.wav"
        make_noisy_speech_file(src, "WAV")
        body = deepaffects.Audio(encoding="Wave", sample_rate=SR, content=_b64(src))
        with pytest.raises(ApiException) as info:
            api.sync_denoise_audio(body)
    finally:
        deepaffects.configuration.api_key["apikey"] = KEY
    assert info.value.status == 401
    assert json.loads(info.value.body)["code"] == 401


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
