"""The native job API (``/api/v1``) and health checks.

Submit a file or URL with a list of steps, follow it over a websocket or server-sent events,
download the result. The CLI's remote mode and the tests of the core use it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app import media
from app.auth import KeyStore, Principal
from app.errors import AppError, ConflictError
from app.http import KeysDep, ServiceDep, blob_response, default_status, follow_on_socket, public_base, start_watch
from app.jobs.engines import engine_choices
from app.jobs.models import InputRef, Job, JobSpec, JobState, OutputSpec, Step
from app.jobs.steps import PARAM_SPECS, STEPS

__all__ = ["JobCreate", "JobPublic", "Problem", "errors", "router"]

router = APIRouter()


class Problem(BaseModel):
    """The native error body (``application/problem+json``)."""

    title: str = Field(description="what went wrong, in words (with a hint in parentheses when there is one)")
    status: int
    code: str = Field(description="stable error code, e.g. auth.invalid, input.too_large, engine.unavailable")
    hint: str | None = None
    error_id: str | None = Field(None, description="on 5xx: quote it to find the error in the server log")


_WHY = {
    400: "bad request: invalid parameters or body, corrupt or empty input, a URL the server refuses",
    401: "missing or invalid API key",
    402: "the key's credit minutes are used up (hush keys credit)",
    403: "the key is disabled or not activated, or an open server was reached from another host",
    404: "no such job or file (or it belongs to another key, or it expired)",
    409: "the job is not in a state that allows this, or a request_id reused for another request",
    413: "the input is larger than HUSH_MAX_INPUT_MB (a job's JSON body: larger than 1 MiB)",
    415: "the input is not a supported audio or video format",
    429: "over the key's request or concurrent-job limit, or too many live streams; see Retry-After",
    501: "a processing step this build does not have",
    507: "the server's disk is full: nothing was stored",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route really answers (401 and 429 always)."""
    return {code: {"model": Problem, "description": _WHY[code]} for code in sorted({401, 403, 429, *statuses})}


_HOW = "it as Authorization: Bearer KEY or in the x-api-key header"
#: How a native job lowers its level (the clipping warning says so).
_LEVEL_HINT = "add the loudness step to bring the level down"


