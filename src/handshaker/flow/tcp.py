"""TCP conversations as an observer sees them.

Theory of operation
-------------------
Segments arrive in capture order, already decoded into plain integers. The
:class:`TcpTracker` finds each segment's conversation and keeps, per
direction, what Wireshark's TCP analysis keeps (the base sequence number,
the highest next-sequence seen, the last ACK and window, duplicate-ACK
counts, the list of unacknowledged segments), so that relative numbers and
analysis flags come out as ``tcp.seq`` / ``tcp.ack`` / ``tcp.analysis.*``
do in tshark 4.0. On top it runs the RFC 9293 observer state machine
(:mod:`handshaker.flow.state`) for both endpoints, Zeek's ``history``
letters, and the classification of the handshake and the close.

Streams are numbered in order of first appearance, like ``tcp.stream``: a
SYN (without ACK) on a known 4-tuple whose sequence number differs from
that direction's base sequence number starts a new stream (port reuse).

Everything here is sans-I/O: integers in, events and summaries out.
"""

from __future__ import annotations

import heapq
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from handshaker.compiled import helper
from handshaker.dissect.columns import ACK, FIN, RST, SYN
from handshaker.flow.state import SYNCHRONIZED, Event, TcpState, step

# The lanes compiled (flow/_lane.c), when the package was built with it; without it
# (see handshaker.compiled), the fast lane runs in Python (TcpTracker.feed) and the rest in
# TcpTracker.segment.
_lane: Any = helper("handshaker.flow._lane")

# tcp.analysis flags (bit values ours; names are tshark's field names)
A_RETRANSMISSION = 0x0001
A_LOST_SEGMENT = 0x0002
A_ACK_LOST_SEGMENT = 0x0004
A_KEEP_ALIVE = 0x0008
A_DUPLICATE_ACK = 0x0010
A_ZERO_WINDOW = 0x0020
A_ZERO_WINDOW_PROBE = 0x0040
A_ZERO_WINDOW_PROBE_ACK = 0x0080
A_KEEP_ALIVE_ACK = 0x0100
A_OUT_OF_ORDER = 0x0200
A_FAST_RETRANSMISSION = 0x0400
A_WINDOW_UPDATE = 0x0800
A_WINDOW_FULL = 0x1000
A_REUSED_PORTS = 0x2000
A_SPURIOUS_RETRANSMISSION = 0x4000

ANALYSIS_NAMES: tuple[tuple[int, str], ...] = (
    (A_RETRANSMISSION, "retransmission"),
    (A_FAST_RETRANSMISSION, "fast_retransmission"),
    (A_SPURIOUS_RETRANSMISSION, "spurious_retransmission"),
    (A_OUT_OF_ORDER, "out_of_order"),
    (A_LOST_SEGMENT, "lost_segment"),
    (A_ACK_LOST_SEGMENT, "ack_lost_segment"),
    (A_DUPLICATE_ACK, "duplicate_ack"),
    (A_ZERO_WINDOW, "zero_window"),
    (A_ZERO_WINDOW_PROBE, "zero_window_probe"),
    (A_ZERO_WINDOW_PROBE_ACK, "zero_window_probe_ack"),
    (A_KEEP_ALIVE, "keep_alive"),
    (A_KEEP_ALIVE_ACK, "keep_alive_ack"),
    (A_WINDOW_UPDATE, "window_update"),
    (A_WINDOW_FULL, "window_full"),
    (A_REUSED_PORTS, "reused_ports"),
)

#: flags that are anomalies worth listing for a connection (window updates are not)
ANOMALY_MASK = (
    A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION | A_OUT_OF_ORDER
    | A_LOST_SEGMENT | A_ACK_LOST_SEGMENT | A_DUPLICATE_ACK | A_ZERO_WINDOW
    | A_ZERO_WINDOW_PROBE | A_KEEP_ALIVE | A_WINDOW_FULL | A_REUSED_PORTS
)

#: a retransmission of any kind
ANY_RETRANSMISSION = A_RETRANSMISSION | A_FAST_RETRANSMISSION | A_SPURIOUS_RETRANSMISSION

# Wireshark stops remembering unacknowledged segments past this many per direction.
MAX_UNACKED_SEGMENTS = 1000
# Out-of-order threshold when no initial RTT is known (3 ms, as tshark).
DEFAULT_OOO_THRESHOLD_NS = 3_000_000
# A fast retransmission follows the duplicate ACKs within this time (20 ms).
FAST_RETRANSMISSION_WINDOW_NS = 20_000_000

M32 = 0xFFFFFFFF
#: the int64 range's bound: times are int64 nanoseconds
I64 = 1 << 63

#: a closed connection leaves the table after this much quiet capture time (Zeek: 5 s)
FINISHED_IDLE_NS = 10 * 1_000_000_000
#: any connection leaves the table after this much silence (Zeek's TCP inactivity: 5 min)
IDLE_NS = 300 * 1_000_000_000

#: connections followed at once (per tracker: TCP, and UDP apart). Past it, the tenth
#: of them quiet the longest are retired at once (a SYN flood of spoofed sources must
#: not take all memory: each costs about 3.5 KB)
MAX_OPEN_CONNECTIONS = 30_000

#: states in which an endpoint waits for the ACK of its SYN or FIN (tuples, not sets: an
#: Enum member's hash is a Python call, and these are asked on every control segment)
WATCH_STATES = (TcpState.SYN_RECEIVED, TcpState.FIN_WAIT_1, TcpState.CLOSING,
                TcpState.LAST_ACK)
#: states in which an endpoint waits for the ACK of its FIN
_FIN_SENT = (TcpState.FIN_WAIT_1, TcpState.CLOSING, TcpState.LAST_ACK)
_SYN_RECEIVED = TcpState.SYN_RECEIVED


def _control_tables() -> tuple[Any, ...]:
    """What the compiled lane needs to take SYNs, ACKs and FINs without payload as
    :meth:`TcpTracker.segment` and ``_control`` take them (see :meth:`TcpTracker.feed`):
    the state machine's moves on the events they make, the states it tells apart, the
    anomalies' names and the class of a SYN's options (``_lane.setup``)."""
    states = tuple(TcpState)
    at = {s: i for i, s in enumerate(states)}
    moves = tuple(tuple(at[step(s, e)[0]] for s in states)
                  for e in (Event.RCV_ACK, Event.SND_FIN, Event.RCV_FIN, Event.SND_SYN,
                            Event.RCV_SYN, Event.SND_SYNACK, Event.RCV_SYNACK))
    special = (TcpState.SYN_RECEIVED, TcpState.CLOSE_WAIT, TcpState.CLOSING, TcpState.FIN_WAIT_1,
               TcpState.CLOSED)
    return (states, moves, tuple(s in WATCH_STATES for s in states),
            tuple(s in _FIN_SENT for s in states), tuple(at[s] for s in special),
            tuple((bit, name) for bit, name in ANALYSIS_NAMES if bit & ANOMALY_MASK),
            SynOptions)


