"""The TLS record layer over one direction of a TCP stream, and handshake reassembly.

Theory of operation
-------------------

Two sans-I/O stages, one per direction of a connection::

    bytes ──► RecordParser ──► records ──► HandshakeReassembler ──► items
             (feed / next_record)           (feed / next_item)

:class:`RecordParser` is fed the direction's reassembled byte stream in
chunks of any size, each with the stream offset where it starts, and hands
back complete records: :class:`TLSPlaintext` (RFC 8446 §5.1 / RFC 5246
§6.2.1), :class:`SSLv2Record` (the SSL 2.0 record layer, used by genuine
SSL 2.0 and by the SSLv2-compatible ClientHello of RFC 5246 Appendix E.2),
or :class:`RecordGap` when the stream skipped bytes. Each call has three
outcomes (STYLE §5): a record, ``None`` ("need more data") or a
:class:`MalformedError` (a content type or length that cannot be). After an
error the parser drops what it holds and resynchronises at the next chunk
that starts like a record (:func:`looks_like_tls`), so one bad byte does not
end the analysis of a stream.

:class:`HandshakeReassembler` takes those records and yields what they
carry: complete :class:`Handshake` messages (a message may span records,
and a record may hold several), :class:`ChangeCipherSpec`, :class:`Alert`,
:class:`HeartbeatMessage`, :class:`ApplicationData`, :class:`SSLv2Message`,
and :class:`EncryptedRecord` for records it cannot read because they are
encrypted. It tracks encryption in its direction:

* TLS ≤ 1.2: everything after this direction's ChangeCipherSpec is
  encrypted (RFC 5246 §7.1); the Finished that follows it is an "encrypted
  handshake message";
* TLS 1.3 (the caller says so with :meth:`HandshakeReassembler.set_version`
  once the ServerHello selected it): every application_data record is
  encrypted and may hold handshake messages (RFC 8446 §5.2); a
  ChangeCipherSpec is the middlebox-compatibility dummy (§D.4) and changes
  nothing; records of other types stay plaintext;
* SSL 2.0: the server's records after SERVER-HELLO and the client's after
  CLIENT-MASTER-KEY are encrypted.

Every item carries the stream offset where it starts and ``complete_at``:
the stream offset of the last byte of the record that completed it.

Which frame an item belongs to: the frame that *completed* it, the last to
arrive of the frames that carried its bytes up to ``complete_at`` (a record
is only read once it is whole, as a TLS stack and tshark's reassembly read
it). In an in-order stream that is the frame carrying the last byte of the
record that holds the message's last byte; when a segment arrived out of
order, it is the one that filled the last hole. :class:`FrameIndex` maps
offsets to frames that way from the reassembler's pieces.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from handshaker.compiled import helper
from handshaker.errors import MalformedError
from handshaker.tls.codes import (
    SSL2_CLIENT_HELLO,
    SSL2_CLIENT_MASTER_KEY,
    SSL2_ERROR,
    SSL2_SERVER_HELLO,
    is_tls13,
)

# whole_handshake_records compiled (tls/_hello.c), where the package was built with it
_compiled: Any = helper("handshaker.tls._hello")

# ContentType (RFC 8446 §5.1, RFC 6520 for heartbeat)
CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
HEARTBEAT = 24
CONTENT_TYPES = frozenset({CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT})

#: RFC 5246 §6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048 (the
#: largest of the record limits: TLS 1.3 allows 2^14 + 256, RFC 8446 §5.2)
MAX_RECORD_LENGTH = 2**14 + 2048
#: SSL 2.0: a 2-byte header holds 15 bits of length, a 3-byte header 14
MAX_SSLV2_RECORD_LENGTH = 0x7FFF
#: the longest handshake message reassembled (the uint24 length allows 16 MiB;
#: real certificate chains stay far below)
MAX_HANDSHAKE_LENGTH = 2**20
#: the lowest and highest record-layer versions that look like TLS (SSL 3.0 .. TLS 1.3)
_VERSION_MIN, _VERSION_MAX = 0x0300, 0x0304

TLS_HEADER_LENGTH = 5


def looks_like_tls(first_bytes: bytes) -> bool:
    """True if a stream (or a chunk at a record boundary) starts like TLS or SSL 2.0.

    TLS: a content type 20–24, a record version 0x0300–0x0304 and a length
    within :data:`MAX_RECORD_LENGTH` (needs 5 bytes). SSL 2.0: a 2-byte
    header with the high bit set, then a CLIENT-HELLO (1) or SERVER-HELLO
    (4) of version 0x0002 or 0x0300–0x0304 (needs 5 bytes).
    """
    if len(first_bytes) < 5:
        return False
    b0, b1, b2, b3, b4 = first_bytes[:5]
    if b0 in CONTENT_TYPES:
        version = (b1 << 8) | b2
        length = (b3 << 8) | b4
        return _VERSION_MIN <= version <= _VERSION_MAX and length <= MAX_RECORD_LENGTH
    if b0 & 0x80:
        length = ((b0 & 0x7F) << 8) | b1
        if length < 3:
            return False
        if b2 == SSL2_CLIENT_HELLO:
            version = (b3 << 8) | b4
            return version == 0x0002 or _VERSION_MIN <= version <= _VERSION_MAX
        if b2 == SSL2_SERVER_HELLO and len(first_bytes) >= 7:
            version = (first_bytes[5] << 8) | first_bytes[6]
            return version == 0x0002 or _VERSION_MIN <= version <= _VERSION_MAX
    return False


class FrameIndex:
    """Which frame carried which stream offsets of one direction (from reassembly pieces).

    Feed it the ``(offset, length, frame)`` pieces that
    :meth:`handshaker.flow.reassembly.Reassembler.read` returns, in the
    order it returns them (stream order), then ask which frame completed an
    item. :meth:`forget_before` bounds its memory on long streams.
    """

    __slots__ = ("_ends", "_frames", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._frames: list[int] = []

    def add(self, offset: int, length: int, frame: int) -> None:
        if self._starts and offset < self._ends[-1]:
            raise ValueError(f"piece at {offset} overlaps the previous one (ends at "
                             f"{self._ends[-1]}): pieces must come in stream order")
        self._starts.append(offset)
        self._ends.append(offset + length)
        self._frames.append(frame)

    def frame_at(self, offset: int) -> int | None:
        """The frame that carried the byte at ``offset`` (None if no piece holds it)."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0 or offset >= self._ends[i]:
            return None
        return self._frames[i]

    def completing_frame(self, start: int, last: int) -> int | None:
        """The frame that completed the bytes ``start..last`` (inclusive): the highest
        frame number among the pieces holding them (None if none does)."""
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        j = bisect.bisect_right(self._starts, last)
        frames = [f for k, f in enumerate(self._frames[i:j], i) if self._ends[k] > start]
        return max(frames) if frames else None

    def forget_before(self, offset: int) -> None:
        """Drop the pieces that end at or before ``offset``."""
        i = bisect.bisect_right(self._ends, offset)
        del self._starts[:i], self._ends[:i], self._frames[:i]


