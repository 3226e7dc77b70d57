"""The official Audo SDK (``audoai-noise-removal`` 1.4.0), unchanged, against a real Hush server."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.media import AudioWriter, probe
from app.settings import Settings
from tests._services import BACKENDS
from tests.dialects._server import RunningServer, backend_server
from tests.signals import make_speech_like, make_white, mix_at_snr

with warnings.catch_warnings():
    # the SDK package imports are clean today; keep any future import-time deprecation local
    warnings.simplefilter("ignore", DeprecationWarning)
    from audoai.common import MalformedFile, Unauthorized
    from audoai.noise_removal import NoiseRemovalClient

pytestmark = pytest.mark.sdk

KEY = "k1"
SR = 16_000


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("audo-sdk"), workers=2, api_keys=(KEY,), block_seconds=0.5)
    with backend_server(request, settings) as s:
        yield s


@pytest.fixture(scope="module")
def sdk(server: RunningServer) -> NoiseRemovalClient:
    return NoiseRemovalClient(KEY, base_url=server.url("/v1"))


@pytest.fixture(scope="module")
def noisy_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(33)
    clean, _ = make_speech_like(rng, SR, 4.0)
    path = tmp_path_factory.mktemp("sdk-in") / "my-audio.wav"
    sf.write(path, mix_at_snr(clean, make_white(rng, clean.size), 5.0), SR, subtype="PCM_16")
    return path


def test_audo_sdk_upload_create_job_and_poll(sdk: NoiseRemovalClient, noisy_wav: Path) -> None:
    file_id = sdk.upload(str(noisy_wav))
    job_id = sdk.create_job(file_id)
    deadline = time.monotonic() + 60
    states = []
    while time.monotonic() < deadline:
        status = sdk.get_status(job_id)
        states.append(status["state"])
        if status["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert states[-1] == "succeeded", status
    assert status["downloadPath"].endswith(".wav")


def test_audo_sdk_process_over_websocket_and_save(sdk: NoiseRemovalClient, noisy_wav: Path, tmp_path: Path) -> None:
    updates: list[dict[str, Any]] = []
    result = sdk.process(str(noisy_wav), on_update=updates.append)
    states = [u["state"] for u in updates]
    assert states[:2] == ["uploading", "creating_job"]
    assert states[-1] == "succeeded"
    out = tmp_path / "cleaned-audio.wav"
    result.save(str(out))
    y, sr = sf.read(out, dtype="float32")
    x, _ = sf.read(noisy_wav, dtype="float32")
    assert sr == SR
    assert y.shape == x.shape
    assert np.isfinite(y).all()
    with pytest.raises(ValueError, match=r"\.wav"):
        result.save(str(tmp_path / "cleaned-audio.mp3"))
    # the SDK's undocumented delete_results: any JSON back, and the file is gone
    answer = sdk.delete_results(result.job_id)
    assert isinstance(answer, dict)
    import requests

    assert requests.get(result.url, timeout=10).status_code == 404


def test_audo_sdk_file_object_with_extension_and_options(
    sdk: NoiseRemovalClient, noisy_wav: Path, tmp_path: Path
) -> None:
    with noisy_wav.open("rb") as f:
        result = sdk.process(
            f, input_extension="wav", output_extension=".flac", auto_volume=True, on_update=lambda _: None
        )
    assert result.url.endswith(".flac")
    out = tmp_path / "out.flac"
    result.save(str(out))
    y, sr = sf.read(out, dtype="float32")
    assert sr == SR
    assert y.size == sf.info(noisy_wav).frames


def test_audo_sdk_saves_an_opus_voice_note_under_its_own_extension(
    sdk: NoiseRemovalClient, noisy_wav: Path, tmp_path: Path
) -> None:
    # The SDK's save() wants the name to end with the download URL's extension, and the result
    # keeps the input's container: the URL used to end ".ogg" for an ".opus" input, so the SDK's
    # own process("note.opus") / save("clean.opus") raised ValueError after a successful job.
    x, _ = sf.read(noisy_wav, dtype="float32")
    note = tmp_path / "voice-note.opus"
    with AudioWriter(note, "ogg", SR, 1) as w:
        w.write(x[None])
    result = sdk.process(str(note), on_update=lambda _: None)
    assert result.url.endswith(".opus")
    out = tmp_path / "clean.opus"
    result.save(str(out))
    assert probe(out).container == "ogg"
    assert probe(out).duration_s == pytest.approx(x.size / SR, abs=0.05)
    # asked for by name, as the SDK passes it
    asked = sdk.process(str(noisy_wav), output_extension="opus", on_update=lambda _: None)
    assert asked.url.endswith(".opus")
    asked.save(str(tmp_path / "asked.opus"))
    assert (probe(tmp_path / "asked.opus").container, probe(tmp_path / "asked.opus").codec) == ("ogg", "opus")
    # at a rate Opus does not run at (CD audio), still Opus (it was Ogg Vorbis under a .opus name)
    cd = tmp_path / "cd.wav"
    sf.write(cd, np.interp(np.arange(0, x.size, SR / 44_100), np.arange(x.size), x).astype(np.float32), 44_100)
    asked_cd = sdk.process(str(cd), output_extension="opus", on_update=lambda _: None)
    assert asked_cd.url.endswith(".opus")
    asked_cd.save(str(tmp_path / "cd.opus"))
    assert (probe(tmp_path / "cd.opus").codec, probe(tmp_path / "cd.opus").sr) == ("opus", 48_000)
    # an extension of another container than the result's is not used: the URL names what it is
    with noisy_wav.open("rb") as f:
        other = sdk.process(f, input_extension="wav", output_extension="audio/flac", on_update=lambda _: None)
    assert other.url.endswith(".flac")


def test_audo_sdk_malformed_file(sdk: NoiseRemovalClient, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"definitely not a wave file " * 40)
    with pytest.raises(MalformedFile):
        sdk.upload(str(bogus))


def test_audo_sdk_wrong_key_is_unauthorized(server: RunningServer, noisy_wav: Path) -> None:
    bad = NoiseRemovalClient("wrong-key", base_url=server.url("/v1"))
    with pytest.raises(Unauthorized):
        bad.upload(str(noisy_wav))
    with pytest.raises(Unauthorized):
        bad.create_job("anything")


def test_audo_sdk_base_url_with_trailing_slash(server: RunningServer, noisy_wav: Path) -> None:
    client = NoiseRemovalClient(KEY, base_url=server.url("/v1/"))
    result = client.process(str(noisy_wav), on_update=lambda _: None)
    assert "//dl/" in result.url  # base_url + "/dl/..." — the server collapses the slashes
    import requests

    assert requests.get(result.url, timeout=10).status_code == 200


def test_audo_sdk_waits_out_its_job_over_the_live_stream_limit(noisy_wav: Path, tmp_path: Path) -> None:
    """The SDK waits on its websocket alone: over HUSH_MAX_WATCHERS the socket answered "failed",
    and the SDK raised NoiseRemovalFailed for a job that went on, succeeded and was charged (an
    audit). Over the limit the socket reads its job from the store instead."""
    import websockets.sync.client

    from tests._hush import HushProcess
    from tests.app._http_fixtures import Reply, serve_http

    with (
        serve_http({"/slow.wav": Reply(hang=True)}) as origin,
        HushProcess(tmp_path / "d", workers=2, api_keys=KEY, max_watchers=1, url_allowlist="127.0.0.1") as proc,
    ):
        # the one live-stream place is taken by a watcher of a job that waits for its input
        r = httpx.post(
            f"{proc.url}/api/v1/jobs",
            json={"input": {"url": origin.url("/slow.wav")}, "steps": []},
            headers={"x-api-key": KEY},
        )
        assert r.status_code == 202, r.text
        url = f"ws://127.0.0.1:{proc.port}/api/v1/jobs/{r.json()['id']}/ws"
        with websockets.sync.client.connect(url, additional_headers={"x-api-key": KEY}) as held:
            assert r.json()["id"] in str(held.recv(timeout=10))
            seen: list[str] = []
            result = NoiseRemovalClient(KEY, base_url=f"{proc.url}/v1").process(
                str(noisy_wav), on_update=lambda update: seen.append(update["state"])
            )
    assert result.url.endswith(".wav")
    assert seen[-1] == "succeeded"


def test_audo_sdk_status_socket_is_not_a_request_of_the_key_rate(noisy_wav: Path, tmp_path: Path) -> None:
    """Under a per-minute key limit the socket's handshake was the request refused 429, and
    process() crashed after creating the job it paid for (an audit): the socket belongs to the
    job already counted, as the upload is not counted either."""
    from tests._hush import HushProcess

    with HushProcess(tmp_path / "d", api_keys=KEY, rate_limit_per_minute=1) as proc:
        result = NoiseRemovalClient(KEY, base_url=f"{proc.url}/v1").process(str(noisy_wav), on_update=lambda _: None)
        assert result.url.endswith(".wav")
        # the limit still holds for requests: the next job of the minute is refused
        again = httpx.post(f"{proc.url}/v1/remove-noise", json={"input": "x"}, headers={"x-api-key": KEY})
        assert again.status_code == 429
