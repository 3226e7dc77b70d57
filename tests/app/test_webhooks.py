"""app.webhooks: retries with backoff, final answers, signatures, attempt reporting."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr

from app import fetch, webhooks
from app.settings import Settings
from tests.app._http_fixtures import RecordedRequest, Reply, replies_in_order, serve_http

PAYLOAD = {"job_id": "job-1", "status": "done", "note": "héllo"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "url_allowlist": ("127.0.0.1",),
        "fetch_timeout_s": 2,
        "webhook_backoff_s": 0.02,
        "webhook_max_attempts": 6,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def recorded_waits() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    """A ``wait`` for :func:`webhooks.deliver` that returns at once and records each wait asked for."""
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    return waits, no_wait


@pytest.mark.anyio
async def test_deliver_retries_5xx_then_succeeds_with_backoff() -> None:
    attempts: list[webhooks.WebhookAttempt] = []
    route = replies_in_order(Reply(status=500), Reply(status=503), Reply(status=200))
    with serve_http({"POST /hook": route}) as server:
        result = await webhooks.deliver(
            server.url("/hook"), PAYLOAD, make_settings(), job_id="job-1", on_attempt=attempts.append
        )
    assert result.delivered
    assert result.status == 200
    assert [a.status for a in result.attempts] == [500, 503, 200]
    assert attempts == list(result.attempts)
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert [a.next_delay_s for a in attempts] == [0.02, 0.04, None]
    gaps = [later.received_at - earlier.received_at for earlier, later in itertools.pairwise(server.requests)]
    assert gaps[0] >= 0.02
    assert gaps[1] >= 0.04
    assert {r.body for r in server.requests} == {fetch.encode_json(PAYLOAD)}


@pytest.mark.anyio
async def test_deliver_retries_429_and_network_errors() -> None:
    route = replies_in_order(Reply(status=429), Reply(hang=True), Reply(status=204))
    settings = make_settings(fetch_timeout_s=0.3)
    with serve_http({"/hook": route}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, settings, job_id="job-2")
    assert result.delivered
    assert [(a.status, a.error is not None) for a in result.attempts] == [(429, False), (None, True), (204, False)]
    assert "timed out" in (result.attempts[1].error or "")


@pytest.mark.anyio
async def test_deliver_gives_up_after_max_attempts(caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(webhook_max_attempts=5, webhook_backoff_s=0.001)
    with serve_http({"/hook": Reply(status=502)}) as server, caplog.at_level(logging.INFO, "app.webhooks"):
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, settings, job_id="job-3")
    assert not result.delivered
    assert result.status == 502
    assert len(result.attempts) == len(server.requests) == 5
    assert result.attempts[-1].next_delay_s is None
    logged = [r.getMessage() for r in caplog.records if r.name == "app.webhooks"]
    assert len(logged) == 5
    assert all("job_id=job-3" in line and "status=502" in line for line in logged)
    assert "attempt=5/5" in logged[-1]


def test_backoff_doubles_and_is_capped() -> None:
    settings = make_settings(webhook_backoff_s=1.0)
    delays = [webhooks._delay(settings, n) for n in range(1, 12)]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(delays) == webhooks.MAX_BACKOFF_S


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
async def test_deliver_does_not_retry_client_errors(status: int) -> None:
    attempts: list[webhooks.WebhookAttempt] = []
    with serve_http({"/hook": Reply(status=status, headers={"Location": "/elsewhere"})}) as server:
        result = await webhooks.deliver(
            server.url("/hook"), PAYLOAD, make_settings(), job_id="job-4", on_attempt=attempts.append
        )
    assert not result.delivered
    assert result.status == status
    assert len(server.requests) == 1
    assert len(attempts) == 1
    assert attempts[0].next_delay_s is None


@pytest.mark.anyio
async def test_deliver_waits_as_long_as_retry_after_asks() -> None:
    """A receiver that sheds load says when to come back: seconds or an HTTP date, never shorter than the backoff."""
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    route = replies_in_order(
        Reply(status=503, headers={"Retry-After": "1"}),
        Reply(status=429, headers={"Retry-After": later}),
        Reply(status=503, headers={"Retry-After": "0"}),
        Reply(status=503, headers={"Retry-After": "soon, please"}),
        Reply(status=204),
    )
    waits, no_wait = recorded_waits()
    with serve_http({"/hook": route}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, make_settings(), job_id="job-ra", wait=no_wait)
    assert result.delivered
    delays = [a.next_delay_s for a in result.attempts]
    assert delays[0] == 1.0
    assert delays[1] is not None
    assert 25.0 < delays[1] <= 30.0  # the date, read against the clock
    assert delays[2:] == [0.08, 0.16, None]  # "0" and an unreadable value leave the backoff as it is
    assert waits == delays[:-1]


def test_retry_after_is_capped_and_read_both_ways() -> None:
    now = 1_000_000.0
    assert webhooks._retry_after_s("120", now) == 120.0
    assert webhooks._retry_after_s(email.utils.formatdate(now + 30, usegmt=True), now) == pytest.approx(30.0)
    assert webhooks._retry_after_s(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert webhooks._retry_after_s(None, now) is None
    assert webhooks._retry_after_s("-5", now) is None
    assert webhooks._retry_after_s("", now) is None
    # "²" passed str.isdigit and float() raised, a year of 20 digits overflowed: deliver() raised and the
    # job said "attempts": 0 for good (a security review); neither is a delay
    for odd in ("²", "1²", "Mon, 01 Jan 10000000000000000000 00:00:00 GMT", "9" * 40):
        assert webhooks._retry_after_s(odd, now) is None


@pytest.mark.anyio
@pytest.mark.parametrize("status", [408, 425])
async def test_deliver_retries_timeouts_and_too_early(status: int) -> None:
    route = replies_in_order(Reply(status=status), Reply(status=200))
    with serve_http({"/hook": route}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, make_settings(), job_id="job-408")
    assert result.delivered
    assert [a.status for a in result.attempts] == [status, 200]


@pytest.mark.anyio
async def test_a_huge_retry_after_is_capped() -> None:
    route = replies_in_order(Reply(status=503, headers={"Retry-After": "86400"}), Reply(status=200))
    waits, no_wait = recorded_waits()
    with serve_http({"/hook": route}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, make_settings(), job_id="job-cap", wait=no_wait)
    assert result.delivered
    assert waits == [webhooks.MAX_BACKOFF_S]


@pytest.mark.anyio
async def test_deliver_does_not_retry_refused_urls() -> None:
    attempts: list[webhooks.WebhookAttempt] = []
    started = time.monotonic()
    result = await webhooks.deliver(
        "http://169.254.169.254/latest", PAYLOAD, Settings(), job_id="job-5", on_attempt=attempts.append
    )
    assert time.monotonic() - started < 1.0
    assert not result.delivered
    assert result.error_code == "fetch.refused"
    assert "169.254.169.254" in (result.error or "")
    assert len(attempts) == 1


@pytest.mark.anyio
async def test_signature_headers_verify_with_the_secret() -> None:
    settings = make_settings(webhook_secret="s3cret")
    with serve_http({"/hook": Reply(status=200)}) as server:
        before = int(time.time())
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, settings, job_id="job-6")
    assert result.delivered
    (request,) = server.requests
    stamp, signature = request.headers["X-Hush-Timestamp"], request.headers["X-Hush-Signature"]
    assert before <= int(stamp) <= time.time()
    assert signature.startswith("sha256=")
    assert request.headers["X-Hush-Job-Id"] == "job-6"
    assert json.loads(request.body) == PAYLOAD
    assert webhooks.verify_signature("s3cret", stamp, request.body, signature)
    assert webhooks.verify_signature(SecretStr("s3cret"), stamp, request.body, signature, max_age_s=60)
    assert not webhooks.verify_signature("wrong", stamp, request.body, signature)
    assert not webhooks.verify_signature("s3cret", str(int(stamp) + 1), request.body, signature)
    assert not webhooks.verify_signature("s3cret", stamp, request.body + b" ", signature)
    assert not webhooks.verify_signature("s3cret", stamp, request.body, signature, max_age_s=60, now=int(stamp) + 61)
    assert not webhooks.verify_signature("s3cret", "not-a-number", request.body, signature)


@pytest.mark.anyio
async def test_each_retry_is_signed_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(webhook_secret="k")
    clock = itertools.count(1_700_000_000, 7)  # each reading of the clock is 7 s later
    monkeypatch.setattr(webhooks.time, "time", lambda: float(next(clock)))
    with serve_http({"/hook": replies_in_order(Reply(status=500), Reply(status=200))}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, settings, job_id="job-7")
    assert result.delivered

    def verifies(request: RecordedRequest) -> bool:
        headers = request.headers
        return webhooks.verify_signature("k", headers["X-Hush-Timestamp"], request.body, headers["X-Hush-Signature"])

    assert [verifies(r) for r in server.requests] == [True, True]
    stamps = [r.headers["X-Hush-Timestamp"] for r in server.requests]
    signatures = [r.headers["X-Hush-Signature"] for r in server.requests]
    assert stamps[0] != stamps[1]  # the retry carries its own time, so a receiver's freshness check passes
    assert signatures[0] != signatures[1]


def test_sign_matches_a_hand_computed_hmac() -> None:
    expected = hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert webhooks.sign("key", 1700000000, b"{}") == f"sha256={expected}"


@pytest.mark.anyio
async def test_no_signature_headers_without_a_secret() -> None:
    with serve_http({"/hook": Reply(status=200)}) as server:
        result = await webhooks.deliver(server.url("/hook"), PAYLOAD, make_settings(), job_id="job-8")
    assert result.delivered
    (request,) = server.requests
    assert request.headers["X-Hush-Signature"] is None
    assert request.headers["X-Hush-Timestamp"] is None
    assert request.headers["X-Hush-Job-Id"] == "job-8"
    assert request.headers["Content-Type"] == "application/json"
