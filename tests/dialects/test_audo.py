"""Audo AI dialect: the doc's examples replayed against a real server, plus validation tables.

Integration tests share module-scoped servers (worker start-up costs seconds on a busy machine):
``server`` (2 workers) for independent jobs, and ``queue_run`` (1 worker) which submits several
jobs at once and records what the last one's websocket and status polls said.
"""

from __future__ import annotations

import io
import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
import websocket
from starlette.exceptions import StarletteDeprecationWarning

from app.main import create_app
from app.settings import Settings
from tests._services import BACKENDS
from tests.app._http_fixtures import Reply, serve_http
from tests.app._media_fixtures import mux_video, video_packets
from tests.dialects._openapi import assert_documented
from tests.dialects._server import RunningServer, backend_server, run_server
from tests.signals import make_speech_like, make_white, mix_at_snr

with warnings.catch_warnings():
    # starlette 1.10 asks for the httpx2 package for its TestClient; httpx works the same here
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

KEY = "k1"
H = {"x-api-key": KEY}
SR = 16_000


# --------------------------------------------------------------------------- helpers


def make_noisy_speech(
    seed: int, duration_s: float, sr: int = SR, snr_db: float = 5.0
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech-like signal plus white noise; returns (audio (n,), speech intervals in s)."""
    rng = np.random.default_rng(seed)
    clean, intervals = make_speech_like(rng, sr, duration_s)
    noise = make_white(rng, clean.size)
    return mix_at_snr(clean, noise, snr_db), intervals


def wav_bytes(x: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def pause_mask(n: int, sr: int, intervals: list[tuple[float, float]], margin_s: float = 0.1) -> np.ndarray:
    """True on samples well outside every speech interval (and past the first second)."""
    mask = np.ones(n, bool)
    mask[:sr] = False  # the noise tracker's warm-up
    for s, e in intervals:
        mask[max(0, int((s - margin_s) * sr)) : int((e + margin_s) * sr)] = False
    return mask


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def upload(server: RunningServer, data: bytes, name: str = "myaudio.wav") -> str:
    r = httpx.post(server.url("/v1/upload"), files={"file": (name, data)}, headers=H, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["fileId"])


def curl_post_json(server: RunningServer, path: str, body: dict[str, Any]) -> httpx.Response:
    """What ``curl -X POST URL -d '<json>' -H "x-api-key: ..."`` sends (a form content type)."""
    return httpx.post(
        server.url(path),
        content=json.dumps(body).encode(),
        headers={**H, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )


def wait_status(server: RunningServer, job_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Poll the status route until the job ends; returns the distinct answers in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.base, headers=H, timeout=10) as client:
        while time.monotonic() < deadline:
            r = client.get(f"/v1/remove-noise/{job_id}/status")
            assert r.status_code == 200, r.text
            st = r.json()
            assert_documented(client, "GET", "/v1/remove-noise/{job_id}/status", st)
            if not seen or seen[-1] != st:
                seen.append(st)
            if st["state"] in ("succeeded", "failed"):
                return seen
            time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {seen[-3:]}")


def watch_socket(server: RunningServer, job_id: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every websocket message for the job until the server closes the socket."""
    ws = websocket.create_connection(
        f"{server.ws_base}/v1/wss/remove-noise/{job_id}/status", header=H, timeout=timeout_s
    )
    messages = []
    try:
        while True:
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                break
            if not frame:
                break
            messages.append(json.loads(frame))
    finally:
        ws.close()
        ws.shutdown()  # websocket-client leaves the socket open when the peer closed first
    return messages


def download(server: RunningServer, download_path: str) -> httpx.Response:
    r = httpx.get(server.url("/v1" + download_path), timeout=30)  # no key, like the SDK
    assert r.status_code == 200, r.text
    return r


def decode(data: bytes) -> tuple[np.ndarray, int]:
    x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    return x, sr


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audo-data"),
        workers=2,
        api_keys=(KEY,),
        url_allowlist=("127.0.0.1",),
        block_seconds=0.5,
    )
    with backend_server(request, settings) as s:
        yield s


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, list[tuple[float, float]]]:
    return make_noisy_speech(7, 8.0)


