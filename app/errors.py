"""Domain errors. Code raises these; only the HTTP edge turns them into responses.

Tree (each class has a stable ``code``)::

    AppError                         "error"
    ├── InputError                   "input.invalid"        the request or its media is unusable
    │   ├── InvalidParameterError    "input.parameter"      a field is missing or out of range
    │   ├── EmptyInputError          "input.empty"
    │   ├── UnsupportedMediaError    "input.unsupported"    not audio/video we can decode
    │   ├── CorruptMediaError        "input.corrupt"        truncated or damaged media
    │   └── InputTooLargeError       "input.too_large"
    ├── FetchError                   "fetch.failed"         a URL could not be fetched
    │   └── URLRefusedError          "fetch.refused"        scheme or address not allowed (SSRF guard)
    ├── AuthError                    "auth.invalid"         missing or wrong credentials
    │   ├── KeyDisabledError         "auth.disabled"        the key exists but was disabled
    │   └── KeyNotActivatedError     "auth.not_activated"   the key exists but is not active yet
    ├── InsufficientCreditsError     "credits.insufficient" the key's minutes are used up
    ├── NotFoundError                "not_found"
    ├── MethodNotAllowedError        "method_not_allowed"   the path takes other HTTP methods (405)
    ├── ConflictError                "conflict"             e.g. the result is not ready yet
    ├── RateLimitedError             "rate_limited"         carries ``retry_after_s``
    │   └── ConcurrencyLimitError    "rate_limited.concurrency"  too many jobs of the key at once
    ├── EngineUnavailableError       "engine.unavailable"   the requested processing is not built yet
    ├── ProcessingError              "processing.failed"    the engine failed on valid input
    │   └── JobTimeoutError          "processing.timeout"
    ├── StorageFullError             "storage.full"         the server's disk (or database) is full
    ├── QueueUnavailableError        "queue.unavailable"    the cluster's broker does not answer (503)
    │   ├── ServerStoppingError      "server.stopping"      the server stops before the answer (503)
    │   └── DatabaseUnavailableError "database.unavailable" the cluster's PostgreSQL takes no connection (503)
    └── RetryableError               "retryable"            transient; the job is run again
        ├── InputFetchRetryError     "fetch.failed"         the input's download timed out or got a 5xx
        └── StorageUnavailableError  "storage.unavailable"  the blob store (S3) does not answer
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AppError",
    "AuthError",
    "ConcurrencyLimitError",
    "ConflictError",
    "CorruptMediaError",
    "DatabaseUnavailableError",
    "EmptyInputError",
    "EngineUnavailableError",
    "FetchError",
    "InputError",
    "InputTooLargeError",
    "InsufficientCreditsError",
    "InvalidParameterError",
    "JobTimeoutError",
    "KeyDisabledError",
    "KeyNotActivatedError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ProcessingError",
    "RateLimitedError",
    "RetryableError",
    "ServerStoppingError",
    "StorageFullError",
    "StorageUnavailableError",
    "URLRefusedError",
    "UnsupportedMediaError",
]


class AppError(Exception):
    """Root of Hush's domain errors. ``message`` is for humans and says what to change."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(AppError):
    """The request or its media cannot be processed as sent."""

    code = "input.invalid"


class InvalidParameterError(InputError):
    """A request field is missing, malformed or out of range."""

    code = "input.parameter"


class EmptyInputError(InputError):
    """The input has no bytes or no audio samples."""

    code = "input.empty"


class UnsupportedMediaError(InputError):
    """The bytes are not a media format Hush decodes."""

    code = "input.unsupported"


class CorruptMediaError(InputError):
    """The media is truncated or damaged."""

    code = "input.corrupt"


class InputTooLargeError(InputError):
    """The input is larger than ``HUSH_MAX_INPUT_MB``."""

    code = "input.too_large"


