"""Dialect helpers: re-exported from :mod:`app.http`, the edge layer every dialect builds on."""

from app.http import (
    Dialect,
    ErrorRenderer,
    KeysDep,
    MockScenario,
    MockState,
    ServiceDep,
    blob_response,
    default_status,
    error_id,
    finished_result,
    get_keys,
    get_service,
    json_error,
    mock_error,
    parse_json,
    read_body,
)

__all__ = [
    "Dialect",
    "ErrorRenderer",
    "KeysDep",
    "MockScenario",
    "MockState",
    "ServiceDep",
    "blob_response",
    "default_status",
    "error_id",
    "finished_result",
    "get_keys",
    "get_service",
    "json_error",
    "mock_error",
    "parse_json",
    "read_body",
]
