"""Audo AI noise-removal API (``shared/vendor-docs/audo-remove-noise.md``) over the job core.

Served under ``/v1`` so the official SDK works with ``base_url="http://hush:8000/v1"``. What the
SDK really sends differs from the doc (``shared/vendor-docs/sdk-notes.md`` §0.6–0.11, §4); both
are accepted. Deliberate deviations from the vendor are written next to the field or route:

* every client error is **422** ``{"detail": ...}``, never 400 (the SDK reports any 400 from
  ``/remove-noise`` as ``InsufficientCredits``);
* ``/remove-noise`` reads its JSON body whatever the ``Content-Type`` says (the doc's curl
  examples send ``-d '{...}'``, i.e. ``application/x-www-form-urlencoded``);
* ``downloadPath`` has a leading slash (``/dl/artifacts/clean/audo_enhanced_<jobId>.<ext>``) so
  ``base_url + downloadPath`` is right; the doc form ``/v1dl/...`` is served as well;
* a ``queued`` status carries ``reason`` (the doc: only ``failed``) while no worker of a cluster is
  alive: ``"waiting: no worker is running (start `hush worker`)"``. The SDK hands queued statuses
  to ``on_update`` as they are, and keeps waiting.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    json_error,
    mock_error,
    mock_job,
    parse_json,
    read_body,
)
from app.http import follow_on_socket, message_with_error_id, start_watch
from app.jobs.models import InputRef, Job, JobSpec, JobState, OutputSpec, Step
from app.jobs.service import JobService

__all__ = [
    "DIALECT",
    "AudoDeleteResultsResponse",
    "AudoRemoveNoiseRequest",
    "AudoRemoveNoiseResponse",
    "AudoStatusResponse",
    "AudoUploadResponse",
    "render",
    "to_spec",
]

#: Name of the result blob (the runner stores ``results/<jobId>/audo_enhanced.<ext>``).
RESULT_NAME = "audo_enhanced"
#: Download URLs name the file ``audo_enhanced_<jobId>.<ext>``, so the route finds the job by it.
_DOWNLOAD_RE = re.compile(
    r"^artifacts/clean/audo_enhanced_(?P<job>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?P<ext>\.[a-z0-9]{2,5})$"
)
#: Noise reduction when the request leaves it out (doc: "100 = full reduction (default)").
DEFAULT_AMOUNT = 100
_EXT_RE = re.compile(r"^[A-Za-z0-9]{1,8}$")


# ---------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class AudoUploadResponse(_Model):
    """Answer of ``POST /upload``."""

    file_id: str = Field(alias="fileId")


class AudoRemoveNoiseRequest(_Model):
    """Body of ``POST /remove-noise``; the SDK sends explicit ``null`` for unset fields."""

    input: str = Field(min_length=1)
    """A ``fileId`` from ``/upload`` or an ``http(s)`` URL the worker downloads."""
    output_extension: str | None = Field(None, alias="outputExtension")
    """``"mp3"`` or ``".wav"`` (the SDK docstring uses a leading dot); default: the input's container."""
    output: str | None = None
    """A URL the result is PUT to (presigned-upload style); ``downloadPath`` is reported as well."""
    noise_reduction_amount: int | None = Field(None, alias="noiseReductionAmount", ge=1, le=100)
    """1–100, as a number or a numeric string (the doc sends ``"90"``); default 100."""
    auto_volume: bool | float | None = Field(None, alias="autoVolume")
    """Undocumented (SDK only). ``true``: normalise loudness to the loudness step's default target.
    Deviation/interpretation: a number is the target integrated loudness in LUFS (the SDK says
    "optionally to a specific db"), from -70 to -1; ``false``/``null`` leave the level alone."""

    @field_validator("noise_reduction_amount", mode="before")
    @classmethod
    def _amount_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("must be an integer from 1 to 100, not a boolean")
        if isinstance(v, str):
            return v.strip()
        return v

    @field_validator("auto_volume")
    @classmethod
    def _volume_target(cls, v: bool | float | None) -> bool | float | None:
        if isinstance(v, float) and not -70.0 <= v <= -1.0:
            raise ValueError(
                "a number is the target loudness in LUFS and must be from -70 to -1; send true for the default target"
            )
        return v


