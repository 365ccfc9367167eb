/* The capture record walks, compiled (handshaker.capture._walk).
 *
 * Finding where each record starts means reading every record's incl_len in
 * turn: a chain numpy cannot follow. capture/pcap.py walks it in Python (one
 * struct.unpack_from per record, about 0.5 s per million records) and then
 * gathers the other header fields with numpy; records() does both in one pass
 * in C, each header read once. Both must give the same columns and the same
 * stopping place: pcap.py keeps the Python walk as the fallback and the tests
 * compare the two on good and damaged buffers.
 *
 * tuple_hashes gives each frame's 4-tuple hash straight from its bytes, so that
 * a split run's worker, following a few connections on through the next part,
 * passes over the frames of the others undecoded (split.Replay.frames_of;
 * without this module it decodes them all, and drops their rows after).
 * records() tells the same as it walks, while the frame's bytes are at hand.
 *
 * blocks is pcapng's walk: the offsets of a run of packet blocks.
 *
 * tuple_keys gives a batch's 4-tuples their ids (analysis._tuple_keys) in one pass.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define RECORD_HEADER_LEN 16
#define WIDE ((Py_ssize_t)sizeof(int64_t))
#define NARROW ((Py_ssize_t)sizeof(int32_t))

/* The 4-tuple hash of analysis._tuple_keys, for a frame that is plainly Ethernet,
 * IPv4 (no fragment) and TCP or UDP with its ports captured; 0 for any other
 * (which the caller keeps: it cannot tell). The 4-tuple is packed as the columns
 * pack it: each endpoint as (0, 0xFFFF00000000 | address, port), the lower first. */
#define LINKTYPE_ETHERNET 1
#define V4_MAPPED_LO_PREFIX 0x0000FFFF00000000ULL

static const uint64_t MIX[5] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL,
                                0x165667B19E3779F9ULL, 0xD6E8FEB86659FD93ULL,
                                0xFF51AFD7ED558CCDULL};

/* analysis.tuple_hash of one packed 4-tuple */
static uint64_t mix(const uint64_t k[5])
{
    uint64_t h = k[0] * MIX[0];
    for (int c = 1; c < 5; c++) {
        h ^= k[c] * MIX[c];
        h ^= h >> 29;
    }
    return h;
}

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
    uint64_t h = mix(k);
    return h ? h : 1; /* (0 says "cannot tell"; a real 0 is kept as 1: one more kept) */
}

/* An open-addressing set of the uint64 hashes in ``wanted`` (0 marks a free slot: a
 * wanted 0 is never asked for, a frame's 0 is kept anyway); NULL on no memory. */
