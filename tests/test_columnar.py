"""The columnar batch decoder, against tshark and against the per-packet reference.

* every corpus capture, frame by frame, against tshark 4.0 (the oracle);
* every corpus frame: the vectorized columns equal ``summarize()``'s dict, and
  ``decode_batch`` (vectorized + fallback) equals ``decode_reference`` (every
  row through ``summarize``), whatever the batch composition;
* synthetic frames for each link type and each odd IP/TCP/UDP case;
* frames cut at every length, in one batch: the right status, and no value
  taken from bytes past ``caplen`` (changing those bytes changes nothing);
* Hypothesis: random and mutated frames never raise and still agree.

The compiled decoder (dissect/_decode.c, decode_batch's path where it was built)
is held to the same: ``assert_agrees`` checks it beside the numpy path.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _batch_from_pcap import Row, batch_from_rows, read_frames
from conftest import corpus_captures, corpus_ids, tshark_fields
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handshaker.capture.model import FrameBatch
from handshaker.dissect.columnar import (
    MAX_VLAN_TAGS,
    _decode,
    decode_batch,
    decode_compiled,
    decode_reference,
    decode_vectorized,
)
from handshaker.dissect.columns import (
    COLUMNS,
    FRAG_MORE,
    FRAG_OFFSET,
    ST_MALFORMED,
    ST_OK,
    ST_TRUNCATED,
    ST_UNSUPPORTED_LINK,
    PacketColumns,
    halves_to_ip,
    ip_to_halves,
)
from handshaker.dissect.packet import summarize

CAPTURES = corpus_captures()
IDS = corpus_ids()
DECODED = [name for name in COLUMNS if name not in ("number", "ts_ns", "wirelen", "caplen")]
LINKTYPES = (0, 1, 9, 101, 108, 113, 228, 229, 276, 105)  # 105 (802.11): unsupported


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def batch_of(frames: Sequence[tuple[bytes, int] | tuple[bytes, int, int]],
             junk: bytes | None = None) -> FrameBatch:
    """One batch of (data, linktype[, wirelen]) frames, each followed in the buffer by
    ``junk`` (bytes past caplen that the decoder must never use)."""
    buf = bytearray()
    rows: list[Row] = []
    for k, f in enumerate(frames):
        data, lt = f[0], f[1]
        wire = f[2] if len(f) == 3 else len(data)  # type: ignore[misc]
        rows.append((len(buf), len(data), wire, k * 1000, lt))
        buf += data
        if junk is not None:
            buf += junk
    return batch_from_rows(bytes(buf), rows)


def row(cols: PacketColumns, i: int) -> dict[str, int]:
    return {name: int(cols[name][i]) for name in DECODED}


def reference_rows(batch: FrameBatch) -> list[dict[str, int]]:
    out = []
    for i in range(len(batch)):
        f = batch.frame(i)
        out.append(summarize(f.data, f.linktype, f.wirelen))
    return out


def assert_agrees(batch: FrameBatch) -> PacketColumns:
    """decode_batch == summarize() on every row; the vectorized path and its compiled
    twin on their own rows, which are the same."""
    cols = decode_batch(batch)
    vec, fallback = decode_vectorized(batch)
    paths = [("vectorized", vec)]
    if _decode is not None:
        compiled, compiled_fallback = decode_compiled(batch)
        assert compiled_fallback.tolist() == fallback.tolist()
        paths.append(("compiled", compiled))
    for i, ref in enumerate(reference_rows(batch)):
        assert row(cols, i) == ref, f"row {i}: decode_batch differs from summarize"
        for name, path in paths if not fallback[i] else ():
            assert row(path, i) == ref, f"row {i}: the {name} path differs from summarize"
    for name, dtype in COLUMNS.items():
        assert cols[name].dtype == dtype and len(cols[name]) == len(batch), name
    return cols


def assert_same(a: PacketColumns, b: PacketColumns) -> None:
    for name in COLUMNS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@functools.cache
def corpus_frames(path: Path) -> tuple[bytes, tuple[Row, ...]]:
    buf, rows = read_frames(path)
    return buf, tuple(rows)


def corpus_batch(path: Path) -> FrameBatch:
    buf, rows = corpus_frames(path)
    return batch_from_rows(buf, list(rows))


# ---- synthetic headers (checksums are not looked at) -----------------------

SRC4, DST4 = bytes([10, 0, 0, 1]), bytes([192, 0, 2, 7])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("fe800000000000000211223344556677")


def tcp(payload: bytes = b"", *, sport: int = 51000, dport: int = 443, seq: int = 0xFFFFFFFF,
        ack: int = 0x80000001, flags: int = 0x018, win: int = 65535, options: bytes = b"",
        doff: int | None = None) -> bytes:
    doff = (20 + len(options)) // 4 if doff is None else doff
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (doff << 12) | flags, win, 0,
                       0) + options + payload


def udp(payload: bytes = b"", *, sport: int = 5353, dport: int = 53,
        ulen: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if ulen is None else ulen,
                       0) + payload


def ipv4(proto: int, payload: bytes, *, options: bytes = b"", tot: int | None = None,
         frag: int = 0, ver: int = 4, ihl: int | None = None) -> bytes:
    ihl = (20 + len(options)) // 4 if ihl is None else ihl
    tot = 20 + len(options) + len(payload) if tot is None else tot
    return struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0, tot, 0x1234, frag, 64, proto, 0,
                       SRC4, DST4) + options + payload


def ipv6(nh: int, payload: bytes, *, plen: int | None = None, ver: int = 6) -> bytes:
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", ver << 28, plen, nh, 64, SRC6, DST6) + payload


def eth(et: int, payload: bytes, tags: Sequence[tuple[int, int]] = ()) -> bytes:
    """Ethernet II; ``tags`` = (TPID, VID) outermost first."""
    head = bytes(range(12))
    for tpid, vid in tags:
        head += struct.pack("!HH", tpid, 0x2000 | vid)  # PCP 1
    return head + struct.pack("!H", et) + payload


def sll(et: int, payload: bytes, hatype: int = 1) -> bytes:
    return struct.pack("!HHH8sH", 0, hatype, 6, bytes(8), et) + payload


def sll2(et: int, payload: bytes, hatype: int = 1) -> bytes:
    return struct.pack("!HHIHBB8s", et, 0, 3, hatype, 0, 6, bytes(8)) + payload


TCP4 = ipv4(6, tcp(b"hello"))
TCP6 = ipv6(6, tcp(b"hello", options=bytes([2, 4, 5, 0xB4])))


# ---------------------------------------------------------------------------
# corpus against tshark
# ---------------------------------------------------------------------------

TSHARK = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
          "tcp.window_size_value", "tcp.hdr_len", "tcp.len", "udp.length", "vlan.id"]


@functools.cache
def tshark_rows(path: Path) -> list[dict[str, str]]:
    rows = tshark_fields(path, TSHARK)
    # Repeated occurrences: the first is the outermost header. Later ones are
    # the packet quoted in an ICMP error, or a tunnel's inner packet.
    return [{k: v.split(",")[0] for k, v in zip(TSHARK, r, strict=True)} for r in rows]


@pytest.fixture(scope="module")
def tshark_prefetch() -> None:
    """Run tshark over the corpus 4 at a time (its start-up dominates)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(tshark_rows, [p for p in CAPTURES if corpus_frames(p)[1]]))