# -- records ----------------------------------------------------------------------------

# The records and items below are values, never changed once made, but not frozen
# dataclasses: a frozen one's __init__ sets each field through object.__setattr__, five
# times the cost, and a million-packet capture makes about a hundred thousand of them.


@dataclass(slots=True)
class TLSPlaintext:
    """One record as it travels (RFC 8446 §5.1; the fragment may be ciphertext).

    ``stream_offset`` is where the 5-byte header starts in the direction's
    byte stream. A record that :mod:`handshaker.tls.opener` decrypted is
    ``decrypted``: ``content_type`` is then the real one and ``fragment`` the
    plaintext, while ``length`` stays the length on the wire.
    """

    content_type: int
    legacy_record_version: int
    length: int
    fragment: bytes
    stream_offset: int
    decrypted: bool = False

    @property
    def end_offset(self) -> int:
        """Stream offset just past the record."""
        return self.stream_offset + TLS_HEADER_LENGTH + self.length


@dataclass(slots=True)
class SSLv2Record:
    """An SSL 2.0 record: a 2-byte header (high bit set) or a 3-byte one with ``padding``."""

    header_length: int  # 2 or 3
    length: int  # bytes of data (MAC + message [+ padding] when encrypted)
    padding: int
    data: bytes
    stream_offset: int

    @property
    def end_offset(self) -> int:
        return self.stream_offset + self.header_length + self.length