@pytest.fixture(scope="module")
def noisy_id(server: RunningServer, noisy: tuple[np.ndarray, list[tuple[float, float]]]) -> str:
    return upload(server, wav_bytes(noisy[0]))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """Route-only app (no worker pool): jobs are accepted but never run."""
    settings = Settings(data_dir=tmp_path, workers=1, api_keys=(KEY,), url_allowlist=("127.0.0.1",))
    with TestClient(create_app(settings, workers=False)) as c:
        yield c


# --------------------------------------------------------------------------- validation (no workers)


def test_audo_upload_rejects_non_media_with_422(client: TestClient) -> None:
    r = client.post("/v1/upload", files={"file": ("notes.wav", b"this is not audio at all" * 20)}, headers=H)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str)


def test_audo_upload_of_a_malformed_multipart_is_the_sdks_malformed_file(client: TestClient) -> None:
    # the framework's 400 ("Invalid multipart data") reached the SDK as a bare HTTPError: it reads
    # only a 422 on /upload as MalformedFile
    too_many = (
        b"".join(b'--xx\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(1500))
        + b"--xx--\r\n"
    )
    r = client.post("/v1/upload", content=too_many, headers={**H, "Content-Type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 422, r.text
    assert "Too many fields" in r.json()["detail"]


def test_audo_upload_without_part_content_type(client: TestClient) -> None:
    # the SDK's multipart part carries a filename but no Content-Type
    body = (
        b'--xx\r\nContent-Disposition: form-data; name="file"; filename="file.wav"\r\n\r\n'
        + wav_bytes(np.zeros(1600, np.float32))
        + b"\r\n--xx--\r\n"
    )
    r = client.post(
        "/v1/upload?inputExt=wav", content=body, headers={**H, "Content-Type": "multipart/form-data; boundary=xx"}
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"fileId"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"x-api-key": KEY}, 200), ({"x-api-key": "wrong"}, 401), ({}, 401)],
)
def test_audo_auth_on_upload(client: TestClient, headers: dict[str, str], status: int) -> None:
    r = client.post("/v1/upload", files={"file": ("a.wav", wav_bytes(np.zeros(1600, np.float32)))}, headers=headers)
    assert r.status_code == status, r.text
    assert isinstance(r.json(), dict)
    if status == 401:
        assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"input": "<fileId>"}, 200),
        ({"input": "<fileId>", "noiseReductionAmount": "90"}, 200),
        ({"input": "<fileId>", "noiseReductionAmount": 1}, 200),
        # what the SDK sends: explicit nulls, a dotted extension, autoVolume
        ({"input": "<fileId>", "outputExtension": None, "output": None, "autoVolume": False}, 200),
        ({"input": "<fileId>", "outputExtension": ".mp3", "output": None, "autoVolume": True}, 200),
        ({"input": "<fileId>", "outputExtension": "FLAC", "autoVolume": -23.0}, 200),
        ({"input": "<fileId>", "noiseReductionAmount": 0}, 422),
        ({"input": "<fileId>", "noiseReductionAmount": 101}, 422),
        ({"input": "<fileId>", "noiseReductionAmount": "abc"}, 422),
        ({"input": "<fileId>", "noiseReductionAmount": 50.5}, 422),
        ({"input": "<fileId>", "noiseReductionAmount": True}, 422),
        ({"input": "<fileId>", "outputExtension": "exe"}, 422),
        ({"input": "<fileId>", "autoVolume": 5.0}, 422),
        ({"input": "<fileId>", "output": "ftp://example.com/out.wav"}, 422),
        ({"input": "9d1f7a3e-0000-4000-8000-000000000000"}, 422),  # unknown fileId
        ({"input": "file:///etc/passwd"}, 422),
        ({"input": "http://10.0.0.1/private.wav"}, 422),  # SSRF guard, still 422 (never 400)
        ({"input": ""}, 422),
        ({}, 422),
    ],
)
def test_audo_remove_noise_validation(client: TestClient, body: dict[str, Any], status: int) -> None:
    up = client.post("/v1/upload", files={"file": ("a.wav", wav_bytes(np.zeros(1600, np.float32)))}, headers=H)
    file_id = up.json()["fileId"]
    sent = {k: (file_id if v == "<fileId>" else v) for k, v in body.items()}
    # the doc's curl sends JSON with curl's default form content type
    r = client.post(
        "/v1/remove-noise",
        content=json.dumps(sent),
        headers={**H, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == status, r.text
    if status == 200:
        assert set(r.json()) == {"jobId"}
    else:
        assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),
        (b"[1, 2]", {"Content-Type": "application/json"}),
        (b"", {}),
        (b'{"input": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", {}),  # nested past any parser's stack
    ],
)
def test_audo_remove_noise_bad_body_is_422(client: TestClient, content: bytes, headers: dict[str, str]) -> None:
    r = client.post("/v1/remove-noise", content=content, headers={**H, **headers})
    assert r.status_code == 422
    assert "detail" in r.json()


