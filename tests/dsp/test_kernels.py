"""The compiled recursions of the noise reducer and the click repairer match their numpy forms."""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest
from scipy import linalg, signal, special

from dsp._kernels import (
    COMPILED,
    capped_avg,
    capped_avg_numpy,
    dd_snr_numpy,
    exp1,
    framewise_fir,
    framewise_fir_numpy,
    gain_rule,
    gain_rule_numpy,
    levinson,
    levinson_numpy,
    smooth,
    smooth_numpy,
    spp_noise,
    spp_noise_numpy,
    two_step_snr,
)


def test_the_compiled_recursions_are_built() -> None:
    """``pip install`` builds dsp._recursions wherever a C compiler is present."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:  # the install skipped the optional extension: numpy forms run
        pytest.skip(f"no C compiler ({cc}) on this machine; the numpy recursions are in use")
    assert COMPILED


#: Without the extension ``dd_snr`` *is* ``dd_snr_numpy``: comparing them would test nothing.
needs_compiled = pytest.mark.skipif(not COMPILED, reason="dsp._recursions is not built; nothing to compare")


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


def test_capped_avg_numpy_follows_the_recursion_and_its_cap() -> None:
    a = np.full((3, 2), 0.5, np.float32)
    b = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32)
    cap = np.array([[10.0, 1.2], [10.0, 1.2], [10.0, 0.5]], np.float32)
    out = capped_avg_numpy(a, b, cap, np.array([2.0, 2.0], np.float32))
    # uncapped: 0.5*2+1 = 2, 0.5*2+1 = 2, 2; capped: min(2, 1.2), min(0.6+1, 1.2), min(1.6, 0.5)
    np.testing.assert_allclose(out, [[2.0, 1.2], [2.0, 1.2], [2.0, 0.5]])


@needs_compiled
def test_capped_avg_compiled_matches_numpy(rng: np.random.Generator) -> None:
    p = rng.exponential(1.0, (50, 17)).astype(np.float32)
    a = rng.uniform(0.85, 1.0, (50, 17)).astype(np.float32)
    cap = rng.uniform(0.5, 3.0, (50, 17)).astype(np.float32)
    y = np.ones(17, np.float32)
    out_c = capped_avg(a, (1 - a) * p, cap, y)
    out_np = capped_avg_numpy(a, (1 - a) * p, cap, y)
    np.testing.assert_array_equal(out_c, out_np)  # the same float32 operations in the same order
    assert out_c.dtype == np.float32
    assert bool(np.all(out_c <= cap))
    assert bool(np.any(out_c == cap))  # the cap bit somewhere, so the comparison covers it
    np.testing.assert_array_equal(y, 1.0)  # the start is read, not written
    # the recursion carries: two halves give the same as one batch
    first = capped_avg(a[:20], ((1 - a) * p)[:20], cap[:20], y)
    second = capped_avg(a[20:], ((1 - a) * p)[20:], cap[20:], first[-1])
    np.testing.assert_array_equal(np.concatenate([first, second]), out_c)


def test_smooth_numpy_is_the_first_order_average() -> None:
    a = np.array([0.0, 0.5, 0.5], np.float32)
    x = np.array([[4.0], [2.0], [0.0]], np.float32)
    out = smooth_numpy(a, x, np.array([100.0], np.float32))
    # a = 0 takes the frame as is (the warm-up's first frame); then halfway each time
    np.testing.assert_allclose(out, [[4.0], [3.0], [1.5]])


@needs_compiled
def test_smooth_compiled_matches_numpy(rng: np.random.Generator) -> None:
    x = rng.exponential(1.0, (60, 2, 19)).astype(np.float32)
    a = np.minimum(np.float32(0.9), (np.arange(60) / np.arange(1, 61))).astype(np.float32)  # a warm-up
    y = rng.uniform(0, 1, (2, 19)).astype(np.float32)
    out_c = smooth(a, x, y)
    out_np = smooth_numpy(a, x, y)
    assert out_c.shape == x.shape
    assert out_c.dtype == np.float32
    np.testing.assert_allclose(out_c, out_np, rtol=1e-6)
    # the recursion carries: two batches give the same as one
    first = smooth(a[:25], x[:25], y)
    np.testing.assert_array_equal(np.concatenate([first, smooth(a[25:], x[25:], first[-1])]), out_c)


def test_exp1_follows_scipy_on_both_branches() -> None:
    v = np.geomspace(1e-6, 80.0, 400).astype(np.float32)
    got = exp1(v, np.exp(-np.minimum(v, np.float32(60))))
    ref = special.exp1(v.astype(np.float64))
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=5e-5)


def test_two_step_snr_follows_the_current_frame_within_its_cap() -> None:
    xi_dd = np.array([[10.0, 0.1, 1.0]], np.float32)
    gamma = np.array([[1.0, 50.0, 0.0]], np.float32)
    out = two_step_snr(xi_dd, gamma, 0.003, 1.5)
    # (10/11)^2 * 1 = 0.826 (an offset: lower); 0.1's refinement 0.41 capped at 0.15; 0 floored
    np.testing.assert_allclose(out, [[0.8264463, 0.15, 0.003]], rtol=1e-6)
    assert two_step_snr(xi_dd, gamma, 0.003, 0.0) is xi_dd  # cap 0: the second step is off


def _gain_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Power, noise, absence probability and per-frame weights of 50 frames x 33 bins, speech in a stretch."""
    lam = rng.uniform(0.5, 2.0, (50, 33)).astype(np.float32)
    p = (lam * rng.exponential(1.0, (50, 33))).astype(np.float32)
    p[15:30, 3:12] *= 300  # a word
    q = rng.uniform(0.0, 0.998, (50, 33)).astype(np.float32)
    alpha_dd = np.linspace(0.92, 0.98, 50).astype(np.float32)
    return p, lam, q, alpha_dd