class AudoRemoveNoiseResponse(_Model):
    """Answer of ``POST /remove-noise``."""

    job_id: str = Field(alias="jobId")


class AudoStatusResponse(_Model):
    """One status message (HTTP answer and websocket frame have the same shape)."""

    state: str
    jobs_ahead: int | None = Field(None, alias="jobsAhead")
    percent: int | None = None
    download_path: str | None = Field(None, alias="downloadPath")
    reason: str | None = None

    def body(self) -> dict[str, Any]:
        """The vendor JSON: only the fields the state carries."""
        return self.model_dump(by_alias=True, exclude_none=True)


class AudoDeleteResultsResponse(_Model):
    """Answer of the SDK's undocumented ``POST /remove-noise/{jobId}/delete-results``."""

    job_id: str = Field(alias="jobId")
    deleted: bool = True


# ---------------------------------------------------------------------------- spec and render


def _container_name(extension: str) -> str:
    """``".WAV"``/``"mp3"``/``"audio/mpeg"`` → our container name; InvalidParameterError otherwise."""
    probe = media.MediaInfo(container="wav", codec="pcm_s16le", sr=48_000, channels=1, duration_s=None, has_video=False)
    return media.output_container(probe, extension)


def to_spec(request: AudoRemoveNoiseRequest, input_ref: InputRef) -> JobSpec:
    """The job for a ``/remove-noise`` request whose input is already resolved."""
    amount = DEFAULT_AMOUNT if request.noise_reduction_amount is None else request.noise_reduction_amount
    steps = [Step(name="denoise", params={"amount": amount})]
    volume = request.auto_volume
    if volume is True:
        steps.append(Step(name="loudness"))
    elif isinstance(volume, float):
        steps.append(Step(name="loudness", params={"target_lufs": volume}))
    container = None
    if request.output_extension is not None and request.output_extension.strip():
        container = _container_name(request.output_extension)
    return JobSpec(
        input=input_ref,
        steps=tuple(steps),
        output=OutputSpec(
            container=container, put_url=request.output, level_hint="set autoVolume to bring the level down"
        ),
    )


_LINK_EXT_RE = re.compile(r"^\.[a-z0-9]{2,5}$")  # what the download route's pattern takes


def _family(container: str) -> str:
    # one ISO BMFF family (.mp4 / .m4a / .aac) and one Ogg family (an Ogg Opus input kept as it
    # was is saved as .opus, as the caller named it)
    return {"mp4": "m4a", "opus": "ogg"}.get(container, container)


def caller_ext(request: AudoRemoveNoiseRequest, input_ref: InputRef) -> str | None:
    """The extension the caller will save the result under: the ``outputExtension`` asked for,
    else the input's (its upload name or URL path), lower case; None when neither looks like one.

    The SDK's ``save(filename)`` refuses a name that does not end with the download URL's
    extension, and the output keeps the input's container, so ``process("note.opus")`` then
    ``save("clean.opus")`` needs the URL to end ``.opus``, not ``.ogg`` (sdk-notes.md §9)."""
    asked = (request.output_extension or "").strip()
    if asked:
        name = asked if "/" not in asked else ""  # a MIME type names no extension
        ext = name.lower() if name.startswith(".") else f".{name.lower()}" if name else ""
    elif input_ref.filename:
        ext = PurePosixPath(input_ref.filename).suffix.lower()
    elif input_ref.url:
        ext = PurePosixPath(urlsplit(input_ref.url).path).suffix.lower()
    else:
        ext = ""
    return ext if _LINK_EXT_RE.match(ext) else None


