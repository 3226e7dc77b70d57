"""A real ``hush serve`` on a free loopback port for the benchmarks that drive the HTTP API."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def hush_server(
    env: dict[str, str], *, quiet: bool = False, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``hush serve`` with ``env`` (over this process's, with a fresh ``HUSH_DATA_DIR``) and
    the extra command-line ``args`` (``("--mock",)``), wait until ``/readyz`` answers 200 (at most
    30 s), yield its base URL and process, then stop it."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [sys.executable, "-m", "app.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen(
            [*cmd, "--log-level", "error"],
            env={**os.environ, "HUSH_DATA_DIR": data, **env},
            cwd=REPO,
            stdout=subprocess.DEVNULL if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield base, server
        finally:
            server.terminate()
            server.wait(15)
