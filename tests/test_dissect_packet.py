"""The per-packet decoder against tshark, against itself, and against bad bytes.

* Every frame of every corpus capture: our summary (addresses, protocol,
  ports, Seq/Ack, flags, window, header length, tcp.len, udp.length, VLAN)
  and TCP options against tshark 4.0's fields.
* ``summarize()`` (the fast path) equals ``decode().summary`` (the layer
  walker), on the corpus and on random bytes.
* Hand-built edge cases: truncation at every byte, bad lengths, QinQ,
  IPv6 extension headers, every link type.
* Hypothesis: neither function raises on arbitrary bytes.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_captures, corpus_ids, read_frames, tshark_fields
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handshaker.capture.model import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_PPP,
    LINKTYPE_RAW,
    Frame,
)
from handshaker.dissect.columns import (
    ACK,
    AE,
    CWR,
    ECE,
    FRAG_MORE,
    FRAG_OFFSET,
    PSH,
    ST_MALFORMED,
    ST_OK,
    ST_TRUNCATED,
    ST_UNSUPPORTED_LINK,
    SYN,
    halves_to_ip,
)
from handshaker.dissect.packet import (
    LAYER_MODEL,
    Packet,
    decode,
    summarize,
)

# --------------------------------------------------------------------------
# tshark as the oracle
# --------------------------------------------------------------------------

FIELDS = [
    "frame.number", "frame.protocols", "vlan.id",
    "ip.src", "ip.dst", "ip.proto", "ip.flags.mf", "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.routing.nxt",
    "ipv6.dstopts.nxt", "ipv6.fraghdr.nxt", "ipv6.fraghdr.offset", "ipv6.fraghdr.more",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
    "tcp.window_size_value", "tcp.hdr_len", "tcp.len", "tcp.option_kind",
    "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr", "tcp.options.sack_perm", "tcp.options.sack_le",
    "tcp.options.sack_re", "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmpv6.type",
]
# Raw SACK edges; no reassembly, so that a fragment is shown as itself (the first
# fragment decoded as TCP/UDP, later ones as data), as our decoder sees it.
TSHARK_PREFS = ["-o", "tcp.relative_sequence_numbers:FALSE", "-o", "ip.defragment:FALSE",
                "-o", "ipv6.defragment:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE"]

EXT_TOKENS = {"ipv6.hopopts": "ipv6.hopopts.nxt", "ipv6.routing": "ipv6.routing.nxt",
              "ipv6.dstopts": "ipv6.dstopts.nxt", "ipv6.fraghdr": "ipv6.fraghdr.nxt"}
L4_TOKENS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}


def _rows(path: str) -> list[dict[str, str]]:
    rows = tshark_fields(path, FIELDS, extra=TSHARK_PREFS)
    return [dict(zip(FIELDS, r + [""] * (len(FIELDS) - len(r)), strict=True)) for r in rows]


@cache
def _all_corpus_rows() -> dict[str, list[dict[str, str]]]:
    """tshark's rows for every corpus capture, from one tshark run.

    tshark's start-up dominates (60 runs take ~25 s, one takes ~1 s), so the
    captures are concatenated with mergecap (pcapng keeps each one's link
    types) and the rows are split back by frame count. The fields compared are
    per-packet header fields with sequence analysis off, which do not depend
    on the neighbouring frames.
    """
    caps = [str(p) for p in corpus_captures()]
    if shutil.which("mergecap") is None:
        return {c: _rows(c) for c in caps}
    with tempfile.TemporaryDirectory() as tmp:
        merged = str(Path(tmp) / "corpus.pcapng")
        subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", merged, *caps], check=True,
                       capture_output=True)
        rows = _rows(merged)
    out: dict[str, list[dict[str, str]]] = {}
    k = 0
    for c in caps:
        n = len(frames_of(c))
        out[c] = rows[k : k + n]
        for i, row in enumerate(out[c], 1):
            row["frame.number"] = str(i)
        k += n
    assert k == len(rows), "mergecap/tshark saw a different number of frames"
    return out


def tshark_rows(path: str) -> list[dict[str, str]]:
    rows = _all_corpus_rows().get(path)
    return rows if rows is not None else _rows(path)


@cache
def frames_of(path: str) -> list[Frame]:
    return list(read_frames(path))


def occ(row: dict[str, str], key: str) -> list[str]:
    v = row.get(key, "")
    return v.split(",") if v else []


def first(row: dict[str, str], key: str) -> str | None:
    o = occ(row, key)
    return o[0] if o else None


def first_int(row: dict[str, str], key: str) -> int | None:
    v = first(row, key)
    return None if v is None else int(v, 0)


def tshark_layout(row: dict[str, str]) -> tuple[int, int | None, str | None]:
    """(l3, upper protocol number after the IPv6 chain, the token after IP) from frame.protocols.

    Only the outermost IP counts: an ICMP error quotes a second IP header, and
    tunnels carry one, which tshark lists again further on.
    """
    toks = row["frame.protocols"].split(":")
    net = next((i for i, t in enumerate(toks) if t in ("ip", "ipv6", "arp")), None)
    if net is None or toks[net] == "arp":
        return 0, None, None
    l3 = 4 if toks[net] == "ip" else 6
    i = net + 1
    seen: dict[str, int] = {}
    last_ext = None
    while i < len(toks) and toks[i] in EXT_TOKENS:
        seen[toks[i]] = seen.get(toks[i], 0) + 1
        last_ext = toks[i]
        i += 1
    nxt_tok = toks[i] if i < len(toks) else None
    if l3 == 4:
        return 4, first_int(row, "ip.proto"), nxt_tok
    if last_ext is None:
        return 6, first_int(row, "ipv6.nxt"), nxt_tok
    vals = occ(row, EXT_TOKENS[last_ext])
    k = seen[last_ext] - 1
    return 6, (int(vals[k]) if k < len(vals) else None), nxt_tok


def compare(frame: Frame, s: dict[str, int], pk: Packet, row: dict[str, str]) -> list[str]:
    """Where our decoding of one frame disagrees with tshark's."""
    errs: list[str] = []

    def eq(what: str, ours: object, theirs: object) -> None:
        if ours != theirs:
            errs.append(f"frame {frame.number} {what}: ours {ours!r}, tshark {theirs!r}")

    if s["status"] == ST_UNSUPPORTED_LINK:
        return errs
    # On a truncated/malformed frame we stop where tshark may still show a partial
    # header (e.g. ports from a TCP header cut at 12 bytes): compare only the
    # columns we filled. test_corpus_statuses pins down which frames those are.
    ok = s["status"] == ST_OK
    vlan = first_int(row, "vlan.id")
    if ok or s["vlan"] >= 0:
        eq("vlan.id", s["vlan"], -1 if vlan is None else vlan)

    l3, proto, l4tok = tshark_layout(row)
    if s["l3"] or ok:
        eq("l3", s["l3"], l3)
    if s["l3"] == 4 and l3 == 4:
        eq("ip.src", halves_to_ip(s["src_hi"], s["src_lo"]), first(row, "ip.src"))
        eq("ip.dst", halves_to_ip(s["dst_hi"], s["dst_lo"]), first(row, "ip.dst"))
        mf, fo = first_int(row, "ip.flags.mf"), first_int(row, "ip.frag_offset")
        eq("frag", s["frag"], (FRAG_MORE if mf else 0) | (FRAG_OFFSET if fo else 0))
    if s["l3"] == 6 and l3 == 6:
        eq("ipv6.src", halves_to_ip(s["src_hi"], s["src_lo"]), first(row, "ipv6.src"))
        eq("ipv6.dst", halves_to_ip(s["dst_hi"], s["dst_lo"]), first(row, "ipv6.dst"))
        more, fo = first(row, "ipv6.fraghdr.more"), first_int(row, "ipv6.fraghdr.offset")
        eq("frag", s["frag"], (FRAG_MORE if more in ("1", "True") else 0)
           | (FRAG_OFFSET if fo else 0))
    if s["l3"] == 0:
        eq("no addresses without IP", (s["src_hi"], s["src_lo"], s["dst_hi"], s["dst_lo"]),
           (0, 0, 0, 0))
    if s["ip_proto"] >= 0 or (ok and l3):
        eq("ip proto", s["ip_proto"], proto)

    # The transport header: only the one right after the outer IP header. With
    # reassembly off tshark shows a later fragment as data, like us.
    expect_l4 = L4_TOKENS.get(l4tok or "")
    if s["frag"] & FRAG_OFFSET:
        eq("later fragment has no L4", s["l4_off"], -1)
        return errs
    if ok:
        eq("transport", s["ip_proto"] if s["l4_off"] >= 0 else None, expect_l4)
    if s["tcp_flags"] >= 0 and expect_l4 == 6:
        eq("tcp.srcport", s["sport"], first_int(row, "tcp.srcport"))
        eq("tcp.dstport", s["dport"], first_int(row, "tcp.dstport"))
        eq("tcp.seq_raw", s["seq"], first_int(row, "tcp.seq_raw"))
        eq("tcp.ack_raw", s["ack"], first_int(row, "tcp.ack_raw"))
        eq("tcp.flags", s["tcp_flags"], first_int(row, "tcp.flags"))
        eq("tcp.window_size_value", s["window"], first_int(row, "tcp.window_size_value"))
        eq("tcp.hdr_len", s["tcp_hlen"], first_int(row, "tcp.hdr_len"))
        if s["payload_len"] >= 0 and not s["frag"]:
            eq("tcp.len", s["payload_len"], first_int(row, "tcp.len"))
        if not pk.problems:
            errs.extend(compare_options(frame, pk, row))
    if s["sport"] >= 0 and expect_l4 == 17:
        eq("udp.srcport", s["sport"], first_int(row, "udp.srcport"))
        eq("udp.dstport", s["dport"], first_int(row, "udp.dstport"))
        if s["payload_len"] >= 0:
            eq("udp.length", s["payload_len"] + 8, first_int(row, "udp.length"))
    if s["l4_off"] >= 0 and expect_l4 in (1, 58):
        key = "icmp" if expect_l4 == 1 else "icmpv6"
        lay = pk.layer(key)
        ours = next((f.raw for f in lay.fields if f.key == f"{key}.type"), None) if lay else None
        eq(f"{key}.type", ours, first_int(row, f"{key}.type"))
    return errs


