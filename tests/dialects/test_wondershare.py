"""The Wondershare click-noise API, driven by a client written from the doc alone.

The doc (click-noise-removal.md) is the whole contract: ``POST /v3/pic/ecr/batch`` with HTTP
Basic ``appkey:appsecret`` and a ``file_link`` the server downloads, then ``GET
/v3/pic/ecr/result/{task_id}`` until ``status`` is ``"3"``, then GET ``voice_result``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from app.settings import Settings
from tests._services import BACKENDS
from tests.app._http_fixtures import LoopbackServer, Reply, serve_http
from tests.dialects._openapi import assert_documented
from tests.dialects._server import RunningServer, backend_server, run_server
from tests.signals import make_speech_like, si_sdr_db

APP_KEY, APP_SECRET = "app-1", "secret-1"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{APP_KEY}:{APP_SECRET}".encode()).decode()}
OTHER_AUTH = {"Authorization": "Basic " + base64.b64encode(b"app-2:secret-2").decode()}  # another customer
SR = 16_000
BATCH = "/v3/pic/ecr/batch"


def _clicked(seed: int, seconds: float = 4.0) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Clean speech, the same with 8 clicks, and the clicked version as WAV bytes."""
    rng = np.random.default_rng(seed)
    clean = make_speech_like(rng, SR, seconds, lead_silence_s=0.3)[0].astype(np.float32)
    clicked = clean.copy()
    pos = np.sort(rng.choice(np.arange(int(0.2 * SR), clean.size - int(0.2 * SR), int(0.3 * SR)), 8, replace=False))
    clicked[pos] += (0.5 * rng.choice([-1.0, 1.0], pos.size)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, clicked, SR, format="WAV", subtype="PCM_16")
    return clean, clicked, buf.getvalue()


CLEAN, CLICKED, WAV = _clicked(11)


def file_info(data: bytes, **override: Any) -> dict[str, Any]:
    info = {
        "file_size": len(data),
        "file_md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "file_time": 4,
        "file_ext": "wav",
    }
    return {**info, **override}


def batch_body(link: str, data: bytes = WAV, **override: Any) -> dict[str, Any]:
    """The doc's sample body, with a real link and real file_info."""
    body = {
        "file_link": link,
        "file_ext": "wav",
        "file_info": file_info(data),
        "detection_mult": 8,
        "click_len": 10,
        "priority": 1,
    }
    return {**body, **override}


