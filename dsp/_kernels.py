"""Per-frame recursions of the noise reducer and the click repairer: compiled when built, numpy otherwise.

The decision-directed a-priori SNR, the speech-presence-probability noise update and the capped
noise average depend on their own previous output non-linearly, so numpy cannot vectorise them
along time. The numpy forms here loop over frames with a few ufunc calls each; the C extension
``dsp._recursions`` (built with the package; see ``dsp/_recursions.c``) runs the same float32
arithmetic in one compiled loop, about a third of the noise reducer's time saved at 16 kHz. The
decision-directed SNR runs there inside the whole OM-LSA gain rule, from the a-posteriori SNR to
the presence probability (a dozen element-wise steps, three transcendental functions), and the
first-order averages of the noise tracker (one smoothing factor per frame) in one loop each:
one pass over the frames rather than one array temporary per step (together about a fifth of
the denoiser's time at 16 and at 48 kHz; ``bench/README.md``). The click repairer's
Levinson-Durbin recursion (float64) loops over the AR order instead, vectorised over the
frames; compiled it is one loop (about a tenth of the click repairer's time at 48 kHz). Its
frame-by-frame prediction-error filters (a different FIR in every 20 ms frame) are one einsum
over a strided view in numpy; compiled, a loop along time per tap that vectorises (about 5x).
Without a C compiler at install the extension is skipped and the numpy forms run; the results
agree to rounding (the tests compare the two).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from dsp._typing import FloatArray

__all__ = [
    "COMPILED",
    "capped_avg",
    "capped_avg_numpy",
    "dd_snr_numpy",
    "exp1",
    "framewise_fir",
    "framewise_fir_numpy",
    "gain_rule",
    "gain_rule_numpy",
    "levinson",
    "levinson_numpy",
    "smooth",
    "smooth_numpy",
    "spp_noise",
    "spp_noise_numpy",
    "two_step_snr",
]

_ext: ModuleType | None
try:
    _ext = importlib.import_module("dsp._recursions")
except ImportError:  # pragma: no cover - exercised only where the extension was not built
    _ext = None

#: True when the compiled recursions are in use.
COMPILED = _ext is not None


def dd_snr_numpy(c: FloatArray, ag: FloatArray, a_prev: FloatArray, xi_min: float) -> FloatArray:
    """Decision-directed a-priori SNR (Ephraim-Malah 1984, eq. 51) for a batch of frames.

    Parameters
    ----------
    c : ndarray, shape (frames, bins), float32
        ``(1 - alpha) * max(gamma - 1, 0)`` per frame, ``gamma`` the a-posteriori SNR.
    ag : ndarray, shape (frames, bins), float32
        ``alpha * gamma`` per frame.
    a_prev : ndarray, shape (bins,), float32
        ``alpha * |A|^2 / lambda`` of the frame before the batch; updated in place to the
        batch's last frame.
    xi_min : float
        Lower bound of the a-priori SNR (linear).

    Returns
    -------
    ndarray, shape (frames, bins), float32
        ``xi[t] = max(a_prev[t - 1] + c[t], xi_min)``, with
        ``a_prev[t] = ag[t] * (xi[t] / (1 + xi[t]))**2``.
    """
    xi = np.empty(c.shape, np.float32)
    tmp = np.empty(c.shape[1:], np.float32)
    lo = np.float32(xi_min)
    for t in range(c.shape[0]):
        row = xi[t]
        np.add(a_prev, c[t], out=row)
        np.maximum(row, lo, out=row)
        np.add(row, 1, out=tmp)
        np.divide(row, tmp, out=tmp)
        np.multiply(tmp, tmp, out=tmp)
        np.multiply(tmp, ag[t], out=a_prev)
    return xi


def spp_noise_numpy(
    pairs: FloatArray,
    pk: FloatArray,
    lam: FloatArray,
    q_bar: FloatArray,
    warm: FloatArray,
    c: float,
    step: float,
    q_min: float,
) -> FloatArray:
    """Speech-presence-probability noise update (Gerkmann-Hendriks 2012) over pairs of frames.

    Parameters
    ----------
    pairs : ndarray, shape (pairs, bins), float32
        Mean periodogram of each pair of frames.
    pk : ndarray, shape (pairs, bins), float32
        ``-xi / (1 + xi) * pairs`` for the fixed a-priori SNR ``xi`` under speech presence.
    lam : ndarray, shape (bins,), float32
        Noise estimate before the batch.
    q_bar : ndarray, shape (bins,), float32
        Smoothed speech-absence probability; updated in place.
    warm : ndarray, shape (pairs,), float32
        Per pair: ``1 / (index + 1)`` while warming up (a running mean), else 0.
    c : float
        ``1 + xi``.
    step : float
        ``1 - alpha`` of the noise smoothing.
    q_min : float
        Where ``q_bar`` has fallen below this, the speech-absence probability is raised to it
        (the estimate must not freeze in long speech).

    Returns
    -------
    ndarray, shape (pairs + 1, bins), float32
        The estimate before the batch, then after each pair:
        ``lam <- lam + step * (1 - spp) * (pair - lam)``.
    """
    f32 = np.float32
    est = np.empty((pairs.shape[0] + 1, pairs.shape[1]), np.float32)
    est[0] = lam
    e, q, d = (np.empty(pairs.shape[1], np.float32) for _ in range(3))
    stuck = np.empty(pairs.shape[1], bool)
    for i in range(pairs.shape[0]):
        prev, nxt = est[i], est[i + 1]
        np.subtract(pairs[i], prev, out=d)
        if warm[i] > 0:
            d *= warm[i]
            np.add(prev, d, out=nxt)
            continue
        np.divide(pk[i], prev, out=e)
        np.exp(e, out=e)
        e *= f32(c)
        np.add(e, 1, out=q)
        np.divide(e, q, out=q)  # 1 - spp
        q_bar *= f32(0.81)
        np.multiply(q, f32(0.19), out=e)
        q_bar += e
        np.less(q_bar, f32(q_min), out=stuck)
        np.maximum(q, f32(q_min), out=q, where=stuck)
        q *= f32(step)
        d *= q
        np.add(prev, d, out=nxt)
    return est


def capped_avg_numpy(a: FloatArray, b: FloatArray, cap: FloatArray, y: FloatArray) -> FloatArray:
    """Recursive average limited by a cap, ``out[t] = min(a[t] * out[t - 1] + b[t], cap[t])``.

    Parameters
    ----------
    a, b, cap : ndarray, shape (frames, bins), float32
        Per-element smoothing factor, input term and upper limit of each frame.
    y : ndarray, shape (bins,), float32
        The value before frame 0 (not changed).

    Returns
    -------
    ndarray, shape (frames, bins), float32
        The capped recursion; each frame's value, after the cap, feeds the next.
    """
    out = np.empty(b.shape, np.float32)
    prev = y
    for t in range(b.shape[0]):
        row = out[t]
        np.multiply(a[t], prev, out=row)
        row += b[t]
        np.minimum(row, cap[t], out=row)
        prev = row
    return out


def levinson_numpy(r: FloatArray) -> FloatArray:
    """AR coefficients for each row of autocorrelation lags ``r`` (``(k, p + 1)`` -> ``(k, p)``, float64).

    The Levinson-Durbin recursion (N. Levinson, J. Math. Phys. 25, 1947; J. Durbin, Rev. Int.
    Stat. Inst. 28, 1960) run on all rows at once, with a white-noise correction of 1e-6 of lag 0
    (it keeps the system well conditioned); ``a`` predicts ``x[n] ~ sum_k a[k] x[n - 1 - k]``.
    Rows with no energy get zero coefficients.
    """
    r = r.astype(np.float64)
    k_n, p = r.shape[0], r.shape[1] - 1
    ok = r[:, 0] > 0.0
    err = np.where(ok, r[:, 0] * (1.0 + 1e-6), 1.0)
    a = np.zeros((k_n, p))
    for i in range(p):
        acc = r[:, i + 1] - np.einsum("kj,kj->k", a[:, :i], r[:, i:0:-1]) if i else r[:, 1].copy()
        kap = acc / err
        if i:
            a[:, :i] -= kap[:, None] * a[:, i - 1 :: -1]
        a[:, i] = kap
        err = err * (1.0 - kap * kap)
    a[~ok] = 0.0
    return a


def smooth_numpy(a: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """First-order recursive average with one smoothing factor per frame.

    Parameters
    ----------
    a : ndarray, shape (frames,), float32
        Smoothing factor of each frame, in [0, 1].
    x : ndarray, shape (frames, ...), float32
        The values averaged (any trailing shape).
    y : ndarray, shape x.shape[1:], float32
        The average before frame 0 (not changed).

    Returns
    -------
    ndarray, shape x.shape, float32
        ``out[t] = a[t] * out[t - 1] + (1 - a[t]) * x[t]``.
    """
    out = np.empty(x.shape, np.float32)
    prev = y
    for t in range(x.shape[0]):
        row = out[t]
        np.multiply(np.float32(a[t]), prev, out=row)
        row += np.float32(1 - a[t]) * x[t]
        prev = row
    return out


def exp1(v: FloatArray, e: FloatArray) -> FloatArray:
    """Exponential integral E1 for ``v > 0`` (Abramowitz-Stegun 5.1.53 / 5.1.56, |err| < 5e-5).

    Much faster than :func:`scipy.special.exp1` on large arrays, which matters per bin. ``e`` is
    ``exp(-min(v, 60))``, which the caller needs too (same shape as ``v``); past 60 the result is
    then ``exp(-60) / v`` times the rational factor, under 1e-27 either way.

    >>> from scipy.special import exp1 as ref
    >>> v = np.array([0.01, 0.5, 2.0, 20.0], np.float32)
    >>> bool(np.allclose(exp1(v, np.exp(-v)), ref(v), rtol=1e-4, atol=5e-5))
    True
    """
    lo = np.minimum(v, np.float32(1.0))
    small = (
        ((((0.00107857 * lo - 0.00976004) * lo + 0.05519968) * lo - 0.24991055) * lo + 0.99999193) * lo
        - 0.57721566
        - np.log(lo)
    )
    hi = np.maximum(v, np.float32(1.0))
    # where v < 1 the large branch is not used
    large = e / hi * ((hi + 2.334733) * hi + 0.250621) / ((hi + 3.330657) * hi + 1.681534)
    return np.where(v < 1.0, small, large).astype(np.float32, copy=False)


def two_step_snr(xi_dd: FloatArray, gamma: FloatArray, xi_min: float, cap: float) -> FloatArray:
    """A-priori SNR refined by the second step of two-step noise reduction (Plapous et al. 2006).

    Parameters
    ----------
    xi_dd : ndarray, shape (frames, bins), float32
        Decision-directed a-priori SNR (linear).
    gamma : ndarray, shape (frames, bins), float32
        A-posteriori SNR (linear) of the same frames.
    xi_min : float
        Lower bound of the result (linear).
    cap : float
        The result stands at most ``cap * xi_dd``; 0 turns the second step off (``xi_dd`` as is).

    Returns
    -------
    ndarray, shape (frames, bins), float32
        ``(xi_dd / (1 + xi_dd))**2 * gamma``, at most ``cap * xi_dd`` and at least ``xi_min``.

    Examples
    --------
    >>> xi = np.array([[10.0, 0.1]], np.float32)
    >>> np.round(two_step_snr(xi, np.array([[1.0, 50.0]], np.float32), 0.003, 1.5), 3)  # offset, onset
    array([[0.826, 0.15 ]], dtype=float32)
    """
    if cap <= 0:
        return xi_dd
    f32 = np.float32
    w = xi_dd / (1 + xi_dd)
    out: FloatArray = np.maximum(np.minimum(w * w * gamma, f32(cap) * xi_dd), f32(xi_min))
    return out


def gain_rule_numpy(
    p: FloatArray, lam: FloatArray, q: FloatArray, alpha_dd: FloatArray, a_prev: FloatArray, xi_min: float, cap: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The OM-LSA gain rule (Cohen & Berdugo 2001) for a batch of frames, from the SNRs to the presence.

    Parameters
    ----------
    p, lam : ndarray, shape (frames, bins), float32
        Noisy power and noise estimate (``lam > 0``).
    q : ndarray, shape (frames, bins), float32
        A-priori speech-absence probability, in [0, 1).
    alpha_dd : ndarray, shape (frames,), float32
        Weight of the decision-directed rule per frame.
    a_prev : ndarray, shape (bins,), float32
        Carried term of the decision-directed rule (see :func:`dd_snr_numpy`); updated in place.
    xi_min : float
        Lower bound of the a-priori SNR (linear).
    cap : float
        Bound of the two-step refinement over the decision-directed SNR (:func:`two_step_snr`).

    Returns
    -------
    gamma : ndarray, shape (frames, bins), float32
        A-posteriori SNR ``p / lam``.
    log_g_h1 : ndarray, shape (frames, bins), float32
        Natural log of the LSA gain under speech presence (Ephraim & Malah 1985), at most 0:
        ``log(xi / (1 + xi)) + E1(v) / 2`` with ``v = xi / (1 + xi) * gamma``.
    spp : ndarray, shape (frames, bins), float32
        Conditional speech-presence probability ``1 / (1 + q / (1 - q) * (1 + xi) * exp(-v))``.
    """
    f32 = np.float32
    gamma = p / lam
    ad = alpha_dd[:, None]
    c = (1 - ad) * np.maximum(gamma - 1, f32(0))
    xi = dd_snr_numpy(c, ad * gamma, a_prev, xi_min)
    xi = two_step_snr(xi, gamma, xi_min, cap)
    wiener = xi / (1 + xi)
    v = np.maximum(wiener * gamma, f32(1e-6))
    e_v = np.exp(-np.minimum(v, f32(60)))
    log_g_h1 = np.minimum(np.log(wiener) + f32(0.5) * exp1(v, e_v), f32(0))
    spp = 1 / (1 + q / (1 - q) * (1 + xi) * e_v)
    return gamma, log_g_h1, spp