def principal(
    keys: KeysDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    """Native auth: ``Authorization: Bearer <key>``, ``x-api-key: <key>``, or the HTTP Basic
    ``appkey:appsecret`` of the click-removal API (so its tasks can be cancelled here)."""
    key = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    elif authorization and authorization.lower().startswith("basic ") and not key:
        return keys.check_basic(authorization)
    return keys.check_key(key, how=_HOW)


PrincipalDep = Annotated[Principal, Depends(principal)]


class FileUploaded(BaseModel):
    """An uploaded input, usable as ``input.file_id`` for 24 h (``HUSH_RETENTION_HOURS``)."""

    file_id: str
    info: dict[str, Any]


_PCM_RATE: dict[str, Any] = {
    "pcm_sample_rate": {
        "anyOf": [{"type": "integer", "minimum": 8000, "maximum": 192000}, {"type": "null"}],
        "description": "for headerless PCM16 input",
    }
}


class JobInput(BaseModel):
    """Where the audio comes from: exactly one of ``file_id`` and ``url``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # each branch names every field it may hold: code generators build one model per branch
            "oneOf": [
                {"required": ["file_id"], "properties": {"file_id": {"type": "string"}, **_PCM_RATE}},
                {"required": ["url"], "properties": {"url": {"type": "string"}, **_PCM_RATE}},
            ]
        },
    )

    # min_length: an empty id or URL used to pass as "given" and fail the job later without input
    file_id: str | None = Field(None, min_length=1, description="an id from POST /api/v1/files")
    url: str | None = Field(None, min_length=1, description="an http(s) URL the server may fetch (URL policy)")
    pcm_sample_rate: int | None = Field(None, ge=8000, le=192000, description="for headerless PCM16 input")

    @model_validator(mode="after")
    def _one_source(self) -> JobInput:
        if (self.file_id is None) == (self.url is None):
            raise ValueError("give exactly one of file_id or url")
        return self


class JobCreate(BaseModel):
    """A processing request. Unknown fields are refused (as unknown step parameters are): a
    misspelt or misplaced option must not be dropped silently."""

    model_config = ConfigDict(extra="forbid")

    input: JobInput
    steps: list[Step] = Field(
        default_factory=lambda: [Step(name="denoise")],
        description="the steps to run, in order (`GET /api/v1/steps` lists them); left out: a denoise; `[]`: none, "
        "the input only converted to output_container (billed by its length like any job)",
        json_schema_extra={"default": [{"name": "denoise", "params": {}}]},
    )
    output_container: str | None = Field(
        None,
        description="wav, flac, pcm (raw 16-bit), mp3, ogg (Opus at the Opus rates, else Vorbis), opus (always "
        "Opus), m4a, mp4, webm, or a MIME type or alias of one (aac, audio/mpeg); default: the input's",
    )
    priority: int = Field(5, ge=0, le=9)
    request_id: str | None = Field(
        None,
        max_length=200,
        description="idempotency key: a repeat of the same request returns the same job; another request under "
        "the same key is refused (409)",
    )
    webhook_url: str | None = None
    put_url: str | None = None


class JobPublic(BaseModel):
    """A job as the native API shows it."""

    id: str
    state: JobState
    progress: float
    jobs_ahead: int
    priority: int
    attempts: int
    """Runs started so far (more than 1 after a worker crash or a transient input-fetch error)."""
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: dict[str, str] | None
    result_url: str | None
    result: dict[str, Any] = Field(
        description="what the job did and made; filled in as it runs and once it has succeeded",
        # (documented, not enforced: a generated client typed it as a plain dict and its fields,
        # which the README names, were found nowhere in the schema)
        json_schema_extra={
            "properties": {
                "input": {
                    "type": "object",
                    "description": "the input as probed: container, codec, sample_rate, channels, duration_s, "
                    "has_video (and declared_duration_s when the decoded length differs)",
                },
                "steps": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "one report per step: `step`, `applied`, `not_applied` (the reason, when "
                    "nothing was done) and what it measured",
                },
                "segments": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                    "description": "a vad step's speech, `[start_s, end_s]` pairs",
                },
                "warnings": {"type": "array", "items": {"type": "string"}, "description": "what to know"},
                "container": {"type": "string", "description": "the result's format"},
                "mime": {"type": "string"},
                "size_bytes": {"type": "integer"},
                "sample_rate": {"type": "integer"},
                "channels": {"type": "integer"},
                "duration_s": {"type": "number", "description": "the result's length"},
                "billable_minutes": {"type": "integer", "description": "the input's length in started minutes"},
                "unchanged": {"type": "boolean", "description": "true when the result is the input itself"},
                "put_status": {"type": "integer", "description": "the put_url's answer"},
                "put_attempts": {"type": "integer"},
                "result_deleted": {"type": "boolean", "description": "the result file was deleted (DELETE)"},
            },
            "additionalProperties": True,
        },
    )
    steps: list[Step]
    stage: str | None = None
    """While the job is ``in_progress``: the steps of the pass over the audio that runs now
    (``"speech detection"``, ``"denoise, dehum"``, ``"loudness"``; the steps of one pass run on
    each block in turn, so a pass is named by all of them), ``"preparing"`` before the first pass
    (the input is read and checked), ``"loudness check"`` while a loudness step measures the
    result, ``"loudness correction"`` while it writes it again (its level or peak was off),
    ``"uploading the result to put_url"``; null otherwise."""
    message: str | None = None
    """Why a queued job does not start, when the server knows: ``"waiting: no worker is running
    (start `hush worker`)"`` while no worker of a cluster is alive; null otherwise."""
    webhook: dict[str, Any] | None = None
    """The webhook's delivery, for a job that named a ``webhook_url``: ``{"delivered", "attempts",
    "status", "error"}``: ``delivered`` null until the job has ended and the delivery is done (its
    attempts included), then true or false, ``status`` the receiver's last HTTP status and
    ``error`` why the last attempt failed. Null for a job without a webhook."""


def to_public(job: Job, jobs_ahead: int = 0, message: str | None = None) -> JobPublic:
    error = {"code": job.error_code or "", "reason": job.error_reason or ""} if job.error_code else None
    return JobPublic(
        id=job.id,
        state=job.state,
        progress=job.progress,
        jobs_ahead=jobs_ahead,
        priority=job.priority,
        attempts=job.attempt,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=error,
        result_url=f"/api/v1/jobs/{job.id}/result" if job.result_key else None,
        # (the runner's own bookkeeping: the stage is its own field; pace_from times the estimate)
        result={k: v for k, v in job.result_meta.items() if k not in ("stage", "pace_from")},
        steps=list(job.spec.steps),
        # (a worker reads and checks the input before its first pass names itself)
        stage=(job.result_meta.get("stage") or "preparing") if job.state is JobState.in_progress else None,
        message=message,
        webhook=_webhook_view(job),
    )


def _webhook_view(job: Job) -> dict[str, Any] | None:
    if not job.spec.webhook_url:
        return None
    sent = job.meta.get("webhook") or job.meta.get("webhook_progress")  # ended, or still retrying
    if sent is None:
        return {"delivered": None, "attempts": 0, "status": None, "error": None}
    return {k: sent.get(k) for k in ("delivered", "attempts", "status", "error")}


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"description": "not ready: the body names the failing check"}})
async def readyz(request: Request, service: ServiceDep) -> JSONResponse:
    """Readiness: the job store answers and the worker pool (embedded) or the broker (cluster) runs.

    The body: ``status`` (``ok``, ``degraded`` or ``unavailable``), ``checks`` (one line each) and
    ``workers`` (``{"alive", "slots"}``: workers and the jobs they run at once; a cluster's are
    the ``hush worker`` processes whose heartbeat is fresh). A cluster with no worker alive is
    ``degraded`` and still ready (200): jobs are accepted and wait; with
    ``HUSH_READY_REQUIRES_WORKER`` it is ``unavailable`` (503)."""
    body = await service.readiness()
    return JSONResponse(body, status_code=503 if body["status"] == "unavailable" else 200)


