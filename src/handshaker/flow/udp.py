"""UDP conversations: numbered like Wireshark's ``udp.stream``.

UDP has no connection, so a conversation is just the datagrams between two
(address, port) endpoints, in order of first appearance. The first sender is
taken as the client. A destination that is broadcast or multicast makes the
conversation one-to-many.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

UDP_HEADER_LEN = 8


@dataclass(slots=True)
class UdpConversation:
    stream: int
    client: tuple[str, int]
    server: tuple[str, int]
    first_frame: int
    last_frame: int
    first_ts_ns: int
    last_ts_ns: int
    packets_c2s: int = 0
    packets_s2c: int = 0
    bytes_c2s: int = 0  # UDP payload bytes
    bytes_s2c: int = 0
    wire_bytes_c2s: int = 0
    wire_bytes_s2c: int = 0
    one_to_many: str | None = None  # "broadcast" / "multicast"
    file_index: int = 0
    frames: list[int] | None = None  # kept for detail views
    sizes: list[int] | None = None

    @property
    def packets(self) -> int:
        return self.packets_c2s + self.packets_s2c

    def header_overhead(self) -> dict[str, Any]:
        """UDP header bytes against payload bytes: 8 bytes a datagram."""
        payload = self.bytes_c2s + self.bytes_s2c
        header = UDP_HEADER_LEN * self.packets
        return {"udp_header_bytes": header, "payload_bytes": payload,
                "ratio": round(header / (header + payload), 4) if header + payload else None}


def destination_kind(ip: str) -> str | None:
    """'broadcast', 'multicast' or None for a unicast destination."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.is_multicast:
        return "multicast"
    if isinstance(addr, ipaddress.IPv4Address) and (
        addr == ipaddress.IPv4Address("255.255.255.255") or int(addr) & 0xFF == 0xFF
    ):
        # limited broadcast, or a directed broadcast of a /24 or shorter prefix
        # (the netmask is not in the capture: .255 is the usual guess)
        return "broadcast"
    return None


class UdpTracker:
    def __init__(self, keep: Any = None) -> None:
        self.conversations: list[UdpConversation] = []
        self._by_tuple: dict[Any, UdpConversation] = {}
        self._keep = keep

    def datagram(self, key: Any, swap: int, eps: Any, frame: int, ts: int, payload_len: int,
                 wire_len: int, file_index: int = 0) -> int:
        """Feed one datagram from eps[swap] to eps[1 - swap]; return its stream number."""
        src = eps[swap]
        dst = eps[1 - swap]
        conv = self._by_tuple.get(key)
        if conv is None:
            number = len(self.conversations)
            conv = UdpConversation(number, src, dst, frame, frame, ts, ts, file_index=file_index)
            if self._keep is not None and self._keep(number):
                conv.frames = []
                conv.sizes = []
            self.conversations.append(conv)
            self._by_tuple[key] = conv
            kind = destination_kind(dst[0])
            if kind:
                conv.one_to_many = kind
        conv.last_frame = frame
        conv.last_ts_ns = ts
        if src == conv.client:
            conv.packets_c2s += 1
            conv.bytes_c2s += max(payload_len, 0)
            conv.wire_bytes_c2s += wire_len
        else:
            conv.packets_s2c += 1
            conv.bytes_s2c += max(payload_len, 0)
            conv.wire_bytes_s2c += wire_len
        if conv.frames is not None and conv.sizes is not None:
            conv.frames.append(frame)
            conv.sizes.append(payload_len)
        return conv.stream