def compare_options(frame: Frame, pk: Packet, row: dict[str, str]) -> list[str]:
    errs: list[str] = []

    def eq(what: str, ours: object, theirs: object) -> None:
        if ours != theirs:
            errs.append(f"frame {frame.number} {what}: ours {ours!r}, tshark {theirs!r}")

    kinds = [int(k) for k in occ(row, "tcp.option_kind")]
    while len(kinds) >= 2 and kinds[-1] == 0 and kinds[-2] == 0:
        kinds.pop()  # tshark lists every EOL padding byte; we keep one EOL
    eq("tcp.option_kind", [o.kind for o in pk.tcp_options], kinds)
    eq("mss", pk.mss, first_int(row, "tcp.options.mss_val"))
    eq("wscale", pk.window_scale, first_int(row, "tcp.options.wscale.shift"))
    tsval = first_int(row, "tcp.options.timestamp.tsval")
    tsecr = first_int(row, "tcp.options.timestamp.tsecr")
    eq("timestamps", pk.timestamps, None if tsval is None else (tsval, tsecr))
    eq("sack_perm", pk.sack_permitted, first(row, "tcp.options.sack_perm") is not None)
    le = [int(x) for x in occ(row, "tcp.options.sack_le")]
    re_ = [int(x) for x in occ(row, "tcp.options.sack_re")]
    eq("sack", list(pk.sack_blocks), list(zip(le, re_, strict=True)))
    return errs


