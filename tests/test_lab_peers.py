"""The lab scenarios make the traffic they promise: checked on real captures with tshark.

Every scenario runs between real peers on lo (kernel TCP, OpenSSL) under
tcpdump; tshark, not our own code, says what is in the capture. Root and
tshark are required in CI.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from pathlib import Path
from typing import Any

import loopback
import pytest
from conftest import ROOT, require, tshark_fields
from loopback import scenario_results

from handshaker.capture import open_capture
from handshaker.lab.loopcap import LabError, capture_loopback, capture_possible
from handshaker.lab.peers import (
    BROADCAST,
    MULTICAST_GROUP,
    REQUEST_PARTS,
    RESPONSE_PARTS,
    SNI,
    UDP_SIZES,
    key_pem_path,
    keylog_path,
    pick_port,
    tcp_short,
)

pytestmark = [pytest.mark.root, pytest.mark.tshark]

# The session fixture, made visible to this module's tests.
loopback_capture = loopback.loopback_capture

Capture = Any  # the loopback_capture fixture: Callable[[str], Path]

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
# tcp.completeness (Wireshark 4.0, two-pass): SYN 1, SYN-ACK 2, ACK 4, DATA 8, FIN 16, RST 32.
COMPLETE_FIN = 1 | 2 | 4 | 8 | 16
COMPLETE_RST = 1 | 2 | 4 | 8 | 32

TCP_FIELDS = ["frame.number", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags",
              "tcp.seq_raw", "tcp.ack_raw", "tcp.len"]


def tcp_rows(pcap: Path) -> list[dict[str, Any]]:
    rows = []
    for values in tshark_fields(pcap, TCP_FIELDS, display_filter="tcp"):
        row = dict(zip(TCP_FIELDS, values, strict=True))
        rows.append({
            "frame": int(row["frame.number"]),
            "stream": int(row["tcp.stream"]),
            "sport": int(row["tcp.srcport"]),
            "dport": int(row["tcp.dstport"]),
            "flags": int(row["tcp.flags"], 16),
            "seq": int(row["tcp.seq_raw"]),
            "ack": int(row["tcp.ack_raw"]),
            "len": int(row["tcp.len"]),
        })
    return rows


def frame_count(pcap: Path) -> int:
    return len(tshark_fields(pcap, ["frame.number"]))


def completeness(pcap: Path) -> list[int]:
    rows = tshark_fields(pcap, ["tcp.stream", "tcp.completeness"], two_pass=True)
    per_stream: dict[int, int] = {}
    for stream, value in rows:
        per_stream[int(stream)] = int(value)
    return [per_stream[s] for s in sorted(per_stream)]


def check_handshake(rows: list[dict[str, Any]], server_port: int) -> None:
    """SYN, SYN/ACK, ACK with the arithmetic of RFC 9293 §3.5."""
    syn, synack, ack = rows[:3]
    assert syn["flags"] == SYN and syn["dport"] == server_port and syn["len"] == 0
    assert synack["flags"] == SYN | ACK and synack["sport"] == server_port
    assert synack["ack"] == (syn["seq"] + 1) % 2**32
    assert ack["flags"] == ACK and ack["len"] == 0
    assert ack["seq"] == (syn["seq"] + 1) % 2**32
    assert ack["ack"] == (synack["seq"] + 1) % 2**32


def tls_fields(pcap: Path, fields: list[str], port: int, *, display_filter: str,
               keylog: Path | None = None, rsa_key: Path | None = None) -> list[list[str]]:
    extra = ["-d", f"tcp.port=={port},tls"]
    extra += ["-o", f"tls.keylog_file:{keylog.resolve() if keylog else ''}"]
    if rsa_key is not None:
        extra += ["-o", f'uat:rsa_keys:"{rsa_key.resolve()}",""']
    return tshark_fields(pcap, fields, display_filter=display_filter, extra=extra)


def server_port(pcap: Path, index: int = 0) -> int:
    port: int = scenario_results(pcap)[index]["server"]["port"]
    return port


# --------------------------------------------------------------------------- loopcap


def test_capture_possible_gives_a_reason() -> None:
    ok, why = capture_possible()
    assert isinstance(ok, bool)
    assert ok or why


def test_capture_counts_what_tshark_reads(tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    with capture_loopback(tmp_path / "short.pcap", f"tcp port {port}") as cap:
        tcp_short(port)
    assert cap.packets is not None and cap.packets >= 9
    assert frame_count(cap.path) == cap.packets


def test_capture_stops_when_the_block_raises(tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    with pytest.raises(RuntimeError), capture_loopback(tmp_path / "x.pcap", "udp port 9"):
        raise RuntimeError("boom")
    assert not [t for t in threading.enumerate() if t.name == "loopback-capture"]
    cap = open_capture(tmp_path / "x.pcap")
    assert list(cap) == [] and not cap.diagnostics  # a complete, empty pcapng


def test_capture_bad_filter_is_a_lab_error(tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    with pytest.raises(LabError, match="the capture did not start"), \
            capture_loopback(tmp_path / "bad.pcap", "tcp port ((("):
        pass


# --------------------------------------------------------------------------- TCP


def test_tcp_basic(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_basic")
    port = server_port(pcap)
    rows = tcp_rows(pcap)
    assert {r["stream"] for r in rows} == {0}
    check_handshake(rows, port)
    c2s = [r["len"] for r in rows if r["dport"] == port and r["len"]]
    s2c = [r["len"] for r in rows if r["sport"] == port and r["len"]]
    assert c2s == [len(p) for p in REQUEST_PARTS]
    assert s2c == [len(p) for p in RESPONSE_PARTS]
    # Seq advances by each segment's length.
    client_data = [r for r in rows if r["dport"] == port and r["len"]]
    for a, b in itertools.pairwise(client_data):
        assert b["seq"] == (a["seq"] + a["len"]) % 2**32
    fins = [r for r in rows if r["flags"] & FIN]
    assert [r["dport"] == port for r in fins] == [True, False]  # the client's FIN first
    assert not any(r["flags"] & RST for r in rows)
    last = rows[-1]
    assert last["flags"] == ACK and last["dport"] == port
    assert last["ack"] == (fins[1]["seq"] + 1) % 2**32
    assert completeness(pcap) == [COMPLETE_FIN]


def test_tcp_many_has_distinct_random_isns(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_many")
    port = server_port(pcap)
    rows = tcp_rows(pcap)
    syns = [r for r in rows if r["flags"] == SYN]
    synacks = [r for r in rows if r["flags"] == SYN | ACK]
    assert len(syns) == len(synacks) == 4
    assert len({r["sport"] for r in syns}) == 4
    assert len({r["seq"] for r in syns}) == 4
    assert len({r["seq"] for r in synacks}) == 4
    for stream in range(4):
        check_handshake([r for r in rows if r["stream"] == stream], port)
    assert completeness(pcap) == [COMPLETE_FIN] * 4


def test_tcp_server_closes_first(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_server_closes")
    port = server_port(pcap)
    rows = tcp_rows(pcap)
    check_handshake(rows, port)
    fins = [r for r in rows if r["flags"] & FIN]
    assert [r["sport"] == port for r in fins] == [True, False]
    assert completeness(pcap) == [COMPLETE_FIN]


def test_tcp_refused_is_syn_then_rst_ack(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_refused")
    port = server_port(pcap)
    rows = tcp_rows(pcap)
    assert [r["flags"] for r in rows] == [SYN, RST | ACK]
    syn, rst = rows
    assert syn["dport"] == port and rst["sport"] == port
    # RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, a SYN counting 1.
    assert rst["seq"] == 0 and rst["ack"] == (syn["seq"] + 1) % 2**32


def test_tcp_abort_ends_with_the_clients_rst(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_abort")
    port = server_port(pcap)
    rows = tcp_rows(pcap)
    check_handshake(rows, port)
    assert not any(r["flags"] & FIN for r in rows)
    assert any(r["len"] and r["dport"] == port for r in rows)
    assert any(r["len"] and r["sport"] == port for r in rows)
    last = rows[-1]
    assert last["flags"] & RST and last["dport"] == port
    assert completeness(pcap) == [COMPLETE_RST]


def test_reset_scenarios_share_one_capture(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tcp_refused+tcp_abort")
    rows = tcp_rows(pcap)
    assert {r["stream"] for r in rows} == {0, 1}
    assert sum(1 for r in rows if r["flags"] & RST) == 2


# --------------------------------------------------------------------------- UDP


def test_udp_basic_keeps_datagram_boundaries(loopback_capture: Capture) -> None:
    pcap = loopback_capture("udp_basic")
    result = scenario_results(pcap)[0]
    port = result["server"]["port"]
    fields = ["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.length"]
    rows = [dict(zip(fields, v, strict=True)) for v in tshark_fields(pcap, fields)]
    assert all(r["udp.length"] for r in rows), "every frame is UDP"
    unicast = [r for r in rows if r["ip.dst"] == "127.0.0.1"]
    c2s = [int(r["udp.length"]) - 8 for r in unicast if int(r["udp.dstport"]) == port]
    s2c = [int(r["udp.length"]) - 8 for r in unicast if int(r["udp.srcport"]) == port]
    assert c2s == result["datagrams"]["c2s"]
    assert c2s[1:] == list(UDP_SIZES)
    assert s2c == result["datagrams"]["s2c"]
    assert result["boundaries_kept"]
    assert [r["ip.dst"] for r in rows if r["ip.dst"] == BROADCAST] == [BROADCAST]
    multicast = [r for r in rows if r["ip.dst"] == MULTICAST_GROUP]
    assert len(multicast) == (1 if result["multicast"]["sent"] else 0)


def test_tcp_and_udp_side_by_side(loopback_capture: Capture) -> None:
    pcap = loopback_capture("udp_basic+tcp_short")
    multicast = scenario_results(pcap)[0]["multicast"]["sent"]
    streams = tshark_fields(pcap, ["tcp.stream", "udp.stream"])
    assert {s[0] for s in streams if s[0]} == {"0"}
    # unicast, broadcast (and multicast): one UDP "stream" per address pair
    assert len({s[1] for s in streams if s[1]}) == (3 if multicast else 2)


# --------------------------------------------------------------------------- TLS


def handshake_types(pcap: Path, port: int) -> list[int]:
    rows = tls_fields(pcap, ["tls.handshake.type"], port, display_filter="tls.handshake")
    return [int(t) for row in rows for t in row[0].split(",") if t]


def test_tls12_rsa(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tls12_rsa")
    port = server_port(pcap)
    suites = tls_fields(pcap, ["tls.handshake.ciphersuite"], port,
                        display_filter="tls.handshake.type == 2")
    assert suites == [["0x009c"]]
    types = handshake_types(pcap, port)
    assert 16 in types  # client_key_exchange: the encrypted premaster secret
    assert 12 not in types  # no server_key_exchange: RSA key exchange has none
    sni = tls_fields(pcap, ["tls.handshake.extensions_server_name"], port,
                     display_filter="tls.handshake.type == 1")
    assert sni == [[SNI]]
    keylog, key = keylog_path(pcap), key_pem_path(pcap)
    assert keylog.stat().st_size > 0 and b"RSA PRIVATE KEY" in key.read_bytes()
    assert not tls_fields(pcap, ["frame.number"], port, display_filter="http")
    assert len(tls_fields(pcap, ["frame.number"], port, display_filter="http",
                          keylog=keylog)) == 2
    # RSA key exchange: the server's private key alone opens the session.
    assert len(tls_fields(pcap, ["frame.number"], port, display_filter="http",
                          rsa_key=key)) == 2


def test_tls12_ecdhe(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tls12_ecdhe")
    port = server_port(pcap)
    suites = tls_fields(pcap, ["tls.handshake.ciphersuite"], port,
                        display_filter="tls.handshake.type == 2")
    assert suites == [["0xc02f"]]
    types = handshake_types(pcap, port)
    assert 12 in types and 16 in types  # server_key_exchange, client_key_exchange
    keylog = keylog_path(pcap)
    assert keylog.stat().st_size > 0
    assert len(tls_fields(pcap, ["frame.number"], port, display_filter="http",
                          keylog=keylog)) == 2


def test_tls13(loopback_capture: Capture) -> None:
    pcap = loopback_capture("tls13")
    port = server_port(pcap)
    versions = tls_fields(pcap, ["tls.handshake.extensions.supported_version"], port,
                          display_filter="tls.handshake.type == 2")
    assert versions == [["0x0304"]]
    keylog = keylog_path(pcap)
    assert keylog.stat().st_size > 0
    # Without keys only ClientHello and ServerHello are readable; with them,
    # the encrypted handshake opens up, both Finished messages included.
    assert 20 not in handshake_types(pcap, port)
    finished = tls_fields(pcap, ["frame.number"], port, keylog=keylog,
                          display_filter="tls.handshake.type == 20")
    assert len(finished) == 2
    assert len(tls_fields(pcap, ["frame.number"], port, display_filter="http",
                          keylog=keylog)) == 2


@pytest.mark.parametrize("name", ["tls12_rsa", "tls12_ecdhe", "tls13"])
def test_tls_closes_with_close_notify_then_fin(loopback_capture: Capture, name: str) -> None:
    pcap = loopback_capture(name)
    port = server_port(pcap)
    alerts = tls_fields(pcap, ["tcp.srcport", "tls.alert_message.desc"], port,
                        keylog=keylog_path(pcap), display_filter="tls.alert_message")
    assert [(int(p) == port, d) for p, d in alerts] == [(False, "0"), (True, "0")]
    assert completeness(pcap) == [COMPLETE_FIN]
    fins = [r for r in tcp_rows(pcap) if r["flags"] & FIN]
    assert [r["dport"] == port for r in fins] == [True, False]


# --------------------------------------------------------------------------- shipped captures

DATA = ROOT / "src" / "handshaker" / "data"
TOUR = {
    "tour-tcp.pcap": 1,
    "tour-isn.pcap": 4,
    "tour-udp.pcap": 1,
    "tour-reset.pcap": 2,
    "tour-tls12-rsa.pcap": 1,
    "tour-tls12-ecdhe.pcap": 1,
    "tour-tls13.pcap": 1,
}


@pytest.mark.parametrize("name", sorted(TOUR))
def test_shipped_tour_capture(name: str) -> None:
    require(shutil.which("tshark") is not None, "tshark is not installed")
    path = DATA / name
    assert path.is_file(), f"run scripts/make_tour_captures.py ({path} missing)"
    assert path.stat().st_size < 16 * 1024
    streams = {row[0] for row in tshark_fields(path, ["tcp.stream"]) if row[0]}
    assert len(streams) == TOUR[name]
    if "tls" in name:
        assert path.with_suffix(".keylog").stat().st_size > 0
    assert "tour-tls12-rsa.key.pem" in (DATA / "README.md").read_text()
