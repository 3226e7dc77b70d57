"""One key store; each dialect's credential style resolves to it.

``HUSH_API_KEYS`` is a comma list. Every entry is a key valid for every dialect (DeepAffects
``apikey`` query, Audo ``x-api-key`` header, AudioCleaner ``api-key`` header, native bearer
token); an entry ``appkey:appsecret`` is also a valid HTTP Basic pair (Wondershare). With no key
configured the server is open — allowed only while it listens on a loopback address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from dataclasses import dataclass

from app.errors import AuthError, KeyDisabledError, KeyNotActivatedError, RateLimitedError
from app.jobs.store import JobStore
from app.settings import Settings, is_loopback_host

__all__ = ["KeyStore", "Principal", "check_bind", "hash_key", "new_key"]


@dataclass(frozen=True)
class Principal:
    """Who made a request. ``owner`` is a stable, non-secret id derived from the key."""

    owner: str
    key: str | None = None
    rpm: int | None = None
    """The requests per minute this key may make (None: no limit), for a poll interval that fits it."""


ANONYMOUS = Principal(owner="")
#: ``WWW-Authenticate`` of a 401 to an HTTP Basic route (RFC 7617).
BASIC_CHALLENGE = 'Basic realm="hush", charset="UTF-8"'


def hash_key(key: str) -> str:
    """How a key is stored: its SHA-256, hex (keys are long random strings, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _owner_of(key: str) -> str:
    return hash_key(key)[:16]


def new_key() -> tuple[str, str, str]:
    """A fresh random key: ``(key, key_hash, owner)``. The key itself is shown once, never stored."""
    key = "hush_" + secrets.token_urlsafe(24)
    return key, hash_key(key), _owner_of(key)


class KeyStore:
    """Checks keys and Basic pairs, and applies the per-key rate limit.

    Keys come from two places: ``HUSH_API_KEYS`` (bootstrap keys: unlimited, always active) and
    the accounts in the job database (``hush keys``), stored as SHA-256 hashes with a state,
    credit minutes and limits.
    """

    def __init__(self, settings: Settings, store: JobStore | None = None) -> None:
        self._store = store
        self._has_accounts: tuple[float, bool] = (0.0, False)
        self._keys = frozenset(settings.api_keys)
        self._basic: dict[str, str] = {}
        self._plain = tuple(k for k in settings.api_keys if ":" not in k)
        for entry in settings.api_keys:
            if ":" in entry:
                app_key, _, secret = entry.partition(":")
                self._basic[app_key] = secret
        self._limit = settings.rate_limit_per_minute
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """True when no keys are configured anywhere (loopback-only development mode)."""
        return not self._keys and not self._accounts_exist()

    def _accounts_exist(self) -> bool:
        if self._store is None:
            return False
        checked, exists = self._has_accounts
        if time.monotonic() - checked > 1.0:  # cheap, but not on every request
            exists = self._store.has_accounts()
            self._has_accounts = (time.monotonic(), exists)
        return exists

    def check_key(
        self, key: str | None, *, how: str = "the key where this API expects it (see the docs)", rate: bool = True
    ) -> Principal:
        """Resolve an API key; raises AuthError (or its disabled / not-activated forms) otherwise.

        ``how`` completes "send ..." in the error when no key came: where this API takes it.
        ``rate=False`` neither counts the request toward the key's per-minute limit nor refuses it
        (a route whose client cannot repeat a refused request, see the Audo upload).
        """
        if self.open:
            return ANONYMOUS
        if not key:
            raise AuthError("an API key is required", hint=f"send {how}")
        for valid in self._keys:
            if hmac.compare_digest(key.encode(), valid.encode()):
                principal = Principal(owner=_owner_of(valid), key=valid, rpm=self._limit or None)
                if rate:
                    self._rate(principal)
                return principal
        account = self._store.key_by_hash(hash_key(key)) if self._store is not None else None
        if account is None:
            raise AuthError("the API key is not valid")
        if account["state"] == "disabled":
            raise KeyDisabledError("this API key is disabled", hint="ask the operator to enable it (hush keys enable)")
        if account["state"] != "active":
            raise KeyNotActivatedError(
                "this API key is not activated yet", hint="ask the operator to activate it (hush keys enable)"
            )
        principal = Principal(owner=account["owner"], key=None, rpm=account["rpm"] or self._limit or None)
        if rate:
            self._rate(principal, limit=account["rpm"])
        return principal

    def check_basic(self, authorization: str | None) -> Principal:
        """Resolve an ``Authorization: Basic base64(appkey:appsecret)`` header."""
        if self.open:
            return ANONYMOUS
        if not authorization or not authorization.lower().startswith("basic "):
            raise AuthError(
                "HTTP Basic authorization is required",
                hint="Authorization: Basic base64(appkey:appsecret)",
                challenge=BASIC_CHALLENGE,
            )
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError(
                "the Basic authorization header is not valid base64 of appkey:appsecret", challenge=BASIC_CHALLENGE
            ) from None
        app_key, _, secret = decoded.partition(":")
        expected = self._basic.get(app_key)
        if (
            expected is None
            and ":" not in secret
            and any(hmac.compare_digest(secret.encode(), k.encode()) for k in self._plain)
        ):
            return self.check_key(secret)  # a plain HUSH_API_KEYS entry: any appkey, the key as appsecret
        if expected is None and self._store is not None and self._store.key_by_hash(hash_key(secret)) is not None:
            return self.check_key(secret)  # a key made with `hush keys`: any appkey, the key as appsecret
        if expected is None or not hmac.compare_digest(secret.encode(), expected.encode()):
            raise AuthError("the appkey/appsecret pair is not valid", challenge=BASIC_CHALLENGE)
        principal = Principal(owner=_owner_of(f"{app_key}:{expected}"), key=app_key, rpm=self._limit or None)
        self._rate(principal)
        return principal

    def _rate(self, principal: Principal, limit: int | None = None) -> None:
        limit = limit or self._limit
        if not limit:
            return
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(principal.owner, []) if now - t < 60.0]
            if len(hits) >= limit:
                retry = max(1, math.ceil(60.0 - (now - hits[0])))
                self._hits[principal.owner] = hits
                raise RateLimitedError(f"more than {limit} requests per minute for this key", retry_after_s=retry)
            hits.append(now)
            self._hits[principal.owner] = hits


