"""Wondershare click-noise removal API (``click-noise-removal.md``) over the job core.

Two routes, HTTP Basic ``appkey:appsecret`` on both, answers in the vendor's envelope
``{"code", "msg", "data"}`` (``code`` 0 on success). No SDK exists; the doc is the contract.
Where the doc is silent, Hush chooses, and says so here:

* **Error codes.** A non-zero ``code`` equals the HTTP status it is sent with: 400 a field is
  missing or out of range (``msg`` names it), 401 credentials, 402 the key's credit minutes are
  spent, 403 the key is disabled or not activated, 404 unknown task, 405 a method the route does
  not take, 413 over the size limit, 429 rate or concurrency limited (with ``Retry-After``), 500
  an internal error, 503 the queue is unreachable (with ``Retry-After``), 507 disk full.
* **Defaults.** ``detection_mult`` (8.0) and ``click_len`` (10) are marked required in the doc
  but given defaults there too: a missing one takes its default. ``priority`` has no default and
  is required; ``file_ext`` (output) defaults to ``mp3``. A field sent as ``null`` is a field left
  out: it takes its default, or is "required".
* **Priority.** The doc gives only the range [0, 9]: 9 is served first, 0 last; equal priorities
  in the order they came (``wait_time`` counts the tasks ahead in that order, and those running).
* **Body.** Any ``Content-Type`` is taken when the body is a JSON object (``curl -d`` sends a form
  type); a body that is not JSON, sent with a type that is not JSON either, is told to send JSON
  with ``Content-Type: application/json``. A bad field's ``msg`` names it, the doc's range and the
  value sent (``click_len must be an integer from 5 to 30, not "10"``).
* **Formats.** Only MP3 and WAV are accepted, as the doc says: ``file_info.file_ext`` must say one
  of them, and the downloaded bytes must be one of them (sniffed, never trusted from a name). A
  file whose content is the other of the two is read by its content, and a note in ``reason``
  of the completed task says so.
* **Integrity.** The downloaded file's size and MD5 must equal ``file_info``; otherwise the task
  fails (status ``"4"``) with a reason naming the check. ``file_time`` is informative: a
  disagreement with the real duration larger than 2 s and 10 % is reported in ``reason`` of a
  completed task, never a failure. So is a file that ends before its header says (the audio
  present is processed; the note gives both lengths): each note a sentence starting ``note:``.
* **Limits.** "50 MB" is read as 50 MiB (52,428,800 bytes; ``HUSH_WONDERSHARE_MAX_MB``).
* **Unknown tasks.** A task of another key is answered as one that does not exist (the same 404
  and the same words), so a key learns nothing of other keys' tasks.
* **``wait_time``** is an estimate, in whole seconds as a string, of when the task is likely
  done: a waiting task waits for the rest of the tasks running now and for those queued ahead
  of it (the processing rate measured on finished jobs); a task in progress is timed by its own
  pace from the start of its processing once it has done 5 %. It is ``"0"`` once the task
  ended. Until a task has finished on this server and given a rate (one of 30 s of audio or
  more, that ran 1 s or more), the estimate is a guess, and ``wait_time`` is at most ``"5"``.
  While no worker of a cluster is alive, nothing can be estimated: a waiting task answers
  ``wait_time`` ``"30"`` (ask again then) and says why in ``reason``. A key with a per-minute
  request limit is never told to ask again sooner than that limit allows (60 / limit seconds).
* **``reason``** of a waiting task (the doc: "cause of failure") carries a note when the task
  cannot start: ``"waiting: no worker is running (start `hush worker`)"``; empty otherwise.
* **``voice_result``** is an absolute URL that needs no credentials (the unguessable task id in
  the path is the capability): ``HUSH_PUBLIC_URL`` when set (behind a proxy), else the scheme,
  host and port the request came to.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from app import errors as e
from app import media
from app.auth import Principal
from app.dialects._common import (
    Dialect,
    KeysDep,
    MockJobEffect,
    MockScenario,
    MockState,
    ServiceDep,
    blob_response,
    default_status,
    finished_result,
    json_answer,
    json_body_schema,
    json_error,
    mock_error,
    mock_job,
    parse_json,
    read_body,
)
from app.http import json_errors, message_with_error_id, public_base
from app.jobs.models import InputRef, Job, JobSpec, JobState, OutputSpec, Step
from app.jobs.service import JobService

__all__ = [
    "DIALECT",
    "WondershareBatchRequest",
    "WondershareFileInfo",
    "WondershareResult",
    "render",
    "to_spec",
]

PREFIX = "/v3/pic/ecr"
#: Formats the doc accepts, in and out.
FORMATS = ("mp3", "wav")
#: 8 kbit/s, the lowest MP3 bitrate (MPEG-2.5 Layer III), in bytes per second: no file of the
#: size ``file_info`` declares plays longer than its size over this (a WAV: 8000 bytes/s at least).
_MIN_BYTES_PER_S = 1000.0
#: Longest ``wait_time`` given, in seconds: poll at least hourly, whatever the estimate.
_MAX_WAIT_S = 3600.0
#: ``wait_time`` of a waiting task while no worker is alive (its estimate is infinite): soon
#: enough to see a worker that starts, rare enough not to poll for nothing.
_NO_WORKER_WAIT_S = 30
#: Longest ``wait_time`` while no click-removal task has finished on this server: the estimate
#: then rests on a default rate that can be several times off (``bench/wait_time.py``: 76 s told
#: for a task done in 11 s), so the client asks again soon and gets the measured one later.
_UNMEASURED_WAIT_S = 5.0
#: A task body names a link and a few numbers: its own small limit.
_JSON_LIMIT_BYTES = 64 * 1024
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")

#: Task status strings of the doc, by job state.
STATUS = {
    JobState.queued: "1",
    JobState.downloading: "2",
    JobState.in_progress: "2",
    JobState.succeeded: "3",
    JobState.failed: "4",
    JobState.cancelled: "5",
    JobState.timed_out: "6",
}


# ---------------------------------------------------------------------------- models


#: The doc's numeric fields: (whole numbers only, what they must be). Strings are refused even
#: where pydantic would convert them: the doc types these as numbers.
_NUMBERS: dict[str, tuple[bool, str]] = {
    "file_size": (True, "the file's size in bytes, a whole number of at least 1"),
    "file_time": (False, "the audio's duration in seconds, a number of at least 0"),
    "priority": (True, "an integer from 0 to 9"),
    "click_len": (True, "an integer from 5 to 30"),
    "detection_mult": (False, "a number from 6.0 to 10.0"),
}


def _shown(v: Any) -> str:
    """``v`` as the client wrote it (JSON), cut short: ``"10"`` for a string, ``true`` ..."""
    try:
        text = json.dumps(v, allow_nan=False)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_number(v: Any, field: str | None) -> Any:
    """``v`` when it is a JSON number (not a string, not a boolean), whole where the doc says so."""
    whole, what = _NUMBERS[str(field)]
    if isinstance(v, bool) or not isinstance(v, int | float) or (whole and isinstance(v, float) and not v.is_integer()):
        raise ValueError(f"must be {what}, not {_shown(v)}")
    return v


def _drop_nulls(data: Any) -> Any:
    """``data`` without its ``null`` members: a field sent as ``null`` is a field left out, so it
    takes its documented default (``file_ext``, ``detection_mult``, ``click_len``) or is missing."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if v is not None}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WondershareFileInfo(_Model):
    """``file_info``: what the client says the file at ``file_link`` is."""

    file_size: int = Field(ge=1, description="bytes")
    file_md5: str = Field(description="MD5 of the file, 32 hex digits")
    file_time: float = Field(ge=0, description="duration in seconds (informative)")
    file_ext: str = Field(description="mp3 or wav")

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("file_size", "file_time", mode="before")
    @classmethod
    def _numbers(cls, v: Any, info: ValidationInfo) -> Any:
        return _json_number(v, info.field_name)

    @field_validator("file_md5")
    @classmethod
    def _md5(cls, v: str) -> str:
        if not _MD5_RE.match(v):
            raise ValueError("must be the file's MD5 as 32 hexadecimal digits")
        return v.lower()

    @field_validator("file_ext")
    @classmethod
    def _ext(cls, v: str) -> str:
        ext = v.strip().lstrip(".").lower()
        if ext not in FORMATS:
            raise ValueError(f"must be mp3 or wav (the formats this API takes), not {v!r}")
        return ext


