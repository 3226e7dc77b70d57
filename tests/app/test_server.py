"""The embedded server end to end: real ``hush serve`` processes, real files, real sockets."""

from __future__ import annotations

import contextlib
import io
import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.settings import Settings
from app.webhooks import verify_signature
from tests._hush import HushProcess
from tests._services import BACKENDS, cluster_backend, settings_env
from tests.app._http_fixtures import Reply, serve_http
from tests.app._media_fixtures import raw_wav_bytes
from tests.signals import make_speech_like, make_white

KEY = "test-key-1"
H = {"x-api-key": KEY}


def wav_bytes(audio: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio.T if audio.ndim == 2 else audio, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def write_long_wav(
    path: Path, sr: int, seconds: float, rng: np.random.Generator, fmt: str = "WAV", subtype: str = "PCM_16"
) -> None:
    """A long noise file written in blocks (never held in memory); Ogg Vorbis packs 6x the audio of PCM."""
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, format=fmt, subtype=subtype) as f:
        left = int(seconds * sr)
        while left:
            n = min(left, sr * 60)
            f.write(make_white(rng, n, -30.0))
            left -= n


def upload(client: httpx.Client, data: bytes, name: str = "in.wav") -> str:
    r = client.post("/api/v1/files", files={"file": (name, data)}, headers=H)
    assert r.status_code == 201, r.text
    return str(r.json()["file_id"])


def submit(client: httpx.Client, file_id: str, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, **body}, headers=H)
    assert r.status_code == 202, r.text
    return dict(r.json())


def wait_state(client: httpx.Client, job_id: str, states: set[str], timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=H).json()
        if job["state"] in states:
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HushProcess]:
    """The shared server of this module: embedded, and again on the whole cluster (PostgreSQL, S3,
    Redis pub/sub and a Celery worker)."""
    data = tmp_path_factory.mktemp("hush")
    with contextlib.ExitStack() as stack:
        proc = HushProcess(data, workers=1, api_keys=KEY, max_input_mb=2)
        if request.param == "cluster":
            settings = Settings(data_dir=data, workers=1, api_keys=(KEY,), max_input_mb=2)
            moved = stack.enter_context(cluster_backend(settings, request.getfixturevalue("s3_server")))
            proc.env.update(settings_env(moved))
        yield stack.enter_context(proc)


@pytest.fixture
def client(server: HushProcess) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_server_health_and_openapi_list_every_route(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/files", "/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{job_id}/result"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_server_readyz_counts_the_workers_and_jobs_carry_no_note(
    client: httpx.Client, rng: np.random.Generator
) -> None:
    """Embedded, the pool of one worker process; on the cluster, the one ``hush worker``: counted,
    ready, and a job says nothing about missing workers."""
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"store": "ok", "blobs": "ok", "workers": "ok"},
        "workers": {"alive": 1, "slots": 1},
    }
    job = submit(client, upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[])
    assert job["message"] is None
    done = wait_state(client, job["id"], {"succeeded", "failed"})
    assert (done["state"], done["message"]) == ("succeeded", None)


def test_server_requires_key(client: httpx.Client) -> None:
    r = client.get("/api/v1/steps")
    assert r.status_code == 401
    assert r.json()["code"] == "auth.invalid"
    assert "Authorization: Bearer KEY" in r.text  # says where the key goes
    assert client.get("/api/v1/steps", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_server_405_lists_every_allowed_method_in_each_envelope(client: httpx.Client) -> None:
    # RFC 9110 section 15.5.6: a 405 carries Allow. GET and DELETE of a job are two routes.
    r = client.request("TRACE", "/api/v1/jobs/x", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "DELETE"}
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "method_not_allowed"  # (was the generic "error")
    assert r.json()["title"].startswith("TRACE is not served at /api/v1/jobs/x; it takes ")
    r = client.put("/v1/remove-noise/x/status")  # Audo: its own envelope, same header
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]
    assert "detail" in r.json()
    r = client.request("TRACE", "/audio/generic/api/v1/sync/denoise")  # DeepAffects
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["code"] == 405


def test_a_body_that_is_not_a_json_object_is_named_so(client: httpx.Client) -> None:
    """A JSON array or a form-encoded body got "Input should be a valid dictionary or object to
    extract fields from", naming neither the body nor what to send (audit)."""
    for content, ctype in (
        (b'[{"input": {"url": "http://127.0.0.1/a.wav"}}]', "application/json"),
        (b"input=a.wav&steps=denoise", "application/x-www-form-urlencoded"),
    ):
        r = client.post("/api/v1/jobs", content=content, headers={**H, "content-type": ctype})
        assert r.status_code == 400, r.text
        assert "the body must be a JSON object" in r.json()["title"], r.json()
        assert "Content-Type: application/json" in r.json()["title"]