static uint64_t *wanted_set(const Py_buffer *wanted, size_t *mask)
{
    size_t count = (size_t)wanted->len / sizeof(uint64_t), size = 16;
    while (size < 2 * count)
        size *= 2;
    uint64_t *table = PyMem_Calloc(size, sizeof(uint64_t));
    if (table == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *mask = size - 1;
    const uint64_t *w = (const uint64_t *)wanted->buf;
    for (size_t i = 0; i < count; i++) {
        size_t j = (size_t)(w[i] >> 17) & *mask;
        while (table[j] != 0 && table[j] != w[i])
            j = (j + 1) & *mask;
        table[j] = w[i];
    }
    return table;
}

static int is_wanted(const uint64_t *table, size_t mask, uint64_t h)
{
    for (size_t j = (size_t)(h >> 17) & mask; table[j] != 0; j = (j + 1) & mask)
        if (table[j] == h)
            return 1;
    return 0;
}

static uint32_t u32(const unsigned char *h, int big)
{
    return big ? ((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3])
               : ((uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[1] << 8 | h[0]);
}

/* the columns records() gives, as they grow */
typedef struct {
    int64_t *offs, *ts;
    int32_t *incl, *orig;
    char *keep;
} Columns;

static int grow(Columns *c, Py_ssize_t cap, int keep)
{
    void *p;
#define GROW(field, size)                                                                   \
    if ((p = PyMem_Realloc(c->field, (size_t)cap * (size))) == NULL)                        \
        goto no_memory;                                                                     \
    c->field = p;
    GROW(offs, sizeof(int64_t))
    GROW(ts, sizeof(int64_t))
    GROW(incl, sizeof(int32_t))
    GROW(orig, sizeof(int32_t))
    if (keep) {
        GROW(keep, 1)
    }
#undef GROW
    return 0;
no_memory:
    PyErr_NoMemory();
    return -1;
}

/* records(buf, pos, end, big_endian, mult[, wanted])
 *     -> (offsets, ts_ns, caplen, wirelen, keep, pos)
 *
 * The records that lie whole in buf[pos:end], each from its 16-byte header on, as
 * columns in bytes objects (native order): where each starts (int64), its time in ns
 * (int64: ts_sec * 10^9 + ts_frac * mult), incl_len (int32) and orig_len (int32, at
 * most 2^31 - 1); and the offset where the walk stopped (the first record not whole
 * in the range). With ``wanted`` (uint64 4-tuple hashes; the capture is Ethernet),
 * keep is a byte per record: 1 where the frame's tuple_hash is 0 (it cannot tell) or
 * one of those wanted, else 0 (split.Replay.frames_of); without it, None. */
static PyObject *records(PyObject *module, PyObject *args)
{
    Py_buffer view, wanted = {0};
    Py_ssize_t pos, end;
    int big;
    long long mult;
    if (!PyArg_ParseTuple(args, "y*nnpL|y*", &view, &pos, &end, &big, &mult, &wanted))
        return NULL;
    int asked = wanted.obj != NULL;
    PyObject *out = NULL;
    Columns cols = {0};
    uint64_t *table = NULL;
    size_t mask = 0;
    if (pos < 0 || end < pos || end > view.len || wanted.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "records: need 0 <= pos <= end <= len(buf) "
                                          "(and uint64 wanted)");
        goto done;
    }
    if (asked && (table = wanted_set(&wanted, &mask)) == NULL)
        goto done;
    Py_ssize_t cap = 4096, n = 0;
    if (grow(&cols, cap, asked) < 0)
        goto done;
    const unsigned char *buf = (const unsigned char *)view.buf;
    while (end - pos >= RECORD_HEADER_LEN) {
        const unsigned char *h = buf + pos;
        uint32_t caplen = u32(h + 8, big);
        if ((Py_ssize_t)caplen > end - pos - RECORD_HEADER_LEN)
            break;
        if (n == cap && grow(&cols, (cap *= 2), asked) < 0)
            goto done;
        uint32_t wire = u32(h + 12, big);
        cols.offs[n] = pos;
        cols.ts[n] = (int64_t)u32(h, big) * 1000000000LL + (int64_t)u32(h + 4, big) * mult;
        cols.incl[n] = (int32_t)caplen;
        cols.orig[n] = wire > 0x7FFFFFFF ? 0x7FFFFFFF : (int32_t)wire;
        if (asked) {
            uint64_t hash = tuple_hash(h + RECORD_HEADER_LEN, caplen);
            cols.keep[n] = (char)(hash == 0 || is_wanted(table, mask, hash));
        }
        n++;
        pos += RECORD_HEADER_LEN + (Py_ssize_t)caplen;
    }
    PyObject *kept = asked ? PyBytes_FromStringAndSize(cols.keep, n) : Py_NewRef(Py_None);
    if (kept != NULL)
        out = Py_BuildValue("(y#y#y#y#Nn)", (const char *)cols.offs, n * WIDE,
                            (const char *)cols.ts, n * WIDE, (const char *)cols.incl, n * NARROW,
                            (const char *)cols.orig, n * NARROW, kept, pos);
done:
    PyMem_Free(cols.offs);
    PyMem_Free(cols.ts);
    PyMem_Free(cols.incl);
    PyMem_Free(cols.orig);
    PyMem_Free(cols.keep);
    PyMem_Free(table);
    PyBuffer_Release(&view);
    if (asked)
        PyBuffer_Release(&wanted);
    return out;
}

/* skip(buf, pos, end, big_endian, mult, offset, max_record) -> (count, pos, last_ts)
 *
 * Pass over the records from buf[pos] on that start before ``offset`` (capture/pcap.py's
 * skip_to, on a piece of the file read for it): how many, where the walk stopped (the first record at ``offset`` or beyond, or the
 * first not whole in buf[:end], or claiming more than max_record bytes: damage, which
 * the reading reports from there) and the time of the last one passed over, in ns
 * (None: none was). */
static PyObject *skip(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, end, offset, max_record;
    int big;
    long long mult;
    if (!PyArg_ParseTuple(args, "y*nnpLnn", &view, &pos, &end, &big, &mult, &offset,
                          &max_record))
        return NULL;
    if (pos < 0 || end < pos || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "skip: need 0 <= pos <= end <= len(buf)");
        return NULL;
    }
    const unsigned char *buf = (const unsigned char *)view.buf, *last = NULL;
    Py_ssize_t count = 0;
    while (pos < offset && end - pos >= RECORD_HEADER_LEN) {
        const unsigned char *h = buf + pos;
        uint32_t caplen = u32(h + 8, big);
        if ((Py_ssize_t)caplen > max_record || (Py_ssize_t)caplen > end - pos - RECORD_HEADER_LEN)
            break;
        last = h;
        count++;
        pos += RECORD_HEADER_LEN + (Py_ssize_t)caplen;
    }
    PyObject *ts = last == NULL ? Py_NewRef(Py_None)
                                : PyLong_FromLongLong((long long)u32(last, big) * 1000000000LL +
                                                      (long long)u32(last + 4, big) * mult);
    PyBuffer_Release(&view);
    return ts == NULL ? NULL : Py_BuildValue("(nnN)", count, pos, ts);
}

