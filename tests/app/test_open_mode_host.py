"""A server without keys answers only requests addressed to this machine by name: a page of another
site that points its own name at 127.0.0.1 (DNS rebinding) gets nothing, in real and mock mode."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.dialects import _mock
from tests.dialects._server import run_server


def test_open_server_refuses_other_names_and_takes_loopback_ones(tmp_path: Path) -> None:
    with (
        run_server(Settings(data_dir=tmp_path, api_keys=()), workers=False) as server,
        httpx.Client(base_url=server.base, timeout=10) as client,
    ):
        for host in (
            "localhost",
            f"localhost:{server.port}",
            f"127.0.0.1:{server.port}",
            "[::1]:8000",
            "app.localhost",
        ):
            r = client.get("/api/v1/steps", headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
        for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.evil.example", "10.0.0.5"):
            r = client.get("/api/v1/steps", headers={"Host": host})
            assert r.status_code == 403, (host, r.status_code)
            assert "127.0.0.1" in r.json()["title"]
            assert "HUSH_API_KEYS" in r.json()["title"]
            assert (
                client.post("/api/v1/files", headers={"Host": host}, files={"file": ("a.wav", b"x")}).status_code == 403
            )


def test_open_server_takes_its_public_url_name(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_keys=(), public_url="http://hush.test:8080")
    with run_server(settings, workers=False) as server:
        assert httpx.get(server.url("/api/v1/steps"), headers={"Host": "hush.test:8080"}, timeout=10).status_code == 200
        assert httpx.get(server.url("/api/v1/steps"), headers={"Host": "other.test"}, timeout=10).status_code == 403


def test_keyed_server_takes_any_name(tmp_path: Path) -> None:
    with run_server(Settings(data_dir=tmp_path, api_keys=("k1",)), workers=False) as server:
        r = httpx.get(server.url("/api/v1/steps"), headers={"Host": "hush.example.com", "x-api-key": "k1"}, timeout=10)
        assert r.status_code == 200


@pytest.mark.timeout(60)
def test_mock_journal_is_not_readable_through_another_name(tmp_path: Path) -> None:
    mock = _mock.start(tmp_path)
    try:
        with httpx.Client(base_url=mock.url, timeout=10) as client:
            client.get("/api/v1/steps", headers={"x-api-key": "secret-key"})
            assert client.get("/_mock/requests", headers={"Host": "evil.example"}).status_code == 403
            assert client.post("/_mock/reset", headers={"Host": "evil.example"}).status_code == 403
            assert client.get("/_mock/requests").status_code == 200
    finally:
        mock.stop()


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    with run_server(Settings(data_dir=tmp_path, api_keys=("k1",)), workers=False) as server:
        answers = [
            httpx.get(server.url("/"), timeout=10),  # the playground
            httpx.get(server.url("/api/v1/steps"), headers={"x-api-key": "k1"}, timeout=10),
            httpx.get(server.url("/api/v1/jobs/nope"), headers={"x-api-key": "k1"}, timeout=10),  # 404
            httpx.get(server.url("/api/v1/steps"), timeout=10),  # 401
            httpx.get(server.url("/docs"), timeout=10),
        ]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY", r.url
        assert r.headers["referrer-policy"] == "no-referrer", r.url
