"""How honest Wondershare's ``wait_time`` is: a client that waits it, against the real wait.

    python bench/wait_time.py [--long-s 1500] [--short-s 2] [--warmup 2] [--heavy-s 120] [--only 4,5,6]

Starts its own ``hush serve`` (loopback, one worker, a temporary data directory) for each
scenario, serves the inputs from a loopback origin, and polls ``/v3/pic/ecr/result/{task_id}``
as the doc's client does: ask, sleep ``wait_time``, ask again, until status ``"3"``. Scenarios:

1. ``fresh``: a long task on a server that has finished no task yet (the rate is the default).
2. ``after short``: the same task after ``--warmup`` short tasks finished (the rate is measured
   on them).
3. ``measured``: the long task again, after one like it finished (the rate is measured on it).
4. ``behind a running task``: a short task submitted while the long one runs on the only worker.
5. ``behind, measured``: the same once a long task finished (no 5 s cap on ``wait_time``).
6. ``rate off``: the long task after a click-heavy one of ``--heavy-s`` (a voiced tone with two
   clicks a second, some five times the run time per audio second of the long task's noise), so
   the measured rate is several times too slow for it; the client first asks once the long task
   has reported 1 % (its second progress report: the answers before it rest on the rate alone,
   on any estimator).

Prints, for the watched task: each answer (time since submit, status, ``wait_time``, the time
that was really left) and a summary row: when the result was ready, when the client that obeys
``wait_time`` learned it, and how many polls it made.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import soundfile as sf

APP = "bench:secret"
AUTH = {"Authorization": "Basic " + base64.b64encode(APP.encode()).decode()}
SR = 16_000

from _serve import hush_server  # noqa: E402  (bench/, the script's own folder)


def _wav(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    sf.write(buf, (0.1 * rng.standard_normal(int(SR * seconds))).astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _heavy(seconds: float) -> bytes:
    """A voiced tone (120-150 Hz, 19 harmonics, a 3 Hz envelope) with a click every 0.5 s: click
    repair costs some five times as much per audio second as on noise."""
    rng = np.random.default_rng(3)
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.5 * t)) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    x = 0.2 * voiced * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2 + 0.01 * rng.standard_normal(t.size)
    x[:: SR // 2] += 0.5
    buf = io.BytesIO()
    sf.write(buf, (0.8 * x / np.abs(x).max()).astype(np.float32), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _origin(files: dict[str, bytes]) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def _body(origin: str, name: str, data: bytes, seconds: float) -> dict[str, Any]:
    info = {"file_size": len(data), "file_md5": hashlib.md5(data, usedforsecurity=False).hexdigest()}
    return {
        "file_link": f"{origin}/{name}",
        "file_ext": "wav",
        "file_info": {**info, "file_time": round(seconds), "file_ext": "wav"},
        "priority": 1,
    }


def _submit(c: httpx.Client, body: dict[str, Any]) -> str:
    r = c.post("/v3/pic/ecr/batch", json=body, headers=AUTH)
    r.raise_for_status()
    return str(r.json()["data"]["task_id"])


def _obey(c: httpx.Client, task: str) -> tuple[list[tuple[float, str, int]], float, float]:
    """Poll as the doc's client does; the answers, when the client learned it was done, and when
    it was (the task's finished_at on the native API, relative to the first poll)."""
    t0 = time.time()
    seen: list[tuple[float, str, int]] = []
    while True:
        data = c.get(f"/v3/pic/ecr/result/{task}", headers=AUTH).json()["data"]
        seen.append((time.time() - t0, data["status"], int(data["wait_time"])))
        if data["status"] in ("3", "4", "5", "6"):
            learned = time.time() - t0
            break
        time.sleep(int(data["wait_time"]))
    finished = c.get(f"/api/v1/jobs/{task}", headers=AUTH).json()["finished_at"] - t0
    return seen, learned, finished


def _scenario(name: str, run: Callable[[httpx.Client], str]) -> None:
    env = {"HUSH_API_KEYS": APP, "HUSH_WORKERS": "1", "HUSH_URL_ALLOWLIST": "127.0.0.1"}
    with hush_server(env, quiet=True) as (base, _), httpx.Client(base_url=base, timeout=60) as c:
        task = run(c)
        seen, learned, finished = _obey(c, task)
    print(f"\n### {name}\n\n| t (s) | status | wait_time | really left |\n|---|---|---|---|")
    for t, status, wait in seen:
        print(f"| {t:.1f} | {status} | {wait} | {max(finished - t, 0.0):.1f} |")
    print(f"\nready after {finished:.1f} s; a client obeying wait_time learned it after {learned:.1f} s", end="")
    print(f" ({len(seen)} polls)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--long-s", type=float, default=1500.0, help="the watched task's audio (s)")
    ap.add_argument("--short-s", type=float, default=2.0, help="a short task's audio (s)")
    ap.add_argument("--warmup", type=int, default=2, help="short tasks finished before the long one")
    ap.add_argument("--heavy-s", type=float, default=120.0, help="the click-heavy task of scenario 6 (s)")
    ap.add_argument("--only", default="", help="the scenarios to run, by number (1,2,...); all by default")
    args = ap.parse_args()
    if args.long_s > 3000 or args.warmup > 20 or args.heavy_s > 600:
        ap.error("bounded on purpose: at most 3000 s of audio (under the 50 MiB limit), 20 warm-up tasks, 600 s heavy")
    only = {int(n) for n in args.only.split(",")} if args.only else set()
    long_, short, heavy = _wav(args.long_s, 1), _wav(args.short_s, 2), _heavy(args.heavy_s)
    httpd, origin = _origin({"/long.wav": long_, "/short.wav": short, "/heavy.wav": heavy})
    long_body = _body(origin, "long.wav", long_, args.long_s)
    short_body = _body(origin, "short.wav", short, args.short_s)
    heavy_body = _body(origin, "heavy.wav", heavy, args.heavy_s)

    def after_short(c: httpx.Client) -> str:
        for _ in range(args.warmup):
            _obey(c, _submit(c, short_body))
        return _submit(c, long_body)

    def measured(c: httpx.Client) -> str:
        _obey(c, _submit(c, long_body))
        return _submit(c, long_body)

    def behind(c: httpx.Client) -> str:
        running = _submit(c, long_body)
        while c.get(f"/v3/pic/ecr/result/{running}", headers=AUTH).json()["data"]["status"] == "1":
            time.sleep(0.05)
        return _submit(c, short_body)

    def behind_measured(c: httpx.Client) -> str:
        _obey(c, _submit(c, long_body))
        return behind(c)

    def rate_off(c: httpx.Client) -> str:
        _obey(c, _submit(c, heavy_body))
        task = _submit(c, long_body)
        while c.get(f"/api/v1/jobs/{task}", headers=AUTH).json()["progress"] < 1.0:  # reported twice
            time.sleep(0.05)
        return task

    try:
        scenarios = [
            (f"fresh: {args.long_s:g} s task, no task finished before", lambda c: _submit(c, long_body)),
            (f"after short: {args.long_s:g} s task after {args.warmup} x {args.short_s:g} s tasks", after_short),
            (f"measured: {args.long_s:g} s task after one like it", measured),
            (f"behind a running task: {args.short_s:g} s task behind the {args.long_s:g} s one", behind),
            (f"behind, measured: the same after a {args.long_s:g} s task finished", behind_measured),
            (f"rate off: {args.long_s:g} s task after a {args.heavy_s:g} s click-heavy one", rate_off),
        ]
        for i, (name, run) in enumerate(scenarios, 1):
            if not only or i in only:
                _scenario(f"{i}. {name}", run)
    finally:
        httpd.shutdown()


if __name__ == "__main__":
    main()