def poll(client: httpx.Client, task_id: str, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll as a client of the doc would: honour wait_time (capped for the test) until terminal."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(f"/v3/pic/ecr/result/{task_id}", headers=AUTH)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["code"] == 0
        assert_documented(client, "GET", "/v3/pic/ecr/result/{task_id}", out)
        data = out["data"]
        assert set(data) == {"status", "wait_time", "voice_result", "reason"}
        assert all(isinstance(v, str) for v in data.values())
        if data["status"] in {"3", "4", "5", "6"}:
            return dict(data)
        time.sleep(min(float(data["wait_time"]), 0.2))
    raise AssertionError(f"task {task_id} never ended")


@pytest.fixture(scope="module")
def origin() -> Iterator[LoopbackServer]:
    """The customer's bucket: serves the clicked file, a changed copy and a big file."""
    changed = bytearray(WAV)
    changed[-1] ^= 0xFF
    with serve_http(
        {
            "/bucket/in.wav": Reply(body=WAV),
            "/bucket/changed.wav": Reply(body=bytes(changed)),
            "/bucket/page.wav": Reply(body=b"<html>not audio</html>" * 10),
        }
    ) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def hush(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("wondershare"),
        workers=2,
        api_keys=(f"{APP_KEY}:{APP_SECRET}", "app-2:secret-2"),
        url_allowlist=("127.0.0.1",),
        block_seconds=0.5,
    )
    with backend_server(request, settings) as s:
        yield s


@pytest.fixture
def client(hush: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hush.base, timeout=30) as c:
        yield c


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    r = client.post(BATCH, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["code"] == 0
    assert out["msg"] == ""
    assert set(out["data"]) == {"task_id"}
    assert_documented(client, "POST", BATCH, out)
    return str(out["data"]["task_id"])


@pytest.mark.parametrize(("ext", "container"), [("wav", "WAV"), ("mp3", "MP3"), (None, "MP3")])
def test_wondershare_doc_flow_repairs_clicks(
    client: httpx.Client, origin: LoopbackServer, ext: str | None, container: str
) -> None:
    body = batch_body(origin.url("/bucket/in.wav"))
    if ext is None:
        del body["file_ext"]  # the doc's default output is mp3
    else:
        body["file_ext"] = ext
    task = submit(client, body)
    data = poll(client, task)
    assert data["status"] == "3", data
    assert data["wait_time"] == "0"
    assert data["reason"] == ""  # file_time agrees with the audio: no note
    url = data["voice_result"]
    assert url.startswith("http://127.0.0.1:")  # absolute
    with httpx.Client(timeout=30) as anonymous:  # no credentials needed
        got = anonymous.get(url)
        head = anonymous.head(url)  # a client may ask the size first
    assert got.status_code == 200
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(got.content)
    assert head.headers["content-type"] == got.headers["content-type"]
    info = sf.info(io.BytesIO(got.content))
    assert info.format == container
    assert info.samplerate == SR
    out, _ = sf.read(io.BytesIO(got.content), dtype="float32")
    if container == "WAV":
        assert out.size == CLEAN.size
        clicks = np.flatnonzero(np.abs(CLICKED - CLEAN) > 0.1)
        fixed = np.abs(out[clicks] - CLEAN[clicks]) < 0.1  # the clicks are measurably repaired
        assert int(np.count_nonzero(fixed)) >= 6, out[clicks] - CLEAN[clicks]
        assert si_sdr_db(CLEAN, out) > si_sdr_db(CLEAN, CLICKED)


def test_wondershare_wait_time_counts_the_queue(client: httpx.Client, origin: LoopbackServer) -> None:
    tasks = [submit(client, batch_body(origin.url("/bucket/in.wav"), priority=0)) for _ in range(6)]

    def waiting(order: list[str]) -> dict[str, int]:
        told = {t: client.get(f"/v3/pic/ecr/result/{t}", headers=AUTH).json()["data"] for t in order}
        return {t: int(d["wait_time"]) for t, d in told.items() if d["status"] == "1"}

    # the running tasks' rest is re-estimated between one request and the next (a cluster's tasks
    # start and end meanwhile), so the queue is asked in its order and then in reverse: whichever
    # way the estimates drift, one of the two passes asked each pair on the same side of it
    forward, backward = waiting(tasks), waiting(tasks[::-1])
    assert all(w >= 1 for w in [*forward.values(), *backward.values()])
    both = [t for t in tasks if t in forward and t in backward]
    assert len(both) >= 2, (forward, backward)  # two workers, six tasks: some wait through both passes
    for i, a in enumerate(both):  # later in the queue: later done
        for b in both[i + 1 :]:
            assert forward[a] <= forward[b] or backward[a] <= backward[b], (forward, backward)
    for t in tasks:
        assert poll(client, t)["status"] == "3"


def test_wondershare_file_time_disagreement_is_a_note_not_a_failure(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    body = batch_body(origin.url("/bucket/in.wav"))
    body["file_info"]["file_time"] = 168
    data = poll(client, submit(client, body))
    assert data["status"] == "3"
    assert "file_time" in data["reason"]
    assert "168" in data["reason"]


def test_wondershare_file_ext_that_is_not_the_files_format_is_a_note(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    """The file is read by its content; a declared ``file_ext`` that names the other format is said."""
    body = batch_body(origin.url("/bucket/in.wav"))
    body["file_info"]["file_ext"] = "mp3"
    data = poll(client, submit(client, body))
    assert data["status"] == "3", data
    assert "file_info.file_ext says mp3 but the file is WAV; it was read as WAV." in data["reason"]


@pytest.mark.parametrize(
    ("link", "info", "words"),
    [
        ("/bucket/changed.wav", {}, "MD5"),
        ("/bucket/in.wav", {"file_size": len(WAV) - 10}, "larger than the declared"),
        ("/bucket/in.wav", {"file_size": len(WAV) + 10}, "bytes, not the declared"),
        ("/bucket/page.wav", "page", "MP3 or WAV"),
    ],
)
def test_wondershare_input_checks_fail_the_task_with_a_reason(
    client: httpx.Client, origin: LoopbackServer, link: str, info: dict[str, Any] | str, words: str
) -> None:
    body = batch_body(origin.url(link))
    if info == "page":
        page = b"<html>not audio</html>" * 10
        body["file_info"] = file_info(page)
    else:
        assert isinstance(info, dict)
        body["file_info"] = {**body["file_info"], **info}
    data = poll(client, submit(client, body))
    assert data["status"] == "4", data
    assert words in data["reason"]
    assert data["voice_result"] == ""
    if words in ("MD5",) or "declared" in words:
        assert "changed in the bucket" in data["reason"]


def _drop(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"detection_mult": 5.9}, "detection_mult"),
        ({"detection_mult": 10.5}, "detection_mult"),
        ({"detection_mult": "8"}, "detection_mult"),
        ({"click_len": 4}, "click_len"),
        ({"click_len": 31}, "click_len"),
        ({"click_len": 10.5}, "click_len"),
        ({"priority": -1}, "priority"),
        ({"priority": 10}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": "1"}, "priority"),
        ({"click_len": "10"}, "click_len"),
        ({"file_ext": "flac"}, "file_ext"),
        ({"file_link": "ftp://127.0.0.1/x.wav"}, "file_link"),
        ({"file_info": {"file_size": 1, "file_md5": "xyz", "file_time": 1, "file_ext": "wav"}}, "file_md5"),
        (
            {"file_info": {"file_size": 1, "file_md5": "0" * 32, "file_time": 1, "file_ext": "ogg"}},
            "file_info.file_ext",
        ),
        ({"file_info": {"file_size": 0, "file_md5": "0" * 32, "file_time": 1, "file_ext": "wav"}}, "file_size"),
        ({"file_info": {"file_size": "160", "file_md5": "0" * 32, "file_time": 1, "file_ext": "wav"}}, "file_size"),
        ({"file_info": {"file_size": 160, "file_md5": "0" * 32, "file_time": "5", "file_ext": "wav"}}, "file_time"),
        ("-priority", "priority"),
        ("-file_link", "file_link"),
        ("-file_info", "file_info"),
    ],
)
def test_wondershare_bad_fields_are_named(client: httpx.Client, change: dict[str, Any] | str, field: str) -> None:
    body = batch_body("http://127.0.0.1:9/in.wav")
    body = _drop(body, change[1:]) if isinstance(change, str) else {**body, **change}
    r = client.post(BATCH, json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    out = r.json()
    assert out["code"] == 400
    assert field in out["msg"]
    assert out["data"] == {}


def test_wondershare_defaults_for_detection_mult_and_click_len(client: httpx.Client, origin: LoopbackServer) -> None:
    body = _drop(_drop(batch_body(origin.url("/bucket/in.wav")), "detection_mult"), "click_len")
    assert poll(client, submit(client, body))["status"] == "3"


def test_wondershare_size_limit_of_the_doc(client: httpx.Client) -> None:
    body = batch_body("http://127.0.0.1:9/in.wav")
    body["file_info"]["file_size"] = 51 * 1024 * 1024
    r = client.post(BATCH, json=body, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["code"] == 413
    assert "file_size" in r.json()["msg"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"app-1:wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"nobody:secret-1").decode()},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer secret-1"},
    ],
)
def test_wondershare_wrong_credentials_are_401(client: httpx.Client, headers: dict[str, str]) -> None:
    for method, path in (("POST", BATCH), ("GET", "/v3/pic/ecr/result/00000000-0000-0000-0000-000000000000")):
        r = client.request(method, path, json=batch_body("http://127.0.0.1:9/x.wav"), headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["code"] == 401
        assert r.json()["msg"]
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")  # RFC 7235: a 401 names its scheme


@pytest.mark.parametrize(
    "link", ["http://10.0.0.8/a.wav", "http://169.254.169.254/latest/meta-data", "http://192.168.1.1/x.mp3"]
)
def test_wondershare_private_network_link_is_refused(client: httpx.Client, link: str) -> None:
    r = client.post(BATCH, json=batch_body(link), headers=AUTH)
    assert r.status_code == 400
    assert r.json()["code"] == 400
    assert "refused" in r.json()["msg"]


@pytest.mark.parametrize("token", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_wondershare_non_finite_numbers_are_not_json(client: httpx.Client, token: str) -> None:
    """Python's parser takes ``Infinity`` and ``NaN`` and reads 1e400 as infinity; JSON has none of them."""
    body = batch_body("http://127.0.0.1:9/in.wav")
    raw = json.dumps(body).replace('"file_time": 4', f'"file_time": {token}')
    assert token in raw
    r = client.post(BATCH, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    out = r.json()
    assert out["code"] == 400
    assert "not valid JSON" in out["msg"]


def test_wondershare_absurd_file_time_keeps_wait_time_sane(client: httpx.Client, origin: LoopbackServer) -> None:
    """A declared duration no file of the declared size can have does not drive ``wait_time``."""
    body = batch_body(origin.url("/bucket/in.wav"))
    body["file_info"]["file_time"] = 1e308
    task = submit(client, body)
    r = client.get(f"/v3/pic/ecr/result/{task}", headers=AUTH)
    data = r.json()["data"]
    assert 0 <= int(data["wait_time"]) <= 3600
    done = poll(client, task)
    assert done["status"] == "3"
    assert "file_time" in done["reason"]


def _tone_wav(sr: int, channels: int, seconds: float = 1.5) -> tuple[bytes, np.ndarray]:
    """A chord with four clicks, as 16-bit WAV, and the click-free chord, ``(n, channels)``."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.1 / (k + 1) * np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 330.0, 550.0)))
    clean = np.tile(x[:, None], (1, channels)).astype(np.float32)
    clicked = clean.copy()
    for i in range(4):
        clicked[int((0.3 + 0.25 * i) * sr)] += 0.5
    buf = io.BytesIO()
    sf.write(buf, clicked, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue(), clean


def test_wondershare_high_rate_wav_is_repaired_at_its_own_rate(client: httpx.Client) -> None:
    """A 96 kHz stereo WAV: repaired and returned at 96 kHz, two channels (the doc limits only format and size)."""
    data, clean = _tone_wav(96_000, 2)
    with serve_http({"/bucket/hi.wav": Reply(body=data)}) as bucket:
        body = batch_body(bucket.url("/bucket/hi.wav"), data)
        body["file_info"] = file_info(data, file_time=1)
        done = poll(client, submit(client, body))
    assert done["status"] == "3", done
    out, sr = sf.read(io.BytesIO(httpx.get(done["voice_result"], timeout=30).content), dtype="float32", always_2d=True)
    assert (sr, out.shape) == (96_000, clean.shape)
    noisy, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert si_sdr_db(clean[:, 0], out[:, 0]) - si_sdr_db(clean[:, 0], noisy[:, 0]) >= 10.0


def test_wondershare_mp3_of_a_96_khz_wav_is_written_at_48_khz_and_says_so(client: httpx.Client) -> None:
    """The default output (mp3) of a 96 kHz recording: MP3 cannot carry 96 kHz, so the result is
    encoded at 48 kHz, repaired, and the reason notes it and how to keep 96 kHz."""
    data, clean = _tone_wav(96_000, 1)
    with serve_http({"/bucket/hi.wav": Reply(body=data)}) as bucket:
        body = batch_body(bucket.url("/bucket/hi.wav"), data)
        del body["file_ext"]  # the doc's default output: mp3
        body["file_info"] = file_info(data, file_time=1.5)
        done = poll(client, submit(client, body))
    assert done["status"] == "3", done
    assert done["reason"] == (
        "note: MP3 cannot carry 96000 Hz audio: the output is encoded at 48000 Hz; ask for wav to keep 96000 Hz."
    )
    out, sr = sf.read(io.BytesIO(httpx.get(done["voice_result"], timeout=30).content), dtype="float32", always_2d=True)
    assert sr == 48_000
    # the clicks are gone: at 48 kHz, the clicked input's and the output's error against the clean chord
    ref = signal.resample_poly(clean[:, 0], 1, 2)
    noisy = signal.resample_poly(sf.read(io.BytesIO(data), dtype="float32")[0], 1, 2)
    lag = int(np.argmax(np.correlate(out[:4800, 0], ref[:4800], mode="full"))) - 4799  # the encoder's delay
    out_al = out[max(lag, 0) :, 0][: ref.size - 2400]
    assert si_sdr_db(ref[: out_al.size], out_al) - si_sdr_db(ref[: out_al.size], noisy[: out_al.size]) >= 6.0


@pytest.mark.parametrize(("sr", "channels", "words"), [(16_000, 6, "the audio has 6")])
def test_wondershare_mp3_it_cannot_write_names_only_wav(
    client: httpx.Client, sr: int, channels: int, words: str
) -> None:
    """MP3 holds 2 channels; the reason suggests the one other format this API offers."""
    data, _ = _tone_wav(sr, channels, 1.5)
    with serve_http({"/bucket/x.wav": Reply(body=data)}) as bucket:
        body = batch_body(bucket.url("/bucket/x.wav"), data, file_ext="mp3")
        body["file_info"] = file_info(data, file_time=1)
        done = poll(client, submit(client, body))
    assert done["status"] == "4", done
    assert words in done["reason"]
    assert "ask for wav." in done["reason"]
    assert "flac" not in done["reason"]
    assert "m4a" not in done["reason"]


def test_wondershare_unknown_task_is_404(client: httpx.Client) -> None:
    r = client.get("/v3/pic/ecr/result/no-such-task", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["code"] == 404
    assert client.get("/v3/pic/ecr/file/no-such-task.mp3").status_code == 404


def test_wondershare_another_customers_task_is_answered_as_unknown(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    """A key cannot tell another key's task from one that does not exist: the same 404, the same words."""
    task = submit(client, batch_body(origin.url("/bucket/in.wav")))
    theirs = client.get(f"/v3/pic/ecr/result/{task}", headers=OTHER_AUTH)
    unknown = client.get(f"/v3/pic/ecr/result/{task[:-1]}{'0' if task[-1] != '0' else '1'}", headers=OTHER_AUTH)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["code"] == 404
    assert theirs.json()["msg"].replace(task, "<id>") == unknown.json()["msg"].replace(
        unknown.url.path.rsplit("/", 1)[1], "<id>"
    )
    assert client.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).status_code == 200  # its owner still sees it


NATIVE = {"x-api-key": f"{APP_KEY}:{APP_SECRET}"}


def _busy_workers(client: httpx.Client) -> list[str]:
    """Two native click-repair jobs of 600 s of the clicked signal (a few seconds of work), one per
    worker of the module's server, both running when this returns (so a task submitted next
    waits, whatever its priority). Their ids, to delete them."""
    long_wav = io.BytesIO()
    sf.write(long_wav, np.tile(CLICKED, 150), SR, format="WAV", subtype="PCM_16")
    up = client.post("/api/v1/files", files={"file": ("long.wav", long_wav.getvalue())}, headers=NATIVE)
    blockers = [
        client.post(
            "/api/v1/jobs",
            json={"input": {"file_id": up.json()["file_id"]}, "steps": [{"name": "declick"}]},
            headers=NATIVE,
        ).json()["id"]
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    for b in blockers:
        while client.get(f"/api/v1/jobs/{b}", headers=NATIVE).json()["state"] != "in_progress":
            assert time.monotonic() < deadline, "the blocking jobs never started"
            time.sleep(0.02)
    return blockers


def test_wondershare_closed_task_is_status_5(client: httpx.Client, origin: LoopbackServer) -> None:
    # native jobs keep both workers busy, so the task waits; cancelling it closes it
    blockers = _busy_workers(client)
    task = submit(client, batch_body(origin.url("/bucket/in.wav"), priority=0))
    assert client.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).json()["data"]["status"] == "1"
    # the same job core: the task is cancelled on the native API with the same Basic credentials
    assert client.delete(f"/api/v1/jobs/{task}", headers=AUTH).status_code == 200
    data = poll(client, task)
    assert data["status"] == "5"
    assert data["reason"]
    for b in blockers:
        client.delete(f"/api/v1/jobs/{b}", headers=NATIVE)


def test_wondershare_task_whose_result_was_deleted_is_status_4(client: httpx.Client, origin: LoopbackServer) -> None:
    """After ``DELETE /api/v1/jobs/{id}/result`` the task still read "3" (complete) with a
    voice_result that answered 404: a client written from the doc would download the error (an
    audit). It reads "4" with a reason that says why, and no link."""
    task = submit(client, batch_body(origin.url("/bucket/in.wav")))
    done = poll(client, task)
    assert done["status"] == "3", done
    assert client.delete(f"/api/v1/jobs/{task}/result", headers=AUTH).status_code == 200
    data = client.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).json()["data"]
    assert data == {"status": "4", "wait_time": "0", "voice_result": "", "reason": data["reason"]}
    assert "deleted at its owner's request" in data["reason"]
    with httpx.Client(timeout=30) as anonymous:
        assert anonymous.get(done["voice_result"]).status_code == 404


def test_wondershare_timed_out_task_is_status_6(tmp_path: Path, origin: LoopbackServer) -> None:
    long_wav = io.BytesIO()
    sf.write(long_wav, np.tile(CLICKED, 60), SR, format="WAV", subtype="PCM_16")
    data_bytes = long_wav.getvalue()
    settings = Settings(
        data_dir=tmp_path,
        workers=1,
        api_keys=(f"{APP_KEY}:{APP_SECRET}",),
        url_allowlist=("127.0.0.1",),
        job_timeout_s=0.5,
        block_seconds=0.5,
        progress_interval_s=0,
    )
    with (
        serve_http({"/long.wav": Reply(body=data_bytes)}) as long_origin,
        run_server(settings) as hush,
        httpx.Client(base_url=hush.base, timeout=30) as c,
    ):
        task = submit(c, batch_body(long_origin.url("/long.wav"), data=data_bytes))
        data = poll(c, task)
    assert data["status"] == "6", data
    assert "longer than" in data["reason"]


def test_wondershare_routes_are_documented(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v3/pic/ecr/batch" in paths
    assert "/v3/pic/ecr/result/{task_id}" in paths
    assert paths["/v3/pic/ecr/batch"]["post"]["security"] == [{"basic": []}]
    assert paths["/v3/pic/ecr/result/{task_id}"]["get"]["security"] == [{"basic": []}]
    # voice_result is fetched without credentials, and the document says so
    assert paths["/v3/pic/ecr/file/{name}"]["get"]["security"] == []


def test_wondershare_click_len_is_described_as_the_engine_uses_it(client: httpx.Client) -> None:
    """``click_len`` bounds what counts as a click (interpolation stops at 3 ms, longer clicks are
    attenuated), so the document must not call it the longest click interpolated."""
    import dsp.declick

    batch = client.get("/openapi.json").json()["paths"]["/v3/pic/ecr/batch"]["post"]
    description = batch["requestBody"]["content"]["application/json"]["schema"]["properties"]["click_len"][
        "description"
    ]
    assert "longest event treated as a click" in description
    assert "longest event treated as a click" in (dsp.declick.__doc__ or "")
    assert "interpolation" not in description


def test_wondershare_cut_off_input_is_said_in_reason(client: httpx.Client) -> None:
    """A WAV whose data ends before its header says: the audio present is processed, and the
    completed task's ``reason`` says the file looks truncated (the result is shorter than the
    file claims). ``file_info`` describes the bytes as they are, so every check passes."""
    rng = np.random.default_rng(5)
    buf = io.BytesIO()
    sf.write(buf, (0.1 * rng.standard_normal(10 * SR)).astype(np.float32), SR, format="WAV", subtype="PCM_16")
    cut = buf.getvalue()[: len(buf.getvalue()) // 3]  # the header still declares 10 s
    present_s = (len(cut) - 44) / 2 / SR
    with serve_http({"/bucket/cut.wav": Reply(body=cut)}) as bucket:
        body = batch_body(bucket.url("/bucket/cut.wav"), cut)
        body["file_info"] = file_info(cut, file_time=round(present_s))  # the length a player shows
        done = poll(client, submit(client, body))
    assert done["status"] == "3", done
    assert "truncated" in done["reason"]
    assert "10.000 s" in done["reason"]
    assert f"{present_s:.3f} s" in done["reason"]
    out, _ = sf.read(io.BytesIO(httpx.get(done["voice_result"], timeout=30).content), dtype="float32")
    assert abs(out.size / SR - present_s) < 0.01


def test_wondershare_null_takes_the_documented_default(client: httpx.Client, origin: LoopbackServer) -> None:
    """``null`` for a field the doc gives a default (output ``file_ext`` mp3, ``detection_mult`` 8.0,
    ``click_len`` 10) is that default, as when the field is left out; ``null`` for a field with no
    default is refused as missing."""
    body = batch_body(origin.url("/bucket/in.wav"), file_ext=None, detection_mult=None, click_len=None)
    done = poll(client, submit(client, body))
    assert done["status"] == "3", done
    assert done["voice_result"].endswith(".mp3")
    r = client.post(BATCH, json=batch_body(origin.url("/bucket/in.wav"), priority=None), headers=AUTH)
    assert r.status_code == 400
    assert r.json()["msg"] == "priority is required"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"detection_mult": 5.9}, "detection_mult must be a number from 6.0 to 10.0, not 5.9"),
        ({"detection_mult": 10.5}, "detection_mult must be a number from 6.0 to 10.0, not 10.5"),
        ({"click_len": 31}, "click_len must be an integer from 5 to 30, not 31"),
        ({"priority": 10}, "priority must be an integer from 0 to 9, not 10"),
        ({"file_link": 5}, "file_link must be a string"),
        ({"file_link": ""}, "file_link must be an http(s) link to the audio file"),
        ({"file_info": "x"}, "file_info must be an object with file_size, file_md5, file_time and file_ext"),
        ({"file_info": None}, "file_info is required"),
        ({"click_len": "10"}, 'click_len must be an integer from 5 to 30, not "10"'),
        ({"file_info": {"file_size": 1, "file_md5": 5, "file_time": 1, "file_ext": "wav"}}, "file_info.file_md5 must"),
    ],
)
def test_wondershare_bad_field_messages_speak_the_doc(client: httpx.Client, change: dict[str, Any], words: str) -> None:
    """``msg`` names the field with the doc's range and the value sent, not the validator's wording."""
    r = client.post(BATCH, json={**batch_body("http://127.0.0.1:9/in.wav"), **change}, headers=AUTH)
    assert r.status_code == 400, r.text
    msg = r.json()["msg"]
    assert words in msg
    assert "Input should" not in msg
    assert "Wondershare" not in msg


def test_wondershare_body_that_is_not_json_names_the_content_type(client: httpx.Client) -> None:
    """A form post (``data=`` where ``json=`` was meant) is told the body must be JSON."""
    r = client.post(BATCH, data={"file_link": "http://127.0.0.1:9/in.wav", "priority": "1"}, headers=AUTH)
    assert r.status_code == 400
    msg = r.json()["msg"]
    assert "application/json" in msg
    assert "application/x-www-form-urlencoded" in msg


def test_wondershare_priority_9_is_served_first(client: httpx.Client, origin: LoopbackServer) -> None:
    """The doc gives ``priority`` only as [0, 9]: 9 goes ahead of 0 in the queue and in ``wait_time``."""
    blockers = _busy_workers(client)  # the tasks below wait
    try:
        low = [submit(client, batch_body(origin.url("/bucket/in.wav"), priority=0)) for _ in range(3)]
        high = submit(client, batch_body(origin.url("/bucket/in.wav"), priority=9))
        ahead = {t: client.get(f"/api/v1/jobs/{t}", headers=AUTH).json()["jobs_ahead"] for t in [*low, high]}

        def wait_of(task: str) -> dict[str, str]:
            return dict(client.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).json()["data"])

        # the blockers' rest is re-estimated from their pace between one request and the next, so
        # the priority task is asked before and after the others: whichever way the estimates
        # drift meanwhile, one of its two answers was given on the same side of the drift
        first = wait_of(high)
        waits = {t: wait_of(t) for t in low}
        last = wait_of(high)
        assert all(w["status"] == "1" for w in [first, *waits.values(), last]), (first, waits, last)
        assert ahead[high] == 0  # ahead of the earlier tasks (and of any blocker not started yet)
        assert ahead[low[0]] < ahead[low[1]] < ahead[low[2]]
        # not strictly less: behind the blockers' rest, with no rate measured, all may be told
        # the 5 s cap (the strict order of the estimates: tests/app/test_seams.py)
        told = min(int(first["wait_time"]), int(last["wait_time"]))
        assert all(told <= int(waits[t]["wait_time"]) for t in low), (first, waits, last)
    finally:
        for b in blockers:
            client.delete(f"/api/v1/jobs/{b}", headers=NATIVE)
    for t in [*low, high]:
        assert poll(client, t)["status"] == "3"


