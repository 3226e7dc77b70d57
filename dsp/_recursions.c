/*
 * Per-frame recursions of the noise reducer and the click repairer's batched Levinson-Durbin
 * recursion, compiled (module dsp._recursions).
 *
 * The decision-directed a-priori SNR, the speech-presence-probability noise update and the
 * capped noise average depend on their own previous output non-linearly, so numpy cannot
 * vectorise them along time; as a loop of ufunc calls per frame they cost more than the STFT
 * itself. The decision-directed SNR runs inside the whole OM-LSA gain rule (gain_rule: one pass
 * per frame instead of a dozen array temporaries), the noise tracker's first-order averages in
 * one loop each (smooth). Each function here is the same float32 arithmetic as the numpy form in
 * dsp/_kernels.py (the reference and the fallback when this module is not built), over
 * C-contiguous float32 buffers; the gain rule's exp and log are its own (see exp_neg), so its
 * loop vectorises. The Levinson-Durbin recursion (float64) loops over the AR order in Python as
 * numpy, a few ufunc calls per order for every 40 ms frame of the click repairer; here it is one
 * loop. The click repairer's frame-by-frame prediction-error filters (framewise_fir: a different
 * FIR in every frame, float64) are an einsum over a strided view in numpy; here a loop along time
 * per tap, which the compiler vectorises.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* One argument: the object, how many float32 items it must hold, whether it is written. */
typedef struct {
    PyObject *obj;
    Py_ssize_t n;
    int writable;
    const char *name;
} Arg;

static void release(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&views[i]);
}

/* Take every argument as a C-contiguous buffer of `itemsize`-byte items of struct format `fmt`
 * ("f": float32, "d": float64) and of its length, or none of them (error set). */
static int get_typed(const Arg *args, Py_buffer *views, int n, Py_ssize_t itemsize, const char *fmt,
                     const char *type_name) {
    for (int i = 0; i < n; i++) {
        int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (args[i].writable ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(args[i].obj, &views[i], flags) < 0) {
            release(views, i);
            return -1;
        }
        if (views[i].itemsize != itemsize || views[i].format == NULL || strcmp(views[i].format, fmt) != 0) {
            PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous %s array", args[i].name, type_name);
        } else if (views[i].len / itemsize != args[i].n) {
            PyErr_Format(PyExc_ValueError, "%s holds %zd values, expected %zd", args[i].name,
                         views[i].len / itemsize, args[i].n);
        } else {
            continue;
        }
        release(views, i + 1);
        return -1;
    }
    return 0;
}

static int get_f32(const Arg *args, Py_buffer *views, int n) { return get_typed(args, views, n, 4, "f", "float32"); }

static int get_f64(const Arg *args, Py_buffer *views, int n) { return get_typed(args, views, n, 8, "d", "float64"); }

PyDoc_STRVAR(spp_noise_doc,
    "spp_noise(pairs, pk, est, q_bar, warm, n_pairs, n_bins, c, step, q_min)\n\n"
    "SPP noise update over pairs of frames: est (pairs + 1 x bins) holds the start in row 0\n"
    "and gets the estimate after each pair; q_bar (bins) updated in place.");

