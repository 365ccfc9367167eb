/* The TCP tracker's lanes, compiled (handshaker.flow._lane).
 *
 * TcpTracker.feed (flow/tcp.py) takes most segments of a capture through a
 * fast lane: an in-order segment of an established, unremarkable connection
 * changes nothing but running numbers. Here that lane is one C loop over the
 * batch's columns (take_fast; its Python twin is in TcpTracker.feed). The
 * other segments of streams that are not kept (SYNs, SYN+ACKs, the ACKs that
 * move the state machine, FINs, retransmissions, payloads for the stream
 * observers) are taken here as well, as TcpTracker.segment takes them: its
 * sequence analysis (analyze_core, twin of flow/tcp.py's _analyze), its
 * _control (states, Zeek history letters, events) and anomalies; the stream a
 * SYN begins is made, and a payload handed to its observer, by calling back
 * into Python. The loop stops at the first segment it does not take (a RST, a
 * SYN with payload, a kept stream's) and hands it to Python, which looks at it
 * again with the same checks and, if they fail too, TcpTracker.segment.
 *
 * The state it reads and writes lives in two base types, DirCore and
 * StreamCore, whose fields Python sees as ordinary attributes: flow/tcp.py's
 * _Dir and TcpStream subclass them; the rest (lists, sets, the states) is read
 * by attribute. Without this module, flow/tcp.py uses pure-Python bases with
 * the same field names, and everything runs in Python: tests/test_compiled.py
 * checks that both leave every field of every stream alike.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define SYN 0x02
#define FIN 0x01
#define RST 0x04
#define ACK 0x10
#define M32 0xFFFFFFFFLL
#define MARK_A 1   /* the history letter 'a' was shown in this direction */
#define MARK_D 2   /* the history letter 'd' was shown in this direction */
#define MARK_FIN 4 /* this direction sent a FIN */

/* true when b is ahead of a in sequence space (Python: 0 < ((b - a) & M32) < 2**31) */
static inline int ahead(long long b, long long a)
{
    long long d = (b - a) & M32;
    return d > 0 && d < 0x80000000LL;
}

/* -- DirCore: one direction's numbers (flow/tcp.py's _Dir) ------------------------- */

typedef struct {
    PyObject_HEAD
    long long base_seq, nextseq, nextseqframe, nextseqtime, lastack, lastacktime, window,
        win_scale, dupacknum, lastnondupack, maxseqtobeacked, lastsegmentflags, packets,
        payload_bytes, wire_bytes, marks;
    char base_set, data_after_peer_fin;
} DirCore;

