"""Mock mode (``hush serve --mock`` or ``HUSH_MOCK=1``): vendor behaviour on demand, for the tests of
a client built against one of the vendors.

Each dialect declares its scenarios (``Dialect.mock_scenarios``); this module only selects and
records. A request picks a scenario of the dialect whose path it calls, without a change to the
client's code, by any of:

* its API key: ``mock-<scenario>`` (in whatever place the dialect reads keys from);
* a header ``Prefer: scenario=<scenario>`` (``Prefer: code=429`` is the same as ``scenario=429``);
* the marker ``hush-mock=<scenario>`` anywhere in the query or body, e.g. in the input URL.

A scenario answers the request itself or lets the real route answer (the queue-position
scenarios override a real job's status for a few polls, then step aside). Every request is
journalled: ``GET /_mock/requests`` lists them in order, ``POST /_mock/reset`` forgets the
journal and the scenarios' counters, ``GET /_mock/scenarios`` lists what each dialect offers.
The key check is off in mock mode, so the server refuses to listen beyond loopback.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.errors import InvalidParameterError
from app.http import Dialect, MockScenario, MockState

__all__ = ["MockJournal", "install_mock", "selected_scenario"]

_MARKER = re.compile(rb"hush-mock[=:]([A-Za-z0-9_.-]+)")
_PREFER = re.compile(r"(?:^|[;,\s])(scenario|code)=\"?([A-Za-z0-9_.-]+)")
_KEY_PREFIX = "mock-"


class MockJournal:
    """Every request the mock server saw, in order (bounded)."""

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._limit = limit
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            del self._entries[: -self._limit]

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seq = 0


def _keys_of(request: Request) -> list[str]:
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    return [
        v
        for v in (
            request.query_params.get("apikey"),
            request.query_params.get("api_key"),
            request.headers.get("x-api-key"),
            request.headers.get("api-key"),
            bearer,
        )
        if v
    ]


def selected_scenario(request: Request, body: bytes) -> str | None:
    """The scenario name a request asks for, by key, ``Prefer`` header or marker; None when none."""
    for key in _keys_of(request):
        if key.startswith(_KEY_PREFIX):
            return key[len(_KEY_PREFIX) :]
    prefer = _PREFER.search(request.headers.get("prefer", ""))
    if prefer:
        return prefer.group(2)
    marker = _MARKER.search(request.url.query.encode() + b" " + body)
    if marker:
        return marker.group(1).decode()
    return None


def install_mock(app: FastAPI, dialects: list[Dialect]) -> None:
    """Add the journal, the scenario selection and the ``/_mock`` routes to ``app``."""
    journal = MockJournal()
    state = MockState()
    app.state.mock_journal = journal
    app.state.mock_state = state

    def dialect_for(path: str) -> Dialect | None:
        for d in dialects:
            if any(path.startswith(p) for p in d.prefixes):
                return d
        return None

    @app.middleware("http")
    async def mock_scenarios(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith("/_mock"):
            return await call_next(request)
        body = await request.body()
        name = selected_scenario(request, body)
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k not in ("host", "content-length")},
            "body_bytes": len(body),
            "scenario": name,
        }
        if request.headers.get("content-type", "").startswith("application/json") and len(body) <= 65536:
            entry["body"] = body.decode(errors="replace")
        response: Response | None = None
        dialect = dialect_for(request.url.path)
        if name is not None:
            scenarios = {s.name: s for s in (dialect.mock_scenarios if dialect else ())}
            chosen: MockScenario | None = scenarios.get(name)
            if chosen is None:
                api = dialect.name if dialect else "the native API"
                exc = InvalidParameterError(
                    f"no mock scenario {name!r} for {api}",
                    hint=f"it has: {', '.join(scenarios) or 'none'} (GET /_mock/scenarios lists them all)",
                )
                message = f"{exc.message} ({exc.hint})"
                response = (
                    dialect.render_error(request, exc, 400, message)
                    if dialect
                    else JSONResponse({"title": message, "status": 400, "code": exc.code}, status_code=400)
                )
            else:
                response = await chosen.respond(request, state)
        if response is None:
            response = await call_next(request)
        entry["status"] = response.status_code
        entry["answered_by"] = "scenario" if _is_mock(response) else "route"
        journal.add(entry)
        return response

    @app.get("/_mock/requests", tags=["mock"])
    async def mock_requests() -> list[dict[str, Any]]:
        """Every request since the last reset, oldest first (``/_mock`` calls are not recorded)."""
        return journal.entries()

    @app.post("/_mock/reset", tags=["mock"])
    async def mock_reset() -> dict[str, str]:
        """Forget the journal and every scenario counter."""
        journal.clear()
        state.reset()
        return {"status": "reset"}

    @app.post("/_mock/jobs/{job_id}/advance", tags=["mock"])
    async def mock_advance(job_id: str, request: Request) -> dict[str, Any]:
        """Skip every scenario countdown of the job (queue position ...) and wait until it ends.

        Answers the job's final state, so a test moves on without polling or sleeping.
        """
        service = request.app.state.service
        await service.get(job_id)  # 404 for an unknown job
        skipped = [k for k in state.counters if k.endswith(f".{job_id}")]
        for k in skipped:
            state.counters[k] = 1 << 30
        job = await service.wait(job_id, request.app.state.settings.sync_timeout_s)
        return {"job_id": job_id, "state": job.state.value, "skipped": skipped}

    @app.get("/_mock/scenarios", tags=["mock"])
    async def mock_list() -> dict[str, list[dict[str, str]]]:
        """The scenarios each dialect of this build declares."""
        return {d.name: [{"name": s.name, "description": s.description} for s in d.mock_scenarios] for d in dialects}


def _is_mock(response: Response) -> bool:
    return response.headers.get("x-hush-mock") is not None