@pytest.mark.tshark
@pytest.mark.parametrize("capture", corpus_captures(), ids=corpus_ids())
def test_corpus_against_tshark(capture: Path) -> None:
    frames = frames_of(str(capture))
    rows = tshark_rows(str(capture))
    assert len(rows) == len(frames), "tshark and our reader count different frames"
    errs: list[str] = []
    for frame, row in zip(frames, rows, strict=True):
        assert int(row["frame.number"]) == frame.number
        s = summarize(frame.data, frame.linktype, frame.wirelen)
        errs.extend(compare(frame, s, decode(frame), row))
    assert not errs, f"{len(errs)} disagreements, first: " + "\n".join(errs[:15])


@pytest.mark.parametrize("capture", corpus_captures(), ids=corpus_ids())
def test_corpus_summarize_equals_decode(capture: Path) -> None:
    for frame in frames_of(str(capture)):
        s = summarize(frame.data, frame.linktype, frame.wirelen)
        assert s == dict(decode(frame).summary), f"frame {frame.number}"
        # a memoryview is read the same as bytes
        assert summarize(memoryview(frame.data), frame.linktype, frame.wirelen) == s


def test_corpus_statuses() -> None:
    """The frames the corpus marks as cut are the ones we call truncated, and only those."""
    bad = {}
    for capture in corpus_captures():
        for frame in frames_of(str(capture)):
            st_ = summarize(frame.data, frame.linktype, frame.wirelen)["status"]
            if st_ != ST_OK:
                bad[(str(capture.relative_to(CORPUS)), frame.number)] = st_
    assert bad == {
        ("tcpdump/tcp_header_heapoverflow.pcap", 1): ST_TRUNCATED,  # TCP cut at 12 bytes
        ("zeek/tcp/truncated-header.pcap", 1): ST_TRUNCATED,  # TCP options cut
        ("zeek/trunc/trunc-hdr.pcap", 1): ST_TRUNCATED,  # Ethernet header cut
    }


# --------------------------------------------------------------------------
# Hand-built frames
# --------------------------------------------------------------------------

MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
V4_A, V4_B = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
V6_A = bytes.fromhex("20010db8000000000000000000000001")
V6_B = bytes.fromhex("20010db8000000000000000000000002")


def eth(ethertype: int, body: bytes) -> bytes:
    return MAC_B + MAC_A + struct.pack("!H", ethertype) + body


def vlan(tpid: int, vid: int, inner: int, pcp: int = 0) -> bytes:
    return struct.pack("!HHH", tpid, (pcp << 13) | vid, inner)


def ipv4(payload: bytes, proto: int = 6, *, options: bytes = b"", total: int | None = None,
         flags_frag: int = 0x4000, ihl: int | None = None, version: int = 4) -> bytes:
    ihl = ihl if ihl is not None else 5 + len(options) // 4
    total = total if total is not None else 20 + len(options) + len(payload)
    return struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total, 0x1234, flags_frag, 64,
                       proto, 0, V4_A, V4_B) + options + payload


def ipv6(payload: bytes, nxt: int = 6, *, plen: int | None = None) -> bytes:
    plen = len(payload) if plen is None else plen
    return struct.pack("!IHBB", 0x6000_0000 | 0x12345, plen, nxt, 64) + V6_A + V6_B + payload