class WondershareBatchRequest(_Model):
    """Body of ``POST /v3/pic/ecr/batch``."""

    file_link: str = Field(
        description="http(s) link the file is downloaded from",
        json_schema_extra={"pattern": "^\\s*[hH][tT][tT][pP][sS]?://"},
    )
    file_info: WondershareFileInfo
    # null is the default (see _drop_nulls); the schema says so for the fields that have one
    detection_mult: float = Field(
        8.0, ge=6.0, le=10.0, description="6 = most sensitive", json_schema_extra={"type": ["number", "null"]}
    )
    click_len: int = Field(
        10,
        ge=5,
        le=30,
        description="longest event treated as a click, ms (longer ones are left as sound)",
        json_schema_extra={"type": ["integer", "null"]},
    )
    file_ext: str = Field(
        "mp3", description="output format: mp3 or wav", json_schema_extra={"type": ["string", "null"]}
    )
    priority: int = Field(ge=0, le=9)

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("file_link")
    @classmethod
    def _link(cls, v: str) -> str:
        if not v.strip().lower().startswith(("http://", "https://")):
            raise ValueError("must be an http(s) link to the audio file")
        return v.strip()

    @field_validator("file_ext")
    @classmethod
    def _out_ext(cls, v: str) -> str:
        ext = v.strip().lstrip(".").lower()
        if ext not in FORMATS:
            raise ValueError(f"must be mp3 or wav, not {v!r}")
        return ext

    @field_validator("priority", "click_len", "detection_mult", mode="before")
    @classmethod
    def _numbers(cls, v: Any, info: ValidationInfo) -> Any:
        return _json_number(v, info.field_name)


