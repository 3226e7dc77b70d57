"""What every HTTP edge (dialects, native API) shares: the Dialect record, status mapping, dependencies.

A dialect module exposes ``DIALECT = Dialect(...)``: its router, the path prefixes it owns (so
errors raised under them are rendered in its envelope), its error renderer and its webhook body
builder. Dialects never import each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import math
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

import anyio
from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.websockets import WebSocketState

from app import errors as e
from app.auth import KeyStore
from app.jobs.models import Job, JobState
from app.jobs.service import JobService, WebhookRenderer

__all__ = [
    "REQUIRED_QUERY",
    "BodyLimit",
    "Dialect",
    "ErrorRenderer",
    "KeysDep",
    "MockJob",
    "MockJobEffect",
    "MockScenario",
    "MockState",
    "OpenModeGuard",
    "ServiceDep",
    "blob_response",
    "default_status",
    "error_id",
    "finished_result",
    "follow_on_socket",
    "get_keys",
    "get_service",
    "json_answer",
    "json_body_schema",
    "json_error",
    "mock_error",
    "mock_job",
    "parse_json",
    "read_body",
    "start_watch",
]

#: ``json_schema_extra`` of a query parameter that the route itself requires (it is optional in the
#: signature so that a missing one is answered with the dialect's own message): the OpenAPI
#: document then marks it required and non-empty (see :func:`app.api.docs.install_docs`).
REQUIRED_QUERY: dict[str, Any] = {"x-hush-required": True, "minLength": 1}

#: Renders ``(request, exception, status, message)`` into the dialect's envelope.
ErrorRenderer = Callable[[Request, Exception, int, str], Response]


class MockState:
    """What mock mode remembers between requests (see :mod:`app.api.mock`).

    ``counters`` count the polls of the scenarios that script a job's first answers; ``jobs``
    holds the jobs created in mock mode (their scenario, options and creation time); a job in
    ``advanced`` has every scripted countdown, phase and delay behind it.
    """

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.jobs: dict[str, MockJob] = {}
        self.advanced: set[str] = set()
        self.hold_s = 2.0
        """Length of a scripted phase for a job mock mode did not create (``HUSH_MOCK_HOLD_S``)."""
        self._first_seen: dict[str, float] = {}

    def count(self, key: str) -> int:
        """How often ``key`` was counted before; counts it once more."""
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return n

    def elapsed(self, key: str) -> float:
        """Seconds since ``key`` was first asked about: its job's creation in mock mode, or this call."""
        job = self.jobs.get(key.rsplit(".", 1)[-1])
        start = job.created if job is not None else self._first_seen.setdefault(key, time.monotonic())
        return time.monotonic() - start

    def is_advanced(self, job_id: str) -> bool:
        """True once ``POST /_mock/jobs/{id}/advance`` (or ``/_mock/advance``) was called for the job."""
        return job_id in self.advanced

    def reset(self) -> None:
        """Forget every counter, job record and advance."""
        self.counters.clear()
        self.jobs.clear()
        self.advanced.clear()
        self._first_seen.clear()


@dataclass
class MockJob:
    """A job created in mock mode: the scenario and options of the request that created it."""

    job_id: str
    dialect: str
    scenario: str | None
    created: float = field(default_factory=time.monotonic)
    latency_s: float = 0.0
    """How long the job waits before it runs (``HUSH_MOCK_LATENCY_MS``, ``Prefer: latency=<ms>``)."""
    dsp: bool = False
    """Run the real DSP (``HUSH_MOCK_DSP``, ``Prefer: dsp=real``) instead of passing the input through."""
    hold_s: float = 2.0
    """Length of the scenario's scripted phases and webhook delays (``Prefer: hold=<s>``)."""
    request_id: str | None = None


#: Answers a request in a mock scenario, or returns None to let the real route answer.
MockResponder = Callable[[Request, MockState], Awaitable[Response | None]]


async def _route_answers(request: Request, state: MockState) -> Response | None:
    return None