def analysis_names(bits: int) -> list[str]:
    return [name for bit, name in ANALYSIS_NAMES if bits & bit]


def _gt(a: int, b: int) -> bool:
    """a > b in 32-bit sequence space (RFC 9293 §3.4)."""
    return 0 < ((a - b) & M32) < 0x80000000


def _lt(a: int, b: int) -> bool:
    return 0 < ((b - a) & M32) < 0x80000000


def _le(a: int, b: int) -> bool:
    return a == b or _lt(a, b)


class PayloadObserver(Protocol):
    """Something that reads a stream's payload (the TLS stage): flow/ knows no more of it."""

    #: per direction, False once it wants no more of that direction's payload
    wants: list[bool]

    def segment(self, direction: int, frame: int, ts: int, seq: int, length: int,
                payload: bytes, analysis: int) -> None: ...


@dataclass(slots=True)
class SynOptions:
    """What a SYN or SYN+ACK announced in its options."""

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: bool = False
    tfo: bool = False


if _lane is not None:
    _lane.setup(*_control_tables())


@dataclass(slots=True)
class Segment:
    """One TCP segment of a kept stream: everything the ladder needs."""

    frame: int
    ts_ns: int
    sender: int  # 0 = endpoint a (the stream's first sender), 1 = endpoint b
    flags: int
    seq_raw: int
    ack_raw: int
    seq: int  # relative, as tcp.seq
    ack: int  # relative when ACK is set (as tcp.ack), else raw
    len: int
    window: int
    analysis: int = 0
    options: SynOptions | None = None
    dupack_num: int = 0
    file_index: int = 0  # which input file (for multi-file runs)
    states: tuple[TcpState, TcpState] | None = None  # endpoints a, b after this segment
    payload: bytes = b""  # the captured TCP payload (may be shorter than len: snaplen)


#: _Dir.marks bits: the history letters 'a' and 'd' shown, a FIN sent (the lane's tests)
MARK_A, MARK_D, MARK_FIN = 1, 2, 4


class _PyCore:
    """A pure-Python twin of a compiled core: made with its numbers zero (its flags False),
    as the compiled core's memory is; the objects it holds its subclass sets."""

    __slots__ = ()
    _zero: tuple[tuple[str, int | bool], ...] = ()  # (field, its zero): see _zeros

    def __init__(self) -> None:
        for name, zero in self._zero:
            setattr(self, name, zero)


def _zeros(cls: type) -> tuple[tuple[str, int | bool], ...]:
    """The numbers and flags a core's annotations declare, each with its zero."""
    return tuple((name, False if kind == "bool" else 0)
                 for name, kind in inspect.get_annotations(cls).items()
                 if kind in ("int", "bool"))


class _PyDirCore(_PyCore):
    """_Dir's fields the fast lane reads or writes: the pure-Python twin of _lane.DirCore."""

    __slots__ = ("base_seq", "base_set", "data_after_peer_fin", "dupacknum", "lastack",
                 "lastacktime", "lastnondupack", "lastsegmentflags", "marks", "maxseqtobeacked",
                 "nextseq", "nextseqframe", "nextseqtime", "packets", "payload_bytes",
                 "win_scale", "window", "wire_bytes")
    base_seq: int
    base_set: bool
    data_after_peer_fin: bool
    dupacknum: int
    lastack: int
    lastacktime: int
    lastnondupack: int
    lastsegmentflags: int
    marks: int
    maxseqtobeacked: int
    nextseq: int
    nextseqframe: int
    nextseqtime: int
    packets: int
    payload_bytes: int
    win_scale: int
    window: int
    wire_bytes: int


class _PyStreamCore(_PyCore):
    """TcpStream's fields the fast lane reads or writes: the pure-Python twin of
    _lane.StreamCore."""

    __slots__ = ("a_swap", "dirs", "first_rtt_ns", "last_frame", "last_ts", "observer",
                 "packets", "segments", "ts_mru_syn", "watch")
    a_swap: int
    dirs: tuple[_Dir, _Dir]
    first_rtt_ns: int
    last_frame: int
    last_ts: int
    observer: PayloadObserver | None
    packets: int
    segments: list[Segment] | None
    ts_mru_syn: int
    watch: bool


_PyDirCore._zero = _zeros(_PyDirCore)
_PyStreamCore._zero = _zeros(_PyStreamCore)

if TYPE_CHECKING or _lane is None:
    _DirCore = _PyDirCore
    _StreamCore = _PyStreamCore
else:
    _DirCore = _lane.DirCore
    _StreamCore = _lane.StreamCore


class _Fields:
    """Pickling by field names, for classes whose fields are partly a compiled base's."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._fields)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for n, v in zip(self._fields, state, strict=True):
            setattr(self, n, v)


class _Dir(_Fields, _DirCore):
    """Per-direction analysis state, named after Wireshark's tcp_flow_t fields."""

    __slots__ = (
        "fin_frames",
        "first_fin_seq",
        "isn",
        "offered",
        "options",
        "rst_frames",
        "syn_frames",
        "syn_times",
        "synack_frames",
    )

    def __init__(self) -> None:
        _DirCore.__init__(self)  # the numbers zero (the compiled core's are already)
        self.win_scale = -1  # -1 unknown, -2 not used, else the shift
        self.syn_frames: list[int] = []  # SYN without ACK
        self.synack_frames: list[int] = []
        self.syn_times: list[int] = []
        self.fin_frames: list[int] = []
        self.rst_frames: list[int] = []
        self.first_fin_seq: int | None = None  # raw seq of the first FIN
        self.options: SynOptions | None = None
        self.isn: int | None = None
        self.offered = False  # the first payload was offered to the stream observer


_Dir._fields = _PyDirCore.__slots__ + _Dir.__slots__


@dataclass(slots=True)
class Endpoint:
    ip: str
    port: int

    def as_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port}