def test_server_empty_input_reference_is_refused_at_submit(client: httpx.Client) -> None:
    # an empty file_id or url used to count as "given" and make a job with no input, failed later
    headers = {"Authorization": f"Bearer {KEY}"}
    for bad in ({"file_id": ""}, {"url": ""}, {}, {"file_id": "a", "url": "http://127.0.0.1/x"}):
        r = client.post("/api/v1/jobs", json={"input": bad}, headers=headers)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_server_openapi_documents_what_the_server_sends(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    job = paths["/api/v1/jobs/{job_id}"]["get"]["responses"]
    assert list(job["404"]["content"]) == ["application/problem+json"]
    assert list(paths["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    status = paths["/v1/remove-noise/{job_id}/status"]["get"]["responses"]
    assert status["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AudoError"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # no route answers FastAPI's 422 body
    webhook = next(
        p for p in paths["/audio/generic/api/v1/async/denoise"]["post"]["parameters"] if p["name"] == "webhook"
    )
    assert webhook["required"] is True
    assert webhook["schema"]["minLength"] == 1
    assert "x-hush-required" not in json.dumps(doc)


def test_server_job_round_trip_reports_every_step(client: httpx.Client, rng: np.random.Generator) -> None:
    sr = 22050
    speech, _ = make_speech_like(rng, sr, 3.0)
    stereo = np.stack([speech, 0.5 * speech])
    file_id = upload(client, wav_bytes(stereo, sr, "PCM_24"))
    job = submit(client, file_id, steps=[{"name": "loudness", "params": {"target_lufs": -20}}])
    done = wait_state(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    report = done["result"]["steps"]
    assert report[0]["step"] == "loudness"
    assert report[0]["applied"] is True
    r = client.get(done["result_url"], headers=H)
    assert r.status_code == 200
    head = client.head(done["result_url"], headers=H)  # the headers and length, no body
    assert (head.status_code, head.content) == (200, b"")
    assert int(head.headers["content-length"]) == len(r.content)
    out, out_sr = sf.read(io.BytesIO(r.content), always_2d=True)
    info = sf.info(io.BytesIO(r.content))
    assert out_sr == sr
    assert out.shape == (stereo.shape[1], 2)
    assert info.subtype == "PCM_24"  # the input's sample format is kept


def test_server_priority_9_overtakes_priority_0(client: httpx.Client, rng: np.random.Generator, tmp_path: Path) -> None:
    # the blocker must still be running while the other two are queued behind it: 600 s of audio
    # (a few seconds of work) in Ogg Vorbis, to stay under the test server's 2 MiB upload limit
    long_path = tmp_path / "long.ogg"
    write_long_wav(long_path, 8000, 600.0, rng, fmt="OGG", subtype="VORBIS")
    assert long_path.stat().st_size < 2 * 1024 * 1024
    blocker = upload(client, long_path.read_bytes(), name="long.ogg")
    short = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    first = submit(client, blocker, steps=[{"name": "denoise"}, {"name": "loudness"}], priority=5)
    wait_state(client, first["id"], {"in_progress"})
    low = submit(client, short, steps=[], priority=0)
    high = submit(client, short, steps=[], priority=9)
    assert client.get(f"/api/v1/jobs/{low['id']}", headers=H).json()["jobs_ahead"] == 1
    lo = wait_state(client, low["id"], {"succeeded"})
    hi = wait_state(client, high["id"], {"succeeded"})
    assert hi["started_at"] < lo["started_at"]


def test_a_request_id_with_control_characters_is_refused(client: httpx.Client, rng: np.random.Generator) -> None:
    """A NUL or a line break in a request_id was stored and echoed to the webhook (audit)."""
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    for bad in ("a\x00b", "line\nbreak", "tab\there", "zero\u200bwidth"):
        r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "request_id": bad}, headers=H)
        assert r.status_code == 400, (bad, r.text)
        assert "request_id holds a control character" in r.json()["title"]
    for good in ("a/b c", "ünïcode-é", "550e8400-e29b-41d4-a716-446655440000"):
        r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "request_id": good}, headers=H)
        assert r.status_code == 202, (good, r.text)


def test_server_duplicate_request_id_returns_same_job(client: httpx.Client, rng: np.random.Generator) -> None:
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    a = submit(client, file_id, steps=[], request_id="same-request")
    b = submit(client, file_id, steps=[], request_id="same-request")
    assert a["id"] == b["id"]
    # another request under the same key is refused, not answered with the first job
    other = upload(client, wav_bytes(make_white(rng, 8000, -20.0), 8000))
    for body in (
        {"input": {"file_id": other}, "steps": []},
        {"input": {"file_id": file_id}, "steps": [{"name": "vad"}]},
        {"input": {"file_id": file_id}, "steps": [], "priority": 9},
    ):
        r = client.post("/api/v1/jobs", json={**body, "request_id": "same-request"}, headers=H)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "conflict"
        assert a["id"] in r.json()["title"]
        assert "request_id" in r.json()["hint"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 400, "input.empty"),
        (b"this is certainly not audio, just some text" * 10, 415, "input.unsupported"),
        (None, 400, "input.corrupt"),  # a WAV cut off before its audio, built below
        (b"RIFF" + b"\0" * (3 * 1024 * 1024), 413, "input.too_large"),
        (raw_wav_bytes(tag=1, channels=1, sr=16000, bits=0, data=bytes(3200)), 415, "input.unsupported"),
        (raw_wav_bytes(tag=3, channels=1, sr=16000, bits=16, data=bytes(3200)), 415, "input.unsupported"),
        (raw_wav_bytes(tag=1, channels=1, sr=768000, bits=16, data=bytes(3200)), 415, "input.unsupported"),
        (raw_wav_bytes(tag=1, channels=1, sr=1, bits=16, data=bytes(3200)), 415, "input.unsupported"),
    ],
)
def test_server_bad_uploads_get_clear_errors_and_server_keeps_serving(
    client: httpx.Client, rng: np.random.Generator, payload: bytes | None, status: int, code: str
) -> None:
    if payload is None:
        payload = wav_bytes(make_white(rng, 16000, -20.0), 16000)[:40]
    r = client.post("/api/v1/files", files={"file": ("x.wav", payload)}, headers=H)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert r.json()["title"]
    assert client.get("/healthz").status_code == 200


def test_server_refuses_private_urls(client: httpx.Client) -> None:
    for url in ("http://10.0.0.1/a.wav", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
        r = client.post("/api/v1/jobs", json={"input": {"url": url}, "steps": []}, headers=H)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "fetch.refused"
        assert r.json()["title"].startswith("the input URL: refused URL")


def test_a_refused_url_names_which_of_the_jobs_urls_it_is(client: httpx.Client, rng: np.random.Generator) -> None:
    """The input, webhook and upload URLs were refused in the same words, so a client could not
    tell which field to fix (audit)."""
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    for field, said in (("webhook_url", "the webhook URL"), ("put_url", "the URL to upload the result to")):
        r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, field: "not a url"}, headers=H)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "fetch.refused"
        assert r.json()["title"].startswith(f"{said}: refused URL"), r.json()