static PyObject *spp_noise(PyObject *self, PyObject *args) {
    PyObject *opairs, *opk, *oest, *oqb, *owarm;
    Py_ssize_t n_p, n_b;
    float cc, step, q_min;
    if (!PyArg_ParseTuple(args, "OOOOOnnfff", &opairs, &opk, &oest, &oqb, &owarm, &n_p, &n_b, &cc, &step, &q_min)) {
        return NULL;
    }
    const Arg spec[] = {
        {opairs, n_p * n_b, 0, "pairs"}, {opk, n_p * n_b, 0, "pk"}, {oest, (n_p + 1) * n_b, 1, "est"},
        {oqb, n_b, 1, "q_bar"}, {owarm, n_p, 0, "warm"},
    };
    Py_buffer v[5];
    if (get_f32(spec, v, 5) < 0) return NULL;
    const float *pairs = v[0].buf, *pk = v[1].buf, *warm = v[4].buf;
    float *est = v[2].buf, *q_bar = v[3].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_p; i++) {
        const float *pi = pairs + i * n_b, *pki = pk + i * n_b;
        const float *lam = est + i * n_b;
        float *nxt = est + (i + 1) * n_b;
        float wi = warm[i];
        for (Py_ssize_t k = 0; k < n_b; k++) {
            float d = pi[k] - lam[k];
            if (wi > 0.0f) {
                nxt[k] = lam[k] + d * wi;
                continue;
            }
            float e = cc * expf(pki[k] / lam[k]);
            float q = e / (e + 1.0f); /* 1 - spp */
            float qb = 0.81f * q_bar[k] + 0.19f * q;
            q_bar[k] = qb;
            if (qb < q_min && q < q_min) q = q_min;
            nxt[k] = lam[k] + d * (q * step);
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 5);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(capped_avg_doc,
    "capped_avg(a, b, cap, y, out, n_frames, n_bins)\n\n"
    "out[t] = min(a[t] * out[t - 1] + b[t], cap[t]) (frames x bins), from y (bins) before frame 0.");

static PyObject *capped_avg(PyObject *self, PyObject *args) {
    PyObject *oa, *ob, *ocap, *oy, *oout;
    Py_ssize_t n_t, n_b;
    if (!PyArg_ParseTuple(args, "OOOOOnn", &oa, &ob, &ocap, &oy, &oout, &n_t, &n_b)) {
        return NULL;
    }
    const Arg spec[] = {
        {oa, n_t * n_b, 0, "a"}, {ob, n_t * n_b, 0, "b"}, {ocap, n_t * n_b, 0, "cap"}, {oy, n_b, 0, "y"},
        {oout, n_t * n_b, 1, "out"},
    };
    Py_buffer v[5];
    if (get_f32(spec, v, 5) < 0) return NULL;
    const float *a = v[0].buf, *b = v[1].buf, *cap = v[2].buf, *y = v[3].buf;
    float *out = v[4].buf;
    Py_BEGIN_ALLOW_THREADS
    const float *prev = y;
    for (Py_ssize_t t = 0; t < n_t; t++) {
        const float *at = a + t * n_b, *bt = b + t * n_b, *ct = cap + t * n_b;
        float *ot = out + t * n_b;
        for (Py_ssize_t k = 0; k < n_b; k++) {
            float r = at[k] * prev[k];
            r = r + bt[k];
            ot[k] = r < ct[k] ? r : ct[k];
        }
        prev = ot;
    }
    Py_END_ALLOW_THREADS
    release(v, 5);
    Py_RETURN_NONE;
}

/* Branch-free float32 exp and log for the gain rule's loop, so that the compiler can vectorise it
 * (the C library's expf / logf are calls it cannot). Range reduction by powers of two, then:
 * exp: 2^n * exp(r), |r| <= ln(2) / 2, by its Taylor series to r^7 / 7! (truncation under 3e-8
 * relative); log: x = 2^e * m with m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh(s), s = (m - 1) / (m + 1),
 * |s| < 0.172, by its series to s^9 / 9 (truncation under 5e-9 relative) (Abramowitz-Stegun 4.2.1,
 * 4.1.28; Muller, "Elementary Functions", 2nd ed., ch. 11). For x in [-87, 0] (exp) and normal x > 0
 * (log), which is all the gain rule asks for; both agree with the C library to a few float32 ulps. */
typedef union {
    float f;
    int32_t i;
} F32Bits;

static inline float bits_to_f(int32_t i) {
    F32Bits u = {.i = i};
    return u.f;
}

static inline int32_t f_to_bits(float f) {
    F32Bits u = {.f = f};
    return u.i;
}

static inline float exp_neg(float x) { /* x in [-87, 0] */
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    int32_t n = (int32_t)(x * 1.44269504088896341f - 0.5f); /* round to nearest (x <= 0) */
    float r = (x - (float)n * ln2_hi) - (float)n * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    return p * bits_to_f((n + 127) << 23);
}

static inline float log_pos(float x) { /* x > 0, normal */
    int32_t i = f_to_bits(x);
    int32_t e = ((i >> 23) & 0xff) - 127;
    float m = bits_to_f((i & 0x007fffff) | 0x3f800000); /* [1, 2) */
    int big = m > 1.41421356237309505f;
    m = big ? 0.5f * m : m;
    e = big ? e + 1 : e;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float at = s * (2.0f + s2 * (2.0f / 3 + s2 * (2.0f / 5 + s2 * (2.0f / 7 + s2 * (2.0f / 9)))));
    return (float)e * 0.693147180559945309f + at;
}

/* E1(v) for v > 0 given e = exp(-min(v, 60)) (Abramowitz-Stegun 5.1.53 / 5.1.56, as dsp._kernels.exp1). */
static inline float exp1f_as(float v, float e) {
    float lo = v < 1.0f ? v : 1.0f, hi = v < 1.0f ? 1.0f : v;
    float small = (((((0.00107857f * lo - 0.00976004f) * lo + 0.05519968f) * lo - 0.24991055f) * lo + 0.99999193f) * lo
                   - 0.57721566f)
                  - log_pos(lo);
    float large = e / hi * ((hi + 2.334733f) * hi + 0.250621f) / ((hi + 3.330657f) * hi + 1.681534f);
    return v < 1.0f ? small : large;
}

/* One frame of the gain rule (see gain_rule_doc); a_prev (n) carried in place. */
static void gain_row(const float *restrict pt, const float *restrict lt, const float *restrict qt, float ad,
                     float *restrict ap, float *restrict gt, float *restrict ht, float *restrict st, Py_ssize_t n,
                     float xi_min, float cap) {
    const float one_m_ad = 1.0f - ad;
    for (Py_ssize_t k = 0; k < n; k++) {
        const float g = pt[k] / lt[k];
        gt[k] = g;
        /* decision-directed a-priori SNR (Ephraim-Malah 1984, eq. 51) */
        float gm1 = g - 1.0f;
        float xd = ap[k] + one_m_ad * (gm1 > 0.0f ? gm1 : 0.0f);
        xd = xd < xi_min ? xi_min : xd;
        float w = xd / (1.0f + xd);
        ap[k] = (w * w) * (ad * g);
        /* second step of TSNR (Plapous et al. 2006), at most cap times xd; cap 0: off */
        float ts = w * w * g;
        ts = ts > cap * xd ? cap * xd : ts;
        ts = ts < xi_min ? xi_min : ts;
        float xi = cap > 0.0f ? ts : xd;
        /* LSA gain under presence (Ephraim-Malah 1985) and the presence probability (Cohen 2002) */
        float wiener = xi / (1.0f + xi);
        float vv = wiener * g;
        vv = vv < 1e-6f ? 1e-6f : vv;
        float e_v = exp_neg(-(vv < 60.0f ? vv : 60.0f));
        float lg = log_pos(wiener) + 0.5f * exp1f_as(vv, e_v);
        ht[k] = lg < 0.0f ? lg : 0.0f;
        float qk = qt[k];
        float ratio = qk / (1.0f - qk) * (1.0f + xi) * e_v;
        st[k] = 1.0f / (1.0f + ratio);
    }
}

PyDoc_STRVAR(gain_rule_doc,
    "gain_rule(p, lam, q, alpha_dd, a_prev, gamma, log_g_h1, spp, n_frames, n_bins, xi_min, tsnr_cap)\n\n"
    "The OM-LSA gain rule per frame and bin, as dsp._kernels.gain_rule_numpy: from the power p, the\n"
    "noise lam and the speech-absence probability q (frames x bins) and the per-frame decision-directed\n"
    "weight alpha_dd (frames), writes the a-posteriori SNR gamma, the log LSA gain under presence\n"
    "log_g_h1 and the presence probability spp; a_prev (bins) carried in place.");

static PyObject *gain_rule(PyObject *self, PyObject *args) {
    PyObject *op, *olam, *oq, *oad, *oa, *ogam, *oh1, *ospp;
    Py_ssize_t n_t, n_b;
    float xi_min, cap;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnnff", &op, &olam, &oq, &oad, &oa, &ogam, &oh1, &ospp, &n_t, &n_b,
                          &xi_min, &cap)) {
        return NULL;
    }
    const Arg spec[] = {
        {op, n_t * n_b, 0, "p"},         {olam, n_t * n_b, 0, "lam"},       {oq, n_t * n_b, 0, "q"},
        {oad, n_t, 0, "alpha_dd"},       {oa, n_b, 1, "a_prev"},            {ogam, n_t * n_b, 1, "gamma"},
        {oh1, n_t * n_b, 1, "log_g_h1"}, {ospp, n_t * n_b, 1, "spp"},
    };
    Py_buffer v[8];
    if (get_f32(spec, v, 8) < 0) return NULL;
    const float *p = v[0].buf, *lam = v[1].buf, *q = v[2].buf, *alpha_dd = v[3].buf;
    float *a_prev = v[4].buf, *gamma = v[5].buf, *h1 = v[6].buf, *spp = v[7].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_t; t++) {
        const Py_ssize_t o = t * n_b;
        gain_row(p + o, lam + o, q + o, alpha_dd[t], a_prev, gamma + o, h1 + o, spp + o, n_b, xi_min, cap);
    }
    Py_END_ALLOW_THREADS
    release(v, 8);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(smooth_doc,
    "smooth(a, x, y, out, n_frames, n_items)\n\n"
    "First-order recursive average out[t] = a[t] * out[t - 1] + (1 - a[t]) * x[t] (frames x items),\n"
    "one smoothing factor a per frame, from y (items) before frame 0.");

