"""Classic pcap (libpcap) files: the header and the record walk.

Format: draft-ietf-opsawg-pcap. A 24-byte file header, then records of a
16-byte header (ts_sec, ts_frac, incl_len, orig_len) followed by incl_len
bytes. The byte order and the timestamp unit come from the magic number.

The walk is the hot path: it reads ``incl_len`` of each record to find the
next one. In C (capture/_walk.c, where the package was built with it) it
takes the other header fields on the way; the Python loop below, its twin
(see :mod:`handshaker.compiled`), collects only the record offsets and then
gathers the other fields for the whole chunk at once with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ..compiled import helper
from ..errors import CaptureError, Diagnostic
from .model import LINKTYPE_ETHERNET, CaptureInfo, FrameBatch, Interface
from .source import ChunkBuffer

HEADER_LEN = 24
RECORD_HEADER_LEN = 16
MAX_RECORD = 256 << 20  # a caplen above this is not a packet but damage
SKIP_PIECE = 256 << 10  # bytes read at a time when passing over records (skip_to)
_NS_PER_S = 1_000_000_000

# magic as it appears in the first 4 bytes -> (byte order, ticks per ns multiplier)
MAGICS: dict[bytes, tuple[str, int]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # 0xa1b2c3d4 little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # 0xa1b23c4d little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
# Kuznetzov's "modified pcap" (longer record headers): recognised to say so clearly.
MODIFIED_MAGICS = (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")

_walk: Any = helper("handshaker.capture._walk")


def _dtype(order: str) -> np.dtype[np.void]:
    u4 = order + "u4"
    return np.dtype([("sec", u4), ("frac", u4), ("incl", u4), ("orig", u4)])


class PcapReader:
    """Reads a classic pcap from a :class:`ChunkBuffer` positioned at the file start."""

    def __init__(
        self, chunks: ChunkBuffer, info: CaptureInfo, diagnostics: list[Diagnostic]
    ) -> None:
        self.chunks = chunks
        self.info = info
        self.diagnostics = diagnostics
        self.pos = chunks.ensure(0, HEADER_LEN)
        head = bytes(chunks.buf[self.pos : min(self.pos + HEADER_LEN, chunks.end)])
        if len(head) < HEADER_LEN:
            raise CaptureError(
                f"truncated pcap file header: {len(head)} of {HEADER_LEN} bytes",
                file=info.path,
                offset=0,
            )
        order, mult = MAGICS[head[:4]]
        _major, _minor, _zone, _sigfigs, snaplen, lt_field = struct.unpack(
            order + "HHiIII", head[4:]
        )
        # draft-ietf-opsawg-pcap §4: LinkType is the low 16 bits; the high bits
        # may carry the FCS length (F bit 28, length in 16-bit words in 29-31).
        linktype = lt_field & 0xFFFF
        fcs_len = ((lt_field >> 29) & 7) * 2 if lt_field & (1 << 28) else None
        self.order = order
        self.mult = mult
        self.linktype = linktype
        self.pos += HEADER_LEN
        self.next_number = 1
        self._caplen_at = struct.Struct(order + "8xI").unpack_from
        #: 4-tuple hashes: the batches mark the frames that may be of them (FrameBatch.keep)
        self.wanted: npt.NDArray[np.uint64] | None = None
        info.format = "pcap"
        info.interfaces.append(
            Interface(
                linktype=linktype,
                snaplen=snaplen,
                tsresol_ns=(mult, 1),
                section=0,
                fcs_len=fcs_len,
            )
        )

    def _diag(self, message: str, offset: int, severity: str = "error") -> None:
        self.diagnostics.append(
            Diagnostic(message, self.info.path, self.next_number, offset, severity)
        )

    def batches(self, size: int) -> Iterator[FrameBatch]:
        ch = self.chunks
        while True:
            buf, end = ch.buf, ch.end
            wanted = self.wanted if self.linktype == LINKTYPE_ETHERNET else None
            cols = records(buf, self.pos, end, self.order == ">", self.mult, wanted)
            self.pos = cols.pos
            if len(cols.offsets):
                yield from self._emit(buf, cols, size)
            del buf, cols
            if not self._read_on(report=True):
                return

    def _read_on(self, report: bool) -> bool:
        """The record at ``self.pos`` is not whole in the chunk: read more (False: the data
        ended, or the record is damage; with ``report``, said in a diagnostic)."""
        ch = self.chunks
        buf, end, pos = ch.buf, ch.end, self.pos
        left = end - pos
        if left >= RECORD_HEADER_LEN:
            caplen = self._caplen_at(buf, pos)[0]
            if caplen > MAX_RECORD:
                if report:
                    self._diag(
                        f"record claims {caplen} captured bytes (more than MAX_RECORD = "
                        f"{MAX_RECORD}): not a pcap record, reading stops here",
                        ch.base + pos,
                    )
                return False
            need = RECORD_HEADER_LEN + caplen
        else:
            need = RECORD_HEADER_LEN
        if ch.eof:
            if left and report:
                what = "record header" if left < RECORD_HEADER_LEN else "record"
                self._diag(
                    f"file ends inside a {what}: {left} of {need} bytes present",
                    ch.base + pos,
                )
            return False
        del buf
        self.pos = ch.refill(pos, need)
        return True

    def skip_to(self, offset: int) -> int | None:
        """Pass over the records that start before file offset ``offset`` without making
        batches of them (their frame numbers are counted), before :meth:`batches`; the
        time of the last one passed over, in ns (None: none was). Damage on the way stops
        the skipping: :meth:`batches` reads on from there and reports it."""
        ch = self.chunks
        last = self._skip_in_pieces(offset) if _walk is not None and ch.can_jump else None
        while True:  # (what is left: all of it without the compiled walk)
            buf, end = ch.buf, ch.end
            cols = records(buf, self.pos, end, self.order == ">", self.mult)
            offs = cols.offsets
            k = int(np.searchsorted(offs, offset - ch.base))  # the records before offset
            if k:
                self.next_number += k
                last = int(cols.ts_ns[k - 1])
            if k < len(offs):
                self.pos = int(offs[k])
                return last
            self.pos = cols.pos
            del buf, cols, offs
            if ch.base + self.pos >= offset or not self._read_on(report=False):
                return last

    def _skip_in_pieces(self, offset: int) -> int | None:
        """Most of :meth:`skip_to`, in C, the file read in pieces of SKIP_PIECE bytes
        rather than in chunks: each piece is walked while it is in the cache (on the 1M-
        packet benchmark capture, 350 MB passed over in 52 ms rather than 85). It stops
        before a record longer than a piece, and at damage: skip_to goes on from there."""
        ch = self.chunks
        at = ch.base + self.pos
        piece = bytearray(SKIP_PIECE)
        last = None
        while at < offset:
            n = ch.read_at(piece, at)
            count, pos, ts = _walk.skip(piece, 0, n, self.order == ">", self.mult,
                                        offset - at, MAX_RECORD)
            if not count:
                break
            self.next_number += count
            last = ts
            at += pos
        ch.jump(at)
        self.pos = 0
        return last

    def _emit(self, buf: bytearray, cols: Records, size: int) -> Iterator[FrameBatch]:
        o = cols.offsets
        n = len(o)
        first = self.next_number
        self.next_number += n
        yield from FrameBatch.split(buf, first, size, o + RECORD_HEADER_LEN, cols.caplen,
                                     cols.wirelen, cols.ts_ns,
                                     np.full(n, self.linktype, dtype=np.int32),
                                     np.zeros(n, dtype=np.int32), o + self.chunks.base,
                                     cols.keep)


class Records(NamedTuple):
    """The records that lie whole in a stretch of a buffer, as columns (:func:`records`)."""

    offsets: npt.NDArray[np.int64]  # where each record begins (its 16-byte header)
    ts_ns: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int32]
    wirelen: npt.NDArray[np.int32]  # (at most 2**31 - 1)
    keep: npt.NDArray[np.bool_] | None  # see records
    pos: int  # where the walk stopped: the first record not whole in the stretch


def records(buf: bytearray, pos: int, end: int, big_endian: bool, mult: int,
            wanted: npt.NDArray[np.uint64] | None = None) -> Records:
    """The records that lie whole in ``buf[pos:end]`` (``mult``: ns per tick of the
    timestamps' fraction). With
    ``wanted`` (4-tuple hashes, as analysis.tuple_hash gives them; an Ethernet capture),
    ``keep`` is true for the frames that may be of those 4-tuples (the others are surely
    not); else None, as always without the compiled helper, which tells that as it
    walks."""
    if _walk is not None:
        raw = _walk.records(buf, pos, end, big_endian, mult,
                            *(() if wanted is None else (wanted,)))
        return Records(np.frombuffer(raw[0], dtype=np.int64), np.frombuffer(raw[1], np.int64),
                       np.frombuffer(raw[2], np.int32), np.frombuffer(raw[3], np.int32),
                       None if raw[4] is None else np.frombuffer(raw[4], dtype=np.bool_), raw[5])
    return records_in_python(buf, pos, end, big_endian, mult)


def records_in_python(buf: bytearray, pos: int, end: int, big_endian: bool,
                      mult: int) -> Records:
    """:func:`records` in Python and numpy (keep: None)."""
    offs, pos = walk_in_python(buf, pos, end, big_endian)
    dtype = _dtype(">" if big_endian else "<")
    hdr = _gather(buf, offs, dtype) if len(offs) else np.zeros(0, dtype)
    ts = hdr["sec"].astype(np.int64) * _NS_PER_S + hdr["frac"].astype(np.int64) * mult
    return Records(offs, ts, hdr["incl"].astype(np.int32),
                   np.minimum(hdr["orig"], 0x7FFFFFFF).astype(np.int32), None, pos)


def walk_in_python(buf: bytearray, pos: int, end: int,
                   big_endian: bool) -> tuple[npt.NDArray[np.int64], int]:
    """The offsets of the records that lie whole in ``buf[pos:end]``, and the offset
    where the walk stopped (the hot loop: only incl_len is read)."""
    caplen_at = (_CAPLEN_BE if big_endian else _CAPLEN_LE).unpack_from
    offs: list[int] = []
    app = offs.append
    lim = end - RECORD_HEADER_LEN
    while pos <= lim:
        nxt = pos + RECORD_HEADER_LEN + caplen_at(buf, pos)[0]
        if nxt > end:
            break
        app(pos)
        pos = nxt
    return np.array(offs, dtype=np.int64), pos


_CAPLEN_LE = struct.Struct("<8xI")
_CAPLEN_BE = struct.Struct(">8xI")


def _gather(buf: bytearray, offsets: npt.NDArray[np.int64], dtype: np.dtype[np.void]) -> np.ndarray:
    """The fixed-size headers at ``offsets`` as one structured array (a copy)."""
    windows = np.ndarray(
        shape=(len(buf) - dtype.itemsize + 1,), dtype=dtype, buffer=buf, strides=(1,)
    )
    return windows[offsets]
