"""Load on a real ``hush serve`` from a second process, on loopback only, bounded in count and time.

    python bench/load.py                      # starts its own server (2 workers) in a temp dir
    python bench/load.py --sockets 500 --polls-per-s 50 --seconds 60 --jobs 30

Three phases, each printed as a row:

1. ``--sockets`` status websockets on one long job, all open at once, each reading every update
   until the job ends, while ``--polls-per-s`` status polls hit the same job for ``--seconds``:
   poll latency p50/p99, errors, updates each socket saw, and the server's RSS sampled every
   second (start, peak, end: flat means bounded).
2. ``--jobs`` short jobs submitted at once: all must finish; time to the last.
3. The server still answers ``/readyz`` afterwards.

The server is started here (``python -m app.cli serve``) so its RSS is this server's alone; all
traffic goes to 127.0.0.1. Nothing runs longer than ``--seconds`` plus the job drain limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _serve import hush_server

from tests.signals import make_speech_like, make_white, mix_at_snr

KEY = "load-test-key"
H = {"x-api-key": KEY}


def _rss_mb(pid: int, *, workers: bool = False) -> float:
    """Resident memory of the server process (and, with ``workers``, of its workers), in MB."""
    total = 0
    pids = [pid]
    if workers:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def _wav(seconds: float, sr: int = 16_000, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    clean, _ = make_speech_like(rng, sr, seconds)
    buf = io.BytesIO()
    sf.write(buf, mix_at_snr(clean, make_white(rng, clean.size), 5.0), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


async def _watch(url: str, counts: list[int], errors: list[str]) -> None:
    seen = 0
    try:
        async with websockets.connect(url, additional_headers=H, open_timeout=30, max_size=1 << 20) as ws:
            async for raw in ws:
                seen += 1
                if json.loads(raw)["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
                    break
    except Exception as exc:  # a refused or dropped socket is a result, not a crash of the bench
        errors.append(type(exc).__name__)
    counts.append(seen)


async def _poll(client: httpx.AsyncClient, path: str, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t0 = time.perf_counter()
        try:
            r = await client.get(path, headers=H)
            if r.status_code != 200:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        latencies.append(time.perf_counter() - t0)
        n += 1
    return latencies, errors


async def _sample_rss(pid: int, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    while not stop.is_set():
        out.append((_rss_mb(pid), _rss_mb(pid, workers=True)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=50)) as c:
        # phase 1: one long job, many sockets, steady polls
        up = await c.post("/api/v1/files", files={"file": ("long.wav", _wav(args.long_s))}, headers=H)
        up.raise_for_status()
        job = await c.post(
            "/api/v1/jobs", json={"input": {"file_id": up.json()["file_id"]}, "steps": [{"name": "denoise"}]}, headers=H
        )
        job.raise_for_status()
        job_id = job.json()["id"]
        ws_url = base.replace("http://", "ws://") + f"/api/v1/jobs/{job_id}/ws"
        counts: list[int] = []
        ws_errors: list[str] = []
        rss: list[tuple[float, float]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(pid, stop, rss))
        t0 = time.monotonic()
        watchers = [asyncio.create_task(_watch(ws_url, counts, ws_errors)) for _ in range(args.sockets)]
        latencies, poll_errors = await _poll(c, f"/api/v1/jobs/{job_id}", args.polls_per_s, args.seconds)
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=args.drain_s)
        stop.set()
        await sampler
        lat = np.array(latencies) * 1000
        print("| phase | result |\n|---|---|")
        print(
            f"| {args.sockets} websockets + {args.polls_per_s:g} polls/s for {args.seconds:g} s | "
            f"polls {len(lat)}: p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms, "
            f"{poll_errors} errors; sockets: {args.sockets - len(ws_errors)} ok, {len(ws_errors)} failed "
            f"{sorted(set(ws_errors))}, updates per socket min {min(counts)} / median {int(np.median(counts))}; "
            f"job ended after {time.monotonic() - t0:.0f} s |"
        )
        api, total = [r[0] for r in rss], [r[1] for r in rss]
        print(
            f"| API process RSS | start {api[0]:.0f} MB, peak {max(api):.0f} MB, end {api[-1]:.0f} MB "
            f"({len(api)} samples, one a second) |"
        )
        print(f"| with the workers | start {total[0]:.0f} MB, peak {max(total):.0f} MB, end {total[-1]:.0f} MB |")
        # phase 2: many short jobs at once
        up = await c.post("/api/v1/files", files={"file": ("short.wav", _wav(3.0, seed=2))}, headers=H)
        file_id = up.json()["file_id"]
        t0 = time.monotonic()
        submitted = await asyncio.gather(
            *(
                c.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": [{"name": "denoise"}]}, headers=H)
                for _ in range(args.jobs)
            )
        )
        ids = [r.json()["id"] for r in submitted if r.status_code == 202]
        states: dict[str, str] = {}
        deadline = time.monotonic() + args.drain_s
        while len(states) < len(ids) and time.monotonic() < deadline:
            for i in ids:
                if i not in states:
                    s = (await c.get(f"/api/v1/jobs/{i}", headers=H)).json()["state"]
                    if s in ("succeeded", "failed", "cancelled", "timed_out"):
                        states[i] = s
            await asyncio.sleep(0.2)
        ok = sum(1 for s in states.values() if s == "succeeded")
        print(
            f"| {args.jobs} jobs submitted at once | {len(ids)} accepted, {ok} succeeded, "
            f"{len(ids) - len(states)} unfinished, last done after {time.monotonic() - t0:.1f} s |"
        )
        ready = await c.get("/readyz")
        print(f"| /readyz afterwards | {ready.status_code} {ready.json()['status']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sockets", type=int, default=500)
    ap.add_argument("--polls-per-s", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--long-s", type=float, default=900.0, help="length of the watched job's audio (s)")
    ap.add_argument("--drain-s", type=float, default=300.0, help="longest wait for jobs to end (s)")
    args = ap.parse_args()
    if args.sockets > 2000 or args.polls_per_s > 500 or args.seconds > 600 or args.jobs > 200:
        ap.error("bounded on purpose: at most 2000 sockets, 500 polls/s, 600 s, 200 jobs")
    env = {"HUSH_API_KEYS": KEY, "HUSH_WORKERS": str(args.workers), "HUSH_PROGRESS_INTERVAL_S": "0.2"}
    with hush_server(env) as (base, server):
        asyncio.run(run(args, base, server.pid))


if __name__ == "__main__":
    main()