#define DIR_LL(name) {#name, T_LONGLONG, offsetof(DirCore, name), 0, NULL}
static PyMemberDef dir_members[] = {
    DIR_LL(base_seq), DIR_LL(nextseq), DIR_LL(nextseqframe), DIR_LL(nextseqtime),
    DIR_LL(lastack), DIR_LL(lastacktime), DIR_LL(window), DIR_LL(win_scale),
    DIR_LL(dupacknum), DIR_LL(lastnondupack), DIR_LL(maxseqtobeacked),
    DIR_LL(lastsegmentflags), DIR_LL(packets), DIR_LL(payload_bytes), DIR_LL(wire_bytes),
    DIR_LL(marks),
    {"base_set", T_BOOL, offsetof(DirCore, base_set), 0, NULL},
    {"data_after_peer_fin", T_BOOL, offsetof(DirCore, data_after_peer_fin), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject DirCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "handshaker.flow._lane.DirCore",
    .tp_basicsize = sizeof(DirCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The numbers of one direction of a TCP stream (the base of flow.tcp._Dir).",
    .tp_members = dir_members,
    .tp_new = PyType_GenericNew,
};

/* -- StreamCore: a stream's fields the lane needs (flow/tcp.py's TcpStream) ---------- */

typedef struct {
    PyObject_HEAD
    PyObject *dirs;     /* (DirCore, DirCore): endpoint a's direction, endpoint b's */
    PyObject *observer; /* None, or an object with .wants (a list of two flags) */
    PyObject *segments; /* None unless the stream is kept (then never in the lane) */
    long long last_frame, last_ts, packets, first_rtt_ns, ts_mru_syn, a_swap;
    char watch;
} StreamCore;

static PyMemberDef stream_members[] = {
    {"dirs", T_OBJECT_EX, offsetof(StreamCore, dirs), 0, NULL},
    {"observer", T_OBJECT_EX, offsetof(StreamCore, observer), 0, NULL},
    {"segments", T_OBJECT_EX, offsetof(StreamCore, segments), 0, NULL},
    {"last_frame", T_LONGLONG, offsetof(StreamCore, last_frame), 0, NULL},
    {"last_ts", T_LONGLONG, offsetof(StreamCore, last_ts), 0, NULL},
    {"packets", T_LONGLONG, offsetof(StreamCore, packets), 0, NULL},
    {"first_rtt_ns", T_LONGLONG, offsetof(StreamCore, first_rtt_ns), 0, NULL},
    {"ts_mru_syn", T_LONGLONG, offsetof(StreamCore, ts_mru_syn), 0, NULL},
    {"a_swap", T_LONGLONG, offsetof(StreamCore, a_swap), 0, NULL},
    {"watch", T_BOOL, offsetof(StreamCore, watch), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static int stream_traverse(StreamCore *self, visitproc visit, void *arg)
{
    Py_VISIT(self->dirs);
    Py_VISIT(self->observer);
    Py_VISIT(self->segments);
    return 0;
}

static int stream_clear(StreamCore *self)
{
    Py_CLEAR(self->dirs);
    Py_CLEAR(self->observer);
    Py_CLEAR(self->segments);
    return 0;
}

static void stream_dealloc(StreamCore *self)
{
    PyObject_GC_UnTrack(self);
    stream_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject StreamCoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "handshaker.flow._lane.StreamCore",
    .tp_basicsize = sizeof(StreamCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a TCP stream the fast lane reads (the base of flow.tcp.TcpStream).",
    .tp_members = stream_members,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_clear = (inquiry)stream_clear,
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_new = PyType_GenericNew,
};

/* The stream's direction d (the sender's) and the other one, if it has the two
 * directions a TcpStream has (0 for anything else: then Python decides). */
static int directions(StreamCore *st, int d, DirCore **fwd, DirCore **rev)
{
    if (st->dirs == NULL || !PyTuple_Check(st->dirs) || PyTuple_GET_SIZE(st->dirs) != 2)
        return 0;
    PyObject *fo = PyTuple_GET_ITEM(st->dirs, d), *ro = PyTuple_GET_ITEM(st->dirs, 1 - d);
    if (!PyObject_TypeCheck(fo, &DirCoreType) || !PyObject_TypeCheck(ro, &DirCoreType))
        return 0;
    *fwd = (DirCore *)fo;
    *rev = (DirCore *)ro;
    return 1;
}

/* -- Lane: one batch's columns, run from a given segment on -------------------------- */

enum { C_INV, C_SW, C_NUMBER, C_TS, C_SEQ, C_ACK, C_FLAGS, C_PLEN, C_WIN, C_WIRE, NCOL };
static const char *const column_names[NCOL] = {
    "inv", "sw", "number", "ts", "seq", "ack", "flags", "plen", "win", "wire"};

typedef struct {
    PyObject_HEAD
    PyObject *table; /* dict: key -> stream (the tracker's streams by 4-tuple) */
    PyObject *keys;  /* list: the batch's distinct keys; inv[i] indexes it */
    Py_buffer view[NCOL];
    const long long *col[NCOL];
    Py_ssize_t n;
    long long quiet;
    /* with more given: the batch's bytes, where each segment's options lie in them
     * ([lo, hi); lo < 0: none) and where its captured payload does ([plo, phi)),
     * new_stream(i), which makes segment i's stream, and deliver(stream, d, frame, ts,
     * seq, seglen, payload, bits), which offers the payload to the stream's observer */
    Py_buffer buf;
    Py_buffer span[4];
    const long long *opt_lo, *opt_hi, *pay_lo, *pay_hi;
    PyObject *new_stream, *deliver;
} Lane;

static PyObject *wants_name; /* "wants", interned */

static void lane_dealloc(Lane *self)
{
    for (int c = 0; c < NCOL; c++)
        if (self->view[c].obj != NULL)
            PyBuffer_Release(&self->view[c]);
    for (int k = 0; k < 4; k++)
        if (self->span[k].obj != NULL)
            PyBuffer_Release(&self->span[k]);
    if (self->buf.obj != NULL)
        PyBuffer_Release(&self->buf);
    Py_XDECREF(self->new_stream);
    Py_XDECREF(self->deliver);
    Py_XDECREF(self->table);
    Py_XDECREF(self->keys);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Lane(table, keys, columns, quiet, more=None): columns is a sequence of NCOL contiguous
 * int64 arrays of one length (inv, sw, number, ts, seq, ack, flags, plen, win, wire);
 * more, (buf, lo, hi, plo, phi, new_stream, deliver), lets the lane take SYNs and
 * segments with payload: see the Lane struct. */
static int lane_init(Lane *self, PyObject *args, PyObject *kwds)
{
    PyObject *table, *keys, *columns, *more = Py_None;
    long long quiet;
    static char *kwlist[] = {"table", "keys", "columns", "quiet", "more", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!OL|O", kwlist, &PyDict_Type, &table,
                                     &PyList_Type, &keys, &columns, &quiet, &more))
        return -1;
    if (self->table != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Lane is made once");
        return -1;
    }
    PyObject *seq = PySequence_Fast(columns, "columns must be a sequence");
    if (seq == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) != NCOL) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "expected %d columns", NCOL);
        return -1;
    }
    self->n = -1;
    for (int c = 0; c < NCOL; c++) {
        Py_buffer *v = &self->view[c];
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, c), v,
                               PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (v->itemsize != 8 || v->ndim != 1 || v->format == NULL ||
            (strcmp(v->format, "q") != 0 && strcmp(v->format, "l") != 0) ||
            (self->n >= 0 && v->shape[0] != self->n)) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "column %s: expected int64 of one length",
                         column_names[c]);
            return -1;
        }
        self->n = v->shape[0];
        self->col[c] = (const long long *)v->buf;
    }
    Py_DECREF(seq);
    Py_ssize_t nkeys = PyList_GET_SIZE(keys);
    for (Py_ssize_t i = 0; i < self->n; i++) {
        long long k = self->col[C_INV][i];
        if (k < 0 || k >= nkeys) {
            PyErr_SetString(PyExc_ValueError, "inv: index out of range of keys");
            return -1;
        }
    }
    if (more != Py_None) {
        PyObject *buf, *lo, *hi, *plo, *phi, *make, *deliver;
        if (!PyArg_ParseTuple(more,
                              "OOOOOOO;more: (buf, lo, hi, plo, phi, new_stream, deliver) expected",
                              &buf, &lo, &hi, &plo, &phi, &make, &deliver))
            return -1;
        if (!PyCallable_Check(make) || !PyCallable_Check(deliver)) {
            PyErr_SetString(PyExc_TypeError, "more: new_stream and deliver must be callable");
            return -1;
        }
        if (PyObject_GetBuffer(buf, &self->buf, PyBUF_SIMPLE) < 0)
            return -1;
        PyObject *spans[4] = {lo, hi, plo, phi};
        for (int k = 0; k < 4; k++) {
            Py_buffer *v = &self->span[k];
            if (PyObject_GetBuffer(spans[k], v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
                return -1;
            if (v->itemsize != 8 || v->ndim != 1 || v->format == NULL ||
                (strcmp(v->format, "q") != 0 && strcmp(v->format, "l") != 0) ||
                v->shape[0] != self->n) {
                PyErr_SetString(PyExc_ValueError,
                                "more: lo, hi, plo, phi: int64 of the columns' length");
                return -1;
            }
        }
        self->opt_lo = (const long long *)self->span[0].buf;
        self->opt_hi = (const long long *)self->span[1].buf;
        self->pay_lo = (const long long *)self->span[2].buf;
        self->pay_hi = (const long long *)self->span[3].buf;
        self->new_stream = Py_NewRef(make);
        self->deliver = Py_NewRef(deliver);
    }
    Py_INCREF(table);
    Py_INCREF(keys);
    self->table = table;
    self->keys = keys;
    self->quiet = quiet;
    return 0;
}

/* Is the direction d of observer obs still wanted (obs.wants[d])? -1 on error. */
static int observer_wants(PyObject *obs, int d)
{
    PyObject *wants = PyObject_GetAttr(obs, wants_name);
    if (wants == NULL)
        return -1;
    PyObject *w = PySequence_GetItem(wants, d);
    Py_DECREF(wants);
    if (w == NULL)
        return -1;
    int r = PyObject_IsTrue(w);
    Py_DECREF(w);
    return r;
}

static int take_plain(Lane *self, StreamCore *st, int d, DirCore *fwd, DirCore *rev,
                      Py_ssize_t i);
static int deliver(Lane *self, StreamCore *st, int d, long long frame, long long ts,
                   long long seq, long long seglen, Py_ssize_t i, long long bits);
static int take_syn(Lane *self, StreamCore *st, int d, DirCore *fwd, DirCore *rev,
                    Py_ssize_t i);

/* Segment i (of stream st, sent by direction d) in the fast lane: an in-order segment of
 * an established, unremarkable connection, which changes nothing but running numbers.
 * Mirrors TcpTracker.feed's fast lane. 1: taken; 0: not for this lane; -1: error. */
static int take_fast(Lane *self, StreamCore *st, int d, DirCore *fwd, DirCore *rev,
                     Py_ssize_t i)
{
    const long long *const *col = self->col;
    long long seglen = col[C_PLEN][i], t = col[C_TS][i];
    long long nxt = fwd->nextseq, sq = col[C_SEQ][i], window = col[C_WIN][i];
    if (col[C_FLAGS][i] & FIN || st->watch ||
        !(sq == nxt && nxt && window && rev->window && rev->base_set &&
          (fwd->marks & (seglen ? MARK_D : MARK_A)) && (st->first_rtt_ns || !st->ts_mru_syn)))
        return 0;
    long long ak = col[C_ACK][i], rmax = rev->maxseqtobeacked, frame = col[C_NUMBER][i];
    if (rmax && ahead(ak, rmax))
        return 0; /* acknowledges unseen bytes: the full analysis decides */
    long long end = nxt; /* where this direction's bytes end after the segment */
    if (seglen) {
        long long rlast = rev->lastack, shift = rev->win_scale;
        end = (sq + seglen) & M32;
        if (!ahead(end, rlast))
            return 0;
        if (shift != -1 && end == ((rlast + (rev->window << (shift == -2 ? 0 : shift))) & M32))
            return 0; /* fills the window */
        if (st->observer != NULL && st->observer != Py_None) {
            int w = observer_wants(st->observer, d);
            if (w != 0)
                return w < 0 ? -1 : 0; /* its bytes go to the observer: Python's part */
        }
    }
    else if (ak == fwd->lastack)
        return 0; /* a pure ACK that acknowledges nothing new */
    st->last_frame = frame;
    st->last_ts = t;
    st->packets += 1;
    fwd->packets += 1;
    fwd->wire_bytes += col[C_WIRE][i];
    if (ak != fwd->lastack) {
        fwd->lastnondupack = frame;
        fwd->dupacknum = 0;
    }
    if (seglen) {
        fwd->payload_bytes += seglen;
        fwd->nextseq = end;
        fwd->nextseqframe = frame;
        fwd->nextseqtime = t;
        if (rev->marks & MARK_FIN)
            fwd->data_after_peer_fin = 1;
    }
    if (sq == fwd->maxseqtobeacked || !fwd->maxseqtobeacked)
        fwd->maxseqtobeacked = end;
    fwd->window = window;
    fwd->lastack = ak;
    fwd->lastacktime = t;
    fwd->lastsegmentflags = 0;
    return 1;
}

/* lane.run(i) -> the index of the first segment from i on that the lane does not take
 * (the batch's length when it took them all). It takes the segments of streams that are
 * not kept and have not gone quiet past ``quiet``, but RSTs and SYNs with payload or FIN:
 * the fast lane's (take_fast), the others (take_plain, and with ``more`` given,
 * take_syn, which also begins a stream). */
static PyObject *lane_run(Lane *self, PyObject *arg)
{
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (self->table == NULL) {
        PyErr_SetString(PyExc_TypeError, "Lane not initialised");
        return NULL;
    }
    const long long *const *col = self->col;
    for (; i < self->n; i++) {
        PyObject *key = PyList_GET_ITEM(self->keys, col[C_INV][i]);
        PyObject *obj = PyDict_GetItemWithError(self->table, key); /* borrowed */
        long long flags = col[C_FLAGS][i], seglen = col[C_PLEN][i], gap;
        if (obj != NULL)
            Py_INCREF(obj); /* (held: the observer's Python, called below, might drop it) */
        else {
            if (PyErr_Occurred())
                return NULL;
            /* a new stream: the lane takes those a SYN without payload begins */
            if (self->new_stream == NULL || (flags & (SYN | ACK | FIN | RST)) != SYN ||
                seglen != 0)
                break;
            PyObject *at = PyLong_FromSsize_t(i);
            if (at == NULL)
                return NULL;
            obj = PyObject_CallOneArg(self->new_stream, at);
            Py_DECREF(at);
            if (obj == NULL)
                return NULL;
        }
        int r = 0;
        if (PyObject_TypeCheck(obj, &StreamCoreType)) {
            StreamCore *st = (StreamCore *)obj;
            int d = col[C_SW][i] == st->a_swap ? 0 : 1;
            DirCore *fwd, *rev;
            if (!(flags & RST) && seglen >= 0 && st->segments == Py_None &&
                !__builtin_sub_overflow(col[C_TS][i], st->last_ts, &gap) && gap <= self->quiet &&
                directions(st, d, &fwd, &rev)) {
                if (flags & SYN) {
                    if (!(flags & FIN) && seglen == 0)
                        r = take_syn(self, st, d, fwd, rev, i);
                }
                else {
                    r = take_fast(self, st, d, fwd, rev, i);
                    if (r == 0)
                        r = take_plain(self, st, d, fwd, rev, i);
                }
            }
        }
        /* (a stream made here and then left, kept say, is the one segment() finds: it
         * takes the SYN as it would have taken it on a stream it made itself) */
        Py_DECREF(obj);
        if (r < 0)
            return NULL;
        if (r == 0)
            break;
    }
    return PyLong_FromSsize_t(i);
}

/* -- analyze: one segment's sequence analysis (TcpTracker.segment's middle) ---------- */

#define A_RETRANSMISSION 0x0001
#define A_LOST_SEGMENT 0x0002
#define A_ACK_LOST_SEGMENT 0x0004
#define A_KEEP_ALIVE 0x0008
#define A_DUPLICATE_ACK 0x0010
#define A_ZERO_WINDOW 0x0020
#define A_ZERO_WINDOW_PROBE 0x0040
#define A_ZERO_WINDOW_PROBE_ACK 0x0080
#define A_KEEP_ALIVE_ACK 0x0100
#define A_OUT_OF_ORDER 0x0200
#define A_FAST_RETRANSMISSION 0x0400
#define A_WINDOW_UPDATE 0x0800
#define A_WINDOW_FULL 0x1000
#define A_SPURIOUS_RETRANSMISSION 0x4000
#define DEFAULT_OOO_THRESHOLD_NS 3000000LL
#define FAST_RETRANSMISSION_WINDOW_NS 20000000LL
#define I64_MAX 0x7FFFFFFFFFFFFFFFLL

/* a - b < limit, as Python computes it (no overflow) */
static inline int diff_below(long long a, long long b, long long limit)
{
    long long d;
    if (__builtin_sub_overflow(a, b, &d))
        return a < b;
    return d < limit;
}

/* The sequence analysis of one segment of direction d (fwd: its sender's numbers, rev:
 * the other side's), as TcpTracker.segment does it in Python (flow/tcp.py: _analyze, its
 * twin, line for line): the relative-number bases, the first RTT, every tcp.analysis
 * flag, and the running numbers after it. Returns the analysis bits; *dupnum_out gets
 * the segment's duplicate-ACK number. The arguments are in a capture's ranges (see
 * in_range). */
static long long analyze_core(StreamCore *st, DirCore *fwd, DirCore *rev, long long frame,
                              long long ts, long long seq, long long ack, long long flags,
                              long long seglen, long long window, long long bits,
                              long long *dupnum_out)
{
    long long syn = flags & SYN;
    /* relative numbering bases (tshark: tcp_analyze_sequence_number) */
    if (!fwd->base_set) {
        fwd->base_seq = syn ? seq : (seq - 1) & M32;
        fwd->base_set = 1;
    }
    if (!rev->base_set && (flags & ACK)) {
        rev->base_seq = (ack - 1) & M32;
        rev->base_set = 1;
    }
    /* initial RTT: from the most recent SYN to the first ACK without SYN */
    if (syn) {
        if (!(flags & ACK))
            st->ts_mru_syn = ts;
    }
    else if ((flags & ACK) && !st->first_rtt_ns && st->ts_mru_syn) {
        long long rtt;
        if (__builtin_sub_overflow(ts, st->ts_mru_syn, &rtt))
            rtt = ts < st->ts_mru_syn ? -I64_MAX - 1 : I64_MAX;
        st->first_rtt_ns = rtt;
    }

    long long dupnum = 0, ctl = flags & (SYN | FIN | RST), nxt = fwd->nextseq,
              lastack = fwd->lastack;
    if (seglen == 1 && seq == nxt && rev->window == 0)
        bits |= A_ZERO_WINDOW_PROBE;
    else {
        if (window == 0 && !ctl)
            bits |= A_ZERO_WINDOW;
        if (nxt && ahead(seq, nxt) && !(flags & RST))
            bits |= A_LOST_SEGMENT;
        if (!ctl) {
            if (seglen <= 1 && seq == ((nxt - 1) & M32))
                bits |= A_KEEP_ALIVE;
            int plain = seglen == 0 && seq == nxt && ack == lastack;
            if (plain && window && window != fwd->window)
                bits |= A_WINDOW_UPDATE;
            if (seglen > 0 && rev->win_scale != -1) {
                long long shift = rev->win_scale == -2 ? 0 : rev->win_scale;
                if (((seq + seglen) & M32) == ((rev->lastack + (rev->window << shift)) & M32))
                    bits |= A_WINDOW_FULL;
            }
            if (plain) {
                if (window && window == fwd->window && (rev->lastsegmentflags & A_KEEP_ALIVE))
                    bits |= A_KEEP_ALIVE_ACK;
                else if (window == 0 && fwd->window == 0 &&
                         (rev->lastsegmentflags & A_ZERO_WINDOW_PROBE))
                    bits |= A_ZERO_WINDOW_PROBE_ACK;
                else if (window && window == fwd->window) {
                    fwd->dupacknum = fwd->dupacknum == -1 ? 1 : fwd->dupacknum + 1;
                    bits |= A_DUPLICATE_ACK;
                    dupnum = fwd->dupacknum;
                }
            }
        }
    }
    if (ack != lastack) { /* a new ACK value ends a run of duplicate ACKs */
        fwd->lastnondupack = frame;
        fwd->dupacknum = 0;
    }
    /* ACKED UNSEEN SEGMENT */
    long long rmax = rev->maxseqtobeacked;
    if (rmax && (flags & ACK) && ahead(ack, rmax)) {
        if (rmax != rev->nextseq) {
            rev->maxseqtobeacked = rev->nextseq;
            bits |= A_ACK_LOST_SEGMENT;
        }
        else {
            if (rev->dupacknum == 0)
                bits |= A_ACK_LOST_SEGMENT;
            rev->dupacknum = -1;
        }
    }
    /* RETRANSMISSION / SPURIOUS / FAST RETRANSMISSION / OUT-OF-ORDER */
    long long sf = flags & (SYN | FIN);
    if ((seglen > 0 || sf) && !(bits & A_KEEP_ALIVE)) {
        int not_advanced = nxt && ahead(nxt, seq);
        if (seglen > 1 && ((nxt - 1) & M32) == seq)
            not_advanced = 0; /* new data after a zero-window probe */
        long long rlast = rev->lastack, end = (seq + seglen) & M32;
        if (seglen > 0 && rlast && (end == rlast || ahead(rlast, end)))
            bits |= A_SPURIOUS_RETRANSMISSION;
        else if (not_advanced) {
            if (rev->dupacknum >= 2 && rlast == seq &&
                diff_below(ts, rev->lastacktime, FAST_RETRANSMISSION_WINDOW_NS))
                bits |= A_FAST_RETRANSMISSION;
            else if (diff_below(ts, fwd->nextseqtime,
                                st->first_rtt_ns ? st->first_rtt_ns : DEFAULT_OOO_THRESHOLD_NS) &&
                     nxt != ((end + (sf ? 1 : 0)) & M32))
                bits |= A_OUT_OF_ORDER;
            else
                bits |= A_RETRANSMISSION;
        }
    }
    long long nextseq = (seq + seglen + (sf ? 1 : 0)) & M32;
    if ((!nxt || ahead(nextseq, nxt)) && !(bits & A_ZERO_WINDOW_PROBE)) {
        fwd->nextseq = nextseq;
        fwd->nextseqframe = frame;
        fwd->nextseqtime = ts;
    }
    if ((seq == fwd->maxseqtobeacked || !fwd->maxseqtobeacked) && !(bits & A_ZERO_WINDOW_PROBE))
        fwd->maxseqtobeacked = fwd->nextseq;
    fwd->window = window;
    fwd->lastack = ack;
    fwd->lastacktime = ts;
    fwd->lastsegmentflags = bits;
    *dupnum_out = dupnum;
    return bits;
}

/* The values analyze_core takes: what a capture can hold (segment numbers of 32 bits, a
 * 16-bit window; the other side's numbers as a capture leaves them). */
static int in_range(DirCore *rev, long long seq, long long ack, long long seglen,
                    long long window)
{
    return seq >= 0 && seq <= M32 && ack >= 0 && ack <= M32 && seglen >= 0 && seglen <= M32 &&
           window >= 0 && window <= 0xFFFF && rev->window >= 0 && rev->window <= 0xFFFF &&
           rev->win_scale <= 14; /* (never otherwise from a capture: the shift must fit) */
}

/* analyze(stream, d, frame, ts, seq, ack, flags, seglen, window, bits) -> (bits, dupnum)
 *
 * analyze_core for Python (TcpTracker.segment). NotImplemented when an argument is
 * outside what a capture can hold (then the Python twin runs). */
static PyObject *lane_analyze(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "analyze takes 10 arguments");
        return NULL;
    }
    if (!PyObject_TypeCheck(args[0], &StreamCoreType))
        Py_RETURN_NOTIMPLEMENTED;
    StreamCore *st = (StreamCore *)args[0];
    long long v[9];
    for (int k = 0; k < 9; k++) {
        int overflow;
        v[k] = PyLong_AsLongLongAndOverflow(args[k + 1], &overflow);
        if (v[k] == -1 && PyErr_Occurred())
            return NULL;
        if (overflow)
            Py_RETURN_NOTIMPLEMENTED;
    }
    long long d = v[0], dupnum;
    DirCore *fwd, *rev;
    if ((d != 0 && d != 1) || !directions(st, (int)d, &fwd, &rev) ||
        !in_range(rev, v[3], v[4], v[6], v[7]))
        Py_RETURN_NOTIMPLEMENTED;
    long long bits = analyze_core(st, fwd, rev, v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                                  &dupnum);
    return Py_BuildValue("LL", bits, dupnum);
}

