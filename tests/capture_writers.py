"""Small writers and converters for capture files, used by the capture tests.

Written from the format descriptions (draft-ietf-opsawg-pcap,
draft-ietf-opsawg-pcapng), independently of the reader under test.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D

SHB, IDB, PB, SPB, NRB, ISB, EPB, DSB = 0x0A0D0D0A, 1, 2, 3, 4, 5, 6, 0x0A
TLS_KEY_LOG = 0x544C534B


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) & 3)


# --------------------------------------------------------------------------- pcap


def pcap_file(
    records: list[tuple[int, int, bytes, int]],
    *,
    order: str = "<",
    nano: bool = False,
    linktype: int = 1,
    snaplen: int = 262144,
) -> bytes:
    """A classic pcap; records are (ts_sec, ts_frac, data, wirelen)."""
    magic = PCAP_MAGIC_NS if nano else PCAP_MAGIC_US
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for sec, frac, data, wirelen in records:
        out.append(struct.pack(order + "IIII", sec, frac, len(data), wirelen) + data)
    return b"".join(out)


PcapRecord = tuple[int, tuple[int, int, int, int]]  # offset, (sec, frac, incl, orig)


def pcap_records(data: bytes) -> tuple[str, bool, bytes, list[PcapRecord]]:
    """Split a classic pcap: (order, nano, header, [(offset, (sec, frac, incl, orig))])."""
    magic = data[:4]
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    recs = []
    off = 24
    while off + 16 <= len(data):
        hdr = struct.unpack_from(order + "IIII", data, off)
        recs.append((off, hdr))
        off += 16 + hdr[2]
    return order, nano, data[:24], recs


def pcap_convert(data: bytes, *, order: str | None = None, nano: bool | None = None) -> bytes:
    """Rewrite a classic pcap in another byte order and/or timestamp unit."""
    src_order, src_nano, header, recs = pcap_records(data)
    order = order or src_order
    nano = src_nano if nano is None else nano
    fields = struct.unpack(src_order + "IHHiIII", header)
    magic = PCAP_MAGIC_NS if nano else PCAP_MAGIC_US
    out = [struct.pack(order + "IHHiIII", magic, *fields[1:])]
    for off, (sec, frac, incl, orig) in recs:
        if nano and not src_nano:
            frac *= 1000
        elif src_nano and not nano:
            assert frac % 1000 == 0, "nanosecond timestamp not representable in microseconds"
            frac //= 1000
        out.append(struct.pack(order + "IIII", sec, frac, incl, orig))
        out.append(data[off + 16 : off + 16 + incl])
    return b"".join(out)


# --------------------------------------------------------------------------- pcapng


@dataclass
class PcapngWriter:
    """Builds a pcapng block by block; ``bytes(writer)`` gives the file."""

    order: str = "<"
    blocks: list[bytes] = field(default_factory=list)

    def _p(self, fmt: str, *values: int) -> bytes:
        return struct.pack(self.order + fmt, *values)

    def options(self, opts: list[tuple[int, bytes]]) -> bytes:
        if not opts:
            return b""
        body = b"".join(self._p("HH", code, len(v)) + _pad4(v) for code, v in opts)
        return body + self._p("HH", 0, 0)

    def block(self, btype: int, body: bytes, *, trailer: int | None = None) -> int:
        """Append a block; returns its offset in the file."""
        body = _pad4(body)
        blen = 12 + len(body)
        offset = sum(len(b) for b in self.blocks)
        self.blocks.append(
            self._p("II", btype, blen) + body + self._p("I", blen if trailer is None else trailer)
        )
        return offset

    def shb(self, comments: tuple[str, ...] = (), major: int = 1, minor: int = 0) -> int:
        opts = [(1, c.encode()) for c in comments]
        body = self._p("IHHq", 0x1A2B3C4D, major, minor, -1) + self.options(opts)
        return self.block(SHB, body)

    def idb(
        self,
        linktype: int,
        snaplen: int = 0,
        *,
        tsresol: int | None = None,
        tsoffset: int | None = None,
        name: str | None = None,
        comment: str | None = None,
        fcslen: int | None = None,
    ) -> int:
        opts: list[tuple[int, bytes]] = []
        if comment is not None:
            opts.append((1, comment.encode()))
        if name is not None:
            opts.append((2, name.encode()))
        if tsresol is not None:
            opts.append((9, bytes([tsresol])))
        if fcslen is not None:
            opts.append((13, bytes([fcslen])))
        if tsoffset is not None:
            opts.append((14, self._p("q", tsoffset)))
        return self.block(IDB, self._p("HHI", linktype, 0, snaplen) + self.options(opts))

    def epb(self, iface: int, ticks: int, data: bytes, wirelen: int | None = None,
            comment: str | None = None) -> int:
        wirelen = len(data) if wirelen is None else wirelen
        body = self._p("IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wirelen)
        body += _pad4(data)
        if comment is not None:
            body += self.options([(1, comment.encode())])
        return self.block(EPB, body)

    def pb(self, iface: int, ticks: int, data: bytes, wirelen: int | None = None) -> int:
        wirelen = len(data) if wirelen is None else wirelen
        body = self._p("HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wirelen)
        return self.block(PB, body + _pad4(data))

    def spb(self, data: bytes, wirelen: int | None = None) -> int:
        wirelen = len(data) if wirelen is None else wirelen
        return self.block(SPB, self._p("I", wirelen) + _pad4(data))

    def nrb(self, entries: list[tuple[bytes, list[str]]]) -> int:
        body = b""
        for addr, names in entries:
            value = addr + b"".join(n.encode() + b"\0" for n in names)
            body += self._p("HH", 1 if len(addr) == 4 else 2, len(value)) + _pad4(value)
        return self.block(NRB, body + self._p("HH", 0, 0))

    def dsb(self, data: bytes, secrets_type: int = TLS_KEY_LOG) -> int:
        return self.block(DSB, self._p("II", secrets_type, len(data)) + _pad4(data))

    def isb(self, iface: int, ticks: int) -> int:
        return self.block(ISB, self._p("III", iface, ticks >> 32, ticks & 0xFFFFFFFF))

    def raw(self, data: bytes) -> int:
        offset = sum(len(b) for b in self.blocks)
        self.blocks.append(data)
        return offset

    def __bytes__(self) -> bytes:
        return b"".join(self.blocks)


# Option values that are numbers, per block type, as struct formats (others are bytes).
_NUMERIC_OPTIONS: dict[int, dict[int, str]] = {
    IDB: {8: "Q", 10: "Q", 14: "q", 16: "I"},  # if_speed, if_txspeed, if_tsoffset, ...
    EPB: {2: "I", 4: "Q", 5: "Q", 6: "I"},  # epb_flags, dropcount, packetid, queue
    ISB: {2: "II", 3: "II", 4: "Q", 5: "Q", 6: "Q", 7: "Q", 8: "Q"},
}


def _swap_options(data: bytes, pos: int, stop: int, src: str, dst: str, btype: int) -> bytes:
    out = b""
    numeric = _NUMERIC_OPTIONS.get(btype, {})
    while pos + 4 <= stop:
        code, length = struct.unpack_from(src + "HH", data, pos)
        value = data[pos + 4 : pos + 4 + length]
        fmt = numeric.get(code)
        if fmt and struct.calcsize(fmt) == length:
            value = struct.pack(dst + fmt, *struct.unpack(src + fmt, value))
        elif code in (2988, 2989, 19372, 19373) and length >= 4:  # custom: PEN first
            value = struct.pack(dst + "I", *struct.unpack_from(src + "I", value)) + value[4:]
        out += struct.pack(dst + "HH", code, length) + _pad4(value)
        pos += 4 + length + (-length & 3)
        if code == 0:
            break
    return out


def pcapng_blocks(data: bytes) -> list[tuple[int, str, int, int]]:
    """(offset, byte order, type, length) of each block."""
    out = []
    off = 0
    order = "<"
    while off + 12 <= len(data):
        (btype,) = struct.unpack_from(order + "I", data, off)
        if btype == SHB:
            order = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        (blen,) = struct.unpack_from(order + "I", data, off + 4)
        out.append((off, order, btype, blen))
        off += blen
    return out


def pcapng_swap(data: bytes) -> bytes:
    """Rewrite every section of a pcapng in the other byte order."""
    out = []
    for off, src, btype, blen in pcapng_blocks(data):
        dst = ">" if src == "<" else "<"
        end = off + blen - 4
        u = lambda fmt, at, src=src: struct.unpack_from(src + fmt, data, at)  # noqa: E731
        p = lambda fmt, *v, dst=dst: struct.pack(dst + fmt, *v)  # noqa: E731
        if btype == SHB:
            body = p("IHHq", *u("IHHq", off + 8))
            body += _swap_options(data, off + 24, end, src, dst, btype)
        elif btype == IDB:
            body = p("HHI", *u("HHI", off + 8))
            body += _swap_options(data, off + 16, end, src, dst, btype)
        elif btype == EPB:
            iface, hi, lo, cap, orig = u("IIIII", off + 8)
            pkt = data[off + 28 : off + 28 + cap + (-cap & 3)]
            body = p("IIIII", iface, hi, lo, cap, orig) + pkt
            body += _swap_options(data, off + 28 + len(pkt), end, src, dst, btype)
        elif btype == PB:
            iface, drops, hi, lo, cap, orig = u("HHIIII", off + 8)
            pkt = data[off + 28 : off + 28 + cap + (-cap & 3)]
            body = p("HHIIII", iface, drops, hi, lo, cap, orig) + pkt
            body += _swap_options(data, off + 28 + len(pkt), end, src, dst, btype)
        elif btype == SPB:
            body = p("I", *u("I", off + 8)) + data[off + 12 : end]
        elif btype == ISB:
            body = p("III", *u("III", off + 8))
            body += _swap_options(data, off + 20, end, src, dst, btype)
        elif btype == DSB:
            stype, slen = u("II", off + 8)
            sec = data[off + 16 : off + 16 + slen + (-slen & 3)]
            body = p("II", stype, slen) + sec
            body += _swap_options(data, off + 16 + len(sec), end, src, dst, btype)
        elif btype == NRB:
            body = b""
            pos = off + 8
            while pos + 4 <= end:
                rtype, length = u("HH", pos)
                body += p("HH", rtype, length) + data[pos + 4 : pos + 4 + length + (-length & 3)]
                pos += 4 + length + (-length & 3)
                if rtype == 0:
                    break
            body += _swap_options(data, pos, end, src, dst, btype)
        else:
            body = data[off + 8 : end]
        out.append(p("II", btype, blen) + body + p("I", blen))
        assert len(out[-1]) == blen, (btype, blen, len(out[-1]))
    return b"".join(out)