class WondershareResult(_Model):
    """``data`` of ``GET /v3/pic/ecr/result/{task_id}``: every field always present, as strings."""

    status: str
    wait_time: str
    voice_result: str
    reason: str


# ---------------------------------------------------------------------------- spec and render


def to_spec(request: WondershareBatchRequest, max_bytes: int) -> JobSpec:
    """The job for a batch request: download, check size/MD5/format, declick, encode."""
    info = request.file_info
    if info.file_size > max_bytes:
        raise e.InputTooLargeError(
            f"file_info.file_size is {info.file_size} bytes; this API takes files up to {max_bytes} bytes"
        )
    # no MP3 or WAV of the declared size lasts longer than at the lowest MP3 bitrate
    declared = min(float(info.file_time), info.file_size / _MIN_BYTES_PER_S) if info.file_time else None
    return JobSpec(
        input=InputRef(
            url=request.file_link,
            expected_size=info.file_size,
            expected_md5=info.file_md5,
            containers=FORMATS,
            declared_duration_s=declared,
        ),
        steps=(
            Step(name="declick", params={"detection_mult": request.detection_mult, "click_len": request.click_len}),
        ),
        output=OutputSpec(container=request.file_ext, offered=FORMATS),
    )


def _time_note(job: Job) -> str:
    """A note when ``file_info.file_time`` disagrees with the real duration (informative only)."""
    declared = job.meta.get("file_time")
    real = (job.result_meta.get("input") or {}).get("duration_s")
    if declared is None or real is None:
        return ""
    if abs(float(real) - float(declared)) > max(2.0, 0.1 * float(declared)):
        return f"note: file_info.file_time says {declared:g} s but the audio lasts {float(real):.1f} s"
    return ""


