"""The only way Hush touches a URL: SSRF-checked, IP-pinned, size- and time-capped HTTP.

Inputs by URL (worker processes, sync), output PUTs (worker processes, sync) and webhooks (the
asyncio server process) all go through this module, and both clients share one policy.

Public API::

    check_url(url, settings, resolver=system_resolver) -> list[IPAddress]        # raises URLRefusedError
    download_to_file(url, dest, settings, *, max_bytes=None, on_progress=None,
                     resolver=system_resolver, ssl_context=None) -> FetchResult   # sync, streams to disk
    put_file(url, path, content_type, settings, *,
             resolver=system_resolver, ssl_context=None) -> int                  # sync PUT, 2xx status
    async post_bytes(url, body, settings, *, content_type="application/json", headers=None,
                     resolver=system_resolver, ssl_context=None) -> int          # final status, any code
    async post_answer(...same as post_bytes...) -> Answer                        # status and Retry-After
    async post_json(url, payload, settings, *, headers=None, ...) -> int         # post_bytes(encode_json(payload))
    encode_json(payload) -> bytes                                                # the exact JSON bytes posted

Policy (one set of rules for every caller):

* Only ``http`` and ``https``. Anything else raises :class:`~app.errors.URLRefusedError` naming
  the host and the reason.
* The host is resolved once (``resolver``, by default ``socket.getaddrinfo``) and refused when
  *any* address is loopback, private, link-local, multicast, reserved, unspecified, shared
  (100.64.0.0/10), not globally routable, or a cloud metadata endpoint. IPv6 addresses that
  embed an IPv4 address (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) are
  judged by the embedded address as well.
* ``settings.url_allowlist`` (host names or CIDRs) lifts the address check for matching hosts or
  addresses. The metadata endpoints are only lifted by an entry naming that exact address, so a
  broad CIDR such as ``169.254.0.0/16`` does not open them.
* The connection goes to the validated addresses only: a custom httpcore network backend maps the
  host name to the pinned IPs at ``connect_tcp`` time and refuses any host that was not checked,
  so there is no second DNS lookup (no DNS rebinding). httpcore still sees the original host, so
  the ``Host`` header, TLS SNI and certificate verification all use the host name.
* Redirects are followed by hand, at most ``settings.fetch_max_redirects`` hops, and each hop is
  checked (and pinned) again before it is connected to. GET follows 301/302/303/307/308; PUT and
  POST follow only 307/308 (which keep method and body). Credentials headers are dropped when a
  redirect changes origin.
* ``settings.fetch_timeout_s`` is one deadline for the whole exchange, every hop included: each
  connect, TLS handshake, read and write is clamped to the time left, so a server that hangs or
  trickles bytes raises :class:`~app.errors.FetchError`, never a hang.
* Downloads are capped at ``max_bytes`` (default ``settings.max_input_bytes``): a larger
  ``Content-Length`` is refused up front and a streamed body is aborted as soon as it passes the
  cap, both with :class:`~app.errors.InputTooLargeError`.

Error messages name the URL's origin (scheme, host, port) but never its path, query or user
info, which often carry secrets (presigned signatures, webhook tokens); httpx's own request log
lines, which print whole URLs, are kept out of the logs (its loggers at WARNING).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import logging
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import anyio
import anyio.to_thread
import httpcore
import httpx

from app.errors import FetchError, InputTooLargeError, URLRefusedError
from app.settings import Settings

__all__ = [
    "Answer",
    "FetchResult",
    "IPAddress",
    "Resolver",
    "check_url",
    "download_to_file",
    "encode_json",
    "post_answer",
    "post_bytes",
    "post_json",
    "put_file",
    "system_resolver",
]

logger = logging.getLogger(__name__)
# httpx logs every request line, whole URL included, at INFO; a worker logging at INFO would
# write presigned signatures and userinfo into its log. Only its warnings are kept.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver: TypeAlias = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` as strings; the default wraps ``socket.getaddrinfo``."""

T = TypeVar("T")

