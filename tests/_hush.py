"""Run a real ``hush serve`` as a subprocess on 127.0.0.1, for tests that need a real server.

Used where a real process matters: killing the server mid-job, worker processes, the SDKs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HushProcess:
    """``hush serve`` in a child process; ``url`` is its base URL."""

    def __init__(self, data_dir: Path, *, workers: int = 1, port: int | None = None, **env: Any) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HUSH_DATA_DIR": str(data_dir),
            "HUSH_WORKERS": str(workers),
            **{f"HUSH_{k.upper()}": str(v) for k, v in env.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    def start(self, timeout_s: float = 30.0, *, ready: tuple[int, ...] = (200,), probe: str = "/readyz") -> HushProcess:
        """Start it and wait until ``probe`` (``/readyz``) answers one of ``ready`` (503 too: a server
        that is up but not ready, e.g. one that requires a worker while none runs; ``/healthz`` for
        one whose readiness checks take longer than the probe's second, e.g. a broker unreachable)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = self._spawn(out)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hush serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}{probe}", timeout=1.0).status_code in ready:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hush serve did not become ready: {self.log.read_text()[-2000:]}")

    def _spawn(self, out: Any) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return subprocess.Popen(
            [*cmd, "--log-level", "warning"], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill9(self) -> None:
        """SIGKILL the server process alone (its workers notice and exit by themselves)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> HushProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class WorkerProcess:
    """``hush worker`` (a Celery worker) in a child process of its own session."""

    def __init__(self, data_dir: Path, env: dict[str, str], *, concurrency: int = 1, name: str = "w") -> None:
        self.data_dir = data_dir
        self.env = env
        self.concurrency = concurrency
        self.log = data_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "app.cli", "worker", "--concurrency", str(self.concurrency), "--log-level", "info"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while "ready." not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hush worker did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def kill9(self) -> None:
        """SIGKILL the worker and its job processes at once (a machine that vanished)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