class TcpStream(_Fields, _StreamCore):
    """One TCP conversation (one ``tcp.stream``)."""

    __slots__ = (
        "a",
        "anomalies",
        "b",
        "events",
        "file_index",
        "first_frame",
        "first_ts",
        "handshake_ack_frame",
        "history",
        "keep",
        "key",
        "number",
        "rst_after",
        "states",
    )

    def __init__(self, number: int, a: Endpoint, b: Endpoint, keep: bool) -> None:
        # the numbers zero (the compiled core's are already): a_swap; watch, whether an
        # endpoint waits for an ACK of its SYN or FIN; last_frame, last_ts, packets,
        # ts_mru_syn, first_rtt_ns
        _StreamCore.__init__(self)
        self.number = number
        self.a = a  # the source of the first segment seen
        self.key: Any = None
        self.observer: PayloadObserver | None = None  # e.g. a TLS parser for this stream
        self.b = b
        self.dirs = (_Dir(), _Dir())
        self.first_frame = 0
        self.first_ts = 0
        self.anomalies: list[tuple[str, int]] = []
        self.segments: list[Segment] | None = [] if keep else None
        self.keep = keep
        self.states = [TcpState.CLOSED, TcpState.CLOSED]
        # Zeek's history letters, each once per direction: endpoint a's upper-case
        self.history = ""
        # control events in order: (frame, sender, kind)
        self.events: list[tuple[int, int, str]] = []
        self.file_index = 0
        self.rst_after: str | None = None
        self.handshake_ack_frame: int | None = None


TcpStream._fields = _PyStreamCore.__slots__ + TcpStream.__slots__


