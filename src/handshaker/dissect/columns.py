"""The columns both decoders produce: the contract between ``dissect/`` and ``flow/``.

The columnar decoder (:mod:`handshaker.dissect.columnar`) fills one numpy
array per name below for a whole :class:`~handshaker.capture.model.FrameBatch`;
the per-packet decoder (:mod:`handshaker.dissect.packet`) gives the same
names as attributes of its ``Summary`` for one frame. A test runs both over
every capture in the corpus and requires equal values.

Addresses are 128-bit, split into two unsigned 64-bit halves; IPv4 addresses
are stored IPv4-mapped (``::ffff:a.b.c.d``) so one set of columns holds both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# status values
ST_OK = 0  # decoded as far as it goes (also: not IP, e.g. ARP; see l3)
ST_TRUNCATED = 1  # a header was cut by the capture length (snaplen / short frame)
ST_MALFORMED = 2  # a header contradicts itself (IHL < 5, TCP offset < 5, ...)
ST_UNSUPPORTED_LINK = 3  # link type handshaker does not decode

# frag bits
FRAG_MORE = 1  # more fragments follow (IPv4 MF / IPv6 M)
FRAG_OFFSET = 2  # not the first fragment (offset != 0)

# TCP flag bits as in the header's 12 low bits of offset/flags (AE was NS)
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100
FLAG_NAMES = (
    (FIN, "fin"), (SYN, "syn"), (RST, "rst"), (PSH, "psh"), (ACK, "ack"),
    (URG, "urg"), (ECE, "ece"), (CWR, "cwr"), (AE, "ae"),
)

# How both decoders fill the columns (decided in dissect/packet.py, the reference;
# the walk stops at the first problem, whatever was filled before it stays):
#
# * Link layer. Ethernet II (14 bytes); a type/length field < 0x0600 is an
#   802.3 length: ethertype -1, status OK, nothing more. Linux SLL (16 bytes,
#   protocol at 14) and SLL2 (20 bytes, protocol at 0): the protocol is the
#   ethertype when >= 0x0600, else -1 (802.2, CAN, ...), whatever the ARPHRD
#   type. BSD null (0) and loop (108): 4-byte family in either byte order (read
#   little-endian; if that is > 0xFFFF read big-endian); 2 -> 0x0800,
#   24/28/30 -> 0x86DD, else ethertype -1 with status OK. Raw IP (101): the
#   version nibble gives 0x0800/0x86DD, another nibble is ST_MALFORMED; 228 and
#   229 are IPv4/IPv6 whatever the nibble. PPP (9): optional ff 03, then a
#   protocol of 1 byte (odd first byte, RFC 1661 §6.5) or 2; 0x0021 -> 0x0800,
#   0x0057 -> 0x86DD, else ethertype -1 with status OK. Any other link type:
#   ST_UNSUPPORTED_LINK and nothing else. A link header shorter than that:
#   ST_TRUNCATED.
# * VLAN tags (after Ethernet, SLL and SLL2): any number of tags with TPID
#   0x8100, 0x88A8 or 0x9100; vlan is the VID of the outermost (first) tag,
#   whatever its TPID; a tag cut by the capture is ST_TRUNCATED (ethertype -1,
#   vlan kept if the first tag was whole); an inner type < 0x0600 is an 802.3
#   length (ethertype -1, OK).
# * Every header is judged in this order: (1) is its fixed part captured?
#   else ST_TRUNCATED; (2) is it consistent with itself and with the IP
#   lengths? else ST_MALFORMED; (3) is its variable part (IPv4/TCP options,
#   the rest of an extension header) captured? else ST_TRUNCATED. A header's
#   columns are filled after (2), so a truncated options area keeps them.
#   A payload cut by the capture is not a truncated header: status stays OK.
#   The content of options (IPv4, IPv6, TCP) is never judged here.
# * "wire" below is max(wirelen, caplen). The IP datagram ends at
#   ip_off + min(ip_len, wire - ip_off): Ethernet padding is ignored, and an IP
#   length larger than the frame is cut to the frame (as tshark's tcp.len).
#
#: name -> numpy dtype, in a fixed order. -1 means "absent" for signed columns.
COLUMNS: dict[str, type] = {
    "number": np.int64,  # frame number, 1-based
    "ts_ns": np.int64,  # capture time, ns since the epoch
    "wirelen": np.int32,
    "caplen": np.int32,
    "status": np.uint8,  # ST_*: what stopped the walk (see the rules above)
    # ethertype: the link layer's type for what follows the link header and
    # VLAN tags (SLL protocol, null family / PPP protocol / raw version mapped
    # to 0x0800 / 0x86DD); -1 when none (802.3 length, unknown family, cut tag)
    "ethertype": np.int32,
    "vlan": np.int32,  # VID of the outermost tag (0x8100/0x88A8/0x9100), -1 when untagged
    # l3: 4 = IPv4, 6 = IPv6, 0 = neither or not decodable. Set with ip_off,
    # ip_len, src/dst and (IPv4) ip_proto/frag once the fixed IP header (20/40
    # bytes) is captured and consistent: version nibble matches the link layer
    # (else ST_MALFORMED), IPv4 IHL >= 5 and total length >= IHL*4.
    "l3": np.uint8,
    "ip_off": np.int32,  # offset of the IP header in the frame, -1 none
    # ip_len: IPv4 total length / IPv6 40 + payload length, as in the header,
    # except an IPv4 total length of 0 (TSO, tshark's ip.tso_support) which is
    # wire - ip_off. An IPv6 payload length of 0 is taken literally (jumbograms,
    # RFC 2675, are not supported; tshark's ipv6.tso_support is off). -1 none.
    "ip_len": np.int32,
    # ip_proto: IPv4 protocol; IPv6: the next header after the extension
    # headers 0 (hop-by-hop), 43 (routing), 44 (fragment), 60 (destination
    # options) and 51 (AH, length (len+2)*4); the others are (len+1)*8. Any
    # other value (ESP 50, 59, 135, ...) ends the chain and is ip_proto. Each
    # extension header is judged as above (8 bytes captured / within the
    # datagram / whole header captured); when the chain stops on a problem
    # ip_proto is -1. A non-first IPv6 fragment ends the chain at its fragment
    # header: ip_proto is that header's next header.
    "ip_proto": np.int16,
    # frag: FRAG_MORE = IPv4 MF / IPv6 M; FRAG_OFFSET = offset != 0. An atomic
    # IPv6 fragment (offset 0, M=0) is 0. A non-first fragment has no transport
    # header: l4_off, ports and everything after stay -1, status OK. A first
    # fragment (MF, offset 0) is decoded like any packet (payload_len counts
    # this fragment only).
    "frag": np.uint8,
    "src_hi": np.uint64,
    "src_lo": np.uint64,
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    # l4_off: where the TCP (6) / UDP (17) / ICMP (1) / ICMPv6 (58) header
    # starts (any of the four after IPv4 or IPv6), set as soon as the IP header
    # with its options / extension headers is whole and this is not a later
    # fragment, even when the transport header itself is cut (status says so).
    # ICMP/ICMPv6: 4 bytes (type, code, checksum) captured, else ST_TRUNCATED;
    # IP payload < 4: ST_MALFORMED. Other protocols: -1.
    "l4_off": np.int32,
    # TCP: sport..tcp_hlen are filled together once the fixed 20 bytes are
    # captured (else ST_TRUNCATED and all -1). UDP: ports once its 8 bytes are.
    "sport": np.int32,  # -1 when not TCP/UDP
    "dport": np.int32,
    "tcp_flags": np.int16,  # 12 bits incl. AE (0x100) and reserved (0xe00); -1 not TCP
    "seq": np.int64,  # raw 32-bit sequence number; -1 not TCP
    "ack": np.int64,  # raw 32-bit acknowledgment number (even without ACK flag)
    "window": np.int32,  # raw (unscaled) window; -1 not TCP
    # tcp_hlen: data offset * 4 as in the header, even when it is wrong. < 20,
    # or beyond the IP datagram: ST_MALFORMED, payload_off/len -1. Options cut
    # by the capture: ST_TRUNCATED, but payload_off/len are still filled (the
    # segment length is known from the IP lengths; the flow stage needs it).
    "tcp_hlen": np.int16,
    # payload_off: offset of the TCP/UDP payload in the frame (may be >= caplen
    # when the capture cut it), -1 none (not TCP/UDP, or malformed).
    "payload_off": np.int32,
    # payload_len: TCP: datagram end - payload_off (= tshark's tcp.len);
    # UDP: udp length - 8, where a UDP length < 8 or beyond the IP datagram is
    # ST_MALFORMED (ports kept, payload -1); a UDP length shorter than the IP
    # payload is fine (the rest is ignored). -1 none. Derived from the IP/UDP
    # lengths, not from caplen. ICMP: -1.
    "payload_len": np.int32,
}

#: IPv4-mapped prefix in the high half
V4_MAPPED_HI = 0
V4_MAPPED_LO_PREFIX = 0x0000FFFF00000000


@dataclass(slots=True)
class PacketColumns:
    """One numpy array per name in :data:`COLUMNS`, all of the same length."""

    arrays: dict[str, npt.NDArray]

    def __len__(self) -> int:
        return len(self.arrays["number"])

    def __getitem__(self, name: str) -> npt.NDArray:
        return self.arrays[name]

    @classmethod
    def empty(cls, n: int) -> PacketColumns:
        arrays: dict[str, npt.NDArray] = {}
        for name, dtype in COLUMNS.items():
            signed = np.issubdtype(dtype, np.signedinteger)
            arrays[name] = np.full(n, -1 if signed else 0, dtype=dtype)
        return cls(arrays)


def ip_to_halves(packed: bytes) -> tuple[int, int]:
    """4- or 16-byte packed address -> (hi, lo) as stored in the columns."""
    if len(packed) == 4:
        return 0, V4_MAPPED_LO_PREFIX | int.from_bytes(packed, "big")
    v = int.from_bytes(packed, "big")
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


@functools.lru_cache(maxsize=1 << 16)
def halves_to_ip(hi: int, lo: int) -> str:
    """Inverse of :func:`ip_to_halves`, as text (IPv4 dotted, IPv6 compressed). (Asked
    for both ends of each new 4-tuple: the servers' addresses come again and again.)"""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return f"{(lo >> 24) & 0xFF}.{(lo >> 16) & 0xFF}.{(lo >> 8) & 0xFF}.{lo & 0xFF}"
    import ipaddress

    return str(ipaddress.IPv6Address((hi << 64) | lo))
