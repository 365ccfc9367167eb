"""Test-only: build FrameBatch objects from classic pcap / pcapng files.

Stands in for ``handshaker.capture`` in the dissector tests. The whole file is
the batch buffer, so frames are zero-copy slices of it, as with an mmap.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from handshaker.capture.model import FrameBatch

PCAP_MAGICS = {0xA1B2C3D4: 1000, 0xA1B23C4D: 1}  # magic -> ns per tick


def _pcap(data: bytes) -> list[tuple[int, int, int, int, int]]:
    e = "<" if struct.unpack("<I", data[:4])[0] in PCAP_MAGICS else ">"
    ns = PCAP_MAGICS[struct.unpack(e + "I", data[:4])[0]]
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF
    rows, pos = [], 24
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(e + "IIII", data, pos)
        incl = min(incl, len(data) - pos - 16)
        rows.append((pos + 16, incl, orig, sec * 10**9 + frac * ns, linktype))
        pos += 16 + incl
    return rows


def _pcapng(data: bytes) -> list[tuple[int, int, int, int, int]]:
    rows: list[tuple[int, int, int, int, int]] = []
    e, pos, ifaces = "<", 0, []  # ifaces: (linktype, snaplen, ns per tick)
    while pos + 12 <= len(data):
        if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        btype, blen = struct.unpack_from(e + "II", data, pos)
        body = pos + 8
        if btype == 1:  # IDB: options may carry if_tsresol (code 9)
            lt, snap = struct.unpack_from(e + "H2xI", data, body)
            res, opt = 1000, body + 8
            while opt + 4 <= pos + blen - 4:
                code, olen = struct.unpack_from(e + "HH", data, opt)
                if code == 0:
                    break
                if code == 9:
                    r = data[opt + 4]
                    res = 10 ** (9 - (r & 0x7F)) if not r & 0x80 else 10**9 // 2 ** (r & 0x7F)
                opt += 4 + (olen + 3) // 4 * 4
            ifaces.append((lt, snap, res))
        elif btype == 6:  # EPB
            ifc, hi, lo, incl, orig = struct.unpack_from(e + "IIIII", data, body)
            lt, _, res = ifaces[ifc]
            rows.append((body + 20, incl, orig, ((hi << 32) | lo) * res, lt))
        elif btype == 3:  # SPB
            (orig,) = struct.unpack_from(e + "I", data, body)
            lt, snap, _ = ifaces[0]
            incl = min(orig, snap or orig, blen - 16)
            rows.append((body + 4, incl, orig, 0, lt))
        if blen < 12:
            break
        pos += blen
    return rows


def read_frames(path: Path | str) -> tuple[bytes, list[tuple[int, int, int, int, int]]]:
    """(file bytes, [(start, caplen, wirelen, ts_ns, linktype), ...])."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = _pcapng(data) if data[:4] == b"\x0a\x0d\x0d\x0a" else _pcap(data)
    return data, rows


Row = tuple[int, int, int, int, int]


def batch_from_rows(buf: bytes | bytearray | memoryview, rows: list[Row],
                    first_number: int = 1) -> FrameBatch:
    a = np.array(rows, dtype=np.int64).reshape(-1, 5)
    n = len(a)
    return FrameBatch(buf=buf, first_number=first_number, start=a[:, 0].copy(),
                      caplen=a[:, 1].astype(np.int32), wirelen=a[:, 2].astype(np.int32),
                      ts_ns=a[:, 3].copy(), linktype=a[:, 4].astype(np.int32),
                      interface=np.zeros(n, np.int32), file_offset=a[:, 0] - 16)


def batches_from_capture(path: Path | str, size: int = 65536) -> list[FrameBatch]:
    """The capture as FrameBatches of at most ``size`` frames sharing one buffer."""
    buf, rows = read_frames(path)
    return [batch_from_rows(buf, rows[i : i + size], i + 1)
            for i in range(0, max(len(rows), 1), size)]
