/* The columnar decoder's rules, a frame at a time, compiled (handshaker.dissect._decode).
 *
 * dissect/columnar.py's decode_vectorized reads every header field of a batch
 * with numpy, one gather per header and layer; that is about a tenth of a
 * large capture's analysis. decode() applies the same rules (written out in
 * dissect/columns.py, decided by the reference decoder dissect/packet.py) to
 * each frame in turn, in one pass over its bytes, and fills the same columns.
 * It leaves to the reference decoder the same rows as the numpy path does
 * (PPP, IPv6 extension headers, more than MAX_VLAN_TAGS tags); those rows'
 * other values do not matter, the reference decoder overwrites them all.
 * decode_vectorized stays the twin: tests/test_compiled.py compares the two on
 * the corpus and on random frames.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* the columns, in this order (dissect/columns.py COLUMNS without the four taken from
 * the batch: number, ts_ns, wirelen, caplen), with their numpy types */
enum {
    STATUS, ETHERTYPE, VLAN, L3, IP_OFF, IP_LEN, IP_PROTO, FRAG, SRC_HI, SRC_LO, DST_HI,
    DST_LO, L4_OFF, SPORT, DPORT, TCP_FLAGS, SEQ, ACK, WINDOW, TCP_HLEN, PAYLOAD_OFF,
    PAYLOAD_LEN, NCOLS
};
static const int WIDTH[NCOLS] = {1, 4, 4, 1, 4, 4, 2, 1, 8, 8, 8, 8, 4, 4, 4, 2, 8, 8, 4, 2, 4, 4};

#define ST_TRUNCATED 1
#define ST_MALFORMED 2
#define ST_UNSUPPORTED_LINK 3
#define FRAG_MORE 1
#define FRAG_OFFSET 2
#define V4_MAPPED_LO_PREFIX 0x0000FFFF00000000ULL
#define MAX_VLAN_TAGS 4

enum { K_OTHER, K_ETH, K_SLL, K_SLL2, K_NULL, K_RAW, K_RAW4, K_RAW6, K_PPP };
static const int L2_LEN[] = {0, 14, 16, 20, 4, 0, 0, 0, 0};
static const int L2_NEED[] = {0, 14, 16, 20, 4, 1, 0, 0, 0};

static int kind_of(int32_t lt)
{
    switch (lt) {
    case 1: return K_ETH;     /* Ethernet */
    case 113: return K_SLL;   /* Linux cooked */
    case 276: return K_SLL2;
    case 0: case 108: return K_NULL; /* BSD null, loop */
    case 101: return K_RAW;
    case 228: return K_RAW4;
    case 229: return K_RAW6;
    case 9: return K_PPP;
    default: return K_OTHER;
    }
}

