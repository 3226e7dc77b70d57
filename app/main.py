"""``create_app()``: routers, error handlers and the job core's lifespan.

Nothing happens at import. :func:`app.jobs.backends.build_backends` wires the job core from
settings: by default SQLite, a local blob directory, an in-process event bus and a pool of
worker processes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app import __version__
from app.auth import KeyStore
from app.errors import (
    AppError,
    EngineUnavailableError,
    InvalidParameterError,
    MethodNotAllowedError,
    NotFoundError,
    ServerStoppingError,
    storage_full,
)
from app.http import BodyLimit, Dialect, OpenModeGuard, default_status, error_id
from app.jobs.backends import build_backends
from app.jobs.service import JobService
from app.logs import RedactSecrets
from app.settings import Settings, get_settings

__all__ = ["create_app"]

log = logging.getLogger("hush")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class CollapseSlashes:
    """Collapse repeated slashes in the path: SDKs concatenate ``base_url + path``, so a base URL
    with a trailing slash yields ``//audio/...``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            path = scope["path"]
            while "//" in path:
                path = path.replace("//", "/")
            scope = dict(scope, path=path, raw_path=path.encode())
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Headers every HTTP answer carries: ``nosniff`` (a result or input is served as its own
    type, never sniffed into a page), no framing by other sites (the playground holds a key), and
    no referrer leaving the page (its address names a job)."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, add)


class CatchAll:
    """Answer an unexpected exception with a 500 in the right envelope, and keep the connection.

    Starlette's last-resort handler re-raises after answering, and the server then drops the
    keep-alive connection; here the exception ends with the answer. Exceptions after the
    response started cannot be answered any more and go on up.
    """

    def __init__(self, app: ASGIApp, render: Callable[[Request, Exception], Awaitable[Response]]) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await self.render(Request(scope), exc)
            await response(scope, receive, send)


def _dialects() -> list[Dialect]:
    from app.dialects import available_dialects

    return available_dialects()


def _not_built(api: str, mounted: str) -> Callable[[], Awaitable[Response]]:
    """A handler for every path of a vendor API that this build does not speak: 501, saying so."""

    async def handler() -> Response:
        raise EngineUnavailableError(
            f"the {api} API is not in this build of Hush", hint=f"this server speaks {mounted}"
        )

    return handler


