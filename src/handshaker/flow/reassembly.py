"""Per-direction TCP byte-stream reassembly, sans-I/O.

Theory of operation
-------------------
One :class:`Reassembler` follows the bytes one endpoint sent (one direction
of one TCP stream). The caller feeds it segments in capture order with
:meth:`Reassembler.add` and takes the in-order bytes with
:meth:`Reassembler.read`; nothing here touches a file, a socket or a clock.

Sequence numbers are 32-bit and wrap (RFC 9293 §3.4). Inside, every byte has
a *stream offset* instead: 0 is the first byte after the SYN (the SYN takes
one sequence number, RFC 9293 §3.4), and offsets grow without wrapping. A
segment's 32-bit sequence number is turned into the offset nearest to the
next expected one (``next_offset``), so a stream may wrap the sequence space
any number of times.

A segment lands in one of four places:

- **in order** (it starts at ``next_offset``): its bytes are appended to the
  unread buffer and to the history window. This is the common case and the
  fast path of :meth:`~Reassembler.add`: no heap, no copy beyond the append.
- **already delivered** (it ends at or before ``next_offset``): a
  retransmission. Its bytes are compared with the last ``HISTORY_BYTES``
  delivered bytes; the same bytes give a ``"retransmission"`` event, other
  bytes an ``"overlap_mismatch"`` event. A segment that is partly old has its
  old part compared the same way and its new part delivered.
- **ahead** (it starts after ``next_offset``: a hole lies before it): it waits
  in the pending store, a min-heap by offset (plus a max-heap to find the
  farthest segment when a limit is hit, and a dict by offset to drop exact
  duplicates at once). When the hole fills, waiting segments are delivered in
  offset order. The store is capped by ``MAX_PENDING_BYTES`` and
  ``MAX_PENDING_SEGMENTS``: past them the farthest data is dropped (it would
  be delivered last) with a ``"limit"`` event, as Linux prunes its
  out-of-order queue from the far end (``tcp_prune_ofo_queue``).
- **not captured**: a frame cut by the capture's snaplen carries fewer bytes
  than its TCP length (``length=``). The missing bytes become a *hole
  marker* in the pending store; when the stream reaches it, the stream jumps
  over it with a ``"gap"`` event, unless a fully captured copy of those bytes
  arrived meanwhile.

Which copy wins when copies disagree: for bytes already delivered, the first
copy (as most stacks do: data below RCV.NXT is trimmed, RFC 9293 §3.10.7.4).
Among copies still waiting out of order, the one that starts lower wins, and
for the same start the first to arrive. Stacks themselves disagree on
overlapping out-of-order data (Linux, BSD and Windows differ), so an observer
cannot know which copy the receiver kept: what matters is that the
disagreement is reported, as ``"overlap_mismatch"``.

Holes that never fill (the capture lost a segment): :meth:`~Reassembler.skip_gap`
gives up on the first hole now, :meth:`~Reassembler.ack` gives up on a hole
the peer has acknowledged (so the receiver had those bytes and the capture
missed them, as Zeek does), and :meth:`~Reassembler.close` gives up on all of
them at the end of the capture. Each jump is a ``"gap"`` event.

:meth:`~Reassembler.read` never returns bytes across a gap: each call returns
one contiguous run; when a run starts later than the previous one ended,
bytes were lost in between and a ``"gap"`` (or ``"limit"``) event says where
and why. Call ``read()`` until it returns ``b""``.

Nothing here raises on any input: odd input becomes an event.

Memory per direction is bounded by the named limits below (all can be
lowered per instance, for tests or tight callers): pending data by
``MAX_PENDING_BYTES`` / ``MAX_PENDING_SEGMENTS``, the history window by
``HISTORY_BYTES``, delivered-but-unread data by ``MAX_UNREAD_BYTES`` and the
event list by ``MAX_EVENTS``.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Literal

#: out-of-order bytes held per direction while they wait for a hole to fill
#: (about a large receive window's worth; the farthest data is dropped past it)
MAX_PENDING_BYTES = 1 << 20
#: out-of-order segments (and snaplen hole markers) held per direction
MAX_PENDING_SEGMENTS = 1024
#: delivered bytes kept to compare retransmissions with (a 16-bit window's worth)
HISTORY_BYTES = 64 << 10
#: delivered bytes waiting for read(); past it the oldest unread bytes are discarded
MAX_UNREAD_BYTES = 16 << 20
#: events kept in ``Reassembler.events``; past it they are only counted
MAX_EVENTS = 4096

M32 = 0xFFFFFFFF
_HALF = 0x80000000
#: a segment cannot cover more than half the sequence space (RFC 9293 §3.4)
MAX_SEGMENT_LENGTH = _HALF - 1

StreamEventKind = Literal["gap", "overlap_mismatch", "limit", "retransmission"]
GAP: StreamEventKind = "gap"
OVERLAP_MISMATCH: StreamEventKind = "overlap_mismatch"
LIMIT: StreamEventKind = "limit"
RETRANSMISSION: StreamEventKind = "retransmission"

#: ``StreamEvent.detail`` of each kind of gap: why the stream jumped
GAP_GIVEN_UP = "never captured: gave up waiting"
GAP_ACKED = "never captured: acknowledged by the peer"
GAP_SNAPLEN = "never captured: frame shorter than its TCP length (snaplen)"
GAP_BEFORE_FIN = "never captured: missing before the FIN"

BytesLike = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Piece:
    """Which frame delivered which bytes of the in-order stream."""

    offset: int  # stream offset (0 = first byte after the SYN)
    length: int
    frame: int


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Something the reassembler noticed about one direction of a stream.

    ``kind`` is one of:

    - ``"gap"``: bytes ``[offset, offset+length)`` were never seen (lost by the
      capture, cut by its snaplen, or given up on); the stream jumps over them.
      ``frame`` is the frame that made the jump known.
    - ``"overlap_mismatch"``: ``frame`` carries bytes for offsets already
      delivered (or already waiting) that DIFFER from the first copy: an
      evasion sign. The first copy is kept.
    - ``"limit"``: a named limit was hit and data was dropped (``detail`` says
      which limit and which bytes).
    - ``"retransmission"``: ``frame`` carried bytes already seen, the same
      ones (or ones too old to compare); informational.
    """

    kind: StreamEventKind
    frame: int
    offset: int
    length: int
    detail: str