def _f32(x: FloatArray) -> FloatArray:
    return np.ascontiguousarray(x, np.float32)


def spp_noise(
    pairs: FloatArray,
    pk: FloatArray,
    lam: FloatArray,
    q_bar: FloatArray,
    warm: FloatArray,
    c: float,
    step: float,
    q_min: float,
) -> FloatArray:
    """:func:`spp_noise_numpy`, compiled when available (``q_bar``: contiguous float32, in place)."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return spp_noise_numpy(pairs, pk, lam, q_bar, warm, c, step, q_min)
    n_p, n_b = pairs.shape
    est = np.empty((n_p + 1, n_b), np.float32)
    est[0] = lam
    _ext.spp_noise(_f32(pairs), _f32(pk), est, q_bar, _f32(warm), n_p, n_b, float(c), float(step), float(q_min))
    return est


def capped_avg(a: FloatArray, b: FloatArray, cap: FloatArray, y: FloatArray) -> FloatArray:
    """:func:`capped_avg_numpy`, compiled when available."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return capped_avg_numpy(a, b, cap, y)
    out = np.empty(b.shape, np.float32)
    n_t = b.shape[0]
    n_b = b.size // n_t if n_t else 0
    _ext.capped_avg(_f32(a), _f32(b), _f32(cap), _f32(y), out, n_t, n_b)
    return out