def _result_ext(job: Job) -> str:
    container = job.result_meta.get("container")
    if isinstance(container, str) and container in media.EXTENSIONS:
        wanted = job.meta.get("ext")
        if isinstance(wanted, str) and _LINK_EXT_RE.match(wanted):
            with contextlib.suppress(e.InvalidParameterError):
                if _family(_container_name(wanted)) == _family(container):
                    return wanted
        return media.EXTENSIONS[container]
    return PurePosixPath(job.result_key or "x.wav").suffix or ".wav"


def download_path(job: Job) -> str:
    """``/dl/artifacts/clean/audo_enhanced_<jobId>.<ext>`` (leading slash: the SDK prepends ``base_url``)."""
    return f"/dl/artifacts/clean/{RESULT_NAME}_{job.id}{_result_ext(job)}"


def render(job: Job, jobs_ahead: int = 0, note: str | None = None) -> AudoStatusResponse:
    """The documented status message for ``job``; cancelled and timed-out jobs, and those whose
    results were deleted, report ``failed``.

    ``note`` is the ``reason`` of a queued job that cannot start (no worker is running)."""
    state = job.state
    if state is JobState.queued:
        return AudoStatusResponse(state="queued", jobs_ahead=jobs_ahead, reason=note or None)
    if state is JobState.downloading:
        return AudoStatusResponse(state="downloading")
    if state is JobState.in_progress:
        return AudoStatusResponse(state="in_progress", percent=int(max(0.0, min(job.progress, 100.0))))
    if state is JobState.succeeded and job.result_key:
        return AudoStatusResponse(state="succeeded", download_path=download_path(job))
    if state is JobState.succeeded:  # its results were deleted (delete-results): nothing to download
        return AudoStatusResponse(state="failed", reason="the results were deleted (delete-results)")
    if state is JobState.cancelled:
        reason = job.error_reason or "the job was cancelled"
    elif state is JobState.timed_out:
        reason = job.error_reason or "the job took too long and was stopped"
    else:
        reason = job.error_reason or "processing failed"
    return AudoStatusResponse(state="failed", reason=reason)


# ---------------------------------------------------------------------------- errors and auth


def audo_status_for(exc: Exception) -> int:
    """HTTP status in this dialect: every client error about the request or its media is 422.

    Deviation: the core answers 400 (and 415 for unsupported media); the SDK maps 422 to
    ``MalformedFile`` on ``/upload`` and *any* 400 on ``/remove-noise`` to ``InsufficientCredits``.
    Too-large inputs stay 413.
    """
    if isinstance(exc, e.InputTooLargeError):
        return 413
    if isinstance(exc, e.InsufficientCreditsError):
        return 400  # the SDK reads a 400 from /remove-noise as InsufficientCredits (sdk-notes §4)
    if isinstance(exc, e.AuthError):
        return 401  # disabled and not-activated keys too: the SDK knows 401
    status = default_status(exc)
    if isinstance(exc, e.InputError | e.FetchError) or status == 400:
        return 422
    return status


class AudoError(BaseModel):
    """Every error body in this dialect: FastAPI-style ``{"detail": "<message>"}`` (a string, which
    the SDK prints), never FastAPI's list of validation errors."""

    detail: str


