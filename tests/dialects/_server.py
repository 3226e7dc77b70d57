"""Run a real Hush server on 127.0.0.1:<free port> for dialect and SDK tests.

Usage::

    with run_server(Settings(data_dir=tmp_path, api_keys=("k1",), workers=1)) as server:
        httpx.get(server.url("/v1/remove-noise/x/status"), headers={"x-api-key": "k1"})

The app is ``create_app(settings)`` served by uvicorn in a thread of the test process (its
worker pool is real worker processes). The context manager waits until uvicorn has started, and
on exit stops it and waits for the lifespan shutdown (worker pool stopped).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings

__all__ = ["RunningServer", "backend_server", "free_port", "run_server"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """Handle on a server started by :func:`run_server`."""

    host: str
    port: int
    settings: Settings

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        return f"ws://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (which starts with ``/``)."""
        return self.base + path


@contextlib.contextmanager
def run_server(settings: Settings, *, startup_timeout_s: float = 30.0, workers: bool = True) -> Iterator[RunningServer]:
    """Serve ``create_app(settings)`` on 127.0.0.1 until the block ends (``workers=False``: no worker pool)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, workers=workers),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws_max_size=1 << 20,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"hush-test-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server exited during startup (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the test server did not start within {startup_timeout_s:g} s")
        time.sleep(0.02)
    try:
        yield RunningServer("127.0.0.1", port, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def backend_server(request: pytest.FixtureRequest, settings: Settings) -> Iterator[RunningServer]:
    """:func:`run_server` on the backend ``request.param`` names (``embedded`` or ``cluster``).

    On the cluster, the same settings move to PostgreSQL, S3, Redis and Celery workers (one per
    ``settings.workers``) that the block shares.
    """
    if request.param == "embedded":
        with run_server(settings) as server:
            yield server
        return
    from tests._services import cluster_backend

    with cluster_backend(settings, request.getfixturevalue("s3_server")) as moved, run_server(moved) as server:
        yield server