_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_SHARED_NET = ipaddress.ip_network("100.64.0.0/10")
_NAT64_NET = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_KEEPING_REDIRECTS = frozenset({307, 308})
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_CHUNK_BYTES = 64 * 1024
_USER_AGENT = "hush-fetch/1"
_ALLOWLIST_HINT = "If this host is yours and intended, add it (or its CIDR) to HUSH_URL_ALLOWLIST."


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What :func:`download_to_file` fetched: the URL after redirects, bytes written, media type."""

    final_url: str
    size: int
    content_type: str | None


# ---------------------------------------------------------------------------------- policy


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class _Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]
    exact: frozenset[IPAddress]

    def allows(self, host: str, ip: IPAddress) -> bool:
        # The addresses a connection to ``ip`` reaches: an IPv4-mapped address (::ffff:a.b.c.d)
        # reaches that IPv4 host, so an entry for the host opens it. NAT64 and 6to4 addresses
        # embed an IPv4 address too but are routed to a gateway: an entry for 127.0.0.1 must not
        # open the gateway's own loopback (such addresses are still refused as private).
        embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        reached = [ip]
        if embedded is not None and isinstance(ip, ipaddress.IPv6Address) and embedded == ip.ipv4_mapped:
            reached.append(embedded)
        if ip in _METADATA_ADDRESSES or embedded in _METADATA_ADDRESSES:
            # Only an entry naming the exact address reached opens a metadata endpoint.
            return any(c in self.exact for c in reached)
        if host in self.hosts:
            return True
        return any(c in net for c in reached for net in self.networks)


@functools.lru_cache(maxsize=32)
def _parse_allowlist(entries: tuple[str, ...]) -> _Allowlist:
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    exact: set[IPAddress] = set()
    for raw in entries:
        entry = raw.strip().strip("[]").lower()
        if not entry:
            continue
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            hosts.add(entry.rstrip("."))
            continue
        networks.append(net)
        if net.num_addresses == 1:
            exact.add(net.network_address)
    return _Allowlist(frozenset(hosts), tuple(networks), frozenset(exact))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_NET:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (by its first letter: the reasons here are plain words)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be reached, or ``None`` when it is a public unicast address."""
    if ip in _METADATA_ADDRESSES:
        return "cloud metadata endpoint"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = _address_refusal(embedded)
            if reason is not None:
                return f"{reason} (embedded IPv4 {embedded})"
            if ip.ipv4_mapped is not None:
                return None  # exactly the IPv4 address, which is fine
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip in _SHARED_NET, "shared (100.64.0.0/10)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None


