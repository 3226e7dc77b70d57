"""Browser tests: Debian's chromium driven by Playwright, against a real ``hush serve`` on loopback.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``HUSH_TEST_CHROMIUM``
overrides the path). When chromium is missing or cannot start, the tests skip and say why.
Screenshots go to ``test-artifacts/screenshots`` (git-ignored; ``HUSH_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("HUSH_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("HUSH_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # module scope: Playwright's sync API runs an event loop in this thread until it stops, which
    # would break the asyncio tests that come after it
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: install it with `apt-get install -y chromium` (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"playwright is not installed ({exc}); `scripts/bootstrap dev` installs it")
    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as exc:
            pytest.skip(f"chromium at {CHROMIUM} cannot start here: {str(exc).splitlines()[0]}")
        yield b
        b.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
