/* The classic-pcap record walk, compiled (handshaker.capture._walk).
 *
 * Finding where each record starts means reading every record's incl_len in
 * turn: a chain numpy cannot follow. capture/pcap.py walks it in Python (one
 * struct.unpack_from per record, about 0.5 s per million records); this does
 * the same walk in C. Both must give the same offsets and the same stopping
 * place: pcap.py keeps the Python walk as the fallback and the tests compare
 * the two on good and damaged buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define RECORD_HEADER_LEN 16

/* walk(buf, pos, end, big_endian) -> (offsets, pos)
 *
 * The records that lie whole in buf[pos:end], each from its 16-byte header
 * on: their start offsets as native int64 in a bytes object, and the offset
 * where the walk stopped (the first record not whole in the range). */
static PyObject *walk(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, end;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &pos, &end, &big))
        return NULL;
    if (pos < 0 || end < pos || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "walk: need 0 <= pos <= end <= len(buf)");
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t cap = 4096, n = 0;
    int64_t *out = PyMem_Malloc(cap * sizeof(int64_t));
    if (out == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    while (end - pos >= RECORD_HEADER_LEN) {
        const unsigned char *h = buf + pos + 8; /* incl_len */
        uint32_t caplen = big ? ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
                                 (uint32_t)h[2] << 8 | h[3])
                              : ((uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 |
                                 (uint32_t)h[1] << 8 | h[0]);
        if ((Py_ssize_t)caplen > end - pos - RECORD_HEADER_LEN)
            break;
        if (n == cap) {
            cap *= 2;
            int64_t *grown = PyMem_Realloc(out, cap * sizeof(int64_t));
            if (grown == NULL) {
                PyMem_Free(out);
                PyBuffer_Release(&view);
                return PyErr_NoMemory();
            }
            out = grown;
        }
        out[n++] = pos;
        pos += RECORD_HEADER_LEN + (Py_ssize_t)caplen;
    }
    PyBuffer_Release(&view);
    PyObject *offsets = PyBytes_FromStringAndSize((const char *)out, n * sizeof(int64_t));
    PyMem_Free(out);
    if (offsets == NULL)
        return NULL;
    return Py_BuildValue("Nn", offsets, pos);
}

static PyMethodDef walk_methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(buf, pos, end, big_endian) -> (int64 record offsets as bytes, where it stopped)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "handshaker.capture._walk",
    .m_doc = "The classic-pcap record walk, compiled (see capture/pcap.py).",
    .m_size = -1,
    .m_methods = walk_methods,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&walk_module);
}