def _num(v: str) -> int:
    return int(v, 16) if v.startswith("0x") else int(v)


@pytest.mark.tshark
@pytest.mark.parametrize("path", CAPTURES, ids=IDS)
def test_corpus_matches_tshark(path: Path, tshark_prefetch: None) -> None:
    batch = corpus_batch(path)
    if not len(batch):
        return
    cols = decode_batch(batch)
    expected = tshark_rows(path)
    assert len(expected) == len(batch)
    checked = 0
    for i, t in enumerate(expected):
        c = row(cols, i)
        where = f"{path.name} frame {i + 1}"
        ok = c["status"] == ST_OK
        vlan = _num(t["vlan.id"]) if t["vlan.id"] else -1
        assert c["vlan"] == vlan or (not ok and c["vlan"] == -1), where
        if c["l3"]:
            v = "ip" if c["l3"] == 4 else "ipv6"
            assert halves_to_ip(c["src_hi"], c["src_lo"]) == t[f"{v}.src"], where
            assert halves_to_ip(c["dst_hi"], c["dst_lo"]) == t[f"{v}.dst"], where
        elif ok and c["ethertype"] not in (0x0800, 0x86DD):
            assert not t["ip.src"] and not t["ipv6.src"], where
        if c["frag"]:
            # tshark reassembles IP fragments: the first one carries no
            # transport fields there, the last one shows the whole datagram's.
            continue
        if c["ip_proto"] == 6:
            ours = {"tcp.srcport": c["sport"], "tcp.dstport": c["dport"],
                    "tcp.seq_raw": c["seq"], "tcp.ack_raw": c["ack"],
                    "tcp.flags": c["tcp_flags"], "tcp.window_size_value": c["window"],
                    "tcp.hdr_len": c["tcp_hlen"], "tcp.len": c["payload_len"]}
        elif c["ip_proto"] == 17:
            ours = {"udp.srcport": c["sport"], "udp.dstport": c["dport"],
                    "udp.length": c["payload_len"] + 8 if c["payload_len"] >= 0 else -1}
        else:
            # ICMP errors quote an IP packet whose ports tshark shows as
            # tcp/udp fields; tunnels likewise. Our columns stop at the outer header.
            assert c["sport"] == -1 and c["payload_len"] == -1, where
            continue
        for field, value in ours.items():
            if ok:  # fully decoded: every field there, and equal
                assert t[field] and _num(t[field]) == value, f"{where}: {field}"
                checked += 1
            elif value != -1 and t[field]:
                # cut or malformed: tshark shows what it could read, so do we,
                # but each stops at a different place: compare what both have.
                assert _num(t[field]) == value, f"{where}: {field}"
    assert checked or not any(cols["sport"] >= 0), "nothing compared"


