"""What every HTTP edge (dialects, native API) shares: the Dialect record, status mapping, dependencies.

A dialect module exposes ``DIALECT = Dialect(...)``: its router, the path prefixes it owns (so
errors raised under them are rendered in its envelope), its error renderer and its webhook body
builder. Dialects never import each other.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from app import errors as e
from app.auth import KeyStore
from app.jobs.service import JobService, WebhookRenderer

__all__ = [
    "Dialect",
    "ErrorRenderer",
    "KeysDep",
    "ServiceDep",
    "default_status",
    "error_id",
    "get_keys",
    "get_service",
    "json_error",
    "parse_json",
    "read_body",
]

#: Renders ``(request, exception, status, message)`` into the dialect's envelope.
ErrorRenderer = Callable[[Request, Exception, int, str], Response]


@dataclass(frozen=True)
class Dialect:
    """One vendor API as mounted on the server."""

    name: str
    router: APIRouter
    prefixes: tuple[str, ...]
    render_error: ErrorRenderer
    webhook: WebhookRenderer | None = None
    status_for: Callable[[Exception], int] | None = None


_STATUS: list[tuple[type[Exception], int]] = [
    (e.InputTooLargeError, 413),
    (e.UnsupportedMediaError, 415),
    (e.EmptyInputError, 400),
    (e.CorruptMediaError, 400),
    (e.URLRefusedError, 400),
    (e.InvalidParameterError, 400),
    (e.InputError, 400),
    (e.FetchError, 400),
    (e.AuthError, 401),
    (e.NotFoundError, 404),
    (e.ConflictError, 409),
    (e.RateLimitedError, 429),
    (e.EngineUnavailableError, 501),
    (e.JobTimeoutError, 504),
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
    """A JSON error response; 429 carries an integer ``Retry-After``."""
    headers = {}
    if isinstance(exc, e.RateLimitedError):
        headers["Retry-After"] = str(int(exc.retry_after_s))
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


def parse_json(raw: bytes) -> Any:
    """``json.loads`` whose failures (bad syntax, bad UTF-8, absurd nesting) are client errors."""
    try:
        return json.loads(raw)
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
