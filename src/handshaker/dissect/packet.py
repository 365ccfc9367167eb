"""The per-packet decoder: one frame taken apart header by header.

Two entry points:

* :func:`summarize` gives the values of :data:`~handshaker.dissect.columns.COLUMNS`
  for one frame as a plain dict, fast and without objects. The columnar decoder
  calls it as its fallback for unusual rows, and a test checks that both agree.
* :func:`decode` gives a :class:`Packet`: the same summary plus every header as
  a :class:`Layer` with all of its :class:`Field` values in header order, placed
  on the TCP/IP four-layer model and the OSI seven-layer model, the TCP options
  in typed form (:class:`TcpOption`), and the problems found on the way.

Theory of operation. Both functions walk the same chain, link layer first:
Ethernet II (with any stack of 802.1Q / 802.1ad / 0x9100 VLAN tags), Linux
cooked capture v1/v2, BSD null/loopback, raw IP, PPP; then IPv4 or IPv6 (with
its extension-header chain); then TCP, UDP, ICMP or ICMPv6. The rules that
decide each column (what "truncated" and "malformed" mean, when a column is
filled) are written beside the columns in :mod:`handshaker.dissect.columns`;
:func:`summarize` is the short, straight-line form of them, and the layer
walker in :func:`decode` fills its summary by the same rules while it builds
the layers. Neither ever raises on bad input: a problem ends the walk with a
status (and, in :func:`decode`, a message in ``Packet.problems``).

The two walkers are written separately on purpose: tests run both over the
corpus and over random bytes and require equal summaries, which checks each
against the other (the columnar decoder is the third).

Not supported: IPv6 jumbograms (RFC 2675; a payload length of 0 is taken
literally), tunnels (the inner packet of GRE, IP-in-IP, VXLAN is payload),
and the packet quoted inside an ICMP error (kept as ICMP data).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from handshaker.capture.model import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NAMES,
    LINKTYPE_NULL,
    LINKTYPE_PPP,
    LINKTYPE_RAW,
    Frame,
)
from handshaker.dissect.columns import (
    ACK,
    AE,
    COLUMNS,
    CWR,
    ECE,
    FIN,
    FRAG_MORE,
    FRAG_OFFSET,
    PSH,
    RST,
    ST_MALFORMED,
    ST_OK,
    ST_TRUNCATED,
    ST_UNSUPPORTED_LINK,
    SYN,
    URG,
    V4_MAPPED_LO_PREFIX,
    halves_to_ip,
    ip_to_halves,
)

__all__ = [
    "HEADER_SIZES",
    "LAYER_MODEL",
    "OSI_LAYERS",
    "STATUS_NAMES",
    "TCPIP_LAYERS",
    "TCP_OPTION_KINDS",
    "Field",
    "Layer",
    "Packet",
    "TcpOption",
    "decode",
    "parse_tcp_options",
    "summarize",
    "tcp_flags_text",
]

# --------------------------------------------------------------------------
# Numbers and names
# --------------------------------------------------------------------------

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
#: TPIDs of a VLAN tag: 802.1Q C-tag, 802.1ad S-tag, and the old QinQ 0x9100
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
#: an Ethernet type/length field below this is an 802.3 length (IEEE 802.3 §3.2.6)
ETHERTYPE_MIN = 0x0600

IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
#: the IPv6 extension headers the chain walk steps over (RFC 8200 §4, RFC 4302)
IPV6_EXT_HEADERS = frozenset({IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT,
                              IPPROTO_AH, IPPROTO_DSTOPTS})

#: BSD address families in a null/loopback header; AF_INET6 differs by BSD
AF_INET = 2
AF_INET6_VALUES = frozenset({24, 28, 30})  # NetBSD/OpenBSD, FreeBSD, Darwin

ETHERTYPE_NAMES = {
    0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q VLAN",
    0x88A8: "802.1ad VLAN", 0x9100: "QinQ VLAN", 0x8035: "RARP", 0x8847: "MPLS",
    0x8848: "MPLS multicast", 0x8863: "PPPoE discovery", 0x8864: "PPPoE session",
    0x888E: "802.1X (EAPOL)", 0x88CC: "LLDP", 0x88E5: "MACsec", 0x8906: "FCoE",
    0x9000: "Loopback (CTP)",
}
IP_PROTO_NAMES = {
    0: "IPv6 Hop-by-Hop", 1: "ICMP", 2: "IGMP", 4: "IPv4 (IP-in-IP)", 6: "TCP",
    17: "UDP", 41: "IPv6 (encapsulated)", 43: "IPv6 Routing", 44: "IPv6 Fragment",
    47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6", 59: "No Next Header",
    60: "IPv6 Destination Options", 88: "EIGRP", 89: "OSPF", 103: "PIM",
    112: "VRRP", 115: "L2TP", 132: "SCTP", 136: "UDP-Lite",
}
ICMP_TYPES = {
    0: "Echo Reply", 3: "Destination Unreachable", 4: "Source Quench", 5: "Redirect",
    8: "Echo Request", 9: "Router Advertisement", 10: "Router Solicitation",
    11: "Time Exceeded", 12: "Parameter Problem", 13: "Timestamp", 14: "Timestamp Reply",
}
ICMPV6_TYPES = {
    1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded",
    4: "Parameter Problem", 128: "Echo Request", 129: "Echo Reply",
    130: "Multicast Listener Query", 131: "Multicast Listener Report",
    132: "Multicast Listener Done", 133: "Router Solicitation",
    134: "Router Advertisement", 135: "Neighbor Solicitation",
    136: "Neighbor Advertisement", 137: "Redirect", 143: "Multicast Listener Report v2",
}
SLL_PACKET_TYPES = {
    0: "unicast to us", 1: "broadcast", 2: "multicast", 3: "unicast to another host",
    4: "sent by us",
}
ARPHRD_NAMES = {1: "Ethernet", 512: "PPP", 772: "Loopback", 776: "SIT (IPv6-in-IPv4)",
                778: "IP GRE", 824: "Netlink", 65534: "None", 65535: "Void"}
PPP_PROTOCOLS = {0x0021: "IPv4", 0x0057: "IPv6", 0xC021: "LCP", 0x8021: "IPCP",
                 0x8057: "IPV6CP", 0xC023: "PAP", 0xC223: "CHAP"}
ARP_OPS = {1: "request", 2: "reply", 3: "RARP request", 4: "RARP reply"}

STATUS_NAMES = {ST_OK: "ok", ST_TRUNCATED: "truncated", ST_MALFORMED: "malformed",
                ST_UNSUPPORTED_LINK: "unsupported_link"}

# --------------------------------------------------------------------------
# The two layer models
# --------------------------------------------------------------------------

#: OSI reference model (ISO/IEC 7498-1), layer number -> name
OSI_LAYERS = {7: "Application", 6: "Presentation", 5: "Session", 4: "Transport",
              3: "Network", 2: "Data link", 1: "Physical"}
#: TCP/IP model (RFC 1122 §1.1.3), top to bottom, with the OSI layers each one spans
TCPIP_LAYERS: dict[str, tuple[int, ...]] = {
    "Application": (7, 6, 5), "Transport": (4,), "Internet": (3,), "Link": (2, 1),
}
LINK, INTERNET, TRANSPORT, APPLICATION = "Link", "Internet", "Transport", "Application"

#: layer key -> (display name, TCP/IP layer, OSI layers). The link headers in a
#: capture are OSI layer 2 only: preamble, start delimiter and line coding (layer 1)
#: never reach the capture. ARP (RFC 826) resolves layer-3 addresses to layer-2 ones
#: and RFC 1122 §2.3.2 puts it in the link layer; ICMP is part of the internet
#: layer (RFC 1122 §3.2.2). Pseudo headers (Linux cooked, BSD null) are written by
#: the capturing host, not sent on the wire, but stand where the link header was.
LAYER_MODEL: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "eth": ("Ethernet II", LINK, (2,)),
    "ieee8023": ("IEEE 802.3", LINK, (2,)),
    "vlan": ("802.1Q", LINK, (2,)),
    "sll": ("Linux cooked capture v1", LINK, (2,)),
    "sll2": ("Linux cooked capture v2", LINK, (2,)),
    "null": ("BSD loopback", LINK, (2,)),
    "ppp": ("PPP", LINK, (2,)),
    "arp": ("ARP", LINK, (2, 3)),
    "ip": ("IPv4", INTERNET, (3,)),
    "ipv6": ("IPv6", INTERNET, (3,)),
    "ipv6.hopopts": ("IPv6 Hop-by-Hop", INTERNET, (3,)),
    "ipv6.routing": ("IPv6 Routing", INTERNET, (3,)),
    "ipv6.fragment": ("IPv6 Fragment", INTERNET, (3,)),
    "ipv6.dstopts": ("IPv6 Destination Options", INTERNET, (3,)),
    "ah": ("IPsec AH", INTERNET, (3,)),
    "icmp": ("ICMP", INTERNET, (3,)),
    "icmpv6": ("ICMPv6", INTERNET, (3,)),
    "tcp": ("TCP", TRANSPORT, (4,)),
    "udp": ("UDP", TRANSPORT, (4,)),
    "payload": ("Payload", APPLICATION, (7, 6, 5)),
    "padding": ("Padding", LINK, (2,)),
}

#: header key -> (smallest, largest) size in bytes, for teaching
HEADER_SIZES: dict[str, tuple[int, int]] = {
    "eth": (14, 14), "vlan": (4, 4), "sll": (16, 16), "sll2": (20, 20), "null": (4, 4),
    "ppp": (1, 4), "arp": (28, 28), "ip": (20, 60), "ipv6": (40, 40),
    "ipv6.hopopts": (8, 2048), "ipv6.routing": (8, 2048), "ipv6.fragment": (8, 8),
    "ipv6.dstopts": (8, 2048), "ah": (12, 1024), "tcp": (20, 60), "udp": (8, 8),
    "icmp": (8, 8), "icmpv6": (4, 4),
}

# --------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One header field as it sits in the frame.

    ``offset`` is the frame offset of the field's first byte; sub-byte fields
    (flags, IHL, flow label) start ``bit_offset`` bits into it (0 = most
    significant bit) and are ``bits`` wide. ``level`` 1 marks the parts of an
    option shown under the option itself.
    """

    key: str  # stable id, e.g. "tcp.window"
    name: str  # label, e.g. "Window"
    value: str  # as displayed
    raw: int | bytes
    offset: int
    bits: int
    bit_offset: int = 0
    level: int = 0


