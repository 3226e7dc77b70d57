"""The hum remover's streaming edge cases (dsp.hum); detection is tested in test_denoise.py."""

from __future__ import annotations

import numpy as np

from dsp.hum import HumRemover


def test_empty_block_after_hum_was_found_passes() -> None:
    # the pipeline feeds a previous step's (possibly empty) flushed tail through the later steps
    sr = 16000
    t = np.arange(6 * sr) / sr
    hum = sum(0.05 * np.sin(2 * np.pi * 60 * k * t) / k for k in (1, 2, 3)).astype(np.float32)[np.newaxis]
    h = HumRemover(sr, 1)
    out = h.process(hum)
    assert h.report()["hum_hz"] == 60.0
    empty = h.process(np.zeros((1, 0), np.float32))
    assert empty.shape == (1, 0)
    rest = h.flush()
    assert out.shape[-1] + rest.shape[-1] == hum.shape[-1]
