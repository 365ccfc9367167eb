"""Real kernel TCP on loopback, captured live, analysed, and checked against tshark.

Each scenario is made by real peers (handshaker.lab.peers); the test checks
the classification (handshake, close, who closed, conn_state) against what
the scenario did, and every segment's numbers against tshark.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback import loopback_capture, scenario_results  # noqa: F401 (fixture)
from test_flow_tshark import ANALYSIS_FIELDS, ours, tshark_view

from handshaker.analysis import analyze

pytestmark = [pytest.mark.root, pytest.mark.tshark]


def _agree_with_tshark(pcap: Path) -> None:
    ts = tshark_view(str(pcap))
    tcp, udp = ours(str(pcap))
    for frame, rec in ts.items():
        if rec["tcp.stream"]:
            stream, seq, ack, seq_raw, seglen, flags, bits = tcp[frame]
            assert (stream, seq, ack, seq_raw, seglen, flags) == (
                int(rec["tcp.stream"]), int(rec["tcp.seq"]), int(rec["tcp.ack"] or 0),
                int(rec["tcp.seq_raw"]), int(rec["tcp.len"]), int(rec["tcp.flags"], 16)), frame
            for field, mask in ANALYSIS_FIELDS.items():
                assert (rec[field] != "") == bool(bits & mask), (frame, field)
        if rec["udp.stream"]:
            assert udp[frame] == int(rec["udp.stream"])


def test_basic_connection(loopback_capture) -> None:  # noqa: F811
    pcap = loopback_capture("tcp_basic")
    _agree_with_tshark(pcap)
    (c,) = analyze(pcap).tcp
    assert c.handshake["state"] == "complete"
    assert c.close["kind"] in ("four_way", "three_way")
    assert c.close["initiator"] == "client"
    assert c.conn_state == "SF"
    assert c.history.startswith("ShA")
    (done,) = scenario_results(pcap)
    assert c.client.port == done["connections"][0]["client"]["port"]


def test_server_closes_first(loopback_capture) -> None:  # noqa: F811
    pcap = loopback_capture("tcp_server_closes")
    _agree_with_tshark(pcap)
    (c,) = analyze(pcap).tcp
    assert c.close["initiator"] == "server"
    assert c.close["time_wait"] == "server"


def test_refused_and_abort(loopback_capture) -> None:  # noqa: F811
    pcap = loopback_capture("tcp_refused+tcp_abort")
    _agree_with_tshark(pcap)
    refused, abort = analyze(pcap).tcp
    assert refused.handshake["state"] == "refused"
    assert refused.conn_state == "REJ"
    assert refused.close["kind"] == "reset" and refused.close["after"] == "syn"
    assert abort.handshake["state"] == "complete"
    assert abort.close["kind"] == "reset" and abort.close["initiator"] == "client"
    assert abort.conn_state == "RSTO"


def test_isns_are_random(loopback_capture) -> None:  # noqa: F811
    pcap = loopback_capture("tcp_many")
    _agree_with_tshark(pcap)
    conns = analyze(pcap).tcp
    assert len(conns) >= 4
    isns = {c.handshake["client_isn"] for c in conns} | {c.handshake["server_isn"] for c in conns}
    assert len(isns) == 2 * len(conns)


def test_udp(loopback_capture) -> None:  # noqa: F811
    pcap = loopback_capture("udp_basic")
    _agree_with_tshark(pcap)
    a = analyze(pcap, keep_udp=lambda n: True)
    assert a.udp
    kinds = {u.one_to_many for u in a.udp}
    assert "broadcast" in kinds
    sizes = [s for u in a.udp for s in (u.sizes or [])]
    assert len(set(sizes)) > 1  # datagram boundaries kept