@dataclass(slots=True)
class RecordGap:
    """Bytes of the stream the parser could not read as records (lost, or skipped to resync)."""

    stream_offset: int
    length: int
    reason: str

    @property
    def complete_at(self) -> int:
        """The stream offset of the gap's last byte (the frame that carried it names it)."""
        return self.stream_offset + max(self.length, 1) - 1


Record: TypeAlias = TLSPlaintext | SSLv2Record


class RecordParser:
    """Complete records out of one direction's byte stream (see the module docstring).

    Usage::

        rp = RecordParser()
        rp.feed(chunk, stream_offset)
        while (rec := rp.next_record()) is not None:
            ...

    ``feed`` never raises on bad input, and ``next_record`` hands the
    records back in stream order, raising :class:`MalformedError` where a
    record header cannot be (the parser then skips to the next chunk that
    looks like a record start and can be used on). A chunk's records are
    split off as they are asked for (a reader that stops early pays for no
    more), and all at once when the next chunk comes or the parser's state is
    asked for. Besides the queue of complete records, which the caller drains
    after each ``feed``, the parser holds at most one partial record:
    :data:`MAX_RECORD_LENGTH` + 5 bytes (SSL 2.0: 0x7FFF + 3).
    """

    __slots__ = ("_buf", "_buf_offset", "_chunk", "_count", "_lost", "_mode", "_out",
                 "_v2count")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._buf_offset: int | None = None  # stream offset of _buf[0]; None before any feed
        self._out: deque[Record | RecordGap | MalformedError] = deque()
        self._lost = False  # out of sync: waiting for a chunk that starts a record
        self._mode: str | None = None  # None (undecided), "tls", "sslv2"
        self._count = 0  # records parsed so far
        self._v2count = 0  # of which SSL 2.0 records
        # the chunk being split into records: (its bytes, their stream offset, where the
        # next record starts in them); None when all is split
        self._chunk: tuple[bytes | bytearray, int, int] | None = None

    @property
    def next_offset(self) -> int:
        """The stream offset the next fed byte is expected at."""
        self._split_all()
        return (self._buf_offset or 0) + len(self._buf)

    @property
    def pending(self) -> int:
        """Bytes of a partial record held, waiting for the rest."""
        self._split_all()
        return len(self._buf)

    @property
    def is_sslv2(self) -> bool:
        """True when this direction speaks the SSL 2.0 record layer (genuine SSL 2.0)."""
        self._split_all()
        return self._mode == "sslv2"

    def _drop(self, reason: str) -> None:
        if self._buf:
            self._out.append(RecordGap(self.next_offset - len(self._buf), len(self._buf), reason))
        self._buf_offset = self.next_offset
        self._buf.clear()

    def feed(self, data: bytes, stream_offset: int | None = None) -> None:
        """Add a chunk of the stream that starts at ``stream_offset`` (default: right after
        the previous one; the first chunk may start anywhere). Bytes already fed are
        skipped; a jump forward is a gap (a :class:`RecordGap`, then resynchronisation)."""
        self._split_all()
        if self._buf_offset is None:
            self._buf_offset = 0 if stream_offset is None else stream_offset
        if stream_offset is None:
            stream_offset = self.next_offset
        expected = self.next_offset
        if stream_offset < expected:  # overlap: keep only the new bytes
            data = data[expected - stream_offset:]
            stream_offset = expected
            if not data:
                return
        if stream_offset > expected:
            self._drop("partial record before a gap in the stream")
            self._out.append(RecordGap(expected, stream_offset - expected,
                                       "bytes missing from the stream"))
            self._buf_offset = stream_offset
            self._lost = True
        if self._lost:
            if not looks_like_tls(bytes(data[:7])):
                self._out.append(RecordGap(stream_offset, len(data),
                                           "skipped while looking for a record start"))
                self._buf_offset = stream_offset + len(data)
                return
            self._lost = False
        # the records are read from the chunk itself when nothing is held back (the usual
        # case: no copy); else from the held partial record with the chunk after it
        if self._buf:
            self._buf += data
            buf: bytes | bytearray = self._buf
            base = self._buf_offset
        else:
            buf, base = bytes(data), stream_offset
        self._chunk = (buf, base, 0)

    def at_rest(self, offset: int) -> bool:
        """Whether nothing is held or queued, the stream is in step and TLS records are
        expected next at ``offset``: a caller may then read whole records there itself
        (and say so with :meth:`took`)."""
        return (self._chunk is None and not self._buf and not self._out and not self._lost
                and self._mode != "sslv2" and not self._v2count
                and (self._buf_offset is None or self._buf_offset == offset))

    def took(self, end: int) -> None:
        """A whole TLS record ending at stream offset ``end`` was read by the caller (from
        where :meth:`at_rest` said, see :func:`whole_handshake_records`): the next bytes
        are expected at ``end``."""
        self._mode = "tls"
        self._count += 1
        self._buf_offset = end

    def _split(self) -> Record | None:
        """The next record of the chunk being split; None when the chunk is done: the rest
        of it held as a partial record or, after a bad header, the error and the gap of the
        rest queued."""
        if self._chunk is None:
            return None
        buf, base, pos = self._chunk
        try:
            rec = self._parse_one(buf, pos, base + pos)
        except MalformedError as err:
            self._chunk = None
            self._hold(buf, pos, base)
            self._out.append(err)
            self._drop("unreadable after a malformed record header")
            self._lost = True
            return None
        if rec is None:
            self._chunk = None
            self._hold(buf, pos, base)
            return None
        self._chunk = (buf, base, rec.end_offset - base)
        return rec

    def _split_all(self) -> None:
        """Split the rest of the chunk (its records queued)."""
        while self._chunk is not None:
            rec = self._split()
            if rec is not None:
                self._out.append(rec)

    def _hold(self, buf: bytes | bytearray, pos: int, base: int) -> None:
        """Keep ``buf[pos:]`` (a partial record), which starts at stream offset base + pos."""
        if buf is self._buf:
            del self._buf[:pos]
        else:
            self._buf[:] = buf[pos:]
        self._buf_offset = base + pos

    def next_record(self) -> Record | RecordGap | None:
        """The next complete record or gap, or None when more data is needed.

        Raises :class:`MalformedError` at the place in the stream where a
        record header cannot be.
        """
        if not self._out:
            rec = self._split()
            if rec is not None:
                return rec
            if not self._out:
                return None
        item = self._out.popleft()
        if isinstance(item, MalformedError):
            raise item
        return item

    def _parse_one(self, buf: bytes | bytearray, p: int, at: int) -> Record | None:
        """The record at ``buf[p:]`` (stream offset ``at``), or None if incomplete; raises
        on a bad header."""
        avail = len(buf) - p
        if avail < 1:
            return None
        b0 = buf[p]
        if self._mode is None:
            # the first record decides: genuine SSL 2.0 speaks SSL 2.0 records to the end;
            # an SSLv2-compatible ClientHello is followed by TLS records (RFC 5246 E.2)
            if b0 in CONTENT_TYPES:
                self._mode = "tls"
            elif b0 & 0x80:
                if avail < 5:
                    return None
                msg_type = buf[p + 2]
                version = int.from_bytes(buf[p + 3:p + 5], "big")
                genuine = msg_type == SSL2_SERVER_HELLO or (
                    msg_type == SSL2_CLIENT_HELLO and version == 0x0002)
                self._mode = "sslv2" if genuine else "tls"
            else:
                raise MalformedError(f"the stream does not start with a record (first byte {b0})",
                                     offset=at, field="content_type")
        if self._mode == "tls" and b0 & 0x80 and self._count == self._v2count:
            # only SSL 2.0 records so far (the compatible ClientHello): the peer may have
            # answered in SSL 2.0, and this side goes on in SSL 2.0 (CLIENT-MASTER-KEY)
            if self._count:
                self._mode = "sslv2"
            return self._parse_sslv2(buf, p, b0, avail, at)
        if self._mode == "sslv2":
            return self._parse_sslv2(buf, p, b0, avail, at)
        if b0 not in CONTENT_TYPES:
            raise MalformedError(f"unknown record content type {b0}", offset=at,
                                 field="content_type")
        if avail < TLS_HEADER_LENGTH:
            return None
        version = (buf[p + 1] << 8) | buf[p + 2]
        length = (buf[p + 3] << 8) | buf[p + 4]
        if length > MAX_RECORD_LENGTH:
            raise MalformedError(
                f"record length {length} exceeds MAX_RECORD_LENGTH "
                f"(2^14 + 2048 = {MAX_RECORD_LENGTH}, RFC 5246 §6.2.3)",
                offset=at + 3, field="length")
        end = p + TLS_HEADER_LENGTH + length
        if end > len(buf):
            return None
        self._count += 1
        return TLSPlaintext(b0, version, length, bytes(buf[p + TLS_HEADER_LENGTH:end]), at)

    def _parse_sslv2(self, buf: bytes | bytearray, p: int, b0: int, avail: int, at: int
                     ) -> SSLv2Record | None:
        if b0 & 0x80:
            if avail < 2:
                return None
            header, length, padding = 2, ((b0 & 0x7F) << 8) | buf[p + 1], 0
        else:
            if avail < 3:
                return None
            header, length = 3, ((b0 & 0x3F) << 8) | buf[p + 1]
            padding = buf[p + 2]
            if padding > length:
                raise MalformedError(f"SSL 2.0 padding {padding} longer than the record ({length})",
                                     offset=at + 2, field="padding")
        end = p + header + length
        if end > len(buf):
            return None
        self._count += 1
        self._v2count += 1
        return SSLv2Record(header, length, padding, bytes(buf[p + header:end]), at)

    def __iter__(self) -> RecordParser:
        return self

    def __next__(self) -> Record | RecordGap:
        rec = self.next_record()
        if rec is None:
            raise StopIteration
        return rec


