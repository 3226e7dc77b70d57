"""A real ``hush serve --mock`` for the mock-mode tests, and what they share.

The server is the ``hush`` command in a child process on 127.0.0.1 (:class:`MockHush`), started
with ``--mock`` exactly as the README says; its settings come from ``HUSH_*`` variables. The
tests' own loopback servers (the customer's bucket, the webhook receiver) are reachable because
mock mode lets links and webhooks go to loopback.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from tests._hush import HushProcess
from tests.signals import make_white

__all__ = ["HOLD_S", "SECRET", "SR", "MockHush", "journal", "samples", "start", "wav_bytes"]

SR = 16_000
#: Webhook secret of the mock server (dev mode: any value is accepted).
SECRET = "mock-test-webhook-secret"
#: Length of the mock's scripted phases and webhook delays in these tests (HUSH_MOCK_HOLD_S).
HOLD_S = 0.6


class MockHush(HushProcess):
    """``hush serve --mock`` in a child process, keeping its jobs where mock mode does by default
    (a fresh tmpfs directory, deleted at exit); ``data_dir`` only holds the server's log."""

    def __init__(self, data_dir: Path, **env: Any) -> None:
        super().__init__(data_dir, **env)
        del self.env["HUSH_DATA_DIR"]

    def _spawn(self, out: Any) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--mock", "--host", "127.0.0.1", "--port", str(self.port)]
        return subprocess.Popen(
            [*cmd, "--log-level", "warning"], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start(data_dir: Path, **env: Any) -> MockHush:
    """Start the mock with the tests' settings (``env`` adds or overrides ``HUSH_*`` settings)."""
    settings = {"webhook_secret": SECRET, "mock_hold_s": HOLD_S, "mock_seed": 1234, "webhook_backoff_s": 0.1}
    return MockHush(data_dir, **{**settings, **env}).start()


def wav_bytes(seed: int = 5, seconds: float = 1.0) -> bytes:
    """White noise at -30 dBFS as a 16-bit WAV file."""
    x = make_white(np.random.default_rng(seed), SR, -30.0)
    x = np.resize(x, int(SR * seconds))
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def samples(data: bytes) -> np.ndarray:
    """The samples of an audio file's bytes, as 16-bit integers (exact for PCM16 WAV)."""
    x, _ = sf.read(io.BytesIO(data), dtype="int16")
    return np.asarray(x)


def journal(client: httpx.Client) -> list[dict[str, Any]]:
    """The mock's request journal."""
    r = client.get("/_mock/requests")
    assert r.status_code == 200, r.text
    return list(r.json())