def _origin(url: httpx.URL) -> str:
    """``scheme://host[:port]`` without user info, path or query (those may hold secrets)."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}"


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise URLRefusedError(f"refused URL: it is not a valid URL ({exc})") from exc


def _checked(url: httpx.URL, settings: Settings, resolver: Resolver) -> tuple[str, list[IPAddress]]:
    """Validate ``url``; return the host to pin and its validated addresses."""
    host = url.host
    shown = repr(host) if host else "(none)"
    if url.scheme not in _SCHEMES:
        raise URLRefusedError(
            f"refused URL for host {shown}: scheme {url.scheme or '(none)'!r} is not allowed (only http and https)"
        )
    if not host:
        raise URLRefusedError("refused URL: it has no host")
    raw_host = url.raw_host.decode("ascii").lower()
    port = url.port or _DEFAULT_PORTS[url.scheme]
    try:
        addresses = list(dict.fromkeys(resolver(raw_host, port)))
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"could not resolve host {shown}: {exc}") from exc
    if not addresses:
        raise FetchError(f"could not resolve host {shown}: no addresses")
    allow = _parse_allowlist(tuple(settings.url_allowlist))
    names = {host.lower().rstrip("."), raw_host.rstrip(".")}
    ips: list[IPAddress] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError as exc:
            raise URLRefusedError(f"refused URL for host {shown}: resolver gave {text!r}") from exc
        reason = _address_refusal(ip)
        if reason is not None and not any(allow.allows(name, ip) for name in names):
            # the address itself goes to the operator's log only: told to the client, a name's
            # answer would map the server's internal network (security audit)
            if ipaddress.ip_address(text) != _literal(raw_host):
                logger.info("refused URL for host %s: it resolves to %s", shown, ip)
            raise URLRefusedError(
                f"refused URL for host {shown}: it resolves to {_article(reason)} {reason} address",
                hint=_ALLOWLIST_HINT,
            )
        ips.append(ip)
    return raw_host, ips


def _literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (``[::1]`` too), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url(url: str | httpx.URL, settings: Settings, resolver: Resolver = system_resolver) -> list[IPAddress]:
    """The validated addresses of ``url``'s host; raises ``URLRefusedError`` when it is not allowed.

    Raises ``FetchError`` (not the refusal subclass) when the host does not resolve.
    """
    return _checked(_parse(url), settings, resolver)[1]


# ------------------------------------------------------------------ pinned network backend


class _Pins:
    """Host -> validated addresses for one exchange, and that exchange's deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._by_host: dict[str, tuple[str, ...]] = {}

    def pin(self, host: str, ips: Sequence[IPAddress]) -> None:
        self._by_host[host] = tuple(str(ip) for ip in ips)

    def lookup(self, host: str) -> tuple[str, ...]:
        ips = self._by_host.get(host.lower())
        if not ips:
            # Fail closed: nothing connects to a host this module did not check.
            raise httpcore.ConnectError(f"host {host!r} was not checked by the URL policy")
        return ips

    def clamp(self, timeout: float | None, timeout_exc: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise timeout_exc("the fetch deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, pins: _Pins) -> None:
        self._inner = inner
        self._pins = pins

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._pins.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._pins.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        clamped = self._pins.clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, clamped), self._pins)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the pinned addresses of the requested host; httpcore keeps the host name."""

    def __init__(self, pins: _Pins, inner: httpcore.NetworkBackend | None = None) -> None:
        self._pins = pins
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self._pins.lookup(host):
            clamped = self._pins.clamp(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(ip, port, clamped, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream, self._pins)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the URL fetcher")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, pins: _Pins) -> None:
        self._inner = inner
        self._pins = pins

    # httpcore's interface passes per-operation timeouts; ASYNC109 does not apply to an override.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, self._pins.clamp(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, self._pins.clamp(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
    ) -> httpcore.AsyncNetworkStream:
        clamped = self._pins.clamp(timeout, httpcore.ConnectTimeout)
        inner = await self._inner.start_tls(ssl_context, server_hostname, clamped)
        return _AsyncDeadlineStream(inner, self._pins)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncPinnedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`_PinnedBackend`."""

    def __init__(self, pins: _Pins, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._pins = pins
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for ip in self._pins.lookup(host):
            clamped = self._pins.clamp(timeout, httpcore.ConnectTimeout)
            try:
                stream = await self._inner.connect_tcp(ip, port, clamped, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _AsyncDeadlineStream(stream, self._pins)
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the URL fetcher")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --------------------------------------------------------------------- httpx transports

_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpcore_errors_as_httpx() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_exc, httpx_exc in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, core_exc):
                raise httpx_exc(str(exc) or type(exc).__name__) from exc
        raise


def _core_request(request: httpx.Request, content: Any) -> httpcore.Request:
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=content,
        extensions=request.extensions,
    )


class _SyncResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpcore_errors_as_httpx():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PinnedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose network backend is pinned."""

    def __init__(self, pins: _Pins, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=_PinnedBackend(pins))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        with _httpcore_errors_as_httpx():
            response = self._pool.handle_request(_core_request(request, request.stream))
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_SyncResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _AsyncResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpcore_errors_as_httpx():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class _AsyncPinnedTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`_PinnedTransport`."""

    def __init__(self, pins: _Pins, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=_AsyncPinnedBackend(pins))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        with _httpcore_errors_as_httpx():
            response = await self._pool.handle_async_request(_core_request(request, request.stream))
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_AsyncResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    # certifi's bundle, like httpx; the environment (SSL_CERT_FILE ...) is not consulted.
    return httpx.create_ssl_context(trust_env=False)