# -- what records carry -----------------------------------------------------------------


@dataclass(slots=True)
class Handshake:
    """One complete handshake message (RFC 8446 §4: msg_type, length, body).

    ``stream_offset`` is where its 4-byte header starts and ``end_offset``
    the stream offset just past its own last byte; ``complete_at`` is the
    stream offset of the last byte of the record that completed it (the
    frame carrying it is the message's frame). ``records`` is how many
    records carried it.
    """

    msg_type: int
    length: int
    body: bytes
    stream_offset: int
    end_offset: int
    complete_at: int
    records: int = 1
    decrypted: bool = False  # it came in a record that was decrypted


@dataclass(slots=True)
class ChangeCipherSpec:
    """RFC 5246 §7.1 (``type`` is 1)."""

    type: int
    stream_offset: int
    complete_at: int


@dataclass(slots=True)
class Alert:
    """RFC 8446 §6 (level 1 = warning, 2 = fatal)."""

    level: int
    description: int
    stream_offset: int
    complete_at: int


@dataclass(slots=True)
class HeartbeatMessage:
    """RFC 6520 §4. ``payload`` holds the bytes present, at most ``payload_length``:
    a ``payload_length`` larger than what was sent is the Heartbleed pattern."""

    type: int
    payload_length: int
    payload: bytes
    padding: bytes
    stream_offset: int
    complete_at: int


