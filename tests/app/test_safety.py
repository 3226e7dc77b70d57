"""Safe defaults: secrets, bind rules, CPU count, credentials kept out of logs."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from app.auth import check_bind
from app.logs import RedactSecrets, redact_query
from app.main import create_app
from app.settings import Settings, available_cpus

with warnings.catch_warnings():  # the test client's own notice about its HTTP library
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.mark.parametrize("blank", ["", "   "])
def test_settings_blank_webhook_secret_means_unsigned(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("HUSH_WEBHOOK_SECRET", blank)  # what compose's ${HUSH_WEBHOOK_SECRET:-} passes
    assert Settings().webhook_secret is None


def test_settings_default_workers_follow_the_cpus_this_process_may_use() -> None:
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)
    assert available_cpus() <= len(os.sched_getaffinity(0))
    assert Settings().workers == available_cpus()


STRONG = "9f2c" * 10


@pytest.mark.parametrize(
    ("env", "keys", "secret", "host", "refused_for"),
    [
        ("dev", (), None, "127.0.0.1", None),
        ("dev", (), None, "0.0.0.0", "without API keys"),
        ("dev", ("k1",), "changeme", "0.0.0.0", None),
        ("prod", (STRONG,), "changeme", "0.0.0.0", "HUSH_WEBHOOK_SECRET"),
        ("prod", (STRONG,), "short-but-not-placeholder", "127.0.0.1", "HUSH_WEBHOOK_SECRET"),
        ("prod", (STRONG,), STRONG, "0.0.0.0", None),
        ("prod", (STRONG,), None, "0.0.0.0", None),
        ("prod", ("changeme",), None, "0.0.0.0", "placeholder key"),
        ("prod", ("app:secret",), None, "0.0.0.0", "placeholder key"),
    ],
)
def test_check_bind_refuses_unsafe_settings(
    tmp_path: Path, env: str, keys: tuple[str, ...], secret: str | None, host: str, refused_for: str | None
) -> None:
    settings = Settings(data_dir=tmp_path, env=env, api_keys=keys, webhook_secret=secret)
    refusal = check_bind(settings, host)
    if refused_for is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused_for in refusal


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/api/v1/jobs/x/ws?key=abc123", "/api/v1/jobs/x/ws?key=***"),
        ("/audio/generic/api/v1/sync/denoise?apikey=s3cr3t&x=1", "/audio/generic/api/v1/sync/denoise?apikey=***&x=1"),
        ("/p?a=1&API-KEY=zz", "/p?a=1&API-KEY=***"),
        ("/p?monkey=1", "/p?monkey=1"),
    ],
)
def test_redact_query_hides_credentials_only(line: str, expected: str) -> None:
    assert redact_query(line) == expected


def test_access_log_records_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s"', ("127.0.0.1:5", "GET", "/ws?key=abc"), None
    )
    assert RedactSecrets().filter(record)
    assert "abc" not in record.getMessage()
    assert "key=***" in record.getMessage()


def test_open_server_answers_only_local_clients_under_any_asgi_server(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), workers=False)  # no keys: open mode
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        r = remote.get("/api/v1/steps")
        assert r.status_code == 403
        assert "HUSH_API_KEYS" in r.json()["title"]
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 40000)) as local:
        assert local.get("/api/v1/steps").status_code == 200
    keyed = create_app(Settings(data_dir=tmp_path / "k", api_keys=("k1",)), workers=False)
    with TestClient(keyed, client=("203.0.113.7", 40000)) as remote:
        assert remote.get("/api/v1/steps", headers={"x-api-key": "k1"}).status_code == 200