# ---------------------------------------------------------------------------
# corpus against the reference decoder
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", CAPTURES, ids=IDS)
def test_corpus_agrees_with_reference(path: Path) -> None:
    """The key test of DESIGN.md: both decoders agree on every frame."""
    batch = corpus_batch(path)
    cols = assert_agrees(batch)
    assert_same(cols, decode_reference(batch))
    np.testing.assert_array_equal(cols["number"], np.arange(1, len(batch) + 1))


def test_corpus_in_one_mixed_batch_and_in_small_batches() -> None:
    """All corpus frames in one batch (link types mixed), then in batches of 7 (so
    that each layer meets both its dense and its sparse path): same columns."""
    buf = bytearray()
    rows: list[Row] = []
    per_file = []
    for path in CAPTURES:
        data, frows = corpus_frames(path)
        if not frows:
            continue
        per_file.append(decode_batch(batch_from_rows(data, list(frows))))
        rows += [(s + len(buf), c, w, t, lt) for s, c, w, t, lt in frows]
        buf += data
    whole = decode_batch(batch_from_rows(bytes(buf), rows))
    expected = {name: np.concatenate([c[name] for c in per_file]) for name in DECODED}
    for name in DECODED:
        np.testing.assert_array_equal(whole[name], expected[name], err_msg=name)
    small = [decode_batch(batch_from_rows(bytes(buf), rows[i : i + 7], i + 1))
             for i in range(0, len(rows), 7)]
    for name in COLUMNS:
        np.testing.assert_array_equal(np.concatenate([c[name] for c in small]), whole[name],
                                      err_msg=name)


def test_corpus_fallback_is_rare() -> None:
    total = fallback = 0
    for path in CAPTURES:
        batch = corpus_batch(path)
        if len(batch):
            total += len(batch)
            fallback += int(decode_vectorized(batch)[1].sum())
    # PPP (13 frames) and IPv6 extension headers (18) only
    assert 0 < fallback <= total // 100


