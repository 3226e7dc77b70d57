"""Dialect helpers: re-exported from :mod:`app.http`, the edge layer every dialect builds on."""

from app.http import (
    Dialect,
    ErrorRenderer,
    KeysDep,
    ServiceDep,
    default_status,
    error_id,
    get_keys,
    get_service,
    json_error,
    parse_json,
    read_body,
)

__all__ = [
    "Dialect",
    "ErrorRenderer",
    "KeysDep",
    "ServiceDep",
    "default_status",
    "error_id",
    "get_keys",
    "get_service",
    "json_error",
    "parse_json",
    "read_body",
]