_WHY = {
    400: "the key's credit minutes are used up (the SDK reads it as InsufficientCredits)",
    401: "missing, invalid, disabled or not-activated API key",
    404: "no such job or result (deleted, expired, or another key's)",
    409: "the job is still queued or running: wait for it to finish, or cancel it (DELETE /api/v1/jobs/{job_id})",
    413: "the input is larger than HUSH_MAX_INPUT_MB (a remove-noise body: larger than 64 KiB)",
    422: "invalid body or parameters, or media that cannot be decoded (the SDK's MalformedFile)",
    429: "over the key's request or concurrent-job limit; see Retry-After",
    500: "internal error (the message carries an error id)",
    501: "a processing step this build does not have",
    507: "the server's disk is full: nothing was stored",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the statuses a route really answers, in this dialect's envelope."""
    return {code: {"model": AudoError, "description": _WHY[code]} for code in sorted({401, 422, 429, 500, *statuses})}


def render_error(request: Request, exc: Exception, status: int, message: str) -> Response:
    """FastAPI-style ``{"detail": ...}``, which the SDK reads; 429 carries ``Retry-After``."""
    return json_error(status, {"detail": message_with_error_id(exc, message)}, exc)


_HOW = "it in the x-api-key header"


def audo_principal(keys: KeysDep, x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None) -> Principal:
    """The caller, from the ``x-api-key`` header (AuthError → 401, RateLimitedError → 429)."""
    return keys.check_key(x_api_key, how=_HOW)


PrincipalDep = Annotated[Principal, Depends(audo_principal)]


def audo_uploader(keys: KeysDep, x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None) -> Principal:
    """The caller of ``/upload``, outside the key's per-minute limit: the SDK answers a 429 by
    sleeping ``Retry-After`` and sending the same request again with the file object it has
    already read, an empty upload, which then fails as ``MalformedFile`` although the file was
    fine. An upload starts no work; the jobs made from it are counted (and charged) as usual."""
    return keys.check_key(x_api_key, how=_HOW, rate=False)


router = APIRouter(tags=["audo"])


# ---------------------------------------------------------------------------- routes


# audo-remove-noise.md, "POST /upload"
@router.post(
    "/v1/upload",
    response_model_exclude_none=True,
    responses={**_errors(413, 507), 400: {"model": AudoError, "description": "a malformed multipart body"}},
)
async def audo_upload(
    service: ServiceDep,
    who: Annotated[Principal, Depends(audo_uploader)],
    file: Annotated[UploadFile, File(description="the audio or video file (the SDK sends no Content-Type)")],
    input_ext: Annotated[str | None, Query(alias="inputExt")] = None,
) -> AudoUploadResponse:
    """Store a file for later ``/remove-noise`` jobs.

    Deviation: ``inputExt`` only renames the stored file; the format is always sniffed from the
    bytes, so a wrong extension cannot break decoding.
    """
    filename = file.filename
    if input_ext is not None and input_ext.strip():
        ext = input_ext.strip().lstrip(".")
        if not _EXT_RE.match(ext):
            raise e.InvalidParameterError(f"inputExt {input_ext!r} is not a file extension such as 'wav'")
        stem = PurePosixPath(filename or "file").stem or "file"
        filename = f"{stem}.{ext.lower()}"
    stored = await service.store_upload(file.file, owner=who.owner, filename=filename)
    return AudoUploadResponse(file_id=stored.id)


#: Largest remove-noise body: a file id or URL and a few options (a deep or huge JSON is refused).
_JSON_LIMIT_BYTES = 64 * 1024


async def _read_remove_noise(request: Request) -> AudoRemoveNoiseRequest:
    # The body names an uploaded file or a URL: it is small, so its own limit is small.
    raw = await read_body(
        request, _JSON_LIMIT_BYTES, hint="the body names a file id or URL; send the audio to /v1/upload"
    )
    data = parse_json(raw or b"null")
    if not isinstance(data, dict):
        raise e.InvalidParameterError('the body must be a JSON object such as {"input": "<fileId>"}')
    try:
        return AudoRemoveNoiseRequest.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        raise e.InvalidParameterError("; ".join(parts)) from None


async def _resolve_input(service: JobService, value: str, owner: str) -> InputRef:
    value = value.strip()
    if value.lower().startswith(("http://", "https://")):
        return InputRef(url=value)
    if "://" in value:
        raise e.InvalidParameterError(f"input {value!r} is neither a fileId nor an http(s) URL")
    try:
        stored = await service.get_file(value, owner=owner)
    except e.NotFoundError:
        # 422, not 404: the request body is what is wrong (and the SDK maps 404 to a bare HTTPError)
        raise e.InvalidParameterError(
            f"input {value!r} is not a fileId from /upload (files expire) nor an http(s) URL"
        ) from None
    return InputRef(blob_key=stored.blob_key, filename=stored.filename)


# audo-remove-noise.md, "POST /remove-noise"
@router.post(
    "/v1/remove-noise",
    response_model_exclude_none=True,
    responses=_errors(400, 404, 413, 501),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AudoRemoveNoiseRequest.model_json_schema(by_alias=True)}},
        }
    },
)
async def audo_remove_noise(request: Request, service: ServiceDep, who: PrincipalDep) -> AudoRemoveNoiseResponse:
    """Submit a noise-removal job; answers at once with its ``jobId``."""
    body = await _read_remove_noise(request)
    if body.output is not None and not body.output.strip().lower().startswith(("http://", "https://")):
        raise e.InvalidParameterError(f"output {body.output!r} must be an http(s) URL to PUT the result to")
    input_ref = await _resolve_input(service, body.input, who.owner)
    spec = to_spec(body, input_ref)
    meta: dict[str, Any] = {"result_name": RESULT_NAME}
    ext = caller_ext(body, input_ref)
    if ext is not None:
        meta["ext"] = ext
    job = await service.submit(dialect="audo", spec=spec, owner=who.owner, meta=meta)
    return AudoRemoveNoiseResponse(job_id=job.id)


