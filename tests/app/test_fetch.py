"""app.fetch: the SSRF policy, IP pinning, redirects, size and time caps, PUT and POST.

Only 127.0.0.1 is ever connected to; every other address in here must be refused before a
connection is attempted (the ``no_connect`` fixture fails the test if one is).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import shutil
import socket
import ssl
import subprocess
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from pathlib import Path

import httpcore
import pytest
from pydantic import ValidationError

from app import fetch
from app.errors import FetchError, InputTooLargeError, URLRefusedError
from app.settings import Settings
from tests.app._http_fixtures import Reply, replies_in_order, serve_http

LOOPBACK = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=5)
CHECKED_HOST = "media.hush.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything below opens a TCP connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", refuse)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def resolving(mapping: dict[str, Sequence[str]], calls: list[str] | None = None) -> fetch.Resolver:
    """A resolver from a table; any other name fails like an unknown host."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


# ------------------------------------------------------------------------- refusals

SSRF_URLS = [
    "http://127.0.0.1/",
    "http://localhost/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://100.100.100.200/latest/meta-data",
    "http://[fd00:ec2::254]/latest/meta-data",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[2002:7f00:1::1]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f000001/",
    "http://127.1/",
    "ftp://example.com/file.wav",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "http://",
]


@pytest.mark.usefixtures("no_connect")
@pytest.mark.parametrize("url", SSRF_URLS)
def test_download_refuses_ssrf_targets(url: str, tmp_path: Path) -> None:
    dest = tmp_path / "in.wav"
    started = time.monotonic()
    with pytest.raises(URLRefusedError, match="refused"):
        fetch.download_to_file(url, dest, Settings())
    assert time.monotonic() - started < 1.0  # no connect, no timeout waited out
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("no_connect")
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.1/x", ("'10.0.0.1'", "a private address")),
        ("http://0.0.0.0/x", ("'0.0.0.0'", "an unspecified address")),
        ("http://[::1]/x", ("'::1'", "loopback")),
        ("http://169.254.169.254/", ("'169.254.169.254'", "metadata")),
        ("http://[::ffff:127.0.0.1]/", ("'::ffff:127.0.0.1'", "loopback")),
        ("ftp://files.example.com/a.wav", ("'files.example.com'", "scheme 'ftp'")),
        ("file:///etc/passwd", ("(none)", "scheme 'file'")),
    ],
)
def test_refusal_message_names_host_and_reason(url: str, words: tuple[str, ...]) -> None:
    with pytest.raises(URLRefusedError) as caught:
        fetch.check_url(url, Settings())
    for word in words:
        assert word in caught.value.message
    assert caught.value.code == "fetch.refused"


@pytest.mark.usefixtures("no_connect")
@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.7"], ["93.184.215.14", "10.0.0.7"], ["2606:4700::1", "::1"], ["100.64.1.1"]],
)
def test_name_resolving_to_any_private_address_is_refused(addresses: list[str], tmp_path: Path) -> None:
    resolver = resolving({"assets.example.com": addresses})
    with pytest.raises(URLRefusedError, match=r"assets\.example\.com"):
        fetch.download_to_file("https://assets.example.com/a.wav", tmp_path / "a", Settings(), resolver=resolver)


@pytest.mark.usefixtures("no_connect")
def test_public_addresses_pass_check() -> None:
    resolver = resolving({"assets.example.com": ["93.184.215.14", "2606:4700::1"]})
    ips = fetch.check_url("https://assets.example.com/a.wav", Settings(), resolver)
    assert [str(ip) for ip in ips] == ["93.184.215.14", "2606:4700::1"]


@pytest.mark.usefixtures("no_connect")
def test_unresolvable_host_is_a_fetch_error_not_a_refusal() -> None:
    with pytest.raises(FetchError, match="could not resolve") as caught:
        fetch.check_url("https://nowhere.example.com/", Settings(), resolving({}))
    assert not isinstance(caught.value, URLRefusedError)