class TcpTracker:
    """Assigns TCP segments to streams and runs the per-stream analysis.

    ``keep`` decides for a new stream number whether its segments are kept
    (for a ladder); ``None`` keeps none, ``True``-returning callable keeps all.
    """

    def __init__(self, keep: Any = None, on_done: Any = None, observe: Any = None) -> None:
        self.count = 0  # streams numbered so far
        self.kept: dict[int, TcpStream] = {}
        self._by_tuple: dict[Any, TcpStream] = {}
        self._keep = keep
        self._on_done = on_done  # called with each stream that leaves the table
        # observe(stream, direction, first_payload) -> a PayloadObserver or None: offered
        # the first payload of each direction (the TLS stage recognises TLS by content)
        self._observe = observe
        self.finished: list[TcpStream] = []  # without on_done: every stream, at the end
        # With expire (set when streams are retired as the capture goes, see evict), a
        # segment for a stream that is over (closed, and quiet for FINISHED_IDLE_NS by
        # the segment's own time) starts a new stream even where evict has not run yet,
        # so that the result does not depend on when evict runs (batch boundaries, the
        # parts of a split run). Silence alone (IDLE_NS) does not count here: tshark
        # never ends a connection for it, and a capture with one wild timestamp would
        # cut its connection in two.
        self.expire = False
        self.limit = MAX_OPEN_CONNECTIONS  # read when made (tests lower it)
        self.shed = 0  # streams retired early because the table was full
        self.shed_frame = 0  # the frame that first found it full
        self.compiled = _lane is not None  # feed's lanes in C (tests turn it off)

    def _new_stream(self, key: Any, swap: int, eps: Any, frame: int, ts: int,
                    file_index: int) -> TcpStream:
        number = self.count
        self.count += 1
        keep = bool(self._keep(number)) if self._keep is not None else False
        st = TcpStream(number, Endpoint(*eps[swap]), Endpoint(*eps[1 - swap]), keep)
        st.a_swap = swap
        st.first_frame = st.last_frame = frame
        st.first_ts = st.last_ts = ts  # (a full table sheds the quietest: not this one)
        st.file_index = file_index
        st.key = key
        if keep:
            self.kept[number] = st
        old = self._by_tuple.get(key)
        self._by_tuple[key] = st
        if old is not None:  # port reuse (tshark routes nothing more to it) or expired
            self._retire(old)
        elif len(self._by_tuple) > self.limit:
            self.shed += shed(self._by_tuple, self._retire, lambda s: s.last_ts,
                              lambda s: s.segments is None)
            self.shed_frame = self.shed_frame or frame
        return st

    def _retire(self, st: TcpStream) -> None:
        if self._on_done is not None:
            self._on_done(st)
        else:
            self.finished.append(st)

    def evict(self, now_ns: int) -> int:
        """Retire streams that are over: closed (FINs acknowledged, or reset) and
        quiet for FINISHED_IDLE_NS of capture time, or silent for IDLE_NS.

        Zeek retires connections the same way (tcp_close_delay, tcp_inactivity_
        timeout); it bounds memory by the connections open at once, not by the
        file. A packet for a retired 4-tuple starts a new stream, where tshark
        (which never forgets) would continue the old one: with these timeouts
        that takes a segment arriving long after the connection ended.
        Kept streams are never retired. Returns how many were retired.
        """
        # a stream heard from since ``recent`` is not over, whatever else holds: most are,
        # and this one comparison spares them the call
        recent = now_ns - min(FINISHED_IDLE_NS, IDLE_NS)
        gone = [k for k, st in self._by_tuple.items()
                if st.last_ts < recent and _expired(st, now_ns)]
        for k in gone:
            self._retire(self._by_tuple.pop(k))
        return len(gone)

    def open_streams(self) -> list[TcpStream]:
        """The streams not retired yet, oldest first."""
        return list(self._by_tuple.values())

    def hand_over(self) -> list[TcpStream]:
        """The streams not retired yet, which leave the table (followed on elsewhere: this
        tracker must not keep them alive)."""
        streams = self.open_streams()
        self._by_tuple.clear()
        self.kept.clear()
        return streams

    def retire(self, st: TcpStream) -> None:
        """Retire one stream now (``live`` prints a connection as soon as it is over)."""
        if self._by_tuple.get(st.key) is st:
            del self._by_tuple[st.key]
            self.kept.pop(st.number, None)
            self._retire(st)

    def close(self) -> None:
        """Retire every stream still in the table (the capture has ended)."""
        for st in sorted(self._by_tuple.values(), key=lambda s: s.number):
            self._retire(st)
        self._by_tuple.clear()

    def adopt(self, key: Any, obj: TcpStream) -> None:
        """Take over a stream followed elsewhere (a split run's previous part) as ``key``
        (if it is here already under another key, it moves)."""
        if self._by_tuple.get(obj.key) is obj:
            del self._by_tuple[obj.key]
        obj.key = key
        self._by_tuple[key] = obj

    def holding(self, key: Any) -> TcpStream | None:
        """The stream in the table under ``key``, if any."""
        return self._by_tuple.get(key)

    def first_open_frame(self) -> int:
        """The first frame of the oldest stream still in the table (a big number if none)."""
        return min((st.first_frame for st in self._by_tuple.values()), default=1 << 62)

    def feed(self, ids: Any, columns: list[Any], syn_options: Any, file_index: int = 0,
             payload_of: Any = None, spans: Any = None) -> None:
        """Feed a batch of segments: the hot path.

        ``columns`` are the batch as ten int64 arrays of one length: inv, sw,
        number, ts, seq, ack, flags, plen, win, wire. Segment ``i`` belongs to
        the 4-tuple ``ids[inv[i]]`` = (key, endpoints) and was sent by endpoint
        ``sw[i]``; ``syn_options(i)`` gives a SYN's options. An in-order
        segment of an established, unremarkable connection (most of any
        capture) takes the fast lane: it would raise no analysis flag and
        change nothing but the running numbers. Anything else, or any doubt,
        goes through :meth:`segment`. Kept streams always do, so the tests can
        check that both ways give the same results. ``payload_of(i)`` gives
        segment ``i``'s TCP payload (read only for kept streams and for streams
        a payload observer watches). ``spans`` = (buf, lo, hi, plo, phi), four
        int64 arrays: segment ``i``'s options are ``buf[lo[i]:hi[i]]`` (``lo[i]``
        < 0: it has none, as ``syn_options(i)`` gives None), its payload
        ``buf[plo[i]:phi[i]]`` (as ``payload_of(i)`` gives it).

        The compiled lane (flow/_lane.c) takes the fast-lane segments in C; it
        stops at each segment it does not take, and the Python lane below (its
        twin, and the whole lane without the extension) looks at that one again.
        With ``spans``, it also takes every other segment of a stream that is not
        kept but RSTs and SYNs with payload or FIN: SYNs (the stream a SYN
        begins is made by :meth:`_new_stream`, called from C), SYN+ACKs, the
        handshake's last ACK, the close, duplicate ACKs, retransmissions, the
        payloads for the stream observers. Those it takes as :meth:`segment`
        does, options, analysis (``_analyze``), ``_control`` and anomalies in
        C, the payload handed to :meth:`_deliver`; in Python they go to
        :meth:`segment` itself.
        """
        by_tuple = self._by_tuple
        segment = self.segment
        quiet = FINISHED_IDLE_NS if self.expire else 1 << 62  # beyond: segment() decides
        n = len(columns[0])
        lane = None
        if self.compiled:
            more = None
            if spans is not None:
                # (reads the columns, not the lane: the lane holds it, and a cycle would
                # outlive the batch, the cyclic collector being paused)
                inv, sw, number, ts = columns[:4]

                def new_stream(i: int) -> TcpStream:
                    key, eps = ids[int(inv[i])]
                    return self._new_stream(key, int(sw[i]), eps, int(number[i]), int(ts[i]),
                                            file_index)

                more = (*spans, new_stream, self._deliver)
            lane = _lane.Lane(by_tuple, [key for key, _ in ids], columns, quiet, more)
            row = lane.row  # segment i as a tuple of ints
        else:
            row = list(zip(*(c.tolist() for c in columns), strict=True)).__getitem__
        i = -1
        while True:
            i += 1
            if lane is not None:
                i = lane.run(i)  # takes what it can: in C, this lane's twin below
            if i >= n:
                break
            u, swp, frame, t, sq, ak, flg, seglen, window, wire_len = row(i)
            key, eps = ids[u]
            st = by_tuple.get(key)
            if (st is not None and not flg & (SYN | FIN | RST) and seglen >= 0
                    and st.segments is None and not st.watch and t - st.last_ts <= quiet):
                d = 0 if swp == st.a_swap else 1
                fwd = st.dirs[d]
                rev = st.dirs[1 - d]
                nxt = fwd.nextseq
                if (sq == nxt and nxt and window and rev.window and rev.base_set
                        and fwd.marks & (MARK_D if seglen else MARK_A)
                        and (st.first_rtt_ns or not st.ts_mru_syn)):
                    rmax = rev.maxseqtobeacked
                    if rmax and 0 < ((ak - rmax) & M32) < 0x80000000:
                        pass  # acknowledges unseen bytes: the full analysis decides
                    elif seglen:
                        end = (sq + seglen) & M32
                        rlast = rev.lastack
                        shift = rev.win_scale
                        if (0 < ((end - rlast) & M32) < 0x80000000
                                and (shift == -1 or end != ((rlast + (rev.window << (
                                    0 if shift == -2 else shift))) & M32))):
                            st.last_frame = frame
                            st.last_ts = t
                            st.packets += 1
                            fwd.packets += 1
                            fwd.wire_bytes += wire_len
                            fwd.payload_bytes += seglen
                            if ak != fwd.lastack:
                                fwd.lastnondupack = frame
                                fwd.dupacknum = 0
                            fwd.nextseq = end
                            fwd.nextseqframe = frame
                            fwd.nextseqtime = t
                            if sq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                                fwd.maxseqtobeacked = end
                            fwd.window = window
                            fwd.lastack = ak
                            fwd.lastacktime = t
                            fwd.lastsegmentflags = 0
                            if rev.marks & MARK_FIN:
                                fwd.data_after_peer_fin = True
                            obs = st.observer
                            if obs is not None and obs.wants[d] and payload_of is not None:
                                obs.segment(d, frame, t, sq, seglen, payload_of(i), 0)
                            continue
                    elif ak != fwd.lastack:  # a pure ACK of new data
                        st.last_frame = frame
                        st.last_ts = t
                        st.packets += 1
                        fwd.packets += 1
                        fwd.wire_bytes += wire_len
                        fwd.lastnondupack = frame
                        fwd.dupacknum = 0
                        if sq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
                            fwd.maxseqtobeacked = nxt
                        fwd.window = window
                        fwd.lastack = ak
                        fwd.lastacktime = t
                        fwd.lastsegmentflags = 0
                        continue
            segment(key, swp, eps, frame, t, sq, ak, flg, seglen, window, wire_len,
                    syn_options(i) if flg & SYN else None, file_index, payload_of, i)

    def segment(
        self,
        key: Any,
        swap: int,
        eps: Any,
        frame: int,
        ts: int,
        seq: int,
        ack: int,
        flags: int,
        seglen: int,
        window: int,
        wire_len: int = 0,
        options: SynOptions | None = None,
        file_index: int = 0,
        payload_of: Any = None,
        index: int = 0,
    ) -> tuple[int, int]:
        """Feed one segment; return (stream number, analysis flags).

        ``key`` identifies the unordered 4-tuple (both directions give the
        same key); ``eps`` is its two endpoints ((ip, port) low, high) and
        ``swap`` says which one sent this segment (0: eps[0], 1: eps[1]).
        ``seglen`` < 0 means the TCP header was incomplete: the segment gets
        its stream but no analysis, as in tshark. ``payload_of(index)``, when
        given, returns the segment's payload bytes (kept streams store them).

        This is the full, Wireshark-compatible analysis of one segment, written
        out inline; :meth:`feed` takes a batch and sends here whatever its fast
        lane does not take.
        """
        st = self._by_tuple.get(key)
        if st is not None and self.expire and _closed_and_quiet(st, ts):
            st = None  # _new_stream retires it
        if st is None:
            st = self._new_stream(key, swap, eps, frame, ts, file_index)
        d = 0 if swap == st.a_swap else 1

        bits = 0
        syn = flags & SYN
        if syn:
            fwd = st.dirs[d]
            if fwd.base_set and seq != fwd.base_seq:
                if not flags & ACK:
                    # A new SYN with a new ISN on a known 4-tuple: port reuse, new stream.
                    st = self._new_stream(key, swap, eps, frame, ts, file_index)
                    d = 0
                else:
                    # A SYN+ACK with a new ISN: tshark keeps the stream, flags port
                    # reuse and counts this side's relative numbers from the new ISN.
                    fwd.base_seq = seq
                bits = A_REUSED_PORTS
        st.last_frame = frame
        st.last_ts = ts
        st.packets += 1
        fwd = st.dirs[d]
        rev = st.dirs[1 - d]
        fwd.packets += 1
        fwd.wire_bytes += wire_len
        if seglen < 0:
            if st.segments is not None:
                st.segments.append(Segment(frame, ts, d, flags, seq, ack, seq, ack, 0, window,
                                           bits, options, 0, file_index))
            return st.number, bits
        fwd.payload_bytes += seglen
        if syn:
            self._syn_options(st, d, flags, options)

        analyzed: Any = NotImplemented
        if self.compiled:
            analyzed = _lane.analyze(st, d, frame, ts, seq, ack, flags, seglen, window, bits)
        if analyzed is NotImplemented:
            analyzed = _analyze(st, fwd, rev, frame, ts, seq, ack, flags, seglen, window, bits)
        bits, dupnum = analyzed

        if (flags & (SYN | FIN | RST) or bits or st.watch or (seglen and rev.fin_frames)
                or not fwd.marks & (MARK_D if seglen else MARK_A)):
            self._control(st, d, fwd, rev, frame, ts, seq, ack, flags, seglen, bits)
        if seglen > 0 and payload_of is not None and self._observe is not None:
            self._deliver(st, d, frame, ts, seq, seglen, payload_of(index), bits)
        if bits & ANOMALY_MASK:
            for bit, name in ANALYSIS_NAMES:
                if bits & bit & ANOMALY_MASK:
                    st.anomalies.append((name, frame))
        if st.segments is not None:
            rel_seq = (seq - fwd.base_seq) & M32
            rel_ack = ((ack - rev.base_seq) & M32) if flags & ACK else ack
            st.segments.append(Segment(frame, ts, d, flags, seq, ack, rel_seq, rel_ack, seglen,
                                       window, bits, options, dupnum, file_index,
                                       (st.states[0], st.states[1]),
                                       payload_of(index) if payload_of and seglen else b""))
        return st.number, bits

    def _deliver(self, st: TcpStream, d: int, frame: int, ts: int, seq: int, seglen: int,
                 payload: bytes, bits: int) -> None:
        """Offer a segment's payload to the stream's observer; the first payload of each
        direction may make one (``observe``). (Also called from C: the compiled lane's
        take_plain, with the payload it cut from the batch.)"""
        if self._observe is None:
            return
        obs = st.observer
        if obs is None and not st.dirs[d].offered:
            st.dirs[d].offered = True
            obs = st.observer = self._observe(st, d, payload)
            if obs is not None and obs.wants[d]:
                obs.segment(d, frame, ts, seq, seglen, payload, bits)
        elif obs is not None and obs.wants[d]:
            obs.segment(d, frame, ts, seq, seglen, payload, bits)

    @staticmethod
    def _syn_options(st: TcpStream, d: int, flags: int, options: SynOptions | None) -> None:
        fwd, rev = st.dirs[d], st.dirs[1 - d]
        if options is not None:
            fwd.options = options
            if options.wscale is not None:
                fwd.win_scale = min(options.wscale, 14)
        # Window scaling is used only when both SYN and SYN+ACK carry the option
        # (RFC 7323 §1.3). As tshark: -2 marks "known not to be used".
        if fwd.win_scale == -1:
            fwd.win_scale = -2
            rev.win_scale = -2
        elif flags & ACK and rev.win_scale == -2:
            fwd.win_scale = -2

    # -- control segments: states, history, events ----------------------
    def _control(
        self, st: TcpStream, d: int, fwd: _Dir, rev: _Dir, frame: int, ts: int, seq: int,
        ack: int, flags: int, seglen: int, bits: int,
    ) -> None:
        hist = _history_letter
        if flags & SYN:
            if flags & ACK:
                fwd.synack_frames.append(frame)
                if fwd.isn is None:
                    fwd.isn = seq
                hist(st, d, "h")
                self._step(st, d, Event.SND_SYNACK, Event.RCV_SYNACK, frame)
            else:
                fwd.syn_frames.append(frame)
                fwd.syn_times.append(ts)
                if fwd.isn is None:
                    fwd.isn = seq
                hist(st, d, "s")
                self._step(st, d, Event.SND_SYN, Event.RCV_SYN, frame)
            if flags & (FIN | RST):
                hist(st, d, "q")
        elif flags & ACK and not flags & RST:
            # an ACK that completes the handshake or acknowledges a FIN
            other = st.states[1 - d]
            if other is _SYN_RECEIVED and rev.isn is not None and \
                    ack == ((rev.isn + 1) & M32):
                st.states[1 - d], _ = step(other, Event.RCV_ACK)
                if st.handshake_ack_frame is None:
                    st.handshake_ack_frame = frame
                    st.events.append((frame, d, "ack"))
            elif other in _FIN_SENT and \
                    rev.first_fin_seq is not None and _gt(ack, rev.first_fin_seq):
                st.states[1 - d], _ = step(other, Event.RCV_ACK)
                st.events.append((frame, d, "fin_ack"))
            if seglen == 0 and not flags & FIN:
                hist(st, d, "a")
        if seglen > 0:
            if rev.fin_frames and not bits & ANY_RETRANSMISSION and not flags & RST:
                fwd.data_after_peer_fin = True
            hist(st, d, "d")
            if bits & ANY_RETRANSMISSION:
                hist(st, d, "t")
        if bits & A_ZERO_WINDOW:
            hist(st, d, "w")
        # Zeek's content gap: the other side's bytes were acknowledged but never
        # seen (a segment merely out of order is not a gap: it comes later)
        if bits & A_ACK_LOST_SEGMENT:
            hist(st, 1 - d, "g")
        if flags & FIN:
            if not fwd.fin_frames:
                fwd.first_fin_seq = (seq + seglen) & M32
            fwd.fin_frames.append(frame)
            fwd.marks |= MARK_FIN
            hist(st, d, "f")
            if not bits & ANY_RETRANSMISSION:
                # the FIN may also carry the ACK of the peer's FIN (three-segment close)
                other = st.states[1 - d]
                acks_peer_fin = rev.first_fin_seq is not None and bool(flags & ACK) and \
                    _gt(ack, rev.first_fin_seq)
                if acks_peer_fin and other in (TcpState.FIN_WAIT_1, TcpState.CLOSING):
                    st.states[1 - d], _ = step(other, Event.RCV_ACK)
                crossed = rev.first_fin_seq is not None and not acks_peer_fin and \
                    st.states[d] is TcpState.CLOSE_WAIT
                self._step(st, d, Event.SND_FIN, Event.RCV_FIN, frame)
                if crossed:
                    # a FIN that does not acknowledge the peer's FIN, seen before it, left
                    # before that FIN arrived: the FINs crossed, and this side goes
                    # FIN_WAIT_1 -> CLOSING on it (RFC 9293 §3.6, figure 13)
                    st.states[d] = TcpState.CLOSING
                st.events.append((frame, d, "fin"))
        if flags & RST:
            fwd.rst_frames.append(frame)
            hist(st, d, "r")
            st.events.append((frame, d, "rst"))
            if st.rst_after is None:
                st.rst_after = _rst_context(st, d)
            self._step(st, d, Event.SND_RST, Event.RCV_RST, frame)
        st.watch = st.states[0] in WATCH_STATES or st.states[1] in WATCH_STATES

    @staticmethod
    def _step(st: TcpStream, d: int, snd: Event, rcv: Event, frame: int) -> None:
        """Both endpoints move on one segment: the sender by ``snd``, the peer by ``rcv``.

        A transition the table does not allow leaves that endpoint where it
        is (a capture that began mid-connection sees FINs from CLOSED).
        """
        s_state, _ = step(st.states[d], snd)
        r_state, _ = step(st.states[1 - d], rcv)
        if st.states[d] is TcpState.CLOSED and snd is Event.SND_SYNACK:
            # SYN not captured: the sender must have been listening
            s_state = TcpState.SYN_RECEIVED
        st.states[d] = s_state
        st.states[1 - d] = r_state