# ---------------------------------------------------------------------------
# synthetic frames: link types and odd headers
# ---------------------------------------------------------------------------

LINK_CASES: dict[str, tuple[bytes, int]] = {
    "ether": (eth(0x0800, TCP4), 1),
    "ether-ipv6": (eth(0x86DD, TCP6), 1),
    "vlan": (eth(0x0800, TCP4, [(0x8100, 42)]), 1),
    "qinq": (eth(0x86DD, TCP6, [(0x88A8, 7), (0x8100, 42)]), 1),
    "qinq-9100": (eth(0x0800, TCP4, [(0x9100, 5), (0x8100, 6), (0x8100, 8)]), 1),
    "vlan-x5": (eth(0x0800, TCP4, [(0x8100, k) for k in range(1, 6)]), 1),
    "vlan-802.3": (eth(0x0040, b"\xaa\xaa\x03" + bytes(61), [(0x8100, 9)]), 1),
    "802.3": (eth(0x0040, b"\xaa\xaa\x03" + bytes(61)), 1),
    "arp": (eth(0x0806, bytes(28)), 1),
    "mpls": (eth(0x8847, bytes(4) + TCP4), 1),
    "sll": (sll(0x0800, TCP4), 113),
    "sll-vlan": (sll(0x8100, struct.pack("!HH", 3, 0x86DD) + TCP6), 113),
    "sll-netlink": (sll(0x0010, bytes(20), hatype=824), 113),
    "sll2": (sll2(0x86DD, TCP6), 276),
    "null-le": (struct.pack("<I", 2) + TCP4, 0),
    "null-be": (struct.pack(">I", 30) + TCP6, 0),
    "null-28": (struct.pack("<I", 28) + TCP6, 0),
    "null-unknown": (struct.pack("<I", 7) + TCP4, 0),
    "loop": (struct.pack(">I", 2) + TCP4, 108),
    "loop-le": (struct.pack("<I", 24) + TCP6, 108),
    "raw4": (TCP4, 101),
    "raw6": (TCP6, 101),
    "raw-bad-version": (b"\x50" + TCP4[1:], 101),
    "ipv4": (TCP4, 228),
    "ipv6": (TCP6, 229),
    "ipv4-says-6": (TCP6, 228),
    "ppp": (b"\xff\x03\x00\x21" + TCP4, 9),
    "ppp-short-proto": (b"\x57" + TCP6, 9),
    "802.11": (bytes(24) + TCP4, 105),
    "empty-ether": (b"", 1),
    "empty-raw": (b"", 101),
}