/* -- the other segments: TcpTracker.segment and _control in C ------------------------ */

/* The state machine as flow/state.py's table has it for the events a SYN, an ACK or a FIN
 * moves (setup() gives it): the TcpState members, and for each the index of the state
 * each event leads to (the same index where the table has no move). */
#define MAX_STATES 16
enum { MV_RCV_ACK, MV_SND_FIN, MV_RCV_FIN, MV_SND_SYN, MV_RCV_SYN, MV_SND_SYNACK,
       MV_RCV_SYNACK, NMOVES };
static Py_ssize_t n_states; /* 0 until setup(): then the lane takes no control segment */
static PyObject *state_obj[MAX_STATES];
static int moves[NMOVES][MAX_STATES];
static char watched[MAX_STATES]; /* WATCH_STATES: an endpoint waits for an ACK */
static char fin_sent[MAX_STATES]; /* _FIN_SENT */
static int syn_received, close_wait, closing, fin_wait_1, closed;
static PyObject *syn_options_type; /* flow.tcp.SynOptions */
#define MAX_NAMES 32
static Py_ssize_t n_names;
static long long name_bit[MAX_NAMES];  /* ANALYSIS_NAMES within ANOMALY_MASK, in order */
static PyObject *name_str[MAX_NAMES];
#define ANY_RETRANSMISSION (A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION)

