"""The BlobStore seam and its embedded local-directory implementation.

Keys are relative POSIX paths (``uploads/<id>``, ``results/<job>/<name>.wav``). Writes are atomic:
a blob appears complete or not at all, so a re-run job simply overwrites its result.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Protocol

from app.errors import NotFoundError

__all__ = ["BlobStore", "LocalBlobStore"]


class BlobStore(Protocol):
    """Where inputs and results live."""

    def put_file(self, key: str, src: Path) -> int:
        """Store the file at ``src`` under ``key`` (moved when possible); returns its size."""
        ...

    def local_path(self, key: str) -> Path:
        """A local path to read the blob from; raises NotFoundError when missing."""
        ...

    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> None: ...


class LocalBlobStore:
    """Blobs as files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or any(p in ("..", "") or p.startswith("/") for p in parts):
            raise NotFoundError(f"invalid blob key {key!r}")
        return self.root.joinpath(*parts)

    def put_file(self, key: str, src: Path) -> int:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                shutil.move(str(src), tmp)
            except OSError:
                shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:  # a full disk or a failed copy leaves no half-written blob behind
            tmp.unlink(missing_ok=True)
        return dest.stat().st_size

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"no stored file {key!r}", hint="results are deleted after the retention period")
        return path

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except NotFoundError:
            return False

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink(missing_ok=True)