def tcp(*, sport: int = 51234, dport: int = 443, seq: int = 1000, ack: int = 0,
        flags: int = SYN, window: int = 64240, options: bytes = b"", data: bytes = b"",
        offset: int | None = None) -> bytes:
    offset = offset if offset is not None else 5 + len(options) // 4
    return struct.pack("!HHIIHHHH", sport, dport, seq, ack, (offset << 12) | flags, window,
                       0xABCD, 0) + options + data


def udp(data: bytes, *, sport: int = 5353, dport: int = 53, length: int | None = None) -> bytes:
    length = 8 + len(data) if length is None else length
    return struct.pack("!HHHH", sport, dport, length, 0) + data


SYN_OPTIONS = (bytes([2, 4, 0x05, 0xB4, 4, 2, 8, 10]) + struct.pack("!II", 123456, 0)
               + bytes([1, 3, 3, 7]))  # MSS 1460, SACK_PERM, TS, NOP, WS 7 (20 bytes)


def frame(data: bytes, linktype: int = LINKTYPE_ETHERNET, wirelen: int | None = None,
          number: int = 1) -> Frame:
    return Frame(number, 0, linktype, data, len(data) if wirelen is None else wirelen)


def both(f: Frame) -> tuple[dict[str, int], Packet]:
    s = summarize(f.data, f.linktype, f.wirelen)
    pk = decode(f)
    assert s == dict(pk.summary)
    return s, pk


def test_syn_with_options() -> None:
    data = eth(0x0800, ipv4(tcp(options=SYN_OPTIONS)))
    s, pk = both(frame(data))
    assert s["status"] == ST_OK and s["l3"] == 4 and s["ip_proto"] == 6
    assert (s["sport"], s["dport"], s["seq"], s["tcp_flags"], s["tcp_hlen"]) == (
        51234, 443, 1000, SYN, 40)
    assert (s["payload_off"], s["payload_len"]) == (14 + 20 + 40, 0)
    assert (pk.mss, pk.window_scale, pk.sack_permitted, pk.timestamps) == (1460, 7, True,
                                                                           (123456, 0))
    assert [o.name for o in pk.tcp_options] == ["mss", "sack_permitted", "timestamps", "nop",
                                                "window_scale"]
    assert [lay.name for lay in pk.layers] == ["Ethernet II", "IPv4", "TCP"]
    assert pk.summary_text() == ("51234 → 443 [SYN] Seq=1000 Win=64240 Len=0 MSS=1460 "
                                 "SACK_PERM TSval=123456 TSecr=0 WS=128")
    tcp_layer = pk.layer("tcp")
    assert tcp_layer is not None and (tcp_layer.offset, tcp_layer.length) == (34, 40)
    keys = [f.key for f in tcp_layer.fields]
    for k in ("tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.hdr_len",
              "tcp.flags.ae", "tcp.flags.cwr", "tcp.flags.ece", "tcp.flags.urg", "tcp.flags.ack",
              "tcp.flags.psh", "tcp.flags.rst", "tcp.flags.syn", "tcp.flags.fin",
              "tcp.window_size_value", "tcp.checksum", "tcp.urgent_pointer",
              "tcp.option.mss", "tcp.options.timestamp.tsval", "tcp.option.window_scale"):
        assert k in keys
    # fields come in header order
    offsets = [f.offset * 8 + f.bit_offset for f in tcp_layer.fields if f.level == 0]
    assert offsets == sorted(offsets)
    syn = next(f for f in tcp_layer.fields if f.key == "tcp.flags.syn")
    assert (syn.offset, syn.bit_offset, syn.bits, syn.raw) == (47, 6, 1, 1)


def test_every_truncation_point() -> None:
    """Cut an Ethernet+IPv4(options)+TCP(options)+data frame at every byte."""
    payload = b"GET / HTTP/1.1\r\n"
    data = eth(0x0800, ipv4(tcp(options=SYN_OPTIONS, data=payload, flags=PSH | ACK),
                            options=bytes([7, 7, 4, 0, 0, 0, 0, 1])))  # RR + NOP
    full_ip, full_tcp = 14 + 28, 14 + 28 + 40
    for cut in range(len(data) + 1):
        s, pk = both(frame(data[:cut], wirelen=len(data)))
        if cut < 14:
            assert (s["status"], s["ethertype"]) == (ST_TRUNCATED, -1)
        elif cut < 14 + 20:
            assert (s["status"], s["ethertype"], s["l3"]) == (ST_TRUNCATED, 0x0800, 0)
        elif cut < full_ip:  # IPv4 options cut: the fixed header is kept
            assert (s["status"], s["l3"], s["l4_off"]) == (ST_TRUNCATED, 4, -1)
        elif cut < full_ip + 20:
            assert (s["status"], s["l4_off"], s["sport"]) == (ST_TRUNCATED, full_ip, -1)
        elif cut < full_tcp:  # TCP options cut: the fixed fields and lengths are kept
            assert (s["status"], s["sport"], s["payload_len"]) == (ST_TRUNCATED, 51234,
                                                                   len(payload))
            assert any("cut" in p for p in pk.problems)
        else:  # the payload may be cut: not a header problem
            assert (s["status"], s["payload_off"], s["payload_len"]) == (ST_OK, full_tcp,
                                                                         len(payload))
            assert pk.payload == payload[: cut - full_tcp]
        assert pk.summary_text() and "ICMP" not in pk.summary_text()