@pytest.mark.parametrize("cap", [1.5, 0.0])
def test_gain_rule_numpy_is_the_om_lsa_rule(rng: np.random.Generator, cap: float) -> None:
    p, lam, q, alpha_dd = _gain_inputs(rng)
    a_prev = np.zeros(33, np.float32)
    gamma, log_g_h1, spp = gain_rule_numpy(p, lam, q, alpha_dd, a_prev, 10**-2.5, cap)
    np.testing.assert_allclose(gamma, p / lam, rtol=1e-6)
    # the same steps written out: decision-directed, two-step, LSA gain, presence
    xi = dd_snr_numpy(
        (1 - alpha_dd[:, None]) * np.maximum(gamma - 1, np.float32(0)),
        alpha_dd[:, None] * gamma,
        np.zeros(33, np.float32),
        10**-2.5,
    )
    xi = two_step_snr(xi, gamma, 10**-2.5, cap).astype(np.float64)
    v = np.maximum(xi / (1 + xi) * gamma, 1e-6)
    np.testing.assert_allclose(log_g_h1, np.minimum(np.log(xi / (1 + xi)) + special.exp1(v) / 2, 0), atol=2e-4)
    np.testing.assert_allclose(spp, 1 / (1 + q / (1 - q) * (1 + xi) * np.exp(-v)), rtol=1e-4, atol=1e-6)
    # the word is kept (presence near 1, gain near 0 dB), the noise not
    assert float(np.median(spp[20:30, 3:12])) > 0.99
    assert float(np.median(log_g_h1[20:30, 3:12])) > -0.05
    assert float(np.median(log_g_h1[:15])) < -1.0


@needs_compiled
@pytest.mark.parametrize("cap", [1.5, 0.0])
def test_gain_rule_compiled_matches_numpy(rng: np.random.Generator, cap: float) -> None:
    p, lam, q, alpha_dd = _gain_inputs(rng)
    a_c, a_np = np.zeros(33, np.float32), np.zeros(33, np.float32)
    got = gain_rule(p, lam, q, alpha_dd, a_c, 10**-2.5, cap)
    ref = gain_rule_numpy(p, lam, q, alpha_dd, a_np, 10**-2.5, cap)
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == np.float32
        assert g.shape == p.shape
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(a_c, a_np, rtol=2e-5)
    # the decision-directed term carries: two batches give the same as one
    a_split = np.zeros(33, np.float32)
    first = gain_rule(p[:20], lam[:20], q[:20], alpha_dd[:20], a_split, 10**-2.5, cap)
    second = gain_rule(p[20:], lam[20:], q[20:], alpha_dd[20:], a_split, 10**-2.5, cap)
    for g, a, b in zip(got, first, second, strict=True):
        np.testing.assert_array_equal(np.concatenate([a, b]), g)


def _lags(rng: np.random.Generator, rows: int, p: int) -> np.ndarray:
    """Autocorrelation lags 0..p of ``rows`` AR(4) signals of 400 samples, one row of them all zero."""
    r = np.zeros((rows, p + 1))
    for k in range(1, rows):
        x = signal.lfilter([1.0], [1.0, -1.2, 0.8, -0.3, 0.1], rng.standard_normal(400))
        r[k] = [np.dot(x[j:], x[: x.size - j]) for j in range(p + 1)]
    return r


def test_levinson_numpy_solves_the_yule_walker_equations(rng: np.random.Generator) -> None:
    r = _lags(rng, 6, 12)
    a = levinson_numpy(r)
    assert a.shape == (6, 12)
    assert not np.any(a[0])  # a row with no energy: zero coefficients
    for k in range(1, 6):
        rk = r[k].copy()
        rk[0] *= 1.0 + 1e-6  # the same white-noise correction
        np.testing.assert_allclose(a[k], linalg.solve_toeplitz(rk[:12], rk[1:]), rtol=1e-8, atol=1e-10)


@needs_compiled
def test_levinson_compiled_matches_numpy(rng: np.random.Generator) -> None:
    for p in (1, 6, 40):
        r = _lags(rng, 9, p)
        a_c = levinson(r)
        assert a_c.dtype == np.float64
        np.testing.assert_allclose(a_c, levinson_numpy(r), rtol=1e-10, atol=1e-13)
    from dsp import _recursions  # built: needs_compiled

    with pytest.raises(TypeError, match="float64"):
        _recursions.levinson(np.zeros((2, 5), np.float32), np.zeros((2, 4)), 2, 4)


