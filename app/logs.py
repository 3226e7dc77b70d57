"""One log format for the whole server: Hush's own lines, uvicorn's and the worker processes'.

Every line is ``<time> <LEVEL> <logger>: <message>``, one per event, at the level ``hush serve
--log-level`` (``HUSH_LOG_LEVEL``) asks for, in the server and in its worker processes alike.
Credentials in a logged URL's query (``?apikey=``, the websocket's ``?key=``, a webhook URL's own
token) are replaced by ``***`` on every handler, whichever logger wrote the line (uvicorn logs a
websocket handshake through ``uvicorn.error``, not its access logger).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

__all__ = ["LINE_FORMAT", "RedactSecrets", "configure", "redact_query", "server_log_config"]

#: The format of every line.
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Loggers of this project: the server's (``hush...``) and its modules' (``app.fetch``, ``app.webhooks``).
_OURS = ("hush", "app")


#: Query parameters that carry credentials (DeepAffects ``apikey``, the native websocket ``key``),
#: by their decoded, lower-cased names (``%61pikey`` is ``apikey`` to the server).
_SECRET_NAMES = frozenset({"apikey", "api-key", "api_key", "key", "token", "access_token"})

#: Query parameters that hold a URL (DeepAffects ``webhook=``): its own path and query may carry a
#: token, so only its origin is kept.
_URL_NAMES = frozenset({"webhook"})

#: One query parameter of a logged URL: separator, name, value.
_PARAM = re.compile(r"([?&])([^=&?\s]+)=([^&\s]*)")

#: Control characters (a newline in a client's ``request_id`` forged a whole log line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _origin_only(value: str) -> str:
    parts = urllib.parse.urlsplit(urllib.parse.unquote(value))
    if not parts.scheme or not parts.netloc:
        return "***"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    rest = "/***" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _param(match: re.Match[str]) -> str:
    name = urllib.parse.unquote_plus(match.group(2)).strip().lower()
    if name in _SECRET_NAMES:
        return f"{match.group(1)}{match.group(2)}=***"
    if name in _URL_NAMES:
        try:
            return f"{match.group(1)}{match.group(2)}={_origin_only(match.group(3))}"
        except ValueError:  # a port that is no number: the whole value goes
            return f"{match.group(1)}{match.group(2)}=***"
    return match.group(0)


def redact_query(text: str) -> str:
    """``text`` with the value of every credential-bearing query parameter replaced by ``***``, and
    a URL given in the query cut to its origin (names compared decoded, as the server reads them)."""
    return _PARAM.sub(_param, text)


def _one_line(text: str) -> str:
    """``text`` with its control characters escaped (``\\n``, ``\\x1b``): one event, one line."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


class RedactSecrets(logging.Filter):
    """Keeps API keys passed in query strings out of the log (uvicorn logs the full path: HTTP
    requests through ``uvicorn.access``, websocket handshakes through ``uvicorn.error``), and a
    client's text on one line (its control characters escaped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_one_line(redact_query(a)) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = _one_line(redact_query(record.msg))
        return True


def server_log_config(level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``hush serve`` (uvicorn's ``log_config``).

    uvicorn's own formatters print no time (``INFO:     127.0.0.1 - "GET /x" 401``): its access
    lines, the one record of refused keys, rate limits and oversized bodies, could not be dated.
    """
    upper = level.upper()
    handler = {"formatter": "line", "filters": ["redact"], "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "app.logs.RedactSecrets"}},
        "formatters": {"line": {"format": LINE_FORMAT}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", **handler},
            "access": {"class": "logging.StreamHandler", **handler, "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["access"], "level": upper, "propagate": False},
            **{name: {"level": upper} for name in _OURS},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


def configure(level: str) -> None:
    """Log lines of a worker process (or a command) in the same format, at ``level``."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LINE_FORMAT))
        handler.addFilter(RedactSecrets())
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    for name in _OURS:
        logging.getLogger(name).setLevel(level.upper())