static PyObject *s_states, *s_history, *s_events, *s_anomalies, *s_fin_frames,
    *s_first_fin_seq, *s_isn, *s_handshake_ack_frame, *s_synack_frames, *s_syn_frames,
    *s_syn_times, *s_options;
static PyObject *letter_a, *letter_d, *letter_t, *letter_f, *letter_w, *letter_g, *letter_h,
    *letter_s, *kind_ack,
    *kind_fin_ack, *kind_fin;

static int state_at(PyObject *state)
{
    for (Py_ssize_t k = 0; k < n_states; k++)
        if (state_obj[k] == state)
            return (int)k;
    return -1;
}

/* obj.name, an int or None: 1 and *v (an int in 32 bits), 0 (None), -1 (error) */
static int maybe_seq(PyObject *obj, PyObject *name, long long *v)
{
    PyObject *o = PyObject_GetAttr(obj, name);
    if (o == NULL)
        return -1;
    if (o == Py_None) {
        Py_DECREF(o);
        return 0;
    }
    *v = PyLong_AsLongLong(o);
    Py_DECREF(o);
    if (*v == -1 && PyErr_Occurred())
        return -1;
    return 1;
}

/* obj.name.append(item), item's reference taken (NULL: an error already set) */
static int append_to(PyObject *obj, PyObject *name, PyObject *item)
{
    if (item == NULL)
        return -1;
    PyObject *list = PyObject_GetAttr(obj, name);
    int r = list == NULL ? -1 : PyList_Append(list, item);
    Py_XDECREF(list);
    Py_DECREF(item);
    return r;
}

