"""Ctrl+C on ``hush serve`` stops it within its grace even while a client follows a job's event
stream (a playground tab does, for the whole job): the stream is closed after
``HUSH_SHUTDOWN_GRACE_S`` instead of holding the shutdown until the job ends."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests._hush import HushProcess
from tests.app._http_fixtures import Reply, serve_http


def test_ctrl_c_stops_the_server_while_a_client_follows_a_job(tmp_path: Path) -> None:
    # the job's input never arrives, so the job, and its event stream, would go on for minutes
    with serve_http({"/slow.wav": Reply(hang=True)}) as origin:
        server = HushProcess(tmp_path, url_allowlist="127.0.0.1", shutdown_grace_s=1).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                job = c.post(
                    "/api/v1/jobs", json={"input": {"url": origin.url("/slow.wav")}, "steps": [{"name": "denoise"}]}
                )
                assert job.status_code == 202, job.text
                job_id = job.json()["id"]
            seen: list[str] = []

            def follow() -> None:
                try:
                    with httpx.stream("GET", f"{server.url}/api/v1/jobs/{job_id}/events", timeout=120) as r:
                        for line in r.iter_lines():
                            seen.append(line)
                except httpx.HTTPError:
                    seen.append("closed")

            watcher = threading.Thread(target=follow, daemon=True)
            watcher.start()
            deadline = time.monotonic() + 10
            while not any(s.startswith("data:") for s in seen) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(s.startswith("data:") for s in seen), "the event stream did not start"
            assert server.proc is not None
            began = time.monotonic()
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(30)
            took = time.monotonic() - began
            assert took < 8, f"the server took {took:.1f} s to stop with a client following a job"
            watcher.join(10)
            assert not watcher.is_alive()
        finally:
            server.stop()