#: Values no production secret may have (compared case-insensitively).
PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "test", "key", "password", "example", "your-key"})
#: Shortest webhook secret accepted with ``HUSH_ENV=prod`` (128 bits as hex).
MIN_PROD_SECRET_CHARS = 32


def check_bind(settings: Settings, host: str, *, accounts: bool = False) -> str | None:
    """Why the server must not start on ``host`` with these settings, or None when it may.

    ``accounts``: the job database holds keys (``hush keys add``), which close the server as
    ``HUSH_API_KEYS`` does."""
    if settings.env == "prod" and settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        if secret.lower() in PLACEHOLDERS or len(secret) < MIN_PROD_SECRET_CHARS:
            return (
                f"HUSH_WEBHOOK_SECRET is a placeholder or shorter than {MIN_PROD_SECRET_CHARS} characters; "
                "for HUSH_ENV=prod set a random one (e.g. `openssl rand -hex 32`) or leave it unset"
            )
    if settings.api_keys:
        weak = [k for k in settings.api_keys if k.lower() in PLACEHOLDERS or k.split(":")[-1].lower() in PLACEHOLDERS]
        if weak and settings.env == "prod":
            return f"HUSH_API_KEYS holds a placeholder key ({weak[0]!r}); set real keys for HUSH_ENV=prod"
        return None
    if is_loopback_host(host) or accounts:
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone who can reach it could use it. "
        "Set HUSH_API_KEYS=key1,key2 (an entry appkey:appsecret also works as HTTP Basic) or add keys "
        "with `hush keys add`, or bind to 127.0.0.1 for local use."
    )
