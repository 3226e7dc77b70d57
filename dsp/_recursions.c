/*
 * Per-frame recursions of the noise reducer and the click repairer's batched Levinson-Durbin
 * recursion, compiled (module dsp._recursions).
 *
 * The decision-directed a-priori SNR, the speech-presence-probability noise update and the
 * capped noise average depend on their own previous output non-linearly, so numpy cannot
 * vectorise them along time; as a loop of ufunc calls per frame they cost more than the STFT
 * itself. Each function here is the same float32 arithmetic as the numpy loop in dsp/_kernels.py
 * (the reference and the fallback when this module is not built), over C-contiguous float32
 * buffers. The Levinson-Durbin recursion (float64) loops over the AR order in Python as numpy, a
 * few ufunc calls per order for every 40 ms frame of the click repairer; here it is one loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
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

PyDoc_STRVAR(dd_snr_doc,
    "dd_snr(c, ag, a_prev, xi, n_frames, n_bins, xi_min)\n\n"
    "Decision-directed a-priori SNR into xi (frames x bins); a_prev (bins) updated in place.");

static PyObject *dd_snr(PyObject *self, PyObject *args) {
    PyObject *oc, *oag, *oa, *oxi;
    Py_ssize_t n_t, n_b;
    float xi_min;
    if (!PyArg_ParseTuple(args, "OOOOnnf", &oc, &oag, &oa, &oxi, &n_t, &n_b, &xi_min)) {
        return NULL;
    }
    const Arg spec[] = {
        {oc, n_t * n_b, 0, "c"}, {oag, n_t * n_b, 0, "ag"}, {oa, n_b, 1, "a_prev"}, {oxi, n_t * n_b, 1, "xi"},
    };
    Py_buffer v[4];
    if (get_f32(spec, v, 4) < 0) return NULL;
    const float *c = v[0].buf, *ag = v[1].buf;
    float *a_prev = v[2].buf, *xi = v[3].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_t; t++) {
        const float *ct = c + t * n_b, *agt = ag + t * n_b;
        float *xit = xi + t * n_b;
        for (Py_ssize_t k = 0; k < n_b; k++) {
            float v = a_prev[k] + ct[k];
            if (v < xi_min) v = xi_min;
            xit[k] = v;
            float w = v / (v + 1.0f);
            a_prev[k] = (w * w) * agt[k];
        }
    }
    Py_END_ALLOW_THREADS
    release(v, 4);
    Py_RETURN_NONE;
}

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

static PyMethodDef methods[] = {
    {"dd_snr", dd_snr, METH_VARARGS, dd_snr_doc},
    {"spp_noise", spp_noise, METH_VARARGS, spp_noise_doc},
    {"capped_avg", capped_avg, METH_VARARGS, capped_avg_doc},
    {"levinson", levinson, METH_VARARGS, levinson_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_recursions", "Compiled per-frame recursions of dsp.denoise and dsp.declick.", -1, methods,
};

PyMODINIT_FUNC PyInit__recursions(void) { return PyModule_Create(&module); }