# audo-remove-noise.md, "GET /remove-noise/<jobId>/status"
@router.get(
    "/v1/remove-noise/{job_id}/status",
    response_model=AudoStatusResponse,
    response_model_exclude_none=True,
    responses=_errors(404),
)
async def audo_status(job_id: str, service: ServiceDep, who: PrincipalDep) -> JSONResponse:
    """The job's state in the documented shape."""
    job = await _audo_job(service, job_id, who.owner)
    ahead = await service.jobs_ahead(job)
    return JSONResponse(render(job, ahead, await service.waiting_note(job)).body())


async def _audo_job(service: JobService, job_id: str, owner: str | None) -> Job:
    """The key's Audo job ``job_id``: a job of the server's other APIs is none (its status gave a
    download link that answered 404, and delete-results deleted a native job's result)."""
    job = await service.get(job_id, owner=owner)
    if job.dialect != "audo":
        raise e.NotFoundError(f"job {job_id} not found")
    return job


# sdk-notes.md §4 (undocumented SDK route): "delete_results"
@router.post("/v1/remove-noise/{job_id}/delete-results", responses=_errors(404, 409))
async def audo_delete_results(job_id: str, service: ServiceDep, who: PrincipalDep) -> AudoDeleteResultsResponse:
    """Delete a finished job's result files; later downloads answer 404."""
    found = await _audo_job(service, job_id, who.owner)
    if not found.terminal:  # (the Audo API has no cancel: name the route that does it)
        raise e.ConflictError(
            f"job {job_id} is still {found.state.value}: wait for it to finish, or cancel it with "
            f"DELETE /api/v1/jobs/{job_id} and the same x-api-key"
        )
    job = await service.delete_results(job_id, owner=who.owner)
    return AudoDeleteResultsResponse(job_id=job.id)


async def _download(path: str, service: JobService, *, head: bool = False, request: Request | None = None) -> Response:
    match = _DOWNLOAD_RE.match(path)
    if match is None:
        raise e.NotFoundError(f"no result at {path!r}")
    try:
        job = await service.get(match["job"])
    except e.NotFoundError:
        raise e.NotFoundError(f"no result at {path!r}") from None
    if job.dialect != "audo":
        # the link is the capability of an Audo job only: a native or another vendor's job is
        # downloaded with its own key (or its own vendor's link)
        raise e.NotFoundError(f"no result at {path!r}")
    if job.state is not JobState.succeeded or not job.result_key or _result_ext(job) != match["ext"]:
        raise e.NotFoundError(f"no result at {path!r} (deleted, expired or not finished)")
    key = service.result_key(job)
    if not await anyio.to_thread.run_sync(service.blobs.exists, key):
        raise e.NotFoundError(f"no result at {path!r} (deleted or expired)")
    mime = job.result_meta.get("mime")
    if not isinstance(mime, str) or not mime:
        container = str(job.result_meta.get("container") or "wav")
        mime = media.mime_type(container, video=bool(job.result_meta.get("input", {}).get("has_video")))
    # No auth (the SDK's save() sends no key; the unguessable jobId in the name is the capability)
    # and no compression: the SDK copies the raw, undecoded body to disk.
    return await blob_response(
        service,
        key,
        media_type=mime,
        filename=PurePosixPath(path).name,
        headers={"Cache-Control": "private, max-age=3600"},
        head=head,
        request=request,
    )


