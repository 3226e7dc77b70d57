"""DeepAffects dialect: the denoise (sync/async) and voice-activity-detection APIs.

A thin adapter over the job core (DESIGN §3.4). Vendor contract: ``shared/vendor-docs/
deepaffects-denoise.md`` and ``deepaffects-vad.md``; client behaviour: ``sdk-notes.md`` §0–3.

Deliberate deviations from the vendor, each repeated next to the code it concerns:

* ``encoding`` and ``sampleRate`` are hints. The format is sniffed from the bytes (the Python SDK
  sends libmediainfo container names such as ``"Wave"``, the JS SDK sends ``"MULAW"`` for every
  WAV file and ``8000`` for every rate). They are used only for headerless PCM16
  (``encoding: "LINEAR16"``), where the bytes carry no header. The answer's ``encoding`` echoes
  the caller's label unless the label names another container than the audio's (``"FLAC"`` for
  MP3 bytes is answered ``"MPEG Audio"``).
* ``sampleRate`` is optional in requests, and may be a number or a numeric string. Responses
  carry the real rate of the audio as a number.
* The output keeps the input's container, rate and channels (WAV in, WAV out; LINEAR16 in,
  LINEAR16 out). It is never transcoded to the ``encoding`` named in the request.
* No response field is ever ``null``. The SDK's model setters raise on ``null``.
* ``apikey`` is the query parameter the SDKs send; ``api_key`` (named in one doc table) is
  also accepted.
* Webhook bodies also carry ``sample_rate``/``language_code`` (snake case), because the SDK's
  ``Audio.from_json`` reads those names. VAD webhooks carry ``segments`` both under
  ``response`` (the doc example) and at the top level (the doc table).
* A job that fails sends the webhook ``{"request_id", "api", "error": {"message", "code",
  "type"}}``, where ``code`` is the HTTP status the sync API would have answered and ``type``
  is Hush's stable error code. The vendor does not document a failure webhook.
* ``request_id`` links the webhook to the request, as the vendor says, and makes a retry safe:
  repeating an async request (same body, same webhook, same id) while its first job is queued,
  running or done returns that job and starts no second one; once that job has failed or been
  cancelled, the repeat runs afresh. Another request under the same id (the vendor's samples all
  send one fixed id) is a job of its own, and its webhook carries that id too.
* ``POST /audio/generic/api/v1/sync/vad`` is a Hush extension. The vendor has only the async
  VAD route.

Errors use one envelope: ``{"message": str, "code": <HTTP status>, "type": <Hush error code>,
"error_id"?: str}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from typing import Annotated, Any, Final, TypeVar

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from app import errors as e
from app.auth import Principal
from app.dialects._common import (
    REQUIRED_QUERY,
    Dialect,
    KeysDep,
    MockJobEffect,
    MockScenario,
    ServiceDep,
    default_status,
    error_id,
    json_error,
    mock_error,
    mock_job,
    parse_json,
    read_body,
)
from app.jobs.models import SYNC_PRIORITY, InputRef, Job, JobSpec, JobState, OutputSpec, Step, StoredFile
from app.jobs.service import NO_WORKER, JobService, check_request_id

__all__ = [
    "DIALECT",
    "DeepAffectsAsyncResponse",
    "DeepAffectsDenoiseRequest",
    "DeepAffectsDenoiseResponse",
    "DeepAffectsErrorResponse",
    "DeepAffectsVadRequest",
    "DeepAffectsVadResponse",
    "DeepAffectsVadSegment",
    "router",
]

NAME: Final = "deepaffects"
PREFIX: Final = "/audio/generic/api/v1"
DEFAULT_LANGUAGE: Final = "en-US"

#: ``encoding`` values that mean headerless 16-bit little-endian PCM (the JS SDK's ``.raw``).
_PCM_ENCODINGS: Final = frozenset({"LINEAR16", "L16", "PCM", "PCM16", "PCM_S16LE", "S16LE", "RAW"})

#: Encoding name echoed when the client sent none: libmediainfo's container names, as the
#: Python SDK sends them.
_ENCODING_NAMES: Final[dict[str, str]] = {
    "wav": "Wave",
    "flac": "FLAC",
    "mp3": "MPEG Audio",
    "ogg": "Ogg",
    "opus": "Ogg",
    "m4a": "MPEG-4",
    "mp4": "MPEG-4",
    "webm": "WebM",
    "pcm": "LINEAR16",
}

#: what an ``encoding`` label names, where it names a container (lower case)
_LABELS: Final[dict[str, str]] = {
    "wave": "wav",
    "wav": "wav",
    "flac": "flac",
    "mpeg audio": "mp3",
    "mp3": "mp3",
    "mpeg": "mp3",
    "ogg": "ogg",
    "opus": "ogg",
    "vorbis": "ogg",
    "mpeg-4": "mp4",
    "m4a": "mp4",
    "mp4": "mp4",
    "aac": "mp4",
    "webm": "webm",
    "linear16": "pcm",
}

#: ``error_code`` of a failed job → the domain error to re-raise at the edge.
_ERRORS_BY_CODE: dict[str, type[e.AppError]] = {}


def _collect_errors(cls: type[e.AppError]) -> None:
    _ERRORS_BY_CODE.setdefault(cls.code, cls)
    for sub in cls.__subclasses__():
        _collect_errors(sub)


_collect_errors(e.AppError)


# --------------------------------------------------------------------------- models


def _number_or_none(value: Any) -> Any:
    """Accept JSON numbers, numeric strings (``"8000"``, ``"1.5"``) and null/empty as None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
    return value