/* blocks(buf, pos, end, big_endian, interfaces) -> (offsets, pos)
 *
 * pcapng's walk (capture/pcapng.py, PcapngReader.batches): the packet blocks that lie
 * whole in buf[pos:end], one after another, of the kinds the reader takes in bulk:
 * enhanced packet blocks naming one of the section's ``interfaces`` and, where it has
 * any, simple packet blocks. Their offsets (int64, native order, in a bytes object),
 * and the offset of the first block that is not one of those, or not whole. Only each
 * block's type, length and third word are read; the reader checks the rest (the
 * trailing length, the captured length) on the columns after. */
#define PCAPNG_SPB 3
#define PCAPNG_EPB 6
#define PCAPNG_EPB_MIN 32
#define PCAPNG_SPB_MIN 16
static PyObject *blocks(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, end, interfaces;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnpn", &view, &pos, &end, &big, &interfaces))
        return NULL;
    PyObject *out = NULL;
    int64_t *offs = NULL;
    if (pos < 0 || end < pos || end > view.len) {
        PyErr_SetString(PyExc_ValueError, "blocks: need 0 <= pos <= end <= len(buf)");
        goto done;
    }
    const unsigned char *buf = (const unsigned char *)view.buf;
    Py_ssize_t cap = 4096, n = 0;
    if ((offs = PyMem_Malloc((size_t)cap * sizeof(int64_t))) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    while (end - pos >= 12) {
        const unsigned char *h = buf + pos;
        uint32_t type = u32(h, big);
        Py_ssize_t len = (Py_ssize_t)u32(h + 4, big);
        if (len > end - pos)
            break;
        if (type == PCAPNG_EPB) {
            if ((Py_ssize_t)u32(h + 8, big) >= interfaces || len < PCAPNG_EPB_MIN)
                break;
        } else if (type != PCAPNG_SPB || !interfaces || len < PCAPNG_SPB_MIN) {
            break;
        }
        if (n == cap) {
            int64_t *more = PyMem_Realloc(offs, (size_t)(cap *= 2) * sizeof(int64_t));
            if (more == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            offs = more;
        }
        offs[n++] = pos;
        pos += len;
    }
    out = Py_BuildValue("(y#n)", (const char *)offs, n * WIDE, pos);
done:
    PyMem_Free(offs);
    PyBuffer_Release(&view);
    return out;
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
    if (asked && (table = wanted_set(&wanted, &mask)) == NULL)
        goto done;
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
        PyBytes_AS_STRING(out)[i] = (char)(h == 0 || is_wanted(table, mask, h));
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

/* tuple_keys(src_hi, src_lo, sport, dst_hi, dst_lo, dport, rows) -> (inverse, swap, keys)
 * or None: analysis._tuple_keys for the given rows of a batch's columns (uint64 address
 * halves, int32 ports; rows int64) in one pass, with a hash table where numpy sorts.
 * Each row's 4-tuple is packed as five uint64 (the lower endpoint's halves, the
 * higher's, both ports) and hashed as analysis.tuple_hash does; keys are the distinct
 * packed 4-tuples (40 bytes each) in order of their hash, as np.unique gives them;
 * inverse (int64 per row) the index of its key, swap (int64 per row) 1 where the row
 * goes from the higher endpoint to the lower. None where two 4-tuples share a hash
 * (the caller then sorts the 40-byte keys themselves). */
typedef struct {
    uint64_t hash;
    Py_ssize_t key;
} HashKey;

static int by_hash(const void *a, const void *b)
{
    uint64_t x = ((const HashKey *)a)->hash, y = ((const HashKey *)b)->hash;
    return x < y ? -1 : x > y;
}

static PyObject *tuple_keys(PyObject *module, PyObject *args)
{
    Py_buffer v[7] = {{0}};
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                          &v[6]))
        return NULL;
    PyObject *out = NULL, *inv_b = NULL, *swap_b = NULL, *keys = NULL;
    uint64_t *packed = NULL, *hashes = NULL;
    Py_ssize_t *first = NULL, *table = NULL, *rank = NULL;
    HashKey *order = NULL;
    Py_ssize_t n = v[6].len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t m = v[0].len / (Py_ssize_t)sizeof(uint64_t);
    if (v[1].len != v[0].len || v[3].len != v[0].len || v[4].len != v[0].len ||
        v[2].len != m * (Py_ssize_t)sizeof(int32_t) || v[5].len != v[2].len ||
        v[6].len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "tuple_keys: four uint64 and two int32 columns of "
                                          "one length, and int64 rows");
        goto done;
    }
    const uint64_t *shi = v[0].buf, *slo = v[1].buf, *dhi = v[3].buf, *dlo = v[4].buf;
    const int32_t *spt = v[2].buf, *dpt = v[5].buf;
    const int64_t *rows = v[6].buf;
    inv_b = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    swap_b = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    size_t size = 16;
    while (size < 2 * (size_t)n)
        size *= 2;
    packed = PyMem_Malloc(((size_t)n * 5 + 1) * sizeof(uint64_t));
    hashes = PyMem_Malloc(((size_t)n + 1) * sizeof(uint64_t));
    first = PyMem_Malloc(((size_t)n + 1) * sizeof(Py_ssize_t));
    table = PyMem_Calloc(size, sizeof(Py_ssize_t));
    if (inv_b == NULL || swap_b == NULL || packed == NULL || hashes == NULL || first == NULL ||
        table == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    int64_t *inv = (int64_t *)PyBytes_AS_STRING(inv_b);
    int64_t *swp = (int64_t *)PyBytes_AS_STRING(swap_b);
    Py_ssize_t u = 0; /* distinct keys so far; first[j]: the first row of key j */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = rows[i];
        if (r < 0 || r >= m) {
            PyErr_SetString(PyExc_IndexError, "tuple_keys: a row outside the columns");
            goto done;
        }
        uint64_t ah = shi[r], al = slo[r], bh = dhi[r], bl = dlo[r];
        uint64_t ap = (uint64_t)(int64_t)spt[r], bp = (uint64_t)(int64_t)dpt[r];
        int swap = ah > bh || (ah == bh && (al > bl || (al == bl && ap > bp)));
        uint64_t *k = packed + 5 * i;
        k[0] = swap ? bh : ah;
        k[1] = swap ? bl : al;
        k[2] = swap ? ah : bh;
        k[3] = swap ? al : bl;
        k[4] = (swap ? bp : ap) << 16 | (swap ? ap : bp);
        uint64_t h = mix(k);
        hashes[i] = h;
        swp[i] = swap;
        size_t j = (size_t)(h >> 17) & (size - 1);
        for (;;) {
            Py_ssize_t slot = table[j];
            if (slot == 0) { /* a new key */
                table[j] = u + 1;
                first[u] = i;
                inv[i] = u++;
                break;
            }
            Py_ssize_t f = first[slot - 1];
            if (hashes[f] == h) {
                if (memcmp(packed + 5 * f, k, 5 * sizeof(uint64_t)) != 0) {
                    out = Py_NewRef(Py_None); /* two 4-tuples on one hash */
                    goto done;
                }
                inv[i] = slot - 1;
                break;
            }
            j = (j + 1) & (size - 1);
        }
    }
    /* the keys in order of their hash, as np.unique sorts them; each row's its place */
    order = PyMem_Malloc(((size_t)u + 1) * sizeof(HashKey));
    rank = PyMem_Malloc(((size_t)u + 1) * sizeof(Py_ssize_t));
    keys = PyList_New(u);
    if (order == NULL || rank == NULL || keys == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < u; j++) {
        order[j].hash = hashes[first[j]];
        order[j].key = j;
    }
    qsort(order, (size_t)u, sizeof(HashKey), by_hash);
    for (Py_ssize_t p = 0; p < u; p++) {
        Py_ssize_t j = order[p].key;
        rank[j] = p;
        PyObject *b = PyBytes_FromStringAndSize((const char *)(packed + 5 * first[j]),
                                                5 * sizeof(uint64_t));
        if (b == NULL)
            goto done;
        PyList_SET_ITEM(keys, p, b);
    }
    for (Py_ssize_t i = 0; i < n; i++)
        inv[i] = rank[inv[i]];
    out = Py_BuildValue("(OOO)", inv_b, swap_b, keys);
done:
    for (int c = 0; c < 7; c++)
        if (v[c].obj != NULL)
            PyBuffer_Release(&v[c]);
    Py_XDECREF(inv_b);
    Py_XDECREF(swap_b);
    Py_XDECREF(keys);
    PyMem_Free(packed);
    PyMem_Free(hashes);
    PyMem_Free(first);
    PyMem_Free(table);
    PyMem_Free(order);
    PyMem_Free(rank);
    return out;
}