class _Seg:
    """One waiting segment, or a hole marker (``data is None``) for snaplen-cut bytes."""

    __slots__ = ("alive", "data", "frame", "length", "offset")

    def __init__(self, offset: int, frame: int, data: bytes | None, length: int) -> None:
        self.offset = offset
        self.frame = frame
        self.data = data
        self.length = length
        self.alive = True


class Reassembler:
    """Reassembles the byte stream of one direction of a TCP connection.

    ``isn`` is the sequence number of this direction's SYN (data starts at
    ``isn + 1``). Without it, the first SYN passed to :meth:`add` sets it, or
    else the first segment with data (or FIN) starts the stream at its own
    sequence number (a capture that began mid-stream).

    Typical use, one instance per direction::

        r = Reassembler()
        for seg in segments:                  # both directions, in capture order
            if seg is from this direction:
                r.add(seg.frame, seg.seq_raw, seg.payload, syn=..., fin=..., length=seg.len)
            elif seg acknowledges:
                r.ack(seg.frame, seg.ack_raw)  # optional: gives up holes the peer got
            while (got := r.read())[0]:
                data, pieces = got            # a run starting later than the last
                parser.feed(data, pieces[0].offset)  # one ended means a gap
        r.close()                             # end of capture; then read() again

    Read-only attributes: ``events`` (a list of :class:`StreamEvent`; the
    caller may clear it, or use :meth:`take_events`), ``events_dropped``
    (events not kept past ``max_events``), ``next_offset`` (the stream offset
    of the next byte expected: every byte before it was delivered or given up
    as a gap), ``pending_bytes`` and ``pending_segments`` (out-of-order data
    waiting behind a hole), ``fin_offset`` (where the FIN says the stream
    ends, or ``None``).
    """

    __slots__ = (
        "_at",
        "_base",
        "_fin_frame",
        "_hist",
        "_hist_max",
        "_holes_at",
        "_max",
        "_max_events",
        "_max_pending_bytes",
        "_max_pending_segments",
        "_max_unread",
        "_min",
        "_order",
        "_pieces",
        "_unread",
        "events",
        "events_dropped",
        "fin_offset",
        "next_offset",
        "pending_bytes",
        "pending_segments",
    )

    def __init__(
        self,
        isn: int | None = None,
        *,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        max_pending_segments: int = MAX_PENDING_SEGMENTS,
        history_bytes: int = HISTORY_BYTES,
        max_unread_bytes: int = MAX_UNREAD_BYTES,
        max_events: int = MAX_EVENTS,
    ) -> None:
        # sequence number of stream offset 0 (the SYN takes one: RFC 9293 §3.4)
        self._base: int | None = None if isn is None else (isn + 1) & M32
        self._max_pending_bytes = max(0, max_pending_bytes)
        self._max_pending_segments = max(0, max_pending_segments)
        self._hist_max = max(0, history_bytes)
        self._max_unread = max(0, max_unread_bytes)
        self._max_events = max(0, max_events)
        self.events: list[StreamEvent] = []
        self.events_dropped = 0
        self.next_offset = 0
        self.pending_bytes = 0
        self.pending_segments = 0
        self.fin_offset: int | None = None
        self._fin_frame = 0
        self._unread = bytearray()  # delivered, not yet read
        self._pieces: deque[Piece] = deque()  # which frames carried _unread
        self._hist = bytearray()  # the last delivered bytes, ending at next_offset
        # pending store: min-heap (offset, is_hole, order, seg) and max-heap
        # (-offset, -order, seg); removed entries are marked dead and skipped lazily
        self._min: list[tuple[int, bool, int, _Seg]] = []
        self._max: list[tuple[int, int, _Seg]] = []
        self._at: dict[int, _Seg] = {}  # waiting data by start offset
        self._holes_at: dict[int, _Seg] = {}  # waiting hole markers by start offset
        self._order = 0

    # ------------------------------------------------------------------ input

    @property
    def isn(self) -> int | None:
        """The sequence number of the SYN (offset 0 is the byte after it), once known."""
        return None if self._base is None else (self._base - 1) & M32

    @property
    def finished(self) -> bool:
        """A FIN was seen and every byte before it was delivered (or given up as a gap)."""
        return self.fin_offset is not None and self.next_offset >= self.fin_offset

    @property
    def read_offset(self) -> int:
        """The stream offset of the first unread byte (``next_offset`` when all was read)."""
        return self._pieces[0].offset if self._pieces else self.next_offset

    def add(self, frame: int, seq: int, payload: BytesLike, *, syn: bool = False,
            fin: bool = False, length: int | None = None) -> None:
        """Feed one segment of this direction, in capture order.

        ``seq`` is the raw 32-bit sequence number, ``payload`` the captured TCP
        payload. ``length`` is the true TCP payload length (``tcp.len``) when
        the capture cut the frame short (snaplen): the bytes past the captured
        ones become a gap. Captured bytes beyond ``length`` (link padding) are
        ignored. ``syn`` / ``fin``: the segment's flags (each takes one
        sequence number; data on a SYN, TCP Fast Open, starts at ``seq + 1``).
        """
        data = payload if type(payload) is bytes else bytes(payload)
        n = len(data)
        if (length is None and not syn and not fin and n and not self.pending_segments
                and self._base is not None
                and not (seq - self._base - self.next_offset) & M32):
            self._deliver(frame, data)  # the common case: the next bytes, in order
            return
        self._add(frame, seq & M32, data, syn, fin, n if length is None else length)

    def pass_through(self, seq: int, data: bytes) -> int | None:
        """The in-order case for a reader that takes each segment as it comes: when
        ``data`` (a segment's whole payload, ``seq`` its raw sequence number) is exactly
        the next bytes and nothing waits or is unread, it counts as delivered and read
        in one step, and its stream offset is returned. Otherwise None: use :meth:`add`
        and :meth:`read`."""
        if (self._pieces or self.pending_segments or self._base is None or not data
                or (seq - self._base - self.next_offset) & M32):
            return None
        offset = self.next_offset
        self.next_offset = offset + len(data)
        self._remember(data)
        return offset

    def ack(self, frame: int, ack: int) -> None:
        """The peer acknowledged up to ``ack`` (raw 32-bit ACK number, ``frame``'s).

        A hole below an acknowledged sequence number held bytes the receiver
        got and the capture missed: they will never come, so the stream jumps
        over the hole to the data waiting after it (a ``"gap"`` event). Only
        holes with data waiting behind them are given up; feed ACKs only if
        the capture's order can be trusted (a capture that shows an ACK before
        the data it acknowledges would lose that data). tshark's "Follow TCP
        Stream" gives up on holes the same way.
        """
        if self._base is None or not self.pending_segments:
            return
        acked = self._offset(ack & M32)
        if self.fin_offset is not None and acked > self.fin_offset:
            acked = self.fin_offset  # the FIN's own sequence number is acknowledged too
        while True:
            first = self._first_pending()
            if first is None or first.offset > acked or first.offset <= self.next_offset:
                return
            self._jump(frame, first.offset, GAP_ACKED)
            self._drain()

    # ----------------------------------------------------------------- output

    def read(self) -> tuple[bytes, list[Piece]]:
        """The new contiguous bytes since the last read, and which frames carried them.

        Stops at a gap: call again for the bytes after it (their first piece
        then starts later than the previous run ended). ``(b"", [])`` when
        there is nothing new.
        """
        pieces = self._pieces
        if not pieces:
            return b"", []
        first = pieces.popleft()
        out = [first]
        end = first.offset + first.length
        while pieces and pieces[0].offset == end:
            piece = pieces.popleft()
            out.append(piece)
            end += piece.length
        if pieces:
            n = end - first.offset
            data = bytes(self._unread[:n])
            del self._unread[:n]
        else:
            data = bytes(self._unread)
            self._unread.clear()
        return data, out

    def skip_gap(self) -> StreamEvent | None:
        """Give up on the hole before the first waiting data and deliver what follows.

        Returns the ``"gap"`` event, or ``None`` when no data waits behind a hole.
        """
        self._drain()  # a no-op after add(); makes sure the first waiting data is past a hole
        first = self._first_pending()
        if first is None:
            return None
        event = self._jump(first.frame, first.offset, GAP_GIVEN_UP)
        self._drain()
        return event

    def close(self) -> None:
        """End of capture: every hole becomes a gap and all waiting data is delivered.

        A FIN seen beyond the delivered data leaves a last gap up to it.
        """
        while self.pending_segments and self.skip_gap() is not None:
            pass
        if self.fin_offset is not None and self.next_offset < self.fin_offset:
            self._jump(self._fin_frame, self.fin_offset, GAP_BEFORE_FIN)

    def take_events(self) -> list[StreamEvent]:
        """The events recorded so far, handing them over (the list starts empty again)."""
        events = self.events
        self.events = []
        return events

    # --------------------------------------------------------------- internals

    def _offset(self, seq: int) -> int:
        """Stream offset of a 32-bit sequence number: the one nearest ``next_offset``."""
        assert self._base is not None
        delta = (seq - self._base - self.next_offset) & M32
        if delta >= _HALF:
            delta -= 1 << 32
        return self.next_offset + delta

    def _add(self, frame: int, seq: int, data: bytes, syn: bool, fin: bool,
             length: int) -> None:
        length = min(max(length, 0), MAX_SEGMENT_LENGTH)
        if len(data) > length:
            data = data[:length]  # bytes past the TCP length are link padding
        if syn:
            if self._base is None:
                self._base = (seq + 1) & M32
            seq = (seq + 1) & M32  # the SYN takes one sequence number; TFO data follows
        elif self._base is None:
            if not length and not fin:
                return  # a bare ACK says nothing about where the data starts
            self._base = seq  # capture began mid-stream
        offset = self._offset(seq)
        if fin and self.fin_offset is None:
            self.fin_offset = offset + length
            self._fin_frame = frame
        if length:
            self._insert(frame, offset, data, length - len(data))
            self._drain()

    def _insert(self, frame: int, offset: int, data: bytes, missing: int) -> None:
        """Place captured bytes at ``offset`` followed by ``missing`` uncaptured ones."""
        nxt = self.next_offset
        if offset < nxt:
            k = min(len(data), nxt - offset)
            if k:
                keepalive = len(data) == 1 and not missing and offset == nxt - 1
                self._compare_old(frame, offset, data[:k], keepalive)
                data = data[k:]
                offset += k
            if offset < nxt:  # the captured bytes ran out before next_offset
                skip = min(missing, nxt - offset)
                missing -= skip
                offset += skip
        if data:
            if offset == nxt:
                self._deliver(frame, data)
            else:
                self._push(frame, offset, data)
        if missing > 0:
            self._push_hole(frame, offset + len(data), missing)

    def _compare_old(self, frame: int, offset: int, data: bytes, keepalive: bool = False) -> None:
        """Bytes for offsets already delivered: the same ones, or an evasion sign."""
        hist = self._hist
        hist_start = self.next_offset - len(hist)
        end = offset + len(data)
        lo = max(offset, hist_start)
        if lo >= end:
            self._event(RETRANSMISSION, frame, offset, len(data),
                        "already delivered; older than the history kept, not compared")
            return
        new = data[lo - offset:]
        old = hist[lo - hist_start:end - hist_start]
        if new == old:
            self._event(RETRANSMISSION, frame, offset, len(data), "same bytes as delivered")
        elif keepalive:
            # a keep-alive repeats the last byte with any content (RFC 9293 §3.8.4)
            self._event(RETRANSMISSION, frame, offset, 1, "keep-alive; its byte is ignored")
        else:
            i = next((i for i, (a, b) in enumerate(zip(new, old, strict=True)) if a != b), 0)
            self._event(OVERLAP_MISMATCH, frame, lo + i, end - lo - i,
                        "bytes differ from those already delivered; the first copy is kept")

    def _push(self, frame: int, offset: int, data: bytes) -> None:
        """Out-of-order data waits; copies at the same offset as waiting data are dropped."""
        while data:
            seg = self._at.get(offset)
            if seg is None or seg.data is None:
                self._store(_Seg(offset, frame, data, len(data)))
                return
            k = min(len(seg.data), len(data))
            if data[:k] == seg.data[:k]:
                self._event(RETRANSMISSION, frame, offset, k, "same bytes as waiting data")
            else:
                self._event(OVERLAP_MISMATCH, frame, offset, k,
                            "bytes differ from those waiting; the first copy is kept")
            data = data[k:]
            offset += k

    def _push_hole(self, frame: int, offset: int, length: int) -> None:
        seg = self._holes_at.get(offset)
        if seg is not None and seg.length >= length:
            return
        self._store(_Seg(offset, frame, None, length))

    def _store(self, seg: _Seg) -> None:
        self._order += 1
        hole = seg.data is None
        heapq.heappush(self._min, (seg.offset, hole, self._order, seg))
        heapq.heappush(self._max, (-seg.offset, -self._order, seg))
        if hole:
            self._holes_at[seg.offset] = seg
        else:
            self._at[seg.offset] = seg
            self.pending_bytes += seg.length
        self.pending_segments += 1
        while (self.pending_bytes > self._max_pending_bytes
               or self.pending_segments > self._max_pending_segments):
            far = self._pop_farthest()
            if far is None:
                break
            what = "snaplen hole marker" if far.data is None else "out-of-order data"
            self._event(LIMIT, far.frame, far.offset, far.length,
                        f"{what} dropped: over {self._max_pending_bytes} bytes "
                        f"(MAX_PENDING_BYTES) or {self._max_pending_segments} segments "
                        "(MAX_PENDING_SEGMENTS) wait behind a hole")

    def _pop_farthest(self) -> _Seg | None:
        heap = self._max
        while heap:
            seg = heapq.heappop(heap)[2]
            if seg.alive:
                self._unlink(seg)
                return seg
        return None

    def _first_pending(self) -> _Seg | None:
        heap = self._min
        while heap and not heap[0][3].alive:
            heapq.heappop(heap)
        return heap[0][3] if heap else None

    def _unlink(self, seg: _Seg) -> None:
        seg.alive = False
        self.pending_segments -= 1
        if seg.data is None:
            if self._holes_at.get(seg.offset) is seg:
                del self._holes_at[seg.offset]
        else:
            self.pending_bytes -= seg.length
            if self._at.get(seg.offset) is seg:
                del self._at[seg.offset]
        if not self.pending_segments:
            self._min.clear()
            self._max.clear()
        else:
            # dead entries are skipped lazily; rebuild a heap when they dominate
            limit = 2 * self.pending_segments + 64
            if len(self._min) > limit:
                self._min = [e for e in self._min if e[3].alive]
                heapq.heapify(self._min)
            if len(self._max) > limit:
                self._max = [e for e in self._max if e[2].alive]
                heapq.heapify(self._max)

    def _drain(self) -> None:
        """Deliver waiting segments that the stream has reached."""
        while True:
            seg = self._first_pending()
            if seg is None or seg.offset > self.next_offset:
                return
            self._unlink(seg)
            nxt = self.next_offset
            end = seg.offset + seg.length
            if seg.data is None:  # bytes the capture cut off (snaplen)
                if end <= nxt:
                    continue
                stop = end
                after = self._first_pending()
                if after is not None and after.data is not None and after.offset < end:
                    # a copy of these bytes was captured in full: it wins over the hole
                    stop = max(after.offset, nxt)
                    if stop < end:
                        self._store(_Seg(stop, seg.frame, None, end - stop))
                if stop > nxt:
                    self._jump(seg.frame, stop, GAP_SNAPLEN)
                continue
            data = seg.data
            if end <= nxt:
                self._compare_old(seg.frame, seg.offset, data)
                continue
            k = nxt - seg.offset
            if k > 0:
                self._compare_old(seg.frame, seg.offset, data[:k])
                data = data[k:]
            self._deliver(seg.frame, data)

    def _deliver(self, frame: int, data: bytes) -> None:
        n = len(data)
        offset = self.next_offset
        self._unread += data
        pieces = self._pieces
        last = pieces[-1] if pieces else None
        if last is not None and last.frame == frame and last.offset + last.length == offset:
            pieces[-1] = Piece(last.offset, last.length + n, frame)
        else:
            pieces.append(Piece(offset, n, frame))
        self.next_offset = offset + n
        self._remember(data)
        if len(self._unread) > self._max_unread:
            self._shed_unread(frame)

    def _remember(self, data: bytes) -> None:
        """Keep the last delivered bytes (``history_bytes``) to compare retransmissions."""
        n = len(data)
        hist = self._hist
        if n >= self._hist_max:
            hist[:] = data[n - self._hist_max:]
        else:
            hist += data
            if len(hist) > self._hist_max:
                del hist[:len(hist) - self._hist_max]

    def _shed_unread(self, frame: int) -> None:
        """Nobody reads: discard the oldest unread bytes (the reader sees a jump)."""
        excess = len(self._unread) - self._max_unread
        pieces = self._pieces
        start = pieces[0].offset
        left = excess
        while left:
            piece = pieces[0]
            if piece.length <= left:
                pieces.popleft()
                left -= piece.length
            else:
                pieces[0] = Piece(piece.offset + left, piece.length - left, piece.frame)
                left = 0
        del self._unread[:excess]
        self._event(LIMIT, frame, start, excess,
                    f"unread data over {self._max_unread} bytes (MAX_UNREAD_BYTES): the oldest "
                    "were discarded")

    def _jump(self, frame: int, to: int, why: str) -> StreamEvent:
        """Give up on bytes [next_offset, to): the stream continues at ``to``."""
        event = self._event(GAP, frame, self.next_offset, to - self.next_offset, why)
        self.next_offset = to
        self._hist.clear()  # history must end at next_offset; bytes before a gap no longer do
        return event

    def _event(self, kind: StreamEventKind, frame: int, offset: int, length: int,
               detail: str) -> StreamEvent:
        event = StreamEvent(kind, frame, offset, length, detail)
        events = self.events
        if len(events) + 1 < self._max_events:
            events.append(event)
        elif len(events) + 1 == self._max_events:
            events.append(StreamEvent(LIMIT, frame, offset, 0,
                                      f"over {self._max_events} events (MAX_EVENTS): later "
                                      "ones are "
                                      "only counted (events_dropped)"))
            self.events_dropped += 1
        else:
            self.events_dropped += 1
        return event
