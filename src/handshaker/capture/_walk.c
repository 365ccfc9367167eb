/* The classic-pcap record walk, compiled (handshaker.capture._walk).
 *
 * Finding where each record starts means reading every record's incl_len in
 * turn: a chain numpy cannot follow. capture/pcap.py walks it in Python (one
 * struct.unpack_from per record, about 0.5 s per million records); this does
 * the same walk in C. Both must give the same offsets and the same stopping
 * place: pcap.py keeps the Python walk as the fallback and the tests compare
 * the two on good and damaged buffers.
 *
 * tuple_hashes gives each frame's 4-tuple hash straight from its bytes, so that
 * a split run's worker, following a few connections on through the next part,
 * passes over the frames of the others undecoded (split.Replay.frames_of;
 * without this module it decodes them all, and drops their rows after).
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

/* The 4-tuple hash of analysis._tuple_keys, for a frame that is plainly Ethernet,
 * IPv4 (no fragment) and TCP or UDP with its ports captured; 0 for any other
 * (which the caller keeps: it cannot tell). The 4-tuple is packed as the columns
 * pack it: each endpoint as (0, 0xFFFF00000000 | address, port), the lower first. */
#define LINKTYPE_ETHERNET 1
#define V4_MAPPED_LO_PREFIX 0x0000FFFF00000000ULL

static const uint64_t MIX[5] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL,
                                0x165667B19E3779F9ULL, 0xD6E8FEB86659FD93ULL,
                                0xFF51AFD7ED558CCDULL};

static uint64_t tuple_hash(const unsigned char *f, int64_t caplen)
{
    if (caplen < 14 + 20 + 4 || f[12] != 0x08 || f[13] != 0x00)
        return 0;
    const unsigned char *ip = f + 14;
    int ihl = (ip[0] & 15) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20 || caplen < 14 + ihl + 4)
        return 0;
    if (((ip[6] << 8 | ip[7]) & 0x3FFF) != 0) /* MF or a fragment offset */
        return 0;
    if (ip[9] != 6 && ip[9] != 17)
        return 0;
    uint64_t src = V4_MAPPED_LO_PREFIX | ((uint64_t)ip[12] << 24 | (uint64_t)ip[13] << 16 |
                                         (uint64_t)ip[14] << 8 | ip[15]);
    uint64_t dst = V4_MAPPED_LO_PREFIX | ((uint64_t)ip[16] << 24 | (uint64_t)ip[17] << 16 |
                                         (uint64_t)ip[18] << 8 | ip[19]);
    uint64_t sp = (uint64_t)ip[ihl] << 8 | ip[ihl + 1];
    uint64_t dp = (uint64_t)ip[ihl + 2] << 8 | ip[ihl + 3];
    int swap = src > dst || (src == dst && sp > dp);
    uint64_t k[5] = {0, swap ? dst : src, 0, swap ? src : dst,
                     swap ? (dp << 16 | sp) : (sp << 16 | dp)};
    uint64_t h = k[0] * MIX[0];
    for (int c = 1; c < 5; c++) {
        h ^= k[c] * MIX[c];
        h ^= h >> 29;
    }
    return h ? h : 1; /* (0 says "cannot tell"; a real 0 is kept as 1: one more kept) */
}

/* tuple_hashes(buf, start, caplen, linktype[, wanted]) -> the hash of each frame as
 * native uint64 in a bytes object (see tuple_hash); with ``wanted`` (uint64 hashes),
 * a byte per frame instead: 1 where its hash is 0 (it cannot tell) or one of those
 * wanted, else 0. The columns as a FrameBatch has them (int64, int32, int32), one
 * entry per frame, frame i at buf[start[i]:][:caplen[i]]. */
static PyObject *tuple_hashes(PyObject *module, PyObject *args)
{
    Py_buffer buf, start, caplen, linktype, wanted = {0};
    if (!PyArg_ParseTuple(args, "y*y*y*y*|y*", &buf, &start, &caplen, &linktype, &wanted))
        return NULL;
    PyObject *out = NULL;
    uint64_t *table = NULL;
    size_t mask = 0;
    Py_ssize_t n = start.len / (Py_ssize_t)sizeof(int64_t);
    if (start.len % (Py_ssize_t)sizeof(int64_t) || caplen.len != n * (Py_ssize_t)sizeof(int32_t) ||
        linktype.len != n * (Py_ssize_t)sizeof(int32_t) ||
        wanted.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "tuple_hashes: need int64 start, int32 caplen and "
                                          "int32 linktype of one length (and uint64 wanted)");
        goto done;
    }
    int asked = PyTuple_GET_SIZE(args) == 5;
    if (asked) {
        /* an open-addressing set of the wanted hashes (0 marks a free slot: a wanted 0
         * is never asked for, a frame's 0 is kept anyway) */
        size_t count = (size_t)wanted.len / sizeof(uint64_t), size = 16;
        while (size < 2 * count)
            size *= 2;
        table = PyMem_Calloc(size, sizeof(uint64_t));
        if (table == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        mask = size - 1;
        const uint64_t *w = (const uint64_t *)wanted.buf;
        for (size_t i = 0; i < count; i++) {
            size_t j = (size_t)(w[i] >> 17) & mask;
            while (table[j] != 0 && table[j] != w[i])
                j = (j + 1) & mask;
            table[j] = w[i];
        }
    }
    out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)(asked ? 1 : sizeof(uint64_t)));
    if (out == NULL)
        goto done;
    const int64_t *st = (const int64_t *)start.buf;
    const int32_t *cl = (const int32_t *)caplen.buf;
    const int32_t *lt = (const int32_t *)linktype.buf;
    const unsigned char *b = (const unsigned char *)buf.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = st[i], c = cl[i];
        uint64_t h = (lt[i] == LINKTYPE_ETHERNET && s >= 0 && c > 0 && s <= buf.len - c)
                         ? tuple_hash(b + s, c) : 0;
        if (!asked) {
            ((uint64_t *)PyBytes_AS_STRING(out))[i] = h;
            continue;
        }
        int keep = h == 0;
        for (size_t j = (size_t)(h >> 17) & mask; !keep && table[j] != 0; j = (j + 1) & mask)
            keep = table[j] == h;
        PyBytes_AS_STRING(out)[i] = (char)keep;
    }
done:
    PyMem_Free(table);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&start);
    PyBuffer_Release(&caplen);
    PyBuffer_Release(&linktype);
    if (PyTuple_GET_SIZE(args) == 5)
        PyBuffer_Release(&wanted);
    return out;
}

static PyMethodDef walk_methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(buf, pos, end, big_endian) -> (int64 record offsets as bytes, where it stopped)"},
    {"tuple_hashes", tuple_hashes, METH_VARARGS,
     "tuple_hashes(buf, start, caplen, linktype[, wanted]) -> uint64 4-tuple hash per frame "
     "as bytes (0: not plain Ethernet/IPv4/TCP or UDP); with wanted, 1 byte per frame: "
     "its hash is 0 or wanted"},
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
