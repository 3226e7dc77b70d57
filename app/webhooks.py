"""Webhook delivery: signed JSON POSTs through :mod:`app.fetch`, retried with backoff.

Public API::

    async deliver(url, payload, settings, *, job_id, on_attempt=None) -> WebhookResult
    sign(secret, timestamp, body) -> str                     # "sha256=<hex>"
    verify_signature(secret, timestamp, body, header, *, max_age_s=None, now=None) -> bool

Retry policy: network errors, timeouts, 5xx, 408, 425 and 429 are retried up to
``settings.webhook_max_attempts`` attempts in all, waiting ``webhook_backoff_s`` and doubling
after each failure (capped at :data:`MAX_BACKOFF_S`). A ``Retry-After`` on such an answer (delay
seconds or an HTTP date, RFC 9110 sec. 10.2.3) lengthens that wait to what the receiver asked
for, up to :data:`MAX_BACKOFF_S`; it never shortens it. Other answers (2xx success; 3xx and
other 4xx failure) and refused URLs (``URLRefusedError``) end delivery at once.

Every request carries ``X-Hush-Job-Id``. With ``settings.webhook_secret`` set it also carries
``X-Hush-Timestamp: <unix seconds>`` and ``X-Hush-Signature: sha256=<hex>``, the HMAC-SHA256 of
``f"{timestamp}.".encode() + body`` under the secret, where ``body`` is the exact bytes sent.
Each attempt is signed afresh, so its timestamp is the time it was sent.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import SecretStr

from app import fetch
from app.errors import FetchError, URLRefusedError
from app.settings import Settings

__all__ = [
    "MAX_BACKOFF_S",
    "WebhookAttempt",
    "WebhookResult",
    "deliver",
    "sign",
    "verify_signature",
]

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0
"""Longest wait between two attempts, however many attempts came before."""

SIGNATURE_HEADER = "X-Hush-Signature"
TIMESTAMP_HEADER = "X-Hush-Timestamp"
JOB_ID_HEADER = "X-Hush-Job-Id"


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One POST: its number (from 1), the status or the error, and the wait before the next one."""

    job_id: str
    attempt: int
    status: int | None
    error: str | None
    next_delay_s: float | None
    """Seconds until the next attempt, or ``None`` when this attempt was the last."""
    sent_at: float
    """Unix time the attempt started."""
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """How delivery ended: ``delivered`` on a 2xx; otherwise the last status or error."""

    delivered: bool
    attempts: tuple[WebhookAttempt, ...]
    status: int | None
    error: str | None
    error_code: str | None
    """The ``AppError.code`` of the last error (``"fetch.refused"``, ``"fetch.failed"``) or ``None``."""


def _secret_bytes(secret: str | bytes | SecretStr) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes | SecretStr, timestamp: int | str, body: bytes) -> str:
    """The ``X-Hush-Signature`` value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    message = f"{timestamp}.".encode("ascii") + body
    return "sha256=" + hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes | SecretStr,
    timestamp: int | str,
    body: bytes | str,
    header: str,
    *,
    max_age_s: float | None = None,
    now: float | None = None,
) -> bool:
    """True when ``header`` is the signature of ``body`` at ``timestamp`` (constant-time compare).

    With ``max_age_s``, a timestamp further than that from ``now`` (default: the clock) is
    rejected too, which stops replays of old deliveries.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        stamp = int(str(timestamp).strip())
    except ValueError:
        return False
    if max_age_s is not None and abs((time.time() if now is None else now) - stamp) > max_age_s:
        return False
    expected = sign(secret, str(timestamp).strip(), raw)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8", "replace"))


def _retryable(status: int) -> bool:
    return status >= 500 or status in fetch.TRANSIENT_STATUSES


#: ``Retry-After`` as delay-seconds: ASCII digits (str.isdigit took "²", which float() refuses).
_DELAY_SECONDS = re.compile(r"[0-9]{1,12}", re.ASCII)


def _retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks for (RFC 9110 sec. 10.2.3), ``None`` if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, OverflowError, OSError):  # (a year 10**20, "²": not a delay)
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _delay(settings: Settings, attempt: int) -> float:
    """Wait after failed attempt number ``attempt`` (1-based): base, 2·base, 4·base … capped."""
    return float(min(settings.webhook_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))


async def deliver(
    url: str,
    payload: Mapping[str, Any],
    settings: Settings,
    *,
    job_id: str,
    on_attempt: Callable[[WebhookAttempt], Awaitable[None] | None] | None = None,
    resolver: fetch.Resolver = fetch.system_resolver,
    wait: Callable[[float], Awaitable[None]] = anyio.sleep,
    first_attempt: int = 1,
    first_wait_s: float = 0.0,
) -> WebhookResult:
    """POST ``payload`` as JSON to ``url``, retrying transient failures; never raises on failure.

    ``wait`` sleeps the backoff between attempts (mock mode's ends early for a job a test advanced).
    A delivery a stopped server left half done resumes where it was: ``first_attempt`` is the
    attempt's number (the attempts before it count towards ``HUSH_WEBHOOK_MAX_ATTEMPTS``), sent
    after ``first_wait_s``, what was left of the wait the last attempt set (its backoff, or the
    receiver's ``Retry-After``)."""
    body = fetch.encode_json(payload)
    if first_wait_s > 0:
        await wait(first_wait_s)
    attempts: list[WebhookAttempt] = []
    status: int | None = None
    error: str | None = None
    error_code: str | None = None
    for number in range(max(first_attempt, 1), settings.webhook_max_attempts + 1):
        headers = {JOB_ID_HEADER: job_id}
        if settings.webhook_secret is not None:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = sign(settings.webhook_secret, stamp, body)
        sent_at = time.time()
        started = time.monotonic()
        status = error = error_code = None
        retry = False
        asked_s: float | None = None
        try:
            answer = await fetch.post_answer(url, body, settings, headers=headers, resolver=resolver)
            status = answer.status
            retry = _retryable(status)
            asked_s = _retry_after_s(answer.retry_after, time.time()) if retry else None
        except URLRefusedError as exc:
            error, error_code = exc.message, exc.code
        except FetchError as exc:
            error, error_code = exc.message, exc.code
            retry = True
        last = not retry or number == settings.webhook_max_attempts
        delay = None if last else _delay(settings, number)
        if delay is not None and asked_s is not None:
            delay = max(delay, min(asked_s, MAX_BACKOFF_S))
        record = WebhookAttempt(
            job_id=job_id,
            attempt=number,
            status=status,
            error=error,
            next_delay_s=delay,
            sent_at=sent_at,
            elapsed_s=time.monotonic() - started,
        )
        attempts.append(record)
        level = logging.INFO if status is not None and 200 <= status < 300 else logging.WARNING
        logger.log(
            level,
            "webhook job_id=%s attempt=%d/%d status=%s error=%s next_delay_s=%s",
            job_id,
            number,
            settings.webhook_max_attempts,
            status,
            error,
            delay,
        )
        if on_attempt is not None:
            pending = on_attempt(record)
            if pending is not None:  # an async recorder (a store write in a thread) is awaited
                await pending
        if delay is None:
            break
        await wait(delay)
    delivered = status is not None and 200 <= status < 300
    return WebhookResult(
        delivered=delivered,
        attempts=tuple(attempts),
        status=status,
        error=error,
        error_code=error_code,
    )