class FetchError(AppError):
    """A URL could not be fetched (network error, bad status, timeout).

    ``transient`` is True when trying again later may succeed: a network error or timeout, or
    an answer of 408, 425, 429 or 5xx. A job whose input fetch fails that way is run again.
    """

    code = "fetch.failed"

    def __init__(
        self, message: str, *, hint: str | None = None, transient: bool = False, status: int | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient
        #: The HTTP status the server answered, when it answered (None: no answer, a refused URL).
        self.status = status


class URLRefusedError(FetchError):
    """The URL's scheme or address is not allowed (private, loopback, metadata ...)."""

    code = "fetch.refused"


class AuthError(AppError):
    """Credentials are missing or wrong. ``challenge`` is the ``WWW-Authenticate`` value, if any."""

    code = "auth.invalid"

    def __init__(self, message: str, *, hint: str | None = None, challenge: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.challenge = challenge


class NotFoundError(AppError):
    """No such job, file or route."""

    code = "not_found"


class MethodNotAllowedError(AppError):
    """The path exists, but not with this HTTP method (answered 405 with ``Allow``)."""

    code = "method_not_allowed"


class ConflictError(AppError):
    """The resource is not in a state that allows the request."""

    code = "conflict"


class KeyDisabledError(AuthError):
    """The API key is known but disabled by the operator."""

    code = "auth.disabled"


class KeyNotActivatedError(AuthError):
    """The API key is known but has not been activated yet."""

    code = "auth.not_activated"


class InsufficientCreditsError(AppError):
    """The key has fewer credit minutes left than the job needs."""

    code = "credits.insufficient"


class RateLimitedError(AppError):
    """Too many requests; try again after ``retry_after_s`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class ConcurrencyLimitError(RateLimitedError):
    """The key already has as many jobs waiting or running as it may."""

    code = "rate_limited.concurrency"


class EngineUnavailableError(AppError):
    """The processing asked for is not available in this build."""

    code = "engine.unavailable"


class ProcessingError(AppError):
    """The engine failed on input that looked valid."""

    code = "processing.failed"


class JobTimeoutError(ProcessingError):
    """The job ran past ``HUSH_JOB_TIMEOUT_S``."""

    code = "processing.timeout"


class RetryableError(AppError):
    """A transient failure; the job runs again (up to ``HUSH_MAX_ATTEMPTS``)."""

    code = "retryable"


class InputFetchRetryError(RetryableError):
    """The input's download failed in a way that may pass (a timeout, a 5xx): the job runs again,
    and fails with ``fetch.failed`` once out of attempts (a terminal ``retryable`` told clients
    that branch on the code to submit again)."""

    code = "fetch.failed"


class StorageUnavailableError(RetryableError):
    """The blob store (the cluster's S3) cannot be reached for now: a job runs again later, a
    request is answered 503 (nothing was stored)."""

    code = "storage.unavailable"


class QueueUnavailableError(AppError):
    """The job queue (the cluster's broker) cannot be reached: nothing was accepted; try again."""

    code = "queue.unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class ServerStoppingError(QueueUnavailableError):
    """The server stops (a restart, a deploy) before a synchronous answer is ready: the job was
    cancelled, not charged; the same request, sent again, runs anew."""

    code = "server.stopping"


class DatabaseUnavailableError(QueueUnavailableError):
    """The job store (the cluster's PostgreSQL) takes no connection now (down, or out of
    connections): nothing was done; try again shortly (a 503 with ``Retry-After``, not a 500)."""

    code = "database.unavailable"


class StorageFullError(AppError):
    """The server ran out of disk space (or database space) while storing something."""

    code = "storage.full"


#: ``errno`` values that mean "no space left": ENOSPC and EDQUOT (a quota).
_NO_SPACE_ERRNOS = frozenset({28, 122})


def storage_full(exc: BaseException, *, job: bool = False) -> StorageFullError | None:
    """The StorageFullError ``exc`` amounts to (a full disk or database), or None.

    A full disk surfaces as ``OSError(ENOSPC)`` from file writes and as SQLite's "database or
    disk is full"; both become one clear error instead of an internal one. ``job``: the failure
    of a job that ran (:func:`disk_full`).
    """
    full = (isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS) or "disk is full" in str(exc)
    return disk_full(job=job) if full else None


def disk_full(*, job: bool = False) -> StorageFullError:
    """The one error a full disk (or database) is answered with: to a request, which stored
    nothing, or (``job``) as the reason of a job that failed (it must be submitted again)."""
    if job:
        return StorageFullError(
            "the server's disk filled up while this job ran, so its result could not be stored",
            hint="submit the job again once the operator has freed space in HUSH_DATA_DIR; its input is kept",
        )
    return StorageFullError(
        "the server's disk is full, so nothing could be stored; nothing was lost",
        hint="try again later; the operator must free space in HUSH_DATA_DIR",
    )