# --------------------------------------------------------------------- the exchange


@dataclass(slots=True)
class _Hop:
    """One request of an exchange; :func:`_next_hop` turns a redirect into the following one."""

    method: str
    url: httpx.URL
    headers: dict[str, str]


def _next_hop(hop: _Hop, response: httpx.Response, redirects_left: int) -> _Hop | None:
    """The redirect target of ``response``, or ``None`` when it is the final answer."""
    if response.status_code not in _REDIRECT_STATUSES or "location" not in response.headers:
        return None
    if hop.method != "GET" and response.status_code not in _BODY_KEEPING_REDIRECTS:
        return None  # a 301/302/303 after PUT/POST is returned as is, not turned into a GET
    if redirects_left <= 0:
        raise FetchError(f"{hop.method} {_origin(hop.url)}: too many redirects (a loop?)")
    try:
        target = hop.url.join(response.headers["location"]).copy_with(fragment=None)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"{hop.method} {_origin(hop.url)}: invalid redirect location ({exc})") from exc
    headers = dict(hop.headers)
    if (target.scheme, target.host, target.port) != (hop.url.scheme, hop.url.host, hop.url.port):
        headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
    logger.debug("following %s redirect %s -> %s", response.status_code, _origin(hop.url), _origin(target))
    return _Hop(hop.method, target, headers)


def _network_error(hop: _Hop, exc: Exception, settings: Settings) -> FetchError:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return FetchError(
            f"{hop.method} {_origin(hop.url)} timed out (limit {settings.fetch_timeout_s:g} s)", transient=True
        )
    return FetchError(f"{hop.method} {_origin(hop.url)} failed: {exc}", transient=True)


def _exchange(
    method: str,
    url: str,
    settings: Settings,
    *,
    headers: Mapping[str, str],
    content: Callable[[], Iterable[bytes] | bytes | None],
    handle: Callable[[_Hop, httpx.Response], T],
    resolver: Resolver,
    ssl_context: ssl.SSLContext | None,
) -> T:
    """Run one request (and its redirects) under the policy; ``handle`` gets the final response."""
    hop = _Hop(method, _parse(url), {"User-Agent": _USER_AGENT, **headers})
    pins = _Pins(time.monotonic() + settings.fetch_timeout_s)
    transport = _PinnedTransport(pins, ssl_context or _default_ssl_context())
    with httpx.Client(transport=transport, trust_env=False, timeout=settings.fetch_timeout_s) as client:
        for redirects_left in range(settings.fetch_max_redirects, -1, -1):
            host, ips = _checked(hop.url, settings, resolver)
            pins.pin(host, ips)
            body = content()
            try:
                request = client.build_request(hop.method, hop.url, headers=hop.headers, content=body)
                response = client.send(request, stream=True)
                try:
                    following = _next_hop(hop, response, redirects_left)
                    if following is None:
                        return handle(hop, response)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                raise _network_error(hop, exc, settings) from exc
            finally:
                if isinstance(body, Iterator):
                    close = getattr(body, "close", None)
                    if close is not None:
                        close()
            hop = following
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def _exchange_async(
    method: str,
    url: str,
    settings: Settings,
    *,
    headers: Mapping[str, str],
    content: bytes,
    resolver: Resolver,
    ssl_context: ssl.SSLContext | None,
) -> Answer:
    """The async exchange for small bodies; returns the final answer's status, whatever it is."""
    hop = _Hop(method, _parse(url), {"User-Agent": _USER_AGENT, **headers})
    pins = _Pins(time.monotonic() + settings.fetch_timeout_s)
    transport = _AsyncPinnedTransport(pins, ssl_context or _default_ssl_context())
    try:
        with anyio.fail_after(settings.fetch_timeout_s):
            async with httpx.AsyncClient(
                transport=transport, trust_env=False, timeout=settings.fetch_timeout_s
            ) as client:
                for redirects_left in range(settings.fetch_max_redirects, -1, -1):
                    # getaddrinfo blocks: run it in a thread the deadline can walk away from.
                    host, ips = await anyio.to_thread.run_sync(
                        _checked, hop.url, settings, resolver, abandon_on_cancel=True
                    )
                    pins.pin(host, ips)
                    request = client.build_request(hop.method, hop.url, headers=hop.headers, content=content)
                    response = await client.send(request, stream=True)
                    try:
                        following = _next_hop(hop, response, redirects_left)
                    finally:
                        await response.aclose()
                    if following is None:
                        logger.debug("%s %s -> %s", hop.method, _origin(hop.url), response.status_code)
                        return Answer(response.status_code, response.headers.get("retry-after"))
                    hop = following
    except (httpx.HTTPError, TimeoutError) as exc:
        raise _network_error(hop, exc, settings) from exc
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