/* _history_letter: the letter once per direction, endpoint a's upper-case, on the end of
 * st.history (dir: direction d's numbers) */
static int history_letter(StreamCore *st, DirCore *dir, int d, PyObject *letter)
{
    Py_UCS4 c = PyUnicode_READ_CHAR(letter, 0);
    if (d == 0)
        c = Py_UNICODE_TOUPPER(c);
    PyObject *history = PyObject_GetAttr((PyObject *)st, s_history);
    if (history == NULL)
        return -1;
    Py_ssize_t at = PyUnicode_FindChar(history, c, 0, PY_SSIZE_T_MAX, 1);
    if (at != -1) { /* shown already (or -2: an error) */
        Py_DECREF(history);
        return at == -2 ? -1 : 0;
    }
    PyObject *one = PyUnicode_FromOrdinal((int)c);
    PyObject *longer = one == NULL ? NULL : PyUnicode_Concat(history, one);
    Py_XDECREF(one);
    Py_DECREF(history);
    int r = longer == NULL ? -1 : PyObject_SetAttr((PyObject *)st, s_history, longer);
    Py_XDECREF(longer);
    if (letter == letter_a)
        dir->marks |= MARK_A;
    else if (letter == letter_d)
        dir->marks |= MARK_D;
    return r;
}

/* st.states[k] = state_obj[s] */
static void set_state(PyObject *states, int k, int s)
{
    PyObject *old = PyList_GET_ITEM(states, k);
    Py_INCREF(state_obj[s]);
    PyList_SET_ITEM(states, k, state_obj[s]);
    Py_DECREF(old);
}

/* fwd.isn = seq, if it has none yet */
static int first_isn(DirCore *fwd, long long seq)
{
    long long isn;
    int has = maybe_seq((PyObject *)fwd, s_isn, &isn);
    if (has != 0)
        return has;
    PyObject *v = PyLong_FromLongLong(seq);
    int r = v == NULL ? -1 : PyObject_SetAttr((PyObject *)fwd, s_isn, v);
    Py_XDECREF(v);
    return r;
}

/* obj.name.append(frame) */
static int append_frame(PyObject *obj, PyObject *name, long long frame)
{
    return append_to(obj, name, PyLong_FromLongLong(frame));
}

/* TcpTracker._control for a segment without RST, whose SYN, if any, comes without payload
 * or FIN (bits: its analysis): states, history letters, events. 0, or -1 on error. */
