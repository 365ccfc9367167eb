"""pcapng files: sections, interfaces, packet blocks, secrets and names.

Format: draft-ietf-opsawg-pcapng (the "PCAP Next Generation Dump File
Format"). A file is a sequence of blocks ``type(4) length(4) body length(4)``;
a Section Header Block (SHB) starts each section and fixes its byte order, and
the Interface Description Blocks (IDBs) of a section are numbered from 0.

Theory of operation
-------------------
The walk over a chunk is a tight loop (:func:`packet_blocks`: in C where the
package was built with it, else in Python) that recognises the common case, an
Enhanced Packet Block (EPB) or Simple Packet Block (SPB) that is complete in
the chunk and names an existing interface, and only records its offset
("pending"). Anything else drops to the slow path, which checks the block
fully. Before the slow path does anything with side effects or reports a
problem it *flushes* the pending offsets: their fields are gathered with
numpy, the checks the fast loop skipped (length a multiple of 4, trailing
length equal to the leading one, captured length within the block) are made
on the whole column, and batches are yielded. So a pending segment always
shares one byte order and one interface table, and a diagnostic is always
reported at the first bad block in file order.

Frames are numbered when they are flushed; a packet block that is skipped
(warning) does not take a number, and its diagnostic names the number it
would have had.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ..compiled import helper
from ..errors import CaptureError, Diagnostic
from .model import CaptureInfo, DecryptionSecrets, FrameBatch, Interface
from .source import ChunkBuffer

# Block types (draft-ietf-opsawg-pcapng §11.1)
SHB = 0x0A0D0D0A
IDB = 0x00000001
PB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
NRB = 0x00000004
ISB = 0x00000005
EPB = 0x00000006
DSB = 0x0000000A
PACKET_BLOCKS = (EPB, SPB, PB)
# Blocks that are not packets but that tshark 4.0 shows as frames of their own:
# custom blocks (copyable and not), systemd journal export entries and the
# Sysdig event blocks it decodes. They are skipped, but each takes a frame
# number so that our numbers stay tshark's frame.number.
NUMBERED_RECORDS = frozenset({0x00000BAD, 0x40000BAD, 0x00000009, 0x204, 0x216, 0x221})
BLOCK_NAMES = {
    SHB: "section header block",
    IDB: "interface description block",
    PB: "packet block",
    SPB: "simple packet block",
    NRB: "name resolution block",
    ISB: "interface statistics block",
    EPB: "enhanced packet block",
    DSB: "decryption secrets block",
}

BOM_LE = b"\x4d\x3c\x2b\x1a"  # 0x1a2b3c4d written little-endian
BOM_BE = b"\x1a\x2b\x3c\x4d"
MAX_BLOCK = 256 << 20  # a block longer than this is damage, not data
SHB_MIN = 28  # header 8 + BOM 4 + version 4 + section length 8 + trailer 4
IDB_MIN = 20
EPB_MIN = 32
SPB_MIN = 16
DSB_MIN = 20

# option codes
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
IF_NAME = 2
IF_DESCRIPTION = 3
IF_TSRESOL = 9
IF_FILTER = 11
IF_FCSLEN = 13
IF_TSOFFSET = 14

NRB_END = 0
NRB_IPV4 = 1
NRB_IPV6 = 2

_NS_PER_S = 1_000_000_000
_I64 = 1 << 63

_walk: Any = helper("handshaker.capture._walk")
#: a block's first three words (type, length, and an EPB's interface), by byte order
_U3 = {order: struct.Struct(order + "III").unpack_from for order in "<>"}


def block_name(t: int) -> str:
    return BLOCK_NAMES.get(t, f"block of type 0x{t:08x}")


def _a(name: str) -> str:
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def tsresol_to_ns(code: int) -> tuple[int, int]:
    """if_tsresol (§4.2) -> (num, den) with ns = ticks * num // den, reduced."""
    tps = 1 << (code & 0x7F) if code & 0x80 else 10 ** (code & 0x7F)
    g = math.gcd(_NS_PER_S, tps)
    return _NS_PER_S // g, tps // g