#: Statuses that say "not now" rather than "never": the request may succeed if sent again later.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _require_2xx(hop: _Hop, response: httpx.Response) -> None:
    if not response.is_success:
        raise FetchError(
            f"{hop.method} {_origin(hop.url)} answered HTTP {response.status_code} {response.reason_phrase}".rstrip(),
            transient=response.status_code in TRANSIENT_STATUSES,
            status=response.status_code,
        )


#: Content codings the download decodes itself (RFC 9110 §8.4.1), each with zlib's window bits:
#: gzip, and deflate as the zlib format (32 + 15 also takes the raw-deflate servers' gzip slips).
_CODINGS: Mapping[str, int] = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": 32 + zlib.MAX_WBITS,
}


def _inflate(chunks: Iterable[bytes], coding: str, hop: _Hop) -> Iterator[bytes]:
    """Decode one content coding, ``_CHUNK_BYTES`` of output at a time: a few kilobytes of a
    compression bomb would otherwise inflate to gigabytes in one call, before any size check."""
    d = zlib.decompressobj(_CODINGS[coding])
    try:
        for data in chunks:
            while data:
                out = d.decompress(data, _CHUNK_BYTES)
                data = d.unconsumed_tail
                if out:
                    yield out
        while tail := d.decompress(b"", _CHUNK_BYTES):  # what zlib still holds for the input read
            yield tail
    except zlib.error as exc:
        raise FetchError(
            f"GET {_origin(hop.url)}: the body is not valid {coding} as its Content-Encoding says ({exc})"
        ) from None