@pytest.mark.usefixtures("no_connect")
@pytest.mark.parametrize(
    ("allowlist", "host", "address", "allowed"),
    [
        (("minio.internal",), "minio.internal", "10.1.2.3", True),
        (("MINIO.internal.",), "minio.internal", "10.1.2.3", True),
        (("10.0.0.0/8",), "minio.internal", "10.1.2.3", True),
        (("10.1.2.3",), "minio.internal", "10.1.2.3", True),
        (("10.0.0.0/8",), "minio.internal", "192.168.0.1", False),
        (("other.internal",), "minio.internal", "10.1.2.3", False),
        (("127.0.0.0/8",), "minio.internal", "::ffff:127.0.0.2", True),
        # NAT64 and 6to4 forms reach a gateway, not this host's loopback
        (("127.0.0.1",), "gw.example", "64:ff9b::7f00:1", False),
        (("127.0.0.0/8",), "gw.example", "2002:7f00:1::", False),
        (("169.254.169.254",), "meta.internal", "64:ff9b::a9fe:a9fe", False),
        (("169.254.169.254",), "meta.internal", "::ffff:169.254.169.254", True),
        # metadata endpoints open only to an entry naming the exact address
        (("169.254.0.0/16",), "meta.internal", "169.254.169.254", False),
        (("meta.internal",), "meta.internal", "169.254.169.254", False),
        (("169.254.169.254",), "meta.internal", "169.254.169.254", True),
        (("0.0.0.0/0",), "meta.internal", "100.100.100.200", False),
    ],
)
def test_allowlist_matches_names_and_cidrs(allowlist: tuple[str, ...], host: str, address: str, allowed: bool) -> None:
    settings = Settings(url_allowlist=allowlist)
    resolver = resolving({host: [address]})
    if allowed:
        assert fetch.check_url(f"http://{host}/", settings, resolver) == [ipaddress.ip_address(address)]
    else:
        with pytest.raises(URLRefusedError):
            fetch.check_url(f"http://{host}/", settings, resolver)


def test_allowlist_accepts_comma_list_from_settings() -> None:
    settings = Settings(url_allowlist="minio.internal, 127.0.0.0/8, [::1], files.example.com.")
    assert fetch.check_url("http://127.0.0.5/", settings)


@pytest.mark.parametrize("entry", ["127.0.0.1:8852", "bogus-entry/99", "http://files.example.com", "a b"])
def test_an_allowlist_entry_the_fetcher_cannot_match_is_refused_at_start(entry: str) -> None:
    # it used to be kept as a host name no URL has, and refusals told the operator to add it
    with pytest.raises(ValidationError, match="neither a host name, an IP address nor a CIDR"):
        Settings(url_allowlist=f"10.0.0.0/8,{entry}")


# ------------------------------------------------------------------- downloads