static int control(StreamCore *st, PyObject *states, int d, DirCore *fwd, DirCore *rev,
                   long long frame, long long ts, long long seq, long long ack,
                   long long flags, long long seglen, long long bits)
{
    long long rfin = 0, isn = 0;
    int has_rfin = maybe_seq((PyObject *)rev, s_first_fin_seq, &rfin);
    if (has_rfin < 0)
        return -1;
    if (flags & SYN) {
        int snd = MV_SND_SYN, rcv = MV_RCV_SYN;
        if (flags & ACK) {
            if (append_frame((PyObject *)fwd, s_synack_frames, frame) < 0 ||
                first_isn(fwd, seq) < 0 || history_letter(st, fwd, d, letter_h) < 0)
                return -1;
            snd = MV_SND_SYNACK, rcv = MV_RCV_SYNACK;
        }
        else if (append_frame((PyObject *)fwd, s_syn_frames, frame) < 0 ||
                 append_frame((PyObject *)fwd, s_syn_times, ts) < 0 || first_isn(fwd, seq) < 0 ||
                 history_letter(st, fwd, d, letter_s) < 0)
            return -1;
        /* TcpTracker._step: both endpoints move; SYN not captured, the SYN+ACK's sender
         * must have been listening */
        int mine = state_at(PyList_GET_ITEM(states, d));
        int other = state_at(PyList_GET_ITEM(states, 1 - d));
        set_state(states, d, mine == closed && snd == MV_SND_SYNACK ? syn_received
                                                                    : moves[snd][mine]);
        set_state(states, 1 - d, moves[rcv][other]);
    }
    else if (flags & ACK) { /* an ACK that completes the handshake or acknowledges a FIN */
        int other = state_at(PyList_GET_ITEM(states, 1 - d));
        int has_isn = other == syn_received ? maybe_seq((PyObject *)rev, s_isn, &isn) : 0;
        if (has_isn < 0)
            return -1;
        if (has_isn && ack == ((isn + 1) & M32)) {
            set_state(states, 1 - d, moves[MV_RCV_ACK][other]);
            PyObject *hs = PyObject_GetAttr((PyObject *)st, s_handshake_ack_frame);
            if (hs == NULL)
                return -1;
            Py_DECREF(hs);
            if (hs == Py_None) {
                PyObject *f = PyLong_FromLongLong(frame);
                if (f == NULL)
                    return -1;
                int r = PyObject_SetAttr((PyObject *)st, s_handshake_ack_frame, f);
                Py_DECREF(f);
                if (r < 0 || append_to((PyObject *)st, s_events,
                                       Py_BuildValue("(LiO)", frame, d, kind_ack)) < 0)
                    return -1;
            }
        }
        else if (fin_sent[other] && has_rfin && ahead(ack, rfin)) {
            set_state(states, 1 - d, moves[MV_RCV_ACK][other]);
            if (append_to((PyObject *)st, s_events,
                          Py_BuildValue("(LiO)", frame, d, kind_fin_ack)) < 0)
                return -1;
        }
        if (seglen == 0 && !(flags & FIN) && history_letter(st, fwd, d, letter_a) < 0)
            return -1;
    }
    if (seglen > 0) {
        /* (MARK_FIN: the peer's fin_frames are not empty) */
        if ((rev->marks & MARK_FIN) && !(bits & ANY_RETRANSMISSION))
            fwd->data_after_peer_fin = 1;
        if (history_letter(st, fwd, d, letter_d) < 0 ||
            ((bits & ANY_RETRANSMISSION) && history_letter(st, fwd, d, letter_t) < 0))
            return -1;
    }
    if ((bits & A_ZERO_WINDOW) && history_letter(st, fwd, d, letter_w) < 0)
        return -1;
    /* Zeek's content gap: the other side's bytes were acknowledged but never seen */
    if ((bits & A_ACK_LOST_SEGMENT) && history_letter(st, rev, 1 - d, letter_g) < 0)
        return -1;
    if (flags & FIN) {
        PyObject *fins = PyObject_GetAttr((PyObject *)fwd, s_fin_frames);
        if (fins == NULL)
            return -1;
        int r = 0;
        if (!PyList_Check(fins))
            r = -1, PyErr_SetString(PyExc_TypeError, "fin_frames: a list expected");
        else if (PyList_GET_SIZE(fins) == 0) {
            PyObject *v = PyLong_FromLongLong((seq + seglen) & M32);
            r = v == NULL ? -1 : PyObject_SetAttr((PyObject *)fwd, s_first_fin_seq, v);
            Py_XDECREF(v);
        }
        if (r == 0) {
            PyObject *f = PyLong_FromLongLong(frame);
            r = f == NULL ? -1 : PyList_Append(fins, f);
            Py_XDECREF(f);
        }
        Py_DECREF(fins);
        if (r < 0)
            return -1;
        fwd->marks |= MARK_FIN;
        if (history_letter(st, fwd, d, letter_f) < 0)
            return -1;
        if (!(bits & ANY_RETRANSMISSION)) {
            /* the FIN may also carry the ACK of the peer's FIN (three-segment close) */
            int other = state_at(PyList_GET_ITEM(states, 1 - d));
            int acks_peer_fin = has_rfin && (flags & ACK) && ahead(ack, rfin);
            if (acks_peer_fin && (other == fin_wait_1 || other == closing))
                set_state(states, 1 - d, moves[MV_RCV_ACK][other]);
            int mine = state_at(PyList_GET_ITEM(states, d));
            int crossed = has_rfin && !acks_peer_fin && mine == close_wait;
            other = state_at(PyList_GET_ITEM(states, 1 - d));
            set_state(states, d, moves[MV_SND_FIN][mine]);
            set_state(states, 1 - d, moves[MV_RCV_FIN][other]);
            if (crossed) /* the FINs crossed: FIN_WAIT_1 -> CLOSING (RFC 9293 figure 13) */
                set_state(states, d, closing);
            if (append_to((PyObject *)st, s_events,
                          Py_BuildValue("(LiO)", frame, d, kind_fin)) < 0)
                return -1;
        }
    }
    st->watch = watched[state_at(PyList_GET_ITEM(states, 0))] ||
                watched[state_at(PyList_GET_ITEM(states, 1))];
    return 0;
}

/* st.states, if it is a list of two TcpState members (else NULL, with no error set) */
static PyObject *known_states(StreamCore *st)
{
    PyObject *states = PyObject_GetAttr((PyObject *)st, s_states);
    if (states == NULL)
        return NULL;
    if (!PyList_CheckExact(states) || PyList_GET_SIZE(states) != 2 ||
        state_at(PyList_GET_ITEM(states, 0)) < 0 || state_at(PyList_GET_ITEM(states, 1)) < 0) {
        Py_DECREF(states);
        return NULL;
    }
    return states;
}

/* The end of TcpTracker.segment for the lane's segments: the anomalies among bits */
static int anomalies(StreamCore *st, long long bits, long long frame)
{
    for (Py_ssize_t k = 0; k < n_names; k++)
        if ((bits & name_bit[k]) &&
            append_to((PyObject *)st, s_anomalies, Py_BuildValue("(OL)", name_str[k], frame)) < 0)
            return -1;
    return 0;
}

/* TcpTracker.segment's counters, for segment i of the lane's batch */
static void count(Lane *self, StreamCore *st, DirCore *fwd, Py_ssize_t i)
{
    st->last_frame = self->col[C_NUMBER][i];
    st->last_ts = self->col[C_TS][i];
    st->packets += 1;
    fwd->packets += 1;
    fwd->wire_bytes += self->col[C_WIRE][i];
    fwd->payload_bytes += self->col[C_PLEN][i];
}

/* Segment i of the lane's batch, neither SYN nor RST, of a stream that is not kept, taken
 * as TcpTracker.segment takes it: the counters, the analysis (analyze_core), _control
 * when segment calls it, the payload offered to the stream's observer (deliver: Python's
 * TcpTracker._deliver), the anomalies. 1: taken; 0: left to Python, nothing changed;
 * -1: error. */
static int take_plain(Lane *self, StreamCore *st, int d, DirCore *fwd, DirCore *rev,
                      Py_ssize_t i)
{
    const long long *const *col = self->col;
    long long frame = col[C_NUMBER][i], ts = col[C_TS][i], seq = col[C_SEQ][i],
              ack = col[C_ACK][i], flags = col[C_FLAGS][i], window = col[C_WIN][i],
              seglen = col[C_PLEN][i];
    if (n_states == 0 || (seglen && self->deliver == NULL) ||
        !in_range(rev, seq, ack, seglen, window))
        return 0;
    PyObject *states = known_states(st);
    if (states == NULL)
        return PyErr_Occurred() ? -1 : 0;
    count(self, st, fwd, i);
    long long dupnum;
    long long bits = analyze_core(st, fwd, rev, frame, ts, seq, ack, flags, seglen, window, 0,
                                  &dupnum);
    /* segment calls _control for a FIN, an analysis flag, an endpoint waiting for an
     * ACK, data after the peer's FIN (MARK_FIN: its fin_frames are not empty), and the
     * first pure ACK or payload of a direction (its history letter) */
    int r = 0, need = (flags & FIN) || bits || st->watch || (seglen && (rev->marks & MARK_FIN));
    if (!need) /* the direction's first of each: its letter not shown yet */
        need = !(fwd->marks & (seglen ? MARK_D : MARK_A));
    if (need)
        r = control(st, states, d, fwd, rev, frame, ts, seq, ack, flags, seglen, bits);
    Py_DECREF(states);
    if (r == 0 && seglen)
        r = deliver(self, st, d, frame, ts, seq, seglen, i, bits);
    if (r == 0)
        r = anomalies(st, bits, frame);
    return r < 0 ? -1 : 1;
}

