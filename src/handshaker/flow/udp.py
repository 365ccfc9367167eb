"""UDP conversations: numbered like Wireshark's ``udp.stream``.

UDP has no connection, so a conversation is just the datagrams between two
(address, port) endpoints, in order of first appearance. The first sender is
taken as the client. A destination that is broadcast or multicast makes the
conversation one-to-many.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from handshaker.flow import tcp

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
    key: Any = None  # the tracker's 4-tuple key
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


@functools.lru_cache(maxsize=1 << 12)
def destination_kind(ip: str) -> str | None:
    """'broadcast', 'multicast' or None for a unicast destination. (Asked once for each
    conversation; most go to a few addresses, and ipaddress takes 5 µs an address: 1.3%
    of the 1M-packet benchmark capture's analysis before the cache.)"""
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


#: a UDP conversation leaves the table after this much silence (Zeek: 1 min)
UDP_IDLE_NS = 60 * 1_000_000_000


class UdpTracker:
    """UDP conversations; see :class:`handshaker.flow.tcp.TcpTracker` for retiring."""

    def __init__(self, keep: Any = None, on_done: Any = None) -> None:
        self.count = 0
        self.conversations: list[UdpConversation] = []  # without on_done: all, at the end
        self._by_tuple: dict[Any, UdpConversation] = {}
        self._keep = keep
        self._on_done = on_done
        self.limit = tcp.MAX_OPEN_CONNECTIONS  # as TcpTracker.limit
        self.shed = 0  # as TcpTracker.shed
        self.shed_frame = 0

    def _retire(self, conv: UdpConversation) -> None:
        if self._on_done is not None:
            self._on_done(conv)
        else:
            self.conversations.append(conv)

    def evict(self, now_ns: int) -> int:
        gone = [k for k, c in self._by_tuple.items()
                if c.frames is None and now_ns - c.last_ts_ns > UDP_IDLE_NS]
        for k in gone:
            self._retire(self._by_tuple.pop(k))
        return len(gone)

    def close(self) -> None:
        for c in sorted(self._by_tuple.values(), key=lambda c: c.stream):
            self._retire(c)
        self._by_tuple.clear()

    def retire(self, conv: UdpConversation) -> None:
        """Retire one conversation now (TcpTracker.retire's twin)."""
        if self._by_tuple.get(conv.key) is conv:
            del self._by_tuple[conv.key]
            self._retire(conv)

    def adopt(self, key: Any, obj: UdpConversation) -> None:
        """Take over a conversation followed elsewhere (a split run's previous part) as ``key``
        (if it is here already under another key, it moves)."""
        if self._by_tuple.get(obj.key) is obj:
            del self._by_tuple[obj.key]
        obj.key = key
        self._by_tuple[key] = obj

    def holding(self, key: Any) -> UdpConversation | None:
        """The conversation in the table under ``key``, if any."""
        return self._by_tuple.get(key)

    def first_open_frame(self) -> int:
        return min((c.first_frame for c in self._by_tuple.values()), default=1 << 62)

    def open_conversations(self) -> list[UdpConversation]:
        """The conversations not retired yet."""
        return list(self._by_tuple.values())

    def hand_over(self) -> list[UdpConversation]:
        """The conversations not retired yet, which leave the table (followed on
        elsewhere: this tracker must not keep them alive)."""
        conversations = self.open_conversations()
        self._by_tuple.clear()
        return conversations

    def datagram(self, key: Any, swap: int, eps: Any, frame: int, ts: int, payload_len: int,
                 wire_len: int, file_index: int = 0) -> int:
        """Feed one datagram from eps[swap] to eps[1 - swap]; return its stream number."""
        src = eps[swap]
        dst = eps[1 - swap]
        conv = self._by_tuple.get(key)
        if conv is None:
            number = self.count
            self.count += 1
            conv = UdpConversation(number, src, dst, frame, frame, ts, ts, file_index=file_index,
                                   key=key)
            if self._keep is not None and self._keep(number):
                conv.frames = []
                conv.sizes = []
            self._by_tuple[key] = conv
            if len(self._by_tuple) > self.limit:
                self.shed += tcp.shed(self._by_tuple, self._retire, lambda c: c.last_ts_ns,
                                  lambda c: c.frames is None)
                self.shed_frame = self.shed_frame or frame
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