def _analyze(st: TcpStream, fwd: _Dir, rev: _Dir, frame: int, ts: int, seq: int, ack: int,
             flags: int, seglen: int, window: int, bits: int) -> tuple[int, int]:
    """The sequence analysis of one segment (``fwd`` its sender's direction): the
    relative-number bases, the first RTT, every tcp.analysis flag, and the running
    numbers after it; returns (analysis bits, its duplicate-ACK number).

    The middle of :meth:`TcpTracker.segment`; flow/_lane.c's ``analyze`` is its
    compiled twin, line for line.
    """
    syn = flags & SYN
    # -- relative numbering bases (tshark: tcp_analyze_sequence_number) --
    if not fwd.base_set:
        fwd.base_seq = seq if syn else (seq - 1) & M32
        fwd.base_set = True
    if not rev.base_set and flags & ACK:
        rev.base_seq = (ack - 1) & M32
        rev.base_set = True
    # initial RTT: from the most recent SYN to the first ACK without SYN
    if syn:
        if not flags & ACK:
            st.ts_mru_syn = ts
    elif flags & ACK and not st.first_rtt_ns and st.ts_mru_syn:
        # (timestamps are int64, their difference need not be: a hostile pcapng's are
        # kept in range, as the compiled StreamCore must hold them)
        st.first_rtt_ns = max(-I64, min(ts - st.ts_mru_syn, I64 - 1))

    dupnum = 0
    ctl = flags & (SYN | FIN | RST)
    nxt = fwd.nextseq
    lastack = fwd.lastack
    if seglen == 1 and seq == nxt and rev.window == 0:
        bits |= A_ZERO_WINDOW_PROBE
    else:
        if window == 0 and not ctl:
            bits |= A_ZERO_WINDOW
        # LOST SEGMENT: beyond the highest next seq seen
        if nxt and 0 < ((seq - nxt) & M32) < 0x80000000 and not flags & RST:
            bits |= A_LOST_SEGMENT
        if not ctl:
            # KEEP-ALIVE: 0 or 1 byte, one before the next expected seq
            if seglen <= 1 and seq == ((nxt - 1) & M32):
                bits |= A_KEEP_ALIVE
            plain = seglen == 0 and seq == nxt and ack == lastack
            if plain and window and window != fwd.window:
                bits |= A_WINDOW_UPDATE
            if seglen > 0 and rev.win_scale != -1:
                shift = 0 if rev.win_scale == -2 else rev.win_scale
                if ((seq + seglen) & M32) == ((rev.lastack + (rev.window << shift)) & M32):
                    bits |= A_WINDOW_FULL
            if plain:
                if window and window == fwd.window and rev.lastsegmentflags & A_KEEP_ALIVE:
                    bits |= A_KEEP_ALIVE_ACK
                elif (window == 0 and fwd.window == 0
                      and rev.lastsegmentflags & A_ZERO_WINDOW_PROBE):
                    bits |= A_ZERO_WINDOW_PROBE_ACK
                elif window and window == fwd.window:
                    fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
                    bits |= A_DUPLICATE_ACK
                    dupnum = fwd.dupacknum
    if ack != lastack:  # a new ACK value ends a run of duplicate ACKs
        fwd.lastnondupack = frame
        fwd.dupacknum = 0

    # ACKED UNSEEN SEGMENT: this ACK covers bytes the capture never showed.
    # maxseqtobeacked is the end of the gap-free run of the other side's bytes.
    # As tshark 4.0 (pinned by experiments, tests/test_flow_random.py): when
    # the other side has sent past that run, flag and move the run's end up;
    # otherwise flag once, and mark its dup-ACK counter (-1) so that more ACKs
    # of the same gap stay quiet until it sends something new.
    rmax = rev.maxseqtobeacked
    if rmax and flags & ACK and 0 < ((ack - rmax) & M32) < 0x80000000:
        if rmax != rev.nextseq:  # the other side sent past the gap-free run
            rev.maxseqtobeacked = rev.nextseq
            bits |= A_ACK_LOST_SEGMENT
        else:
            if rev.dupacknum == 0:
                bits |= A_ACK_LOST_SEGMENT
            rev.dupacknum = -1

    # RETRANSMISSION / SPURIOUS / FAST RETRANSMISSION / OUT-OF-ORDER
    sf = flags & (SYN | FIN)
    if (seglen > 0 or sf) and not bits & A_KEEP_ALIVE:
        not_advanced = bool(nxt) and 0 < ((nxt - seq) & M32) < 0x80000000
        if seglen > 1 and ((nxt - 1) & M32) == seq:
            not_advanced = False  # new data after a zero-window probe
        rlast = rev.lastack
        end = (seq + seglen) & M32
        if seglen > 0 and rlast and (end == rlast or 0 < ((rlast - end) & M32) < 0x80000000):
            bits |= A_SPURIOUS_RETRANSMISSION  # everything in it was already ACKed
        elif not_advanced:
            if (rev.dupacknum >= 2 and rlast == seq
                    and ts - rev.lastacktime < FAST_RETRANSMISSION_WINDOW_NS):
                bits |= A_FAST_RETRANSMISSION
            elif (ts - fwd.nextseqtime < (st.first_rtt_ns or DEFAULT_OOO_THRESHOLD_NS)
                  and nxt != ((end + (1 if sf else 0)) & M32)):
                bits |= A_OUT_OF_ORDER
            else:
                bits |= A_RETRANSMISSION

    # Wireshark also keeps a list of unacknowledged segments, but it only feeds
    # bytes-in-flight and RTO figures, never an analysis flag: we do without.
    nextseq = (seq + seglen + (1 if sf else 0)) & M32
    if (not nxt or 0 < ((nextseq - nxt) & M32) < 0x80000000) and \
            not bits & A_ZERO_WINDOW_PROBE:
        fwd.nextseq = nextseq
        fwd.nextseqframe = frame
        fwd.nextseqtime = ts
    if ((seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked)
            and not bits & A_ZERO_WINDOW_PROBE):
        fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = window
    fwd.lastack = ack
    fwd.lastacktime = ts
    fwd.lastsegmentflags = bits
    return bits, dupnum