@pytest.mark.parametrize(
    "change",
    [
        {"detection_mult": 6.0, "click_len": 5, "priority": 0},
        {"detection_mult": 10.0, "click_len": 30, "priority": 9},
        {"detection_mult": 6, "click_len": 30.0, "priority": 9.0},  # whole numbers written either way
    ],
)
def test_wondershare_range_ends_of_the_doc_run(
    client: httpx.Client, origin: LoopbackServer, change: dict[str, Any]
) -> None:
    """The doc's ranges are closed: each end is taken and the task completes with it."""
    assert poll(client, submit(client, batch_body(origin.url("/bucket/in.wav"), **change)))["status"] == "3"


def test_wondershare_fields_the_doc_does_not_name_are_ignored(client: httpx.Client, origin: LoopbackServer) -> None:
    """A client's own fields (top level or in ``file_info``) do not make the request fail."""
    body = batch_body(origin.url("/bucket/in.wav"), callback="https://example.com/hook", meta={"user": 7})
    body["file_info"]["file_name"] = "in.wav"
    assert poll(client, submit(client, body))["status"] == "3"


def test_wondershare_wait_time_is_short_until_a_rate_is_measured(tmp_path: Path) -> None:
    """A fresh server knows no click-removal rate: its default one can be several times off (a
    client that waited it would get its result late), so ``wait_time`` asks again within 5 s until
    a task long enough to time has finished (the service's side: ``tests/app/test_seams.py``)."""
    long_wav = io.BytesIO()
    sf.write(long_wav, np.tile(CLICKED, 75), SR, format="WAV", subtype="PCM_16")  # 300 s
    data = long_wav.getvalue()
    settings = Settings(
        data_dir=tmp_path, workers=1, api_keys=(f"{APP_KEY}:{APP_SECRET}",), url_allowlist=("127.0.0.1",)
    )
    with (
        serve_http({"/long.wav": Reply(body=data)}) as bucket,
        run_server(settings) as hush,
        httpx.Client(base_url=hush.base, timeout=30) as c,
    ):
        body = batch_body(bucket.url("/long.wav"), data)
        body["file_info"] = file_info(data, file_time=300)
        task = submit(c, body)
        told = c.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).json()["data"]
        assert told["status"] in ("1", "2")
        assert 1 <= int(told["wait_time"]) <= 5, told  # the default rate says 16 s (0.5 + 0.05 x 300)
        assert poll(c, task)["status"] == "3"


