"""The OpenAPI document as a code generator reads it (an audit built a client with
openapi-python-client from ``/openapi.json`` alone): file fields are binary, the event stream is
text, the audio answers say so, each ``oneOf`` branch of a job's input names every field, and the
statuses the server sends for a spent, disabled or oversized request are the ones documented, with
the vendor envelopes' schemas."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests._hush import HushProcess
from tests.app._http_fixtures import LoopbackServer, Reply, serve_http
from tests.app.test_accounts import add_key
from tests.signals import make_white

KEY = "doc-key-1"


def _wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, make_white(np.random.default_rng(3), 8000, -30.0), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


WAV = _wav()


@pytest.fixture(scope="module")
def origin() -> Iterator[LoopbackServer]:
    with serve_http({"/in.wav": Reply(body=WAV)}) as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HushProcess, dict[str, str]]]:
    data = tmp_path_factory.mktemp("doc")
    spent, _ = add_key(data, credits_minutes=0)
    disabled, _ = add_key(data, state="disabled")
    with HushProcess(data, api_keys=f"{KEY},app:sec", url_allowlist="127.0.0.1") as proc:
        yield proc, {"spent": spent, "disabled": disabled}


@pytest.fixture(scope="module")
def doc(served: tuple[HushProcess, dict[str, str]]) -> dict[str, Any]:
    return dict(httpx.get(f"{served[0].url}/openapi.json").json())


def test_file_fields_are_binary_for_generators(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    uploads = [s for s in schemas.values() if "file" in (s.get("properties") or {})]
    assert len(uploads) >= 2  # the native upload and Audo's
    for s in uploads:
        assert s["properties"]["file"]["format"] == "binary"


def test_the_event_stream_is_text_and_names_the_websocket(doc: dict[str, Any]) -> None:
    ok = doc["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]
    stream = ok["content"]["text/event-stream"]
    assert "schema" not in stream  # a generator would parse the whole stream as one JSON document
    assert stream["itemSchema"]["properties"]["event"] == {"const": "job"}  # each event, for contract testers
    assert "/api/v1/jobs/{job_id}/ws" in ok["description"]


@pytest.mark.parametrize("path", ["/api/v1/jobs/{job_id}/result", "/api/v1/jobs/{job_id}/input"])
def test_audio_answers_declare_their_media(doc: dict[str, Any], path: str) -> None:
    content = doc["paths"][path]["get"]["responses"]["200"]["content"]
    assert content["audio/*"]["schema"] == {"type": "string", "format": "binary"}


def test_each_input_branch_names_the_pcm_rate(doc: dict[str, Any]) -> None:
    branches = doc["components"]["schemas"]["JobInput"]["oneOf"]
    assert len(branches) == 2
    for b in branches:
        assert "pcm_sample_rate" in b["properties"]


def _documented(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = doc["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} sends {status}, the document lists {sorted(responses)}"
    return dict(responses[str(status)])


def _check_body(answer: dict[str, Any], body: dict[str, Any]) -> None:
    """The body has every field the documented schema requires (for the envelopes written inline)."""
    schema = next(iter(answer.get("content", {}).values()), {}).get("schema", {})
    assert schema, "the error has no schema"
    for field in schema.get("required", []):
        assert field in body


def test_spent_and_disabled_keys_get_documented_statuses(
    served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any], origin: LoopbackServer
) -> None:
    server, keys = served
    link = origin.url("/in.wav")
    info = {"file_size": len(WAV), "file_md5": hashlib.md5(WAV).hexdigest(), "file_time": 1, "file_ext": "wav"}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for which, status in (("spent", 402), ("disabled", 403)):
            key = keys[which]
            r = c.post(
                "/audio/generic/api/v1/sync/denoise",
                params={"apikey": key},
                json={"content": base64.b64encode(WAV).decode()},
            )
            assert r.status_code == status, r.text
            _documented(doc, "/audio/generic/api/v1/sync/denoise", "post", status)
            r = c.post(
                "/v3/pic/ecr/batch", auth=("acct", key), json={"file_link": link, "file_info": info, "priority": 1}
            )
            assert r.status_code == status, r.text
            _check_body(_documented(doc, "/v3/pic/ecr/batch", "post", status), r.json())
            path = "/audio/api/v1/api-keys/enhance/task/create"
            r = c.post(path, headers={"api-key": key}, json={"inputurl": link, "enhance_type": {"remove_noise": True}})
            assert r.status_code == status, r.text
            _check_body(_documented(doc, path, "post", status), r.json())


def test_oversized_bodies_get_documented_413s(served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any]) -> None:
    server, _ = served
    pad = "a" * 70_000
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post(
            "/api/v1/jobs",
            headers={"x-api-key": KEY},
            json={"input": {"url": "http://127.0.0.1/x"}, "webhook_url": "http://a/" + "a" * 1_100_000},
        )
        assert r.status_code == 413
        _documented(doc, "/api/v1/jobs", "post", 413)
        r = c.post("/v1/remove-noise", headers={"x-api-key": KEY}, json={"input": "x", "output": pad})
        assert r.status_code == 413
        _documented(doc, "/v1/remove-noise", "post", 413)
        path = "/audio/api/v1/api-keys/enhance/task/get"
        r = c.post(path, headers={"api-key": KEY}, json={"job_id": pad})
        assert r.status_code == 413
        _check_body(_documented(doc, path, "post", 413), r.json())
        r = c.get("/v3/pic/ecr/result/no-such-task", auth=("app", "sec"))
        assert r.status_code == 404
        _check_body(_documented(doc, "/v3/pic/ecr/result/{task_id}", "get", 404), r.json())


def test_steps_publish_each_parameters_type_default_and_range(
    served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any]
) -> None:
    """A client learns from the server what a parameter takes (it had the names only, and found
    the ranges in 400 answers and a list parameter from "'int' object is not iterable")."""
    server, _ = served
    steps = {s["name"]: s for s in httpx.get(f"{server.url}/api/v1/steps", headers={"x-api-key": KEY}).json()}
    declick = steps["declick"]["param_specs"]
    assert declick["detection_mult"] == {"type": "number", "default": 8.0, "minimum": 6.0, "maximum": 10.0}
    assert declick["click_len"]["unit"] == "ms"
    harmonics = steps["dehum"]["param_specs"]["harmonics"]
    # null: a client sending every advertised default is not refused for a list that needs hum_hz
    assert (harmonics["type"], harmonics.get("default"), harmonics["nullable"]) == ("list", None, True)
    assert "hum_hz" in harmonics["note"]  # a list without it is refused
    assert steps["dehum"]["param_specs"]["hum_hz"]["nullable"] is True
    assert steps["denoise"]["param_specs"]["channels"]["choices"] == ["linked", "each"]
    for s in steps.values():
        assert set(s["param_specs"]) == set(s["params"])
    answer = doc["paths"]["/api/v1/steps"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["items"] == {"$ref": "#/components/schemas/StepInfo"}
    assert "param_specs" in doc["components"]["schemas"]["StepInfo"]["properties"]


def test_the_audo_download_link_needs_no_key(served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any]) -> None:
    """The SDK fetches it without its key, and it answers so; the document said it needed x-api-key."""
    op = doc["paths"]["/v1/dl/{path}"]["get"]
    assert op["security"] == []
    r = httpx.get(f"{served[0].url}/v1/dl/artifacts/clean/nothing.wav")
    assert r.status_code == 404  # no such file: not 401


def test_ranged_downloads_answer_documented_statuses(
    served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any]
) -> None:
    """206 and 416 were sent by the download routes and documented nowhere, nor the ``Range``
    header (an audit's schema-checking client flagged both as undocumented statuses)."""
    server, _ = served
    h = {"x-api-key": KEY}
    with httpx.Client(base_url=server.url, timeout=60) as c:
        job = _finished_job(c, [{"name": "denoise"}])
        for path in ("/api/v1/jobs/{job_id}/result", "/api/v1/jobs/{job_id}/input"):
            url = path.format(job_id=job["id"])
            whole = c.get(url, headers=h)
            assert whole.status_code == 200
            assert "Accept-Ranges" in _documented(doc, path, "get", 200)["headers"]
            part = c.get(url, headers={**h, "Range": "bytes=0-9"})
            assert part.status_code == 206
            assert part.headers["content-range"] == f"bytes 0-9/{len(whole.content)}"
            assert "Content-Range" in _documented(doc, path, "get", 206)["headers"]
            past = c.get(url, headers={**h, "Range": f"bytes={len(whole.content) + 10}-"})
            assert past.status_code == 416
            assert past.headers["content-range"] == f"bytes */{len(whole.content)}"
            assert "Content-Range" in _documented(doc, path, "get", 416)["headers"]
            params = doc["paths"][path]["get"]["parameters"]
            assert any(p["name"] == "Range" and p["in"] == "header" for p in params)


def test_a_jobs_default_steps_are_documented(doc: dict[str, Any]) -> None:
    """A job without ``steps`` runs (and bills) a denoise, which the document did not say: a
    client generated from it could not know (audit)."""
    steps = doc["components"]["schemas"]["JobCreate"]["properties"]["steps"]
    assert steps["default"] == [{"name": "denoise", "params": {}}]
    assert "[]" in steps["description"]


def _finished_job(c: httpx.Client, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A native job of ``steps`` on :data:`WAV`, once it has succeeded."""
    h = {"x-api-key": KEY}
    file_id = c.post("/api/v1/files", files={"file": ("in.wav", WAV)}, headers=h).json()["file_id"]
    job = c.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": steps}, headers=h)
    assert job.status_code == 202, job.text
    for _ in range(300):
        now = dict(c.get(f"/api/v1/jobs/{job.json()['id']}", headers=h).json())
        if now["state"] not in ("queued", "downloading", "in_progress"):
            break
        time.sleep(0.1)
    assert now["state"] == "succeeded", now
    return now


def test_a_finished_jobs_result_fields_are_in_the_schema(
    served: tuple[HushProcess, dict[str, str]], doc: dict[str, Any]
) -> None:
    """``result`` was an untyped object: its fields (steps, segments, warnings, billable_minutes,
    input), which the README documents, were in no schema, so a generated client typed it as a
    dict (audit). Each is described, and a real job's values fit."""
    import jsonschema_rs

    fields = doc["components"]["schemas"]["JobPublic"]["properties"]["result"]["properties"]
    with httpx.Client(base_url=served[0].url, timeout=60) as c:
        result = _finished_job(c, [{"name": "denoise"}, {"name": "vad"}])["result"]
    for name in ("input", "steps", "segments", "billable_minutes", "container", "duration_s"):
        assert name in result, (name, sorted(result))
        assert name in fields, name
    for name, value in result.items():
        if name in fields:
            errors = [str(err) for err in jsonschema_rs.validator_for(fields[name]).iter_errors(value)]
            assert not errors, (name, errors)