static uint32_t be16(const unsigned char *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* decode(buf, start, caplen, wirelen, linktype, columns, fallback)
 *
 * Frame i is buf[start[i]:][:caplen[i]] (int64, int32, int32, int32 linktype). The
 * columns (a sequence of NCOLS writable arrays of the batch's length, made as
 * decode_vectorized makes them: -1 where signed, 0 where not) get each frame's
 * values; fallback (one byte per frame) 1 where the reference decoder must decode
 * the frame. */
static PyObject *decode(PyObject *module, PyObject *args)
{
    Py_buffer in[5] = {{0}}, out[NCOLS] = {{0}}, fb = {0};
    PyObject *cols, *result = NULL;
    int got = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*Ow*", &in[0], &in[1], &in[2], &in[3], &in[4],
                          &cols, &fb))
        return NULL;
    Py_ssize_t n = in[1].len / 8;
    if (!PySequence_Check(cols) || PySequence_Size(cols) != NCOLS || in[1].len != n * 8 ||
        in[2].len != n * 4 || in[3].len != n * 4 || in[4].len != n * 4 || fb.len != n) {
        PyErr_SetString(PyExc_ValueError, "decode: int64 start, int32 caplen, wirelen and "
                                          "linktype of one length, the columns, a fallback "
                                          "byte per frame");
        goto done;
    }
    for (; got < NCOLS; got++) {
        PyObject *c = PySequence_GetItem(cols, got);
        if (c == NULL)
            goto done;
        int bad = PyObject_GetBuffer(c, &out[got], PyBUF_WRITABLE) < 0;
        Py_DECREF(c);
        if (bad)
            goto done;
        if (out[got].len != n * WIDTH[got]) {
            PyBuffer_Release(&out[got]);
            PyErr_Format(PyExc_ValueError, "decode: column %d is not %d bytes a frame", got,
                         WIDTH[got]);
            goto done;
        }
    }
    const unsigned char *buf = in[0].buf;
    Py_ssize_t size = in[0].len;
    const int64_t *start = in[1].buf;
    const int32_t *caplen = in[2].buf, *wirelen = in[3].buf, *linktype = in[4].buf;
    uint8_t *status = out[STATUS].buf, *l3 = out[L3].buf, *frag = out[FRAG].buf;
    int32_t *ethertype = out[ETHERTYPE].buf, *vlan = out[VLAN].buf, *ip_off = out[IP_OFF].buf,
            *ip_len = out[IP_LEN].buf, *l4_off = out[L4_OFF].buf, *sport = out[SPORT].buf,
            *dport = out[DPORT].buf, *window = out[WINDOW].buf,
            *payload_off = out[PAYLOAD_OFF].buf, *payload_len = out[PAYLOAD_LEN].buf;
    int16_t *ip_proto = out[IP_PROTO].buf, *tcp_flags = out[TCP_FLAGS].buf,
            *tcp_hlen = out[TCP_HLEN].buf;
    uint64_t *src_hi = out[SRC_HI].buf, *src_lo = out[SRC_LO].buf, *dst_hi = out[DST_HI].buf,
             *dst_lo = out[DST_LO].buf;
    int64_t *seq = out[SEQ].buf, *ack = out[ACK].buf;
    char *fallback = fb.buf;

    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = start[i];
        /* a frame ends at its caplen and, whatever the batch says, at the buffer's end */
        int64_t cl64 = s < 0 ? -1 : size - s < caplen[i] ? size - s : caplen[i];
        int32_t cl = cl64 < INT32_MIN ? INT32_MIN : (int32_t)cl64;
        int32_t wire = wirelen[i] > cl ? wirelen[i] : cl;
        const unsigned char *f = buf + (s >= 0 && s <= size ? s : 0); /* (read if cl says so) */
        int kind = kind_of(linktype[i]);
        int32_t et = -1, l2 = L2_LEN[kind];
        ip_proto[i] = -1;
        if (kind == K_OTHER) {
            status[i] = ST_UNSUPPORTED_LINK;
            ethertype[i] = -1;
            continue;
        }
        if (kind == K_PPP) { /* the reference decoder's */
            fallback[i] = 1;
            ethertype[i] = -1;
            continue;
        }
        int has_link = cl >= L2_NEED[kind];
        if (!has_link)
            status[i] = ST_TRUNCATED;
        if (has_link) {
            switch (kind) {
            case K_ETH: et = (int32_t)be16(f + 12); break;
            case K_SLL: et = (int32_t)be16(f + 14); break;
            case K_SLL2: et = (int32_t)be16(f); break;
            case K_NULL: {
                /* the writer's byte order (null) or network order (loop), mixed up by
                 * writers: little-endian first, above 0xFFFF it was big-endian */
                uint32_t fam = (uint32_t)f[3] << 24 | (uint32_t)f[2] << 16 | (uint32_t)f[1] << 8 | f[0];
                if (fam > 0xFFFF)
                    fam = be32(f);
                et = fam == 2 ? 0x0800 : (fam == 24 || fam == 28 || fam == 30) ? 0x86DD : -1;
                break;
            }
            case K_RAW: {
                int ver = f[0] >> 4;
                et = ver == 4 ? 0x0800 : ver == 6 ? 0x86DD : -1;
                if (et < 0)
                    status[i] = ST_MALFORMED;
                break;
            }
            }
        }
        if (kind == K_RAW4)
            et = 0x0800;
        else if (kind == K_RAW6)
            et = 0x86DD;
        /* VLAN tags: the outermost id is kept */
        for (int depth = 0; et == 0x8100 || et == 0x88A8 || et == 0x9100; depth++) {
            if (depth == MAX_VLAN_TAGS) {
                fallback[i] = 1;
                break;
            }
            if (cl < l2 + 4) {
                status[i] = ST_TRUNCATED;
                et = -1;
                break;
            }
            if (depth == 0)
                vlan[i] = (int32_t)(be16(f + l2) & 0x0FFF);
            et = (int32_t)be16(f + l2 + 2);
            l2 += 4;
        }
        if (et < 0x0600) /* an 802.3 length: LLC, not IP */
            et = -1;
        ethertype[i] = et;

        int32_t avail = cl - l2, ip_hlen = 0, ip_end = 0;
        int proto = -1, l4 = 0;
        if (et == 0x0800) {
            if (avail < 20) {
                status[i] = ST_TRUNCATED;
            } else {
                const unsigned char *h = f + l2;
                int32_t ihl4 = (h[0] & 0x0F) * 4, tot = (int32_t)be16(h + 2), room = wire - l2;
                uint32_t fragw = be16(h + 6);
                if (tot == 0) /* TSO: the NIC fills it in, the wire length is right */
                    tot = room;
                int bad = (h[0] >> 4) != 4 || ihl4 < 20 || tot < ihl4, cut = avail < ihl4;
                if (cut)
                    status[i] = ST_TRUNCATED;
                if (bad)
                    status[i] = ST_MALFORMED;
                if (!bad) {
                    int first = (fragw & 0x1FFF) == 0;
                    l3[i] = 4;
                    ip_off[i] = l2;
                    ip_len[i] = tot;
                    frag[i] = (uint8_t)((first ? 0 : FRAG_OFFSET) | ((fragw >> 13) & FRAG_MORE));
                    src_lo[i] = be32(h + 12) | V4_MAPPED_LO_PREFIX;
                    dst_lo[i] = be32(h + 16) | V4_MAPPED_LO_PREFIX;
                    ip_hlen = ihl4;
                    ip_end = l2 + (tot < room ? tot : room);
                    proto = h[9];
                    l4 = !cut && first;
                }
            }
        } else if (et == 0x86DD) {
            if (avail < 40) {
                status[i] = ST_TRUNCATED;
            } else {
                const unsigned char *h = f + l2;
                int32_t tot = (int32_t)be16(h + 4) + 40, room = wire - l2;
                int nh = h[6], ext = nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
                if ((h[0] >> 4) != 6) {
                    status[i] = ST_MALFORMED;
                } else {
                    if (ext) /* RFC 8200 §4: extension headers are the reference's job */
                        fallback[i] = 1;
                    l3[i] = 6;
                    ip_off[i] = l2;
                    ip_len[i] = tot;
                    src_hi[i] = be64(h + 8);
                    src_lo[i] = be64(h + 16);
                    dst_hi[i] = be64(h + 24);
                    dst_lo[i] = be64(h + 32);
                    ip_hlen = 40;
                    ip_end = l2 + (tot < room ? tot : room);
                    proto = ext ? -1 : nh;
                    l4 = !ext;
                }
            }
        }
        ip_proto[i] = (int16_t)proto;
        if (!l4)
            continue;
        /* each transport header: fixed part captured (else truncated), consistent with
         * the IP lengths (else malformed), options captured (else truncated) */
        int32_t t_off = l2 + ip_hlen, t_room = cl - t_off;
        const unsigned char *h = f + t_off;
        if (proto == 6) {
            l4_off[i] = t_off;
            if (t_room < 20) {
                status[i] = ST_TRUNCATED;
                continue;
            }
            uint32_t ofl = be16(h + 12); /* data offset (4 bits), reserved + flags (12) */
            int32_t hlen = (int32_t)(ofl >> 12) * 4, end = t_off + hlen;
            sport[i] = (int32_t)be16(h);
            dport[i] = (int32_t)be16(h + 2);
            seq[i] = be32(h + 4);
            ack[i] = be32(h + 8);
            tcp_flags[i] = (int16_t)(ofl & 0x0FFF);
            window[i] = (int32_t)be16(h + 14);
            tcp_hlen[i] = (int16_t)hlen;
            if (end > cl) /* options cut */
                status[i] = ST_TRUNCATED;
            if (hlen < 20 || end > ip_end) { /* RFC 9293 §3.1 */
                status[i] = ST_MALFORMED;
                continue;
            }
            payload_off[i] = end;
            payload_len[i] = ip_end - end;
        } else if (proto == 17) {
            l4_off[i] = t_off;
            if (t_room < 8) {
                status[i] = ST_TRUNCATED;
                continue;
            }
            int32_t ulen = (int32_t)be16(h + 4);
            sport[i] = (int32_t)be16(h);
            dport[i] = (int32_t)be16(h + 2);
            if (ulen < 8 || t_off + ulen > ip_end) { /* RFC 768 */
                status[i] = ST_MALFORMED;
                continue;
            }
            payload_off[i] = t_off + 8;
            payload_len[i] = ulen - 8;
        } else if (proto == 1 || proto == 58) { /* type, code, checksum */
            l4_off[i] = t_off;
            if (t_room < 4)
                status[i] = ST_TRUNCATED;
            else if (t_off + 4 > ip_end)
                status[i] = ST_MALFORMED;
        }
    }
    result = Py_NewRef(Py_None);
done:
    for (int c = 0; c < 5; c++)
        if (in[c].obj != NULL)
            PyBuffer_Release(&in[c]);
    for (int c = 0; c < got; c++)
        PyBuffer_Release(&out[c]);
    if (fb.obj != NULL)
        PyBuffer_Release(&fb);
    return result;
}

static PyMethodDef decode_methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(buf, start, caplen, wirelen, linktype, columns, fallback): fill the columns "
     "(dissect/columnar.py decode_vectorized's twin)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef decode_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "handshaker.dissect._decode",
    .m_doc = "The columnar decoder, compiled (see dissect/columnar.py).",
    .m_size = -1,
    .m_methods = decode_methods,
};

PyMODINIT_FUNC PyInit__decode(void)
{
    return PyModule_Create(&decode_module);
}