def _decoded(response: httpx.Response, hop: _Hop) -> Iterator[bytes]:
    """The body as the file it names: raw bytes, with any content coding undone in bounded steps.

    The download asks for ``identity``; a server may still encode (a bucket object stored
    gzipped). Codings are undone last-applied first (RFC 9110 §8.4); one this fetcher does not
    know (br, zstd ...) is refused instead of being saved as audio."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    unknown = [c for c in codings if c not in _CODINGS]
    if unknown:
        raise FetchError(
            f"GET {_origin(hop.url)} answered with Content-Encoding {', '.join(unknown)}, which this server does not "
            "decode; serve the file unencoded (or gzip)"
        )
    # as the bytes arrive (each network read, up to 64 KiB): a fixed 64 KiB gathered a slow
    # sender's bytes for many seconds before the caller's on_progress could act (a cancel)
    chunks: Iterable[bytes] = response.iter_raw()
    for coding in reversed(codings):
        chunks = _inflate(chunks, coding, hop)
    return iter(chunks)


# --------------------------------------------------------------------- public calls


def download_to_file(
    url: str,
    dest: Path,
    settings: Settings,
    *,
    max_bytes: int | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResult:
    """GET ``url`` into ``dest`` (streamed through a ``.part`` file, renamed when complete).

    ``on_progress(received_bytes, content_length_or_None)`` is called after every chunk.
    Raises ``URLRefusedError``, ``InputTooLargeError`` or ``FetchError``; ``dest`` is untouched
    on failure.
    """
    limit = settings.max_input_bytes if max_bytes is None else max_bytes
    part = dest.with_name(f".{dest.name}.part")

    def too_large(hop: _Hop, size: int) -> InputTooLargeError:
        return InputTooLargeError(
            f"the input at {_origin(hop.url)} is larger than the limit of {limit} bytes"
            + (f" ({size} bytes announced)" if size > limit else ""),
            hint="Send a shorter file or raise HUSH_MAX_INPUT_MB.",
        )

    def save(hop: _Hop, response: httpx.Response) -> FetchResult:
        _require_2xx(hop, response)
        announced: int | None = None
        with contextlib.suppress(ValueError):
            announced = int(response.headers.get("content-length", ""))
        if announced is not None and announced > limit:
            raise too_large(hop, announced)
        if "content-encoding" in response.headers:
            announced = None  # the length of the encoded body, not of the file
        size = 0
        with part.open("wb") as out:
            for chunk in _decoded(response, hop):
                size += len(chunk)
                if size > limit:
                    raise too_large(hop, 0)
                out.write(chunk)
                if on_progress is not None:
                    on_progress(size, announced)
        part.replace(dest)
        logger.info("downloaded %d bytes from %s", size, _origin(hop.url))
        return FetchResult(str(hop.url), size, response.headers.get("content-type"))

    try:
        return _exchange(
            "GET",
            url,
            settings,
            headers={"Accept-Encoding": "identity"},
            content=lambda: None,
            handle=save,
            resolver=resolver,
            ssl_context=ssl_context,
        )
    finally:
        part.unlink(missing_ok=True)


def put_file(
    url: str,
    path: Path,
    content_type: str,
    settings: Settings,
    *,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """PUT the file at ``path`` to ``url`` (a presigned URL, say); returns the 2xx status.

    The body is streamed with an explicit ``Content-Length`` (never chunked, which presigned S3
    URLs refuse) and the given ``Content-Type``. A non-2xx answer raises ``FetchError``.
    """
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as src:
            while chunk := src.read(_CHUNK_BYTES):
                yield chunk

    def status(hop: _Hop, response: httpx.Response) -> int:
        _require_2xx(hop, response)
        logger.info("uploaded %d bytes to %s", size, _origin(hop.url))
        return response.status_code

    return _exchange(
        "PUT",
        url,
        settings,
        headers={"Content-Type": content_type, "Content-Length": str(size)},
        content=chunks,
        handle=status,
        resolver=resolver,
        ssl_context=ssl_context,
    )


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """The compact UTF-8 JSON that :func:`post_json` sends (sign these bytes, not the mapping)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer to a POST: its status and its ``Retry-After`` header as sent (or ``None``)."""

    status: int
    retry_after: str | None = None


async def post_bytes(
    url: str,
    body: bytes,
    settings: Settings,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` exactly as given; returns the final HTTP status, whatever its class.

    Raises ``URLRefusedError`` for refused URLs and ``FetchError`` for network errors, timeouts
    and redirect trouble; a 4xx or 5xx answer is returned, not raised, so callers can decide.
    """
    answer = await post_answer(
        url, body, settings, content_type=content_type, headers=headers, resolver=resolver, ssl_context=ssl_context
    )
    return answer.status


async def post_answer(
    url: str,
    body: bytes,
    settings: Settings,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """:func:`post_bytes`, returning the status with the answer's ``Retry-After`` (for retry loops)."""
    return await _exchange_async(
        "POST",
        url,
        settings,
        headers={**(headers or {}), "Content-Type": content_type},
        content=body,
        resolver=resolver,
        ssl_context=ssl_context,
    )


async def post_json(
    url: str,
    payload: Mapping[str, Any],
    settings: Settings,
    *,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> int:
    """POST ``encode_json(payload)``; see :func:`post_bytes`."""
    return await post_bytes(
        url, encode_json(payload), settings, headers=headers, resolver=resolver, ssl_context=ssl_context
    )
