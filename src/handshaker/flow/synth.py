"""TCP/IP packets for a conversation whose bytes are known: a clean stream to write.

Used to write decrypted TLS streams as a capture (``tls --write-plain``):
each chunk becomes one segment, with a three-way handshake before and a
four-way close after, sequence numbers from 0 on both sides (relative and
absolute numbers agree), the original timestamps, and correct IPv4 and TCP
checksums (RFC 791, RFC 9293 §3.1), as raw IP packets (LINKTYPE_RAW).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator

SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10
WINDOW = 65535
#: payload bytes per segment (an IPv4 packet is at most 65,535 bytes)
MAX_SEGMENT = 65000


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
            payload: bytes) -> bytes:
    s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, WINDOW, 0, 0) + payload
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = s.packed + d.packed + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    if s.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                         s.packed, d.packed)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, s.packed, d.packed)
    return ip + tcp


def tcp_conversation(client: tuple[str, int], server: tuple[str, int],
                     chunks: list[tuple[bool, int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(timestamp in ns, raw IP packet) for a conversation: ``chunks`` are (sent by the
    client?, timestamp, bytes) in order."""
    if not chunks:
        return
    nxt = {True: 1, False: 1}  # after the SYNs
    t0 = chunks[0][1]
    yield t0 - 3000, _packet(client, server, 0, 0, SYN, b"")
    yield t0 - 2000, _packet(server, client, 0, 1, SYN | ACK, b"")
    yield t0 - 1000, _packet(client, server, 1, 1, ACK, b"")
    ts = t0
    for from_client, ts, data in chunks:
        src, dst = (client, server) if from_client else (server, client)
        for i in range(0, len(data), MAX_SEGMENT):
            piece = data[i:i + MAX_SEGMENT]
            yield ts, _packet(src, dst, nxt[from_client], nxt[not from_client], PSH | ACK,
                              piece)
            nxt[from_client] += len(piece)
    c, s = nxt[True], nxt[False]  # the four-way close, FIN(u), ACK(u+1), FIN(w), ACK(w+1)
    yield ts + 1000, _packet(client, server, c, s, FIN | ACK, b"")
    yield ts + 2000, _packet(server, client, s, c + 1, ACK, b"")
    yield ts + 3000, _packet(server, client, s, c + 1, FIN | ACK, b"")
    yield ts + 4000, _packet(client, server, c + 1, s + 1, ACK, b"")


__all__ = ["checksum", "tcp_conversation"]