def test_server_unknown_step_is_refused_not_pretended(client: httpx.Client, rng: np.random.Generator) -> None:
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    r = client.post(
        "/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": [{"name": "studio_sound"}]}, headers=H
    )
    assert r.status_code == 400
    assert "studio_sound" in r.json()["title"]
    assert "declick" in r.json()["title"]  # the answer lists the steps there are


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output": {"container": "ogg"}}, "output"),  # output_container, misplaced
        ({"priorty": 9}, "priorty"),
        ({"input": {"url": "http://127.0.0.1:9/a.wav", "sample_rate": 8000}}, "input.sample_rate"),
        ({"steps": [{"name": "denoise", "amount": 10}]}, "steps.0.amount"),  # beside params: ran at 100
        ({"steps": [{"name": "denoise", "parms": {"amount": 10}}]}, "steps.0.parms"),
    ],
)
def test_server_unknown_fields_are_refused_not_dropped(client: httpx.Client, body: dict, field: str) -> None:
    """A misspelt or misplaced option is named in a 400, as an unknown step parameter is."""
    full = {"input": {"url": "http://127.0.0.1:9/a.wav"}, **body}
    r = client.post("/api/v1/jobs", json=full, headers=H)
    assert r.status_code == 400, r.text
    assert f"{field}: not a field of this request" in r.json()["title"]


def test_server_unknown_output_format_is_refused_at_submit(client: httpx.Client) -> None:
    # it was accepted, and the job failed later
    r = client.post(
        "/api/v1/jobs", json={"input": {"url": "http://127.0.0.1:9/a.wav"}, "output_container": "xyz"}, headers=H
    )
    assert r.status_code == 400, r.text
    assert "Unknown output format 'xyz'" in r.json()["title"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"amount": [[1]]}, "step 'denoise': amount takes a number, not [[1]]"),
        ({"amount": "lots"}, "step 'denoise': amount takes a number, not \"lots\""),
        ({"channels": 3}, "channels must be 'linked' or 'each'"),
        # true was read as 1 (a compressor at ratio 1 ran and said nothing), "80" as 80
        ({"amount": True}, "step 'denoise': amount takes a number, not true"),
        ({"amount": "80"}, "step 'denoise': amount takes a number, not \"80\""),
        ({"name": "compress", "ratio": True}, "step 'compress': ratio takes a number, not true"),
        ({"name": "fillers", "min_confidence": False}, "step 'fillers': min_confidence takes a number, not false"),
        # both null was Python's words; a number for the list was "'int' object is not iterable"
        (
            {"name": "declick", "detection_mult": None, "click_len": None},
            "step 'declick': detection_mult takes a number, not null",
        ),
        ({"name": "dehum", "harmonics": 5}, "step 'dehum': harmonics takes a list of at most 100 whole numbers"),
        ({"name": "dehum", "harmonics": ""}, "step 'dehum': harmonics takes a list of at most 100 whole numbers"),
    ],
)
def test_server_a_value_of_the_wrong_type_names_its_parameter(client: httpx.Client, params: dict, says: str) -> None:
    # it was Python's own words: "float() argument must be a string or a real number, not 'list'"
    params = dict(params)
    name = params.pop("name", "denoise")
    body = {"input": {"url": "http://127.0.0.1:9/a.wav"}, "steps": [{"name": name, "params": params}]}
    r = client.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 400, r.text
    assert r.json()["title"].startswith(says) or says in r.json()["title"], r.json()