class ParamInfo(BaseModel):
    """A step parameter: its JSON type, the value used when it is left out, and what it takes."""

    type: Literal["number", "integer", "word", "list"]
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    choices: list[str] | None = Field(None, description="the words a word parameter takes")
    nullable: bool | None = Field(None, description="null is taken: the value is found in the audio")
    note: str | None = Field(None, description="a bound that depends on another parameter")


class StepInfo(BaseModel):
    """A processing step of this build."""

    name: str
    kind: str
    params: list[str]
    param_specs: dict[str, ParamInfo]
    available: bool
    description: str
    engines: list[dict[str, Any]] | None = None


#: The response header of ``GET /api/v1/steps`` that gives the largest upload in bytes
#: (``HUSH_MAX_INPUT_MB``): a client (the playground) refuses a larger file before it sends it.
MAX_INPUT_HEADER = "Hush-Max-Input-Bytes"


@router.get(
    "/api/v1/steps",
    tags=["jobs"],
    responses={
        200: {
            "headers": {
                MAX_INPUT_HEADER: {
                    "description": "the largest input file this server takes, in bytes (HUSH_MAX_INPUT_MB); "
                    "a larger upload or download is refused (413)",
                    "schema": {"type": "integer"},
                }
            }
        },
        **errors(),
    },
    response_model=list[StepInfo],
    response_model_exclude_none=True,
)
async def list_steps(_: PrincipalDep, request: Request, response: Response) -> list[dict[str, Any]]:
    """Processing steps this build offers, with their parameters and availability. The
    ``Hush-Max-Input-Bytes`` header gives the largest input file the server takes."""
    response.headers[MAX_INPUT_HEADER] = str(request.app.state.settings.max_input_bytes)

    def describe() -> list[dict[str, Any]]:  # availability imports the DSP modules: off the loop
        return [
            {
                "name": s.name,
                "kind": s.kind,
                "params": list(s.params),
                # each one's type, default and range (a client can check a value before it sends it)
                "param_specs": {name: spec.public() for name, spec in PARAM_SPECS.get(s.name, {}).items()},
                "available": s.available,
                "description": s.description,
                **({"engines": engine_choices(s.name)} if s.name in ("denoise", "vad") else {}),
            }
            for s in STEPS.values()
        ]

    return await anyio.to_thread.run_sync(describe)


@router.post("/api/v1/files", tags=["jobs"], status_code=201, responses=errors(400, 413, 415, 507))
async def upload_file(
    service: ServiceDep,
    who: PrincipalDep,
    file: Annotated[UploadFile, File()],
    pcm_sample_rate: Annotated[
        int | None, Form(ge=8000, le=192000, description="the rate of headerless 16-bit mono PCM (little-endian)")
    ] = None,
) -> FileUploaded:
    """Upload an input file (any supported audio or video container, or headerless 16-bit PCM with
    ``pcm_sample_rate``)."""
    stored = await service.store_upload(
        file.file, owner=who.owner, filename=file.filename, pcm_sample_rate=pcm_sample_rate
    )
    return FileUploaded(file_id=stored.id, info=stored.info)