def test_tcp_data_offset_below_five() -> None:
    s, pk = both(frame(eth(0x0800, ipv4(tcp(offset=3, data=b"x" * 10)))))
    assert (s["status"], s["tcp_hlen"], s["payload_off"], s["payload_len"]) == (
        ST_MALFORMED, 12, -1, -1)
    assert s["sport"] == 51234  # the fixed header itself was read
    assert any("data offset" in p for p in pk.problems)


def test_tcp_header_beyond_ip_payload() -> None:
    s, _ = both(frame(eth(0x0800, ipv4(tcp(offset=15, data=b"x" * 10)))))
    assert (s["status"], s["tcp_hlen"], s["payload_len"]) == (ST_MALFORMED, 60, -1)


def test_ihl_below_five() -> None:
    s, pk = both(frame(eth(0x0800, ipv4(tcp(), ihl=4))))
    assert (s["status"], s["l3"], s["ip_off"]) == (ST_MALFORMED, 0, -1)
    assert pk.layer("ip") is not None and pk.layer("tcp") is None


def test_ip_version_must_match_the_link() -> None:
    s, _ = both(frame(eth(0x0800, ipv6(tcp()))))
    assert (s["status"], s["l3"]) == (ST_MALFORMED, 0)


def test_tcp_option_length_zero_and_one() -> None:
    for bad in (0, 1):
        opts = bytes([2, 4, 5, 0xB4, 8, bad, 0, 0])
        s, pk = both(frame(eth(0x0800, ipv4(tcp(options=opts)))))
        assert s["status"] == ST_OK  # option contents never change the status
        assert pk.mss == 1460 and pk.timestamps is None
        assert any(f"length {bad} < 2" in p for p in pk.problems)


def test_tcp_option_past_header_and_unknown_kept() -> None:
    opts = bytes([99, 4, 0xAA, 0xBB, 5, 18, 0, 0])  # unknown kind 99, SACK claiming 18 bytes
    _, pk = both(frame(eth(0x0800, ipv4(tcp(options=opts)))))
    assert pk.tcp_options[0].kind == 99 and pk.tcp_options[0].value == b"\xaa\xbb"
    assert any("runs past" in p for p in pk.problems)


def test_sack_tfo_and_eol() -> None:
    opts = (bytes([1, 1, 5, 18]) + struct.pack("!IIII", 10, 20, 30, 40)
            + bytes([34, 10]) + bytes(range(8)) + bytes([0, 0]))  # 32 bytes
    _, pk = both(frame(eth(0x0800, ipv4(tcp(options=opts, flags=ACK)))))
    assert pk.sack_blocks == ((10, 20), (30, 40))
    assert pk.tfo_cookie == bytes(range(8))
    assert [o.name for o in pk.tcp_options][-2:] == ["tfo", "eol"]
    assert "SLE=10 SRE=20 SLE=30 SRE=40" in pk.summary_text()
    assert not pk.problems


def test_tfo_cookie_request() -> None:
    _, pk = both(frame(eth(0x0800, ipv4(tcp(options=bytes([34, 2, 1, 1]))))))
    assert pk.tfo_cookie == b"" and "TFO=R" in pk.summary_text()


def test_qinq() -> None:
    data = eth(0x88A8, vlan(0x88A8, 100, 0x8100)[2:] + vlan(0x8100, 200, 0x0800)[2:]
               + ipv4(tcp()))
    s, pk = both(frame(data))
    assert (s["status"], s["vlan"], s["ethertype"], s["ip_off"], s["sport"]) == (
        ST_OK, 100, 0x0800, 22, 51234)
    assert [lay.name for lay in pk.layers] == ["Ethernet II", "802.1ad", "802.1Q", "IPv4",
                                               "TCP"]
    inner = pk.layers[2]
    vid = next(f for f in inner.fields if f.key == "vlan.id")
    assert (vid.raw, vid.offset, vid.bit_offset, vid.bits) == (200, 18, 4, 12)


def test_vlan_tag_cut() -> None:
    data = eth(0x8100, vlan(0x8100, 7, 0x8100)[2:] + b"\x00")
    s, _ = both(frame(data))
    assert (s["status"], s["vlan"], s["ethertype"]) == (ST_TRUNCATED, 7, -1)


def test_8023_length_frame_is_not_ip() -> None:
    s, pk = both(frame(eth(46, b"\xaa\xaa\x03" + bytes(43))))
    assert (s["status"], s["ethertype"], s["l3"]) == (ST_OK, -1, 0)
    assert pk.layers[0].name == "IEEE 802.3"