@pytest.mark.parametrize("allowlist", [("127.0.0.1",), ("127.0.0.0/8",)])
def test_download_from_allowlisted_loopback(allowlist: tuple[str, ...], tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000
    progress: list[tuple[int, int | None]] = []
    with serve_http({"/in.wav": Reply(body=payload, headers={"Content-Type": "audio/wav"})}) as server:
        result = fetch.download_to_file(
            server.url("/in.wav?sig=secret"),
            tmp_path / "in.wav",
            Settings(url_allowlist=allowlist, fetch_timeout_s=5),
            on_progress=lambda got, total: progress.append((got, total)),
        )
    assert (tmp_path / "in.wav").read_bytes() == payload
    assert result == fetch.FetchResult(server.url("/in.wav?sig=secret"), len(payload), "audio/wav")
    assert progress[-1] == (len(payload), len(payload))
    assert server.requests[0].method == "GET"
    assert server.requests[0].path == "/in.wav?sig=secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_a_worker_logging_at_info_never_logs_the_path_query_or_userinfo(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers log at INFO (``logging.basicConfig``); httpx logs each request's whole URL at INFO."""
    caplog.set_level(logging.INFO)  # the root logger, as a worker sets it
    with serve_http({"/bucket/in.wav": Reply(body=b"RIFF" * 100)}) as server:
        url = server.url("/bucket/in.wav?X-Amz-Signature=s3cr3tsig").replace("://", "://user:hunter2@")
        fetch.download_to_file(url, tmp_path / "in.wav", LOOPBACK)
        with pytest.raises(FetchError):
            fetch.download_to_file(url.replace("in.wav", "missing.wav"), tmp_path / "x", LOOPBACK)
    assert caplog.records, "the fetcher logs its downloads (by origin)"
    for secret in ("s3cr3tsig", "hunter2", "/bucket/"):
        assert secret not in caplog.text


def test_download_pins_the_checked_address_and_keeps_the_host_name(tmp_path: Path) -> None:
    calls: list[str] = []
    # A rebinding DNS: the first answer is the allowed one, any later answer is private.
    answers = itertools.chain([["127.0.0.1"]], itertools.repeat(["10.0.0.1"]))

    def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    with serve_http({"/in.wav": Reply(body=b"pinned")}) as server:
        result = fetch.download_to_file(
            server.url("/in.wav", host=CHECKED_HOST),
            tmp_path / "in.wav",
            Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=5),
            resolver=rebinding,
        )
    assert result.size == 6
    assert calls == [CHECKED_HOST]  # resolved exactly once; the connection used that answer
    assert server.requests[0].headers["Host"] == f"{CHECKED_HOST}:{server.port}"


def test_download_follows_redirects_checking_each_hop(tmp_path: Path) -> None:
    calls: list[str] = []
    routes = {
        "/a": Reply(status=302, headers={"Location": "/b"}),
        "/b": Reply(status=500),  # replaced below, once the port is known
        "/c": Reply(body=b"done"),
    }
    with serve_http(routes) as server:
        routes["/b"] = Reply(status=301, headers={"Location": server.url("/c", host=CHECKED_HOST)})
        result = fetch.download_to_file(
            server.url("/a"),
            tmp_path / "out",
            LOOPBACK,
            resolver=resolving({"127.0.0.1": ["127.0.0.1"], CHECKED_HOST: ["127.0.0.1"]}, calls),
        )
    assert (tmp_path / "out").read_bytes() == b"done"
    assert result.final_url == server.url("/c", host=CHECKED_HOST)
    assert [r.path for r in server.requests] == ["/a", "/b", "/c"]
    assert calls == ["127.0.0.1", "127.0.0.1", CHECKED_HOST]


@pytest.mark.parametrize(
    "location", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"]
)
def test_redirect_to_refused_address_is_refused(location: str, tmp_path: Path) -> None:
    with serve_http({"/in.wav": Reply(status=302, headers={"Location": location})}) as server:
        started = time.monotonic()
        with pytest.raises(URLRefusedError):
            fetch.download_to_file(server.url("/in.wav"), tmp_path / "in.wav", LOOPBACK)
    assert time.monotonic() - started < 1
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_redirect_loop_is_a_fetch_error(tmp_path: Path) -> None:
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=5, fetch_max_redirects=3)
    loop = {"/loop": Reply(status=307, headers={"Location": "/loop"})}
    with serve_http(loop) as server, pytest.raises(FetchError, match="too many redirects"):
        fetch.download_to_file(server.url("/loop"), tmp_path / "x", settings)
    assert len(server.requests) == 4  # the first request and three followed hops


@pytest.mark.parametrize(("status", "word"), [(404, "404"), (500, "500"), (403, "403")])
def test_download_non_2xx_is_a_fetch_error(status: int, word: str, tmp_path: Path) -> None:
    with (
        serve_http({"/x": Reply(status=status, body=b"nope")}) as server,
        pytest.raises(FetchError, match=word) as caught,
    ):
        fetch.download_to_file(server.url("/x?token=abc"), tmp_path / "x", LOOPBACK)
    assert "127.0.0.1" in caught.value.message
    assert "token" not in caught.value.message
    assert not isinstance(caught.value, URLRefusedError)
    assert list(tmp_path.iterdir()) == []


