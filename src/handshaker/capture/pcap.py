"""Classic pcap (libpcap) files: the header and the record walk.

Format: draft-ietf-opsawg-pcap. A 24-byte file header, then records of a
16-byte header (ts_sec, ts_frac, incl_len, orig_len) followed by incl_len
bytes. The byte order and the timestamp unit come from the magic number.

The walk is the hot path: it reads only ``incl_len`` of each record to find
the next one and collects the record offsets; every other field is then
gathered for the whole chunk at once with numpy. The walk is done in C
(capture/_walk.c) where the package was built with it, else by the Python
loop below, which gives the same offsets (see :mod:`handshaker.compiled`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ..compiled import helper
from ..errors import CaptureError, Diagnostic
from .model import CaptureInfo, FrameBatch, Interface
from .source import ChunkBuffer

HEADER_LEN = 24
RECORD_HEADER_LEN = 16
MAX_RECORD = 256 << 20  # a caplen above this is not a packet but damage
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
        self._dtype = _dtype(order)
        self._caplen_at = struct.Struct(order + "8xI").unpack_from
        self._time_at = struct.Struct(order + "II").unpack_from
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
            buf, end, pos = ch.buf, ch.end, self.pos
            offs, pos = walk(buf, pos, end, self.order == ">")
            self.pos = pos
            if len(offs):
                yield from self._emit(buf, offs, size)
            del buf, offs
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
        last = None
        while True:
            buf, end = ch.buf, ch.end
            offs, stop = walk(buf, self.pos, end, self.order == ">")
            k = int(np.searchsorted(offs, offset - ch.base))  # the records before offset
            if k:
                self.next_number += k
                at = int(offs[k - 1])
                sec, frac = self._time_at(buf, at)
                last = sec * _NS_PER_S + frac * self.mult
            if k < len(offs):
                self.pos = int(offs[k])
                return last
            self.pos = stop
            del buf, offs
            if ch.base + stop >= offset or not self._read_on(report=False):
                return last

    def _emit(self, buf: bytearray, o: npt.NDArray[np.int64], size: int) -> Iterator[FrameBatch]:
        n = len(o)
        hdr = _gather(buf, o, self._dtype)
        ts = hdr["sec"].astype(np.int64) * _NS_PER_S + hdr["frac"].astype(np.int64) * self.mult
        caplen = hdr["incl"].astype(np.int32)
        wirelen = np.minimum(hdr["orig"], 0x7FFFFFFF).astype(np.int32)
        start = o + RECORD_HEADER_LEN
        file_offset = o + self.chunks.base
        linktype = np.full(n, self.linktype, dtype=np.int32)
        interface = np.zeros(n, dtype=np.int32)
        first = self.next_number
        self.next_number += n
        yield from FrameBatch.split(buf, first, size, start, caplen, wirelen, ts,
                                     linktype, interface, file_offset)


def walk(buf: bytearray, pos: int, end: int, big_endian: bool) -> tuple[npt.NDArray[np.int64],
                                                                         int]:
    """The offsets of the records that lie whole in ``buf[pos:end]``, and the offset
    where the walk stopped (the first record not whole there)."""
    if _walk is not None:
        raw, pos = _walk.walk(buf, pos, end, big_endian)
        return np.frombuffer(raw, dtype=np.int64), pos
    return walk_in_python(buf, pos, end, big_endian)


def walk_in_python(buf: bytearray, pos: int, end: int,
                   big_endian: bool) -> tuple[npt.NDArray[np.int64], int]:
    """:func:`walk` in Python (the hot loop: only incl_len is read)."""
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
