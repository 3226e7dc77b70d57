"""Ctrl+C on ``hush serve`` while a client follows a job (a playground tab does, for the whole
job) and the job runs: the job's event streams end at once, the workers leave stopping to the
server, and the stopped run goes back to the queue uncounted.

Ctrl+C (and systemd, ``kill -- -PGID``) signals the whole process group, workers included;
``docker stop`` signals the server alone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from app.jobs.store import SqliteJobStore
from app.settings import Settings
from tests._hush import HushProcess
from tests.app._http_fixtures import Reply, serve_http


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "sigterm-to-the-group", "sigterm-to-the-server"],
)
def test_stopping_the_server_while_a_client_follows_a_running_job(
    tmp_path: Path, sig: signal.Signals, group: bool
) -> None:
    # it took the whole grace (5 s) and ended in a CancelledError traceback from the event
    # stream; a Ctrl+C printed a KeyboardInterrupt traceback from the worker, whose run was
    # re-queued as a crash (one of the job's attempts), and a SIGTERM once started attempt 2
    data = tmp_path / "data"
    # the job's input never arrives, so the job, and its event stream, would go on for minutes
    with serve_http({"/slow.wav": Reply(hang=True)}) as origin:
        server = HushProcess(data, url_allowlist="127.0.0.1").start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                job = c.post(
                    "/api/v1/jobs", json={"input": {"url": origin.url("/slow.wav")}, "steps": [{"name": "denoise"}]}
                )
                assert job.status_code == 202, job.text
                job_id = job.json()["id"]
                deadline = time.monotonic() + 10  # until its worker runs it (and waits for the input)
                while c.get(f"/api/v1/jobs/{job_id}").json()["state"] != "downloading":
                    assert time.monotonic() < deadline, "the job did not start"
                    time.sleep(0.05)
            seen: dict[str, list[str]] = {"sse": [], "ws": []}

            def follow_sse() -> None:
                try:
                    with httpx.stream("GET", f"{server.url}/api/v1/jobs/{job_id}/events", timeout=60) as r:
                        seen["sse"].extend(line for line in r.iter_lines() if line.startswith("data:"))
                    seen["sse"].append("ended")
                except httpx.HTTPError as exc:
                    seen["sse"].append(f"broken: {exc!r}")

            def follow_ws() -> None:
                url = f"ws://127.0.0.1:{server.port}/api/v1/jobs/{job_id}/ws"
                with websockets.sync.client.connect(url) as ws:
                    try:
                        while True:
                            seen["ws"].append(str(ws.recv(timeout=60)))
                    except ConnectionClosed:
                        seen["ws"].append("ended")
                    except TimeoutError:
                        seen["ws"].append("still open")

            watchers = [threading.Thread(target=f, daemon=True) for f in (follow_sse, follow_ws)]
            for w in watchers:
                w.start()
            deadline = time.monotonic() + 10
            while not (seen["sse"] and seen["ws"]):
                assert time.monotonic() < deadline, f"the streams did not start: {seen}"
                time.sleep(0.05)
            assert server.proc is not None
            began = time.monotonic()
            if group:
                os.killpg(server.proc.pid, sig)
            else:
                server.proc.send_signal(sig)
            server.proc.wait(30)
            took = time.monotonic() - began
            for w in watchers:
                w.join(5)
            log = server.log.read_text(errors="replace")
            assert took < 3, f"the server took {took:.1f} s to stop (its grace is 5 s)\n{log[-3000:]}"
            assert (seen["sse"][-1], seen["ws"][-1]) == ("ended", "ended"), seen
            for wrong in ("Traceback", "KeyboardInterrupt", "timeout graceful shutdown exceeded", "worker"):
                assert wrong not in log, log[-3000:]
            assert f"job {job_id} goes back to the queue as the server stops (its run is not counted)" in log
        finally:
            server.stop()
        store = SqliteJobStore(Settings(data_dir=data).db_path)
        try:
            stopped = store.get(job_id)
        finally:
            store.close()
        assert stopped is not None
        assert (stopped.state.value, stopped.attempt) == ("queued", 0)  # the next start runs it as attempt 1


def test_a_sync_request_the_server_stops_under_gets_503_and_its_job_is_cancelled(tmp_path: Path) -> None:
    """A DeepAffects sync request in flight when the server stopped got a bare ``500 text/plain``
    when the grace ended, and its job ran after the restart and was charged: a result no sync
    client can fetch (audit). It gets 503 in the envelope with ``Retry-After``, its job cancelled."""
    import base64
    import io
    import sqlite3

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000, np.float32), 8000, format="WAV", subtype="PCM_16")
    data = tmp_path / "data"
    with serve_http({"/slow.wav": Reply(hang=True)}) as origin:
        # one worker, held by a job whose input never arrives: the sync job waits behind it
        server = HushProcess(data, url_allowlist="127.0.0.1", shutdown_grace_s=3).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                held = c.post("/api/v1/jobs", json={"input": {"url": origin.url("/slow.wav")}})
                assert held.status_code == 202, held.text
                deadline = time.monotonic() + 10
                while c.get(f"/api/v1/jobs/{held.json()['id']}").json()["state"] != "downloading":
                    assert time.monotonic() < deadline, "the job did not start"
                    time.sleep(0.05)
            answer: list[httpx.Response | Exception] = []

            def sync() -> None:
                try:
                    answer.append(
                        httpx.post(
                            f"{server.url}/audio/generic/api/v1/sync/denoise",
                            json={"content": base64.b64encode(buf.getvalue()).decode(), "sampleRate": 8000},
                            timeout=60,
                        )
                    )
                except httpx.HTTPError as exc:
                    answer.append(exc)

            t = threading.Thread(target=sync, daemon=True)
            t.start()
            time.sleep(1.0)  # the sync job is queued behind the held one
            assert server.proc is not None
            began = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(30)
            t.join(10)
            took = time.monotonic() - began
            log = server.log.read_text(errors="replace")
        finally:
            server.stop()
    assert len(answer) == 1, answer
    r = answer[0]
    assert isinstance(r, httpx.Response), r
    assert r.status_code == 503, (r.status_code, r.text, log[-3000:])
    assert r.headers["content-type"].startswith("application/json")
    assert int(r.headers["retry-after"]) > 0
    assert set(r.json()) >= {"message", "code"}, r.json()
    assert "send the same request again" in r.json()["message"]
    assert took < 3 + 2, f"the server took {took:.1f} s to stop (its grace is 3 s)"
    assert "Traceback" not in log, log[-3000:]
    with sqlite3.connect(Settings(data_dir=data).db_path) as db:
        states = dict(db.execute("SELECT dialect, state FROM jobs"))
    assert states.get("deepaffects") == "cancelled", states  # not run (and charged) at the next start