@dataclass(frozen=True)
class MockJobEffect:
    """What a scenario does to the jobs created under it (the real job changes, every answer follows)."""

    end: JobState | None = None
    """End the job in this state instead of running it (failed, cancelled, timed_out)."""
    reason: Callable[[Job], str] | None = None
    """The job's ``error_reason`` when it ends that way."""
    error: type[e.AppError] = e.ProcessingError
    """The domain error it ends with (its ``code`` becomes the job's ``error_code``)."""
    webhook: str | None = None
    """Webhook chaos: ``delayed``, ``duplicated``, ``out_of_order`` or ``bad_signature``."""


@dataclass(frozen=True)
class MockScenario:
    """A vendor behaviour a dialect can be asked to show in mock mode (``hush serve --mock``)."""

    name: str
    """Selects it: key ``mock-<name>``, header ``Prefer: scenario=<name>``, or ``hush-mock=<name>`` in the input URL."""
    description: str
    respond: MockResponder = _route_answers
    """Answers (some of) the requests itself; the default lets every route answer."""
    job: MockJobEffect | None = None
    """What happens to the jobs created under the scenario, if anything."""


@dataclass(frozen=True)
class Dialect:
    """One vendor API as mounted on the server."""

    name: str
    router: APIRouter
    prefixes: tuple[str, ...]
    render_error: ErrorRenderer
    webhook: WebhookRenderer | None = None
    status_for: Callable[[Exception], int] | None = None
    mock_scenarios: tuple[MockScenario, ...] = ()


_STATUS: list[tuple[type[Exception], int]] = [
    (e.InputTooLargeError, 413),
    (e.UnsupportedMediaError, 415),
    (e.EmptyInputError, 400),
    (e.CorruptMediaError, 400),
    (e.URLRefusedError, 400),
    (e.InvalidParameterError, 400),
    (e.InputError, 400),
    (e.FetchError, 400),
    (e.KeyDisabledError, 403),
    (e.KeyNotActivatedError, 403),
    (e.AuthError, 401),
    (e.InsufficientCreditsError, 402),
    (e.NotFoundError, 404),
    (e.ConflictError, 409),
    (e.RateLimitedError, 429),
    (e.EngineUnavailableError, 501),
    (e.JobTimeoutError, 504),
    (e.QueueUnavailableError, 503),
    (e.StorageUnavailableError, 503),
    (e.StorageFullError, 507),
]


def default_status(exc: Exception) -> int:
    """HTTP status for a domain error, matched along the class hierarchy (first match wins)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_id() -> str:
    """A short id to quote in an error response and find in the server log."""
    return uuid.uuid4().hex[:12]


def json_error(status: int, body: dict[str, Any], exc: Exception | None = None) -> JSONResponse:
    """A JSON error response; 429 and 503 carry an integer ``Retry-After``, 401 its challenge if any."""
    headers = {}
    if isinstance(exc, e.RateLimitedError | e.QueueUnavailableError):
        headers["Retry-After"] = str(int(exc.retry_after_s))
    if isinstance(exc, e.AuthError) and exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    return JSONResponse(body, status_code=status, headers=headers)


async def read_body(request: Request, limit_bytes: int, *, hint: str | None = None) -> bytes:
    """The request body, refused as soon as it passes ``limit_bytes`` (declared or streamed).

    A chunked body has no ``Content-Length``: it is read with a running cap, so a client can
    never make the server hold more than ``limit_bytes`` of it.
    """
    too_large = e.InputTooLargeError(
        f"the request body is larger than this route's limit of {limit_bytes} bytes", hint=hint
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit_bytes:
            raise too_large
    return bytes(body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259 allows only finite numbers)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def parse_json(raw: bytes) -> Any:
    """``json.loads`` whose failures (bad syntax, bad UTF-8, absurd nesting) are client errors.

    Strict JSON: the ``NaN`` and ``Infinity`` tokens Python's parser would take are refused, and so
    is a number too large for a float (``1e400``), which Python would read as infinity.
    """
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise e.InvalidParameterError("the JSON body is nested too deeply to be a request") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise e.InvalidParameterError(f"the request body is not valid JSON ({exc})") from None


def get_service(request: Request) -> JobService:
    """The app's JobService."""
    service: JobService = request.app.state.service
    return service