def test_download_refuses_large_content_length_before_reading(tmp_path: Path) -> None:
    lying = {"/big": Reply(body=b"x" * 10, content_length=10_000)}
    with serve_http(lying) as server, pytest.raises(InputTooLargeError, match="1000 bytes"):
        fetch.download_to_file(server.url("/big"), tmp_path / "big", LOOPBACK, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


def test_download_aborts_chunked_body_past_the_cap(tmp_path: Path) -> None:
    chunks = itertools.repeat(b"y" * 4096, 10_000)  # 40 MB if nobody stopped it
    with serve_http({"/grow": Reply(chunks=chunks)}) as server:
        started = time.monotonic()
        with pytest.raises(InputTooLargeError):
            fetch.download_to_file(server.url("/grow"), tmp_path / "grow", LOOPBACK, max_bytes=100_000)
    assert time.monotonic() - started < 3
    assert list(tmp_path.iterdir()) == []


def test_download_cap_defaults_to_settings_max_input(tmp_path: Path) -> None:
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=5, max_input_mb=0.001)
    with serve_http({"/big": Reply(body=b"z" * 2000)}) as server, pytest.raises(InputTooLargeError):
        fetch.download_to_file(server.url("/big"), tmp_path / "big", settings)


def test_server_that_never_answers_times_out(tmp_path: Path) -> None:
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=0.4)
    with serve_http({"/hang": Reply(hang=True)}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetch.download_to_file(server.url("/hang"), tmp_path / "x", settings)
        assert time.monotonic() - started < 2.0


def test_trickling_server_hits_the_overall_deadline(tmp_path: Path) -> None:
    # Each chunk arrives well within any per-read timeout; only a whole-fetch deadline stops it.
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=0.6)
    with serve_http({"/slow": Reply(chunks=itertools.repeat(b"s", 1000), chunk_delay_s=0.05)}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetch.download_to_file(server.url("/slow"), tmp_path / "x", settings)
        assert time.monotonic() - started < 2.0
    assert list(tmp_path.iterdir()) == []


def test_closed_port_is_a_fetch_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="failed"):
        fetch.download_to_file(f"http://127.0.0.1:{port}/", tmp_path / "x", LOOPBACK)


# ----------------------------------------------------------------------------- PUT


def test_put_file_streams_with_length_and_type(tmp_path: Path) -> None:
    source = tmp_path / "out.mp3"
    source.write_bytes(bytes(range(256)) * 700)
    with serve_http({"PUT /bucket/out.mp3": Reply(status=200)}) as server:
        status = fetch.put_file(server.url("/bucket/out.mp3?X-Amz-Signature=abc"), source, "audio/mpeg", LOOPBACK)
    assert status == 200
    (request,) = server.requests
    assert request.method == "PUT"
    assert request.headers["Content-Type"] == "audio/mpeg"
    assert request.headers["Content-Length"] == str(source.stat().st_size)
    assert request.headers["Transfer-Encoding"] is None
    assert request.body == source.read_bytes()


def test_put_file_follows_307_with_the_body(tmp_path: Path) -> None:
    source = tmp_path / "out.wav"
    source.write_bytes(b"RIFF" + b"\0" * 5000)
    routes = {"/a": Reply(status=307, headers={"Location": "/b"}), "/b": Reply(status=201)}
    with serve_http(routes) as server:
        assert fetch.put_file(server.url("/a"), source, "audio/wav", LOOPBACK) == 201
    assert [(r.path, r.body) for r in server.requests] == [("/a", source.read_bytes()), ("/b", source.read_bytes())]


def test_put_file_error_status_and_refusal(tmp_path: Path) -> None:
    source = tmp_path / "out.wav"
    source.write_bytes(b"data")
    with serve_http({"/a": Reply(status=403)}) as server, pytest.raises(FetchError, match="403"):
        fetch.put_file(server.url("/a"), source, "audio/wav", LOOPBACK)
    with pytest.raises(URLRefusedError):
        fetch.put_file("http://192.168.0.10/bucket/x", source, "audio/wav", Settings())