@router.post("/api/v1/jobs", tags=["jobs"], status_code=202, responses=errors(400, 402, 404, 409, 413, 501))
async def create_job(body: JobCreate, request: Request, service: ServiceDep, who: PrincipalDep) -> JobPublic:
    """Submit a job; answers at once with its id and state."""
    if body.output_container is not None and body.output_container.strip():
        media.container_name(body.output_container)  # an unknown format is a 400 now, not a failed job
    blob_key, pcm_rate = None, body.input.pcm_sample_rate
    if body.input.file_id:
        stored = await service.get_file(body.input.file_id, owner=who.owner)
        blob_key = stored.blob_key
        if stored.info.get("container") == "pcm":  # uploaded with its rate: the job reads it so
            pcm_rate = pcm_rate or stored.info.get("sample_rate")
    spec = JobSpec(
        input=InputRef(blob_key=blob_key, url=body.input.url, pcm_sample_rate=pcm_rate),
        steps=tuple(body.steps),
        output=OutputSpec(container=body.output_container, put_url=body.put_url, level_hint=_LEVEL_HINT),
        webhook_url=body.webhook_url,
    )
    job = await service.submit(
        dialect="native",
        spec=spec,
        owner=who.owner,
        request_id=body.request_id,
        priority=body.priority,
        meta={"base_url": public_base(request, service)},  # for the webhook's absolute result_url
    )
    if body.request_id is not None and (
        job.spec.model_dump(mode="json") != spec.model_dump(mode="json") or job.priority != body.priority
    ):
        raise ConflictError(
            f"request_id {body.request_id!r} already names job {job.id}, submitted with other input, steps or "
            "options; a repeat must send the same request",
            hint="use a new request_id for a new request",
        )
    return to_public(job, await service.jobs_ahead(job), await service.waiting_note(job))


@router.get("/api/v1/jobs/{job_id}", tags=["jobs"], responses=errors(404))
async def get_job(job_id: str, service: ServiceDep, who: PrincipalDep) -> JobPublic:
    """A job's state, progress, queue position, errors and per-step report."""
    job = await service.get(job_id, owner=who.owner)
    return to_public(job, await service.jobs_ahead(job), await service.waiting_note(job))


@router.delete("/api/v1/jobs/{job_id}", tags=["jobs"], responses=errors(404))
async def cancel_job(job_id: str, service: ServiceDep, who: PrincipalDep) -> JobPublic:
    """Cancel a job that has not finished (a finished job is answered unchanged: its result is
    deleted with ``DELETE /api/v1/jobs/{job_id}/result``)."""
    return to_public(await service.cancel(job_id, owner=who.owner))


@router.delete("/api/v1/jobs/{job_id}/result", tags=["jobs"], responses=errors(404, 409))
async def delete_result(job_id: str, service: ServiceDep, who: PrincipalDep) -> JobPublic:
    """Delete a finished job's result file now, before ``HUSH_RETENTION_HOURS`` would; its JSON
    stays until then, with ``result.result_deleted``, and the result answers 404. An uploaded input
    goes with ``DELETE /api/v1/files/{file_id}``. (A finished job's audio could not be removed
    before it expired: an audit.)"""
    return to_public(await service.delete_results(job_id, owner=who.owner))


@router.delete("/api/v1/files/{file_id}", tags=["jobs"], status_code=204, responses=errors(404))
async def delete_file(file_id: str, service: ServiceDep, who: PrincipalDep) -> Response:
    """Delete an uploaded file now, before ``HUSH_RETENTION_HOURS`` would (a job still waiting
    for it fails: its input is gone)."""
    await service.delete_file(file_id, owner=who.owner)
    return Response(status_code=204)


@router.get("/api/v1/jobs/{job_id}/result", tags=["jobs"], response_class=FileResponse, responses=errors(404, 409))
@router.head("/api/v1/jobs/{job_id}/result", include_in_schema=False)
async def get_result(job_id: str, request: Request, service: ServiceDep, who: PrincipalDep) -> Response:
    """Download the processed file (HEAD: its headers and length only)."""
    job = await service.get(job_id, owner=who.owner)
    key = service.result_key(job)
    return await blob_response(
        service,
        key,
        media_type=job.result_meta.get("mime", "application/octet-stream"),
        filename=PurePosixPath(key).name,
        head=request.method == "HEAD",
        request=request,
    )