def test_audo_remove_noise_oversized_body_is_refused_streaming(client: TestClient) -> None:
    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap must hold while reading
        yield b'{"input": "'
        for _ in range(200):
            yield b"x" * 1024
        yield b'"}'

    r = client.post("/v1/remove-noise", content=chunked(), headers=H)
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]


def test_audo_remove_noise_wrong_key_is_401(client: TestClient) -> None:
    r = client.post("/v1/remove-noise", json={"input": "x"}, headers={"x-api-key": "nope"})
    assert r.status_code == 401
    assert "detail" in r.json()


def test_audo_status_of_queued_job(client: TestClient) -> None:
    up = client.post("/v1/upload", files={"file": ("a.wav", wav_bytes(np.zeros(1600, np.float32)))}, headers=H)
    ids = [
        client.post("/v1/remove-noise", json={"input": up.json()["fileId"]}, headers=H).json()["jobId"]
        for _ in range(3)
    ]
    answers = [client.get(f"/v1/remove-noise/{i}/status", headers=H).json() for i in ids]
    assert answers == [{"state": "queued", "jobsAhead": n} for n in range(3)]
    for answer in answers:
        assert_documented(client, "GET", "/v1/remove-noise/{job_id}/status", answer)
    assert client.get("/v1/remove-noise/nope/status", headers=H).status_code == 404
    assert client.get(f"/v1/remove-noise/{ids[0]}/status", headers={"x-api-key": "bad"}).status_code == 401
    # not finished: delete-results is refused with a JSON body
    r = client.post(f"/v1/remove-noise/{ids[0]}/delete-results", headers=H)
    assert r.status_code == 409
    # it said "cancel it", and the Audo API has no cancel route: the one that does it is named
    assert r.json()["detail"] == (
        f"job {ids[0]} is still queued: wait for it to finish, or cancel it with DELETE /api/v1/jobs/{ids[0]} "
        "and the same x-api-key"
    )
    assert client.delete(f"/api/v1/jobs/{ids[0]}", headers=H).json()["state"] == "cancelled"


