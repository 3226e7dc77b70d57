"""The web playground (``/`` and ``/playground``), its static files, and the data it draws.

The page is one static HTML file with vendored browser libraries (``static/vendor``, built by
``web/build.mjs`` from the npm packages pinned in ``web/package-lock.json``); it loads nothing
from another host. It talks only to the public native API, plus two read-only routes that exist
for drawing: the original input of a job, and waveform peaks computed on the server so an hour
of audio draws as fast as ten seconds.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app import media
from app.api.routes import PrincipalDep, errors
from app.errors import ConflictError, NotFoundError
from app.http import ServiceDep, blob_response
from app.jobs.models import Job
from app.jobs.service import JobService

__all__ = ["STATIC_DIR", "compute_peaks", "router"]

router = APIRouter()

STATIC_DIR = Path(__file__).parent / "static"

#: Resolution peaks are first gathered at (buckets per second), before reduction to ``points``.
_BUCKETS_PER_S = 100

_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".txt": "text/plain"}


@router.get("/", include_in_schema=False)
@router.get("/playground", include_in_schema=False)
async def playground() -> HTMLResponse:
    """The playground page."""
    html = await anyio.Path(STATIC_DIR / "playground.html").read_text()
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/static/{path:path}", include_in_schema=False)
async def static_file(path: str) -> FileResponse:
    """A file of the playground or of the offline API docs (never outside ``static/``)."""
    root = STATIC_DIR.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFoundError(f"no static file {path!r}")
    return FileResponse(target, media_type=_TYPES.get(target.suffix), headers={"Cache-Control": "max-age=3600"})


def _input_key(job: Job, service: JobService) -> str:
    if not job.spec.input.blob_key:
        raise ConflictError(
            f"job {job.id} read its input from a URL; the server keeps only uploaded inputs",
            hint="upload the file to compare before and after",
        )
    key = job.spec.input.blob_key
    if not service.blobs.exists(key):
        # (its record is gone either way: deleted by its owner, or past its retention)
        raise NotFoundError(
            f"the input of job {job.id} is no longer kept: it was deleted (DELETE /api/v1/files/...) or its "
            "retention (HUSH_RETENTION_HOURS) ended"
        )
    return key


@router.get("/api/v1/jobs/{job_id}/input", tags=["playground"], response_class=FileResponse, responses=errors(404, 409))
async def get_input(job_id: str, request: Request, service: ServiceDep, who: PrincipalDep) -> Response:
    """The job's original upload, to play and compare with the result (409 for URL inputs)."""
    job = await service.get(job_id, owner=who.owner)
    key = await anyio.to_thread.run_sync(_input_key, job, service)
    stored = await anyio.to_thread.run_sync(service.store.get_file, PurePosixPath(key).name)
    if stored is not None and stored.info.get("container"):  # probed at upload: no need to read it again
        mime = media.mime_type(str(stored.info["container"]), video=bool(stored.info.get("has_video")))
    else:
        async with service.blob_file(key) as path:
            mime = (await anyio.to_thread.run_sync(media.probe, path)).mime
    return await blob_response(service, key, media_type=mime, request=request)


@router.get("/api/v1/jobs/{job_id}/peaks", tags=["playground"], responses=errors(400, 404, 409))
async def get_peaks(
    job_id: str,
    service: ServiceDep,
    who: PrincipalDep,
    source: Literal["input", "result"] = "result",
    points: Annotated[int, Query(ge=16, le=20000)] = 2000,
) -> dict[str, Any]:
    """Waveform peaks of the job's input or result: ``points`` (max, min) pairs over the whole file.

    ``peaks`` is one list of alternating maxima and minima (the mono mix), the form waveform
    drawers take, so the browser never decodes a long file to draw it.
    """
    job = await service.get(job_id, owner=who.owner)
    pcm_rate = None
    if source == "input":
        key = await anyio.to_thread.run_sync(_input_key, job, service)
        pcm_rate = job.spec.input.pcm_sample_rate  # headerless PCM16 is read at the rate the job was given
    else:
        key = service.result_key(job)
    async with service.blob_file(key) as path:
        return await anyio.to_thread.run_sync(compute_peaks, path, points, pcm_rate)


def compute_peaks(path: Path, points: int, pcm_sample_rate: int | None = None) -> dict[str, Any]:
    """Decode ``path`` block by block and reduce it to ``points`` (max, min) pairs of the mono mix
    (``pcm_sample_rate``: the rate of a headerless PCM16 file, which says none itself)."""
    info = media.probe(path, pcm_sample_rate=pcm_sample_rate)
    bucket = max(1, info.sr // _BUCKETS_PER_S)
    highs: list[np.ndarray] = []
    lows: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    frames = 0
    for block in media.decode_blocks(path, info, bucket * _BUCKETS_PER_S * 5):
        mono = block.mean(axis=0)
        frames += mono.shape[0]
        data = np.concatenate([carry, mono])
        whole = data.shape[0] // bucket * bucket
        if whole:
            shaped = data[:whole].reshape(-1, bucket)
            highs.append(shaped.max(axis=1))
            lows.append(shaped.min(axis=1))
        carry = data[whole:]
    if carry.shape[0]:
        highs.append(np.array([carry.max()], dtype=np.float32))
        lows.append(np.array([carry.min()], dtype=np.float32))
    hi = np.concatenate(highs) if highs else np.zeros(1, dtype=np.float32)
    lo = np.concatenate(lows) if lows else np.zeros(1, dtype=np.float32)
    n = min(points, hi.shape[0])
    edges = np.linspace(0, hi.shape[0], n + 1).astype(int)
    peaks = np.empty(2 * n, dtype=np.float32)
    peaks[0::2] = np.maximum.reduceat(hi, edges[:-1])
    peaks[1::2] = np.minimum.reduceat(lo, edges[:-1])
    return {
        "duration_s": frames / info.sr,
        "sample_rate": info.sr,
        "channels": info.channels,
        "points": n,
        "peaks": [round(float(v), 4) for v in peaks],
    }
