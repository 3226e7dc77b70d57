"""What every HTTP edge (dialects, native API) shares: the Dialect record, status mapping, dependencies.

A dialect module exposes ``DIALECT = Dialect(...)``: its router, the path prefixes it owns (so
errors raised under them are rendered in its envelope), its error renderer and its webhook body
builder. Dialects never import each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
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
    "MockScenario",
    "MockState",
    "ServiceDep",
    "default_status",
    "error_id",
    "get_keys",
    "get_service",
    "json_error",
    "mock_error",
]

#: Renders ``(request, exception, status, message)`` into the dialect's envelope.
ErrorRenderer = Callable[[Request, Exception, int, str], Response]


class MockState:
    """What mock mode remembers between requests: the scenarios' counters (see :mod:`app.api.mock`)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def count(self, key: str) -> int:
        """How often ``key`` was counted before; counts it once more."""
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return n

    def reset(self) -> None:
        """Forget every counter."""
        self.counters.clear()


#: Answers a request in a mock scenario, or returns None to let the real route answer.
MockResponder = Callable[[Request, MockState], Awaitable[Response | None]]


@dataclass(frozen=True)
class MockScenario:
    """A vendor behaviour a dialect can be asked to show in mock mode (``hush serve --mock``)."""

    name: str
    """Selects it: key ``mock-<name>``, header ``Prefer: scenario=<name>``, or ``hush-mock=<name>`` in the input URL."""
    description: str
    respond: MockResponder


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