def test_ipv6_hop_by_hop_and_fragment() -> None:
    hbh = bytes([44, 0, 5, 2, 0, 0, 1, 0])  # next: fragment; Router Alert; PadN
    frag_first = struct.pack("!BBHI", 6, 0, 0x0001, 0xDEADBEEF)  # offset 0, M=1
    body = tcp(options=SYN_OPTIONS)
    s, pk = both(frame(eth(0x86DD, ipv6(hbh + frag_first + body, nxt=0))))
    assert (s["status"], s["l3"], s["ip_proto"], s["frag"]) == (ST_OK, 6, 6, FRAG_MORE)
    assert s["l4_off"] == 14 + 40 + 16 and s["sport"] == 51234
    assert [lay.name for lay in pk.layers] == ["Ethernet II", "IPv6", "IPv6 Hop-by-Hop",
                                               "IPv6 Fragment", "TCP"]
    names = [f.name for f in pk.layers[2].fields]
    assert "Option: Router Alert" in names
    # a later fragment: no transport header, ip_proto from the fragment header
    frag_later = struct.pack("!BBHI", 6, 0, (185 << 3), 0xDEADBEEF)
    s, pk = both(frame(eth(0x86DD, ipv6(hbh + frag_later + body, nxt=0))))
    assert (s["ip_proto"], s["frag"], s["l4_off"], s["sport"]) == (6, FRAG_OFFSET, -1, -1)
    assert pk.layers[-1].key == "payload" and "Fragment" in pk.summary_text()


def test_ipv6_routing_dstopts_ah() -> None:
    routing = bytes([60, 2, 0, 1, 0, 0, 0, 0]) + V6_B  # type 0, one address
    dst = bytes([51, 0, 1, 4, 0, 0, 0, 0])  # PadN
    ah = bytes([17, 4, 0, 0]) + struct.pack("!II", 0x100, 1) + bytes(12)  # (4+2)*4 = 24
    s, pk = both(frame(eth(0x86DD, ipv6(routing + dst + ah + udp(b"hi"), nxt=43))))
    assert (s["status"], s["ip_proto"], s["l4_off"]) == (ST_OK, 17, 14 + 40 + 24 + 8 + 24)
    assert (s["sport"], s["payload_len"]) == (5353, 2)
    assert [lay.key for lay in pk.layers][2:5] == ["ipv6.routing", "ipv6.dstopts", "ah"]


def test_ipv6_extension_header_past_payload_is_malformed() -> None:
    hbh = bytes([6, 3, 1, 0, 0, 0, 0, 0])  # claims 32 bytes, the payload has 8
    s, _ = both(frame(eth(0x86DD, ipv6(hbh, nxt=0))))
    assert (s["status"], s["l3"], s["ip_proto"]) == (ST_MALFORMED, 6, -1)


def test_ipv4_fragments() -> None:
    first_frag = eth(0x0800, ipv4(tcp(data=b"a" * 16), flags_frag=0x2000))
    s, _ = both(frame(first_frag))
    assert (s["frag"], s["sport"], s["payload_len"]) == (FRAG_MORE, 51234, 16)
    later = eth(0x0800, ipv4(b"b" * 24, flags_frag=0x0003))
    s, pk = both(frame(later))
    assert (s["status"], s["frag"], s["ip_proto"], s["l4_off"], s["sport"]) == (
        ST_OK, FRAG_OFFSET, 6, -1, -1)
    assert pk.layers[-1].name.startswith("Fragment data")


def test_ethernet_padding_and_ip_lengths() -> None:
    data = eth(0x0800, ipv4(tcp(flags=ACK))) + bytes(6)  # 54 bytes + 6 padding = 60
    s, pk = both(frame(data))
    assert (s["payload_len"], pk.layers[-1].key, pk.layers[-1].length) == (0, "padding", 6)
    # IP total length beyond the frame: the payload is cut to the frame, as tshark does
    data = eth(0x0800, ipv4(tcp(flags=ACK, data=b"z" * 30), total=100))
    s, pk = both(frame(data))
    assert (s["status"], s["ip_len"], s["payload_len"]) == (ST_OK, 100, 30)
    assert any("exceeds" in p for p in pk.problems)
    # total length 0 (TSO): the frame length is used (tshark's ip.tso_support)
    s, _ = both(frame(eth(0x0800, ipv4(tcp(data=b"z" * 30), total=0))))
    assert (s["status"], s["ip_len"], s["payload_len"]) == (ST_OK, 70, 30)
    # snaplen: the wire had the bytes, the capture kept fewer
    full = eth(0x0800, ipv4(tcp(flags=ACK, data=b"z" * 1000)))
    s, _ = both(frame(full[:96], wirelen=len(full)))
    assert (s["status"], s["payload_len"]) == (ST_OK, 1000)


def test_udp_lengths() -> None:
    s, _ = both(frame(eth(0x0800, ipv4(udp(b"hello"), proto=17))))
    assert (s["status"], s["sport"], s["payload_off"], s["payload_len"]) == (ST_OK, 5353, 42, 5)
    for bad in (4, 100):
        s, _ = both(frame(eth(0x0800, ipv4(udp(b"hello", length=bad), proto=17))))
        assert (s["status"], s["sport"], s["payload_len"]) == (ST_MALFORMED, 5353, -1)