def test_audo_rate_limit_has_integer_retry_after(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, workers=1, api_keys=(KEY,), rate_limit_per_minute=2)
    with TestClient(create_app(settings, workers=False)) as c:
        codes = [c.get("/v1/remove-noise/x/status", headers=H) for _ in range(3)]
    assert [r.status_code for r in codes] == [404, 404, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1
    assert "detail" in codes[-1].json()


def test_audo_uploads_are_outside_the_per_minute_limit(tmp_path: Path) -> None:
    # The SDK answers a 429 by sleeping Retry-After and sending the same upload again with the
    # file object it has already read: 0 bytes, refused as MalformedFile although the file was
    # fine. Uploads start no work; the requests that do are still limited.
    settings = Settings(data_dir=tmp_path, workers=1, api_keys=(KEY,), rate_limit_per_minute=2)
    audio = wav_bytes(np.zeros(1600, np.float32))
    with TestClient(create_app(settings, workers=False)) as c:
        uploads = [c.post("/v1/upload", files={"file": ("a.wav", audio)}, headers=H) for _ in range(4)]
        polls = [c.get("/v1/remove-noise/x/status", headers=H) for _ in range(3)]
        bad = c.post("/v1/upload", files={"file": ("a.wav", audio)}, headers={"x-api-key": "wrong"})
    assert [r.status_code for r in uploads] == [200] * 4
    assert [r.status_code for r in polls] == [404, 404, 429]
    assert bad.status_code == 401


# --------------------------------------------------------------------------- the doc's examples, end to end


def test_audo_doc_examples_upload_remove_noise_status_download(server: RunningServer, noisy_id: str) -> None:
    # curl -X POST ".../v1/remove-noise" -d '{"input": "'$FILE_ID'"}' -H "x-api-key: ..."
    r = curl_post_json(server, "/v1/remove-noise", {"input": noisy_id})
    assert r.status_code == 200, r.text
    job_id = r.json()["jobId"]
    # ... -d '{"input": "'$FILE_ID'", "noiseReductionAmount": "90"}'
    r90 = curl_post_json(server, "/v1/remove-noise", {"input": noisy_id, "noiseReductionAmount": "90"})
    assert r90.status_code == 200, r90.text
    for jid in (job_id, r90.json()["jobId"]):
        final = wait_status(server, jid)[-1]
        assert final["state"] == "succeeded", final
        assert set(final) == {"state", "downloadPath"}
        path = final["downloadPath"]
        assert path.startswith("/dl/artifacts/clean/audo_enhanced_")
        assert path.endswith(".wav")  # default output extension = the input's
        got = download(server, path)
        assert got.headers["content-type"] == "audio/wav"
        assert "content-encoding" not in got.headers
        x, sr = decode(got.content)
        assert sr == SR
        assert x.shape == (8 * SR,)
        # the doc's own download forms: ".../v1/" + "dl/..." and the SDK-with-doc-path "/v1dl/..."
        for url in (server.url("/v1/" + path.lstrip("/")), server.url("/v1" + path.lstrip("/"))):
            again = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
            assert again.status_code == 200
            assert again.content == got.content
    # a wrong extension or an unknown job in the path is 404 JSON
    bad = httpx.get(server.url("/v1" + path[: -len(".wav")] + ".mp3"), timeout=10)
    assert bad.status_code == 404
    assert "detail" in bad.json()


def test_audo_download_link_serves_only_audo_jobs(
    server: RunningServer, noisy: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    # a job made through the native API (or another vendor's) has no keyless Audo link: its id
    # alone (in logs, webhooks, the playground's address) must not fetch its result
    with httpx.Client(base_url=server.base, headers=H, timeout=30) as client:
        fid = client.post("/api/v1/files", files={"file": ("n.wav", wav_bytes(noisy[0]))}).json()["file_id"]
        job = client.post("/api/v1/jobs", json={"input": {"file_id": fid}, "steps": [{"name": "denoise"}]}).json()
        deadline = time.monotonic() + 60
        while client.get(f"/api/v1/jobs/{job['id']}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert client.get(f"/api/v1/jobs/{job['id']}/result").status_code == 200  # with its key: yes
    for url in (
        f"/v1/dl/artifacts/clean/audo_enhanced_{job['id']}.wav",
        f"/v1/dl/artifacts/clean/audo_enhanced_{job['id']}.mp3",
    ):
        r = httpx.get(server.url(url), timeout=10)
        assert r.status_code == 404, (url, r.status_code)
        assert not r.content.startswith(b"RIFF")


def test_audo_amount_20_removes_less_noise_than_100(
    server: RunningServer, noisy_id: str, noisy: tuple[np.ndarray, list[tuple[float, float]]]
) -> None:
    x, intervals = noisy
    residual = {}
    for amount in (20, 100):
        r = curl_post_json(server, "/v1/remove-noise", {"input": noisy_id, "noiseReductionAmount": amount})
        final = wait_status(server, r.json()["jobId"])[-1]
        assert final["state"] == "succeeded", final
        y, _ = decode(download(server, final["downloadPath"]).content)
        mask = pause_mask(y.size, SR, intervals)
        residual[amount] = level_db(y[mask])
    noise_in = level_db(x[pause_mask(x.size, SR, intervals)])
    print(
        f"noise in pauses: input {noise_in:.1f} dB, amount 20 {residual[20]:.1f} dB, amount 100 {residual[100]:.1f} dB"
    )
    assert residual[20] < noise_in - 1.0
    assert residual[100] < residual[20] - 6.0


def test_audo_url_input_downloading_and_put_output(server: RunningServer) -> None:
    x, _ = make_noisy_speech(11, 4.0)
    data = wav_bytes(x)
    # the input trickles in so that the "downloading" state lasts long enough to be seen
    chunks = [data[i : i + 16384] for i in range(0, len(data), 16384)]
    routes = {
        "GET /foo.wav": Reply(body=data, chunks=chunks, chunk_delay_s=0.15, headers={"Content-Type": "audio/wav"}),
        "PUT /audo-enhanced_foo.mp3": Reply(status=200),
    }
    with serve_http(routes) as remote:
        input_url = remote.url("/foo.wav") + "?AWSAccessKeyId=ABC&Signature=PxM%3D&Expires=1615338399"
        output_url = (
            remote.url("/audo-enhanced_foo.mp3") + "?AWSAccessKeyId=ABC&Signature=e8O%3D&content-type=audio%2Fmpeg"
        )
        r = curl_post_json(
            server, "/v1/remove-noise", {"input": input_url, "output": output_url, "outputExtension": "mp3"}
        )
        assert r.status_code == 200, r.text
        messages = watch_socket(server, r.json()["jobId"])
        puts = [q for q in remote.requests if q.method == "PUT"]
    states = [m["state"] for m in messages]
    assert "downloading" in states, messages
    assert states[-1] == "succeeded", messages
    assert states.index("downloading") < states.index("in_progress")
    assert messages[-1]["downloadPath"].endswith(".mp3")  # still reported with an output URL
    assert len(puts) == 1
    assert puts[0].headers["Content-Type"] == "audio/mpeg"
    assert puts[0].body == download(server, messages[-1]["downloadPath"]).content
    with av.open(io.BytesIO(puts[0].body)) as ic:
        frames = [f.to_ndarray() for f in ic.decode(audio=0)]
    assert sum(f.shape[-1] for f in frames) >= 4 * SR * 0.95


def make_noisy_video(
    path: Path, *, seed: int, duration_s: float = 3.0, sr: int = 48_000
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """WebM: VP9 video (moving pixels, 10 fps) + Opus mono noisy speech."""
    x, intervals = make_noisy_speech(seed, duration_s, sr=sr, snr_db=5.0)
    mux_video(path, "webm", "libvpx-vp9", "libopus", x[None], sr)
    return x, intervals


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as ic:
        stream = ic.streams.audio[0]
        sr = stream.codec_context.sample_rate
        parts = [f.to_ndarray().astype(np.float32).reshape(-1, f.samples).mean(axis=0) for f in ic.decode(stream)]
    return np.concatenate(parts), sr


def test_audo_video_round_trip_webm_to_mp4(server: RunningServer, tmp_path: Path) -> None:
    src = tmp_path / "trailer.webm"
    make_noisy_video(src, seed=5)
    data = src.read_bytes()
    served = {"GET /big-buck-bunny_trailer.webm": Reply(body=data, headers={"Content-Type": "video/webm"})}
    with serve_http(served) as remote:
        # curl -X POST "$BACKEND_URL/remove-noise" -d '{"input": "'$url'", "outputExtension": "mp4"}'
        r = curl_post_json(
            server, "/v1/remove-noise", {"input": remote.url("/big-buck-bunny_trailer.webm"), "outputExtension": "mp4"}
        )
        assert r.status_code == 200, r.text
        final = wait_status(server, r.json()["jobId"])[-1]
    assert final["state"] == "succeeded", final
    assert final["downloadPath"].endswith(".mp4")
    got = download(server, final["downloadPath"])
    assert got.headers["content-type"] == "video/mp4"
    assert video_packets(got.content) == video_packets(data)
    noisy_in, sr_in = decode_audio(data)
    clean_out, sr_out = decode_audio(got.content)
    assert sr_in == sr_out == 48_000
    n = min(noisy_in.size, clean_out.size)

    # after a warm-up second the output's noise floor (10th percentile of 20 ms frame levels) is lower
    def floor_db(y: np.ndarray) -> float:
        frames = y[sr_in : n - n % 960].reshape(-1, 960)
        return float(np.percentile(10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20), 10))

    assert floor_db(clean_out[:n]) < floor_db(noisy_in[:n]) - 6.0


def test_audo_delete_results(server: RunningServer) -> None:
    file_id = upload(server, wav_bytes(make_noisy_speech(3, 2.0)[0]))
    r = curl_post_json(server, "/v1/remove-noise", {"input": file_id})
    job_id = r.json()["jobId"]
    final = wait_status(server, job_id)[-1]
    assert final["state"] == "succeeded"
    download(server, final["downloadPath"])
    d = httpx.post(server.url(f"/v1/remove-noise/{job_id}/delete-results"), headers=H, timeout=10)
    assert d.status_code == 200
    assert d.json()["jobId"] == job_id
    gone = httpx.get(server.url("/v1" + final["downloadPath"]), timeout=10)
    assert gone.status_code == 404
    assert "detail" in gone.json()
    # the status no longer points at the deleted file
    status = httpx.get(server.url(f"/v1/remove-noise/{job_id}/status"), headers=H, timeout=10).json()
    assert status == {"state": "failed", "reason": "the results were deleted (delete-results)"}


def test_audo_routes_see_only_audo_jobs(server: RunningServer) -> None:
    """The Audo status of the same key's native job answered with a download link that 404'd,
    and its delete-results deleted the native job's result (audit)."""
    native_file = httpx.post(
        server.url("/api/v1/files"), files={"file": ("in.wav", wav_bytes(make_noisy_speech(4, 1.0)[0]))}, headers=H
    ).json()["file_id"]
    job = httpx.post(server.url("/api/v1/jobs"), json={"input": {"file_id": native_file}}, headers=H, timeout=10)
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    deadline = time.monotonic() + 60
    while httpx.get(server.url(f"/api/v1/jobs/{job_id}"), headers=H).json()["state"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status = httpx.get(server.url(f"/v1/remove-noise/{job_id}/status"), headers=H, timeout=10)
    assert status.status_code == 404, status.text
    assert "detail" in status.json()
    d = httpx.post(server.url(f"/v1/remove-noise/{job_id}/delete-results"), headers=H, timeout=10)
    assert d.status_code == 404, d.text
    assert httpx.get(server.url(f"/api/v1/jobs/{job_id}/result"), headers=H, timeout=10).status_code == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            f"{server.ws_base}/v1/wss/remove-noise/{job_id}/status", header=[f"x-api-key: {KEY}"], timeout=10
        )
    assert info.value.status_code == 404


def test_audo_failed_job_reports_reason(server: RunningServer) -> None:
    with serve_http({"GET /missing.wav": Reply(status=404, body=b"no")}) as remote:
        r = curl_post_json(server, "/v1/remove-noise", {"input": remote.url("/missing.wav")})
        messages = watch_socket(server, r.json()["jobId"])
    assert messages[-1]["state"] == "failed"
    assert set(messages[-1]) == {"state", "reason"}
    assert "404" in messages[-1]["reason"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"x-api-key": "wrong"}, 401), (H, 404)])