# ---------------------------------------------------------------------------- POST


@pytest.mark.anyio
async def test_post_json_sends_exact_body_and_returns_status() -> None:
    with serve_http({"/hook": replies_in_order(Reply(status=202), Reply(status=503))}) as server:
        first = await fetch.post_json(server.url("/hook"), {"id": "j1", "ü": 1}, LOOPBACK, headers={"X-A": "b"})
        second = await fetch.post_json(server.url("/hook"), {"id": "j1"}, LOOPBACK)
    assert (first, second) == (202, 503)
    request = server.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-A"] == "b"
    assert request.body == fetch.encode_json({"id": "j1", "ü": 1})
    assert json.loads(request.body) == {"id": "j1", "ü": 1}


@pytest.mark.anyio
@pytest.mark.usefixtures("no_connect")
@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "http://[::ffff:10.0.0.1]/", "file:///etc/passwd"])
async def test_post_json_refuses_before_connecting(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(URLRefusedError):
        await fetch.post_json(url, {"a": 1}, Settings())
    assert time.monotonic() - started < 1.0  # no connect, no timeout waited out


@pytest.mark.anyio
async def test_post_json_redirect_to_private_is_refused() -> None:
    routes = {"/hook": Reply(status=307, headers={"Location": "http://10.0.0.1/hook"})}
    with serve_http(routes) as server, pytest.raises(URLRefusedError):
        await fetch.post_json(server.url("/hook"), {"a": 1}, LOOPBACK)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_post_json_hang_times_out() -> None:
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=0.4)
    with serve_http({"/hook": Reply(hang=True)}) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            await fetch.post_json(server.url("/hook"), {"a": 1}, settings)
        assert time.monotonic() - started < 2.0


@pytest.mark.anyio
async def test_post_json_pins_and_keeps_host_header() -> None:
    calls: list[str] = []
    with serve_http({"/hook": Reply(status=204)}) as server:
        status = await fetch.post_json(
            server.url("/hook", host=CHECKED_HOST),
            {"a": 1},
            Settings(url_allowlist=(CHECKED_HOST,), fetch_timeout_s=5),
            resolver=resolving({CHECKED_HOST: ["127.0.0.1"]}, calls),
        )
    assert status == 204
    assert calls == [CHECKED_HOST]
    assert server.requests[0].headers["Host"] == f"{CHECKED_HOST}:{server.port}"


# ----------------------------------------------------------------- TLS: SNI and pinning