def _ext_note(job: Job) -> str:
    """A note when ``file_info.file_ext`` names another format than the file's content (read by its content)."""
    declared = job.meta.get("file_ext")
    real = (job.result_meta.get("input") or {}).get("container")
    if not declared or not real or str(real).lower() == str(declared).lower():
        return ""
    fmt = str(real).upper()
    return f"note: file_info.file_ext says {declared} but the file is {fmt}; it was read as {fmt}"


def _mock_note(job: Job) -> str:
    """A note when mock mode passed the input through: the result is the input, not a repair."""
    mock = job.result_meta.get("mock") or {}
    if not mock.get("passthrough"):
        return ""
    skipped = ", ".join(mock.get("skipped_steps") or ()) or "every step"
    return (
        f"note: mock mode passed the input through unprocessed ({skipped} skipped; "
        "the header Prefer: dsp=real runs the real repair)"
    )


#: The reason of a task whose result its owner deleted (``DELETE /api/v1/jobs/{id}/result``): it
#: reads as failed ("4"), the task having nothing to download.
DELETED_REASON = "the result was deleted at its owner's request (DELETE /api/v1/jobs/{task_id}/result)"


def render(job: Job, wait_s: float, base_url: str, note: str | None = None) -> WondershareResult:
    """The documented result data for ``job``; ``note`` is the reason of a waiting task (why it does not start)."""
    state = job.state
    voice = ""
    reason = ""
    if state is JobState.queued and note:
        reason = note
    elif state is JobState.succeeded and job.result_meta.get("result_deleted"):
        # "complete" with a link that answers 404: a client would download an error (an audit)
        state, reason = JobState.failed, DELETED_REASON
    elif state is JobState.succeeded:
        voice = f"{base_url}{PREFIX}/file/{job.id}.{job.result_meta.get('container', 'mp3')}"
        # what the client should know about its input (a cut-off file) or the output (MP3 at 48 kHz of
        # a 96 kHz input), each a sentence of its own
        notes = [f"note: {w}" for w in job.result_meta.get("warnings") or ()] + [
            _time_note(job),
            _ext_note(job),
            _mock_note(job),
        ]
        reason = " ".join(n if n.endswith(".") else n + "." for n in notes if n)
    elif state is JobState.failed:
        reason = job.error_reason or "processing failed"
    elif state is JobState.cancelled:
        reason = job.error_reason or "the task was closed before it finished"
    elif state is JobState.timed_out:
        reason = job.error_reason or "the task took too long and was stopped"
    if job.terminal:
        wait = 0
    elif wait_s == math.inf:  # no worker alive: nothing to estimate, ask again a little later
        wait = _NO_WORKER_WAIT_S
    elif not math.isfinite(wait_s):
        wait = 1
    else:
        wait = max(1, round(min(wait_s, _MAX_WAIT_S)))
    return WondershareResult(status=STATUS[state], wait_time=str(wait), voice_result=voice, reason=reason)