@dataclass(frozen=True, slots=True)
class Layer:
    """One header (or the payload) of a frame and where it sits in both models."""

    key: str  # "eth", "vlan", "ip", "ipv6.fragment", "tcp", "payload", ...
    name: str  # "Ethernet II", "802.1Q", "IPv4", "TCP", ...
    offset: int  # first byte in the frame
    length: int  # header length in bytes as the header declares it
    tcpip_layer: str  # "Link" / "Internet" / "Transport" / "Application"
    osi_layers: tuple[int, ...]  # OSI layer numbers it maps to, highest first
    fields: tuple[Field, ...]
    truncated: bool = False  # the capture holds fewer than ``length`` bytes of it


@dataclass(frozen=True, slots=True)
class TcpOption:
    """One TCP option (RFC 9293 §3.1), its value in typed form.

    ``value`` by kind: MSS and window scale an ``int``; SACK a tuple of
    ``(left, right)`` edges; timestamps ``(tsval, tsecr)``; TFO the cookie
    ``bytes`` (``b""`` for a cookie request); SACK-permitted, NOP and EOL
    ``None``; anything else (unknown kinds, wrong lengths) the raw option data.
    """

    kind: int
    name: str  # snake_case: "mss", "window_scale", "sack_permitted", "sack", ...
    offset: int  # frame offset of the kind byte
    length: int  # bytes the option takes (1 for NOP/EOL; EOL takes the rest)
    value: int | tuple[int, int] | tuple[tuple[int, int], ...] | bytes | None


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded frame.

    ``summary`` holds the :data:`~handshaker.dissect.columns.COLUMNS` values
    (without number, ts_ns, wirelen, caplen), equal to :func:`summarize`'s;
    the most used are also properties (``status``, ``src``, ``sport``, ``seq``,
    ...). ``layers`` are the headers in frame order, then the payload and any
    link-layer padding. ``tcp_options`` are typed (``mss``, ``window_scale``,
    ``sack_permitted``, ``timestamps``, ``sack_blocks``, ``tfo_cookie`` read
    them). ``problems`` says what was wrong, in words, with frame offsets.
    """

    frame: Frame
    summary: Mapping[str, int] = field(hash=False)
    layers: tuple[Layer, ...]
    tcp_options: tuple[TcpOption, ...] = ()
    problems: tuple[str, ...] = ()

    # the summary values most callers want, by name
    @property
    def number(self) -> int:
        return self.frame.number

    @property
    def status(self) -> int:
        return self.summary["status"]

    @property
    def l3(self) -> int:
        return self.summary["l3"]

    @property
    def ip_proto(self) -> int:
        return self.summary["ip_proto"]

    @property
    def src(self) -> str | None:
        """Source address as text, None when there is no IP header."""
        s = self.summary
        return halves_to_ip(s["src_hi"], s["src_lo"]) if s["l3"] else None

    @property
    def dst(self) -> str | None:
        s = self.summary
        return halves_to_ip(s["dst_hi"], s["dst_lo"]) if s["l3"] else None

    @property
    def sport(self) -> int:
        return self.summary["sport"]

    @property
    def dport(self) -> int:
        return self.summary["dport"]

    @property
    def tcp_flags(self) -> int:
        return self.summary["tcp_flags"]

    @property
    def seq(self) -> int:
        return self.summary["seq"]

    @property
    def ack(self) -> int:
        return self.summary["ack"]

    @property
    def window(self) -> int:
        return self.summary["window"]

    @property
    def payload(self) -> bytes:
        """The TCP/UDP payload bytes that were captured (may be fewer than payload_len)."""
        s = self.summary
        off, n = s["payload_off"], s["payload_len"]
        if off < 0 or n <= 0:
            return b""
        return self.frame.data[off : off + n]

    def layer(self, key: str) -> Layer | None:
        """The first layer with this key ("tcp", "ip", "vlan", ...), or None."""
        for lay in self.layers:
            if lay.key == key:
                return lay
        return None

    def tcp_option(self, name: str) -> TcpOption | None:
        for opt in self.tcp_options:
            if opt.name == name:
                return opt
        return None

    @property
    def mss(self) -> int | None:
        opt = self.tcp_option("mss")
        return opt.value if opt is not None and isinstance(opt.value, int) else None

    @property
    def window_scale(self) -> int | None:
        """The shift count as sent (RFC 7323 §2.3 caps its use at 14)."""
        opt = self.tcp_option("window_scale")
        return opt.value if opt is not None and isinstance(opt.value, int) else None

    @property
    def sack_permitted(self) -> bool:
        return self.tcp_option("sack_permitted") is not None

    @property
    def timestamps(self) -> tuple[int, int] | None:
        opt = self.tcp_option("timestamps")
        if opt is not None and isinstance(opt.value, tuple) and len(opt.value) == 2:
            tsval, tsecr = opt.value
            if isinstance(tsval, int) and isinstance(tsecr, int):
                return tsval, tsecr
        return None

    @property
    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        opt = self.tcp_option("sack")
        if opt is None or not isinstance(opt.value, tuple):
            return ()
        return tuple(b for b in opt.value if isinstance(b, tuple))

    @property
    def tfo_cookie(self) -> bytes | None:
        """TFO cookie; b"" for a cookie request; None without a TFO option."""
        opt = self.tcp_option("tfo")
        return opt.value if opt is not None and isinstance(opt.value, bytes) else None

    def summary_text(self) -> str:
        """One line like tshark's Info column (raw Seq/Ack numbers)."""
        return _summary_text(self)


# --------------------------------------------------------------------------
# summarize(): the columns, fast
# --------------------------------------------------------------------------

_SUMMARY_KEYS = tuple(k for k in COLUMNS if k not in ("number", "ts_ns", "wirelen", "caplen"))
_ABSENT: dict[str, int] = {k: (-1 if np.dtype(COLUMNS[k]).kind == "i" else 0)
                           for k in _SUMMARY_KEYS}

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U32LE = struct.Struct("<I")
_IPV4 = struct.Struct("!BxHxxHxBxxII")  # ver/ihl, total length, flags/frag, proto, src, dst
_IPV6 = struct.Struct("!BxxxHBxQQQQ")  # version, payload length, next header, src, dst
_TCP = struct.Struct("!HHIIHH")  # ports, seq, ack, offset/flags, window
_UDP = struct.Struct("!HHH")  # ports, length