def get_keys(request: Request) -> KeyStore:
    """The app's KeyStore."""
    keys: KeyStore = request.app.state.keys
    return keys


ServiceDep = Annotated[JobService, Depends(get_service)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]


#: Room for multipart framing and form fields around the largest input file.
MULTIPART_OVERHEAD_BYTES = 1 << 20
#: Largest body (bytes) of a native API request that is not an upload: a job names its input by id
#: or URL, so its JSON is a few kilobytes. A 300 MiB JSON body used to be read and parsed whole
#: (about 1 GB of memory) before its key was even checked (an outside audit).
NATIVE_JSON_LIMIT_BYTES = 1 << 20


class BodyLimit:
    """ASGI middleware: no request body may pass ``max_input_bytes`` (plus multipart framing).

    The count runs as the body streams in, so a multipart upload is refused as soon as it is too
    large — not after it was spooled to disk whole — and a chunked body with no ``Content-Length``
    is held to the same bound. A body that is not multipart is held to ``max_json_mb``, and on
    the native API to :data:`NATIVE_JSON_LIMIT_BYTES`. The error is raised inside the app, so each
    dialect renders its own 413. Routes with smaller limits apply theirs in :func:`read_body`.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        if scope["type"] != "http" or settings is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        limit = settings.max_input_bytes + MULTIPART_OVERHEAD_BYTES
        too_large = f"the request body is larger than the {settings.max_input_mb:g} MiB input limit (HUSH_MAX_INPUT_MB)"
        # an input URL is held to the same limit as an upload: only a smaller encoding helps
        hint = "send a shorter file, or the same audio compressed (FLAC or MP3 instead of WAV)"
        if not headers.get(b"content-type", b"").lower().startswith(b"multipart/"):
            if settings.max_json_mb < settings.max_input_mb:
                hint = "send a shorter file, or a URL to fetch it from"
            if str(scope.get("path", "")).startswith("/api/v1/"):
                limit = NATIVE_JSON_LIMIT_BYTES
                too_large = f"the JSON body is larger than {NATIVE_JSON_LIMIT_BYTES >> 20} MiB"
                # (a native job's JSON names its audio; it never carries it: two hints, one about a
                # "shorter file", answered a JSON body)
                hint = (
                    "send the audio as an upload to /api/v1/files (multipart) or as a URL, and its file_id "
                    "or url in the job"
                )
            else:
                limit = int(settings.max_json_mb * 1024 * 1024)
                too_large = (
                    f"the request body is larger than the {settings.max_json_mb:g} MiB JSON limit (HUSH_MAX_JSON_MB)"
                )
        declared = headers.get(b"content-length", b"")
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            if declared.isdigit() and int(declared) > limit:
                raise e.InputTooLargeError(too_large, hint=hint)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise e.InputTooLargeError(too_large, hint=hint)
            return message

        await self.app(scope, limited, send)


class OpenModeGuard:
    """ASGI middleware: while the server has no API keys, it answers only this machine.

    ``hush serve`` refuses to bind a public address without keys; this guard holds the same line
    when the app runs under another ASGI server (gunicorn, a plain ``uvicorn app.main:...``) that
    never asked. A client address that is not an IP (an in-process test client, a Unix socket) is
    local by construction. The request must also be addressed to this machine by name (``Host``
    ``localhost``, a loopback address, or the host of ``HUSH_PUBLIC_URL``): a web page of another
    site that points its own name at 127.0.0.1 (DNS rebinding) reaches a loopback server from the
    user's browser with its own ``Host``, and would read the server's jobs, or in mock mode its
    request journal with the credentials sent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            why = self._refusal(scope)
            if why is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = json.dumps({"title": why, "status": 403, "code": "auth.open_mode"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/problem+json"),
                            (b"content-length", b"%d" % len(body)),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _refusal(scope: Any) -> str | None:
        app = scope.get("app")
        state = getattr(app, "state", None)
        keys = getattr(state, "keys", None)
        if keys is None or not keys.open:
            return None
        client = scope.get("client")
        if not client:
            return None
        try:
            if not ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback:
                return (
                    "this server runs without API keys and answers only on this machine; "
                    "set HUSH_API_KEYS to serve other hosts"
                )
        except ValueError:
            return None  # not an IP: in-process
        host = _host_name(dict(scope.get("headers") or ()).get(b"host", b"").decode("latin-1"))
        settings = getattr(state, "settings", None)
        public = urlsplit(str(getattr(settings, "public_url", None) or "")).hostname
        if _is_local_name(host) or (public and host == public.lower()):
            return None
        return (
            f"this server runs without API keys and answers only requests addressed to localhost, "
            f"127.0.0.1 or [::1], not to {host[:100]!r} (a page of another site can point its name at this "
            "machine); open it as http://127.0.0.1:PORT/, or set HUSH_API_KEYS"
        )


def _host_name(host: str) -> str:
    """The name of a ``Host`` header, lower-cased, without its port or an IPv6 literal's brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_local_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always loopback
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def mock_error(
    name: str, description: str, status: int, make: Callable[[], e.AppError], render: ErrorRenderer
) -> MockScenario:
    """A scenario that answers every request with one error, in the dialect's envelope."""

    async def respond(request: Request, state: MockState) -> Response:
        exc = make()
        response = render(request, exc, status, exc.message)
        response.headers["X-Hush-Mock"] = name
        return response

    return MockScenario(name, description, respond)


def mock_job(name: str, description: str, effect: MockJobEffect, respond: MockResponder | None = None) -> MockScenario:
    """A scenario that changes the jobs created under it (see :class:`MockJobEffect`)."""
    return MockScenario(name, description, respond or _route_answers, effect)


#: A job id: a UUID, or its 32 hex digits without dashes (the form AudioCleaner's document shows).
_JOB_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$")


async def finished_result(service: JobService, name: str, dialect: str) -> tuple[Any, str]:
    """``(job, blob_key)`` of the result a capability link ``<job_id>.<ext>`` names.

    No credentials: the unguessable job id is the capability. Anything else (a malformed id, an
    unknown, unfinished, expired or other dialect's job, a wrong extension) is NotFoundError.
    """
    job_id, _, ext = name.partition(".")
    if not _JOB_ID_RE.match(job_id):
        raise e.NotFoundError(f"no result {name!r}")
    try:
        job = await service.get(job_id)
    except e.NotFoundError:
        raise e.NotFoundError(f"no result {name!r}") from None
    if job.dialect != dialect or job.state is not JobState.succeeded or not job.result_key:
        raise e.NotFoundError(f"no result {name!r} (not finished, deleted or expired)")
    container = job.result_meta.get("container")
    if ext != container:
        raise e.NotFoundError(f"no result {name!r}; this job's result is .{container}")
    key = service.result_key(job)
    if not await anyio.to_thread.run_sync(service.blobs.exists, key):
        raise e.NotFoundError(f"no result {name!r} (deleted or expired)")
    return job, key


#: Lifetime of a presigned download link (``HUSH_S3_PRESIGN_DOWNLOADS``), in seconds.
PRESIGNED_URL_TTL_S = 3600


def content_disposition(kind: str, filename: str) -> str:
    """``attachment; filename="x.wav"``, with the RFC 6266 ``filename*`` form for non-ASCII names."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


async def blob_response(
    service: JobService,
    key: str,
    *,
    media_type: str,
    filename: str | None = None,
    disposition: str = "attachment",
    headers: dict[str, str] | None = None,
    head: bool = False,
    request: Request | None = None,
) -> Response:
    """A download of blob ``key``: streamed through this server, or (``HUSH_S3_PRESIGN_DOWNLOADS``
    with a store that presigns) a 307 to a short-lived link the client fetches directly.

    The body is read in 1 MiB chunks off the event loop, so a large result never sits in memory;
    a missing blob is NotFoundError before anything is sent. ``head`` (a HEAD request) answers
    the same headers, length included, without opening the blob. A single ``Range`` of the
    ``request`` (RFC 9110 sec. 14) is answered 206 with that part (a download resumed, a player
    seeking), one that cannot be met 416; several ranges get the whole file. Each answer carries
    an ``ETag`` (:func:`blob_etag`), so a resume that checks the file did not change (``If-Range``,
    as browsers and download managers send) gets its part too; any other ``If-Range`` gets the
    whole file; an ``If-None-Match`` that names it (or ``*``) gets 304 Not Modified."""
    blobs = service.blobs
    if service.settings.s3_presign_downloads:
        url = await anyio.to_thread.run_sync(
            lambda: blobs.url_for(key, expires_s=PRESIGNED_URL_TTL_S, filename=filename, media_type=media_type)
        )
        if url is not None:
            return RedirectResponse(url, status_code=307, headers=headers)
    size = await anyio.to_thread.run_sync(blobs.size, key)  # NotFoundError now, before any byte is sent
    etag = blob_etag(key, size)
    if request is not None and none_match(request.headers.get("if-none-match"), etag):
        # the client holds this very file (RFC 9110 sec. 13.1.2): 304, no body (a cache re-downloaded it whole)
        return Response(status_code=304, headers={"etag": etag, **(headers or {})})
    wanted = None
    if request is not None and request.headers.get("if-range", etag).strip() == etag:  # (a strong match only)
        wanted = request.headers.get("range")
    part = byte_range(wanted, size)
    if part == "unsatisfiable":
        return Response(
            status_code=416, headers={"content-range": f"bytes */{size}", "accept-ranges": "bytes", "etag": etag}
        )
    start, stop = part if part is not None else (0, size)

    async def body() -> AsyncIterator[bytes]:
        # opened only if the body is sent (not HEAD), at the range's first byte
        stream = await anyio.to_thread.run_sync(blobs.open, key, start)
        try:
            left = stop - start
            while left > 0 and (chunk := await anyio.to_thread.run_sync(stream.read, min(1 << 20, left))):
                left -= len(chunk)
                yield chunk
        finally:  # not awaited: a cancelled (disconnected) response must still close it
            stream.close()

    sent = {"content-length": str(stop - start), "accept-ranges": "bytes", "etag": etag, **(headers or {})}
    if part is not None:
        sent["content-range"] = f"bytes {start}-{stop - 1}/{size}"
    if filename is not None:
        sent["content-disposition"] = content_disposition(disposition, filename)
    status = 206 if part is not None else 200
    if head:
        return Response(media_type=media_type, headers=sent, status_code=status)
    return StreamingResponse(body(), media_type=media_type, headers=sent, status_code=status)


def none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` ``header`` names ``etag`` (RFC 9110 sec. 13.1.2: ``*``, or a
    list of entity tags compared weakly, so ``W/"x"`` matches ``"x"``)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def blob_etag(key: str, size: int) -> str:
    """A strong entity tag (RFC 9110 sec. 8.8.3) for blob ``key`` of ``size`` bytes: an upload or a
    result is written once under its own key and never changed, so its key and length name it."""
    return '"' + hashlib.sha256(f"{key}\n{size}".encode()).hexdigest()[:32] + '"'


#: One byte range (RFC 9110 sec. 14.1.2), ASCII digits only and at most 18 of them (under an int64).
_RANGE_RE = re.compile(r"[Bb][Yy][Tt][Ee][Ss]\s*=\s*(?P<first>[0-9]{0,18})\s*-\s*(?P<last>[0-9]{0,18})", re.ASCII)


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The one byte range ``header`` asks of ``size`` bytes as ``(start, stop)``, stop exclusive.

    ``None`` (send it all) when there is no header, it is not a single ``bytes`` range or it
    cannot be read; ``"unsatisfiable"`` when it starts past the end (RFC 9110 sec. 14.1.2).

    >>> byte_range("bytes=0-9", 100), byte_range("bytes=90-", 100), byte_range("bytes=-5", 100)
    ((0, 10), (90, 100), (95, 100))
    >>> byte_range("bytes=100-", 100), byte_range("bytes=0-1,5-6", 100), byte_range("items=0-1", 100)
    ('unsatisfiable', None, None)
    """
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None or not (match["first"] or match["last"]):  # (str.isdigit took "²", which int() refuses)
        return None
    first, last = match["first"], match["last"]
    if not first:  # a suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    stop = min(int(last) + 1, size) if last else size
    return None if stop <= start else (start, stop)


def message_with_error_id(exc: Exception, message: str) -> str:
    """``message`` with the error id of a 5xx answer, for an envelope with no field for it (Audo,
    Wondershare, AudioCleaner): the client quotes it to the operator, who finds its log line."""
    eid = getattr(exc, "error_id", None)
    return f"{message} (error id {eid})" if eid and str(eid) not in message else message


def json_answer(description: str, properties: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry for a 200 JSON object with every one of ``properties`` (JSON Schemas).

    For routes that build their vendor's envelope by hand: the document states what they send.
    """
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def json_errors(
    why: dict[int, str], properties: dict[str, Any], statuses: tuple[int, ...]
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error ``statuses`` of a route answering in its vendor's
    envelope (every one of ``properties``, JSON Schemas), each described by ``why``."""
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {code: {"description": why[code], "content": {"application/json": {"schema": schema}}} for code in statuses}


def json_body_schema(model: type[Any]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` (required, JSON) for a pydantic model, with its ``$defs`` inlined.

    For routes that read the raw body themselves (to answer in their vendor's envelope): the
    schema states what the route then checks. ``$defs`` refs would resolve against the whole
    OpenAPI document, so nested models are written in place.
    """
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def public_base(request: Request, service: JobService) -> str:
    """Scheme://host[:port] clients reach this server at: ``HUSH_PUBLIC_URL`` or the request's."""
    configured = service.settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")


async def follow_on_socket(websocket: WebSocket, send_all: Callable[[], Awaitable[None]]) -> None:
    """Run ``send_all`` (it sends a job's frames until its terminal one) on an accepted
    ``websocket`` beside a reader of the client's frames, then close the socket if both ends are
    still open.

    A client's close is seen at once, not at the next send (a queued job's may be hours away), so
    its live-stream place (``HUSH_MAX_WATCHERS``) comes back; a client gone mid-send ends it too.
    """

    async def follow(cancel: anyio.CancelScope) -> None:
        try:
            await send_all()
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the client went away mid-send
        finally:
            cancel.cancel()

    async def until_disconnect(cancel: anyio.CancelScope) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass  # client frames carry nothing for us
        cancel.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(follow, tg.cancel_scope)
        tg.start_soon(until_disconnect, tg.cancel_scope)
    if websocket.application_state is WebSocketState.CONNECTED and websocket.client_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close()


class StartedWatch:
    """A job's watch (:meth:`JobService.watch`) whose first item was taken already: an async
    iterator of ``(job, jobs_ahead)``; :meth:`aclose` ends the watch (and gives its place back)."""

    def __init__(self, first: tuple[Job, int], watching: AsyncGenerator[tuple[Job, int], None]) -> None:
        self._first: tuple[Job, int] | None = first
        self._watching = watching

    def __aiter__(self) -> StartedWatch:
        return self

    async def __anext__(self) -> tuple[Job, int]:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._watching)

    async def aclose(self) -> None:
        await self._watching.aclose()


async def start_watch(
    service: JobService, job_id: str, *, owner: str | None, poll_when_full: bool = False
) -> StartedWatch:
    """Start watching ``job_id`` before a stream's answer begins: its live-stream place is taken
    (or RateLimitedError raised) and the job read now, so a full server or a missing job is a
    proper refusal (429, 404), not an accepted stream that breaks. A check before the answer and
    the place taken after it let a reconnect storm in between (a review: accepted websockets
    dropped with no close frame, an ASGI traceback each)."""
    watching = service.watch(job_id, owner=owner, poll_when_full=poll_when_full)
    try:
        first = await anext(watching)
    except BaseException:
        await watching.aclose()
        raise
    return StartedWatch(first, watching)