@dataclass(slots=True)
class ApplicationData:
    """An application_data record (always encrypted unless the suite is NULL; in TLS 1.3 it
    may hold handshake messages or alerts too: the outer type hides the real one).
    ``data`` is the plaintext when the record was decrypted."""

    length: int
    stream_offset: int
    complete_at: int
    data: bytes | None = None


@dataclass(slots=True)
class EncryptedRecord:
    """A record of ``content_type`` that is encrypted (e.g. the TLS 1.2 Finished after CCS:
    tshark's "Encrypted Handshake Message")."""

    content_type: int
    length: int
    stream_offset: int
    complete_at: int


@dataclass(slots=True)
class SSLv2Message:
    """An SSL 2.0 record's message; ``msg_type`` is None when it is encrypted.

    Parse ``body`` (msg_type byte first) with :func:`handshaker.tls.messages.parse_sslv2`.
    """

    msg_type: int | None
    body: bytes
    length: int
    stream_offset: int
    complete_at: int


Item: TypeAlias = (Handshake | ChangeCipherSpec | Alert | HeartbeatMessage | ApplicationData
                   | EncryptedRecord | SSLv2Message | RecordGap)


def whole_handshake_records(data: bytes, offset: int) -> list[tuple[int, list[Handshake]]]:
    """The plaintext handshake records at the start of ``data`` (its first byte at stream
    offset ``offset``) that hold whole messages: (where the record ends in ``data``, its
    messages as :class:`HandshakeReassembler` gives them) each. Compiled
    (tls/_hello.c's handshake_records) where the package was built with its C helpers;
    :func:`read_handshake_records` is the Python twin."""
    if _compiled is None:
        return read_handshake_records(data, offset)
    return _compiled.handshake_records(data, offset, Handshake)