# audo-remove-noise.md, "GET /remove-noise/<jobId>/status" (download by prepending the base URL)
@router.get(
    "/v1/dl/{path:path}", response_class=FileResponse, responses={404: {"model": AudoError, "description": _WHY[404]}}
)
@router.head("/v1/dl/{path:path}", include_in_schema=False)
async def audo_download(path: str, request: Request, service: ServiceDep) -> Response:
    """The result file at ``base_url + downloadPath``."""
    return await _download(path, service, head=request.method == "HEAD", request=request)


# audo-remove-noise.md, same section: the doc's downloadPath has no leading slash, so
# ``base_url + downloadPath`` gives /v1dl/... (sdk-notes.md §0.8)
@router.get("/v1dl/{path:path}", response_class=FileResponse, include_in_schema=False)
@router.head("/v1dl/{path:path}", include_in_schema=False)
async def audo_download_doc_form(path: str, request: Request, service: ServiceDep) -> Response:
    """Alias of :func:`audo_download` for the doc-style download URL."""
    return await _download(path, service, head=request.method == "HEAD", request=request)


async def _refuse(websocket: WebSocket, status: int, message: str, exc: Exception | None = None) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(json_error(status, {"detail": message}, exc))
    else:
        await websocket.close(code=1008, reason=message[:120])


# audo-remove-noise.md, "WEBSOCKET /wss/remove-noise/<jobId>/status"
@router.websocket("/v1/wss/remove-noise/{job_id}/status")
async def audo_status_socket(websocket: WebSocket, job_id: str) -> None:
    """The current state at once, then every change, always ending with the terminal message."""
    keys = websocket.app.state.keys
    service: JobService = websocket.app.state.service
    try:
        # not counted toward the key's per-minute limit: the SDK opens it right after creating the
        # job, cannot try a refused socket again, and lost the job it had paid for (an audit)
        who = keys.check_key(websocket.headers.get("x-api-key"), how=_HOW, rate=False)
        await _audo_job(service, job_id, who.owner)
        # over HUSH_MAX_WATCHERS the job is read from the store instead: a refusal was sent as
        # "failed", and the SDK raised NoiseRemovalFailed for a job that went on and succeeded
        watching = await start_watch(service, job_id, owner=who.owner, poll_when_full=True)
    except e.AppError as exc:
        await _refuse(websocket, audo_status_for(exc), exc.message, exc)
        return

    async def send_all() -> None:
        last: dict[str, Any] | None = None
        try:
            async for job, ahead in watching:
                message = render(job, ahead, await service.waiting_note(job)).body()
                if message != last:  # progress below 1 % moves no integer percent
                    await websocket.send_json(message)
                    last = message
        except e.AppError as exc:  # the job vanished (expired) while being watched
            with contextlib.suppress(Exception):
                await websocket.send_json(AudoStatusResponse(state="failed", reason=exc.message).body())

    try:
        await websocket.accept()
        await follow_on_socket(websocket, send_all)
    finally:
        await watching.aclose()


# --------------------------------------------------------------------------- mock mode
_STATUS_PATH = re.compile(r"^/v1/remove-noise/([^/]+)/status$")
_QUEUED_POLLS = 3


