"""The S3 blob store (boto3): the cluster's BlobStore, for AWS S3 or any S3-compatible server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from app.errors import NotFoundError, StorageUnavailableError
from app.storage import CHUNK, check_key

__all__ = ["S3BlobStore"]

_GONE_HINT = "results are deleted after the retention period"


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps: boto3's transfer errors wrap the cause) says the S3
    server did not answer or failed on its side (a connection error, a timeout, a 5xx)."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BotoConnectionError | HTTPClientError):
            return True
        if isinstance(seen, ClientError):
            return int(seen.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) >= 500
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def _answering(what: str) -> Iterator[None]:
    """Turn an S3 server that does not answer into StorageUnavailableError (a retry, or a 503)."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, NotFoundError) and _unreachable(exc):
            raise StorageUnavailableError(
                f"the blob store (S3) did not answer while {what}: {type(exc).__name__}",
                hint="nothing was stored; try again shortly (HUSH_S3_ENDPOINT names the store)",
            ) from exc
        raise


class S3BlobStore:
    """Blobs as objects under ``prefix`` in one S3 bucket (AWS, SeaweedFS, MinIO, Ceph ...).

    Uploads are single objects (multipart past 8 MiB, done by boto3's transfer manager), so a
    reader sees an object whole or not at all, as with the local store. ``url_for`` presigns a
    GET, with the download name and type as response headers.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )
        if create_bucket and not self._bucket_exists():
            self._client.create_bucket(Bucket=bucket)

    def _bucket_exists(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    def ping(self) -> None:
        """Raise unless the bucket answers with these credentials (LookupError: there is no such bucket)."""
        if not self._bucket_exists():
            raise LookupError(
                f"the bucket {self.bucket!r} does not exist (a `hush serve` creates it as it starts; servers and "
                "workers must name the same HUSH_S3_BUCKET)"
            )

    def _key(self, key: str) -> str:
        return self.prefix + str(check_key(key))

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        return code in ("404", "NoSuchKey", "NotFound")

    def put_file(self, key: str, src: Path) -> int:
        size = src.stat().st_size
        with _answering("storing a file"):
            self._client.upload_file(str(src), self.bucket, self._key(key))
        src.unlink(missing_ok=True)  # "moved", as the local store does
        return size

    def write(self, key: str, stream: BinaryIO) -> int:
        counted = _Counting(stream)
        with _answering("storing a file"):
            self._client.upload_fileobj(counted, self.bucket, self._key(key))
        return counted.n

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        from botocore.exceptions import ClientError

        # from an offset, S3 sends only the rest (a ranged GET): the part before it is not read
        ranged = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        try:
            with _answering("reading a file"):
                body = self._client.get_object(Bucket=self.bucket, Key=self._key(key), **ranged)["Body"]
        except ClientError as exc:
            if self._missing(exc):
                raise NotFoundError(f"no stored file {key!r}", hint=_GONE_HINT) from None
            raise
        return body  # type: ignore[no-any-return]  # botocore's StreamingBody: read(n), close()

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            with _answering("looking a file up"):
                head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                raise NotFoundError(f"no stored file {key!r}", hint=_GONE_HINT) from None
            raise
        return int(head["ContentLength"])

    def url_for(self, key: str, *, expires_s: int, filename: str | None = None, media_type: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            from urllib.parse import quote

            params["ResponseContentDisposition"] = f"attachment; filename*=utf-8''{quote(filename)}"
        if media_type:
            params["ResponseContentType"] = media_type
        return str(self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s))

    def readable_path(self, key: str, scratch: Path) -> Path:
        dest = scratch / f"blob-{uuid.uuid4().hex}"
        with _answering("reading a file"), self.open(key) as body, dest.open("wb") as out:
            shutil.copyfileobj(body, out, CHUNK)
        return dest

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> None:
        full = self._key(prefix)
        keys = [full]  # the object itself (an upload), and everything under it as a folder (results)
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full + "/"):
            keys.extend(o["Key"] for o in page.get("Contents", ()))
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            answer = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            # S3 answers 200 and lists the objects it would not delete (AccessDenied without
            # s3:DeleteObject, an object lock): a delete the store refused must not be taken for
            # done (a DELETE answered "gone" and dropped its row, the object kept for ever)
            refused = [err for err in answer.get("Errors", ()) if err.get("Code") != "NoSuchKey"]
            if refused:
                first = refused[0]
                raise StorageUnavailableError(
                    f"the blob store (S3) refused to delete {len(refused)} object(s): "
                    f"{first.get('Code')}: {first.get('Message')}",
                    hint="they are kept; the store's credentials need s3:DeleteObject on the bucket",
                )


class _Counting:
    """A read-only stream wrapper that counts the bytes read through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.n += len(data)
        return data