def read_handshake_records(data: bytes, offset: int) -> list[tuple[int, list[Handshake]]]:
    """:func:`whole_handshake_records` in Python.

    The lean twin of :class:`RecordParser` and :class:`HandshakeReassembler` together,
    for a reader at whose offset both are at rest (:meth:`RecordParser.at_rest`,
    :attr:`HandshakeReassembler.at_rest`), which says each record it uses with
    :meth:`RecordParser.took` (light mode, tls/observer.py). It stops at the first
    record that is not one: another content type, an empty or too long record, one that
    ``data`` does not hold whole, one that a message goes on from; the two layers read
    from there.
    """
    out: list[tuple[int, list[Handshake]]] = []
    n = len(data)
    pos = 0
    while n - pos >= TLS_HEADER_LENGTH and data[pos] == HANDSHAKE:
        length = (data[pos + 3] << 8) | data[pos + 4]
        end = pos + TLS_HEADER_LENGTH + length
        if not length or length > MAX_RECORD_LENGTH or end > n:
            break
        last = offset + end - 1
        messages = []
        q = pos + TLS_HEADER_LENGTH
        while end - q >= 4:
            size = (data[q + 1] << 16) | (data[q + 2] << 8) | data[q + 3]
            if q + 4 + size > end:
                return out  # a message that goes on in the next record: the layers join it
            messages.append(Handshake(data[q], size, data[q + 4:q + 4 + size], offset + q,
                                      offset + q + 4 + size, last))
            q += 4 + size
        if q != end:
            break  # (the same: fewer than 4 bytes of a header left)
        out.append((end, messages))
        pos = end
    return out