def test_icmp() -> None:
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x42, 7) + b"ping"
    s, pk = both(frame(eth(0x0800, ipv4(echo, proto=1))))
    assert (s["status"], s["l4_off"], s["sport"], s["payload_len"]) == (ST_OK, 34, -1, -1)
    assert "Echo Request" in pk.summary_text()
    # 2 bytes of IP payload, padding behind: captured, but not within the datagram
    s, _ = both(frame(eth(0x0800, ipv4(b"\x08\x00", proto=1)) + bytes(10)))
    assert (s["status"], s["l4_off"]) == (ST_MALFORMED, 34)
    s, _ = both(frame(eth(0x0800, ipv4(b"\x08\x00\x00\x00", proto=1))[:36], wirelen=38))
    assert (s["status"], s["l4_off"]) == (ST_TRUNCATED, 34)


def test_arp() -> None:
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, V4_A, bytes(6), V4_B)
    s, pk = both(frame(eth(0x0806, body + bytes(18))))
    assert (s["status"], s["ethertype"], s["l3"]) == (ST_OK, 0x0806, 0)
    assert pk.summary_text() == "Who has 198.51.100.7? Tell 192.0.2.1"
    assert pk.layers[1].tcpip_layer == "Link" and pk.layers[-1].key == "padding"


@pytest.mark.parametrize("order", ["<I", ">I"])
@pytest.mark.parametrize("linktype", [LINKTYPE_NULL, LINKTYPE_LOOP])
def test_null_loopback_both_byte_orders(order: str, linktype: int) -> None:
    for fam, l3, body in ((2, 4, ipv4(tcp())), (24, 6, ipv6(tcp())), (28, 6, ipv6(tcp())),
                          (30, 6, ipv6(tcp()))):
        s, pk = both(frame(struct.pack(order, fam) + body, linktype))
        assert (s["status"], s["l3"], s["ip_off"], s["sport"]) == (ST_OK, l3, 4, 51234)
        assert pk.layers[0].name == "BSD loopback"
    s, _ = both(frame(struct.pack(order, 17) + ipv4(tcp()), linktype))
    assert (s["status"], s["ethertype"], s["l3"]) == (ST_OK, -1, 0)


def test_sll_and_sll2() -> None:
    sll = struct.pack("!HHH8sH", 4, 1, 6, MAC_A + b"\0\0", 0x0800)
    s, pk = both(frame(sll + ipv4(tcp()), LINKTYPE_LINUX_SLL))
    assert (s["status"], s["ip_off"], s["sport"]) == (ST_OK, 16, 51234)
    assert pk.layers[0].name == "Linux cooked capture v1"
    sll2 = struct.pack("!HHIHBB8s", 0x86DD, 0, 3, 1, 0, 6, MAC_A + b"\0\0")
    s, pk = both(frame(sll2 + ipv6(udp(b"x"), nxt=17), LINKTYPE_LINUX_SLL2))
    assert (s["status"], s["l3"], s["ip_off"], s["sport"], s["payload_len"]) == (
        ST_OK, 6, 20, 5353, 1)
    assert pk.layers[0].name == "Linux cooked capture v2"
    ifindex = next(f for f in pk.layers[0].fields if f.key == "sll.ifindex")
    assert ifindex.raw == 3
    # a VLAN tag after a cooked header
    s, _ = both(frame(struct.pack("!HHIHBB8s", 0x8100, 0, 3, 1, 0, 6, bytes(8))
                      + vlan(0, 42, 0x0800)[2:] + ipv4(tcp()), LINKTYPE_LINUX_SLL2))
    assert (s["vlan"], s["ip_off"], s["sport"]) == (42, 24, 51234)


def test_raw_ip_and_ppp() -> None:
    for lt in (LINKTYPE_RAW, LINKTYPE_IPV4):
        s, _ = both(frame(ipv4(tcp()), lt))
        assert (s["status"], s["ip_off"], s["ethertype"]) == (ST_OK, 0, 0x0800)
    s, _ = both(frame(ipv6(tcp()), LINKTYPE_RAW))
    assert (s["status"], s["l3"]) == (ST_OK, 6)
    s, _ = both(frame(ipv6(tcp()), LINKTYPE_IPV6))
    assert (s["status"], s["l3"]) == (ST_OK, 6)
    s, _ = both(frame(b"\x50" + bytes(30), LINKTYPE_RAW))
    assert s["status"] == ST_MALFORMED
    for hdr, off in ((b"\xff\x03\x00\x21", 4), (b"\x00\x21", 2), (b"\x21", 1)):
        s, _ = both(frame(hdr + ipv4(tcp()), LINKTYPE_PPP))
        assert (s["status"], s["ip_off"], s["sport"]) == (ST_OK, off, 51234)
    s, _ = both(frame(b"\xff\x03\x00\x57" + ipv6(tcp()), LINKTYPE_PPP))
    assert (s["l3"], s["ip_off"]) == (6, 4)
    s, _ = both(frame(b"\xc0\x21\x01\x01", LINKTYPE_PPP))  # LCP
    assert (s["status"], s["ethertype"], s["l3"]) == (ST_OK, -1, 0)


def test_unsupported_link() -> None:
    s, pk = both(frame(eth(0x0800, ipv4(tcp())), 274))
    assert s["status"] == ST_UNSUPPORTED_LINK and s["l3"] == 0
    assert pk.problems and "not decoded" in pk.summary_text()