/* Offer segment i's captured payload to the stream's observer: deliver (Python's
 * TcpTracker._deliver), unless the observer there no longer wants this direction's
 * bytes. 0, or -1 on error. */
static int deliver(Lane *self, StreamCore *st, int d, long long frame, long long ts,
                   long long seq, long long seglen, Py_ssize_t i, long long bits)
{
    if (st->observer != NULL && st->observer != Py_None) {
        int w = observer_wants(st->observer, d);
        if (w <= 0)
            return w;
    }
    /* (as Python slices: cut to the buffer, empty where it ends before it begins) */
    long long lo = self->pay_lo[i], hi = self->pay_hi[i], size = self->buf.len;
    hi = hi < size ? hi : size;
    lo = lo < 0 ? 0 : lo;
    PyObject *payload = PyBytes_FromStringAndSize((const char *)self->buf.buf + lo,
                                                  hi > lo ? hi - lo : 0);
    if (payload == NULL)
        return -1;
    PyObject *res = PyObject_CallFunction(self->deliver, "OiLLLLNL", (PyObject *)st, d, frame,
                                          ts, seq, seglen, payload, bits);
    Py_XDECREF(res);
    return res == NULL ? -1 : 0;
}

/* What a SYN's options announce (the twin of dissect/tcpopts.py's syn_options) */
typedef struct {
    long mss, wscale; /* -1: not announced */
    int sack_permitted, timestamps, tfo;
} Options;

enum { EOL = 0, NOP = 1, MSS = 2, WSCALE = 3, SACK_PERM = 4, TIMESTAMPS = 8, TFO = 34,
       EXPERIMENTAL = 254 };

static void read_options(const unsigned char *b, Py_ssize_t i, Py_ssize_t end, Options *o)
{
    *o = (Options){-1, -1, 0, 0, 0};
    while (i < end) {
        int kind = b[i];
        if (kind == EOL)
            break;
        if (kind == NOP) {
            i += 1;
            continue;
        }
        if (i + 1 >= end)
            break;
        int length = b[i + 1];
        if (length < 2 || i + length > end)
            break; /* malformed: the detail view reports it */
        if (kind == MSS && length == 4)
            o->mss = (b[i + 2] << 8) | b[i + 3];
        else if (kind == WSCALE && length == 3)
            o->wscale = b[i + 2];
        else if (kind == SACK_PERM && length == 2)
            o->sack_permitted = 1;
        else if (kind == TIMESTAMPS && length == 10)
            o->timestamps = 1;
        else if (kind == TFO ||
                 (kind == EXPERIMENTAL && length >= 4 && b[i + 2] == 0xF9 && b[i + 3] == 0x89))
            o->tfo = 1;
        i += length;
    }
}

static PyObject *optional(long v)
{
    return v < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(v);
}

/* Segment i of the lane's batch, a SYN or SYN+ACK without payload, FIN or RST, of a
 * stream that is not kept, taken as TcpTracker.segment takes it: its options
 * (_syn_options), the analysis, _control, the anomalies. 1: taken; 0: left to Python,
 * nothing changed; -1: error. */
static int take_syn(Lane *self, StreamCore *st, int d, DirCore *fwd, DirCore *rev,
                    Py_ssize_t i)
{
    const long long *const *col = self->col;
    long long frame = col[C_NUMBER][i], ts = col[C_TS][i], seq = col[C_SEQ][i],
              ack = col[C_ACK][i], flags = col[C_FLAGS][i], window = col[C_WIN][i];
    long long lo = self->buf.obj != NULL ? self->opt_lo[i] : 0,
              hi = self->buf.obj != NULL ? self->opt_hi[i] : 0;
    if (n_states == 0 || self->buf.obj == NULL || !in_range(rev, seq, ack, 0, window) ||
        (lo >= 0 && (hi < lo || hi > self->buf.len)))
        return 0;
    if (fwd->base_set && seq != fwd->base_seq)
        return 0; /* a new ISN on a known 4-tuple: port reuse, Python's part */
    PyObject *states = known_states(st);
    if (states == NULL)
        return PyErr_Occurred() ? -1 : 0;
    Options o = {-1, -1, 0, 0, 0};
    PyObject *options = NULL;
    if (lo >= 0) {
        read_options((const unsigned char *)self->buf.buf, lo, hi, &o);
        PyObject *mss = optional(o.mss), *wscale = optional(o.wscale);
        if (mss != NULL && wscale != NULL)
            options = PyObject_CallFunction(syn_options_type, "OOOOO", mss, wscale,
                                            o.sack_permitted ? Py_True : Py_False,
                                            o.timestamps ? Py_True : Py_False,
                                            o.tfo ? Py_True : Py_False);
        Py_XDECREF(mss);
        Py_XDECREF(wscale);
        if (options == NULL || PyObject_SetAttr((PyObject *)fwd, s_options, options) < 0) {
            Py_XDECREF(options);
            Py_DECREF(states);
            return -1;
        }
        Py_DECREF(options);
    }
    count(self, st, fwd, i);
    /* TcpTracker._syn_options: window scaling is used only when both SYN and SYN+ACK
     * carry the option (RFC 7323 §1.3); -2 marks "known not to be used" */
    if (o.wscale >= 0)
        fwd->win_scale = o.wscale < 14 ? o.wscale : 14;
    if (fwd->win_scale == -1)
        fwd->win_scale = rev->win_scale = -2;
    else if ((flags & ACK) && rev->win_scale == -2)
        fwd->win_scale = -2;
    long long dupnum;
    long long bits = analyze_core(st, fwd, rev, frame, ts, seq, ack, flags, 0, window, 0,
                                  &dupnum);
    int r = control(st, states, d, fwd, rev, frame, ts, seq, ack, flags, 0, bits);
    Py_DECREF(states);
    if (r == 0)
        r = anomalies(st, bits, frame);
    return r < 0 ? -1 : 1;
}

/* setup(states, moves, watched, fin_sent, special, names, options): the state machine and
 * the analysis names for the control lane (flow/tcp.py calls it once, see
 * _control_tables). states: the TcpState members; moves: for RCV_ACK, SND_FIN, RCV_FIN,
 * SND_SYN, RCV_SYN, SND_SYNACK and RCV_SYNACK, the index of the state each member goes
 * to; watched, fin_sent: a flag per member; special: the indices of SYN_RECEIVED,
 * CLOSE_WAIT, CLOSING, FIN_WAIT_1, CLOSED; names: ((bit, name), ...), the anomalies'
 * names in ANALYSIS_NAMES order; options: the SynOptions class. */
