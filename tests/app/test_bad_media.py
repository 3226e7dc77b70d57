"""A corpus of hostile media, generated here, sent through every dialect's way in.

Each file must get a clear 4xx in the dialect's own format (or, for faults that only decoding
can find, a job that fails with a reason that says what is wrong); the server keeps serving and
no worker dies. A file that ends before its header says it does is not refused: what it holds is
processed and the job's result says so.
"""

from __future__ import annotations

import base64
import io
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.settings import Settings
from tests._services import BACKENDS
from tests.app._media_fixtures import make_music, make_silent_video, raw_wav_bytes
from tests.dialects._server import RunningServer, backend_server

KEY = "k1"


def _wav(x: np.ndarray, sr: int = 16_000, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _flac(x: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="FLAC")
    return buf.getvalue()


def _tone() -> np.ndarray:
    return make_music(16_000, 1.0, 1)[0]


def truncated() -> bytes:
    whole = _wav(_tone())
    return whole[: len(whole) // 3]


def length_lie() -> bytes:
    whole = bytearray(_wav(_tone()))
    whole[40:44] = struct.pack("<I", 0x7FFF0000 // 2)  # data chunk claims ~1 GB
    return bytes(whole)


def zero_channels() -> bytes:
    return raw_wav_bytes(tag=1, channels=0, sr=16_000, bits=16, data=bytes(3200))


def billion_frames() -> bytes:
    data = bytearray(_flac(_tone()))
    data[21] = (data[21] & 0xF0) | 0x00
    data[22:26] = struct.pack(">I", 1_000_000_000)  # STREAMINFO total samples
    return bytes(data)


def nan_floats() -> bytes:
    x = _tone().astype(np.float32)
    x[4000] = np.nan
    return _wav(x, subtype="FLOAT")


def inf_floats() -> bytes:
    x = _tone().astype(np.float32)
    x[100] = np.inf
    return _wav(x, subtype="FLOAT")


def ten_hour_silence() -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=8000, channels=1, format="FLAC") as f:
        block = np.zeros(8000 * 600, np.float32)
        for _ in range(60):  # 10 hours of digital silence: FLAC makes it a few hundred KB
            f.write(block)
    return buf.getvalue()


def magic_then_noise() -> bytes:
    return b"fLaC" + np.random.default_rng(7).bytes(20_000)


def video_without_audio(tmp: Path) -> bytes:
    return make_silent_video(tmp / "v.webm").read_bytes()


# name, maker, what the answer must say (4xx at the door) or "job" (refused while decoding)
CORPUS: list[tuple[str, Callable[..., bytes], str]] = [
    ("zero_channels", zero_channels, "could not be decoded"),
    ("billion_frames", billion_frames, "17.4 hours"),
    ("nan_floats", nan_floats, "job"),
    ("inf_floats", inf_floats, "job"),
    ("ten_hour_silence", ten_hour_silence, "hours"),
    ("magic_then_noise", magic_then_noise, "FLAC"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("bad-media"), api_keys=(KEY,), workers=1, max_duration_hours=6)
    with backend_server(request, settings) as s:
        yield s


def _wait_native(c: httpx.Client, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = c.get(f"/api/v1/jobs/{job_id}", headers={"x-api-key": KEY}).json()
        if job["state"] in ("succeeded", "failed", "timed_out"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def _denoised(server: RunningServer, name: str, data: bytes) -> dict[str, Any]:
    """Upload ``data`` as ``name`` on the native API, denoise it; the succeeded job's result."""
    with httpx.Client(base_url=server.base, timeout=60) as c:
        r = c.post("/api/v1/files", files={"file": (name, data)}, headers={"x-api-key": KEY})
        assert r.status_code == 201, r.text
        job = c.post(
            "/api/v1/jobs",
            json={"input": {"file_id": r.json()["file_id"]}, "steps": [{"name": "denoise"}]},
            headers={"x-api-key": KEY},
        )
        assert job.status_code == 202, job.text
        done = _wait_native(c, job.json()["id"])
    assert done["state"] == "succeeded", done
    result = done["result"]
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize(("name", "make", "says"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_media_native(server: RunningServer, name: str, make: Callable[[], bytes], says: str) -> None:
    with httpx.Client(base_url=server.base, timeout=60) as c:
        r = c.post("/api/v1/files", files={"file": (f"{name}.wav", make())}, headers={"x-api-key": KEY})
        if says != "job":
            assert 400 <= r.status_code < 500, r.text
            assert says in r.json()["title"]
        else:
            assert r.status_code == 201, r.text
            job = c.post(
                "/api/v1/jobs",
                json={"input": {"file_id": r.json()["file_id"]}, "steps": []},
                headers={"x-api-key": KEY},
            )
            assert job.status_code == 202, job.text
            done = _wait_native(c, job.json()["id"])
            assert done["state"] == "failed", done
            reason = done["error"]["reason"]  # type: ignore[index]
            assert "internal error" not in reason
            assert any(w in reason for w in ("NaN", "truncated", "decoded")), reason
        assert c.get("/readyz").status_code == 200


@pytest.mark.parametrize("make", [truncated, length_lie], ids=["truncated", "length_lie"])
def test_bad_media_cut_off_wav_is_processed_and_the_job_says_so(
    server: RunningServer, make: Callable[[], bytes]
) -> None:
    data = make()
    declared = struct.unpack("<I", data[40:44])[0] // 2  # 16-bit mono, data chunk at 36
    present = (len(data) - 44) // 2
    result = _denoised(server, "cut.wav", data)
    assert result["warnings"] == [
        f"The WAV file may be truncated: its header declares {declared / 16_000:.3f} s of audio but only "
        f"{present / 16_000:.3f} s is present; the audio present was processed (send or export the complete "
        "file if the end is missing)"
    ]
    assert result["duration_s"] == present / 16_000
    assert result["input"]["duration_s"] == present / 16_000


def test_bad_media_cut_off_flac_reports_the_length_decoded_and_the_one_declared(server: RunningServer) -> None:
    """A FLAC's header gives its length (a WAV's is read from its size): the job's input says both."""
    whole = _flac(make_music(16_000, 6.0, 1)[0])
    result = _denoised(server, "cut.flac", whole[: len(whole) // 2])
    assert 2.0 < result["duration_s"] < 4.0
    assert result["input"]["duration_s"] == result["duration_s"]
    assert result["input"]["declared_duration_s"] == 6.0
    assert "declares 6.000 s of audio" in result["warnings"][0]


@pytest.mark.parametrize(("name", "make", "says"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_media_audo(server: RunningServer, name: str, make: Callable[[], bytes], says: str) -> None:
    with httpx.Client(base_url=server.base, timeout=60) as c:
        r = c.post("/v1/upload", files={"file": (f"{name}.wav", make())}, headers={"x-api-key": KEY})
        if says != "job":
            assert 400 <= r.status_code < 500, r.text
            assert isinstance(r.json()["detail"], str)
        else:
            assert r.status_code == 200, r.text
            job = c.post("/v1/remove-noise", json={"input": r.json()["fileId"]}, headers={"x-api-key": KEY})
            assert job.status_code == 200, job.text
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = c.get(f"/v1/remove-noise/{job.json()['jobId']}/status", headers={"x-api-key": KEY}).json()
                if status["state"] in ("failed", "succeeded"):
                    break
                time.sleep(0.05)
            assert status["state"] == "failed", status
            assert "internal error" not in status.get("reason", "")
        assert c.get("/readyz").status_code == 200


@pytest.mark.parametrize(("name", "make", "says"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_media_deepaffects_sync(server: RunningServer, name: str, make: Callable[[], bytes], says: str) -> None:
    body = {
        "content": base64.b64encode(make()).decode(),
        "sampleRate": 16000,
        "encoding": "wav",
        "languageCode": "en-US",
    }
    with httpx.Client(base_url=server.base, timeout=90) as c:
        r = c.post("/audio/generic/api/v1/sync/denoise", params={"apikey": KEY}, json=body)
        assert 400 <= r.status_code < 500, r.text
        out = r.json()
        assert out["code"] == r.status_code
        assert "internal" not in out["message"].lower()
        assert c.get("/readyz").status_code == 200


def test_bad_media_video_without_audio_everywhere(server: RunningServer, tmp_path: Path) -> None:
    data = video_without_audio(tmp_path)
    with httpx.Client(base_url=server.base, timeout=60) as c:
        native = c.post("/api/v1/files", files={"file": ("v.webm", data)}, headers={"x-api-key": KEY})
        audo = c.post("/v1/upload", files={"file": ("v.webm", data)}, headers={"x-api-key": KEY})
        da = c.post(
            "/audio/generic/api/v1/sync/denoise",
            params={"apikey": KEY},
            json={"content": base64.b64encode(data).decode(), "sampleRate": 16000, "encoding": "webm"},
        )
    assert native.status_code == 415
    assert "no audio track" in native.json()["title"]
    assert audo.status_code in (415, 422)
    assert da.status_code == 415
