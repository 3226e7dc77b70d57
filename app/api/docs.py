"""Offline API docs: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with assets from the package.

FastAPI's defaults load both from a CDN, which leaves the pages blank on an offline server. The
OpenAPI document also declares every dialect's key style as a security scheme, so Swagger UI's
Authorize button sends the key where each API expects it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

__all__ = ["SECURITY_SCHEMES", "install_docs"]

#: Every credential style a client of Hush may use (one key store behind them all).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "native API: `Authorization: Bearer KEY`"},
    "xApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "native API and Audo AI: `x-api-key: KEY`",
    },
    "apikeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "apikey",
        "description": "DeepAffects: `?apikey=KEY`",
    },
    "apiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "api-key",
        "description": "AudioCleaner.ai: `api-key: KEY`",
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "Wondershare: HTTP Basic `appkey:appsecret` (one HUSH_API_KEYS entry)",
    },
}

#: Path prefix -> the schemes its routes accept (first match wins).
_ROUTE_SECURITY: list[tuple[str, list[dict[str, list[str]]]]] = [
    ("/api/v1", [{"bearer": []}, {"xApiKey": []}]),
    ("/audio/generic/api/v1", [{"apikeyQuery": []}]),
    ("/audio/api/v1/api-keys", [{"apiKeyHeader": []}]),
    ("/v3/pic", [{"basic": []}]),
    ("/v1/dl", []),  # Audo's download link: the SDK fetches it without a key
    ("/v1", [{"xApiKey": []}]),
]


def _security_for(path: str) -> list[dict[str, list[str]]] | None:
    for prefix, security in _ROUTE_SECURITY:
        if path == prefix or path.startswith(prefix + "/"):
            return security
    return None


_OPEN_NOTE = (
    "\n\nThis server runs in open mode (no API key configured, listening on loopback only): every"
    " route answers without a key, so each operation's security also lists the empty requirement."
)

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _refers_to(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_refers_to(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to(v, ref) for v in node)
    return False


def _fix_error_responses(path: str, op: dict[str, Any]) -> None:
    """Make an operation's error responses say what the server really sends.

    FastAPI adds a 422 with its list-of-errors body to every route with parameters, but no route
    here answers that: request validation errors are rendered by the app's handler in the
    envelope and with the status of the API the path belongs to (each dialect declares its own).
    So the default 422 goes. Native errors are ``application/problem+json`` (RFC 9457), not
    ``application/json``.
    """
    for param in op.get("parameters", []):
        schema = param.get("schema", {})
        if schema.pop("x-hush-required", False):  # app.http.REQUIRED_QUERY: the route requires it
            param["required"] = True
            schema.pop("default", None)
            schema["anyOf"] = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
            if len(schema["anyOf"]) == 1:
                schema.update(schema.pop("anyOf")[0])
    responses = op.get("responses", {})
    if _refers_to(responses.get("422"), _FASTAPI_422):
        del responses["422"]
    if not path.startswith("/api/v1"):
        return
    responses.setdefault("400", {"description": "invalid request parameters or body"})
    for status, response in responses.items():
        if status[:1] not in "45":
            continue
        content = response.setdefault("content", {})
        schema = content.pop("application/json", {}).get("schema", _PROBLEM)
        content["application/problem+json"] = {"schema": schema}


#: Routes whose 200 answer is the audio itself (FastAPI declares a FileResponse without content).
_AUDIO_PATHS = ("/api/v1/jobs/{job_id}/result", "/api/v1/jobs/{job_id}/input")
_AUDIO_ANSWER = {
    "audio/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}


_RANGE_PARAM = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "One byte range (`bytes=0-99`, `bytes=1000-`, `bytes=-500`) to download that part "
    "alone (206): resumes a download (`curl -C -`) and lets a player seek. Several ranges get the whole "
    "file (200), and so does an `If-Range` other than the file's `ETag`.",
    "schema": {"type": "string", "example": "bytes=0-1023"},
}
_CONTENT_RANGE = {
    "description": "the part sent and the file's length, `bytes 0-1023/52000`",
    "schema": {"type": "string"},
}


def _ranged_audio(op: dict[str, Any]) -> None:
    """An audio download route's answers: the file (200), one byte range of it (206), or a range
    that cannot be met (416, no body; ``Content-Range: bytes */<length>``)."""
    responses = op["responses"]
    responses["200"]["content"] = copy.deepcopy(_AUDIO_ANSWER)
    etag = {"description": "the file's strong entity tag, for `If-Range`", "schema": {"type": "string"}}
    responses["200"]["headers"] = {
        "Accept-Ranges": {"description": "`bytes`", "schema": {"type": "string"}},
        "ETag": etag,
    }
    responses["206"] = {
        "description": "the byte range asked for in `Range`",
        "headers": {"Content-Range": _CONTENT_RANGE, "ETag": etag},
        "content": copy.deepcopy(_AUDIO_ANSWER),
    }
    responses["416"] = {
        "description": "the range starts past the end of the file; `Content-Range: bytes */<length>` gives its length",
        "headers": {"Content-Range": _CONTENT_RANGE},
    }
    op["responses"] = dict(sorted(responses.items()))
    op.setdefault("parameters", []).append(copy.deepcopy(_RANGE_PARAM))


def _binary_uploads(schemas: dict[str, Any]) -> None:
    """Mark multipart file fields ``format: binary`` as well as OpenAPI 3.1's ``contentMediaType``:
    code generators (openapi-python-client) read only the former, and sent the file as a text field."""
    for schema in schemas.values():
        for prop in (schema.get("properties") or {}).values():
            if prop.get("type") == "string" and prop.get("contentMediaType") == "application/octet-stream":
                prop.setdefault("format", "binary")


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from packaged assets; add security schemes to the schema.

    The app must be built with ``docs_url=None, redoc_url=None``.
    """

    open_variant: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        schema = full_schema()
        keys = getattr(app.state, "keys", None)
        if keys is None or not keys.open:
            return schema
        # Open mode (no key configured, loopback only): every route answers without a key, so the
        # document says so; the security schemes stay listed as what a keyed server requires.
        if not open_variant:
            variant = copy.deepcopy(schema)
            variant["info"]["description"] += _OPEN_NOTE
            for ops in variant.get("paths", {}).values():
                for op in ops.values():
                    if isinstance(op, dict) and "security" in op:
                        op["security"] = [*op["security"], {}]
            open_variant.update(variant)
        return open_variant

    def full_schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, ops in schema.get("paths", {}).items():
            security = _security_for(path)
            for op in ops.values():
                if not isinstance(op, dict):
                    continue
                if security is not None:
                    op.setdefault("security", security)
                _fix_error_responses(path, op)
                if path in _AUDIO_PATHS and "200" in op.get("responses", {}):
                    _ranged_audio(op)
        _binary_uploads(schema.get("components", {}).get("schemas", {}))
        if not any(_refers_to(op, _FASTAPI_422) for ops in schema.get("paths", {}).values() for op in ops.values()):
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            redoc_js_url="/static/vendor/redoc.standalone.js",
            redoc_favicon_url="/static/favicon.svg",
            with_google_fonts=False,
        )