static PyObject *lane_setup(PyObject *module, PyObject *args)
{
    PyObject *states, *mv, *w, *fs, *special, *names, *options;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O", &PyTuple_Type, &states, &PyTuple_Type, &mv,
                          &PyTuple_Type, &w, &PyTuple_Type, &fs, &PyTuple_Type, &special,
                          &PyTuple_Type, &names, &options))
        return NULL;
    if (!PyCallable_Check(options)) {
        PyErr_SetString(PyExc_TypeError, "setup: options: the SynOptions class expected");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(states);
    if (n == 0 || n > MAX_STATES || PyTuple_GET_SIZE(mv) != NMOVES ||
        PyTuple_GET_SIZE(w) != n || PyTuple_GET_SIZE(fs) != n ||
        PyTuple_GET_SIZE(special) != 5 || PyTuple_GET_SIZE(names) > MAX_NAMES) {
        PyErr_SetString(PyExc_ValueError, "setup: tables of the wrong size");
        return NULL;
    }
    int sp[5];
    int mvs[NMOVES][MAX_STATES];
    char wa[MAX_STATES], fi[MAX_STATES];
    for (int k = 0; k < 5; k++) {
        sp[k] = PyLong_AsLong(PyTuple_GET_ITEM(special, k));
        if (sp[k] < 0 || sp[k] >= n) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "setup: special: no such state");
            return NULL;
        }
    }
    for (int m = 0; m < NMOVES; m++) {
        PyObject *row = PyTuple_GET_ITEM(mv, m);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != n) {
            PyErr_SetString(PyExc_ValueError, "setup: moves: a tuple per event expected");
            return NULL;
        }
        for (Py_ssize_t k = 0; k < n; k++) {
            mvs[m][k] = PyLong_AsLong(PyTuple_GET_ITEM(row, k));
            if (mvs[m][k] < 0 || mvs[m][k] >= n) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "setup: moves: no such state");
                return NULL;
            }
        }
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        int a = PyObject_IsTrue(PyTuple_GET_ITEM(w, k)), b = PyObject_IsTrue(PyTuple_GET_ITEM(fs, k));
        if (a < 0 || b < 0)
            return NULL;
        wa[k] = (char)a;
        fi[k] = (char)b;
    }
    Py_ssize_t nn = PyTuple_GET_SIZE(names);
    long long bit[MAX_NAMES];
    for (Py_ssize_t k = 0; k < nn; k++) {
        PyObject *pair = PyTuple_GET_ITEM(names, k);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))) {
            PyErr_SetString(PyExc_ValueError, "setup: names: (bit, name) pairs expected");
            return NULL;
        }
        bit[k] = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 0));
        if (bit[k] == -1 && PyErr_Occurred())
            return NULL;
    }
    /* all checked: take them (the references held before go) */
    for (Py_ssize_t k = 0; k < n_states; k++)
        Py_CLEAR(state_obj[k]);
    for (Py_ssize_t k = 0; k < n_names; k++)
        Py_CLEAR(name_str[k]);
    for (Py_ssize_t k = 0; k < n; k++) {
        state_obj[k] = Py_NewRef(PyTuple_GET_ITEM(states, k));
        watched[k] = wa[k];
        fin_sent[k] = fi[k];
        for (int m = 0; m < NMOVES; m++)
            moves[m][k] = mvs[m][k];
    }
    for (Py_ssize_t k = 0; k < nn; k++) {
        name_bit[k] = bit[k];
        name_str[k] = Py_NewRef(PyTuple_GET_ITEM(PyTuple_GET_ITEM(names, k), 1));
    }
    n_names = nn;
    syn_received = sp[0], close_wait = sp[1], closing = sp[2], fin_wait_1 = sp[3];
    closed = sp[4];
    Py_XSETREF(syn_options_type, Py_NewRef(options));
    n_states = n;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"analyze", (PyCFunction)(void (*)(void))lane_analyze, METH_FASTCALL,
     "analyze(stream, d, frame, ts, seq, ack, flags, seglen, window, bits) -> (bits, dupnum)"},
    {"setup", (PyCFunction)lane_setup, METH_VARARGS,
     "setup(states, moves, watched, fin_sent, special, names, options): the control "
     "lane's tables"},
    {NULL, NULL, 0, NULL},
};

/* lane.row(i) -> segment i's ten column values, as Python ints (for the segments the
 * lane leaves: the batch is never turned into lists) */
static PyObject *lane_row(Lane *self, PyObject *arg)
{
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (self->table == NULL || i < 0 || i >= self->n) {
        PyErr_SetString(PyExc_IndexError, "row: no such segment");
        return NULL;
    }
    PyObject *row = PyTuple_New(NCOL);
    if (row == NULL)
        return NULL;
    for (int c = 0; c < NCOL; c++) {
        PyObject *v = PyLong_FromLongLong(self->col[c][i]);
        if (v == NULL) {
            Py_DECREF(row);
            return NULL;
        }
        PyTuple_SET_ITEM(row, c, v);
    }
    return row;
}

static PyMethodDef lane_methods[] = {
    {"run", (PyCFunction)lane_run, METH_O,
     "run(i) -> the first index from i on that the lane leaves to Python"},
    {"row", (PyCFunction)lane_row, METH_O,
     "row(i) -> segment i: (inv, sw, number, ts, seq, ack, flags, plen, win, wire)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LaneType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "handshaker.flow._lane.Lane",
    .tp_basicsize = sizeof(Lane),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Lane(table, keys, columns, quiet): the fast lane over one batch.",
    .tp_methods = lane_methods,
    .tp_init = (initproc)lane_init,
    .tp_dealloc = (destructor)lane_dealloc,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef lane_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "handshaker.flow._lane",
    .m_doc = "The TCP tracker's fast lane, compiled (see flow/tcp.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__lane(void)
{
    if (PyType_Ready(&DirCoreType) < 0 || PyType_Ready(&StreamCoreType) < 0 ||
        PyType_Ready(&LaneType) < 0)
        return NULL;
    wants_name = PyUnicode_InternFromString("wants");
    if (wants_name == NULL)
        return NULL;
    struct { PyObject **at; const char *text; } strings[] = {
        {&s_states, "states"}, {&s_history, "history"}, {&s_events, "events"},
        {&s_anomalies, "anomalies"}, {&s_fin_frames, "fin_frames"},
        {&s_first_fin_seq, "first_fin_seq"}, {&s_isn, "isn"},
        {&s_handshake_ack_frame, "handshake_ack_frame"}, {&letter_a, "a"}, {&letter_f, "f"},
        {&letter_w, "w"}, {&letter_g, "g"}, {&letter_h, "h"}, {&letter_s, "s"},
        {&letter_d, "d"}, {&letter_t, "t"},
        {&kind_ack, "ack"}, {&kind_fin_ack, "fin_ack"}, {&kind_fin, "fin"},
        {&s_synack_frames, "synack_frames"}, {&s_syn_frames, "syn_frames"},
        {&s_syn_times, "syn_times"}, {&s_options, "options"}};
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
        if ((*strings[k].at = PyUnicode_InternFromString(strings[k].text)) == NULL)
            return NULL;
    PyObject *m = PyModule_Create(&lane_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&DirCoreType);
    Py_INCREF(&StreamCoreType);
    Py_INCREF(&LaneType);
    if (PyModule_AddObject(m, "DirCore", (PyObject *)&DirCoreType) < 0 ||
        PyModule_AddObject(m, "StreamCore", (PyObject *)&StreamCoreType) < 0 ||
        PyModule_AddObject(m, "Lane", (PyObject *)&LaneType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
