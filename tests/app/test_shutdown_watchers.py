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
    # a routine restart is no fault: the 503 is logged as a warning, not an error to page about
    assert any("WARNING" in line and "the server is stopping" in line for line in log.splitlines()), log[-3000:]
    assert not any(" ERROR " in line for line in log.splitlines()), log[-3000:]
    with sqlite3.connect(Settings(data_dir=data).db_path) as db:
        states = dict(db.execute("SELECT dialect, state FROM jobs"))
        reasons = dict(db.execute("SELECT dialect, error_reason FROM jobs"))
    assert states.get("deepaffects") == "cancelled", states  # not run (and charged) at the next start
    # (it read "cancelled by the client": a cluster audit)
    assert "the server stopped" in (reasons.get("deepaffects") or ""), reasons


def test_a_webhook_delivery_a_restart_cut_goes_on_where_it_was(tmp_path: Path) -> None:
    """A delivery the server stopped during (a deploy, a crash loop) started again at attempt 1 at
    the next start, at once: each restart gave a failing receiver a fresh set of attempts and
    ignored the Retry-After it had asked for (audit). It goes on at attempt 2, when it is due."""
    import io

    import numpy as np
    import soundfile as sf

    from tests.app._http_fixtures import replies_in_order

    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000, np.float32), 8000, format="WAV", subtype="PCM_16")
    data = tmp_path / "data"
    env = {"url_allowlist": "127.0.0.1", "webhook_max_attempts": 4, "webhook_backoff_s": 1}
    hook = replies_in_order(Reply(status=503, headers={"Retry-After": "4"}), Reply(status=200))
    with serve_http({"POST /hook": hook}) as receiver:
        server = HushProcess(data, **env).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                file_id = c.post("/api/v1/files", files={"file": ("in.wav", buf.getvalue())}).json()["file_id"]
                job = c.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "webhook_url": receiver.url("/hook")})
                assert job.status_code == 202, job.text
                job_id = job.json()["id"]
                deadline = time.monotonic() + 30
                while not receiver.requests:  # the first attempt: 503, come back in 4 s
                    assert time.monotonic() < deadline, "no webhook"
                    time.sleep(0.05)
                first = receiver.requests[0].received_at
                deadline = time.monotonic() + 10
                while c.get(f"/api/v1/jobs/{job_id}").json()["webhook"]["attempts"] != 1:
                    assert time.monotonic() < deadline, "the attempt was not recorded"
                    time.sleep(0.05)
        finally:
            server.stop()  # within the 4 s the receiver asked for
        assert len(receiver.requests) == 1
        server = HushProcess(data, port=server.port, **env).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                deadline = time.monotonic() + 20
                while (hooked := c.get(f"/api/v1/jobs/{job_id}").json()["webhook"])["delivered"] is None:
                    assert time.monotonic() < deadline, hooked
                    time.sleep(0.1)
            log = server.log.read_text(errors="replace")
        finally:
            server.stop()
    assert hooked == {"delivered": True, "attempts": 2, "status": 200, "error": None}, hooked
    assert len(receiver.requests) == 2
    waited = receiver.requests[1].received_at - first
    assert waited >= 4.0 - 0.1, f"the second attempt came {waited:.1f} s after the first; 4 s were asked for"
    assert "resuming 1 webhook delivery" in log, log[-2000:]