def summarize(data: bytes | bytearray | memoryview, linktype: int, wirelen: int) -> dict[str, int]:
    """Every :data:`COLUMNS` value except number, ts_ns, wirelen and caplen.

    Never raises: what stopped the walk is in ``status``. The rules are in the
    comments of :mod:`handshaker.dissect.columns`.
    """
    s = _ABSENT.copy()
    if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
        data = data.tobytes()
    n = len(data)
    wire = wirelen if wirelen > n else n

    # ---- link layer -> (off, et)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            s["status"] = ST_TRUNCATED
            return s
        et = _U16.unpack_from(data, 12)[0]
        off = 14
        if et < ETHERTYPE_MIN:  # 802.3 length field: LLC follows, not IP
            return s
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            s["status"] = ST_TRUNCATED
            return s
        et = _U16.unpack_from(data, 14)[0]
        off = 16
        if et < ETHERTYPE_MIN:  # 802.2/802.3 frames, CAN, netlink ...: not an ethertype
            return s
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            s["status"] = ST_TRUNCATED
            return s
        et = _U16.unpack_from(data, 0)[0]
        off = 20
        if et < ETHERTYPE_MIN:
            return s
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            s["status"] = ST_TRUNCATED
            return s
        fam = _U32LE.unpack_from(data, 0)[0]
        if fam > 0xFFFF:
            fam = _U32.unpack_from(data, 0)[0]
        if fam == AF_INET:
            et = ETHERTYPE_IPV4
        elif fam in AF_INET6_VALUES:
            et = ETHERTYPE_IPV6
        else:
            return s
        off = 4
    elif linktype == LINKTYPE_RAW:
        if n < 1:
            s["status"] = ST_TRUNCATED
            return s
        v = data[0] >> 4
        if v == 4:
            et = ETHERTYPE_IPV4
        elif v == 6:
            et = ETHERTYPE_IPV6
        else:
            s["status"] = ST_MALFORMED
            return s
        off = 0
    elif linktype == LINKTYPE_IPV4:
        et, off = ETHERTYPE_IPV4, 0
    elif linktype == LINKTYPE_IPV6:
        et, off = ETHERTYPE_IPV6, 0
    elif linktype == LINKTYPE_PPP:
        off = 2 if n >= 2 and data[0] == 0xFF and data[1] == 0x03 else 0
        if off >= n:
            s["status"] = ST_TRUNCATED
            return s
        if data[off] & 1:  # protocol field compressed to one byte (RFC 1661 §6.5)
            pproto = data[off]
            off += 1
        else:
            if off + 2 > n:
                s["status"] = ST_TRUNCATED
                return s
            pproto = _U16.unpack_from(data, off)[0]
            off += 2
        if pproto == 0x0021:
            et = ETHERTYPE_IPV4
        elif pproto == 0x0057:
            et = ETHERTYPE_IPV6
        else:
            return s
    else:
        s["status"] = ST_UNSUPPORTED_LINK
        return s

    # ---- VLAN tags (Ethernet and Linux cooked captures)
    while et == 0x8100 or et == 0x88A8 or et == 0x9100:
        if off + 4 > n:
            s["status"] = ST_TRUNCATED
            return s
        if s["vlan"] < 0:
            s["vlan"] = _U16.unpack_from(data, off)[0] & 0x0FFF
        et = _U16.unpack_from(data, off + 2)[0]
        off += 4
        if et < ETHERTYPE_MIN:
            return s
    s["ethertype"] = et

    # ---- IP
    if et == ETHERTYPE_IPV4:
        if off + 20 > n:
            s["status"] = ST_TRUNCATED
            return s
        b0, tl, fo, proto, src, dst = _IPV4.unpack_from(data, off)
        ihl = (b0 & 0x0F) << 2
        if b0 >> 4 != 4 or ihl < 20:
            s["status"] = ST_MALFORMED
            return s
        if tl == 0:  # TSO: the NIC fills the length in (tshark's ip.tso_support)
            tl = wire - off
        if tl < ihl:
            s["status"] = ST_MALFORMED
            return s
        s["l3"] = 4
        s["ip_off"] = off
        s["ip_len"] = tl
        s["ip_proto"] = proto
        s["frag"] = (FRAG_MORE if fo & 0x2000 else 0) | (FRAG_OFFSET if fo & 0x1FFF else 0)
        s["src_lo"] = V4_MAPPED_LO_PREFIX | src
        s["dst_lo"] = V4_MAPPED_LO_PREFIX | dst
        l4 = off + ihl
        if l4 > n:
            s["status"] = ST_TRUNCATED
            return s
        end = off + (tl if tl < wire - off else wire - off)
        if fo & 0x1FFF:  # not the first fragment: no upper-layer header here
            return s
    elif et == ETHERTYPE_IPV6:
        if off + 40 > n:
            s["status"] = ST_TRUNCATED
            return s
        b0, plen, nxt, shi, slo, dhi, dlo = _IPV6.unpack_from(data, off)
        if b0 >> 4 != 6:
            s["status"] = ST_MALFORMED
            return s
        tl = 40 + plen
        s["l3"] = 6
        s["ip_off"] = off
        s["ip_len"] = tl
        s["src_hi"] = shi
        s["src_lo"] = slo
        s["dst_hi"] = dhi
        s["dst_lo"] = dlo
        end = off + (tl if tl < wire - off else wire - off)
        l4 = off + 40
        while nxt in IPV6_EXT_HEADERS:
            if l4 + 8 > n:
                s["status"] = ST_TRUNCATED
                return s
            if l4 + 8 > end:
                s["status"] = ST_MALFORMED
                return s
            if nxt == IPPROTO_FRAGMENT:
                fo = _U16.unpack_from(data, l4 + 2)[0]
                s["frag"] |= (FRAG_MORE if fo & 1 else 0) | (FRAG_OFFSET if fo & 0xFFF8 else 0)
                nxt = data[l4]
                l4 += 8
                if fo & 0xFFF8:  # not the first fragment
                    s["ip_proto"] = nxt
                    return s
                continue
            hlen = (data[l4 + 1] + 2) << 2 if nxt == IPPROTO_AH else (data[l4 + 1] + 1) << 3
            if l4 + hlen > end:
                s["status"] = ST_MALFORMED
                return s
            if l4 + hlen > n:
                s["status"] = ST_TRUNCATED
                return s
            nxt = data[l4]
            l4 += hlen
        proto = nxt
        s["ip_proto"] = proto
    else:
        return s

    # ---- transport: fixed part captured? consistent? whole header captured?
    if proto == IPPROTO_TCP:
        s["l4_off"] = l4
        if l4 + 20 > n:
            s["status"] = ST_TRUNCATED
            return s
        sport, dport, seq, ack, offflags, win = _TCP.unpack_from(data, l4)
        hl = (offflags >> 12) << 2
        s["sport"] = sport
        s["dport"] = dport
        s["tcp_flags"] = offflags & 0x0FFF
        s["seq"] = seq
        s["ack"] = ack
        s["window"] = win
        s["tcp_hlen"] = hl
        if hl < 20 or l4 + hl > end:
            s["status"] = ST_MALFORMED
            return s
        s["payload_off"] = l4 + hl
        s["payload_len"] = end - l4 - hl
        if l4 + hl > n:
            s["status"] = ST_TRUNCATED
    elif proto == IPPROTO_UDP:
        s["l4_off"] = l4
        if l4 + 8 > n:
            s["status"] = ST_TRUNCATED
            return s
        sport, dport, ulen = _UDP.unpack_from(data, l4)
        s["sport"] = sport
        s["dport"] = dport
        if ulen < 8 or l4 + ulen > end:
            s["status"] = ST_MALFORMED
            return s
        s["payload_off"] = l4 + 8
        s["payload_len"] = ulen - 8
    elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        s["l4_off"] = l4
        if l4 + 4 > n:
            s["status"] = ST_TRUNCATED
        elif l4 + 4 > end:
            s["status"] = ST_MALFORMED
    return s


# --------------------------------------------------------------------------
# decode(): the layer walker
# --------------------------------------------------------------------------


def decode(frame: Frame) -> Packet:
    """Take one frame apart. Never raises on bad bytes; see ``Packet.problems``."""
    w = _Walker(frame)
    w.run()
    return Packet(
        frame=frame,
        summary=MappingProxyType(w.s),
        layers=tuple(w.layers),
        tcp_options=tuple(w.options),
        problems=tuple(w.problems),
    )


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _hex(b: bytes, limit: int = 32) -> str:
    h = b[:limit].hex(" ")
    return h + (" …" if len(b) > limit else "")


def _onoff(v: int) -> str:
    return "Set" if v else "Not set"


def _named(v: int, names: Mapping[int, str], fmt: str = "{}") -> str:
    name = names.get(v)
    return f"{fmt.format(v)} ({name})" if name else fmt.format(v)


class _Stop(Exception):
    """Internal: ends the walk (the status and problem are already recorded)."""