static PyMethodDef walk_methods[] = {
    {"tuple_keys", tuple_keys, METH_VARARGS,
     "tuple_keys(src_hi, src_lo, sport, dst_hi, dst_lo, dport, rows) -> (int64 inverse as "
     "bytes, int64 swap as bytes, the distinct packed 4-tuples in hash order), or None where "
     "two share a hash (analysis._tuple_keys)"},
    {"records", records, METH_VARARGS,
     "records(buf, pos, end, big_endian, mult[, wanted]) -> (int64 offsets, int64 ts_ns, "
     "int32 caplen, int32 wirelen, keep (1 byte per record) or None, where it stopped)"},
    {"skip", skip, METH_VARARGS,
     "skip(buf, pos, end, big_endian, mult, offset, max_record) -> (records passed over, "
     "where it stopped, the time of the last one passed in ns or None)"},
    {"blocks", blocks, METH_VARARGS,
     "blocks(buf, pos, end, big_endian, interfaces) -> (int64 offsets of the whole EPBs "
     "naming one of the interfaces, and SPBs where there is one, in a row; where it stopped)"},
    {"tuple_hashes", tuple_hashes, METH_VARARGS,
     "tuple_hashes(buf, start, caplen, linktype[, wanted]) -> uint64 4-tuple hash per frame "
     "as bytes (0: not plain Ethernet/IPv4/TCP or UDP); with wanted, 1 byte per frame: "
     "its hash is 0 or wanted"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walk_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "handshaker.capture._walk",
    .m_doc = "The capture record walks, compiled (see capture/pcap.py and pcapng.py).",
    .m_size = -1,
    .m_methods = walk_methods,
};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&walk_module);
}