def create_app(settings: Settings | None = None, *, workers: bool = True) -> FastAPI:
    """Build the ASGI app. ``workers=False`` skips the worker pool (route-only tests)."""
    settings = settings or get_settings()
    dialects = _dialects()
    from app.dialects import DIALECT_MODULES

    mounted = ", ".join(DIALECT_MODULES[d.name][0] for d in dialects) + " and the native API under /api/v1"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        mock = getattr(app.state, "mock", None)  # mock mode: jobs run in threads, instantly (app/api/mock.py)
        backends = await anyio.to_thread.run_sync(
            functools.partial(build_backends, settings, make_queue=mock.make_queue if mock is not None else None)
        )
        store = backends.store
        service = JobService(settings, store, backends.blobs, backends.queue, backends.bus)
        if mock is not None:
            mock.attach(service)
        service.register_webhook("native", native_webhook)
        for d in dialects:
            if d.webhook is not None:
                service.register_webhook(d.name, d.webhook)
        app.state.settings = settings
        # mock mode answers any key (its magic keys pick scenarios); otherwise bootstrap + account keys
        app.state.keys = (
            KeyStore(settings.model_copy(update={"api_keys": ()})) if settings.mock else KeyStore(settings, store)
        )
        app.state.service = service
        if workers:
            await service.start()
        log.info(
            "hush %s ready: jobs in %s, blobs in %s, queue %s, events %s",
            __version__,
            settings.store_kind,
            settings.blob_kind,
            "mock threads" if mock is not None else settings.queue_kind,
            settings.bus_kind,
        )
        try:
            yield
        finally:
            if workers:
                await service.stop()
            backends.close()

    app = FastAPI(
        title="Hush",
        version=__version__,
        description=f"Self-hosted audio clean-up. Speaks {mounted}.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    from app.api.routes import native_webhook
    from app.api.routes import router as native_router

    app.include_router(native_router)
    from app.api.docs import install_docs
    from app.api.playground import router as playground_router

    app.include_router(playground_router)
    install_docs(app)
    if settings.mock:
        from app.api.mock import install_mock

        install_mock(app, dialects, settings)
    for d in dialects:
        app.include_router(d.router)
    built = {d.name for d in dialects}
    for name, (api, prefixes) in DIALECT_MODULES.items():
        if name in built:
            continue
        for prefix in prefixes:  # a vendor API this build does not speak answers 501, saying so
            app.add_api_route(
                f"{prefix}/{{rest:path}}",
                _not_built(api, mounted),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                include_in_schema=False,
            )

    def dialect_for(request: Request) -> Dialect | None:
        path = request.url.path
        for d in dialects:
            if any(path.startswith(p) for p in d.prefixes):
                return d
        return None

    def render(request: Request, exc: Exception, status: int, message: str) -> Response:
        d = dialect_for(request)
        if d is not None:
            return d.render_error(request, exc, status, message)
        body: dict[str, Any] = {"title": message, "status": status, "code": getattr(exc, "code", "error")}
        hint = getattr(exc, "hint", None)
        if hint:
            body["hint"] = hint
        if status >= 500:
            body["error_id"] = getattr(exc, "error_id", None) or error_id()
        headers = {"Retry-After": str(exc.retry_after_s)} if hasattr(exc, "retry_after_s") else None
        return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")

    def status_of(request: Request, exc: Exception) -> int:
        d = dialect_for(request)
        if d is not None and d.status_for is not None:
            return d.status_for(exc)
        return default_status(exc)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        status = status_of(request, exc)
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        if status >= 500:
            eid = exc.error_id = error_id()  # type: ignore[attr-defined]
            cause = getattr(exc, "cause_text", "")
            # (a sync request cut by a routine restart is expected, not a fault to page anyone about)
            log.log(
                logging.WARNING if isinstance(exc, ServerStoppingError) else logging.ERROR,
                "error %s on %s %s: %s%s",
                eid,
                request.method,
                request.url.path,
                message,
                f" ({cause})" if cause else "",
            )
        return render(request, exc, status, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query", "header"))
            msg = err.get("msg")
            kind = err.get("type")
            if kind == "extra_forbidden":
                msg = "not a field of this request (the fields are in the OpenAPI schema at /docs)"
            elif kind == "json_invalid":  # loc is the character position: say so, and what went wrong
                why = (err.get("ctx") or {}).get("error", "")
                parts.append(f"the body is not valid JSON (at character {loc or 0}{': ' + str(why) if why else ''})")
                continue
            elif kind == "missing" and not loc:
                msg = "the request needs a JSON body (its fields are in the OpenAPI schema at /docs)"
            elif kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
                # (a JSON array, or a form-encoded body, was "Input should be a valid dictionary or
                # object to extract fields from")
                msg = (
                    "the body must be a JSON object, {...}, sent with Content-Type: application/json "
                    "(its fields are in the OpenAPI schema at /docs)"
                )
            parts.append(f"{loc}: {msg}" if loc else str(msg))
        wrapped = InvalidParameterError("; ".join(parts) or "invalid request")
        wrapped.validation_errors = exc.errors()  # type: ignore[attr-defined]
        return render(request, wrapped, status_of(request, wrapped), wrapped.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, AppError):  # raised while the framework read the body (BodyLimit)
            return await app_error(request, exc.__cause__)
        if isinstance(exc.__cause__, RecursionError):  # the framework's json.loads on a body nested past the stack
            return await app_error(request, InvalidParameterError("the JSON body is nested too deeply to be a request"))
        status = exc.status_code
        allowed = _allowed_methods(request) if status == 405 else ""
        if exc.status_code == 404:
            wrapped: AppError = NotFoundError(f"no route {request.method} {request.url.path}")
        elif exc.status_code == 400:  # the framework refused the body (a malformed multipart, ...):
            wrapped = InvalidParameterError(str(exc.detail))  # the dialect's status for a bad request
            status = status_of(request, wrapped)  # (Audo's SDK reads only a 422 as MalformedFile)
        elif exc.status_code == 405:  # (its code was the generic "error")
            wrapped = MethodNotAllowedError(f"{request.method} is not served at {request.url.path}; it takes {allowed}")
        else:
            wrapped = AppError(str(exc.detail))
        response = render(request, wrapped, status, wrapped.message)
        for name, value in (exc.headers or {}).items():  # e.g. the Allow of a 405 (RFC 9110 section 15.5.6)
            response.headers.setdefault(name, value)
        if exc.status_code == 405:
            response.headers["Allow"] = allowed
        return response

    def _allowed_methods(request: Request) -> str:
        """Every method some route serves at this path (Starlette names only the first route's).

        Asked of the router itself, method by method, so included routers are covered too.
        """
        allowed = []
        for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"):
            scope = {**request.scope, "method": method}
            if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
                allowed.append(method)
        return ", ".join(allowed)

    async def unhandled(request: Request, exc: Exception) -> Response:
        full = storage_full(exc)
        if full is not None:  # one log line, with what the disk said
            full.cause_text = str(exc)  # type: ignore[attr-defined]
            return await app_error(request, full)
        eid = error_id()
        log.exception("unhandled error %s on %s %s", eid, request.method, request.url.path)
        wrapped = AppError(f"internal server error (error id {eid})")
        wrapped.error_id = eid  # type: ignore[attr-defined]
        return render(request, wrapped, 500, wrapped.message)

    app.add_middleware(CatchAll, render=unhandled)
    app.add_middleware(BodyLimit)
    app.add_middleware(OpenModeGuard)
    app.add_middleware(CollapseSlashes)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the guards' own included
    for name in ("uvicorn.access", "uvicorn.error"):  # also when uvicorn runs with its own log config
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
    return app