static PyObject *smooth(PyObject *self, PyObject *args) {
    PyObject *oa, *ox, *oy, *oout;
    Py_ssize_t n_t, n_b;
    if (!PyArg_ParseTuple(args, "OOOOnn", &oa, &ox, &oy, &oout, &n_t, &n_b)) {
        return NULL;
    }
    const Arg spec[] = {{oa, n_t, 0, "a"}, {ox, n_t * n_b, 0, "x"}, {oy, n_b, 0, "y"}, {oout, n_t * n_b, 1, "out"}};
    Py_buffer v[4];
    if (get_f32(spec, v, 4) < 0) return NULL;
    const float *a = v[0].buf, *x = v[1].buf, *y = v[2].buf;
    float *out = v[3].buf;
    Py_BEGIN_ALLOW_THREADS
    const float *prev = y;
    for (Py_ssize_t t = 0; t < n_t; t++) {
        const float at = a[t], bt = 1.0f - a[t];
        const float *xt = x + t * n_b;
        float *ot = out + t * n_b;
        for (Py_ssize_t k = 0; k < n_b; k++) ot[k] = at * prev[k] + bt * xt[k];
        prev = ot;
    }
    Py_END_ALLOW_THREADS
    release(v, 4);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(levinson_doc,
    "levinson(r, a, n_rows, order)\n\n"
    "AR coefficients into a (rows x order) from the autocorrelation lags r (rows x (order + 1)),\n"
    "float64, by the Levinson-Durbin recursion with the white-noise correction of dsp._kernels.");

static PyObject *levinson(PyObject *self, PyObject *args) {
    PyObject *or_, *oa;
    Py_ssize_t k_n, p;
    if (!PyArg_ParseTuple(args, "OOnn", &or_, &oa, &k_n, &p)) {
        return NULL;
    }
    if (k_n < 0 || p < 1) {
        PyErr_SetString(PyExc_ValueError, "levinson needs n_rows >= 0 and order >= 1");
        return NULL;
    }
    const Arg spec[] = {{or_, k_n * (p + 1), 0, "r"}, {oa, k_n * p, 1, "a"}};
    Py_buffer v[2];
    if (get_f64(spec, v, 2) < 0) return NULL;
    double *tmp = PyMem_Malloc((size_t)p * sizeof(double));
    if (tmp == NULL) {
        release(v, 2);
        return PyErr_NoMemory();
    }
    const double *r_all = v[0].buf;
    double *a_all = v[1].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < k_n; k++) {
        const double *r = r_all + k * (p + 1);
        double *a = a_all + k * p;
        memset(a, 0, (size_t)p * sizeof(double));
        if (!(r[0] > 0.0)) continue; /* no energy: zero coefficients */
        double err = r[0] * (1.0 + 1e-6);
        for (Py_ssize_t i = 0; i < p; i++) {
            double acc = r[i + 1];
            for (Py_ssize_t j = 0; j < i; j++) acc -= a[j] * r[i - j];
            double kap = acc / err;
            for (Py_ssize_t j = 0; j < i; j++) tmp[j] = a[j] - kap * a[i - 1 - j];
            memcpy(a, tmp, (size_t)i * sizeof(double));
            a[i] = kap;
            err = err * (1.0 - kap * kap);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(tmp);
    release(v, 2);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(framewise_fir_doc,
    "framewise_fir(ext, c, out, n_frames, f, taps)\n\n"
    "Each frame's own FIR, float64: out[k f + t] = sum_j ext[k f + t + j] c[k, j] for t < f,\n"
    "with ext holding n_frames f + taps - 1 values and c (n_frames x taps).");

/* on x86-64 with glibc (its ifunc picks the version at load), an AVX2 copy beside the baseline one:
 * four doubles per instruction instead of two. No FMA is enabled, so both round alike. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define HUSH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HUSH_CLONES
#endif

HUSH_CLONES
static PyObject *framewise_fir(PyObject *self, PyObject *args) {
    PyObject *oe, *oc, *oo;
    Py_ssize_t k_n, f, taps;
    if (!PyArg_ParseTuple(args, "OOOnnn", &oe, &oc, &oo, &k_n, &f, &taps)) {
        return NULL;
    }
    if (k_n < 0 || f < 1 || taps < 1) {
        PyErr_SetString(PyExc_ValueError, "framewise_fir needs n_frames >= 0, f >= 1 and taps >= 1");
        return NULL;
    }
    const Arg spec[] = {{oe, k_n * f + taps - 1, 0, "ext"}, {oc, k_n * taps, 0, "c"}, {oo, k_n * f, 1, "out"}};
    Py_buffer v[3];
    if (get_f64(spec, v, 3) < 0) return NULL;
    const double *ext = v[0].buf;
    const double *c_all = v[1].buf;
    double *out = v[2].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < k_n; k++) {
        const double *c = c_all + k * taps;
        double *y = out + k * f;
        const double *x = ext + k * f;
        /* tap by tap over the frame: the inner loop runs along time, contiguous, and vectorises */
        for (Py_ssize_t t = 0; t < f; t++) y[t] = c[0] * x[t];
        Py_ssize_t j = 1;
        for (; j + 4 <= taps; j += 4) {
            const double c0 = c[j], c1 = c[j + 1], c2 = c[j + 2], c3 = c[j + 3];
            const double *x0 = x + j;
            for (Py_ssize_t t = 0; t < f; t++) y[t] += c0 * x0[t] + c1 * x0[t + 1] + c2 * x0[t + 2] + c3 * x0[t + 3];
        }
        for (; j < taps; j++) {
            const double cj = c[j];
            const double *xj = x + j;
            for (Py_ssize_t t = 0; t < f; t++) y[t] += cj * xj[t];
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 3);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"spp_noise", spp_noise, METH_VARARGS, spp_noise_doc},
    {"capped_avg", capped_avg, METH_VARARGS, capped_avg_doc},
    {"levinson", levinson, METH_VARARGS, levinson_doc},
    {"gain_rule", gain_rule, METH_VARARGS, gain_rule_doc},
    {"smooth", smooth, METH_VARARGS, smooth_doc},
    {"framewise_fir", framewise_fir, METH_VARARGS, framewise_fir_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_recursions", "Compiled per-frame recursions of dsp.denoise and dsp.declick.", -1, methods,
};

PyMODINIT_FUNC PyInit__recursions(void) { return PyModule_Create(&module); }
