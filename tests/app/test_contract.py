"""Property-based contract run: schemathesis against a real server's OpenAPI, every dialect.

A fixed seed and a bounded example count keep it repeatable and short. The check here is that no
generated request, however malformed, gets a 5xx; the run also exercises stateful links.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests._hush import HushProcess


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("schemathesis is not installed; `scripts/bootstrap dev` installs it")
    cli = str(Path(sys.executable).parent / "schemathesis")
    with HushProcess(tmp_path / "data", workers=1) as proc:  # open mode on loopback: every route reachable
        run = subprocess.run(
            [
                cli,
                "run",
                f"{proc.url}/openapi.json",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--checks",
                "not_a_server_error",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