def test_server_json_nested_past_the_stack_says_so(client: httpx.Client) -> None:
    # a valid 4 kB JSON nested 1000 deep was "There was an error parsing the body", code "error"
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    r = client.post("/api/v1/jobs", content=deep, headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["title"] == "the JSON body is nested too deeply to be a request"
    assert r.json()["code"] == "input.parameter"


def test_server_json_body_over_the_native_limit_is_refused_while_streaming(client: httpx.Client) -> None:
    # a 300 MiB JSON body was read and parsed whole (about 1 GB), before its key was checked
    def body() -> Iterator[bytes]:
        yield b'{"input": {"url": "http://127.0.0.1:9/a.wav"}, "request_id": "'
        for _ in range(64):
            yield b"x" * (1 << 16)
        yield b'"}'

    for headers in (H, {}):
        r = client.post("/api/v1/jobs", content=body(), headers={**headers, "content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert "larger than 1 MiB" in r.json()["title"]
        # one hint, about what a JSON body should hold (it had two, one for a "shorter file")
        assert r.json()["hint"].startswith("send the audio as an upload to /api/v1/files"), r.json()


def test_server_headerless_pcm_is_uploaded_with_its_rate(client: httpx.Client, rng: np.random.Generator) -> None:
    # the upload had no way to give the rate, and always answered 415
    pcm = (make_white(rng, 16000, -20.0) * 32767).astype("<i2").tobytes()  # 2 s at 8 kHz
    r = client.post("/api/v1/files", files={"file": ("take.raw", pcm)}, headers=H)
    assert r.status_code == 415, r.text
    assert "pcm_sample_rate" in r.json()["title"]
    r = client.post("/api/v1/files", files={"file": ("take.raw", pcm)}, data={"pcm_sample_rate": "8000"}, headers=H)
    assert r.status_code == 201, r.text
    assert r.json()["info"]["container"] == "pcm"
    assert r.json()["info"]["duration_s"] == pytest.approx(2.0)
    job = submit(client, r.json()["file_id"], steps=[])
    done = wait_state(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    out, sr = sf.read(io.BytesIO(client.get(done["result_url"], headers=H).content))
    assert (sr, out.shape[0]) == (8000, 16000)


def test_a_finished_jobs_result_and_an_upload_can_be_deleted_before_they_expire(
    client: httpx.Client, rng: np.random.Generator
) -> None:
    """A user who wanted their audio gone had to wait for the retention: DELETE of a finished job
    changed nothing and uploads had no route (audit)."""
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    done = wait_state(client, submit(client, file_id, steps=[])["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    assert client.get(done["result_url"], headers=H).status_code == 200
    # cancelling a finished job still changes nothing (a late cancel must not lose the result)
    assert client.delete(f"/api/v1/jobs/{done['id']}", headers=H).json()["result_url"] == done["result_url"]
    r = client.delete(done["result_url"], headers=H)
    assert r.status_code == 200, r.text
    assert (r.json()["result_url"], r.json()["result"]["result_deleted"]) == (None, True)
    gone = client.get(done["result_url"], headers=H)
    assert gone.status_code == 404
    assert "deleted" in gone.json()["title"]
    assert client.get(f"/api/v1/jobs/{done['id']}", headers=H).json()["state"] == "succeeded"
    # the upload: gone at once, and a job naming it is refused
    assert client.delete(f"/api/v1/files/{file_id}", headers=H).status_code == 204
    assert client.delete(f"/api/v1/files/{file_id}", headers=H).status_code == 404
    r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}}, headers=H)
    assert r.status_code == 404, r.text


def test_server_downloads_answer_a_byte_range(client: httpx.Client, rng: np.random.Generator) -> None:
    # a Range was answered 200 with the whole file and no Accept-Ranges: a download could not
    # resume, and a player seeking in a long result read it from the start (a doc-only client audit)
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    done = wait_state(client, submit(client, file_id, steps=[])["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    whole = client.get(done["result_url"], headers=H)
    assert whole.headers["accept-ranges"] == "bytes"
    body, size = whole.content, len(whole.content)
    for asked, part in (("bytes=10-19", body[10:20]), ("bytes=-7", body[-7:]), (f"bytes={size - 3}-", body[-3:])):
        r = client.get(done["result_url"], headers={**H, "Range": asked})
        assert r.status_code == 206, (asked, r.text)
        assert r.content == part
        start = body.find(part, size - len(part) if asked != "bytes=10-19" else 10)
        assert r.headers["content-range"] == f"bytes {start}-{start + len(part) - 1}/{size}"
        assert int(r.headers["content-length"]) == len(part)
    r = client.get(done["result_url"], headers={**H, "Range": f"bytes={size}-"})
    assert (r.status_code, r.headers["content-range"]) == (416, f"bytes */{size}")
    for whole_again in ({"Range": "bytes=0-1,5-6"}, {"Range": "bytes=0-9", "If-Range": '"x"'}, {"Range": "lines=1-2"}):
        r = client.get(done["result_url"], headers={**H, **whole_again})
        assert (r.status_code, r.content) == (200, body)
    # a resume that checks the file is the same (If-Range with its ETag, as browsers send) gets its
    # part: with no validator sent, every such resume started from zero (audit)
    etag = whole.headers["etag"]
    assert etag.startswith('"')  # strong
    assert client.head(done["result_url"], headers=H).headers["etag"] == etag
    r = client.get(done["result_url"], headers={**H, "Range": "bytes=10-19", "If-Range": etag})
    assert (r.status_code, r.content, r.headers["etag"]) == (206, body[10:20], etag)
    r = client.get(done["result_url"], headers={**H, "Range": "bytes=10-19", "If-Range": "W/" + etag})
    assert (r.status_code, r.content) == (200, body)  # a weak tag never validates a range
    # a cache that holds the file asks with If-None-Match: 304 and no body (it was sent whole again)
    for held in (etag, "W/" + etag, f'"other", {etag}', "*"):
        for method in ("GET", "HEAD"):
            r = client.request(method, done["result_url"], headers={**H, "If-None-Match": held})
            assert (r.status_code, r.content, r.headers["etag"]) == (304, b"", etag), (held, method)
    r = client.get(done["result_url"], headers={**H, "If-None-Match": '"other"', "Range": "bytes=0-1"})
    assert (r.status_code, r.content) == (206, body[:2])  # not this file: the request as if unconditional


@pytest.mark.parametrize(
    ("header", "part"),
    [
        ("bytes=0-9", (0, 10)),
        ("BYTES = 5 -", (5, 100)),
        ("bytes=-5", (95, 100)),
        ("bytes=-500", (0, 100)),
        ("bytes=99-1000", (99, 100)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=5-3", None),
        ("bytes=0-1,5-6", None),
        ("bytes=-", None),
        ("items=0-9", None),
        ("bytes=²-", None),  # str.isdigit took it and int() raised: a 500 with a traceback
        ("bytes=0-" + "9" * 5000, None),  # int() refuses over 4300 digits: the same 500
    ],
)
def test_byte_range_reads_one_ascii_range(header: str, part: object) -> None:
    from app.http import byte_range

    assert byte_range(header, 100) == part


def test_server_json_that_does_not_parse_says_where(client: httpx.Client) -> None:
    r = client.post("/api/v1/jobs", content=b'{"input": {"url": }', headers={**H, "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "the body is not valid JSON (at character" in r.json()["title"]


def test_server_vendor_api_not_in_this_build_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    import app.main
    from app.dialects import available_dialects
    from app.settings import Settings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    # a build without the AudioCleaner module: every path under its prefix answers 501, saying so
    monkeypatch.setattr(app.main, "_dialects", lambda: [d for d in available_dialects() if d.name != "audiocleaner"])
    with TestClient(app.main.create_app(Settings(data_dir=tmp_path), workers=False)) as c:
        r = c.post("/audio/api/v1/api-keys/enhance/task/create", json={})
        description = c.get("/openapi.json").json()["info"]["description"]
    assert r.status_code == 501
    body = r.json()
    assert body["code"] == "engine.unavailable"
    assert "AudioCleaner" in body["title"]
    assert "not in this build" in body["title"]
    assert "DeepAffects" in body["hint"]
    assert "AudioCleaner" not in description
    assert "Wondershare" in description


def test_server_mounts_all_four_vendor_apis(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/audio/generic/api/v1/sync/denoise",
        "/v1/upload",
        "/v3/pic/ecr/batch",
        "/audio/api/v1/api-keys/enhance/task/create",
    ):
        assert path in paths


def test_dialect_table_matches_the_mounted_dialects() -> None:
    from app.dialects import DIALECT_MODULES, available_dialects

    for d in available_dialects():
        assert DIALECT_MODULES[d.name][1] == d.prefixes


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_server_webhook_signed_and_retried(tmp_path: Path, rng: np.random.Generator) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.received, _Hook.fail_first = [], 2
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "webhook_secret": "s3cret", "webhook_backoff_s": "0.05"}
    try:
        with HushProcess(tmp_path / "d", workers=1, **env) as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
            job = submit(c, file_id, steps=[], webhook_url=f"http://127.0.0.1:{hook.server_port}/hook")
            deadline = time.monotonic() + 30
            while len(_Hook.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        hook.shutdown()
        hook.server_close()
    assert len(_Hook.received) == 3  # two 503s, then delivered
    headers, body = _Hook.received[-1]
    assert json.loads(body)["id"] == job["id"]
    assert json.loads(body)["state"] == "succeeded"
    # absolute, on the address the job was sent to: the receiver is elsewhere
    assert json.loads(body)["result_url"] == f"{proc.url}/api/v1/jobs/{job['id']}/result"
    assert job["result_url"] is None or job["result_url"].startswith("/")
    assert verify_signature("s3cret", headers["X-Hush-Timestamp"], body, headers["X-Hush-Signature"])
    assert not verify_signature("wrong", headers["X-Hush-Timestamp"], body, headers["X-Hush-Signature"])


def test_server_job_status_tells_whether_its_webhook_was_delivered(tmp_path: Path, rng: np.random.Generator) -> None:
    # a receiver that always fails used to leave no trace in the job: the user could not tell
    # "not sent yet" from "given up after every attempt"
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "webhook_backoff_s": "0.05", "webhook_max_attempts": "2"}
    with serve_http({"POST /hook": lambda req: Reply(status=500)}) as remote:
        with HushProcess(tmp_path / "d", workers=1, **env) as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
            job = submit(c, file_id, steps=[], webhook_url=remote.url("/hook"))
            assert job["webhook"] == {"delivered": None, "attempts": 0, "status": None, "error": None}
            plain = submit(c, file_id, steps=[])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                view = c.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
                if view["webhook"]["delivered"] is not None:
                    break
                time.sleep(0.05)
            plain_view = wait_state(c, plain["id"], {"succeeded"})
        posts = [q for q in remote.requests if q.method == "POST"]
    assert len(posts) == 2
    assert view["webhook"]["delivered"] is False
    assert view["webhook"]["attempts"] == 2
    assert view["webhook"]["status"] == 500
    assert plain_view["webhook"] is None


def test_server_job_status_shows_webhook_retries_while_they_run(tmp_path: Path, rng: np.random.Generator) -> None:
    # between two attempts the job said "attempts": 0 for as long as the backoff lasted
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "webhook_backoff_s": "30", "webhook_max_attempts": "3"}
    with (
        serve_http({"POST /hook": lambda req: Reply(status=503)}) as remote,
        HushProcess(tmp_path / "d", workers=1, **env) as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        job = submit(c, file_id, steps=[], webhook_url=remote.url("/hook"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            view = c.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
            if view["webhook"]["attempts"]:
                break
            time.sleep(0.05)
    assert view["state"] == "succeeded"
    assert view["webhook"] == {"delivered": None, "attempts": 1, "status": 503, "error": None}


def test_server_put_url_that_fails_once_is_tried_again(tmp_path: Path, rng: np.random.Generator) -> None:
    # one 500 from the receiving URL used to fail the finished job and throw its result away
    answers = iter([Reply(status=500), Reply(status=503), Reply(status=200)])
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "retry_backoff_s": "0.05"}
    with serve_http({"PUT /out.wav": lambda req: next(answers)}) as remote:
        with HushProcess(tmp_path / "d", workers=1, **env) as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
            job = submit(c, file_id, steps=[], put_url=remote.url("/out.wav"))
            done = wait_state(c, job["id"], {"succeeded", "failed"})
            result = c.get(f"/api/v1/jobs/{job['id']}/result", headers=H).content
        puts = [q for q in remote.requests if q.method == "PUT"]
    assert done["state"] == "succeeded", done
    assert done["result"]["put_status"] == 200
    assert done["result"]["put_attempts"] == 3
    assert len(puts) == 3
    assert puts[-1].body == result


def test_server_put_url_that_keeps_failing_says_what_it_answered_and_how_often(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    # the failed job carried neither put_status nor put_attempts, and its reason read as one try (audit)
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "retry_backoff_s": "0.05"}
    routes = {"PUT /down.wav": Reply(status=500), "PUT /gone.wav": Reply(status=404)}
    with serve_http(routes) as remote:
        with HushProcess(tmp_path / "d", workers=1, **env) as proc, httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
            down = submit(c, file_id, steps=[], put_url=remote.url("/down.wav"))
            gone = submit(c, file_id, steps=[], put_url=remote.url("/gone.wav"))
            down = wait_state(c, down["id"], {"succeeded", "failed"})
            gone = wait_state(c, gone["id"], {"succeeded", "failed"})
        tries = {
            path: sum(q.method == "PUT" and q.path == path for q in remote.requests)
            for path in ("/down.wav", "/gone.wav")
        }
    assert down["state"] == gone["state"] == "failed"
    assert (down["result"]["put_status"], down["result"]["put_attempts"]) == (500, 4)
    assert down["error"]["reason"].endswith("answered HTTP 500 Internal Server Error (after 4 attempts)")
    assert (gone["result"]["put_status"], gone["result"]["put_attempts"]) == (404, 1)
    assert gone["error"]["reason"].endswith(
        "answered HTTP 404 Not Found (at the first attempt; an answer not to try again)"
    )
    assert tries == {"/down.wav": 4, "/gone.wav": 1}


def test_server_put_url_that_states_its_content_type_gets_it(tmp_path: Path, rng: np.random.Generator) -> None:
    # a presigned link signs the Content-Type it states (content-type=video%2Fmp4 in the Audo
    # document's S3 example): the PUT sent the result's own type, which S3 refuses 403 (audit)
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1"}
    with (
        serve_http({"PUT /out.m4a": Reply(status=200)}) as remote,
        HushProcess(tmp_path / "d", workers=1, **env) as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        signed = submit(
            c,
            file_id,
            steps=[],
            output_container="m4a",
            put_url=remote.url("/out.m4a?Signature=x&content-type=video%2Fmp4"),
        )
        plain = submit(c, file_id, steps=[], output_container="m4a", put_url=remote.url("/out.m4a?Signature=y"))
        for job in (signed, plain):
            assert wait_state(c, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        types = {q.path.rsplit("=", 1)[-1]: q.headers["content-type"] for q in remote.requests if q.method == "PUT"}
    assert types == {"video%2Fmp4": "video/mp4", "y": "audio/mp4"}


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("content-type=video%2Fmp4", "video/mp4"),
        ("Content-Type=audio%2Fmpeg%3B%20charset%3Dbinary", "audio/mpeg; charset=binary"),
        ("content-type=video%2Fmp4%0D%0AX-Injected%3A%201", "audio/mp4"),  # (a transient error, tried 4 times)
        ("content-type=vid%C3%A9o%2Fmp4", "audio/mp4"),  # (an internal error with a traceback)
        ("content-type=", "audio/mp4"),
        ("content-type=mp4", "audio/mp4"),
    ],
)
def test_put_content_type_sends_only_a_media_type(query: str, sent: str) -> None:
    from app.jobs.runner import put_content_type

    assert put_content_type(f"https://bucket.example/out.m4a?Signature=x&{query}", "audio/mp4") == sent


def test_a_cancel_stops_the_put_url_retries_and_the_input_download(tmp_path: Path, rng: np.random.Generator) -> None:
    # a cancel during the PUT retries left them going: the result reached the caller's bucket after
    # the job answered "cancelled"; a cancel during a slow input download left the worker on it
    # until the whole file had arrived, and the next job waited (audit)
    env = {"api_keys": KEY, "url_allowlist": "127.0.0.1", "retry_backoff_s": "1"}
    routes = {
        "PUT /busy.wav": Reply(status=503),
        "/slow.wav": Reply(chunks=[b"RIFF" + bytes(4092)] + [bytes(4096)] * 60, chunk_delay_s=0.5),
    }
    with (
        serve_http(routes) as remote,
        HushProcess(tmp_path / "d", workers=1, **env) as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        file_id = upload(c, wav_bytes(make_white(rng, 8000, -30.0), 8000))
        job = submit(c, file_id, steps=[], put_url=remote.url("/busy.wav"))
        deadline = time.monotonic() + 20
        while not any(q.method == "PUT" for q in remote.requests):
            assert time.monotonic() < deadline, "no PUT came"
            time.sleep(0.05)
        # between the attempts the job says what it does (it read "preparing")
        assert c.get(f"/api/v1/jobs/{job['id']}", headers=H).json()["stage"] == "uploading the result to put_url"
        assert c.delete(f"/api/v1/jobs/{job['id']}", headers=H).json()["state"] == "cancelled"
        puts_at_cancel = sum(q.method == "PUT" for q in remote.requests)
        time.sleep(4.0)  # past the next two waits (1 and 2 s)
        assert sum(q.method == "PUT" for q in remote.requests) == puts_at_cancel
        assert c.get(f"/api/v1/jobs/{job['id']}/result", headers=H).status_code in (404, 409)

        r = c.post("/api/v1/jobs", json={"input": {"url": remote.url("/slow.wav")}, "steps": []}, headers=H)
        slow = r.json()["id"]
        deadline = time.monotonic() + 20
        while c.get(f"/api/v1/jobs/{slow}", headers=H).json()["state"] != "downloading":
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.05)
        time.sleep(1.0)  # (a few chunks in)
        assert c.delete(f"/api/v1/jobs/{slow}", headers=H).json()["state"] == "cancelled"
        cancelled_at = time.monotonic()
        nxt = submit(c, file_id, steps=[])
        done = wait_state(c, nxt["id"], {"succeeded"}, timeout_s=30)
        took = time.monotonic() - cancelled_at
    assert done["state"] == "succeeded"
    assert took < 5.0, f"the next job waited {took:.1f} s for the cancelled download (it lasts 30 s)"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_server_stopped_cleanly_does_not_count_the_stopped_run(
    tmp_path: Path, rng: np.random.Generator, sig: signal.Signals
) -> None:
    # each restart during a long job counted as a crash: three restarts failed the job
    data = tmp_path / "data"
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 16000, 240.0, rng)
    proc = HushProcess(data, workers=1, api_keys=KEY, block_seconds="0.5", max_attempts="1").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            job = submit(c, upload(c, long_path.read_bytes()), steps=[{"name": "loudness"}])
            assert wait_state(c, job["id"], {"in_progress"})["state"] == "in_progress"
        assert proc.proc is not None
        proc.proc.send_signal(sig)
        proc.proc.wait(30)
    finally:
        proc.stop()
    with (
        HushProcess(data, workers=1, api_keys=KEY, max_attempts="1", port=proc.port) as again,
        httpx.Client(base_url=again.url, timeout=30) as c,
    ):
        done = wait_state(c, job["id"], {"succeeded", "failed"}, timeout_s=120)
    assert done["state"] == "succeeded", done  # with one attempt allowed, a counted stop would fail it
    assert done["attempts"] == 1


@pytest.mark.slow
def test_server_job_survives_kill_9_and_completes_after_restart(tmp_path: Path, rng: np.random.Generator) -> None:
    data = tmp_path / "data"
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 16000, 240.0, rng)
    proc = HushProcess(data, workers=1, api_keys=KEY, block_seconds="0.5").start()
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as c:
            file_id = upload(c, long_path.read_bytes())
            job = submit(c, file_id, steps=[{"name": "loudness"}])
            running = wait_state(c, job["id"], {"in_progress"})
            assert running["state"] == "in_progress"
    finally:
        proc.kill9()
    proc2 = HushProcess(data, workers=1, api_keys=KEY, port=proc.port)
    with proc2, httpx.Client(base_url=proc2.url, timeout=30) as c:
        done = wait_state(c, job["id"], {"succeeded", "failed"}, timeout_s=120)
        assert done["state"] == "succeeded", done
        r = c.get(done["result_url"], headers=H)
        assert sf.info(io.BytesIO(r.content)).duration == pytest.approx(240.0, abs=0.01)


def test_server_refuses_public_bind_without_keys(tmp_path: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", "1"],
        env={"HUSH_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "HUSH_API_KEYS" in r.stderr


def test_server_events_stream_every_state_in_order(
    client: httpx.Client, server: HushProcess, rng: np.random.Generator, tmp_path: Path
) -> None:
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 8000, 60.0, rng)
    file_id = upload(client, long_path.read_bytes())
    job = submit(client, file_id, steps=[{"name": "loudness"}])
    seen: list[dict[str, Any]] = []
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events", headers=H, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    states = [s["state"] for s in seen]
    assert states[-1] == "succeeded"
    order = {"queued": 0, "in_progress": 1, "succeeded": 2}
    assert [order[s] for s in states] == sorted(order[s] for s in states)
    progress = [s["progress"] for s in seen if s["state"] == "in_progress"]
    assert progress == sorted(progress)
    # the websocket replays the final state to a late watcher and closes
    import websocket

    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/api/v1/jobs/{job['id']}/ws", header=H, timeout=10)
    try:
        assert json.loads(ws.recv())["state"] == "succeeded"
    finally:
        ws.close()


def test_server_cancel_queued_job(client: httpx.Client, rng: np.random.Generator, tmp_path: Path) -> None:
    long_path = tmp_path / "long.wav"
    write_long_wav(long_path, 8000, 100.0, rng)
    blocker = submit(client, upload(client, long_path.read_bytes()), steps=[{"name": "loudness"}])
    waiting = submit(client, upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[])
    r = client.delete(f"/api/v1/jobs/{waiting['id']}", headers=H)
    assert r.status_code == 200
    assert r.json()["state"] == "cancelled"
    wait_state(client, blocker["id"], {"succeeded"})
    assert client.get(f"/api/v1/jobs/{waiting['id']}", headers=H).json()["state"] == "cancelled"
    assert client.get(f"/api/v1/jobs/{waiting['id']}/result", headers=H).status_code == 409


def test_jobs_expire_with_their_files(tmp_path: Path, rng: np.random.Generator) -> None:
    import anyio

    from app.errors import NotFoundError
    from app.events import InProcessEventBus
    from app.jobs.models import InputRef, JobSpec, JobState
    from app.jobs.service import JobService
    from app.jobs.store import SqliteJobStore
    from app.settings import Settings
    from app.storage import LocalBlobStore

    settings = Settings(data_dir=tmp_path, retention_hours=1)
    store = SqliteJobStore(settings.db_path)
    blobs = LocalBlobStore(settings.blob_dir)

    class NoQueue:
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def enqueue(self, job_id: str, priority: int) -> None: ...

    service = JobService(settings, store, blobs, NoQueue(), InProcessEventBus())

    async def scenario() -> None:
        src = tmp_path / "in.wav"
        src.write_bytes(wav_bytes(make_white(rng, 8000, -30.0), 8000))
        with src.open("rb") as f:
            stored = await service.store_upload(f, owner="", filename="in.wav")
        job = await service.submit(dialect="native", spec=JobSpec(input=InputRef(blob_key=stored.blob_key)))
        result = tmp_path / "r.wav"
        result.write_bytes(b"result")
        blobs.put_file(f"results/{job.id}/out.wav", result)
        now = time.time()
        store.update(job.id, state=JobState.succeeded, finished_at=now, expires_at=now + 3600)
        assert (await service.get(job.id)).id == job.id
        assert (await service.get_file(stored.id)).id == stored.id
        # past its retention, gone for the client at once (it stayed readable until the janitor's
        # next pass, minutes later)
        store.update(job.id, expires_at=now - 1)
        with pytest.raises(NotFoundError, match="has expired"):
            await service.get(job.id)
        with store._tx() as c:
            c.execute("UPDATE files SET expires_at=? WHERE id=?", (now - 1, stored.id))
        with pytest.raises(NotFoundError, match="has expired"):
            await service.get_file(stored.id)
        store.update(job.id, expires_at=now + 3600)
        assert await service.expire_once(now + 60) == 0
        assert await service.expire_once(now + 3601) == 1
        assert store.get(job.id) is None
        assert not blobs.exists(f"results/{job.id}/out.wav")
        assert store.get_file(stored.id) is None  # the upload expired too
        assert not blobs.exists(stored.blob_key)

    anyio.run(scenario)
    store.close()


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"name": "denoise", "params": {"amount": -1}}], "amount"),
        ([{"name": "denoise", "params": {"amount": 1e308}}], "amount"),
        ([{"name": "denoise", "params": {"amount": "lots"}}], "lots"),
        ([{"name": "vad", "params": {"min_non_speech_s": -5}}], "min_non_speech_s"),
        ([{"name": "no-such-step"}], "does not exist"),
        ([{"name": "denoise"}] * 17, "at most 16"),
    ],
)
def test_server_bad_step_values_are_refused_at_submit(
    client: httpx.Client, rng: np.random.Generator, steps: list[dict[str, Any]], words: str
) -> None:
    file_id = upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000))
    r = client.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": steps}, headers=H)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "input.parameter"
    assert words in r.json()["title"] + r.json().get("detail", "")


def test_server_start_sweeps_what_killed_runs_left(tmp_path: Path) -> None:
    import os

    old = time.time() - 3600
    leftovers = [
        tmp_path / "tmp" / "run-killed" / "pass1.wav",
        tmp_path / "blobs" / "results" / "j" / ".out.wav.x.part",
    ]
    fresh = tmp_path / "tmp" / "run-now"
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
        os.utime(path.parent, (old, old))
        os.utime(path, (old, old))
    (fresh / "pass1.wav").parent.mkdir(parents=True)
    (fresh / "pass1.wav").write_bytes(b"a run stopped a minute ago by a clean shutdown")
    # the embedded server's runs are its own: as it starts, none is live, so every work folder is
    # a previous run's, however young (a long job's scratch file stayed an hour after a restart)
    with HushProcess(tmp_path, api_keys=KEY, job_timeout_s=600):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(p.exists() for p in [*leftovers, fresh]):
            time.sleep(0.05)
        assert not (tmp_path / "tmp" / "run-killed").exists()
        assert not leftovers[1].exists()
        assert not fresh.exists()
        assert (tmp_path / "blobs" / "results" / "j").is_dir()  # only the .part file goes


@pytest.mark.parametrize(
    ("headers", "path_job", "status"),
    [
        ({"Authorization": f"Bearer {KEY}"}, "real", None),
        ({"x-api-key": KEY}, "real", None),
        ({"Authorization": "Bearer wrong"}, "real", 401),
        ({}, "real", 401),
        ({"x-api-key": KEY}, "no-such-job", 404),
    ],
)
def test_server_websocket_auth_styles_and_distinct_refusals(
    client: httpx.Client,
    server: HushProcess,
    rng: np.random.Generator,
    headers: dict[str, str],
    path_job: str,
    status: int | None,
) -> None:
    import websocket

    job = submit(client, upload(client, wav_bytes(make_white(rng, 8000, -30.0), 8000)), steps=[])
    wait_state(client, job["id"], {"succeeded"})
    job_id = job["id"] if path_job == "real" else path_job
    url = f"ws://127.0.0.1:{server.port}/api/v1/jobs/{job_id}/ws"
    if status is None:
        ws = websocket.create_connection(url, header=headers, timeout=10)
        try:
            assert json.loads(ws.recv())["state"] == "succeeded"
        finally:
            ws.close()
        return
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, header=headers, timeout=10)
    assert refused.value.status_code == status
    assert json.loads(refused.value.resp_body)["status"] == status