def levinson(r: FloatArray) -> FloatArray:
    """:func:`levinson_numpy`, compiled when available."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return levinson_numpy(r)
    k_n, q = r.shape
    a = np.empty((k_n, q - 1), np.float64)
    if q > 1:
        _ext.levinson(np.ascontiguousarray(r, np.float64), a, k_n, q - 1)
    return a


def framewise_fir_numpy(ext: FloatArray, c: FloatArray, f: int) -> FloatArray:
    """Each frame filtered by its own FIR: ``y[k, t] = sum_j ext[k f + t + j] c[k, j]``, ``(k_n, f)``.

    Parameters
    ----------
    ext : ndarray, shape (k_n * f + taps - 1,), float64
        The signal, ``taps - 1`` samples longer than the frames it covers.
    c : ndarray, shape (k_n, taps), float64
        Frame ``k``'s taps, applied as a correlation (tap ``j`` weighs the sample ``j`` after ``t``).
    f : int
        Frame length in samples.

    Returns
    -------
    ndarray, shape (k_n, f), float64
    """
    k_n, taps = c.shape
    st = ext.strides[0]
    lag3 = np.lib.stride_tricks.as_strided(ext, (k_n, f, taps), (f * st, st, st), writeable=False)
    y: FloatArray = np.einsum("kfj,kj->kf", lag3, c)
    return y


def framewise_fir(ext: FloatArray, c: FloatArray, f: int) -> FloatArray:
    """:func:`framewise_fir_numpy`, compiled when available (``ext`` and ``c`` contiguous float64)."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return framewise_fir_numpy(ext, c, f)
    k_n, taps = c.shape
    out = np.empty((k_n, f), np.float64)
    ext = np.ascontiguousarray(ext[: k_n * f + taps - 1], np.float64)
    _ext.framewise_fir(ext, np.ascontiguousarray(c, np.float64), out, k_n, f, taps)
    return out


def smooth(a: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """:func:`smooth_numpy`, compiled when available."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return smooth_numpy(a, x, y)
    out = np.empty(x.shape, np.float32)
    n_t = x.shape[0]
    n_b = x.size // n_t if n_t else 0
    _ext.smooth(_f32(a), _f32(x), _f32(y), out, n_t, n_b)
    return out


def gain_rule(
    p: FloatArray, lam: FloatArray, q: FloatArray, alpha_dd: FloatArray, a_prev: FloatArray, xi_min: float, cap: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`gain_rule_numpy`, compiled when available (``a_prev``: contiguous float32, in place)."""
    if _ext is None:  # pragma: no cover - exercised only where the extension was not built
        return gain_rule_numpy(p, lam, q, alpha_dd, a_prev, xi_min, cap)
    n_t, n_b = p.shape
    gamma, log_g_h1, spp = (np.empty((n_t, n_b), np.float32) for _ in range(3))
    _ext.gain_rule(
        _f32(p), _f32(lam), _f32(q), _f32(alpha_dd), a_prev, gamma, log_g_h1, spp, n_t, n_b, float(xi_min), float(cap)
    )
    return gamma, log_g_h1, spp
