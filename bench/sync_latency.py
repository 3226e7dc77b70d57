"""Latency of DeepAffects synchronous denoise against a running Hush.

    hush serve --port 8777 &            # e.g. HUSH_WORKERS=2
    python bench/sync_latency.py --url http://127.0.0.1:8777

Posts noisy speech of a few lengths, rates and channel counts to /audio/generic/api/v1/sync/denoise
and prints the request size and the time to the full answer (the JS SDK gives up after 60 s).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.signals import make_speech_like, make_white, mix_at_snr

CASES = ((3.0, 16000, 1), (5.0, 44100, 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8777")
    ap.add_argument("--apikey", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    query = f"?apikey={args.apikey}" if args.apikey else ""
    print("| input | request | answered in |\n|---|---|---|")
    for minutes, sr, channels in CASES:
        clean, _ = make_speech_like(rng, sr, 60.0 * minutes)
        x = mix_at_snr(clean, make_white(rng, clean.size), 5.0)
        data = np.stack([x] * channels).T if channels > 1 else x
        buf = io.BytesIO()
        sf.write(buf, data, sr, format="WAV", subtype="PCM_16")
        body = {"content": base64.b64encode(buf.getvalue()).decode(), "sampleRate": sr, "encoding": "Wave"}
        req = urllib.request.Request(
            f"{args.url}/audio/generic/api/v1/sync/denoise{query}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=120) as r:
            out = json.loads(r.read())
        elapsed = time.monotonic() - t0
        y, y_sr = sf.read(io.BytesIO(base64.b64decode(out["content"])))
        assert y_sr == sr
        assert y.shape[0] == data.shape[0]
        size_mb = len(json.dumps(body)) / 1e6
        print(f"| {minutes:g} min, {sr} Hz, {channels} ch | {size_mb:.1f} MB | {elapsed:.1f} s |")


if __name__ == "__main__":
    main()