class _RecordingBackend(httpcore.NetworkBackend):
    """Stands in for the socket layer: records where connections go and the SNI name used."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []
        self.sni: list[str | None] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: object) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        backend = self

        class Stream(httpcore.MockStream):
            def start_tls(
                self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
            ) -> httpcore.NetworkStream:
                backend.sni.append(server_hostname)
                return httpcore.MockStream([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"])

        return Stream([])


def test_pinned_backend_connects_to_pinned_ip_with_original_sni() -> None:
    pins = fetch._Pins(time.monotonic() + 5)
    pins.pin(
        "files.example.com",
        fetch.check_url("https://files.example.com/", Settings(), resolving({"files.example.com": ["93.184.215.14"]})),
    )
    recorder = _RecordingBackend()
    pool = httpcore.ConnectionPool(network_backend=fetch._PinnedBackend(pins, recorder))
    with pool:
        response = pool.request("GET", "https://files.example.com/a.wav")
    assert response.status == 200
    assert recorder.connected == [("93.184.215.14", 443)]
    assert recorder.sni == ["files.example.com"]


def test_pinned_backend_refuses_unchecked_hosts() -> None:
    pins = fetch._Pins(time.monotonic() + 5)
    recorder = _RecordingBackend()
    with pytest.raises(httpcore.ConnectError, match="not checked"):
        fetch._PinnedBackend(pins, recorder).connect_tcp("elsewhere.example.com", 443)
    assert recorder.connected == []


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={CHECKED_HOST}",
         "-addext", f"subjectAltName=DNS:{CHECKED_HOST}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _tls_server_context(cert: Path, key: Path, seen_sni: list[str | None]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    return context


def test_https_connects_to_pinned_ip_and_verifies_the_host_name(tls_files: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = tls_files
    seen_sni: list[str | None] = []
    client_context = ssl.create_default_context(cafile=str(cert))
    settings = Settings(url_allowlist=(CHECKED_HOST,), fetch_timeout_s=5)
    with serve_http({"/in.wav": Reply(body=b"secure")}, ssl_context=_tls_server_context(cert, key, seen_sni)) as server:
        result = fetch.download_to_file(
            server.url("/in.wav", host=CHECKED_HOST),
            tmp_path / "in.wav",
            settings,
            resolver=resolving({CHECKED_HOST: ["127.0.0.1"]}),
            ssl_context=client_context,
        )
        # the same server by its bare IP: the certificate does not name it, so TLS must fail
        with pytest.raises(FetchError):
            fetch.download_to_file(server.url("/in.wav"), tmp_path / "ip.wav", LOOPBACK, ssl_context=client_context)
    assert result.size == 6
    assert seen_sni[0] == CHECKED_HOST
    assert server.requests[0].headers["Host"] == f"{CHECKED_HOST}:{server.port}"


def test_default_tls_context_verifies_certificates_and_names() -> None:
    context = fetch._default_ssl_context()
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def _gzip_bomb(inflated_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(packer.compress(block) for _ in range(inflated_mb)) + packer.flush()


def test_download_decodes_a_content_coding_in_bounded_steps(tmp_path: Path) -> None:
    # httpx's decoded stream inflates each chunk whole: 1.2 kB answered "gzip, gzip" took a
    # worker from 1.4 to 2.6 GB before the size limit could see a byte
    inner = _gzip_bomb(1024)  # 1 GiB of zeros, about 1 MB
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = packer.compress(inner) + packer.flush()  # gzip of gzip: a few kB
    audio = b"RIFF" + bytes(range(256)) * 64
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    gz_audio = packer.compress(audio) + packer.flush()
    routes = {
        "/bomb.wav": Reply(body=bomb, headers={"Content-Encoding": "gzip, gzip"}),
        "/a.wav": Reply(body=gz_audio, headers={"Content-Encoding": "gzip"}),
        "/br.wav": Reply(body=b"\x0b\x02\x80abc\x03", headers={"Content-Encoding": "br"}),
        "/bad.wav": Reply(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}),
    }
    settings = Settings(url_allowlist=("127.0.0.1",), fetch_timeout_s=5, max_input_mb=5)
    with serve_http(routes) as server:
        tracemalloc.start()
        try:
            with pytest.raises(InputTooLargeError):
                fetch.download_to_file(server.url("/bomb.wav"), tmp_path / "bomb.wav", settings)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        result = fetch.download_to_file(server.url("/a.wav"), tmp_path / "a.wav", settings)
        with pytest.raises(FetchError, match="Content-Encoding br"):
            fetch.download_to_file(server.url("/br.wav"), tmp_path / "br.wav", settings)
        with pytest.raises(FetchError, match="not valid gzip"):
            fetch.download_to_file(server.url("/bad.wav"), tmp_path / "bad.wav", settings)
    assert peak < 32 * 2**20, peak
    assert not (tmp_path / "bomb.wav").exists()
    assert (tmp_path / "a.wav").read_bytes() == audio
    assert result.size == len(audio)


def test_a_refused_name_does_not_tell_the_client_its_address() -> None:
    # "it resolves to 10.0.0.7" mapped the server's internal DNS for any client (security audit)
    with pytest.raises(URLRefusedError) as caught:
        fetch.check_url("http://db.internal/x", Settings(), resolver=lambda host, port: ["10.0.0.7"])
    assert "10.0.0.7" not in caught.value.message
    assert "a private address" in caught.value.message
    assert "'db.internal'" in caught.value.message