def test_audo_websocket_refuses_handshake(server: RunningServer, headers: dict[str, str], status: int) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            f"{server.ws_base}/v1/wss/remove-noise/no-such-job/status", header=headers, timeout=10
        )
    assert info.value.status_code == status


def test_audo_many_websockets_watch_one_job(server: RunningServer, noisy_id: str) -> None:
    r = curl_post_json(server, "/v1/remove-noise", {"input": noisy_id})
    job_id = r.json()["jobId"]
    results: list[list[dict[str, Any]]] = []
    lock = threading.Lock()

    def one() -> None:
        msgs = watch_socket(server, job_id)
        with lock:
            results.append(msgs)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 200
    assert all(m and m[-1]["state"] == "succeeded" for m in results)


# --------------------------------------------------------------------------- one worker, several queued jobs


@pytest.fixture(scope="module")
def queue_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four 20 s jobs then a 6-minute one on one worker; the last job watched by socket and polls.

    The long job must outlast several 50 ms polls on any machine: 90 s of audio is denoised in
    about 0.3 s here, too short to see the percent rise in steps.
    """
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audo-queue"),
        workers=1,
        api_keys=(KEY,),
        block_seconds=0.25,
        progress_interval_s=0.0,  # every 1 % step is published, however fast this machine is
    )
    short = wav_bytes(make_noisy_speech(21, 20.0)[0])
    long = wav_bytes(make_noisy_speech(22, 360.0)[0])
    with run_server(settings) as s:
        # warm the worker first so the queue moves at processing speed, not start-up speed
        warm = curl_post_json(s, "/v1/remove-noise", {"input": upload(s, short)}).json()["jobId"]
        wait_status(s, warm, timeout_s=90)
        short_id, long_id = upload(s, short), upload(s, long)
        jobs = [curl_post_json(s, "/v1/remove-noise", {"input": short_id}).json()["jobId"] for _ in range(4)]
        last = curl_post_json(s, "/v1/remove-noise", {"input": long_id}).json()["jobId"]
        polled: list[dict[str, Any]] = []
        poller = threading.Thread(target=lambda: polled.extend(wait_status(s, last, timeout_s=90)))
        poller.start()
        messages = watch_socket(s, last, timeout_s=90)
        poller.join(90)
    return {"messages": messages, "polled": polled, "jobs": jobs}


def test_audo_jobs_ahead_counts_down(queue_run: dict[str, Any]) -> None:
    for seen in (queue_run["messages"], queue_run["polled"]):
        ahead = [m["jobsAhead"] for m in seen if m["state"] == "queued"]
        assert ahead, seen
        assert ahead[0] >= 2
        assert ahead == sorted(ahead, reverse=True)
        assert ahead[-1] == 0


def test_audo_websocket_sees_every_state_in_order(queue_run: dict[str, Any]) -> None:
    messages = queue_run["messages"]
    states = [m["state"] for m in messages]
    first = {s: states.index(s) for s in ("queued", "in_progress", "succeeded")}
    assert first["queued"] == 0
    assert first["queued"] < first["in_progress"] < first["succeeded"] == len(states) - 1
    assert states == sorted(states, key=["queued", "in_progress", "succeeded"].index)
    percents = [m["percent"] for m in messages if m["state"] == "in_progress"]
    assert percents == sorted(percents)


def test_audo_percent_rises_on_long_input(queue_run: dict[str, Any]) -> None:
    for seen in (queue_run["messages"], queue_run["polled"]):
        percents = [m["percent"] for m in seen if m["state"] == "in_progress"]
        assert percents == sorted(percents)
        assert len(set(percents)) >= 5, percents
        assert all(0 <= p <= 100 for p in percents)