class HandshakeReassembler:
    """What the records of one direction carry (see the module docstring).

    Usage::

        hr = HandshakeReassembler()
        hr.feed(record)            # from RecordParser.next_record()
        while (item := hr.next_item()) is not None:
            ...                    # after a TLS 1.3 ServerHello: hr.set_version(0x0304)

    Records are looked at lazily, one at a time as items are asked for, so a
    :meth:`set_version` made after an item applies to the records after it.
    ``next_item`` raises :class:`MalformedError` where a record cannot carry
    what it says (a handshake length over :data:`MAX_HANDSHAKE_LENGTH`, a
    ChangeCipherSpec that is not the one byte 1, one that cuts a handshake
    message); the partial message is dropped and the next call goes on.
    """

    __slots__ = ("_encrypted", "_hs", "_hs_offsets", "_hs_records", "_items", "_queue",
                 "_sslv2_seen", "_version")

    def __init__(self, *, version: int | None = None) -> None:
        self._version = version
        self._encrypted = False
        self._queue: deque[Record | RecordGap] = deque()
        self._items: deque[Item | MalformedError] = deque()
        # handshake bytes not yet made into messages, and for each record fragment
        # in them: (index in _hs, stream offset of that byte)
        self._hs = bytearray()
        self._hs_offsets: list[tuple[int, int]] = []
        self._hs_records = 0
        self._sslv2_seen = 0

    @property
    def encrypted(self) -> bool:
        """True once this direction's records are encrypted (TLS ≤ 1.2 after CCS, SSL 2.0)."""
        return self._encrypted

    @property
    def version(self) -> int | None:
        return self._version

    def set_version(self, version: int) -> None:
        """The negotiated version (from the ServerHello); TLS 1.3 changes what is encrypted."""
        self._version = version

    def set_encrypted(self, encrypted: bool = True) -> None:
        """Force the encryption state (e.g. a capture that starts mid-connection)."""
        self._encrypted = encrypted

    @property
    def partial(self) -> int:
        """Bytes of a handshake message waiting for its next fragment."""
        return len(self._hs)

    @property
    def at_rest(self) -> bool:
        """Nothing queued, nothing partial, not encrypted: a plaintext handshake record
        holding whole messages gives just those messages (its caller may read them
        itself)."""
        return not (self._queue or self._items or self._hs or self._encrypted)

    def feed(self, record: Record | RecordGap) -> None:
        self._queue.append(record)

    def next_item(self) -> Item | None:
        """The next item, or None when the records fed so far are used up."""
        while not self._items:
            if not self._queue:
                return None
            self._process(self._queue.popleft())
        item = self._items.popleft()
        if isinstance(item, MalformedError):
            raise item
        return item

    def __iter__(self) -> HandshakeReassembler:
        return self

    def __next__(self) -> Item:
        item = self.next_item()
        if item is None:
            raise StopIteration
        return item

    # -- internals --------------------------------------------------------------

    def _drop_partial(self) -> None:
        self._hs.clear()
        self._hs_offsets.clear()
        self._hs_records = 0

    def _process(self, rec: Record | RecordGap) -> None:
        if isinstance(rec, RecordGap):
            self._drop_partial()
            self._items.append(rec)
            return
        if isinstance(rec, SSLv2Record):
            self._process_sslv2(rec)
            return
        last = rec.end_offset - 1
        ctype = rec.content_type
        tls13 = is_tls13(self._version)
        if ctype == APPLICATION_DATA:
            self._items.append(ApplicationData(rec.length, rec.stream_offset, last,
                                               rec.fragment if rec.decrypted else None))
        elif self._encrypted and not tls13 and not rec.decrypted:
            self._items.append(EncryptedRecord(ctype, rec.length, rec.stream_offset, last))
        elif ctype == HANDSHAKE:
            self._add_handshake(rec)
        elif ctype == CHANGE_CIPHER_SPEC:
            if self._hs:
                self._items.append(MalformedError(
                    "ChangeCipherSpec in the middle of a handshake message",
                    offset=rec.stream_offset, field="change_cipher_spec"))
                self._drop_partial()
            if rec.fragment != b"\x01":
                self._items.append(MalformedError(
                    f"ChangeCipherSpec of {rec.length} bytes {rec.fragment[:4].hex()} "
                    "(one byte, 1)", offset=rec.stream_offset + TLS_HEADER_LENGTH,
                    field="change_cipher_spec"))
                return
            if not tls13:  # RFC 8446 §D.4: in TLS 1.3 the CCS is a dummy
                self._encrypted = True
            self._items.append(ChangeCipherSpec(1, rec.stream_offset, last))
        elif ctype == ALERT:
            frag = rec.fragment
            # RFC 8446 §6: level 1 or 2; anything else was encrypted (a CCS we missed)
            if frag and len(frag) % 2 == 0 and all(frag[i] in (1, 2)
                                                    for i in range(0, len(frag), 2)):
                for i in range(0, len(frag), 2):
                    self._items.append(Alert(frag[i], frag[i + 1], rec.stream_offset, last))
            else:
                self._items.append(EncryptedRecord(ctype, rec.length, rec.stream_offset, last))
        elif ctype == HEARTBEAT:
            frag = rec.fragment
            if len(frag) < 3 or frag[0] not in (1, 2):
                self._items.append(EncryptedRecord(ctype, rec.length, rec.stream_offset, last))
                return
            n = int.from_bytes(frag[1:3], "big")
            payload = frag[3:3 + n]
            self._items.append(HeartbeatMessage(frag[0], n, payload, frag[3 + len(payload):],
                                                rec.stream_offset, last))

    def _stream_offset(self, index: int) -> int:
        """The stream offset of ``_hs[index]``."""
        off = self._hs_offsets[0][1]
        for idx, o in self._hs_offsets:
            if idx > index:
                break
            off = o + (index - idx)
        return off

    def _add_handshake(self, rec: TLSPlaintext) -> None:
        if not rec.fragment:
            return  # RFC 8446 §5.1 forbids empty handshake fragments; nothing to carry
        at = rec.stream_offset + TLS_HEADER_LENGTH
        self._hs_offsets.append((len(self._hs), at))
        buf: bytes | bytearray
        where: Callable[[int], int]  # the stream offset of buf[i]
        if self._hs:
            self._hs += rec.fragment
            buf = self._hs
            where = self._stream_offset
        else:
            buf = rec.fragment  # the usual case: messages read from the fragment, no copy
            where = at.__add__  # (and the stream offsets follow from the record's)
        self._hs_records += 1
        last = rec.end_offset - 1
        pos = 0
        size = len(buf)
        while size - pos >= 4:
            length = (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
            start = where(pos)
            if length > MAX_HANDSHAKE_LENGTH:
                self._items.append(MalformedError(
                    f"handshake message length {length} exceeds MAX_HANDSHAKE_LENGTH "
                    f"({MAX_HANDSHAKE_LENGTH})", offset=start + 1, field="length"))
                self._drop_partial()
                return
            if size - pos < 4 + length:
                break
            body = bytes(buf[pos + 4:pos + 4 + length])
            end = where(pos + 3 + length) + 1
            self._items.append(Handshake(buf[pos], length, body, start, end, last,
                                         self._hs_records, rec.decrypted))
            pos += 4 + length
            self._hs_records = 1  # what is left came in this record
        if pos == len(buf):
            self._drop_partial()
        elif pos or buf is not self._hs:
            # keep the bytes left and their fragment map (all in this record's fragment)
            left_at = self._stream_offset(pos)
            self._hs[:] = buf[pos:]
            self._hs_offsets = [(0, left_at)]
            self._hs_records = 1

    def _process_sslv2(self, rec: SSLv2Record) -> None:
        last = rec.end_offset - 1
        first = self._sslv2_seen == 0
        self._sslv2_seen += 1
        data = rec.data
        if not self._encrypted and rec.header_length == 2 and _sslv2_plaintext(data, first):
            self._items.append(SSLv2Message(data[0], data, rec.length, rec.stream_offset, last))
            # SSL 2.0: the server encrypts after SERVER-HELLO, the client after
            # CLIENT-MASTER-KEY; an SSLv2-compatible CLIENT-HELLO leads into TLS records
            if data[0] in (SSL2_SERVER_HELLO, SSL2_CLIENT_MASTER_KEY):
                self._encrypted = True
            return
        self._encrypted = True
        self._items.append(SSLv2Message(None, b"", rec.length, rec.stream_offset, last))


def _sslv2_plaintext(data: bytes, first: bool) -> bool:
    """Whether an SSL 2.0 record before encryption holds a plaintext message.

    The first record of a direction is a CLIENT-HELLO, SERVER-HELLO or ERROR;
    later ones a CLIENT-MASTER-KEY or ERROR whose lengths add up (anything
    else is the encrypted CLIENT-FINISHED of a resumed session).
    """
    if not data:
        return False
    msg_type = data[0]
    if msg_type == SSL2_ERROR:
        return len(data) == 3
    if first:
        return msg_type in (SSL2_CLIENT_HELLO, SSL2_SERVER_HELLO)
    if msg_type == SSL2_CLIENT_MASTER_KEY and len(data) >= 10:
        n = sum(int.from_bytes(data[i:i + 2], "big") for i in (4, 6, 8))
        return 10 + n == len(data)
    return False
