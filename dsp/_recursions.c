/*
 * Per-frame recursions of the noise reducer, compiled (module dsp._recursions).
 *
 * The decision-directed a-priori SNR and the speech-presence-probability noise update depend on
 * their own previous output non-linearly, so numpy cannot vectorise them along time; as a loop
 * of ufunc calls per frame they cost more than the STFT itself. Each function here is the same
 * float32 arithmetic as the numpy loop in dsp/_kernels.py (the reference and the fallback when
 * this module is not built), over C-contiguous float32 buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* A writable or read-only C-contiguous float32 buffer of exactly `n` items. */
static int get_f32(PyObject *obj, Py_buffer *view, Py_ssize_t n, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->itemsize != 4 || view->format == NULL || strcmp(view->format, "f") != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous float32 array", name);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->len / 4 != n) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd values, expected %zd", name, view->len / 4, n);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

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
    Py_buffer bc, bag, ba, bxi;
    if (get_f32(oc, &bc, n_t * n_b, 0, "c") < 0) return NULL;
    if (get_f32(oag, &bag, n_t * n_b, 0, "ag") < 0) { PyBuffer_Release(&bc); return NULL; }
    if (get_f32(oa, &ba, n_b, 1, "a_prev") < 0) { PyBuffer_Release(&bc); PyBuffer_Release(&bag); return NULL; }
    if (get_f32(oxi, &bxi, n_t * n_b, 1, "xi") < 0) {
        PyBuffer_Release(&bc); PyBuffer_Release(&bag); PyBuffer_Release(&ba); return NULL;
    }
    const float *c = bc.buf, *ag = bag.buf;
    float *a_prev = ba.buf, *xi = bxi.buf;
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
    PyBuffer_Release(&bc); PyBuffer_Release(&bag); PyBuffer_Release(&ba); PyBuffer_Release(&bxi);
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
    Py_buffer bp, bk, be, bq, bw;
    if (get_f32(opairs, &bp, n_p * n_b, 0, "pairs") < 0) return NULL;
    if (get_f32(opk, &bk, n_p * n_b, 0, "pk") < 0) { PyBuffer_Release(&bp); return NULL; }
    if (get_f32(oest, &be, (n_p + 1) * n_b, 1, "est") < 0) { PyBuffer_Release(&bp); PyBuffer_Release(&bk); return NULL; }
    if (get_f32(oqb, &bq, n_b, 1, "q_bar") < 0) {
        PyBuffer_Release(&bp); PyBuffer_Release(&bk); PyBuffer_Release(&be); return NULL;
    }
    if (get_f32(owarm, &bw, n_p, 0, "warm") < 0) {
        PyBuffer_Release(&bp); PyBuffer_Release(&bk); PyBuffer_Release(&be); PyBuffer_Release(&bq); return NULL;
    }
    const float *pairs = bp.buf, *pk = bk.buf, *warm = bw.buf;
    float *est = be.buf, *q_bar = bq.buf;
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
    PyBuffer_Release(&bp); PyBuffer_Release(&bk); PyBuffer_Release(&be); PyBuffer_Release(&bq); PyBuffer_Release(&bw);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"dd_snr", dd_snr, METH_VARARGS, dd_snr_doc},
    {"spp_noise", spp_noise, METH_VARARGS, spp_noise_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_recursions", "Compiled per-frame recursions of dsp.denoise.", -1, methods,
};

PyMODINIT_FUNC PyInit__recursions(void) { return PyModule_Create(&module); }
