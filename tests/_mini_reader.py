"""A tiny pcap/pcapng reader for the dissector tests, until capture/ lands.

Only what the tests need: every packet record in file order as a
:class:`Frame` (number, ts_ns, linktype, data, wirelen). Timestamps are
approximate for pcapng interfaces with unusual resolutions; nothing here
is part of the package.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

from handshaker.capture.model import Frame

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1),
}


def read_frames(path: Path | str) -> Iterator[Frame]:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] in _PCAP_MAGICS:
        yield from _pcap(raw)
    elif raw[:4] == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng(raw)
    else:
        raise ValueError(f"{path}: not a pcap or pcapng file")


def _pcap(raw: bytes) -> Iterator[Frame]:
    bo, ns_per_tick = _PCAP_MAGICS[raw[:4]]
    linktype = struct.unpack_from(bo + "I", raw, 20)[0] & 0x0FFFFFFF
    pos, number = 24, 0
    while pos + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack_from(bo + "IIII", raw, pos)
        number += 1
        yield Frame(number, sec * 10**9 + frac * ns_per_tick, linktype,
                    raw[pos + 16 : pos + 16 + incl], orig, file_offset=pos)
        pos += 16 + incl


def _pcapng(raw: bytes) -> Iterator[Frame]:
    pos, number, bo = 0, 0, "<"
    links: list[int] = []
    while pos + 12 <= len(raw):
        btype = struct.unpack_from(bo + "I", raw, pos)[0]
        if btype == 0x0A0D0D0A:  # Section Header Block: byte order from its magic
            bo = "<" if raw[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack_from(bo + "I", raw, pos + 4)[0]
        if btype == 1:  # Interface Description Block
            links.append(struct.unpack_from(bo + "H", raw, pos + 8)[0])
        elif btype == 6:  # Enhanced Packet Block (timestamps assumed in µs)
            iface, hi, lo, incl, orig = struct.unpack_from(bo + "IIIII", raw, pos + 8)
            number += 1
            yield Frame(number, ((hi << 32) | lo) * 1000, links[iface],
                        raw[pos + 28 : pos + 28 + incl], orig, iface, pos)
        elif btype == 3:  # Simple Packet Block
            orig = struct.unpack_from(bo + "I", raw, pos + 8)[0]
            number += 1
            yield Frame(number, 0, links[0], raw[pos + 12 : pos + 12 + min(orig, blen - 16)],
                        orig, 0, pos)
        if blen < 12:
            break
        pos += blen
