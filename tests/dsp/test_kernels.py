"""The compiled recursions of the noise reducer match their numpy forms."""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest

from dsp._kernels import COMPILED, dd_snr, dd_snr_numpy, spp_noise, spp_noise_numpy


def test_the_compiled_recursions_are_built() -> None:
    """``pip install`` builds dsp._recursions wherever a C compiler is present."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:  # the install skipped the optional extension: numpy forms run
        pytest.skip(f"no C compiler ({cc}) on this machine; the numpy recursions are in use")
    assert COMPILED


#: Without the extension ``dd_snr`` *is* ``dd_snr_numpy``: comparing them would test nothing.
needs_compiled = pytest.mark.skipif(not COMPILED, reason="dsp._recursions is not built; nothing to compare")


@needs_compiled
def test_dd_snr_compiled_matches_numpy(rng: np.random.Generator) -> None:
    gamma = rng.exponential(1.0, (40, 33)).astype(np.float32) * np.float32(3.0)
    c = np.float32(0.08) * np.maximum(gamma - 1, np.float32(0))
    ag = np.float32(0.92) * gamma
    start = rng.uniform(0, 2, 33).astype(np.float32)
    a_c, a_np = start.copy(), start.copy()
    xi_c = dd_snr(c, ag, a_c, 10**-2.5)
    xi_np = dd_snr_numpy(c, ag, a_np, 10**-2.5)
    np.testing.assert_allclose(xi_c, xi_np, rtol=1e-6)
    np.testing.assert_allclose(a_c, a_np, rtol=1e-6)
    assert xi_c.dtype == np.float32
    assert float(xi_c.min()) >= np.float32(10**-2.5)
    # the recursion carries: the batch in two halves gives the same as in one
    a_split = start.copy()
    halves = np.concatenate([dd_snr(c[:17], ag[:17], a_split, 10**-2.5), dd_snr(c[17:], ag[17:], a_split, 10**-2.5)])
    np.testing.assert_array_equal(halves, xi_c)


@needs_compiled
def test_spp_noise_compiled_matches_numpy(rng: np.random.Generator) -> None:
    xi = 10**1.5
    pairs = rng.exponential(1.0, (30, 21)).astype(np.float32)
    pairs[10:20, :5] *= 50  # a stretch of speech in the low bins
    pk = pairs * np.float32(-xi / (1 + xi))
    warm = np.zeros(30, np.float32)
    warm[:4] = 1 / np.arange(1, 5)
    lam = np.ones(21, np.float32)
    qb_c, qb_np = np.ones(21, np.float32), np.ones(21, np.float32)
    args = (np.float32(1 + xi), np.float32(1 - 0.64), np.float32(0.01))
    est_c = spp_noise(pairs, pk, lam, qb_c, warm, *(float(a) for a in args))
    est_np = spp_noise_numpy(pairs, pk, lam, qb_np, warm, *args)
    np.testing.assert_allclose(est_c, est_np, rtol=1e-5)
    np.testing.assert_allclose(qb_c, qb_np, rtol=1e-5)
    assert est_c.shape == (31, 21)
    np.testing.assert_array_equal(est_c[0], lam)
    # warm-up is a running mean of the pairs
    np.testing.assert_allclose(est_c[4], pairs[:4].mean(axis=0), rtol=1e-5)
    # the estimate holds through the speech stretch instead of following it
    assert float(np.max(est_c[20, :5])) < 5.0