def test_link_types() -> None:
    names = list(LINK_CASES)
    cols = assert_agrees(batch_of(list(LINK_CASES.values()), junk=b"\x81\x00" * 40))
    got = {name: row(cols, i) for i, name in enumerate(names)}
    tcp4 = {"l3": 4, "ip_proto": 6, "sport": 51000, "dport": 443, "seq": 0xFFFFFFFF,
            "ack": 0x80000001, "tcp_flags": 0x018, "window": 65535, "payload_len": 5,
            "src_lo": ip_to_halves(SRC4)[1], "dst_lo": ip_to_halves(DST4)[1]}
    for name in ("ether", "vlan", "qinq-9100", "vlan-x5", "sll", "null-le", "loop", "raw4",
                 "ipv4", "ppp"):
        assert got[name]["status"] == ST_OK, name
        assert {k: got[name][k] for k in tcp4} == tcp4, name
        assert got[name]["ethertype"] == 0x0800
    for name in ("ether-ipv6", "qinq", "sll-vlan", "sll2", "null-be", "null-28", "loop-le",
                 "raw6", "ipv6", "ppp-short-proto"):
        c = got[name]
        assert (c["status"], c["l3"], c["ip_proto"], c["tcp_hlen"], c["payload_len"]) == (
            ST_OK, 6, 6, 24, 5), name
        assert (c["src_hi"], c["src_lo"]) == ip_to_halves(SRC6), name
        assert (c["dst_hi"], c["dst_lo"]) == ip_to_halves(DST6), name
    assert [got[n]["vlan"] for n in ("ether", "vlan", "qinq", "qinq-9100", "vlan-x5",
                                     "sll-vlan")] == [-1, 42, 7, 5, 1, 3]
    assert got["ether"]["ip_off"] == 14 and got["vlan"]["ip_off"] == 18
    assert got["vlan-x5"]["ip_off"] == 14 + 5 * 4
    for name in ("802.3", "vlan-802.3", "sll-netlink", "null-unknown"):
        assert (got[name]["status"], got[name]["ethertype"], got[name]["l3"]) == (ST_OK, -1, 0)
    assert (got["arp"]["ethertype"], got["arp"]["l3"]) == (0x0806, 0)
    assert (got["mpls"]["ethertype"], got["mpls"]["l3"]) == (0x8847, 0)
    assert got["raw-bad-version"]["status"] == ST_MALFORMED
    assert got["ipv4-says-6"]["status"] == ST_MALFORMED
    assert got["802.11"]["status"] == ST_UNSUPPORTED_LINK
    assert got["empty-ether"]["status"] == got["empty-raw"]["status"] == ST_TRUNCATED
    _, fallback = decode_vectorized(batch_of(list(LINK_CASES.values())))
    assert {n for n, f in zip(names, fallback, strict=True) if f} == {
        "ppp", "ppp-short-proto", "vlan-x5"}
    assert MAX_VLAN_TAGS < 5


IP_CASES: dict[str, bytes | tuple[bytes, int]] = {
    "ipv4-options": ipv4(6, tcp(b"x" * 9), options=bytes([0x94, 4, 0, 0, 1, 1, 1, 0])),
    "ipv4-tso-zero-length": (ipv4(6, tcp(b"y" * 100), tot=0), 0),
    "ipv4-padding": ipv4(6, tcp()) + bytes(6),
    "ipv4-length-beyond-wire": ipv4(6, tcp(b"z" * 10), tot=2000),
    "first-fragment": ipv4(17, udp(b"q" * 40), frag=0x2000),
    "later-fragment": ipv4(17, b"q" * 40, frag=0x0005),
    "last-fragment": ipv4(17, b"q" * 40, frag=0x0009),
    "df": ipv4(6, tcp(), frag=0x4000),
    "icmp": ipv4(1, bytes([8, 0, 0, 0, 0, 1, 0, 1]) + b"ping"),
    "icmp-short": ipv4(1, bytes([8, 0])) + bytes(10),  # padding: 4 bytes captured
    "icmp-error": ipv4(1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + ipv4(6, tcp())[:28]),
    "gre": ipv4(47, bytes(4) + TCP4),
    "ipip": ipv4(4, TCP4),
    "bad-version": ipv4(6, tcp(), ver=5),
    "ihl-4": ipv4(6, tcp(), ihl=4),
    "tot-below-ihl": ipv4(6, tcp(), tot=19),
    "tcp-doff-4": ipv4(6, tcp(b"abc", doff=4)),
    "tcp-doff-beyond-ip": ipv4(6, tcp(options=bytes(8)), tot=20 + 24),
    "tcp-doff-15": ipv4(6, tcp(options=bytes(40))),
    "tcp-all-flags": ipv4(6, tcp(flags=0xFFF, seq=0, ack=0xFFFFFFFF, win=0)),
    "tcp-in-short-ip": ipv4(6, tcp(), tot=30),
    "udp": ipv4(17, udp(b"dns")),
    "udp-len-7": ipv4(17, udp(b"dns", ulen=7)),
    "udp-len-beyond-ip": ipv4(17, udp(b"dns", ulen=30)),
    "udp-len-short": ipv4(17, udp(b"dns-and-more", ulen=10)),
    "udp-zero-payload": ipv4(17, udp()),
    "ipv6-udp": ipv6(17, udp(b"quic" * 10)),
    "ipv6-icmpv6": ipv6(58, bytes([135, 0, 0, 0]) + bytes(20)),
    "ipv6-no-next": ipv6(59, b""),
    "ipv6-esp": ipv6(50, bytes(16)),
    "ipv6-zero-plen": ipv6(6, tcp(), plen=0),
    "ipv6-bad-version": ipv6(6, tcp(), ver=4),
    "ipv6-hopopts": ipv6(0, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + tcp()),
    "ipv6-atomic-fragment": ipv6(44, bytes([6, 0, 0, 0, 0, 0, 0, 1]) + tcp()),
    "ipv6-later-fragment": ipv6(44, bytes([17, 0, 0, 0x10, 0, 0, 0, 1]) + bytes(16)),
}


