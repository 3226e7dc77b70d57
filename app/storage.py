"""The BlobStore seam, its embedded local-directory implementation and its S3 implementation.

Keys are relative POSIX paths (``uploads/<id>``, ``results/<job>/<name>.wav``). Writes are atomic:
a blob appears complete or not at all, so a re-run job simply overwrites its result.

Readers never see where a blob lives: they :meth:`~BlobStore.open` it as a stream, ask for a
link a client can fetch directly (:meth:`~BlobStore.url_for`, ``None`` when the store has none),
or ask for a local file to decode (:meth:`~BlobStore.readable_path`, a copy in a scratch folder
when the blob is remote).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from app.errors import NotFoundError

__all__ = ["BlobStore", "LocalBlobStore", "check_key"]

_GONE_HINT = "results are deleted after the retention period"
#: Free space under which the disk counts as full (readiness; a failed write with no errno).
MIN_FREE_BYTES = 1 << 20
#: Bytes per read or write when a blob is copied as a stream.
CHUNK = 1 << 20


class BlobStore(Protocol):
    """Where inputs and results live."""

    def put_file(self, key: str, src: Path) -> int:
        """Store the file at ``src`` under ``key`` (moved when possible); returns its size."""
        ...

    def write(self, key: str, stream: BinaryIO) -> int:
        """Store everything ``stream`` yields under ``key``; returns the size."""
        ...

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """A binary stream of the blob from byte ``offset`` (the caller closes it); NotFoundError when missing."""
        ...

    def size(self, key: str) -> int:
        """The blob's size in bytes; NotFoundError when missing."""
        ...

    def url_for(
        self, key: str, *, expires_s: int, filename: str | None = None, media_type: str | None = None
    ) -> str | None:
        """A link a client can GET the blob from for ``expires_s`` seconds, or None (serve it instead)."""
        ...

    def readable_path(self, key: str, scratch: Path) -> Path:
        """A local file holding the blob, valid while ``scratch`` (a folder the caller owns) exists."""
        ...

    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def ping(self) -> None:
        """Raise unless the store can be used now (``/readyz``, and a worker before it starts)."""
        ...


def check_key(key: str) -> PurePosixPath:
    """The key as a path; NotFoundError for an absolute key or one with ``..`` or empty parts."""
    parts = PurePosixPath(key).parts
    if not parts or any(p in ("..", "") or p.startswith("/") for p in parts):
        raise NotFoundError(f"invalid blob key {key!r}")
    return PurePosixPath(*parts)


class LocalBlobStore:
    """Blobs as files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def ping(self) -> None:
        """Raise OSError unless the folder is there, writable, and its disk has room (1 MiB)."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"the blob folder {self.root} is missing or not writable")
        free = shutil.disk_usage(self.root).free
        if free < MIN_FREE_BYTES:  # every upload is answered 507 meanwhile
            raise OSError(f"the disk under {self.root} is full ({free} bytes free)")

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

    def write(self, key: str, stream: BinaryIO) -> int:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with tmp.open("wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest.stat().st_size

    def _existing(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError(f"no stored file {key!r}", hint=_GONE_HINT)
        return path

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            f = self._existing(key).open("rb")
        except FileNotFoundError:  # deleted between the check and the open
            raise NotFoundError(f"no stored file {key!r}", hint=_GONE_HINT) from None
        f.seek(offset)
        return f

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def url_for(self, key: str, *, expires_s: int, filename: str | None = None, media_type: str | None = None) -> None:
        return None  # files on this machine's disk: the server streams them

    def readable_path(self, key: str, scratch: Path) -> Path:
        return self._existing(key)  # already a local file: no copy

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