def test_server_live_streams_are_capped(tmp_path: Path, rng: np.random.Generator) -> None:
    import websocket

    with (
        HushProcess(tmp_path, api_keys=KEY, max_watchers=2, workers=1) as proc,
        httpx.Client(base_url=proc.url, timeout=30) as c,
    ):
        long_path = tmp_path / "long.wav"
        write_long_wav(long_path, 16000, 60.0, rng)
        job = submit(c, upload(c, long_path.read_bytes()), steps=[{"name": "denoise"}])
        url = f"ws://127.0.0.1:{proc.port}/api/v1/jobs/{job['id']}/ws"
        open_ = [websocket.create_connection(url, header=H, timeout=10) for _ in range(2)]
        try:
            for ws in open_:
                assert json.loads(ws.recv())["id"] == job["id"]
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(url, header=H, timeout=10)
            assert refused.value.status_code == 429
            assert c.get(f"/api/v1/jobs/{job['id']}/events", headers=H).status_code == 429
        finally:
            for ws in open_:
                ws.close()
        # the slots come back when the streams close
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = c.get(f"/api/v1/jobs/{job['id']}/events", headers=H, timeout=60)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200
        assert '"state":"succeeded"' in r.text


def test_server_chunked_upload_over_the_limit_is_refused_while_streaming(client: httpx.Client) -> None:
    request = client.build_request("POST", "/api/v1/files", files={"file": ("x.wav", b"RIFF" + bytes(3 << 20))})
    whole = request.read()

    def chunked() -> Iterator[bytes]:  # no Content-Length: only a running count can stop it
        for i in range(0, len(whole), 1 << 16):
            yield whole[i : i + (1 << 16)]

    r = client.post("/api/v1/files", content=chunked(), headers={**H, "content-type": request.headers["content-type"]})
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "input.too_large"
    assert "HUSH_MAX_INPUT_MB" in r.json()["title"]
    # an input URL is held to the same limit: the advice is a smaller encoding, not a URL
    assert "URL" not in r.json()["hint"]
    assert "compressed" in r.json()["hint"]
    assert client.get("/healthz").status_code == 200