def ip_frame(name: str, packet: bytes) -> bytes:
    return eth(0x86DD if name.startswith("ipv6") else 0x0800, packet)


def test_ip_and_transport_cases() -> None:
    frames: list[tuple[bytes, int] | tuple[bytes, int, int]] = []
    for name, case in IP_CASES.items():
        data, wire = case if isinstance(case, tuple) else (case, 0)
        frames.append((ip_frame(name, data), 1, max(wire, len(data) + 14)))
    names = list(IP_CASES)
    cols = assert_agrees(batch_of(frames, junk=bytes(range(256))))
    got = {name: row(cols, i) for i, name in enumerate(names)}
    assert got["ipv4-options"]["l4_off"] == 14 + 28 and got["ipv4-options"]["payload_len"] == 9
    assert got["ipv4-tso-zero-length"]["ip_len"] == 20 + 20 + 100
    assert got["ipv4-padding"]["payload_len"] == 0
    assert got["ipv4-length-beyond-wire"]["payload_len"] == 10  # cut to the frame, as tshark
    assert got["first-fragment"]["frag"] == FRAG_MORE and got["first-fragment"]["sport"] == 5353
    assert got["later-fragment"]["frag"] == FRAG_OFFSET
    assert got["last-fragment"]["frag"] == FRAG_OFFSET
    for name in ("later-fragment", "last-fragment"):
        assert (got[name]["ip_proto"], got[name]["l4_off"], got[name]["sport"]) == (17, -1, -1)
    assert (got["df"]["frag"], got["df"]["sport"]) == (0, 51000)
    assert (got["icmp"]["l4_off"], got["icmp"]["sport"], got["icmp"]["status"]) == (34, -1, 0)
    assert got["icmp-short"]["status"] == ST_MALFORMED
    assert got["icmp-error"]["sport"] == -1
    assert (got["gre"]["ip_proto"], got["gre"]["l4_off"]) == (47, -1)
    for name in ("bad-version", "ihl-4", "tot-below-ihl", "ipv6-bad-version"):
        assert (got[name]["status"], got[name]["l3"]) == (ST_MALFORMED, 0), name
    for name in ("tcp-doff-4", "tcp-doff-beyond-ip"):
        c = got[name]
        assert (c["status"], c["sport"], c["payload_len"]) == (ST_MALFORMED, 51000, -1), name
    assert got["tcp-doff-15"]["tcp_hlen"] == 60 and got["tcp-doff-15"]["status"] == ST_OK
    c = got["tcp-all-flags"]
    assert (c["tcp_flags"], c["seq"], c["ack"], c["window"]) == (0xFFF, 0, 0xFFFFFFFF, 0)
    assert got["tcp-in-short-ip"]["status"] == ST_MALFORMED
    assert (got["udp"]["payload_off"], got["udp"]["payload_len"]) == (42, 3)
    for name in ("udp-len-7", "udp-len-beyond-ip"):
        c = got[name]
        assert (c["status"], c["sport"], c["payload_len"]) == (ST_MALFORMED, 5353, -1), name
    assert got["udp-len-short"]["payload_len"] == 2
    assert got["udp-zero-payload"]["payload_len"] == 0
    assert (got["ipv6-udp"]["l4_off"], got["ipv6-udp"]["payload_len"]) == (54, 40)
    assert (got["ipv6-icmpv6"]["ip_proto"], got["ipv6-icmpv6"]["l4_off"]) == (58, 54)
    assert (got["ipv6-no-next"]["ip_proto"], got["ipv6-no-next"]["l4_off"]) == (59, -1)
    assert got["ipv6-esp"]["ip_proto"] == 50
    assert got["ipv6-zero-plen"]["status"] == ST_MALFORMED  # taken literally: no room
    assert got["ipv6-hopopts"]["sport"] == 51000
    assert got["ipv6-atomic-fragment"]["frag"] == 0 and got["ipv6-atomic-fragment"]["seq"] >= 0
    assert got["ipv6-later-fragment"]["frag"] == FRAG_OFFSET
    _, fallback = decode_vectorized(batch_of(frames))
    assert {n for n, f in zip(names, fallback, strict=True) if f} == {
        "ipv6-hopopts", "ipv6-atomic-fragment", "ipv6-later-fragment"}