def test_flags_text_and_ae() -> None:
    _, pk = both(frame(eth(0x0800, ipv4(tcp(flags=SYN | ECE | CWR | AE))),))
    assert "[SYN, ECE, CWR, AE]" in pk.summary_text()
    ae = next(f for f in pk.layer("tcp").fields if f.key == "tcp.flags.ae")  # type: ignore[union-attr]
    assert (ae.raw, ae.offset, ae.bit_offset) == (1, 46, 7)


def test_layer_models() -> None:
    _, pk = both(frame(eth(0x0800, ipv4(tcp(flags=PSH | ACK, data=b"hello")))))
    got = [(lay.name, lay.tcpip_layer, lay.osi_layers, lay.length) for lay in pk.layers]
    assert got == [("Ethernet II", "Link", (2,), 14), ("IPv4", "Internet", (3,), 20),
                   ("TCP", "Transport", (4,), 20), ("Payload", "Application", (7, 6, 5), 5)]
    for _, tcpip, osi in LAYER_MODEL.values():
        assert tcpip in ("Link", "Internet", "Transport", "Application")
        assert all(1 <= x <= 7 for x in osi)


def test_ip_fields_present() -> None:
    opts = bytes([148, 4, 0, 0])  # Router Alert
    _, pk = both(frame(eth(0x0800, ipv4(tcp(), options=opts))))
    ip = pk.layer("ip")
    assert ip is not None and ip.length == 24
    keys = {f.key: f for f in ip.fields}
    for k in ("ip.version", "ip.hdr_len", "ip.len", "ip.id", "ip.flags.df", "ip.flags.mf",
              "ip.frag_offset", "ip.ttl", "ip.proto", "ip.checksum", "ip.src", "ip.dst",
              "ip.opt.148"):
        assert k in keys
    assert keys["ip.ttl"].raw == 64 and keys["ip.flags.df"].raw == 1 and keys["ip.id"].raw == 0x1234
    _, pk6 = both(frame(eth(0x86DD, ipv6(tcp()))))
    keys6 = {f.key: f for f in pk6.layer("ipv6").fields}  # type: ignore[union-attr]
    assert keys6["ipv6.flow"].raw == 0x12345 and keys6["ipv6.hlim"].raw == 64
    assert (keys6["ipv6.flow"].offset, keys6["ipv6.flow"].bit_offset) == (15, 4)


# --------------------------------------------------------------------------
# Properties: never raise, and both walkers agree
# --------------------------------------------------------------------------

LINKTYPES = [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL,
             LINKTYPE_LOOP, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_PPP, 147]

# Random bytes rarely get past the link layer; splice them after valid prefixes.
PREFIXES = [
    b"", eth(0x0800, b""), eth(0x86DD, b""), eth(0x8100, b""), eth(0x0800, ipv4(b"")[:12]),
    eth(0x0800, ipv4(b"", proto=6)), eth(0x0800, ipv4(b"", proto=17)),
    eth(0x86DD, ipv6(b"", nxt=0)), eth(0x86DD, ipv6(b"", nxt=44)), eth(0x86DD, ipv6(b"", nxt=6)),
    eth(0x0800, ipv4(b"", options=bytes(8))),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LINKTYPES), st.binary(max_size=120), st.integers(0, 70000))
def test_random_bytes_never_raise(linktype: int, data: bytes, wirelen: int) -> None:
    s = summarize(data, linktype, wirelen)
    pk = decode(Frame(1, 0, linktype, data, wirelen))
    assert s == dict(pk.summary)
    pk.summary_text()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PREFIXES), st.binary(max_size=100), st.integers(0, 3000),
       st.sampled_from([0, 0x00FF, 0x4000, 0x2000, 0x0001, 0xFFFF]))
def test_valid_prefix_random_rest(prefix: bytes, rest: bytes, wirelen: int, word: int) -> None:
    data = bytearray(prefix + rest)
    if len(data) >= 18 and data[12:14] == b"\x08\x00":
        data[16:18] = struct.pack("!H", word)  # IPv4 total length: 0, small, large, ...
    s = summarize(bytes(data), LINKTYPE_ETHERNET, wirelen)
    pk = decode(Frame(1, 0, LINKTYPE_ETHERNET, bytes(data), wirelen))
    assert s == dict(pk.summary)
    pk.summary_text()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=40), st.integers(0, 60))
def test_random_tcp_options(opts: bytes, cut: int) -> None:
    # at most 40 bytes of options: the data offset (4 bits, in 32-bit words) ends at 60
    opts = opts + bytes(-len(opts) % 4)
    data = eth(0x0800, ipv4(tcp(options=opts)))
    f = frame(data[: len(data) - min(cut, len(data))], wirelen=len(data))
    _, pk = both(f)
    for o in pk.tcp_options:
        assert o.length >= 1 and o.offset >= 54


# --------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------


def test_summarize_is_quick() -> None:
    f = frame(eth(0x0800, ipv4(tcp(options=SYN_OPTIONS))))
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        summarize(f.data, f.linktype, f.wirelen)
    per = (time.perf_counter() - t0) / n
    assert per < 50e-6, f"summarize takes {per * 1e6:.1f} µs per packet"