#: Longest quiet on an event stream before a comment line is sent: the HTML standard's advice for
#: server-sent events ("a comment line ... every 15 seconds or so", HTML Living Standard, 9.2
#: Server-sent events, authoring notes), so proxies and client read timeouts (often 30-60 s) do
#: not cut the stream of a job that waits in the queue, and a client tells a quiet job from a
#: dead connection.
SSE_KEEPALIVE_S = 15.0


async def with_keepalive(items: AsyncIterator[Any], every_s: float) -> AsyncGenerator[Any, None]:
    """``items``, with ``None`` in between whenever ``every_s`` passes without one.

    The pending item is waited for again, never cancelled: a timeout does not end ``items``.
    When the consumer stops early, the pending read is cancelled and ``items`` closed (its
    ``finally`` blocks run).
    """
    source = aiter(items)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield None
                continue
            future, pending = pending, None
            try:
                item = future.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


@router.get(
    "/api/v1/jobs/{job_id}/events",
    tags=["jobs"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "a server-sent event stream (text, read line by line as it comes, not one JSON "
            "document): frames `event: job` / `data: <JobPublic as JSON>` separated by a blank line, the "
            "job now and after every change, ending with its final state; a comment line `: keep-alive` after "
            "15 s without news (skip lines that start with `:`, as SSE readers do). The same frames come over the "
            "websocket `/api/v1/jobs/{job_id}/ws` (auth: these headers, or `?key=KEY` for browsers).",
            # OpenAPI 3.2's itemSchema: each event, as parsed (contract testers check every event
            # against it); no plain ``schema``, which code generators read as one JSON document
            "content": {
                "text/event-stream": {
                    "itemSchema": {
                        "type": "object",
                        "required": ["event", "data"],
                        "properties": {
                            "event": {"const": "job"},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {"$ref": "#/components/schemas/JobPublic"},
                            },
                        },
                    }
                }
            },
        },
        **errors(404),
    },
)
async def job_events(job_id: str, service: ServiceDep, who: PrincipalDep) -> StreamingResponse:
    """Server-sent events: the job now and after every change, ending with its final state."""
    watching = await start_watch(service, job_id, owner=who.owner)  # (a 404 or 429 now, before the stream)

    async def stream() -> AsyncIterator[str]:
        async for item in with_keepalive(watching, SSE_KEEPALIVE_S):
            if item is None:  # nothing new for a while (a job waiting in the queue): a comment line
                yield ": keep-alive\n\n"
                continue
            job, ahead = item
            public = to_public(job, ahead, await service.waiting_note(job))
            yield f"event: job\ndata: {public.model_dump_json()}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.websocket("/api/v1/jobs/{job_id}/ws")
async def job_socket(websocket: WebSocket, job_id: str) -> None:
    """The same stream as ``/events`` over a websocket.

    Auth: ``Authorization: Bearer <key>``, ``x-api-key``, or ``?key=`` for browsers (which cannot
    set headers on a websocket; the key is redacted from access logs). A refused handshake
    answers HTTP 401 (key), 404 (job) or 429 (too many streams) with a problem+json body where
    the server supports it, else closes with 4401 / 4404 / 4429.
    """
    keys: KeyStore = websocket.app.state.keys
    service = websocket.app.state.service
    authorization = websocket.headers.get("authorization") or ""
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    try:
        who = keys.check_key(
            bearer or websocket.headers.get("x-api-key") or websocket.query_params.get("key"),
            how="it as Authorization: Bearer KEY, in the x-api-key header or as ?key=KEY",
        )
        watching = await start_watch(service, job_id, owner=who.owner)
    except AppError as exc:
        status = default_status(exc)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            body = {"title": exc.message, "status": status, "code": exc.code}
            await websocket.send_denial_response(
                JSONResponse(body, status_code=status, media_type="application/problem+json")
            )
        else:
            await websocket.close(code=4000 + status, reason=exc.message[:120])
        return

    async def send_all() -> None:
        async for job, ahead in watching:
            await websocket.send_text(to_public(job, ahead, await service.waiting_note(job)).model_dump_json())

    try:
        await websocket.accept()
        await follow_on_socket(websocket, send_all)
    finally:
        await watching.aclose()


async def native_webhook(job: Job, service: Any) -> dict[str, Any]:
    """Webhook body for native jobs: the job as ``GET /api/v1/jobs/{id}`` shows it, its
    ``result_url`` absolute (the receiver is elsewhere): on the base the job was submitted to."""
    body = to_public(job).model_dump(mode="json")
    base = job.meta.get("base_url")
    if body.get("result_url") and isinstance(base, str) and base:
        body["result_url"] = base + body["result_url"]
    return body