# ---------------------------------------------------------------------------
# truncation: every length, one batch, nothing read past caplen
# ---------------------------------------------------------------------------

# Ethernet (14) + IPv4 with 4 bytes of options (24) + TCP with 12 (32) + 10 bytes
FULL = eth(0x0800, ipv4(6, tcp(b"0123456789", options=bytes([2, 4, 5, 0xB4, 1, 1, 4, 2,
                                                             1, 3, 3, 7])),
                        options=bytes([1, 1, 1, 0])))


def expected_cut(n: int) -> dict[str, int]:
    """What a frame of FULL cut to ``n`` bytes must give (the column rules, by hand)."""
    if n < 14:
        return {"status": ST_TRUNCATED, "ethertype": -1, "l3": 0}
    if n < 34:  # fixed IPv4 header cut
        return {"status": ST_TRUNCATED, "ethertype": 0x0800, "l3": 0, "ip_off": -1}
    if n < 38:  # IPv4 options cut: IP columns kept, no transport
        return {"status": ST_TRUNCATED, "l3": 4, "ip_len": 66, "l4_off": -1, "sport": -1}
    if n < 58:  # fixed TCP header cut
        return {"status": ST_TRUNCATED, "l4_off": 38, "sport": -1, "seq": -1,
                "payload_len": -1}
    if n < 70:  # TCP options cut: fields and payload length kept
        return {"status": ST_TRUNCATED, "seq": 0xFFFFFFFF, "tcp_hlen": 32, "payload_off": 70,
                "payload_len": 10}
    return {"status": ST_OK, "seq": 0xFFFFFFFF, "payload_off": 70, "payload_len": 10}


@pytest.mark.parametrize("junk", [b"", bytes(80), b"\xff" * 80, FULL],
                         ids=["nothing", "zeros", "ones", "a-whole-frame"])
def test_truncated_at_every_length(junk: bytes) -> None:
    frames = [(FULL[:n], 1, len(FULL)) for n in range(len(FULL) + 1)]
    cols = assert_agrees(batch_of(frames, junk=junk))
    for n in range(len(FULL) + 1):
        got = row(cols, n)
        exp = expected_cut(n)
        assert {k: got[k] for k in exp} == exp, f"cut at {n}"
    # Whatever follows caplen in the buffer (nothing, zeros, ones, the rest of
    # the frame), the columns are the same: no value comes from past caplen.
    assert_same(cols, decode_batch(batch_of(frames, junk=bytes(range(256)))))


@pytest.mark.parametrize("full,linktype", [
    (FULL, 1),
    (eth(0x86DD, ipv6(17, udp(b"abcdef")), [(0x8100, 3), (0x88A8, 4)]), 1),
    (sll2(0x0800, ipv4(1, bytes(8))), 276),
    (struct.pack("<I", 30) + ipv6(58, bytes(8)), 0),
    (ipv6(0, bytes([6, 1]) + bytes(14) + tcp()), 229),  # to the fallback
    (b"\xff\x03\x00\x21" + TCP4, 9),
], ids=["ether-ipv4-tcp", "qinq-ipv6-udp", "sll2-icmp", "null-icmpv6", "raw6-hopopts", "ppp"])
def test_cut_frame_at_the_end_of_the_buffer(full: bytes, linktype: int) -> None:
    """Each cut frame alone, its bytes the last of the buffer: a read past
    caplen would run off the buffer. Then all cuts in one batch."""
    for n in range(len(full) + 1):
        assert_agrees(batch_of([(full[:n], linktype, len(full))]))
    assert_agrees(batch_of([(full[:n], linktype, len(full)) for n in range(len(full) + 1)]))


