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

SHB, IDB, ISB, EPB, DSB = 0x0A0D0D0A, 0x00000001, 0x00000005, 0x00000006, 0x0000000A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
SHB_OS, SHB_USERAPPL = 3, 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_FILTER = 2, 3, 9, 11
ISB_STARTTIME, ISB_ENDTIME, ISB_IFRECV, ISB_IFDROP, ISB_FILTERACCEPT = 2, 3, 4, 5, 6
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

    def __init__(self, f: BinaryIO, *, application: str = "handshaker",
                 os_name: str = "") -> None:
        self._f = f
        self._interfaces = 0
        opts = [(SHB_USERAPPL, application.encode())]
        if os_name:
            opts.append((SHB_OS, os_name.encode()))
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts)
        self._block(SHB, body)

    def _block(self, kind: int, body: bytes) -> None:
        body = _pad(body)
        total = 12 + len(body)
        self._f.write(struct.pack("<II", kind, total) + body + struct.pack("<I", total))

    def add_interface(self, linktype: int, name: str, description: str = "", *,
                      snaplen: int = SNAPLEN, filter_text: str = "") -> int:
        """Describe an interface; returns its id for :meth:`packet`. ``filter_text`` is
        recorded as the capture filter (if_filter, code 0: a filter expression string)."""
        opts = [(IF_NAME, name.encode()), (IF_TSRESOL, b"\x09")]
        if description:
            opts.append((IF_DESCRIPTION, description.encode()))
        if filter_text:
            opts.append((IF_FILTER, b"\x00" + filter_text.encode()))
        self._block(IDB, struct.pack("<HHI", linktype, 0, snaplen) + _options(opts))
        self._interfaces += 1
        return self._interfaces - 1

    def packet(self, interface: int, ts_ns: int, data: bytes, comment: str = "", *,
               wirelen: int | None = None) -> None:
        opts = [(OPT_COMMENT, comment.encode())] if comment else []
        head = struct.pack("<IIIII", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data),
                           max(len(data), wirelen or 0))
        self._block(EPB, head + _pad(data) + _options(opts))

    def statistics(self, interface: int, ts_ns: int, *, start_ns: int, end_ns: int,
                   received: int, dropped: int, accepted: int) -> None:
        """An Interface Statistics Block: the kernel's counts of frames received and
        dropped, and how many passed the filter."""
        def ts(v: int) -> bytes:
            return struct.pack("<II", v >> 32, v & 0xFFFFFFFF)

        opts = [(ISB_STARTTIME, ts(start_ns)), (ISB_ENDTIME, ts(end_ns)),
                (ISB_IFRECV, struct.pack("<Q", received)),
                (ISB_IFDROP, struct.pack("<Q", dropped)),
                (ISB_FILTERACCEPT, struct.pack("<Q", accepted))]
        self._block(ISB, struct.pack("<III", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF) +
                    _options(opts))

    def secrets(self, secrets_type: int, data: bytes) -> None:
        """A Decryption Secrets Block (e.g. a TLS key log: type 0x544c534b)."""
        self._block(DSB, struct.pack("<II", secrets_type, len(data)) + _pad(data))


__all__ = ["PcapngWriter"]