def test_wondershare_a_task_behind_running_ones_waits_for_their_rest(
    client: httpx.Client, origin: LoopbackServer
) -> None:
    """Every job slot busy with a 200 s task: a 4 s task queued behind them is told to come back
    when one is likely done, not ``"1"`` (its own run alone), so a client that obeys
    ``wait_time`` does not poll every second meanwhile."""
    long_wav = io.BytesIO()
    sf.write(long_wav, np.tile(CLICKED, 50), SR, format="WAV", subtype="PCM_16")  # 200 s
    data = long_wav.getvalue()
    slots = client.get("/readyz").json()["workers"]["slots"]
    with serve_http({"/long.wav": Reply(body=data)}) as bucket:
        body = batch_body(bucket.url("/long.wav"), data)
        body["file_info"] = file_info(data, file_time=200)
        running = [submit(client, body) for _ in range(slots)]
        deadline = time.monotonic() + 60
        for t in running:
            while client.get(f"/v3/pic/ecr/result/{t}", headers=AUTH).json()["data"]["status"] != "2":
                assert time.monotonic() < deadline, "the long tasks never started"
                time.sleep(0.05)
        short = submit(client, batch_body(origin.url("/bucket/in.wav")))
        told = client.get(f"/v3/pic/ecr/result/{short}", headers=AUTH).json()["data"]
        asked = time.time()
        assert told["status"] == "1", told
        for t in running:
            assert poll(client, t)["status"] == "3"
    first_free = min(client.get(f"/api/v1/jobs/{t}", headers=AUTH).json()["finished_at"] for t in running)
    assert first_free - asked > 2.5  # the long tasks really had seconds to go
    assert 2 <= int(told["wait_time"]) <= 60, told  # its own run alone says "1"
    assert poll(client, short)["status"] == "3"
