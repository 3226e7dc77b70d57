"""Answers checked against the server's own OpenAPI document: what ``/docs`` promises is what is sent."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs

_VALIDATORS: dict[tuple[str, str, str], Any] = {}


def assert_documented(client: httpx.Client, method: str, path: str, answer: Any) -> None:
    """Fail unless ``answer`` (a 200 body) matches the 200 schema ``/openapi.json`` gives ``method path``."""
    key = (str(client.base_url), method.lower(), path)
    if key not in _VALIDATORS:
        doc = client.get("/openapi.json").json()
        schema = doc["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
        # a "$ref" to "#/components/..." resolves against this root, as it does in the document
        _VALIDATORS[key] = jsonschema_rs.validator_for({**schema, "components": doc.get("components", {})})
    errors = [str(err).splitlines()[0] for err in _VALIDATORS[key].iter_errors(answer)]
    assert not errors, f"{method} {path} answered outside its documented schema: {errors} in {answer}"