def _envelope(data: dict[str, Any], code: int = 0, msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


# ---------------------------------------------------------------------------- errors and auth


def render_error(request: Request, exc: Exception, status: int, message: str) -> Response:
    """The vendor envelope with ``code`` = the HTTP status and ``msg`` saying what to change."""
    return json_error(status, _envelope({}, code=status, msg=message_with_error_id(exc, message)), exc)


#: Error types of a value outside its range, answered with the doc's range.
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _validation_message(exc: ValidationError) -> str:
    """One clause per bad field, in the doc's words: its name, what it must be, what was sent."""
    parts = []
    for err in exc.errors():
        path = err.get("loc", ())
        loc = ".".join(str(x) for x in path)
        kind = err.get("type")
        field = str(path[-1]) if path else ""
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "missing":
            msg = "is required"
        elif kind in _RANGE_ERRORS and field in _NUMBERS:
            msg = f"must be {_NUMBERS[field][1]}, not {_shown(err.get('input'))}"
        elif kind == "string_type":
            msg = f"must be a string, not {_shown(err.get('input'))}"
        elif kind in ("model_type", "model_attributes_type", "dict_type") and field == "file_info":
            msg = "must be an object with file_size, file_md5, file_time and file_ext"
        else:
            msg = msg.replace("Input should be", "must be")
        parts.append(f"{loc} {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request body"


def wondershare_principal(
    keys: KeysDep, authorization: Annotated[str | None, Header(description="Basic base64(appkey:appsecret)")] = None
) -> Principal:
    """The caller, from ``Authorization: Basic base64(appkey:appsecret)``."""
    return keys.check_basic(authorization)


PrincipalDep = Annotated[Principal, Depends(wondershare_principal)]

router = APIRouter(tags=["wondershare"])


# ---------------------------------------------------------------------------- OpenAPI answers

_STATUS_TEXT = "1 waiting, 2 in progress, 3 complete, 4 failure, 5 closed (cancelled), 6 timed out"


def _answer(data: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer in the vendor envelope with ``data`` as given (a JSON Schema)."""
    envelope = {"code": {"type": "integer", "const": 0}, "msg": {"type": "string", "const": ""}}
    return json_answer(description, {**envelope, "data": {"type": "object", **data}})


_ERROR_WHY = {
    400: "a field is missing or wrong: msg names it, its range and the value sent",
    401: "missing or wrong Basic credentials",
    402: "the key's credit minutes are used up",
    403: "the key is disabled or not activated",
    404: "no such task (or another key's, or expired)",
    413: "the body or the file is over its limit",
    429: "over the key's request or concurrent-task limit; see Retry-After",
    503: "the server cannot take the task now (its store or queue does not answer); try again",
    507: "the server's disk is full: nothing was stored",
}


_ERROR_ENVELOPE: dict[str, Any] = {
    "code": {"type": "integer", "description": "the HTTP status (never 0 on an error)"},
    "msg": {"type": "string", "description": "what went wrong and what to change"},
    "data": {"type": "object"},
}


def _error_answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses: the vendor envelope, ``code`` the HTTP status."""
    return json_errors(_ERROR_WHY, _ERROR_ENVELOPE, statuses)


_BATCH_ANSWER = _answer(
    {"required": ["task_id"], "properties": {"task_id": {"type": "string", "description": "the task's id"}}},
    "the task was created",
)
_RESULT_ANSWER = _answer(
    {
        "required": ["status", "wait_time", "voice_result", "reason"],
        "properties": {
            "status": {"type": "string", "enum": ["1", "2", "3", "4", "5", "6"], "description": _STATUS_TEXT},
            "wait_time": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "whole seconds until the task is likely done: ask again then; 0 once it ended",
            },
            "voice_result": {
                "type": "string",
                "description": "absolute link to the processed audio (no credentials needed); empty until status 3",
            },
            "reason": {"type": "string", "description": "why it failed, or notes on a completed task; may be empty"},
        },
    },
    "the task's state",
)


# ---------------------------------------------------------------------------- routes


# click-noise-removal.md, "Task Creation"
@router.post(
    f"{PREFIX}/batch",
    responses={**_BATCH_ANSWER, **_error_answers(400, 401, 402, 403, 413, 429, 503, 507)},
    openapi_extra=json_body_schema(WondershareBatchRequest),
)
async def wondershare_batch(request: Request, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    """Create a click-removal task; answers ``{"code": 0, "msg": "", "data": {"task_id"}}``."""
    raw = await read_body(request, _JSON_LIMIT_BYTES, hint="the body names a file_link; the audio is downloaded")
    try:
        data = parse_json(raw or b"null")
    except e.InvalidParameterError:
        sent = request.headers.get("content-type", "").split(";")[0].strip()
        if sent and "json" not in sent.lower():  # a form post where a JSON body was meant
            raise e.InvalidParameterError(
                f"the body must be a JSON object sent with Content-Type: application/json, not {sent}"
            ) from None
        raise
    if not isinstance(data, dict):
        raise e.InvalidParameterError("the body must be a JSON object with file_link, file_info, priority ...")
    try:
        body = WondershareBatchRequest.model_validate(data)
    except ValidationError as exc:
        raise e.InvalidParameterError(_validation_message(exc)) from None
    limit = min(service.settings.max_input_bytes, int(service.settings.wondershare_max_mb * 1024 * 1024))
    spec = to_spec(body, limit)
    job = await service.submit(
        dialect="wondershare",
        spec=spec,
        owner=who.owner,
        priority=body.priority,
        meta={"file_time": body.file_info.file_time, "file_ext": body.file_info.file_ext, "result_name": "declicked"},
    )
    return JSONResponse(_envelope({"task_id": job.id}))


# click-noise-removal.md, "Result Acquisition"
@router.get(f"{PREFIX}/result/{{task_id}}", responses={**_RESULT_ANSWER, **_error_answers(401, 404, 429)})
async def wondershare_result(task_id: str, request: Request, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    """The task's status, when to ask again, the result link once complete, and any reason."""
    job = await service.get(task_id, owner=who.owner)
    if job.dialect != "wondershare":
        raise e.NotFoundError(f"no click-removal task {task_id!r}")
    wait = await service.estimate_wait_s(job)  # the spec carries file_time, bounded by file_size
    if math.isfinite(wait) and not service.rate_measured(job):
        wait = min(wait, _UNMEASURED_WAIT_S)
    if who.rpm and math.isfinite(wait):  # a poll after wait_time must not run into the key's limit
        wait = max(wait, math.ceil(60.0 / who.rpm))
    note = await service.waiting_note(job)
    return JSONResponse(_envelope(render(job, wait, public_base(request, service), note).model_dump()))


# The voice_result link (Hush's; the doc only says "Audio download link after processing")
@router.get(
    f"{PREFIX}/file/{{name}}",
    response_class=FileResponse,
    responses={404: {}},
    openapi_extra={"security": []},  # no credentials: the id in the link is the capability
)
@router.head(f"{PREFIX}/file/{{name}}", include_in_schema=False)
async def wondershare_file(name: str, request: Request, service: ServiceDep) -> Response:
    """The processed audio; no credentials (the task id in the link is the capability)."""
    job, key = await finished_result(service, name, "wondershare")
    ext = job.result_meta["container"]
    task_id = job.id
    return await blob_response(
        service,
        key,
        media_type=media.mime_type(ext),
        filename=f"declicked_{task_id}.{ext}",
        head=request.method == "HEAD",
        request=request,
    )


def wondershare_status_for(exc: Exception) -> int:
    """HTTP status of a domain error here (the core's mapping; unsupported media is a 400)."""
    status = default_status(exc)
    return 400 if status == 415 else status


# --------------------------------------------------------------------------- mock mode
_RESULT_PATH = re.compile(rf"^{re.escape(PREFIX)}/result/([^/]+)$")


def _mock_phases(name: str, phases: tuple[str, ...]) -> MockScenario:
    """A task's status answers ``phases`` in turn, each for the mock's hold (``Prefer: hold=<s>``,
    default ``HUSH_MOCK_HOLD_S``), then its real status. ``wait_time`` is honest: the whole seconds
    until the scripted phases are over (the mock's job has ended by then), ``"0"`` once over."""

    async def respond(request: Request, state: MockState) -> Response | None:
        match = _RESULT_PATH.match(request.url.path)
        if match is None:
            return None
        task_id = match.group(1)
        record = state.jobs.get(task_id)
        step = record.hold_s if record is not None else state.hold_s
        elapsed = state.elapsed(f"wondershare.{name}.{task_id}")
        if state.is_advanced(task_id) or elapsed >= step * len(phases):
            return None
        service: JobService = request.app.state.service
        job = await service.get(task_id)  # 404 in the envelope for an unknown task
        if job.dialect != "wondershare":
            return None
        left = step * len(phases) - elapsed
        data = WondershareResult(
            status=phases[int(elapsed // step)] if step > 0 else phases[-1],
            wait_time=str(max(1, math.ceil(left))),
            voice_result="",
            reason="",
        )
        return JSONResponse(_envelope(data.model_dump()), headers={"X-Hush-Mock": name})

    return MockScenario(
        name,
        respond=respond,
        description=(
            f"a task's status answers {' then '.join(repr(p) for p in phases)} for the mock's hold each "
            "(Prefer: hold=<s>, default HUSH_MOCK_HOLD_S), wait_time counting down to its end, then its real status"
        ),
    )


def _integrity(what: str) -> MockJobEffect:
    def reason(job: Job) -> str:
        ref = job.spec.input
        if what == "md5":
            other = hashlib.md5(f"{ref.expected_md5}.changed".encode(), usedforsecurity=False).hexdigest()
            found = f"has MD5 {other}, not the declared {ref.expected_md5}"
        else:
            found = f"is {(ref.expected_size or 0) + 1} bytes, not the declared {ref.expected_size}"
        return (
            f"the downloaded input {found}: it may have changed in the bucket since its file_info was "
            "computed, or the link points at another file. Recompute file_info or fix the link. (mock scenario)"
        )

    return MockJobEffect(end=JobState.failed, reason=reason, error=e.InputError)


#: Scenarios of ``hush serve --mock`` (see app/api/mock.py for how a request selects one). Status
#: "3" (complete) is what a task without a scenario reaches.
MOCK_SCENARIOS: tuple[MockScenario, ...] = (
    mock_error(
        "401",
        "every request answers 401 in the envelope, as for a wrong appkey:appsecret",
        401,
        lambda: e.AuthError("the appkey and appsecret are not valid"),
        render_error,
    ),
    mock_error(
        "429",
        "every request answers 429 in the envelope with Retry-After: 7",
        429,
        lambda: e.RateLimitedError("too many requests (mock scenario)", retry_after_s=7),
        render_error,
    ),
    mock_error(
        "500",
        "every request answers 500 in the envelope",
        500,
        lambda: e.AppError("internal server error (mock scenario)"),
        render_error,
    ),
    _mock_phases("waiting", ("1", "2")),
    _mock_phases("in_progress", ("2",)),
    mock_job(
        "failed",
        'tasks end with status "4" and a reason',
        MockJobEffect(end=JobState.failed, reason=lambda job: "the audio could not be processed (mock scenario)"),
    ),
    mock_job(
        "closed",
        'tasks end with status "5" (closed) and a reason',
        MockJobEffect(
            end=JobState.cancelled,
            reason=lambda job: "the task was closed before it finished (mock scenario)",
            error=e.ConflictError,
        ),
    ),
    mock_job(
        "timed_out",
        'tasks end with status "6" (timed out) and a reason',
        MockJobEffect(
            end=JobState.timed_out,
            reason=lambda job: "the task took too long and was stopped (mock scenario)",
            error=e.JobTimeoutError,
        ),
    ),
    mock_job(
        "md5_mismatch",
        'tasks end with status "4": the downloaded file\'s MD5 is not file_info.file_md5 (the file is not '
        "fetched; the reason quotes a stand-in MD5)",
        _integrity("md5"),
    ),
    mock_job(
        "size_mismatch",
        'tasks end with status "4": the downloaded file\'s size is not file_info.file_size (the file is not '
        "fetched; the reason quotes a stand-in size)",
        _integrity("size"),
    ),
)

DIALECT = Dialect(
    name="wondershare",
    router=router,
    prefixes=(PREFIX,),
    render_error=render_error,
    status_for=wondershare_status_for,
    mock_scenarios=MOCK_SCENARIOS,
)
