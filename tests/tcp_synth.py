"""Build TCP conversations as Ethernet/IPv4 frames, for property tests.

A :class:`Conversation` keeps both sides' sequence numbers the way real
endpoints would, so a test can ask for a handshake, data cut into random
segments, retransmissions, reordering, gaps, zero windows, keep-alives and
any kind of close, and get a pcap that tshark can judge.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from capture_writers import pcap_file

from handshaker.flow.synth import checksum as _csum

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def frame(src: tuple[bytes, int], dst: tuple[bytes, int], seq: int, ack: int, flags: int,
          payload: bytes = b"", window: int = 65535, options: bytes = b"") -> bytes:
    """Ethernet + IPv4 + TCP, checksums right."""
    options += b"\0" * (-len(options) & 3)
    thl = 20 + len(options)
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (thl // 4) << 4, flags, window, 0, 0) + options + payload
    pseudo = src[0] + dst[0] + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00"
    return eth + ip + tcp


SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x01\x03\x03\x07"  # MSS 1460, SACK_PERM, NOP, WS 7


@dataclass
class Side:
    addr: tuple[bytes, int]
    isn: int
    nxt: int = 0  # next sequence number to send
    rcv: int = 0  # next sequence number expected from the peer

    def __post_init__(self) -> None:
        self.nxt = self.isn


@dataclass
class Conversation:
    client: Side
    server: Side
    t_us: int = 1_000_000
    records: list[tuple[int, int, bytes, int]] = field(default_factory=list)
    sent: list[tuple[str, int, int, int, bytes]] = field(default_factory=list)

    def side(self, who: str) -> tuple[Side, Side]:
        return (self.client, self.server) if who == "c" else (self.server, self.client)

    def emit(self, who: str, seq: int, ack: int, flags: int, payload: bytes = b"",
             window: int = 65535, options: bytes = b"", gap_us: int = 1000,
             capture: bool = True) -> None:
        me, peer = self.side(who)
        self.t_us += gap_us
        if capture:
            data = frame(me.addr, peer.addr, seq, ack, flags, payload, window, options)
            self.records.append((self.t_us // 1_000_000, self.t_us % 1_000_000, data,
                                 len(data)))
        self.sent.append((who, seq, ack, flags, payload))

    def send(self, who: str, flags: int, payload: bytes = b"", **kw: object) -> None:
        """Send the next segment of ``who``: its own seq, acknowledging what it has."""
        me, peer = self.side(who)
        ack = me.rcv if flags & ACK else 0
        self.emit(who, me.nxt, ack, flags, payload, **kw)  # type: ignore[arg-type]
        me.nxt = (me.nxt + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        # the peer receives it (in order: the tests add disorder with emit())
        peer.rcv = me.nxt

    def ack(self, who: str, **kw: object) -> None:
        self.send(who, ACK, **kw)

    def pcap(self) -> bytes:
        return pcap_file(self.records)


def new_conversation(isn_c: int, isn_s: int, cport: int = 40000, sport: int = 80
                     ) -> Conversation:
    return Conversation(Side((bytes([10, 0, 0, 1]), cport), isn_c),
                        Side((bytes([10, 0, 0, 2]), sport), isn_s))