def test_batch_with_caplen_past_the_buffer() -> None:
    """A batch that claims more bytes than its buffer holds is read up to the buffer's end."""
    rows: list[Row] = [(0, len(FULL), len(FULL), 0, 1), (40, 200, 200, 0, 1)]
    cols, _ = decode_vectorized(batch_from_rows(FULL[:60], rows))
    assert row(cols, 0) == summarize(FULL[:60], 1, len(FULL))
    assert row(cols, 1) == summarize(FULL[40:60], 1, 200)


def test_empty_batch_and_tiny_buffer() -> None:
    cols = decode_batch(batch_from_rows(b"", []))
    assert len(cols) == 0 and all(len(cols[n]) == 0 for n in COLUMNS)
    assert_agrees(batch_of([(b"\x45", 101), (b"", 0), (b"\x00\x01", 113)]))


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

TEMPLATES = [FULL, *(f for f, _ in LINK_CASES.values()),
             *(ip_frame(n, c if isinstance(c, bytes) else c[0]) for n, c in IP_CASES.items())]
TEMPLATE_LT = [1, *(lt for _, lt in LINK_CASES.values()), *([1] * len(IP_CASES))]


@st.composite
def random_frames(draw: st.DrawFn) -> tuple[list[tuple[bytes, int, int]], bytes]:
    frames = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            data = draw(st.binary(max_size=100))
            lt = draw(st.sampled_from(LINKTYPES))
        else:  # a valid frame with a few bytes changed, cut somewhere
            k = draw(st.integers(0, len(TEMPLATES) - 1))
            data, lt = bytearray(TEMPLATES[k]), TEMPLATE_LT[k]
            for _ in range(draw(st.integers(0, 4))):
                if data:
                    data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
            data = bytes(data[: draw(st.integers(0, len(data)))])
        frames.append((data, lt, len(data) + draw(st.sampled_from([0, 0, 1, 1500]))))
    return frames, draw(st.binary(max_size=64))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_frames())
def test_random_frames_never_raise_and_agree(case: tuple[list[tuple[bytes, int, int]],
                                                         bytes]) -> None:
    frames, junk = case
    cols = assert_agrees(batch_of(frames, junk=junk))
    assert_same(cols, decode_batch(batch_of(frames, junk=junk[::-1] + b"\x00")))
    caplen = cols["caplen"].astype(np.int64)
    for name in ("ip_off", "l4_off"):  # l4_off may be caplen: the IP header ends there
        assert ((cols[name] == -1) | ((cols[name] >= 0) & (cols[name] <= caplen))).all()
    assert ((cols["seq"] >= -1) & (cols["seq"] <= 0xFFFFFFFF)).all()


def test_tuple_hash_collisions_fall_back_to_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 4-tuple on one hash (all multipliers 0): the check sees it and the rows are
    grouped by their bytes instead; the analysis is the same."""
    import numpy as np

    import handshaker.analysis as analysis
    from handshaker.render.json_out import connection_dict

    path = next(p for p in corpus_captures() if p.name == "tls-handshake.pcapng")  # 79
    normal: list = []
    analysis.analyze(path, on_connection=normal.append)
    assert len(normal) > 10
    monkeypatch.setattr(analysis, "_MIX", np.zeros(5, dtype=np.uint64))
    colliding: list = []
    analysis.analyze(path, on_connection=colliding.append)
    assert [connection_dict(c) for c in colliding] == [connection_dict(c) for c in normal]
