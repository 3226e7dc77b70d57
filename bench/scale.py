"""Throughput and per-job overhead of the embedded server and of the cluster, on this machine.

    python bench/scale.py [--jobs 16] [--seconds 30] [--overhead-jobs 20]

For each backend (embedded: ``hush serve`` with its own worker processes; cluster: ``hush serve``
on PostgreSQL, SeaweedFS S3, Redis pub/sub, with separate ``hush worker`` Celery workers) and
for 1 and 2 workers:

- throughput: ``--jobs`` jobs of ``--seconds`` of noisy speech (denoise + loudness) submitted at
  once; audio minutes processed per wall-clock minute, from the first submit to the last finish;
- overhead: ``--overhead-jobs`` jobs of 1 s of audio with no steps, one after the other, each
  timed from its submit to its terminal state seen by polling (median and p90, in ms).

Every server and worker runs here on 127.0.0.1 (PostgreSQL and Redis as .ci/run starts them,
SeaweedFS started by this script); the ratios printed (cluster / embedded, 2 workers / 1) are
what to read, as absolute numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._hush import HushProcess, WorkerProcess
from tests._services import REDIS_URL, new_pg_schema, run_seaweedfs
from tests.signals import make_speech_like, make_white, mix_at_snr

KEY = "scale-bench-key"
H = {"x-api-key": KEY}
SR = 16_000


def _wav(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@contextlib.contextmanager
def _backend(kind: str, workers: int, root: Path, s3: Any) -> Iterator[HushProcess]:
    common = {"api_keys": KEY, "block_seconds": "2", "progress_interval_s": "0.5"}
    with contextlib.ExitStack() as stack:
        if kind == "embedded":
            yield stack.enter_context(HushProcess(root / "embedded", workers=workers, **common))
            return
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        url, schema = stack.enter_context(new_pg_schema())
        settings = {
            **common,
            "backend": "cluster",
            "database_url": url,
            "database_schema": schema,
            "redis_url": REDIS_URL,
            **s3.settings(f"bench-{schema.replace('_', '-')}"),
        }
        api = stack.enter_context(HushProcess(root / "cluster", workers=1, **settings))
        env = {**os.environ, **{f"HUSH_{k.upper()}": str(v) for k, v in settings.items()}}
        for i in range(workers):
            w = WorkerProcess(root / f"celery-{i}", env, name=str(i))
            stack.callback(w.stop)
            w.start()
        yield api


def _wait(c: httpx.Client, job_id: str, timeout_s: float, poll_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = c.get(f"/api/v1/jobs/{job_id}", headers=H).json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            if job["state"] != "succeeded":
                raise RuntimeError(f"job {job_id} ended {job['state']}: {job}")
            return dict(job)
        time.sleep(poll_s)
    raise TimeoutError(f"job {job_id} did not finish in {timeout_s} s")


def _submit(c: httpx.Client, file_id: str, steps: list[dict[str, Any]]) -> str:
    r = c.post("/api/v1/jobs", json={"input": {"file_id": file_id}, "steps": steps}, headers=H)
    r.raise_for_status()
    return str(r.json()["id"])


def _upload(c: httpx.Client, data: bytes) -> str:
    r = c.post("/api/v1/files", files={"file": ("in.wav", data)}, headers=H)
    r.raise_for_status()
    return str(r.json()["file_id"])


def measure(server: HushProcess, long_wav: bytes, seconds: float, jobs: int, overhead_jobs: int) -> dict[str, float]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        tiny = _upload(c, _wav(make_white(np.random.default_rng(1), SR, -30.0)))
        _wait(c, _submit(c, tiny, []), 60, 0.01)  # warm: imports in the workers, connections
        lat = []
        for _ in range(overhead_jobs):
            t0 = time.perf_counter()
            _wait(c, _submit(c, tiny, []), 60, 0.005)
            lat.append(time.perf_counter() - t0)
        file_id = _upload(c, long_wav)
        steps = [{"name": "denoise"}, {"name": "loudness"}]
        t0 = time.perf_counter()
        ids = [_submit(c, file_id, steps) for _ in range(jobs)]
        for job_id in ids:
            _wait(c, job_id, 1200, 0.1)
        wall = time.perf_counter() - t0
    lat.sort()
    return {
        "throughput": jobs * seconds / wall,  # audio minutes per wall minute
        "wall_s": wall,
        "overhead_p50_ms": 1000 * statistics.median(lat),
        "overhead_p90_ms": 1000 * lat[int(0.9 * (len(lat) - 1))],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--overhead-jobs", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(20261204)
    speech, _ = make_speech_like(rng, SR, args.seconds)
    long_wav = _wav(mix_at_snr(speech, make_white(rng, speech.shape[-1], -30.0), 10.0))
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hush-scale-") as tmp, run_seaweedfs(Path(tmp) / "s3") as s3:
        for kind in ("embedded", "cluster"):
            for workers in (1, 2):
                root = Path(tmp) / f"{kind}-{workers}"
                with _backend(kind, workers, root, s3) as server:
                    results[kind, workers] = measure(server, long_wav, args.seconds, args.jobs, args.overhead_jobs)
                r = results[kind, workers]
                print(
                    f"{kind:9s} {workers} worker(s): {r['throughput']:6.1f} audio min / wall min "
                    f"({args.jobs} x {args.seconds:g} s in {r['wall_s']:.1f} s); per-job overhead "
                    f"p50 {r['overhead_p50_ms']:.0f} ms, p90 {r['overhead_p90_ms']:.0f} ms",
                    flush=True,
                )
    print()
    for kind in ("embedded", "cluster"):
        ratio = results[kind, 2]["throughput"] / results[kind, 1]["throughput"]
        print(f"{kind}: 2 workers / 1 worker throughput = {ratio:.2f}")
    for workers in (1, 2):
        e, c = results["embedded", workers], results["cluster", workers]
        print(
            f"{workers} worker(s): cluster / embedded throughput = {c['throughput'] / e['throughput']:.2f}; "
            f"overhead p50 cluster - embedded = {c['overhead_p50_ms'] - e['overhead_p50_ms']:+.0f} ms"
        )


if __name__ == "__main__":
    main()