class _Walker:
    """Builds the layers of one frame and its summary, by the columns' rules."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.d = bytes(frame.data)
        self.n = len(self.d)
        self.wire = max(frame.wirelen, self.n)
        self.s: dict[str, int] = _ABSENT.copy()
        self.layers: list[Layer] = []
        self.options: list[TcpOption] = []
        self.problems: list[str] = []
        self.end = self.n  # end of the IP datagram once known (for padding)

    # ---- small helpers
    def u16(self, off: int) -> int:
        return int(_U16.unpack_from(self.d, off)[0])

    def u32(self, off: int) -> int:
        return int(_U32.unpack_from(self.d, off)[0])

    def have(self, off: int, size: int) -> bool:
        return off + size <= self.n

    def stop(self, status: int, problem: str) -> _Stop:
        self.s["status"] = status
        self.problems.append(problem)
        return _Stop()

    def add(self, key: str, offset: int, length: int, fields: list[Field],
            name: str | None = None) -> None:
        dname, tcpip, osi = LAYER_MODEL[key]
        self.layers.append(Layer(key, name or dname, offset, length, tcpip, osi, tuple(fields),
                                 truncated=offset + length > self.n))

    # ---- the walk
    def run(self) -> None:
        try:
            off, et = self.link()
            if et is not None:
                off, et = self.vlans(off, et)
            if et is None:
                return
            self.s["ethertype"] = et
            if et == ETHERTYPE_IPV4:
                self.ipv4(off)
            elif et == ETHERTYPE_IPV6:
                self.ipv6(off)
            elif et == ETHERTYPE_ARP:
                self.arp(off)
                self.padding()
            else:
                self.payload(off, self.n - off, INTERNET, (3,), "Payload (not decoded)")
        except _Stop:
            pass

    def link(self) -> tuple[int, int | None]:
        lt = self.frame.linktype
        if lt == LINKTYPE_ETHERNET:
            return self.ethernet()
        if lt == LINKTYPE_LINUX_SLL:
            return self.sll()
        if lt == LINKTYPE_LINUX_SLL2:
            return self.sll2()
        if lt in (LINKTYPE_NULL, LINKTYPE_LOOP):
            return self.null()
        if lt == LINKTYPE_PPP:
            return self.ppp()
        if lt == LINKTYPE_RAW:
            if self.n < 1:
                raise self.stop(ST_TRUNCATED, "empty frame: no IP version nibble")
            v = self.d[0] >> 4
            if v == 4:
                return 0, ETHERTYPE_IPV4
            if v == 6:
                return 0, ETHERTYPE_IPV6
            raise self.stop(ST_MALFORMED, f"raw IP frame with IP version {v}")
        if lt == LINKTYPE_IPV4:
            return 0, ETHERTYPE_IPV4
        if lt == LINKTYPE_IPV6:
            return 0, ETHERTYPE_IPV6
        raise self.stop(ST_UNSUPPORTED_LINK, f"link type {lt} is not supported")

    def ethernet(self) -> tuple[int, int | None]:
        d = self.d
        fields: list[Field] = []
        if self.have(0, 6):
            fields.append(Field("eth.dst", "Destination", _mac(d[0:6]), d[0:6], 0, 48))
        if self.have(6, 6):
            fields.append(Field("eth.src", "Source", _mac(d[6:12]), d[6:12], 6, 48))
        if not self.have(0, 14):
            self.add("eth", 0, 14, fields)
            raise self.stop(ST_TRUNCATED, f"Ethernet header cut at {self.n} of 14 bytes")
        et = self.u16(12)
        if et < ETHERTYPE_MIN:
            fields.append(Field("eth.len", "Length", f"{et}", et, 12, 16))
            self.add("ieee8023", 0, 14, fields)
            self.payload(14, self.n - 14, LINK, (2,), "802.2 LLC (not decoded)")
            return 14, None
        fields.append(Field("eth.type", "Type", _named(et, ETHERTYPE_NAMES, "0x{:04x}"), et,
                            12, 16))
        self.add("eth", 0, 14, fields)
        return 14, et

    def vlans(self, off: int, et: int) -> tuple[int, int | None]:
        while et in VLAN_TPIDS:
            name = {0x8100: "802.1Q", 0x88A8: "802.1ad", 0x9100: "802.1Q (QinQ 0x9100)"}[et]
            if not self.have(off, 4):
                self.add("vlan", off, 4, [], name)
                raise self.stop(ST_TRUNCATED, f"VLAN tag at offset {off} cut by the capture")
            tci = self.u16(off)
            et = self.u16(off + 2)
            if self.s["vlan"] < 0:
                self.s["vlan"] = tci & 0x0FFF
            tname = "Length" if et < ETHERTYPE_MIN else "Type"
            tval = f"{et}" if et < ETHERTYPE_MIN else _named(et, ETHERTYPE_NAMES, "0x{:04x}")
            self.add("vlan", off, 4, [
                Field("vlan.priority", "Priority (PCP)", f"{tci >> 13}", tci >> 13, off, 3),
                Field("vlan.dei", "Drop eligible (DEI)", _onoff(tci & 0x1000), (tci >> 12) & 1,
                      off, 1, 3),
                Field("vlan.id", "VLAN ID", f"{tci & 0x0FFF}", tci & 0x0FFF, off, 12, 4),
                Field("vlan.etype", tname, tval, et, off + 2, 16),
            ], name)
            off += 4
            if et < ETHERTYPE_MIN:
                self.payload(off, self.n - off, LINK, (2,), "802.2 LLC (not decoded)")
                return off, None
        return off, et

    def sll(self) -> tuple[int, int | None]:
        d = self.d
        if not self.have(0, 16):
            self.add("sll", 0, 16, [])
            raise self.stop(ST_TRUNCATED, f"Linux cooked header cut at {self.n} of 16 bytes")
        ptype, hatype, alen = self.u16(0), self.u16(2), self.u16(4)
        proto = self.u16(14)
        addr = d[6 : 6 + min(alen, 8)]
        self.add("sll", 0, 16, [
            Field("sll.pkttype", "Packet type", _named(ptype, SLL_PACKET_TYPES), ptype, 0, 16),
            Field("sll.hatype", "Link-layer address type", _named(hatype, ARPHRD_NAMES),
                  hatype, 2, 16),
            Field("sll.halen", "Link-layer address length", f"{alen}", alen, 4, 16),
            Field("sll.src", "Source", _mac(addr) if addr else "(none)", d[6:14], 6, 64),
            Field("sll.protocol", "Protocol", _named(proto, ETHERTYPE_NAMES, "0x{:04x}"),
                  proto, 14, 16),
        ])
        if proto < ETHERTYPE_MIN:
            self.payload(16, self.n - 16, INTERNET, (3,), "Payload (not decoded)")
            return 16, None
        return 16, proto

    def sll2(self) -> tuple[int, int | None]:
        d = self.d
        if not self.have(0, 20):
            self.add("sll2", 0, 20, [])
            raise self.stop(ST_TRUNCATED, f"Linux cooked v2 header cut at {self.n} of 20 bytes")
        proto, ifindex, hatype = self.u16(0), self.u32(4), self.u16(8)
        ptype, alen = d[10], d[11]
        addr = d[12 : 12 + min(alen, 8)]
        self.add("sll2", 0, 20, [
            Field("sll.protocol", "Protocol", _named(proto, ETHERTYPE_NAMES, "0x{:04x}"),
                  proto, 0, 16),
            Field("sll.reserved", "Reserved", f"0x{self.u16(2):04x}", self.u16(2), 2, 16),
            Field("sll.ifindex", "Interface index", f"{ifindex}", ifindex, 4, 32),
            Field("sll.hatype", "Link-layer address type", _named(hatype, ARPHRD_NAMES),
                  hatype, 8, 16),
            Field("sll.pkttype", "Packet type", _named(ptype, SLL_PACKET_TYPES), ptype, 10, 8),
            Field("sll.halen", "Link-layer address length", f"{alen}", alen, 11, 8),
            Field("sll.src", "Source", _mac(addr) if addr else "(none)", d[12:20], 12, 64),
        ])
        if proto < ETHERTYPE_MIN:
            self.payload(20, self.n - 20, INTERNET, (3,), "Payload (not decoded)")
            return 20, None
        return 20, proto

    def null(self) -> tuple[int, int | None]:
        if not self.have(0, 4):
            self.add("null", 0, 4, [])
            raise self.stop(ST_TRUNCATED, f"loopback header cut at {self.n} of 4 bytes")
        le = int(_U32LE.unpack_from(self.d, 0)[0])
        fam, order = (le, "little-endian") if le <= 0xFFFF else (self.u32(0), "big-endian")
        et: int | None = None
        if fam == AF_INET:
            et, what = ETHERTYPE_IPV4, "AF_INET (IPv4)"
        elif fam in AF_INET6_VALUES:
            et, what = ETHERTYPE_IPV6, "AF_INET6 (IPv6)"
        else:
            what = "unknown"
        self.add("null", 0, 4, [
            Field("null.family", "Family", f"{fam} {what}, {order}", fam, 0, 32),
        ])
        if et is None:
            self.payload(4, self.n - 4, INTERNET, (3,), "Payload (not decoded)")
            return 4, None
        return 4, et

    def ppp(self) -> tuple[int, int | None]:
        d = self.d
        fields: list[Field] = []
        off = 0
        if self.n >= 2 and d[0] == 0xFF and d[1] == 0x03:
            fields.append(Field("ppp.address", "Address", "0xff", 0xFF, 0, 8))
            fields.append(Field("ppp.control", "Control", "0x03", 0x03, 1, 8))
            off = 2
        if off >= self.n:
            self.add("ppp", 0, off + 2, fields)
            raise self.stop(ST_TRUNCATED, "PPP header cut before the protocol field")
        if d[off] & 1:  # RFC 1661 §6.5 protocol field compression
            proto, plen = d[off], 1
        else:
            if not self.have(off, 2):
                self.add("ppp", 0, off + 2, fields)
                raise self.stop(ST_TRUNCATED, "PPP protocol field cut by the capture")
            proto, plen = self.u16(off), 2
        fields.append(Field("ppp.protocol", "Protocol", _named(proto, PPP_PROTOCOLS, "0x{:04x}"),
                            proto, off, plen * 8))
        self.add("ppp", 0, off + plen, fields)
        off += plen
        et = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}.get(proto)
        if et is None:
            self.payload(off, self.n - off, INTERNET, (3,), "Payload (not decoded)")
            return off, None
        return off, et

    def arp(self, off: int) -> None:
        d = self.d
        if not self.have(off, 8):
            self.add("arp", off, 28, [])
            raise self.stop(ST_OK, f"ARP header cut at {self.n - off} bytes")
        htype, ptype, hlen, plen, op = (self.u16(off), self.u16(off + 2), d[off + 4],
                                        d[off + 5], self.u16(off + 6))
        fields = [
            Field("arp.hw.type", "Hardware type", _named(htype, {1: "Ethernet"}), htype, off, 16),
            Field("arp.proto.type", "Protocol type", _named(ptype, ETHERTYPE_NAMES, "0x{:04x}"),
                  ptype, off + 2, 16),
            Field("arp.hw.size", "Hardware size", f"{hlen}", hlen, off + 4, 8),
            Field("arp.proto.size", "Protocol size", f"{plen}", plen, off + 5, 8),
            Field("arp.opcode", "Opcode", _named(op, ARP_OPS), op, off + 6, 16),
        ]
        p = off + 8
        for key, name, size in (("arp.src.hw", "Sender hardware address", hlen),
                                ("arp.src.proto", "Sender protocol address", plen),
                                ("arp.dst.hw", "Target hardware address", hlen),
                                ("arp.dst.proto", "Target protocol address", plen)):
            if not self.have(p, size):
                break
            raw = d[p : p + size]
            shown = _mac(raw) if size == 6 else (
                str(ipaddress.IPv4Address(raw)) if size == 4 else _hex(raw))
            fields.append(Field(key, name, shown, raw, p, size * 8))
            p += size
        total = 8 + 2 * (hlen + plen)
        self.add("arp", off, total, fields)
        self.end = min(off + total, self.n)
        if off + total > self.n:
            self.problems.append("ARP message cut by the capture")

    # ---- IPv4 (RFC 791)
    def ipv4(self, off: int) -> None:
        d = self.d
        s = self.s
        if not self.have(off, 20):
            self.add("ip", off, 20, self.ipv4_fixed_fields(off))
            raise self.stop(ST_TRUNCATED, f"IPv4 header cut at {self.n - off} of 20 bytes")
        b0 = d[off]
        ver, ihl = b0 >> 4, (b0 & 0x0F) * 4
        tl_field = self.u16(off + 2)
        fo = self.u16(off + 6)
        proto = d[off + 9]
        fields = self.ipv4_fixed_fields(off)
        if ver != 4:
            self.add("ip", off, 20, fields)
            raise self.stop(ST_MALFORMED, f"IP version {ver} where IPv4 was announced")
        if ihl < 20:
            self.add("ip", off, 20, fields)
            raise self.stop(ST_MALFORMED, f"IPv4 header length {ihl} < 20 (IHL {ihl // 4})")
        tl = tl_field
        if tl == 0:
            tl = self.wire - off
            self.problems.append("IPv4 total length 0: taken from the frame length (TSO)")
        if tl < ihl:
            self.add("ip", off, ihl, fields)
            raise self.stop(ST_MALFORMED, f"IPv4 total length {tl} < header length {ihl}")
        s["l3"] = 4
        s["ip_off"] = off
        s["ip_len"] = tl
        s["ip_proto"] = proto
        s["frag"] = (FRAG_MORE if fo & 0x2000 else 0) | (FRAG_OFFSET if fo & 0x1FFF else 0)
        s["src_hi"], s["src_lo"] = ip_to_halves(d[off + 12 : off + 16])
        s["dst_hi"], s["dst_lo"] = ip_to_halves(d[off + 16 : off + 20])
        fields.extend(self.ipv4_options(off + 20, off + ihl))
        self.add("ip", off, ihl, fields)
        if off + ihl > self.n:
            raise self.stop(ST_TRUNCATED, "IPv4 options cut by the capture")
        end = off + min(tl, self.wire - off)
        self.end = min(end, self.n)
        if tl > self.wire - off:
            self.problems.append(
                f"IPv4 total length {tl} exceeds the frame ({self.wire - off} bytes from IP)")
        if fo & 0x1FFF:
            self.payload(off + ihl, end - off - ihl, INTERNET, (3,),
                         f"Fragment data (offset {(fo & 0x1FFF) * 8})")
            self.padding()
            return
        self.transport(proto, off + ihl, end)

    def ipv4_fixed_fields(self, off: int) -> list[Field]:
        d = self.d
        out: list[Field] = []
        if self.have(off, 1):
            b0 = d[off]
            out.append(Field("ip.version", "Version", f"{b0 >> 4}", b0 >> 4, off, 4))
            out.append(Field("ip.hdr_len", "Header length (IHL)",
                             f"{(b0 & 15) * 4} bytes ({b0 & 15})", b0 & 15, off, 4, 4))
        if self.have(off + 1, 1):
            tos = d[off + 1]
            out.append(Field("ip.dsfield.dscp", "DSCP", f"{tos >> 2}", tos >> 2, off + 1, 6))
            out.append(Field("ip.dsfield.ecn", "ECN", f"{tos & 3}", tos & 3, off + 1, 2, 6))
        if self.have(off + 2, 2):
            tl = self.u16(off + 2)
            out.append(Field("ip.len", "Total length", f"{tl}", tl, off + 2, 16))
        if self.have(off + 4, 2):
            ident = self.u16(off + 4)
            out.append(Field("ip.id", "Identification", f"0x{ident:04x} ({ident})", ident,
                             off + 4, 16))
        if self.have(off + 6, 2):
            fo = self.u16(off + 6)
            out.append(Field("ip.flags.rb", "Reserved bit", _onoff(fo & 0x8000), fo >> 15,
                             off + 6, 1))
            out.append(Field("ip.flags.df", "Don't fragment (DF)", _onoff(fo & 0x4000),
                             (fo >> 14) & 1, off + 6, 1, 1))
            out.append(Field("ip.flags.mf", "More fragments (MF)", _onoff(fo & 0x2000),
                             (fo >> 13) & 1, off + 6, 1, 2))
            out.append(Field("ip.frag_offset", "Fragment offset",
                             f"{(fo & 0x1FFF) * 8} bytes ({fo & 0x1FFF})", fo & 0x1FFF,
                             off + 6, 13, 3))
        if self.have(off + 8, 1):
            out.append(Field("ip.ttl", "Time to live", f"{d[off + 8]}", d[off + 8], off + 8, 8))
        if self.have(off + 9, 1):
            p = d[off + 9]
            out.append(Field("ip.proto", "Protocol", _named(p, IP_PROTO_NAMES), p, off + 9, 8))
        if self.have(off + 10, 2):
            c = self.u16(off + 10)
            out.append(Field("ip.checksum", "Header checksum", f"0x{c:04x}", c, off + 10, 16))
        for key, name, o in (("ip.src", "Source", 12), ("ip.dst", "Destination", 16)):
            if self.have(off + o, 4):
                raw = d[off + o : off + o + 4]
                out.append(Field(key, name, str(ipaddress.IPv4Address(raw)), raw, off + o, 32))
        return out

    def ipv4_options(self, start: int, end: int) -> list[Field]:
        """IPv4 options (RFC 791 §3.1); problems are recorded, never raised."""
        names = {0: "End of Option List", 1: "No-Operation", 7: "Record Route",
                 68: "Timestamp", 131: "Loose Source Route", 137: "Strict Source Route",
                 148: "Router Alert", 130: "Security", 133: "Extended Security",
                 134: "Commercial IP Security (CIPSO)", 136: "Stream ID", 82: "Traceroute",
                 25: "Quick-Start"}
        d = self.d
        out: list[Field] = []
        p = start
        limit = min(end, self.n)
        while p < limit:
            kind = d[p]
            name = names.get(kind, f"Unknown option {kind}")
            if kind == 0:
                out.append(Field("ip.opt.eol", "Option: End of Option List", "EOL", kind, p,
                                 8 * (end - p)))
                break
            if kind == 1:
                out.append(Field("ip.opt.nop", "Option: No-Operation", "NOP", kind, p, 8))
                p += 1
                continue
            if p + 1 >= limit:
                self.problems.append(f"IPv4 option {kind} at offset {p}: length byte missing")
                break
            olen = d[p + 1]
            if olen < 2:
                self.problems.append(f"IPv4 option {kind} at offset {p}: length {olen} < 2")
                break
            if p + olen > end:
                self.problems.append(f"IPv4 option {kind} at offset {p} runs past the header")
                break
            if p + olen > self.n:
                self.problems.append(f"IPv4 option {kind} at offset {p} cut by the capture")
                break
            body = d[p + 2 : p + olen]
            shown = _hex(body) if body else "(empty)"
            if kind in (7, 131, 137) and len(body) >= 1:
                addrs = [str(ipaddress.IPv4Address(body[i : i + 4]))
                         for i in range(1, len(body) - 3, 4)]
                shown = f"pointer {body[0]}: " + ", ".join(addrs)
            elif kind == 148 and len(body) == 2:
                shown = f"{int.from_bytes(body, 'big')}"
            out.append(Field(f"ip.opt.{kind}", f"Option: {name}", shown, d[p : p + olen], p,
                             8 * olen))
            p += olen
        return out

    # ---- IPv6 (RFC 8200)
    def ipv6(self, off: int) -> None:
        d = self.d
        s = self.s
        fields = self.ipv6_fixed_fields(off)
        if not self.have(off, 40):
            self.add("ipv6", off, 40, fields)
            raise self.stop(ST_TRUNCATED, f"IPv6 header cut at {self.n - off} of 40 bytes")
        ver = d[off] >> 4
        if ver != 6:
            self.add("ipv6", off, 40, fields)
            raise self.stop(ST_MALFORMED, f"IP version {ver} where IPv6 was announced")
        plen = self.u16(off + 4)
        nxt = d[off + 6]
        tl = 40 + plen
        s["l3"] = 6
        s["ip_off"] = off
        s["ip_len"] = tl
        s["src_hi"], s["src_lo"] = ip_to_halves(d[off + 8 : off + 24])
        s["dst_hi"], s["dst_lo"] = ip_to_halves(d[off + 24 : off + 40])
        self.add("ipv6", off, 40, fields)
        end = off + min(tl, self.wire - off)
        self.end = min(end, self.n)
        if plen == 0 and nxt != IPPROTO_NONE:
            self.problems.append("IPv6 payload length 0 (jumbogram or TSO): not supported")
        p = off + 40
        while nxt in IPV6_EXT_HEADERS:
            key = {IPPROTO_HOPOPTS: "ipv6.hopopts", IPPROTO_ROUTING: "ipv6.routing",
                   IPPROTO_FRAGMENT: "ipv6.fragment", IPPROTO_DSTOPTS: "ipv6.dstopts",
                   IPPROTO_AH: "ah"}[nxt]
            label = LAYER_MODEL[key][0]
            if p + 8 > self.n:
                self.add(key, p, 8, [])
                raise self.stop(ST_TRUNCATED, f"{label} header at offset {p} cut by the capture")
            if p + 8 > end:
                self.add(key, p, 8, [])
                raise self.stop(ST_MALFORMED, f"{label} header at offset {p} runs past the "
                                "IPv6 payload")
            if nxt == IPPROTO_FRAGMENT:
                fo = self.u16(p + 2)
                s["frag"] |= (FRAG_MORE if fo & 1 else 0) | (FRAG_OFFSET if fo & 0xFFF8 else 0)
                ident = self.u32(p + 4)
                nh = d[p]
                self.add(key, p, 8, [
                    Field("ipv6.nxt", "Next header", _named(nh, IP_PROTO_NAMES), nh, p, 8),
                    Field("ipv6.fragment.reserved", "Reserved", f"{d[p + 1]}", d[p + 1], p + 1,
                          8),
                    Field("ipv6.fragment.offset", "Fragment offset",
                          f"{(fo >> 3) * 8} bytes ({fo >> 3})", fo >> 3, p + 2, 13),
                    Field("ipv6.fragment.res", "Reserved bits", f"{(fo >> 1) & 3}",
                          (fo >> 1) & 3, p + 3, 2, 5),
                    Field("ipv6.fragment.more", "More fragments (M)", _onoff(fo & 1), fo & 1,
                          p + 3, 1, 7),
                    Field("ipv6.fragment.id", "Identification", f"0x{ident:08x}", ident, p + 4,
                          32),
                ])
                nxt = nh
                p += 8
                if fo & 0xFFF8:
                    s["ip_proto"] = nxt
                    self.payload(p, end - p, INTERNET, (3,), f"Fragment data (offset "
                                 f"{(fo >> 3) * 8})")
                    self.padding()
                    return
                continue
            hlen = (d[p + 1] + 2) * 4 if nxt == IPPROTO_AH else (d[p + 1] + 1) * 8
            fields = self.ext_fields(nxt, p, hlen)
            self.add(key, p, hlen, fields)
            if p + hlen > end:
                raise self.stop(ST_MALFORMED, f"{label} header at offset {p} ({hlen} bytes) "
                                "runs past the IPv6 payload")
            if p + hlen > self.n:
                raise self.stop(ST_TRUNCATED, f"{label} header at offset {p} cut by the capture")
            nxt = d[p]
            p += hlen
        s["ip_proto"] = nxt
        self.transport(nxt, p, end)

    def ipv6_fixed_fields(self, off: int) -> list[Field]:
        d = self.d
        out: list[Field] = []
        if self.have(off, 4):
            w = self.u32(off)
            tc, fl = (w >> 20) & 0xFF, w & 0xFFFFF
            out.append(Field("ipv6.version", "Version", f"{w >> 28}", w >> 28, off, 4))
            out.append(Field("ipv6.tclass.dscp", "Traffic class: DSCP", f"{tc >> 2}", tc >> 2,
                             off, 6, 4))
            out.append(Field("ipv6.tclass.ecn", "Traffic class: ECN", f"{tc & 3}", tc & 3,
                             off + 1, 2, 2))
            out.append(Field("ipv6.flow", "Flow label", f"0x{fl:05x}", fl, off + 1, 20, 4))
        if self.have(off + 4, 2):
            plen = self.u16(off + 4)
            out.append(Field("ipv6.plen", "Payload length", f"{plen}", plen, off + 4, 16))
        if self.have(off + 6, 1):
            nh = d[off + 6]
            out.append(Field("ipv6.nxt", "Next header", _named(nh, IP_PROTO_NAMES), nh, off + 6,
                             8))
        if self.have(off + 7, 1):
            out.append(Field("ipv6.hlim", "Hop limit", f"{d[off + 7]}", d[off + 7], off + 7, 8))
        for key, name, o in (("ipv6.src", "Source", 8), ("ipv6.dst", "Destination", 24)):
            if self.have(off + o, 16):
                raw = d[off + o : off + o + 16]
                out.append(Field(key, name, str(ipaddress.IPv6Address(raw)), raw, off + o, 128))
        return out

    def ext_fields(self, nh_self: int, p: int, hlen: int) -> list[Field]:
        """Fields of a Hop-by-Hop, Destination Options, Routing or AH header."""
        d = self.d
        nh = d[p]
        out = [Field("ipv6.nxt", "Next header", _named(nh, IP_PROTO_NAMES), nh, p, 8)]
        if nh_self == IPPROTO_AH:  # RFC 4302 §2
            out.append(Field("ah.len", "Payload length", f"{d[p + 1]} ({hlen} bytes)", d[p + 1],
                             p + 1, 8))
            out.append(Field("ah.reserved", "Reserved", f"{self.u16(p + 2)}", self.u16(p + 2),
                             p + 2, 16))
            spi = self.u32(p + 4)
            out.append(Field("ah.spi", "SPI", f"0x{spi:08x}", spi, p + 4, 32))
            if self.have(p + 8, 4) and hlen >= 12:
                sq = self.u32(p + 8)
                out.append(Field("ah.sequence", "Sequence number", f"{sq}", sq, p + 8, 32))
                icv = d[p + 12 : min(p + hlen, self.n)]
                out.append(Field("ah.icv", "ICV", _hex(icv), icv, p + 12, 8 * len(icv)))
            return out
        out.append(Field("ipv6.opt.len", "Header length", f"{d[p + 1]} ({hlen} bytes)",
                         d[p + 1], p + 1, 8))
        if nh_self == IPPROTO_ROUTING:  # RFC 8200 §4.4
            rtype, left = d[p + 2], d[p + 3]
            rnames = {0: "Type 0 (deprecated)", 2: "Type 2 (Mobile IPv6)", 3: "RPL",
                      4: "Segment Routing (SRH)"}
            out.append(Field("ipv6.routing.type", "Routing type", _named(rtype, rnames), rtype,
                             p + 2, 8))
            out.append(Field("ipv6.routing.segleft", "Segments left", f"{left}", left, p + 3, 8))
            q, stop_at = p + 8, min(p + hlen, self.n)
            if rtype in (0, 2, 4):
                while q + 16 <= stop_at:
                    raw = d[q : q + 16]
                    out.append(Field("ipv6.routing.addr", "Address",
                                     str(ipaddress.IPv6Address(raw)), raw, q, 128))
                    q += 16
            body = d[p + 4 : p + 8] if rtype in (0, 2, 4) else d[p + 4 : stop_at]
            out.insert(4, Field("ipv6.routing.data", "Type-specific data", _hex(body), body,
                                p + 4, 8 * len(body)))
            return out
        # Hop-by-Hop and Destination options: TLV options (RFC 8200 §4.2)
        onames = {0: "Pad1", 1: "PadN", 4: "Tunnel Encapsulation Limit", 5: "Router Alert",
                  7: "CALIPSO", 0x26: "Quick-Start", 0x31: "IOAM", 0x63: "RPL Option",
                  0x6D: "MPL Option", 0xC2: "Jumbo Payload", 0xC9: "Home Address"}
        q, stop_at = p + 2, min(p + hlen, self.n)
        while q < stop_at:
            t = d[q]
            if t == 0:
                out.append(Field("ipv6.opt.pad1", "Option: Pad1", "", 0, q, 8))
                q += 1
                continue
            if q + 2 > stop_at:
                self.problems.append(f"IPv6 option {t} at offset {q}: length byte missing")
                break
            olen = d[q + 1]
            if q + 2 + olen > p + hlen:
                self.problems.append(f"IPv6 option {t} at offset {q} runs past its header")
                break
            body = d[q + 2 : min(q + 2 + olen, stop_at)]
            name = onames.get(t, f"Unknown option 0x{t:02x}")
            shown = str(int.from_bytes(body, "big")) if t in (4, 5, 0xC2) and body else _hex(body)
            out.append(Field(f"ipv6.opt.{t}", f"Option: {name}", shown, d[q : q + 2 + olen], q,
                             8 * (2 + olen)))
            q += 2 + olen
        return out

    # ---- transport
    def transport(self, proto: int, l4: int, end: int) -> None:
        if proto == IPPROTO_TCP:
            self.tcp(l4, end)
        elif proto == IPPROTO_UDP:
            self.udp(l4, end)
        elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            self.icmp(proto, l4, end)
        else:
            self.payload(l4, end - l4, INTERNET, (3,),
                         f"{IP_PROTO_NAMES.get(proto, f'Protocol {proto}')} (not decoded)")
        self.padding()

    def tcp(self, l4: int, end: int) -> None:
        """TCP header (RFC 9293 §3.1; the AE bit is AccECN's, formerly NS)."""
        s = self.s
        s["l4_off"] = l4
        if l4 + 20 > self.n:
            self.add("tcp", l4, 20, self.tcp_fixed_fields(l4, self.n))
            raise self.stop(ST_TRUNCATED, f"TCP header cut at {self.n - l4} of 20 bytes")
        offflags = self.u16(l4 + 12)
        hl = (offflags >> 12) * 4
        s["sport"] = self.u16(l4)
        s["dport"] = self.u16(l4 + 2)
        s["seq"] = self.u32(l4 + 4)
        s["ack"] = self.u32(l4 + 8)
        s["tcp_flags"] = offflags & 0x0FFF
        s["window"] = self.u16(l4 + 14)
        s["tcp_hlen"] = hl
        fields = self.tcp_fixed_fields(l4, self.n)
        if hl < 20:
            self.add("tcp", l4, 20, fields)
            raise self.stop(ST_MALFORMED, f"TCP data offset {hl // 4} < 5 ({hl} bytes)")
        if l4 + hl > end:
            self.add("tcp", l4, hl, fields)
            raise self.stop(ST_MALFORMED, f"TCP header length {hl} exceeds the {end - l4} bytes "
                            "of IP payload")
        fields.extend(self.tcp_options(l4 + 20, l4 + hl))
        self.add("tcp", l4, hl, fields)
        s["payload_off"] = l4 + hl
        s["payload_len"] = end - l4 - hl
        if l4 + hl > self.n:
            raise self.stop(ST_TRUNCATED, f"TCP header cut at {self.n - l4} of {hl} bytes")
        self.payload(l4 + hl, end - l4 - hl, APPLICATION, (7, 6, 5), "Payload")

    def tcp_fixed_fields(self, l4: int, limit: int) -> list[Field]:
        out: list[Field] = []

        def ok(o: int, size: int) -> bool:
            return l4 + o + size <= limit

        if ok(0, 2):
            v = self.u16(l4)
            out.append(Field("tcp.srcport", "Source port", f"{v}", v, l4, 16))
        if ok(2, 2):
            v = self.u16(l4 + 2)
            out.append(Field("tcp.dstport", "Destination port", f"{v}", v, l4 + 2, 16))
        if ok(4, 4):
            v = self.u32(l4 + 4)
            out.append(Field("tcp.seq_raw", "Sequence number", f"{v}", v, l4 + 4, 32))
        if ok(8, 4):
            v = self.u32(l4 + 8)
            out.append(Field("tcp.ack_raw", "Acknowledgment number", f"{v}", v, l4 + 8, 32))
        if ok(12, 2):
            of = self.u16(l4 + 12)
            o = l4 + 12
            out.append(Field("tcp.hdr_len", "Data offset", f"{(of >> 12) * 4} bytes ({of >> 12})",
                             of >> 12, o, 4))
            out.append(Field("tcp.flags.res", "Reserved", f"{(of >> 9) & 7}", (of >> 9) & 7, o,
                             3, 4))
            for bit, key, name in ((AE, "ae", "AE (was NS)"), (CWR, "cwr", "CWR"),
                                   (ECE, "ece", "ECE"), (URG, "urg", "URG"), (ACK, "ack", "ACK"),
                                   (PSH, "psh", "PSH"), (RST, "rst", "RST"), (SYN, "syn", "SYN"),
                                   (FIN, "fin", "FIN")):
                pos = 15 - bit.bit_length() + 1  # bit index from the MSB of the 16-bit word
                out.append(Field(f"tcp.flags.{key}", name, _onoff(of & bit), 1 if of & bit else 0,
                                 o + pos // 8, 1, pos % 8))
        if ok(14, 2):
            v = self.u16(l4 + 14)
            out.append(Field("tcp.window_size_value", "Window", f"{v}", v, l4 + 14, 16))
        if ok(16, 2):
            v = self.u16(l4 + 16)
            out.append(Field("tcp.checksum", "Checksum", f"0x{v:04x}", v, l4 + 16, 16))
        if ok(18, 2):
            v = self.u16(l4 + 18)
            out.append(Field("tcp.urgent_pointer", "Urgent pointer", f"{v}", v, l4 + 18, 16))
        return out

    def tcp_options(self, start: int, end: int) -> list[Field]:
        opts, fields, problems = parse_tcp_options(self.d, start, end)
        self.options.extend(opts)
        self.problems.extend(problems)
        return fields

    def udp(self, l4: int, end: int) -> None:
        """UDP header (RFC 768)."""
        s = self.s
        fields: list[Field] = []
        lim = min(end, self.n)
        for o, key, name in ((0, "udp.srcport", "Source port"),
                             (2, "udp.dstport", "Destination port"),
                             (4, "udp.length", "Length"), (6, "udp.checksum", "Checksum")):
            if l4 + o + 2 <= lim:
                v = self.u16(l4 + o)
                shown = f"0x{v:04x}" if o == 6 else f"{v}"
                fields.append(Field(key, name, shown, v, l4 + o, 16))
        self.add("udp", l4, 8, fields)
        s["l4_off"] = l4
        if l4 + 8 > self.n:
            raise self.stop(ST_TRUNCATED, f"UDP header cut at {self.n - l4} of 8 bytes")
        ulen = self.u16(l4 + 4)
        s["sport"] = self.u16(l4)
        s["dport"] = self.u16(l4 + 2)
        if ulen < 8:
            raise self.stop(ST_MALFORMED, f"UDP length {ulen} < 8")
        if l4 + ulen > end:
            raise self.stop(ST_MALFORMED, f"UDP length {ulen} exceeds the {end - l4} bytes of "
                            "IP payload")
        if l4 + ulen < end:
            self.problems.append(f"UDP length {ulen} is shorter than the IP payload "
                                 f"({end - l4}); the rest is ignored")
        s["payload_off"] = l4 + 8
        s["payload_len"] = ulen - 8
        self.payload(l4 + 8, ulen - 8, APPLICATION, (7, 6, 5), "Payload")

    def icmp(self, proto: int, l4: int, end: int) -> None:
        """ICMP (RFC 792) / ICMPv6 (RFC 4443) header: type, code, checksum."""
        d = self.d
        v6 = proto == IPPROTO_ICMPV6
        key = "icmpv6" if v6 else "icmp"
        types = ICMPV6_TYPES if v6 else ICMP_TYPES
        fields: list[Field] = []
        lim = min(end, self.n)
        if l4 < lim:
            t = d[l4]
            fields.append(Field(f"{key}.type", "Type", _named(t, types), t, l4, 8))
        if l4 + 1 < lim:
            fields.append(Field(f"{key}.code", "Code", f"{d[l4 + 1]}", d[l4 + 1], l4 + 1, 8))
        if l4 + 4 <= lim:
            c = self.u16(l4 + 2)
            fields.append(Field(f"{key}.checksum", "Checksum", f"0x{c:04x}", c, l4 + 2, 16))
        self.s["l4_off"] = l4
        if l4 + 4 > self.n:
            self.add(key, l4, 4, fields)
            raise self.stop(ST_TRUNCATED, f"{LAYER_MODEL[key][0]} header cut by the capture")
        if l4 + 4 > end:
            self.add(key, l4, 4, fields)
            raise self.stop(ST_MALFORMED, f"{LAYER_MODEL[key][0]} header does not fit the IP "
                            "payload")
        t = d[l4]
        hlen = 4
        echo = (0, 8, 13, 14) if not v6 else (128, 129)
        if t in echo and l4 + 8 <= lim:
            ident, sq = self.u16(l4 + 4), self.u16(l4 + 6)
            fields.append(Field(f"{key}.ident", "Identifier", f"0x{ident:04x} ({ident})", ident,
                                l4 + 4, 16))
            fields.append(Field(f"{key}.seq", "Sequence number", f"{sq}", sq, l4 + 6, 16))
            hlen = 8
        elif not v6 and l4 + 8 <= lim:
            rest = d[l4 + 4 : l4 + 8]
            fields.append(Field("icmp.rest", "Rest of header", _hex(rest), rest, l4 + 4, 32))
            hlen = 8
        self.add(key, l4, hlen, fields)
        what = "quoted datagram" if t in ((3, 4, 5, 11, 12) if not v6 else (1, 2, 3, 4)) else "data"
        self.payload(l4 + hlen, end - l4 - hlen, INTERNET, (3,), f"ICMP {what}")

    # ---- what is left
    def payload(self, off: int, length: int, tcpip: str, osi: tuple[int, ...], name: str) -> None:
        if length <= 0:
            return
        raw = self.d[off : min(off + length, self.n)]
        fields = [Field("data.len", "Length", f"{length} bytes"
                        + (f" ({len(raw)} captured)" if len(raw) < length else ""), length, off,
                        8 * length)]
        if raw:
            fields.append(Field("data.data", "Data", _hex(raw), raw, off, 8 * len(raw)))
            fields.append(Field("data.text", "As text", _printable(raw[:64]), raw[:64], off,
                                8 * len(raw[:64])))
        self.layers.append(Layer("payload", name, off, length, tcpip, osi, tuple(fields),
                                 truncated=off + length > self.n))

    def padding(self) -> None:
        """Bytes after the IP datagram / ARP message (Ethernet minimum-size padding)."""
        if self.end < self.n:
            raw = self.d[self.end : self.n]
            self.layers.append(Layer("padding", "Padding", self.end, len(raw), LINK, (2,), (
                Field("padding", "Padding", _hex(raw), raw, self.end, 8 * len(raw)),)))


def _printable(b: bytes) -> str:
    return "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in b)


# --------------------------------------------------------------------------
# TCP options
# --------------------------------------------------------------------------

#: kind -> (snake_case name, display label); IANA "TCP Option Kind Numbers"
TCP_OPTION_KINDS: dict[int, tuple[str, str]] = {
    0: ("eol", "End of Option List"), 1: ("nop", "No-Operation"),
    2: ("mss", "Maximum Segment Size"), 3: ("window_scale", "Window Scale"),
    4: ("sack_permitted", "SACK Permitted"), 5: ("sack", "SACK"),
    8: ("timestamps", "Timestamps"), 19: ("md5", "MD5 Signature"),
    27: ("quick_start", "Quick-Start Response"), 28: ("user_timeout", "User Timeout"),
    29: ("tcp_ao", "TCP Authentication Option"), 30: ("mptcp", "Multipath TCP"),
    34: ("tfo", "TCP Fast Open"), 69: ("encryption_negotiation", "Encryption Negotiation"),
    172: ("accecn0", "AccECN Order 0"), 174: ("accecn1", "AccECN Order 1"),
    253: ("experimental", "Experimental"), 254: ("experimental", "Experimental"),
}
#: RFC 6994 experiment ids seen in kinds 253/254
TCP_EXIDS = {0xF989: ("tfo", "TCP Fast Open (experimental)"),
             0xACCE: ("accecn0", "AccECN Order 0 (experimental)"),
             0xACCF: ("accecn1", "AccECN Order 1 (experimental)")}


def parse_tcp_options(data: bytes, start: int, end: int
                      ) -> tuple[list[TcpOption], list[Field], list[str]]:
    """Parse TCP options in ``data[start:end]`` (``end`` = header end per data offset).

    Returns the options, their display fields, and problems. A malformed option
    (length < 2, running past the header) ends the parse with a problem; bytes
    missing from the capture end it with a "cut by the capture" problem.
    """
    opts: list[TcpOption] = []
    fields: list[Field] = []
    problems: list[str] = []
    n = len(data)
    p = start
    while p < end:
        if p >= n:
            problems.append(f"TCP options cut by the capture at offset {p}")
            break
        kind = data[p]
        if kind == 0:  # RFC 9293 §3.2: end of the option list; the rest is padding
            opts.append(TcpOption(0, "eol", p, end - p, None))
            fields.append(Field("tcp.option.eol", "Option: End of Option List", "EOL", 0, p,
                                8 * (end - p)))
            break
        if kind == 1:
            opts.append(TcpOption(1, "nop", p, 1, None))
            fields.append(Field("tcp.option.nop", "Option: No-Operation", "NOP", 1, p, 8))
            p += 1
            continue
        name, label = TCP_OPTION_KINDS.get(kind, ("unknown", f"Unknown option {kind}"))
        if p + 1 >= end:
            problems.append(f"TCP option {kind} at offset {p}: no room for its length byte")
            break
        if p + 1 >= n:
            problems.append(f"TCP option {kind} at offset {p} cut by the capture")
            break
        olen = data[p + 1]
        if olen < 2:
            problems.append(f"TCP option {kind} at offset {p}: length {olen} < 2")
            break
        if p + olen > end:
            problems.append(f"TCP option {kind} at offset {p}: length {olen} runs past the "
                            f"header end at offset {end}")
            break
        if p + olen > n:
            problems.append(f"TCP option {kind} at offset {p} cut by the capture")
            break
        body = bytes(data[p + 2 : p + olen])
        value: int | tuple[int, int] | tuple[tuple[int, int], ...] | bytes | None = body
        subs: list[Field] = []
        shown = _hex(body) if body else ""
        bad = False
        if kind == 2:
            bad = olen != 4
            if not bad:
                value = int.from_bytes(body, "big")
                shown = f"{value}"
        elif kind == 3:
            bad = olen != 3
            if not bad:
                value = body[0]
                shown = f"shift {body[0]} (multiply by {1 << min(body[0], 14)})"
                if body[0] > 14:
                    problems.append(f"window scale shift {body[0]} > 14 (RFC 7323 §2.3: "
                                    "used as 14)")
        elif kind == 4:
            bad = olen != 2
            value, shown = None, "Set"
        elif kind == 5:
            bad = olen < 10 or (olen - 2) % 8 != 0
            if not bad:
                blocks = tuple((int.from_bytes(body[i : i + 4], "big"),
                                int.from_bytes(body[i + 4 : i + 8], "big"))
                               for i in range(0, len(body), 8))
                value = blocks
                shown = " ".join(f"{le}-{re}" for le, re in blocks)
                for i, (le, re) in enumerate(blocks):
                    subs.append(Field("tcp.options.sack_le", "Left edge", f"{le}", le,
                                      p + 2 + 8 * i, 32, level=1))
                    subs.append(Field("tcp.options.sack_re", "Right edge", f"{re}", re,
                                      p + 6 + 8 * i, 32, level=1))
        elif kind == 8:
            bad = olen != 10
            if not bad:
                tsval, tsecr = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big")
                value = (tsval, tsecr)
                shown = f"TSval {tsval}, TSecr {tsecr}"
                subs.append(Field("tcp.options.timestamp.tsval", "TSval", f"{tsval}", tsval,
                                  p + 2, 32, level=1))
                subs.append(Field("tcp.options.timestamp.tsecr", "TSecr", f"{tsecr}", tsecr,
                                  p + 6, 32, level=1))
        elif kind == 34:  # RFC 7413 §4.1.1: empty = cookie request, else 4..16 bytes
            bad = olen != 2 and not (6 <= olen <= 18 and olen % 2 == 0)
            if not bad:
                value = body
                shown = f"cookie {body.hex()}" if body else "cookie request"
        elif kind in (253, 254) and olen >= 4:  # RFC 6994 experiment id
            exid = int.from_bytes(body[:2], "big")
            if exid in TCP_EXIDS:
                name, label = TCP_EXIDS[exid]
                if name == "tfo":
                    value = body[2:]
                    shown = f"cookie {body[2:].hex()}" if body[2:] else "cookie request"
            else:
                shown = f"ExID 0x{exid:04x} {_hex(body[2:])}".rstrip()
        if bad:
            problems.append(f"TCP option {kind} ({label}) at offset {p}: unexpected length "
                            f"{olen}")
            value = body
        opts.append(TcpOption(kind, name, p, olen, value))
        fields.append(Field(f"tcp.option.{name}", f"Option: {label}", shown,
                            bytes(data[p : p + olen]), p, 8 * olen))
        fields.extend(subs)
        p += olen
    return opts, fields, problems


# --------------------------------------------------------------------------
# One line of text
# --------------------------------------------------------------------------

_FLAG_TEXT = ((FIN, "FIN"), (SYN, "SYN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
              (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"), (AE, "AE"), (0xE00, "Reserved"))


def tcp_flags_text(flags: int) -> str:
    """"SYN, ACK" in tshark's order."""
    return ", ".join(name for bit, name in _FLAG_TEXT if flags & bit) or "<None>"


def _summary_text(p: Packet) -> str:
    s = p.summary
    prefix = {ST_TRUNCATED: "[truncated] ", ST_MALFORMED: "[malformed] "}.get(s["status"], "")
    if s["status"] == ST_UNSUPPORTED_LINK:
        name = LINKTYPE_NAMES.get(p.frame.linktype, str(p.frame.linktype))
        return f"link type {name} not decoded ({p.frame.wirelen} bytes)"
    if s["sport"] >= 0 and s["tcp_flags"] >= 0:
        parts = [f"{s['sport']} → {s['dport']} [{tcp_flags_text(s['tcp_flags'])}]",
                 f"Seq={s['seq']}"]
        if s["tcp_flags"] & ACK:
            parts.append(f"Ack={s['ack']}")
        parts.append(f"Win={s['window']}")
        if s["tcp_flags"] & URG:
            tcp = p.layer("tcp")
            urg = next((f.raw for f in tcp.fields if f.key == "tcp.urgent_pointer"), None) \
                if tcp else None
            if isinstance(urg, int):
                parts.append(f"Urg={urg}")
        if s["payload_len"] >= 0:
            parts.append(f"Len={s['payload_len']}")
        for o in p.tcp_options:
            if o.name == "mss" and isinstance(o.value, int):
                parts.append(f"MSS={o.value}")
            elif o.name == "window_scale" and isinstance(o.value, int):
                parts.append(f"WS={1 << min(o.value, 14)}")
            elif o.name == "sack_permitted":
                parts.append("SACK_PERM")
            elif o.name == "timestamps" and isinstance(o.value, tuple):
                tsval, tsecr = o.value
                parts.append(f"TSval={tsval} TSecr={tsecr}")
            elif o.name == "sack" and isinstance(o.value, tuple):
                for blk in o.value:
                    if isinstance(blk, tuple):
                        parts.append(f"SLE={blk[0]} SRE={blk[1]}")
            elif o.name == "tfo" and isinstance(o.value, bytes):
                parts.append("TFO=C" if o.value else "TFO=R")
        return prefix + " ".join(parts)
    if s["sport"] >= 0:
        ln = f" Len={s['payload_len']}" if s["payload_len"] >= 0 else ""
        return f"{prefix}{s['sport']} → {s['dport']}{ln}"
    if s["l4_off"] >= 0 and s["ip_proto"] in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        v6 = s["ip_proto"] == IPPROTO_ICMPV6
        lay = p.layer("icmpv6" if v6 else "icmp")
        t, c = -1, -1
        for f in lay.fields if lay else ():
            if f.key.endswith(".type") and isinstance(f.raw, int):
                t = f.raw
            elif f.key.endswith(".code") and isinstance(f.raw, int):
                c = f.raw
        tn = (ICMPV6_TYPES if v6 else ICMP_TYPES).get(t, "Unknown")
        return f"{prefix}{'ICMPv6' if v6 else 'ICMP'} {tn} (type {t}, code {c})"
    if s["frag"] & FRAG_OFFSET:
        pn = IP_PROTO_NAMES.get(s["ip_proto"], str(s["ip_proto"]))
        return f"{prefix}Fragmented IP protocol ({pn} {s['ip_proto']}), {p.src} → {p.dst}"
    if s["l3"]:
        pn = IP_PROTO_NAMES.get(s["ip_proto"], f"protocol {s['ip_proto']}")
        why = f" ({p.problems[-1]})" if prefix and p.problems else ""
        return f"{prefix}{p.src} → {p.dst} {pn}{why}"
    arp = p.layer("arp")
    if arp is not None:
        af = {x.key: x for x in arp.fields}
        op = af.get("arp.opcode")
        spa, tpa, sha = af.get("arp.src.proto"), af.get("arp.dst.proto"), af.get("arp.src.hw")
        if op is not None and op.raw == 1 and spa and tpa:
            return f"{prefix}Who has {tpa.value}? Tell {spa.value}"
        if op is not None and op.raw == 2 and spa and sha:
            return f"{prefix}{spa.value} is at {sha.value}"
        return f"{prefix}ARP"
    if s["ethertype"] >= 0:
        return f"{prefix}{_named(s['ethertype'], ETHERTYPE_NAMES, 'Ethertype 0x{:04x}')}"
    if p.problems:
        return prefix + p.problems[-1]
    return f"{prefix}{p.layers[0].name if p.layers else 'frame'} ({p.frame.wirelen} bytes)"