def test_server_fillers_cut_streaming_with_input_times(client: httpx.Client) -> None:
    from app.jobs.pipeline import _merge_cuts
    from dsp.fillers import FillerDetector
    from dsp.silence import SilenceCuts, SilenceShortener, apply_cuts
    from tests.dsp.test_fillers import talk

    x, _, (fa, fb) = talk(np.random.default_rng(7), 16000, with_uh=True)
    data = wav_bytes(x, 16000, subtype="FLOAT")
    job = submit(client, upload(client, data), steps=[{"name": "long_silences"}, {"name": "fillers"}])
    done = wait_state(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    silences, fillers = done["result"]["steps"]
    assert (silences["step"], fillers["step"]) == ("long_silences", "fillers")
    # the pause, the "uh" and the pause are one pause over 1 s: long_silences shortens it as a
    # whole, the filler inside its cut (the filler's own cut is left to it)
    assert fillers["fillers_cut"] == 1
    assert fillers["cut_by_long_silences"] == 1
    assert fillers["cuts"] == []
    (cut,) = silences["cuts"]
    assert cut[0] <= fa / 16000 + 0.05
    assert cut[1] >= fb / 16000 - 0.05
    got, _ = sf.read(io.BytesIO(client.get(done["result_url"], headers=H).content), dtype="float32")
    # the streamed edit equals the in-memory one: both plans made on the input, then joined, merged
    shortener, detector = SilenceShortener(16000, 1, spare_music=True), FillerDetector(16000, 1)
    shortener.process(x[None, :])
    detector.process(x[None, :])
    shortener.exclude_speech([(f.start_s, f.end_s) for f in detector.kept])
    detector.absorb(shortener.finish())
    merged = _merge_cuts([*shortener.finish().cuts, *detector.finish().cuts])
    expected = apply_cuts(x, SilenceCuts(tuple(merged), 16000, x.size))
    assert got.size == expected.size
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_server_long_silences_edits_time_streaming(client: httpx.Client, rng: np.random.Generator) -> None:
    from dsp.silence import shorten_silences
    from tests.dsp.test_silence import talk_with_pauses

    x, _ = talk_with_pauses(rng)
    data = wav_bytes(x, 16000, subtype="FLOAT")
    job = submit(client, upload(client, data), steps=[{"name": "long_silences"}])
    done = wait_state(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    (step,) = done["result"]["steps"]
    assert step["step"] == "long_silences"
    assert step["pauses_shortened"] == 3
    got, _ = sf.read(io.BytesIO(client.get(done["result_url"], headers=H).content), dtype="float32")
    expected = shorten_silences(x, 16000)  # the streamed edit equals the in-memory one
    assert got.size == expected.size == x.size - round(step["removed_s"] * 16000)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert done["result"]["duration_s"] == pytest.approx(got.size / 16000)
