/* The lean hello readers, compiled (handshaker.tls._hello).
 *
 * tls/hello.py's client_hello_facts and server_hello_facts read what a
 * connection summary needs of a ClientHello and a ServerHello body, and give
 * up (None) on anything they do not expect, so that the caller falls back to
 * the full parser and its diagnostics. Every TLS connection of a capture goes
 * through them; here they are the same walk over the bytes, in C, returning
 * the facts as a tuple that hello.py makes into its dataclass. Their Python
 * code is the twin (used without this module, and compared with it by
 * tests/test_tls_hello.py on the corpus's hellos, cut and grown, and on
 * noise). The body comes from the capture: every read is bounds-checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* extension types (RFC 8446 §4.2, RFC 6066, RFC 7301, RFC 5077, RFC 8422) */
enum {
    SERVER_NAME = 0,
    SUPPORTED_GROUPS = 10,
    EC_POINT_FORMATS = 11,
    SIGNATURE_ALGORITHMS = 13,
    ALPN = 16,
    SESSION_TICKET = 35,
    PRE_SHARED_KEY = 41,
    SUPPORTED_VERSIONS = 43,
    KEY_SHARE = 51,
};

/* RFC 8446 §4.1.3: the random of a HelloRetryRequest */
static const unsigned char HRR_RANDOM[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static inline unsigned u16(const unsigned char *b) { return (unsigned)(b[0] << 8 | b[1]); }

/* bytes b[lo:hi] as Python slices them: clipped to [0, n] */
static PyObject *slice(const unsigned char *b, Py_ssize_t n, Py_ssize_t lo, Py_ssize_t hi)
{
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    return PyBytes_FromStringAndSize((const char *)b + lo, hi - lo);
}

/* The extensions block of a hello body: its extensions one by one (walk_next), each
 * one's type appended to types; et, data and el: the one in hand. */
typedef struct {
    const unsigned char *b;
    Py_ssize_t p, end;
    PyObject *types;
    unsigned et;
    const unsigned char *data;
    Py_ssize_t el;
} Walk;

/* Begin the extensions block of body b[p:n] (none at all when p == n). 0: malformed. */
static int walk_begin(Walk *w, const unsigned char *b, Py_ssize_t p, Py_ssize_t n,
                      PyObject *types)
{
    *w = (Walk){b, n, n, types, 0, NULL, 0};
    if (p == n)
        return 1;
    if (p + 2 > n || p + 2 + (Py_ssize_t)u16(b + p) != n)
        return 0;
    w->p = p + 2;
    return 1;
}

/* The next extension into w->et, w->data, w->el: 1, 0 at the end, -2 malformed (the
 * reader gives up), -1 error. */
static int walk_next(Walk *w)
{
    if (w->p >= w->end)
        return 0;
    if (w->p + 4 > w->end)
        return -2;
    w->et = u16(w->b + w->p);
    w->el = u16(w->b + w->p + 2);
    w->p += 4;
    if (w->p + w->el > w->end)
        return -2;
    w->data = w->b + w->p;
    w->p += w->el;
    PyObject *t = PyLong_FromUnsignedLong(w->et);
    int r = t == NULL ? -1 : PyList_Append(w->types, t);
    Py_XDECREF(t);
    return r < 0 ? -1 : 1;
}

/* client_hello(body) -> (legacy_version, session_id, suites_raw, extension_types, sni, alpn,
 * groups_raw, point_formats_raw, sigalgs_raw, versions_raw, ticket), or None: the twin of
 * tls/hello.py's client_hello_facts. */
static PyObject *client_hello(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len, p = 34;
    PyObject *types = NULL, *sid = NULL, *suites = NULL, *sni = NULL, *alpn = NULL,
             *raw[4] = {NULL, NULL, NULL, NULL}, *out = NULL;
    int ticket = 0;
    if (n < 38)
        goto give_up;
    unsigned version = u16(b);
    Py_ssize_t sid_len = b[p];
    p += 1;
    if (p + sid_len + 2 > n)
        goto give_up;
    sid = slice(b, n, p, p + sid_len);
    p += sid_len;
    Py_ssize_t cs_len = u16(b + p);
    p += 2;
    if (sid == NULL || cs_len % 2 || p + cs_len > n)
        goto give_up;
    suites = slice(b, n, p, p + cs_len);
    p += cs_len;
    if (suites == NULL || p >= n)
        goto give_up;
    p += 1 + b[p];
    types = PyList_New(0);
    alpn = PyList_New(0);
    Walk w;
    int more;
    if (types == NULL || alpn == NULL || !walk_begin(&w, b, p, n, types))
        goto give_up;
    while ((more = walk_next(&w)) == 1) {
        unsigned et = w.et;
        const unsigned char *data = w.data;
        Py_ssize_t el = w.el;
        PyObject *v = NULL;
        int slot = -1;
        if (et == SERVER_NAME && el >= 5 && data[2] == 0) {
            Py_ssize_t hi = 5 + (Py_ssize_t)u16(data + 3);
            v = PyUnicode_DecodeASCII((const char *)data + 5, (hi < el ? hi : el) - 5,
                                      "replace");
            if (v == NULL)
                goto give_up;
            Py_XSETREF(sni, v);
            continue;
        }
        if (et == ALPN && el >= 2) {
            PyObject *names = PyList_New(0);
            if (names == NULL)
                goto give_up;
            for (Py_ssize_t q = 2; q < el;) {
                Py_ssize_t ln = data[q];
                PyObject *name = slice(data, el, q + 1, q + 1 + ln);
                if (name == NULL || PyList_Append(names, name) < 0) {
                    Py_XDECREF(name);
                    Py_DECREF(names);
                    goto give_up;
                }
                Py_DECREF(name);
                q += 1 + ln;
            }
            Py_XSETREF(alpn, names);
            continue;
        }
        if (et == SUPPORTED_GROUPS && el >= 2)
            slot = 0, v = slice(data, el, 2, el);
        else if (et == EC_POINT_FORMATS && el >= 1)
            slot = 1, v = slice(data, el, 1, el);
        else if (et == SIGNATURE_ALGORITHMS && el >= 2)
            slot = 2, v = slice(data, el, 2, el);
        else if (et == SUPPORTED_VERSIONS && el >= 1)
            slot = 3, v = slice(data, el, 1, el);
        else if (et == SESSION_TICKET && el > 0)
            ticket = 1;
        if (slot >= 0) {
            if (v == NULL)
                goto give_up;
            Py_XSETREF(raw[slot], v);
        }
    }
    if (more != 0)
        goto give_up;
    for (int k = 0; k < 4; k++)
        if (raw[k] == NULL && (raw[k] = PyBytes_FromStringAndSize(NULL, 0)) == NULL)
            goto give_up;
    out = Py_BuildValue("(IOOOOOOOOOO)", version, sid, suites, types, sni ? sni : Py_None,
                        alpn, raw[0], raw[1], raw[2], raw[3], ticket ? Py_True : Py_False);
give_up:
    Py_XDECREF(sid);
    Py_XDECREF(suites);
    Py_XDECREF(types);
    Py_XDECREF(sni);
    Py_XDECREF(alpn);
    for (int k = 0; k < 4; k++)
        Py_XDECREF(raw[k]);
    PyBuffer_Release(&view);
    if (out == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return out;
}

/* server_hello(body) -> (legacy_version, session_id, cipher_suite, extension_types,
 * hello_retry, selected_version, key_share_group, alpn, pre_shared_key, compression), or
 * None: the twin of tls/hello.py's server_hello_facts. */
static PyObject *server_hello(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len;
    PyObject *types = NULL, *sid = NULL, *alpn = NULL, *out = NULL;
    long selected = -1, group = -1;
    int psk = 0;
    if (n < 38 || u16(b) > 0x0304) /* (TLS 1.3 drafts: the full parser knows them) */
        goto give_up;
    Py_ssize_t p = 35 + b[34];
    if (p + 3 > n)
        goto give_up;
    sid = slice(b, n, 35, p);
    unsigned suite = u16(b + p), compression = b[p + 2];
    int retry = memcmp(b + 2, HRR_RANDOM, 32) == 0;
    p += 3;
    types = PyList_New(0);
    Walk w;
    int more;
    if (sid == NULL || types == NULL || !walk_begin(&w, b, p, n, types))
        goto give_up;
    while ((more = walk_next(&w)) == 1) {
        if (w.et == SUPPORTED_VERSIONS && w.el == 2)
            selected = u16(w.data);
        else if (w.et == KEY_SHARE && w.el >= 2)
            group = u16(w.data);
        else if (w.et == ALPN && w.el >= 3) {
            PyObject *v = slice(w.data, w.el, 3, 3 + (Py_ssize_t)w.data[2]);
            if (v == NULL)
                goto give_up;
            Py_XSETREF(alpn, v);
        }
        else if (w.et == PRE_SHARED_KEY)
            psk = 1;
    }
    if (more != 0)
        goto give_up;
    PyObject *sel = selected < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(selected);
    PyObject *grp = group < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(group);
    if (sel != NULL && grp != NULL)
        out = Py_BuildValue("(IOIOOOOOOI)", u16(b), sid, suite, types, retry ? Py_True : Py_False,
                            sel, grp, alpn ? alpn : Py_None, psk ? Py_True : Py_False,
                            compression);
    Py_XDECREF(sel);
    Py_XDECREF(grp);
give_up:
    Py_XDECREF(sid);
    Py_XDECREF(types);
    Py_XDECREF(alpn);
    PyBuffer_Release(&view);
    if (out == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return out;
}

/* records.py's whole_handshake_records, all at once: the plaintext handshake records at
 * the start of data (its first byte at stream offset `offset`) that hold whole
 * messages, as a list of (where the record ends in data, [make(msg_type, length, body,
 * stream offset, end offset, stream offset of the record's last byte), ...]); it stops
 * at the first record that is not one, as the Python twin does. */
#define HANDSHAKE 22
#define MAX_RECORD_LENGTH (16384 + 2048)

static PyObject *handshake_records(PyObject *self, PyObject *args)
{
    Py_buffer view;
    long long offset;
    PyObject *make;
    if (!PyArg_ParseTuple(args, "y*LO", &view, &offset, &make))
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len, pos = 0;
    PyObject *out = PyList_New(0);
    while (out != NULL && n - pos >= 5 && b[pos] == HANDSHAKE) {
        Py_ssize_t length = (Py_ssize_t)u16(b + pos + 3), end = pos + 5 + length;
        if (!length || length > MAX_RECORD_LENGTH || end > n)
            break;
        long long last = offset + end - 1;
        PyObject *messages = PyList_New(0);
        if (messages == NULL) {
            Py_CLEAR(out);
            break;
        }
        Py_ssize_t q = pos + 5;
        int whole = 1;
        while (end - q >= 4) {
            Py_ssize_t size = (Py_ssize_t)b[q + 1] << 16 | (Py_ssize_t)b[q + 2] << 8 | b[q + 3];
            if (q + 4 + size > end) {
                whole = 0; /* a message that goes on in the next record */
                break;
            }
            PyObject *m = PyObject_CallFunction(make, "iny#LLL", (int)b[q], size, b + q + 4,
                                                size, offset + q, offset + q + 4 + size, last);
            if (m == NULL || PyList_Append(messages, m) < 0) {
                Py_XDECREF(m);
                Py_CLEAR(messages);
                Py_CLEAR(out);
                break;
            }
            Py_DECREF(m);
            q += 4 + size;
        }
        if (out == NULL)
            break;
        if (!whole || q != end) {
            Py_DECREF(messages);
            break;
        }
        PyObject *item = Py_BuildValue("(nN)", end, messages);
        if (item == NULL || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
        pos = end;
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"handshake_records", handshake_records, METH_VARARGS,
     "handshake_records(data, offset, make) -> [(end, [make(...), ...]), ...]: the "
     "leading plaintext handshake records of whole messages (records.py)"},
    {"client_hello", client_hello, METH_O,
     "client_hello(body) -> the facts of a ClientHello body as a tuple, or None"},
    {"server_hello", server_hello, METH_O,
     "server_hello(body) -> the facts of a ServerHello body as a tuple, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "handshaker.tls._hello",
    .m_doc = "The lean hello readers, compiled (see tls/hello.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__hello(void)
{
    return PyModule_Create(&module);
}