def _mock_countdown(name: str, frames: tuple[dict[str, Any], ...], description: str) -> MockScenario:
    """A job's first status polls answer ``frames`` in turn; then its real status."""

    async def respond(request: Request, state: MockState) -> Response | None:
        match = _STATUS_PATH.match(request.url.path)
        if match is None:
            return None
        job_id = match.group(1)
        polls = state.count(f"audo.{name}.{job_id}")
        if polls >= len(frames) or state.is_advanced(job_id):
            return None
        service: JobService = request.app.state.service
        await service.get(job_id)  # an unknown job is a 404, as without the scenario
        body = AudoStatusResponse.model_validate(frames[polls]).body()
        return JSONResponse(body, headers={"X-Hush-Mock": name})

    return MockScenario(name, description, respond)


#: The ``429_once`` scenario's ``Retry-After``, in seconds: short, so a test that lets the SDK back
#: off and retry stays quick.
_ONCE_RETRY_AFTER_S = 1


def _mock_429_once() -> MockScenario:
    """The first job creation under the scenario answers 429; every other request is real. (The
    ``429`` scenario answers every request so: the SDK, which backs off and retries without a
    limit, never returns from it. An upload is not the one refused: the SDK sends a retried
    upload's file again from where the first send left it, empty.)"""

    async def respond(request: Request, state: MockState) -> Response | None:
        if request.method != "POST" or request.url.path.rstrip("/") != "/v1/remove-noise":
            return None
        if state.count("audo.429_once") > 0:
            return None
        exc = e.RateLimitedError("too many requests (mock scenario, this once)", retry_after_s=_ONCE_RETRY_AFTER_S)
        response = render_error(request, exc, 429, exc.message)
        response.headers["X-Hush-Mock"] = "429_once"
        return response

    return MockScenario(
        "429_once",
        f"the first job creation (POST /v1/remove-noise) answers 429 with Retry-After: {_ONCE_RETRY_AFTER_S}, "
        "every other request runs for real (the SDK backs off, retries and goes on)",
        respond,
    )


#: Scenarios of ``hush serve --mock`` (see app/api/mock.py for how a request selects one).
MOCK_SCENARIOS: tuple[MockScenario, ...] = (
    mock_error(
        "401",
        "every request answers 401 as for an unknown x-api-key",
        401,
        lambda: e.AuthError("the API key is not valid"),
        render_error,
    ),
    mock_error(
        "429",
        "every request answers 429 with Retry-After: 7",
        429,
        lambda: e.RateLimitedError("too many requests (mock scenario)", retry_after_s=7),
        render_error,
    ),
    _mock_429_once(),
    mock_error(
        "422",
        "every request answers 422 as for a file the API cannot read",
        422,
        lambda: e.UnsupportedMediaError("the file is not audio or video (mock scenario)"),
        render_error,
    ),
    mock_job(
        "failed",
        "uploads and jobs are created; the jobs end failed with a reason (status and websocket alike)",
        MockJobEffect(end=JobState.failed, reason=lambda job: "the audio could not be processed (mock scenario)"),
    ),
    _mock_countdown(
        "queued",
        tuple({"state": "queued", "jobsAhead": n} for n in range(_QUEUED_POLLS, 0, -1)),
        "a job's first status polls answer queued with jobsAhead 3, 2, 1; then its real state",
    ),
    _mock_countdown(
        "downloading",
        ({"state": "downloading"}, {"state": "queued", "jobsAhead": 0}),
        "a job's first status polls answer downloading, then queued with jobsAhead 0; then its real state",
    ),
    _mock_countdown(
        "in_progress",
        tuple({"state": "in_progress", "percent": p} for p in (25, 50, 75)),
        "a job's first status polls answer in_progress with percent 25, 50, 75; then its real state",
    ),
)

DIALECT = Dialect(
    name="audo",
    router=router,
    prefixes=("/v1",),
    render_error=render_error,
    status_for=audo_status_for,
    mock_scenarios=MOCK_SCENARIOS,
)
