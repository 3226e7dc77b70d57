"""Property-based contract run: schemathesis against a real server's OpenAPI, every dialect.

A fixed seed and a bounded example count keep it repeatable and short. Every check schemathesis
has runs (``--checks all``): no 5xx, every status and content type the server answers is
documented, every body matches its schema, a 405 lists the allowed methods, schema-invalid
requests are refused and requests without a key are refused with 401.

It runs twice: with keys configured, so the auth checks test the auth a deployed server
enforces (schemathesis sends each key where its API's security scheme says), and in open mode,
where the document marks every key optional.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._hush import HushProcess

KEY = "contract-key-0123456789"
APP_KEY, APP_SECRET = "contractapp", "contractsecret0123"

#: Operations whose schema-valid requests the server may still refuse with a 4xx the vendor
#: documents, because what decides it cannot be said in JSON Schema. ``positive_data_acceptance``
#: (ST202: "schema-valid request rejected") is off for these alone; every other check still runs.
_STATEFUL_INPUT: list[tuple[str, str, str]] = [
    # the body is the audio: a random string or byte string is rarely a decodable media file
    ("POST", "/api/v1/files", "uploaded bytes must be decodable audio/video (400/415)"),
    ("POST", "/v1/upload", "Audo answers 422 for media it cannot decode (the SDK's MalformedFile)"),
    ("POST", "/audio/generic/api/v1/sync/denoise", "content must be base64 of decodable audio (DeepAffects: 400)"),
    ("POST", "/audio/generic/api/v1/async/denoise", "content must be base64 of decodable audio (DeepAffects: 400)"),
    ("POST", "/audio/generic/api/v1/sync/vad", "content/url must be decodable audio / a fetchable URL (400)"),
    ("POST", "/audio/generic/api/v1/async/vad", "content/url must be decodable audio / a fetchable URL (400)"),
    # the body names a file id or a URL: whether it exists, or is allowed by the URL policy, is server state
    ("POST", "/api/v1/jobs", "file_id must name a stored upload; url must pass the URL policy (400)"),
    ("POST", "/v1/remove-noise", "input must be a fileId from /upload or a URL; Audo answers 422 otherwise"),
    ("POST", "/audio/api/v1/api-keys/enhance/task/create", "inputurl must pass the URL policy (AudioCleaner: 400)"),
    ("POST", "/v3/pic/ecr/batch", "file_link must pass the URL policy and size limits (Wondershare: 400)"),
]


#: schemathesis's built-in checks (all but max_response_time, which needs a limit to mean anything).
_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "object_level_authorization",
    "unsupported_method",
    "allow_header_conformance",
)


def _config() -> str:
    lines = [
        f'[auth.openapi.bearer]\nbearer = "{KEY}"',
        f'[auth.openapi.xApiKey]\napi_key = "{KEY}"',
        f'[auth.openapi.apikeyQuery]\napi_key = "{KEY}"',
        f'[auth.openapi.apiKeyHeader]\napi_key = "{KEY}"',
        f'[auth.openapi.basic]\nusername = "{APP_KEY}"\npassword = "{APP_SECRET}"',
    ]
    # Every built-in check on, named here rather than with `--checks all`: a check named on the
    # command line would override the per-operation exclusions below.
    lines.append("[checks]\n" + "\n".join(f"{name}.enabled = true" for name in _CHECKS))
    for method, path, why in _STATEFUL_INPUT:
        lines.append(
            f'# {why}\n[[operations]]\ninclude-path = "{path}"\ninclude-method = "{method}"\n'
            "checks.positive_data_acceptance.enabled = false"
        )
    return "\n\n".join(lines) + "\n"


@pytest.mark.parametrize("keyed", [True, False], ids=["keys", "open_mode"])
def test_every_contract_check_passes(tmp_path: Path, keyed: bool) -> None:
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("schemathesis is not installed; `scripts/bootstrap dev` installs it")
    cli = str(Path(sys.executable).parent / "schemathesis")
    (tmp_path / "schemathesis.toml").write_text(_config())
    # open mode: the document lists the empty security requirement too, and every route answers
    # without a key; with keys the auth checks (401 without a key, invalid keys refused) apply
    env = {"api_keys": f"{KEY},{APP_KEY}:{APP_SECRET}"} if keyed else {}
    with HushProcess(tmp_path / "data", workers=1, **env) as proc:
        run = subprocess.run(
            [
                cli,
                "run",
                f"{proc.url}/openapi.json",
                "--max-examples",
                "8",
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    assert "failures" not in run.stdout.splitlines()[-1], run.stdout[-2000:]
