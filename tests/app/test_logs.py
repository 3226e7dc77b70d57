"""What an operator reads in ``hush serve``'s log (an operations audit): one format with a time on
every line, uvicorn's included; no credential of a websocket handshake or of a webhook URL's own
query; each job's creation and outcome with its API and code; a delivered webhook; and the
worker processes at the server's ``--log-level``."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from app.logs import RedactSecrets, redact_query
from tests._hush import HushProcess
from tests.app._http_fixtures import Reply, serve_http
from tests.signals import make_white

KEY = "log-key-SECRET1"
H = {"x-api-key": KEY}
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def _wav(x: np.ndarray, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, 8000, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "/async/denoise?apikey=k&webhook=http%3A%2F%2F127.0.0.1%3A8872%2Fhook%3Ftoken%3DTOK1",
            "/async/denoise?apikey=***&webhook=http://127.0.0.1:8872/***",
        ),
        ("/x?webhook=https%3A%2F%2Fh.example", "/x?webhook=https://h.example"),
        ("/x?webhook=not-a-url", "/x?webhook=***"),
        # names as the server reads them, decoded (%61pikey authenticated and was logged in clear)
        ("/sync/denoise?%61pikey=SECRET1", "/sync/denoise?%61pikey=***"),
        ("/x?a=1&%77ebhook=http%3A%2F%2Fh.example%2Fhook%3Ftoken%3DTOK1", "/x?a=1&%77ebhook=http://h.example/***"),
        ("/x?APIKEY=K;rest&monkey=1", "/x?APIKEY=***&monkey=1"),
    ],
)
def test_a_url_in_the_query_keeps_only_its_origin(line: str, expected: str) -> None:
    assert redact_query(line) == expected


def test_a_clients_text_stays_on_one_line() -> None:
    # a newline in a DeepAffects request_id forged a whole log line
    record = logging.LogRecord(
        "hush.jobs",
        logging.INFO,
        __file__,
        1,
        "job %s created: request_id %s",
        ("j1", "x\n2026-12-07 ERROR hush: FORGED\x1b[31m"),
        None,
    )
    RedactSecrets().filter(record)
    text = record.getMessage()
    assert "\n" not in text
    assert "\x1b" not in text
    assert text.endswith("request_id x\\n2026-12-07 ERROR hush: FORGED\\x1b[31m")


def test_a_websocket_handshake_line_is_redacted() -> None:
    # uvicorn writes it through uvicorn.error, which had no filter
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]', ("1.2.3.4:5", "/ws?key=K1"), None
    )
    assert RedactSecrets().filter(record)
    assert "K1" not in record.getMessage()


class InfoHush(HushProcess):
    """``hush serve --log-level info``, as an operator runs it."""

    def _spawn(self, out: Any) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return subprocess.Popen(
            [*cmd, "--log-level", "info"], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _until(c: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = c.get(f"/api/v1/jobs/{job_id}", headers=H).json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def test_the_log_an_operator_reads(tmp_path: Path) -> None:
    import websockets.sync.client

    rng = np.random.default_rng(5)
    good = _wav(make_white(rng, 8000, -30.0))
    bad = make_white(rng, 8000, -30.0).astype(np.float32)
    bad[4000] = np.nan
    hooks: list[Any] = []
    with serve_http({"/hook": lambda req: hooks.append(req) or Reply(status=200)}) as receiver:
        hook = receiver.url("/hook") + "?token=HOOKTOKEN9"
        with InfoHush(tmp_path, api_keys=KEY, url_allowlist="127.0.0.1") as server:
            server.log.write_text("")  # the start's lines aside: what follows is this test's
            with httpx.Client(base_url=server.url, timeout=30) as c:
                fid = c.post("/api/v1/files", files={"file": ("a.wav", good)}, headers=H).json()["file_id"]
                ok = c.post("/api/v1/jobs", json={"input": {"file_id": fid}, "webhook_url": hook}, headers=H).json()
                fid = c.post("/api/v1/files", files={"file": ("b.wav", _wav(bad, "FLOAT"))}, headers=H).json()
                failed = c.post("/api/v1/jobs", json={"input": {"file_id": fid["file_id"]}}, headers=H).json()
                assert _until(c, ok["id"])["state"] == "succeeded"
                assert _until(c, failed["id"])["state"] == "failed"
                url = server.url.replace("http", "ws") + f"/api/v1/jobs/{ok['id']}/ws?key={KEY}"
                with websockets.sync.client.connect(url) as ws:
                    ws.recv()
                c.post(
                    "/audio/generic/api/v1/async/denoise",
                    params={"apikey": KEY, "webhook": hook, "request_id": "da-req-7"},
                    json={"content": __import__("base64").b64encode(good).decode()},
                )
                deadline = time.monotonic() + 30
                while len(hooks) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
            time.sleep(0.3)
        log = server.log.read_text()
    lines = [ln for ln in log.splitlines() if ln.strip()]
    untimed = [ln for ln in lines if not STAMP.match(ln) and not ln.startswith((" ", "Traceback"))]
    assert not untimed, untimed[:5]
    assert KEY not in log
    assert "HOOKTOKEN9" not in log
    assert urllib.parse.quote("HOOKTOKEN9") not in log
    assert re.search(rf"job {ok['id']} created: native api, steps denoise", log)
    assert re.search(rf"job {ok['id']} succeeded in [\d.]+ s", log)
    assert re.search(rf"job {failed['id']} failed \(input\.corrupt, attempt 1\): ", log)
    assert re.search(r"job \S+ created: deepaffects api, steps denoise, request_id da-req-7", log)
    assert "INFO app.webhooks: " in log  # a delivered webhook is a line too


def test_the_workers_follow_the_servers_log_level(tmp_path: Path) -> None:
    good = _wav(make_white(np.random.default_rng(6), 8000, -30.0))
    with HushProcess(tmp_path, api_keys=KEY) as server:  # the tests' servers run at --log-level warning
        with httpx.Client(base_url=server.url, timeout=30) as c:
            fid = c.post("/api/v1/files", files={"file": ("a.wav", good)}, headers=H).json()["file_id"]
            job = c.post("/api/v1/jobs", json={"input": {"file_id": fid}}, headers=H).json()
            assert _until(c, job["id"])["state"] == "succeeded"
        log = server.log.read_text()
    assert " INFO " not in log  # the workers' "attempt 1 started" lines were INFO at any level
