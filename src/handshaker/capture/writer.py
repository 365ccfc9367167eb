"""Write pcapng files that Wireshark, tshark and tcpdump read.

A :class:`PcapngWriter` writes one section: the Section Header Block, then
an Interface Description Block per :meth:`~PcapngWriter.add_interface`,
Enhanced Packet Blocks (:meth:`~PcapngWriter.packet`, timestamps in
nanoseconds: ``if_tsresol`` 9) and Decryption Secrets Blocks
(:meth:`~PcapngWriter.secrets`), little-endian, every block padded to 32
bits as the pcapng specification (draft-ietf-opsawg-pcapng) asks.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

SHB, IDB, EPB, DSB = 0x0A0D0D0A, 0x00000001, 0x00000006, 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
SNAPLEN = 262144


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _options(opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = b"".join(struct.pack("<HH", code, len(v)) + _pad(v) for code, v in opts)
    return out + struct.pack("<HH", OPT_END, 0)


class PcapngWriter:
    """One pcapng section written to ``f`` as it goes (nothing is held in memory)."""

    def __init__(self, f: BinaryIO, *, application: str = "handshaker") -> None:
        self._f = f
        self._interfaces = 0
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + \
            _options([(SHB_USERAPPL, application.encode())])
        self._block(SHB, body)

    def _block(self, kind: int, body: bytes) -> None:
        body = _pad(body)
        total = 12 + len(body)
        self._f.write(struct.pack("<II", kind, total) + body + struct.pack("<I", total))

    def add_interface(self, linktype: int, name: str, description: str = "") -> int:
        """Describe an interface; returns its id for :meth:`packet`."""
        opts = [(IF_NAME, name.encode()), (IF_TSRESOL, b"\x09")]
        if description:
            opts.append((IF_DESCRIPTION, description.encode()))
        self._block(IDB, struct.pack("<HHI", linktype, 0, SNAPLEN) + _options(opts))
        self._interfaces += 1
        return self._interfaces - 1

    def packet(self, interface: int, ts_ns: int, data: bytes, comment: str = "") -> None:
        opts = [(OPT_COMMENT, comment.encode())] if comment else []
        head = struct.pack("<IIIII", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data),
                           len(data))
        self._block(EPB, head + _pad(data) + _options(opts))

    def secrets(self, secrets_type: int, data: bytes) -> None:
        """A Decryption Secrets Block (e.g. a TLS key log: type 0x544c534b)."""
        self._block(DSB, struct.pack("<II", secrets_type, len(data)) + _pad(data))


__all__ = ["PcapngWriter"]