@needs_compiled
def test_the_noise_reducer_gives_the_same_audio_with_the_numpy_forms(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the extension is not built, the whole denoiser runs on the numpy forms: same audio."""
    import dsp._kernels as kernels
    from dsp.denoise import NoiseReducer
    from dsp.stream import run_processor
    from tests.signals import make_speech_like, make_white, mix_at_snr, si_sdr_db

    sr = 16000
    talk, _ = make_speech_like(rng, sr, 4.0, lead_silence_s=0.5, pause_s=0.3)
    x = mix_at_snr(talk, make_white(rng, talk.size), 5.0).astype(np.float32)
    compiled = run_processor(NoiseReducer(sr, 1), x[None, :])[0]
    monkeypatch.setattr(kernels, "_ext", None)
    numpy_only = run_processor(NoiseReducer(sr, 1), x[None, :])[0]
    assert si_sdr_db(talk, compiled) > si_sdr_db(talk, x) + 3.0  # it did reduce the noise
    assert not np.array_equal(numpy_only, compiled)  # the numpy forms did run (other rounding)
    # float32 rounding apart, the same output (measured: 147 dB)
    assert si_sdr_db(numpy_only, compiled) > 100.0


def test_framewise_fir_numpy_filters_each_frame_with_its_own_taps(rng: np.random.Generator) -> None:
    f, taps, k_n = 7, 3, 4
    ext = rng.standard_normal(k_n * f + taps - 1)
    c = rng.standard_normal((k_n, taps))
    y = framewise_fir_numpy(ext, c, f)
    assert y.shape == (k_n, f)
    for k in range(k_n):  # frame k: ext from k f on, correlated with its own taps
        np.testing.assert_allclose(y[k], np.correlate(ext[k * f : (k + 1) * f + taps - 1], c[k], "valid"))


@needs_compiled
def test_framewise_fir_compiled_matches_numpy(rng: np.random.Generator) -> None:
    # tap counts around the compiled loop's blocks of four, and the click repairer's 41 and 81
    for f, taps in ((1, 1), (5, 2), (9, 4), (9, 5), (13, 8), (320, 21), (960, 41), (960, 81)):
        k_n = 6
        ext = rng.standard_normal(k_n * f + taps - 1 + 3)  # longer than needed: the rest is not read
        c = rng.standard_normal((k_n, taps))
        y = framewise_fir(ext, c, f)
        assert y.dtype == np.float64
        assert y.shape == (k_n, f)
        np.testing.assert_allclose(y, framewise_fir_numpy(ext, c, f), rtol=1e-12, atol=1e-12)
    from dsp import _recursions  # built: needs_compiled

    with pytest.raises(ValueError, match="ext holds"):
        _recursions.framewise_fir(np.zeros(9), np.zeros((2, 3)), np.zeros(8), 2, 4, 3)
    with pytest.raises(TypeError, match="float64"):
        _recursions.framewise_fir(np.zeros(10, np.float32), np.zeros((2, 3)), np.zeros(8), 2, 4, 3)


@needs_compiled
@pytest.mark.parametrize("sr", [16000, 48000])
def test_the_click_repairer_gives_the_same_audio_with_the_numpy_forms(
    sr: int, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the extension is not built, the frame filters run as numpy (by FFT above 64 taps)."""
    import dsp._kernels as kernels
    from dsp.declick import ClickRepairer
    from dsp.stream import run_processor

    t = np.arange(2 * sr) / sr
    # a chord (the tonal pass's longer models, 81 taps at 48 kHz) with spikes every 0.1 s
    clean = sum(0.08 / (k + 1) * np.sin(2 * np.pi * fk * t + k) for k, fk in enumerate((220.0, 277.2, 330.0, 440.0)))
    clean = (clean + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)
    x = clean.copy()
    onsets = np.arange(int(0.1 * sr), x.size - int(0.1 * sr), int(0.1 * sr))
    x[onsets] += np.float32(0.3)

    def repaired() -> tuple[np.ndarray, list[float]]:
        proc = ClickRepairer(sr, 1, keep_events=True)
        return run_processor(proc, x[None, :])[0], [e.onset_s for e in proc.events]

    compiled, found = repaired()
    calls = []
    numpy_form = kernels.framewise_fir_numpy
    monkeypatch.setattr(kernels, "framewise_fir_numpy", lambda *a: calls.append(a[1].shape[1]) or numpy_form(*a))
    monkeypatch.setattr(kernels, "_ext", None)
    monkeypatch.setattr(kernels, "COMPILED", False)
    numpy_only, found_numpy = repaired()
    assert len(found) >= onsets.size - 1  # it did find the spikes
    # the numpy forms did run (the direct one; longer filters go by FFT there)
    assert calls
    assert max(calls) <= 64
    assert found_numpy == found
    # float64 rounding apart, the same float32 output
    np.testing.assert_allclose(numpy_only, compiled, rtol=0, atol=1e-6)