def ticks_to_ns(ticks: npt.NDArray[np.uint64], num: int, den: int) -> npt.NDArray[np.int64]:
    """floor(ticks * num / den) as int64, without overflowing for any sane time."""
    if den == 1 and num < _I64:
        return (ticks * np.uint64(num)).astype(np.int64)
    if num * den < _I64:
        q = ticks // np.uint64(den)
        r = ticks % np.uint64(den)
        return (q * np.uint64(num) + r * np.uint64(num) // np.uint64(den)).astype(np.int64)
    # Exotic resolutions: exact Python integers, wrapped like the fast path.
    out = [((t * num // den + _I64) % (1 << 64)) - _I64 for t in ticks.tolist()]
    return np.array(out, dtype=np.int64)


def _dtype(order: str) -> np.dtype[np.void]:
    u4 = order + "u4"
    return np.dtype(
        [
            ("type", u4),
            ("blen", u4),
            ("ifc", u4),  # EPB interface id / PB interface id + drops / SPB original length
            ("tshi", u4),
            ("tslo", u4),
            ("cap", u4),
            ("orig", u4),
        ]
    )


def _text(value: bytes) -> str:
    return value.rstrip(b"\0").decode("utf-8", errors="replace")


class _Section:
    """The per-section state a pending segment is decoded with."""

    def __init__(self, index: int, order: str) -> None:
        self.index = index
        self.order = order
        self.global_ids: list[int] = []
        self.linktypes: list[int] = []
        self.conv: list[tuple[int, int, int]] = []  # (num, den, offset_ns) per interface
        self.snaplens: list[int] = []
        self.u3 = _U3[order]
        self.u2h = struct.Struct(order + "HH").unpack_from
        self.u1 = struct.Struct(order + "I").unpack_from
        self.dtype = _dtype(order)
        self.trailer_dtype = np.dtype(order + "u4")


class PcapngReader:
    """Reads a pcapng from a :class:`ChunkBuffer` positioned at the file start."""

    def __init__(
        self, chunks: ChunkBuffer, info: CaptureInfo, diagnostics: list[Diagnostic]
    ) -> None:
        self.chunks = chunks
        self.info = info
        self.diagnostics = diagnostics
        self.next_number = 1
        self.stopped = False
        info.format = "pcapng"
        pos = chunks.ensure(0, 12)
        buf = chunks.buf
        if chunks.end - pos < 12:
            raise CaptureError(
                f"truncated pcapng section header: {chunks.end - pos} bytes",
                file=info.path,
                offset=0,
            )
        order = _bom_order(buf, pos)
        if order is None:
            raise CaptureError(
                "pcapng section header has an unknown byte-order magic "
                f"{bytes(buf[pos + 8 : pos + 12]).hex(' ')}",
                file=info.path,
                offset=8,
            )
        self.sec = _Section(-1, order)
        (blen,) = struct.unpack_from(order + "I", buf, pos + 4)
        problem = _length_problem(blen, SHB_MIN)
        if problem:
            raise CaptureError(f"section header block: {problem}", file=info.path, offset=4)
        pos = chunks.ensure(pos, blen)
        buf = chunks.buf
        if chunks.end - pos < blen:
            raise CaptureError(
                f"truncated pcapng section header: {chunks.end - pos} of {blen} bytes",
                file=info.path,
                offset=0,
            )
        (trailer,) = struct.unpack_from(order + "I", buf, pos + blen - 4)
        if trailer != blen:
            raise CaptureError(
                f"section header block length mismatch: leading {blen}, trailing {trailer}",
                file=info.path,
                offset=blen - 4,
            )
        problem = self._meta(buf, pos, SHB, blen, order)
        if problem:
            raise CaptureError(problem, file=info.path, offset=0)
        self.pos = pos + blen
        self._prelude()

    # ------------------------------------------------------------------ helpers

    def _diag(self, message: str, offset: int, severity: str = "error", frame: int | None = None
              ) -> None:
        number = self.next_number if frame is None else frame
        self.diagnostics.append(Diagnostic(message, self.info.path, number, offset, severity))

    def _header(self, buf: bytearray, off: int) -> tuple[int, int, str | None]:
        """Block type, length and the byte order it is written in (None: bad SHB magic)."""
        t, blen, _ = self.sec.u3(buf, off)
        if t != SHB:
            return t, blen, self.sec.order
        order = _bom_order(buf, off)
        if order is None:
            return t, blen, None
        (blen,) = struct.unpack_from(order + "I", buf, off + 4)
        return t, blen, order

    def _prelude(self) -> None:
        """Read the blocks before the first packet (interfaces, names) at open time."""
        ch = self.chunks
        while True:
            pos = self.pos = ch.ensure(self.pos, 12)
            if ch.end - pos < 12:
                return
            t, blen, order = self._header(ch.buf, pos)
            if order is None or t in PACKET_BLOCKS or _length_problem(blen, 12):
                return
            pos = self.pos = ch.ensure(pos, blen)
            buf = ch.buf
            if ch.end - pos < blen:
                return
            if struct.unpack_from(order + "I", buf, pos + blen - 4)[0] != blen:
                return
            if self._meta(buf, pos, t, blen, order):
                return
            self.pos = pos + blen

    # ------------------------------------------------------------------ the walk

    def batches(self, size: int) -> Iterator[FrameBatch]:
        ch = self.chunks
        pending: list[npt.NDArray[np.int64]] = []  # runs of packet block offsets
        while not self.stopped:
            buf, end, off = ch.buf, ch.end, self.pos
            sec = self.sec
            # Fast loop: complete EPBs/SPBs naming an existing interface.
            run, off = packet_blocks(buf, off, end, sec.order, len(sec.global_ids))
            if len(run):
                pending.append(run)
            self.pos = off

            # Slow path: the block at off.
            left = end - off
            if left < 12:
                yield from self._flush(buf, pending, size)
                pending = []
                if self.stopped:
                    return
                if ch.eof:
                    if left:
                        self._diag(
                            f"file ends inside a block header: {left} of 12 bytes present",
                            ch.base + off,
                        )
                    return
                del buf
                self.pos = ch.refill(off, 12)
                continue
            t, blen, order = self._header(buf, off)
            if order is None:
                problem: str | None = (
                    "section header block with an unknown byte-order magic "
                    f"{bytes(buf[off + 8 : off + 12]).hex(' ')}"
                )
            else:
                problem = _length_problem(blen, 12)
                if problem:
                    problem = f"{block_name(t)}: {problem}"
            if problem or off + blen > end:
                yield from self._flush(buf, pending, size)
                pending = []
                if self.stopped:
                    return
                if problem:
                    self._diag(f"{problem}; reading stops here", ch.base + off)
                    return
                if ch.eof:
                    self._diag(
                        f"file ends inside {_a(block_name(t))}: {left} of {blen} bytes present",
                        ch.base + off,
                    )
                    return
                del buf
                self.pos = ch.refill(off, blen)
                continue
            assert order is not None
            (trailer,) = struct.unpack_from(order + "I", buf, off + blen - 4)
            skip: str | None = None
            if trailer == blen and t in PACKET_BLOCKS:
                skip = self._packet_problem(buf, off, t, blen)
                if skip is None:
                    pending.append(np.array([off], dtype=np.int64))
                    self.pos = off + blen
                    continue
            yield from self._flush(buf, pending, size)
            pending = []
            if self.stopped:
                return
            if trailer != blen:
                self._diag(
                    f"{block_name(t)} length mismatch: leading {blen}, trailing {trailer}; "
                    "reading stops here",
                    ch.base + off,
                )
                return
            if t in PACKET_BLOCKS:
                self._diag(f"{skip}; block skipped", ch.base + off, "warning")
            else:
                problem = self._meta(buf, off, t, blen, order)
                if problem:
                    self._diag(f"{problem}; reading stops here", ch.base + off)
                    return
            self.pos = off + blen

    def _packet_problem(self, buf: bytearray, off: int, t: int, blen: int) -> str | None:
        """Why a complete packet block cannot be used (None: it can)."""
        sec = self.sec
        nif = len(sec.global_ids)
        name = block_name(t)
        if t == SPB:
            if blen < SPB_MIN:
                return f"{name} of {blen} bytes is too short"
            if not nif:
                return f"{name} before any interface description block in its section"
            return None
        if blen < EPB_MIN:
            return f"{name} of {blen} bytes is too short"
        _, _, ifc = sec.u3(buf, off)
        if t == PB:
            ifc = sec.u2h(buf, off + 8)[0]
        if ifc >= nif:
            return f"{name} names interface {ifc}, but its section has {nif}"
        cap = sec.u1(buf, off + 20)[0]
        if cap > blen - EPB_MIN:
            return f"{name} captured length {cap} exceeds the block ({blen} bytes)"
        return None

    def _flush(self, buf: bytearray, pending: list[npt.NDArray[np.int64]],
               size: int) -> Iterator[FrameBatch]:
        """Check and decode the pending packet blocks of ``buf``; yield them as batches."""
        if not pending:
            return
        sec = self.sec
        base = self.chunks.base
        o = pending[0] if len(pending) == 1 else np.concatenate(pending)
        rec = _gather(buf, o, sec.dtype)
        blen = rec["blen"].astype(np.int64)
        trailer = _gather(buf, o + blen - 4, sec.trailer_dtype)
        broken = ((blen & 3) != 0) | (trailer != blen)
        cut: int | None = None
        if broken.any():
            cut = int(np.argmax(broken))
            cut_blen, cut_trailer = int(blen[cut]), int(trailer[cut])
            cut_type = int(rec["type"][cut])
            cut_off = int(o[cut])
            o, rec, blen = o[:cut], rec[:cut], blen[:cut]
        btype = rec["type"]
        spb = btype == SPB
        raw_if = rec["ifc"]
        if (btype == PB).any():
            pb_if = raw_if & 0xFFFF if sec.order == "<" else raw_if >> 16
            local = np.where(btype == PB, pb_if, raw_if)
        else:
            local = raw_if
        local = np.where(spb, 0, local).astype(np.int64)
        cap_field = rec["cap"].astype(np.int64)
        orig = np.where(spb, raw_if, rec["orig"]).astype(np.int64)
        room = np.where(spb, blen - 16, blen - EPB_MIN)
        if spb.any():
            snap0 = sec.snaplens[0] or MAX_BLOCK
            cap = np.where(spb, np.minimum(np.minimum(room, orig), snap0), cap_field)
        else:
            cap = cap_field
        bad = ~spb & (cap_field > room)
        if bad.any():
            bad_idx = np.flatnonzero(bad)
            for k, i in enumerate(bad_idx.tolist()):
                self._diag(
                    f"{block_name(int(btype[i]))} captured length {int(cap_field[i])} exceeds "
                    f"the block ({int(blen[i])} bytes); block skipped",
                    base + int(o[i]),
                    "warning",
                    frame=self.next_number + i - k,
                )
            keep = ~bad
            o, rec, local = o[keep], rec[keep], local[keep]
            cap, orig, spb = cap[keep], orig[keep], spb[keep]
        n = len(o)
        if n:
            ticks = (rec["tshi"].astype(np.uint64) << np.uint64(32)) | rec["tslo"].astype(np.uint64)
            lo, hi = int(local.min()), int(local.max())
            if lo == hi:
                num, den, off_ns = sec.conv[lo]
                ts = ticks_to_ns(ticks, num, den) + off_ns
            else:
                ts = np.empty(n, dtype=np.int64)
                # (the interfaces present; np.unique would import numpy.ma, 20 ms)
                for li in np.flatnonzero(np.bincount(local)).tolist():
                    m = local == li
                    num, den, off_ns = sec.conv[li]
                    ts[m] = ticks_to_ns(ticks[m], num, den) + off_ns
            if spb.any():
                ts[spb] = 0  # an SPB carries no timestamp
            start = o + np.where(spb, 12, 28)
            interface = np.asarray(sec.global_ids, dtype=np.int32)[local]
            linktype = np.asarray(sec.linktypes, dtype=np.int32)[local]
            caplen = cap.astype(np.int32)
            wirelen = np.minimum(orig, 0x7FFFFFFF).astype(np.int32)
            file_offset = o + base
            first = self.next_number
            self.next_number += n
            yield from FrameBatch.split(buf, first, size, start, caplen, wirelen, ts,
                                         linktype, interface, file_offset)
        if cut is not None:
            self.stopped = True
            if cut_blen & 3:
                why = f"block length {cut_blen} is not a multiple of 4"
            else:
                why = f"length mismatch: leading {cut_blen}, trailing {cut_trailer}"
            self._diag(
                f"{block_name(cut_type)} {why}; reading stops here", base + cut_off
            )

    # ------------------------------------------------------------------ other blocks

    def _meta(self, buf: bytearray, off: int, t: int, blen: int, order: str) -> str | None:
        """Handle a complete non-packet block; return why reading must stop, if it must.

        Nothing is changed when a reason is returned.
        """
        body = off + 8
        stop = off + blen - 4
        if t == SHB:
            if blen < SHB_MIN:
                return f"section header block of {blen} bytes is too short"
            major, minor = struct.unpack_from(order + "HH", buf, body + 4)
            if major != 1:
                return f"unsupported pcapng version {major}.{minor}"
            self.sec = _Section(self.sec.index + 1, order)
            for code, value in self._options(buf, body + 16, stop, order):
                if code == OPT_COMMENT:
                    self.info.comments.append(_text(value))
        elif t == IDB:
            if blen < IDB_MIN:
                return f"interface description block of {blen} bytes is too short"
            self._idb(buf, off, blen, order)
        elif t == NRB:
            self._nrb(buf, off, blen, order)
        elif t == DSB:
            self._dsb(buf, off, blen, order)
        elif t in NUMBERED_RECORDS:
            self.next_number += 1
        # ISB and unknown blocks carry nothing the reader keeps.
        return None

    def _options(
        self, buf: bytearray, pos: int, stop: int, order: str
    ) -> list[tuple[int, bytes]]:
        """The options of a block (§3.5); a malformed list gives a warning and what came before."""
        out: list[tuple[int, bytes]] = []
        u2h = struct.Struct(order + "HH").unpack_from
        while pos + 4 <= stop:
            code, length = u2h(buf, pos)
            if code == OPT_ENDOFOPT:
                break
            value_end = pos + 4 + length
            if value_end > stop:
                self._diag(
                    f"option {code} of length {length} runs past its block; "
                    "rest of the options ignored",
                    self.chunks.base + pos,
                    "warning",
                )
                break
            out.append((code, bytes(buf[pos + 4 : value_end])))
            pos = value_end + (-length & 3)
        return out

    def _idb(self, buf: bytearray, off: int, blen: int, order: str) -> None:
        linktype, _reserved = struct.unpack_from(order + "HH", buf, off + 8)
        (snaplen,) = struct.unpack_from(order + "I", buf, off + 12)
        name = description = filt = None
        tsresol = 6
        tsoffset = 0
        fcs_len: int | None = None
        for code, value in self._options(buf, off + 16, off + blen - 4, order):
            if code == OPT_COMMENT:
                self.info.comments.append(_text(value))
            elif code == IF_NAME:
                name = _text(value)
            elif code == IF_DESCRIPTION:
                description = _text(value)
            elif code == IF_FILTER and value:
                filt = _text(value[1:])  # first byte: filter type (0 = libpcap string)
            elif code == IF_TSRESOL and len(value) >= 1:
                tsresol = value[0]
            elif code == IF_TSOFFSET and len(value) >= 8:
                (tsoffset,) = struct.unpack_from(order + "q", value)
            elif code == IF_FCSLEN and len(value) >= 1:
                fcs_len = value[0]
        num, den = tsresol_to_ns(tsresol)
        sec = self.sec
        iface = Interface(
            linktype=linktype,
            snaplen=snaplen,
            name=name,
            description=description,
            filter=filt,
            tsresol_ns=(num, den),
            tsoffset_s=tsoffset,
            section=max(sec.index, 0),
            fcs_len=fcs_len,
        )
        sec.global_ids.append(len(self.info.interfaces))
        sec.linktypes.append(linktype)
        sec.conv.append((num, den, tsoffset * _NS_PER_S))
        sec.snaplens.append(snaplen)
        self.info.interfaces.append(iface)

    def _nrb(self, buf: bytearray, off: int, blen: int, order: str) -> None:
        pos = off + 8
        stop = off + blen - 4
        u2h = struct.Struct(order + "HH").unpack_from
        while pos + 4 <= stop:
            rtype, length = u2h(buf, pos)
            if rtype == NRB_END:
                break
            value_end = pos + 4 + length
            if value_end > stop:
                self._diag(
                    f"name resolution record of length {length} runs past its block; "
                    "rest of the block ignored",
                    self.chunks.base + pos,
                    "warning",
                )
                return
            value = bytes(buf[pos + 4 : value_end])
            alen = 4 if rtype == NRB_IPV4 else 16 if rtype == NRB_IPV6 else 0
            if alen and len(value) > alen:
                names = [n for n in value[alen:].split(b"\0") if n]
                if names:
                    self.info.names[value[:alen]] = _text(names[0])
            pos = value_end + (-length & 3)

    def _dsb(self, buf: bytearray, off: int, blen: int, order: str) -> None:
        if blen < DSB_MIN:
            self._diag(
                f"decryption secrets block of {blen} bytes is too short; block skipped",
                self.chunks.base + off,
                "warning",
            )
            return
        stype, slen = struct.unpack_from(order + "II", buf, off + 8)
        if slen > blen - DSB_MIN:
            self._diag(
                f"decryption secrets length {slen} exceeds the block ({blen} bytes); "
                "block skipped",
                self.chunks.base + off,
                "warning",
            )
            return
        data = bytes(buf[off + 16 : off + 16 + slen])
        self.info.secrets.append(DecryptionSecrets(stype, data, self.next_number - 1))


def packet_blocks(buf: bytearray, off: int, end: int, order: str,
                  interfaces: int) -> tuple[npt.NDArray[np.int64], int]:
    """The offsets of the packet blocks the reader takes in bulk that lie whole in
    ``buf[off:end]`` one after another (EPBs naming one of the section's ``interfaces``;
    SPBs, where it has any), and the offset of the first other block: in C where the
    package was built with it (capture/_walk.c), else in Python (its twin)."""
    if _walk is not None:
        raw, off = _walk.blocks(buf, off, end, order == ">", interfaces)
        return np.frombuffer(raw, dtype=np.int64), off
    return packet_blocks_in_python(buf, off, end, order, interfaces)


def packet_blocks_in_python(buf: bytearray, off: int, end: int, order: str,
                            interfaces: int) -> tuple[npt.NDArray[np.int64], int]:
    """:func:`packet_blocks` in Python: a block's type, length and third word (an EPB's
    interface) are all it reads."""
    u3 = _U3[order]
    offs: list[int] = []
    app = offs.append
    lim = end - 12
    while off <= lim:
        t, blen, ifc = u3(buf, off)
        nxt = off + blen
        if t == EPB:
            if ifc < interfaces and off + EPB_MIN <= nxt <= end:
                app(off)
                off = nxt
                continue
        elif t == SPB and interfaces and off + SPB_MIN <= nxt <= end:
            app(off)
            off = nxt
            continue
        break
    return np.array(offs, dtype=np.int64), off



def _bom_order(buf: bytearray, off: int) -> str | None:
    bom = bytes(buf[off + 8 : off + 12])
    if bom == BOM_LE:
        return "<"
    if bom == BOM_BE:
        return ">"
    return None


def _length_problem(blen: int, minimum: int) -> str | None:
    if blen < minimum:
        return f"block length {blen} is less than {minimum}"
    if blen & 3:
        return f"block length {blen} is not a multiple of 4"
    if blen > MAX_BLOCK:
        return f"block length {blen} is larger than MAX_BLOCK = {MAX_BLOCK}"
    return None


def _gather(buf: bytearray, offsets: npt.NDArray[np.int64], dtype: np.dtype) -> np.ndarray:
    """The fixed-size items at ``offsets`` of ``buf`` as one array (a copy)."""
    windows = np.ndarray(
        shape=(len(buf) - dtype.itemsize + 1,), dtype=dtype, buffer=buf, strides=(1,)
    )
    return windows[offsets]