def _history_letter(st: TcpStream, d: int, letter: str) -> None:
    """Zeek's history: each letter once per direction; originator upper-case.

    The originator is endpoint a (the first sender) until roles are known;
    :func:`summarize` re-cases once the client is known.
    """
    if d == 0:
        letter = letter.upper()
    if letter in st.history:
        return
    st.history += letter
    if letter in "aA":
        st.dirs[d].marks |= MARK_A
    elif letter in "dD":
        st.dirs[d].marks |= MARK_D


def is_over(st: TcpStream) -> bool:
    """Whether the connection has ended (reset, or both FINs and the endpoints closed)."""
    return _is_over(st)


def shed(table: dict[Any, Any], retire: Any, last_ts: Any, may_go: Any) -> int:
    """Retire the tenth of a full table's entries quiet the longest; return how many."""
    n = max(1, len(table) // 10)
    oldest = heapq.nsmallest(n, ((last_ts(v), i, k) for i, (k, v) in enumerate(table.items())
                                 if may_go(v)))
    for _, _, k in oldest:
        retire(table.pop(k))
    return len(oldest)


def _expired(st: TcpStream, now_ns: int) -> bool:
    """Whether a stream is over by capture time ``now_ns`` (see :meth:`TcpTracker.evict`)."""
    return (st.segments is None and now_ns - st.last_ts > IDLE_NS) or _closed_and_quiet(
        st, now_ns)


def _closed_and_quiet(st: TcpStream, now_ns: int) -> bool:
    """Closed, and quiet for FINISHED_IDLE_NS by ``now_ns`` (kept streams never are)."""
    return now_ns - st.last_ts > FINISHED_IDLE_NS and st.segments is None and _is_over(st)


def _is_over(st: TcpStream) -> bool:
    """Reset, or both FINs sent and the connection's endpoints closed."""
    d0, d1 = st.dirs
    if d0.rst_frames or d1.rst_frames:
        return True
    return bool(d0.fin_frames and d1.fin_frames) and all(
        s in (TcpState.CLOSED, TcpState.TIME_WAIT) for s in st.states)


def _rst_context(st: TcpStream, d: int) -> str:
    fwd, rev = st.dirs[d], st.dirs[1 - d]
    if not (fwd.synack_frames or rev.synack_frames or st.handshake_ack_frame):
        return "syn"
    if fwd.fin_frames or rev.fin_frames:
        return "after_fin"
    return "mid_stream"


@dataclass(slots=True)
class TcpSummary:
    """Everything ``analyze`` reports for one TCP connection."""

    stream: int
    client: Endpoint
    server: Endpoint
    role_guess: str | None
    first_frame: int
    last_frame: int
    first_ts_ns: int
    last_ts_ns: int
    packets: int
    packets_c2s: int
    packets_s2c: int
    bytes_c2s: int
    bytes_s2c: int
    wire_bytes_c2s: int
    wire_bytes_s2c: int
    handshake: dict[str, Any]
    close: dict[str, Any]
    conn_state: str
    history: str
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    client_dir: int = 0  # which endpoint index (0 = a) is the client
    options: dict[str, Any] = field(default_factory=dict)
    file_index: int = 0
    tls: Any = None  # a TlsSession when the stream carried TLS (handshaker.tls)


WELL_KNOWN_LIMIT = 1024


def _roles(st: TcpStream) -> tuple[int, str | None]:
    """Which endpoint (0 = a, 1 = b) is the client, and how it was guessed (None: known)."""
    d0, d1 = st.dirs
    syn0 = d0.syn_frames[0] if d0.syn_frames else None
    syn1 = d1.syn_frames[0] if d1.syn_frames else None
    if syn0 is not None or syn1 is not None:
        if syn1 is None or (syn0 is not None and syn0 <= syn1):
            return 0, None
        return 1, None
    if d0.synack_frames or d1.synack_frames:
        server = 0 if d0.synack_frames else 1
        return 1 - server, "SYN not captured: the SYN+ACK sender is taken as the server"
    pa, pb = st.a.port, st.b.port
    if (pa < WELL_KNOWN_LIMIT) != (pb < WELL_KNOWN_LIMIT):
        server = 0 if pa < WELL_KNOWN_LIMIT else 1
        return 1 - server, "no SYN seen: the side on the well-known port is taken as the server"
    if pa != pb:
        server = 0 if pa < pb else 1
        return 1 - server, "no SYN seen: the side on the lower port is taken as the server"
    return 0, "no SYN seen: the first sender is taken as the client"


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def summarize(st: TcpStream) -> TcpSummary:
    """Classify one stream's handshake and close; Zeek's conn_state and history."""
    c, guess = _roles(st)
    s = 1 - c
    cd, sd = st.dirs[c], st.dirs[s]
    client, server = (st.a, st.b) if c == 0 else (st.b, st.a)

    # -- handshake ------------------------------------------------------
    syn_frames, synack_frames = cd.syn_frames, sd.synack_frames
    syn = syn_frames[0] if syn_frames else None
    synack = synack_frames[0] if synack_frames else None
    ack = st.handshake_ack_frame
    if syn_frames and sd.syn_frames:
        hs_state = "simultaneous_open"
    elif syn is not None and synack is not None:
        hs_state = "complete" if ack is not None else "no_final_ack"
    elif syn is not None and sd.rst_frames and sd.rst_frames[0] > syn:
        hs_state = "refused"
    elif syn is not None:
        hs_state = "syn_unanswered"
    elif synack is not None:
        hs_state = "syn_not_captured"
    else:
        hs_state = "not_seen"
    handshake: dict[str, Any] = {
        "state": hs_state,
        "client_isn": cd.isn,
        "server_isn": sd.isn,
        "frames": [f for f in (syn, synack, ack) if f is not None],
        "rtt_ms": _ms(st.first_rtt_ns) if st.first_rtt_ns else None,
        "syn_retransmissions": max(0, len(syn_frames) - 1),
        "synack_retransmissions": max(0, len(synack_frames) - 1),
    }
    if len(cd.syn_times) > 1:
        t = cd.syn_times
        handshake["syn_backoff_ms"] = [_ms(t[i + 1] - t[i]) for i in range(len(t) - 1)]

    # -- close ----------------------------------------------------------
    fin_c = cd.fin_frames[0] if cd.fin_frames else None
    fin_s = sd.fin_frames[0] if sd.fin_frames else None
    first_rst: tuple[int, int] | None = None
    fin_acks = []
    for f, who, kind in st.events:
        if kind == "rst":
            if first_rst is None:
                first_rst = (f, who)
        elif kind == "fin_ack":
            fin_acks.append((f, who))
    close: dict[str, Any] = {"kind": "none", "initiator": None, "frames": []}
    both_fins_acked = len(fin_acks) >= 2 or (
        fin_c is not None and fin_s is not None
        and st.states[0] in _ENDED and st.states[1] in _ENDED
    )
    last_fin = max(fin_c or 0, fin_s or 0)
    if first_rst is not None and not (both_fins_acked and first_rst[0] > last_fin):
        rf, who = first_rst
        close = {
            "kind": "reset",
            "initiator": "client" if who == c else "server",
            "frames": [rf],
            "after": st.rst_after,
        }
    elif fin_c is not None or fin_s is not None:
        first_is_client = fin_s is None or (fin_c is not None and fin_c < fin_s)
        closer = c if first_is_client else s
        fin1 = fin_c if first_is_client else fin_s
        fin2 = fin_s if first_is_client else fin_c
        ack1 = next((f for f, who in fin_acks if who != closer), None)
        ack2 = next((f for f, who in fin_acks if who == closer), None)
        if fin2 is None:
            kind = "half_closed" if ack1 is not None else "fin_unanswered"
            frames = [f for f in (fin1, ack1) if f is not None]
        else:
            if TcpState.CLOSING in st.states or (ack1 is not None and ack1 > fin2) or (
                    ack1 is None and st.states[closer] is TcpState.CLOSING):
                kind = "simultaneous"
            elif ack1 is None or ack1 == fin2:
                kind = "three_way"
            else:
                kind = "four_way"
            frames = [f for f in (fin1, ack1 if ack1 != fin2 else None, fin2, ack2)
                      if f is not None]
        close = {
            "kind": kind,
            "initiator": "client" if closer == c else "server",
            "frames": frames,
            "half_close_data": st.dirs[1 - closer].data_after_peer_fin,
            "time_wait": "client" if closer == c else "server",
        }
        if kind == "simultaneous":
            close["time_wait"] = "both"
        if first_rst is not None:
            close["reset_after"] = first_rst[0]

    # -- Zeek conn_state ------------------------------------------------
    conn_state = _conn_state(st, c, hs_state, first_rst)
    history = st.history if c == 0 else st.history.swapcase()
    if guess is None and syn_frames and st.a is not client:
        history = "^" + history

    # (by position, in TcpSummary's order: keywords made each summary 1 µs slower)
    return TcpSummary(
        st.number, client, server, guess,  # stream, client, server, role_guess
        st.first_frame, st.last_frame, st.first_ts, st.last_ts, st.packets,
        cd.packets, sd.packets,  # packets_c2s, packets_s2c
        cd.payload_bytes, sd.payload_bytes,  # bytes_c2s, bytes_s2c
        cd.wire_bytes, sd.wire_bytes,  # wire_bytes_c2s, wire_bytes_s2c
        handshake, close, conn_state, history,
        [{"kind": k, "frame": f} for k, f in st.anomalies],  # anomalies
        c,  # client_dir
        {"client": _opts(cd.options), "server": _opts(sd.options),  # options
         "window_scaling": (cd.win_scale >= 0 and sd.win_scale >= 0)},
        st.file_index)


#: the states after which a connection that sent both FINs is over
_ENDED = frozenset({TcpState.TIME_WAIT, TcpState.CLOSED})


def _opts(o: SynOptions | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"mss": o.mss, "wscale": o.wscale, "sack_permitted": o.sack_permitted,
            "timestamps": o.timestamps, "tfo": o.tfo}


def _conn_state(st: TcpStream, c: int, hs_state: str, first_rst: tuple[int, int] | None) -> str:
    """Zeek's conn_state, with the client as Zeek's originator."""
    cd, sd = st.dirs[c], st.dirs[1 - c]
    orig_syn, resp_synack = bool(cd.syn_frames), bool(sd.synack_frames)
    established = hs_state in ("complete", "no_final_ack", "simultaneous_open") or (
        orig_syn and resp_synack)
    rst_by = None if first_rst is None else ("orig" if first_rst[1] == c else "resp")
    if not orig_syn and not resp_synack:
        return "OTH"
    if orig_syn and not resp_synack:
        if rst_by == "resp" or hs_state == "refused":
            return "REJ"
        if rst_by == "orig":
            return "RSTOS0"
        if cd.fin_frames:
            return "SH"
        if sd.packets:
            return "OTH"
        return "S0"
    if resp_synack and not orig_syn:
        if rst_by == "resp":
            return "RSTRH"
        if sd.fin_frames and not cd.packets:
            return "SHR"
        return "OTH"
    if established and rst_by == "orig":
        return "RSTO"
    if established and rst_by == "resp":
        return "RSTR"
    if cd.fin_frames and sd.fin_frames:
        return "SF"
    if cd.fin_frames:
        return "S2"
    if sd.fin_frames:
        return "S3"
    return "S1"


__all__ = [
    "ANALYSIS_NAMES", "SYNCHRONIZED", "Endpoint", "Segment", "SynOptions", "TcpStream",
    "TcpSummary", "TcpTracker", "analysis_names", "summarize",
]