def _rate(value: Any) -> Any:
    value = _number_or_none(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be a whole number of Hz, got {value:g}")
        return int(value)
    return value


SampleRate = Annotated[Annotated[int, Field(ge=1000, le=768_000)] | None, BeforeValidator(_rate)]
Seconds = Annotated[Annotated[float, Field(ge=0, le=60)] | None, BeforeValidator(_number_or_none)]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


_M = TypeVar("_M", bound=BaseModel)


class DeepAffectsDenoiseRequest(_Model):
    """Body of sync and async denoise (the SDK's ``Audio`` model)."""

    content: str = Field(
        description="The whole audio file, base64 (standard alphabet).",
        json_schema_extra={"minLength": 1},  # an empty one is refused (input.empty) after parsing
    )
    sample_rate: SampleRate = Field(
        None,
        alias="sampleRate",
        # Deviation: the docs call this required. Hush reads the rate from the file and uses
        # this value only for headerless LINEAR16. A numeric string is accepted too.
        description="Hint; used only for headerless LINEAR16 (raw PCM16).",
    )
    encoding: str | None = Field(
        None,
        # Deviation: a hint only. The container is sniffed from the bytes.
        description='Hint ("Wave", "FLAC", "MULAW", "LINEAR16" ...); LINEAR16 means headerless PCM16.',
    )
    language_code: str | None = Field(DEFAULT_LANGUAGE, alias="languageCode", description="Echoed back.")


class DeepAffectsDenoiseResponse(_Model):
    """Sync denoise answer and the denoise webhook body: the SDK's ``Audio``, never with nulls."""

    content: str = Field(description="The denoised file, base64, same container as the input.")
    sample_rate: int = Field(alias="sampleRate", description="The audio's real sample rate.")
    encoding: str
    language_code: str = Field(alias="languageCode")


class DeepAffectsAsyncResponse(_Model):
    """Answer of every async route (the SDK's ``AsyncResponse``)."""

    request_id: str
    api: str


class DeepAffectsVadRequest(_Model):
    """Body of VAD: exactly one of ``content`` and ``url``. The other fields may be null."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="ignore",
        json_schema_extra={  # "given" means not blank, as _one_source checks
            "oneOf": [
                {"required": ["content"], "properties": {"content": {"type": "string", "pattern": "\\S"}}},
                {"required": ["url"], "properties": {"url": {"type": "string", "pattern": "\\S"}}},
            ]
        },
    )

    content: str | None = Field(None, description="The whole audio file, base64.")
    url: str | None = Field(None, description="A URL Hush fetches the audio from (http or https).")
    encoding: str | None = None
    sample_rate: SampleRate = Field(None, alias="sampleRate", description="Hint; only for LINEAR16.")
    language_code: str | None = Field(DEFAULT_LANGUAGE, alias="languageCode")
    min_non_speech_duration: Seconds = Field(
        None,
        alias="minNonSpeechDuration",
        description="Seconds. Gaps shorter than this are merged into the speech around them (null = 0).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> DeepAffectsVadRequest:
        has_content = bool(self.content and self.content.strip())
        has_url = bool(self.url and self.url.strip())
        if has_content and has_url:
            raise ValueError("send exactly one of content and url, not both")
        if not has_content and not has_url:
            if self.content is not None or self.url is not None:
                raise ValueError("content is empty" if self.content is not None else "url is empty")
            raise ValueError("send exactly one of content (base64 audio) and url; neither was given")
        return self


class DeepAffectsVadSegment(_Model):
    """One stretch of speech, in seconds from the start."""

    tag: str = "speech"
    start: float
    end: float


class DeepAffectsVadResult(_Model):
    segments: list[DeepAffectsVadSegment]


class DeepAffectsVadResponse(_Model):
    """Sync VAD answer (a Hush extension), shaped like the VAD webhook body."""

    request_id: str
    response: DeepAffectsVadResult
    segments: list[DeepAffectsVadSegment]


class DeepAffectsErrorResponse(_Model):
    """Every error of this dialect."""

    message: str
    code: int = Field(description="The HTTP status.")
    type: str = Field(description="Hush's stable error code, e.g. input.unsupported.")
    error_id: str | None = Field(None, description="Present on 5xx: quote it, it is in the server log.")


# --------------------------------------------------------------------------- errors


def deepaffects_render_error(request: Request, exc: Exception, status: int, message: str) -> Response:
    """Render any error under this dialect's prefix as the DeepAffects envelope."""
    body: dict[str, Any] = {"message": message, "code": status, "type": getattr(exc, "code", "error")}
    if status >= 500:
        body["error_id"] = getattr(exc, "error_id", None) or error_id()
    return json_error(status, body, exc)


def _job_error(job: Job) -> e.AppError:
    """The domain error a finished, unsuccessful job stands for."""
    reason = job.error_reason or f"the job ended {job.state.value}"
    if job.state is JobState.timed_out:
        return e.JobTimeoutError(reason)
    if job.state is JobState.cancelled:
        return e.ConflictError(reason)
    cls = _ERRORS_BY_CODE.get(job.error_code or "", e.ProcessingError)
    if cls is e.RateLimitedError:
        return e.ProcessingError(reason)
    return cls(reason)


# --------------------------------------------------------------------------- request helpers


def deepaffects_principal(
    keys: KeysDep,
    apikey: Annotated[str | None, Query(description="Your API key.")] = None,
    api_key: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    """DeepAffects auth: the ``apikey`` query parameter (``api_key`` tolerated, see module doc)."""
    return keys.check_key(apikey or api_key, how="it as the apikey query parameter (?apikey=KEY)")


PrincipalDep = Annotated[Principal, Depends(deepaffects_principal)]


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request body"


async def _read_json(request: Request, service: JobService, model: type[_M]) -> _M:
    """Parse the body as JSON whatever the Content-Type says (clients omit or mislabel it)."""
    # base64 of the largest input, but never more than the JSON limit: a JSON body is held in
    # memory about three times over (bytes, string, decoded audio) while it is parsed.
    settings = service.settings
    limit = min(settings.max_input_bytes * 4 // 3 + (1 << 16), int(settings.max_json_mb * 1024 * 1024))
    raw = await read_body(
        request, limit, hint="send a smaller file, or pass a url (VAD); HUSH_MAX_JSON_MB sets this limit"
    )
    if not raw.strip():
        raise e.InvalidParameterError("the request body is empty; send a JSON object")
    data = await anyio.to_thread.run_sync(parse_json, raw)
    if not isinstance(data, dict):
        raise e.InvalidParameterError(f"the request body must be a JSON object, not {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise e.InvalidParameterError(_validation_message(exc)) from None


async def _request_key(api: str, rid: str, body: BaseModel, webhook: str) -> str:
    """The job store's key of an async request: its API, ``request_id`` and a digest of body and webhook.

    A repeat of the same request (a retry) finds the first job; another request under the same
    ``request_id`` (the vendor's samples all send one fixed id) is a job of its own. The body is
    digested as parsed, so a retry that serialises the same JSON in another key order or spacing
    is the same request (it was a second job, processed and charged again).
    """
    digest = await anyio.to_thread.run_sync(  # (off the loop: the body may hold 100 MB of base64)
        lambda: hashlib.sha256(body.model_dump_json().encode() + b"\0" + webhook.encode()).hexdigest()
    )
    return f"{api}:{rid}:{digest[:32]}"


def _decode_base64(text: str) -> bytes:
    """Decode ``content``: standard or URL-safe base64, line breaks and missing padding allowed."""
    s = text.strip()
    if s.startswith("data:") and "," in s[:200]:  # a data: URI
        s = s.split(",", 1)[1]
    s = "".join(s.split())
    if "-" in s or "_" in s:
        s = s.translate(str.maketrans("-_", "+/"))
    s += "=" * (-len(s) % 4)
    try:
        data = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise e.InvalidParameterError(
            "content is not valid base64", hint="send the whole audio file encoded as standard base64"
        ) from None
    if not data:
        raise e.EmptyInputError("content is empty; send the audio file as base64")
    return data


def _pcm_rate(encoding: str | None, sample_rate: int | None) -> int | None:
    """The rate to assume for headerless PCM16, only when ``encoding`` says the bytes are raw."""
    if encoding and encoding.strip().upper() in _PCM_ENCODINGS:
        if sample_rate is None:
            raise e.InvalidParameterError(
                f"encoding {encoding!r} (headerless PCM16) needs sampleRate, the rate of the samples"
            )
        return sample_rate
    return None


async def _store_content(service: JobService, who: Principal, content: str, pcm_rate: int | None) -> StoredFile:
    """Decode base64 ``content``, check it is media and store it."""
    data = await anyio.to_thread.run_sync(_decode_base64, content)
    # (bytes of no known kind are told how headerless PCM16 is sent: the media module's refusal
    # names DeepAffects' "LINEAR16" with its sampleRate)
    return await service.store_upload(io.BytesIO(data), owner=who.owner, filename=None, pcm_sample_rate=pcm_rate)


def _request_id(given: str | None, service: JobService) -> str:
    rid = (given or "").strip()
    if len(rid) > 200:
        raise e.InvalidParameterError("request_id is longer than 200 characters")
    check_request_id(rid)  # (the client's own id, before its audio is stored; the sync VAD echoes it)
    return rid or service.new_id()


def _require_webhook(webhook: str | None) -> str:
    if not webhook or not webhook.strip():
        raise e.InvalidParameterError(
            "the webhook query parameter is required for async requests",
            hint="add ?webhook=<URL that receives the result> or use the sync API",
        )
    return webhook.strip()


#: How long before the shutdown grace ends a synchronous wait gives up and answers 503 (the answer
#: must be written before the server closes the connection), in seconds.
_STOP_MARGIN_S: Final = 1.0
#: The 503's ``Retry-After``: about the time a restarted server takes to answer again, in seconds.
_STOP_RETRY_AFTER_S: Final = 10


async def _wait_sync(service: JobService, job: Job, api: str, request: Request) -> Job:
    """Wait for a sync job; a job that is not done in time is cancelled and reported 504.

    A client that hangs up first (its own timeout, a dropped connection) cannot get the answer:
    its job is cancelled too, so it is not charged for a result nobody can fetch. So is a job
    whose server begins to stop: it has until the shutdown grace is nearly spent
    (``HUSH_SHUTDOWN_GRACE_S`` less :data:`_STOP_MARGIN_S`) to finish, then the client gets 503
    with ``Retry-After`` in the envelope (it got a bare 500 when the grace ended, and its job ran
    after the restart and was charged).
    """
    timeout = service.settings.sync_timeout_s
    waited: list[Job] = []
    gone = stopped = False
    try:
        async with anyio.create_task_group() as tg:

            async def wait() -> None:
                waited.append(await service.wait(job.id, timeout))
                tg.cancel_scope.cancel()

            async def watch() -> None:
                nonlocal gone
                while (await request.receive())["type"] != "http.disconnect":  # the body was read: only this comes
                    pass
                gone = True
                tg.cancel_scope.cancel()

            async def stop() -> None:
                nonlocal stopped
                await service.until_stopping()
                await anyio.sleep(max(service.settings.shutdown_grace_s - _STOP_MARGIN_S, 0.0))
                stopped = True
                tg.cancel_scope.cancel()

            tg.start_soon(wait)
            tg.start_soon(watch)
            tg.start_soon(stop)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):  # cut off from outside: no answer can reach the client
            await service.cancel(job.id)
        raise
    # (a job that succeeded as it was being cancelled is answered: it was charged, and a client
    # told "not charged, send it again" would pay twice)
    if (gone or stopped) and not waited:
        why = (
            "cancelled: the server stopped (a restart or deploy) before the synchronous answer was ready"
            if stopped
            else "cancelled: the client closed the connection before the synchronous answer"
        )
        ended = await service.cancel(job.id, reason=why)
        if ended.state is not JobState.succeeded and stopped:
            raise e.ServerStoppingError(
                "the server is stopping (a restart or deploy) before this job finished; it was cancelled and "
                "not charged: send the same request again",
                retry_after_s=_STOP_RETRY_AFTER_S,
            )
        if ended.state is not JobState.succeeded:
            raise e.ConflictError("the client closed the connection before the answer; the job was cancelled")
        waited.append(ended)
    job = waited[0]
    if not job.terminal:  # the timeout
        queued = job.state is JobState.queued
        ended = await service.cancel(job.id)
        if ended.state is not JobState.succeeded:
            message = f"the synchronous request did not finish within {timeout:g} s"
            if queued and await service.no_worker_alive():
                # it never left the queue of a cluster with no worker alive: the async API would not help
                raise e.JobTimeoutError(f"{message}: {NO_WORKER}")
            hint = f"use the async API ({PREFIX}/async/{api}?webhook=...) for long files"
            if queued:
                # it waited behind other jobs the whole time: the file is not the cause, and a
                # client told "long files" would split one that is fine (audit)
                message += (
                    ": it waited in the queue behind other jobs and never started (it was cancelled, not charged)"
                )
                hint = (
                    f"send it again when the server is less busy, or use the async API "
                    f"({PREFIX}/async/{api}?webhook=...)"
                )
            raise e.JobTimeoutError(message, hint=hint)
        job = ended
    if job.state is not JobState.succeeded:
        raise _job_error(job)
    return job


async def _result_base64(service: JobService, job: Job) -> str:
    """The job's result file, base64, in the input's container (raw PCM for LINEAR16 input)."""
    data = await service.read_blob(service.result_key(job))
    return base64.b64encode(data).decode("ascii")


#: labels that name a sample codec rather than a container (lower case), and that codec
_CODEC_LABELS: Final[dict[str, str]] = {"mulaw": "pcm_mulaw", "mu-law": "pcm_mulaw", "alaw": "pcm_alaw"}


def _encoding_of(job: Job) -> str:
    """The answer's ``encoding`` ("Encoding of audio file like MP3, WAV etc."): the caller's own
    label when it describes the bytes sent back (the SDKs' "Wave", "MULAW" for a mu-law WAV), else
    the container's name. The JS SDK labels every .wav "MULAW": a PCM16 WAV answered "MULAW"
    would tell the client a codec its content does not have."""
    container = str(job.result_meta.get("container") or job.result_meta.get("input", {}).get("container", ""))
    real = _ENCODING_NAMES.get(container, container.upper() or "Wave")
    sent = job.meta.get("encoding")
    if isinstance(sent, str) and sent:
        label = sent.strip().lower()
        if not container:
            return sent
        if label in _CODEC_LABELS:
            codec = job.result_meta.get("input", {}).get("codec")
            return sent if container == "wav" and codec == _CODEC_LABELS[label] else real
        if _LABELS.get(label) == _LABELS.get(real.lower()):
            return sent
    return real


def _sample_rate_of(job: Job) -> int:
    rate = job.result_meta.get("sample_rate") or job.result_meta.get("input", {}).get("sample_rate")
    return int(rate or job.meta.get("sample_rate") or 0)


async def _denoise_body(service: JobService, job: Job) -> DeepAffectsDenoiseResponse:
    return DeepAffectsDenoiseResponse(
        content=await _result_base64(service, job),
        sample_rate=_sample_rate_of(job),
        encoding=_encoding_of(job),
        language_code=str(job.meta.get("language_code") or DEFAULT_LANGUAGE),
    )


def _segments(job: Job) -> list[DeepAffectsVadSegment]:
    found = job.result_meta.get("segments") or []
    return [DeepAffectsVadSegment(start=round(float(s), 3), end=round(float(t), 3)) for s, t in found]


def _meta(api: str, request_id: str, encoding: str | None, language: str | None, rate: int | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"api": api, "request_id": request_id, "language_code": language or DEFAULT_LANGUAGE}
    if encoding:
        meta["encoding"] = encoding
    if rate:
        meta["sample_rate"] = rate
    return meta


def _denoise_spec(stored: StoredFile, pcm_rate: int | None, webhook: str | None = None) -> JobSpec:
    # Keep the input's container; headerless LINEAR16 in gets LINEAR16 out (the core's default for
    # headerless input is WAV, which the SDK would write to disk as a different format).
    raw = stored.info.get("container") == "pcm"
    return JobSpec(
        input=InputRef(blob_key=stored.blob_key, pcm_sample_rate=pcm_rate),
        steps=(Step(name="denoise"),),
        output=OutputSpec(container="pcm" if raw else None),
        webhook_url=webhook,
    )


async def _vad_spec(service: JobService, who: Principal, body: DeepAffectsVadRequest, webhook: str | None) -> JobSpec:
    pcm_rate = _pcm_rate(body.encoding, body.sample_rate)
    if body.content and body.content.strip():
        stored = await _store_content(service, who, body.content, pcm_rate)
        source = InputRef(blob_key=stored.blob_key, pcm_sample_rate=pcm_rate)
    else:
        source = InputRef(url=(body.url or "").strip(), pcm_sample_rate=pcm_rate)
    return JobSpec(
        input=source,
        steps=(Step(name="vad", params={"min_non_speech_s": float(body.min_non_speech_duration or 0.0)}),),
        output=OutputSpec(audio=False),
        webhook_url=webhook,
    )


# --------------------------------------------------------------------------- routes

router = APIRouter(tags=["deepaffects"])

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": DeepAffectsErrorResponse} for status in (400, 401, 402, 403, 413, 415, 429, 500, 501, 504)
}


# shared/vendor-docs/deepaffects-denoise.md, "POST Request" (sync) and "Output" (Sync)
@router.post(
    f"{PREFIX}/sync/denoise",
    response_model=DeepAffectsDenoiseResponse,
    responses=_ERROR_RESPONSES,
    openapi_extra=_body_schema(DeepAffectsDenoiseRequest),
)
async def deepaffects_sync_denoise(request: Request, service: ServiceDep, who: PrincipalDep) -> Response:
    """Denoise a file and answer with it (same container, rate and channels as the input)."""
    body = await _read_json(request, service, DeepAffectsDenoiseRequest)
    pcm_rate = _pcm_rate(body.encoding, body.sample_rate)
    stored = await _store_content(service, who, body.content, pcm_rate)
    job = await service.submit(
        dialect=NAME,
        spec=_denoise_spec(stored, pcm_rate),
        owner=who.owner,
        priority=SYNC_PRIORITY,
        meta=_meta("denoise", "", body.encoding, body.language_code, body.sample_rate),
    )
    job = await _wait_sync(service, job, "denoise", request)
    answer = await _denoise_body(service, job)
    return _json(answer)


# shared/vendor-docs/deepaffects-denoise.md, "POST Request" (async), "Output" (Async, Webhook)
@router.post(
    f"{PREFIX}/async/denoise",
    response_model=DeepAffectsAsyncResponse,
    responses=_ERROR_RESPONSES,
    openapi_extra=_body_schema(DeepAffectsDenoiseRequest),
)
async def deepaffects_async_denoise(
    request: Request,
    service: ServiceDep,
    who: PrincipalDep,
    webhook: Annotated[
        str | None, Query(description="URL the result is POSTed to (required).", json_schema_extra=REQUIRED_QUERY)
    ] = None,
    request_id: Annotated[
        str | None,
        Query(
            description="Your id for the request, echoed in the webhook; a repeat of the same request starts no twin."
        ),
    ] = None,
) -> Response:
    """Queue a denoise job; the result is POSTed to ``webhook`` (see the module doc for failures)."""
    hook = _require_webhook(webhook)
    rid = _request_id(request_id, service)
    body = await _read_json(request, service, DeepAffectsDenoiseRequest)
    pcm_rate = _pcm_rate(body.encoding, body.sample_rate)
    stored = await _store_content(service, who, body.content, pcm_rate)
    await service.submit(
        dialect=NAME,
        spec=_denoise_spec(stored, pcm_rate, hook),
        owner=who.owner,
        request_id=await _request_key("denoise", rid, body, hook),
        meta=_meta("denoise", rid, body.encoding, body.language_code, body.sample_rate),
        rerun_failed=True,
    )
    return _json(DeepAffectsAsyncResponse(request_id=rid, api="denoise"))


# shared/vendor-docs/deepaffects-vad.md, "POST Request" (Async) and "Output" (Async, Webhook)
@router.post(
    f"{PREFIX}/async/vad",
    response_model=DeepAffectsAsyncResponse,
    responses=_ERROR_RESPONSES,
    openapi_extra=_body_schema(DeepAffectsVadRequest),
)
async def deepaffects_async_vad(
    request: Request,
    service: ServiceDep,
    who: PrincipalDep,
    webhook: Annotated[
        str | None, Query(description="URL the segments are POSTed to (required).", json_schema_extra=REQUIRED_QUERY)
    ] = None,
    request_id: Annotated[
        str | None,
        Query(
            description="Your id for the request, echoed in the webhook; a repeat of the same request starts no twin."
        ),
    ] = None,
) -> Response:
    """Queue voice activity detection; the segments are POSTed to ``webhook``."""
    hook = _require_webhook(webhook)
    rid = _request_id(request_id, service)
    body = await _read_json(request, service, DeepAffectsVadRequest)
    spec = await _vad_spec(service, who, body, hook)
    await service.submit(
        dialect=NAME,
        spec=spec,
        owner=who.owner,
        request_id=await _request_key("vad", rid, body, hook),
        meta=_meta("vad", rid, body.encoding, body.language_code, body.sample_rate),
        rerun_failed=True,
    )
    return _json(DeepAffectsAsyncResponse(request_id=rid, api="vad"))


# Hush extension, not in shared/vendor-docs/deepaffects-vad.md: the sync twin of "POST Request"
# (Async); the answer is the documented webhook body.
@router.post(
    f"{PREFIX}/sync/vad",
    response_model=DeepAffectsVadResponse,
    responses=_ERROR_RESPONSES,
    openapi_extra=_body_schema(DeepAffectsVadRequest),
)
async def deepaffects_sync_vad(
    request: Request,
    service: ServiceDep,
    who: PrincipalDep,
    request_id: Annotated[str | None, Query(description="Echoed back in the answer.")] = None,
) -> Response:
    """Detect speech and answer with the segments at once.

    **Extension:** DeepAffects documents only ``/async/vad``. This route takes the same body and
    answers with what the async route would POST to the webhook:
    ``{"request_id", "response": {"segments": [...]}, "segments": [...]}``.
    """
    rid = _request_id(request_id, service)
    body = await _read_json(request, service, DeepAffectsVadRequest)
    spec = await _vad_spec(service, who, body, None)
    job = await service.submit(
        dialect=NAME,
        spec=spec,
        owner=who.owner,
        priority=SYNC_PRIORITY,
        meta=_meta("vad", rid, body.encoding, body.language_code, body.sample_rate),
    )
    job = await _wait_sync(service, job, "vad", request)
    segments = _segments(job)
    return _json(
        DeepAffectsVadResponse(request_id=rid, response=DeepAffectsVadResult(segments=segments), segments=segments)
    )


def _json(model: BaseModel) -> Response:
    """Serialize by alias; a plain ``Response`` skips FastAPI re-validating a large base64 body."""
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")


# --------------------------------------------------------------------------- webhook


async def deepaffects_webhook(job: Job, service: JobService) -> dict[str, Any]:
    """Body POSTed to the client's webhook when an async job ends (see the module doc)."""
    api = str(job.meta.get("api") or "denoise")
    rid = str(job.meta.get("request_id") or job.request_id or job.id)
    if job.state is not JobState.succeeded:
        exc = _job_error(job)
        return {
            "request_id": rid,
            "api": api,
            "error": {"message": exc.message, "code": default_status(exc), "type": exc.code},
        }
    if api == "vad":
        segments = [s.model_dump() for s in _segments(job)]
        return {"request_id": rid, "response": {"segments": segments}, "segments": segments}
    body = (await _denoise_body(service, job)).model_dump(by_alias=True)
    body.update(request_id=rid, sample_rate=body["sampleRate"], language_code=body["languageCode"])
    return body


# --------------------------------------------------------------------------- mock mode
#: Scenarios of ``hush serve --mock`` (see app/api/mock.py for how a request selects one).
MOCK_SCENARIOS: tuple[MockScenario, ...] = (
    mock_error(
        "401",
        "every request answers 401 as for an unknown apikey",
        401,
        lambda: e.AuthError("the API key is not valid"),
        deepaffects_render_error,
    ),
    mock_error(
        "400",
        "every request answers 400 as for a body the API cannot read",
        400,
        lambda: e.InvalidParameterError("the request body is not valid (mock scenario)"),
        deepaffects_render_error,
    ),
    mock_error(
        "500",
        "every request answers 500 with an error_id",
        500,
        lambda: e.AppError("internal server error (mock scenario)"),
        deepaffects_render_error,
    ),
    mock_job(
        "failed",
        "jobs fail: sync requests answer 500 with the reason, async requests get the failure webhook",
        MockJobEffect(end=JobState.failed, reason=lambda job: "the audio could not be processed (mock scenario)"),
    ),
    mock_job(
        "webhook_delayed",
        "async results are POSTed after the mock's hold (Prefer: hold=<s>, default HUSH_MOCK_HOLD_S)",
        MockJobEffect(webhook="delayed"),
    ),
    mock_job(
        "webhook_duplicated",
        "each async result is POSTed twice, with the same body",
        MockJobEffect(webhook="duplicated"),
    ),
    mock_job(
        "webhook_out_of_order",
        "a job's webhook is held until the next job of the scenario has sent its own (at most the mock's hold)",
        MockJobEffect(webhook="out_of_order"),
    ),
    mock_job(
        "webhook_bad_signature",
        "webhooks carry an X-Hush-Signature that does not verify under HUSH_WEBHOOK_SECRET",
        MockJobEffect(webhook="bad_signature"),
    ),
)

DIALECT = Dialect(
    name=NAME,
    router=router,
    prefixes=(PREFIX,),
    render_error=deepaffects_render_error,
    webhook=deepaffects_webhook,
    status_for=default_status,
    mock_scenarios=MOCK_SCENARIOS,
)
