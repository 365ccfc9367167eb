"""Property tests: random TCP conversations, judged by tshark and by what was built.

Hypothesis draws ISNs (wrap-around included), SYN retransmissions, data cut
into random segments in both directions, disorder (a retransmitted segment,
two segments swapped, a segment the capture missed, a zero window, a
keep-alive) and a close of any kind. The pcap is analysed by handshaker and
by tshark: every segment's stream, relative Seq/Ack, length, flags and
tcp.analysis flags must agree, and the handshake and close must be classified
as built.
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest
from conftest import python_lane
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tcp_synth import ACK, FIN, PSH, RST, SYN, SYN_OPTS, Conversation, new_conversation
from test_flow_tshark import ANALYSIS_FIELDS, ours, tshark_view

from handshaker.analysis import analyze

pytestmark = pytest.mark.tshark

CLOSES = ("four_way", "three_way", "simultaneous", "rst_client", "rst_server", "none",
          "half_close")
DISORDER = ("none", "retransmit", "swap", "missed", "zero_window", "keep_alive")


def build(seed: int, isn_c: int, isn_s: int, syn_retries: int, sizes: list[tuple[str, int]],
          disorder: str, close: str) -> Conversation:
    rnd = random.Random(seed)
    cv = new_conversation(isn_c, isn_s, cport=rnd.randint(1024, 65535))
    for i in range(syn_retries + 1):
        if i:
            # the retransmitted SYN repeats the ISN (RFC 9293 §3.8.1), after a backed-off timer
            cv.emit("c", isn_c, 0, SYN, options=SYN_OPTS, gap_us=1_000_000 * 2 ** (i - 1))
        else:
            cv.send("c", SYN, options=SYN_OPTS)
    cv.send("s", SYN | ACK, options=SYN_OPTS, gap_us=300)
    cv.ack("c", gap_us=300)
    segments: list[tuple[str, int, bytes]] = []  # (who, seq, payload) in send order
    for who, size in sizes:
        me, _ = cv.side(who)
        left = size
        while left > 0:
            n = min(left, rnd.randint(1, 1460))
            segments.append((who, me.nxt, bytes(rnd.getrandbits(8) for _ in range(n))))
            me.nxt = (me.nxt + n) & 0xFFFFFFFF
            left -= n
    # rewind: emission below advances the sides again
    for who, seq, _ in reversed(segments):
        me, _ = cv.side(who)
        me.nxt = seq
    target = rnd.randrange(len(segments)) if segments else -1
    i = 0
    while i < len(segments):
        who, seq, payload = segments[i]
        me, peer = cv.side(who)
        other = "s" if who == "c" else "c"
        if i == target and disorder == "swap" and i + 1 < len(segments) \
                and segments[i + 1][0] == who:
            _, seq2, payload2 = segments[i + 1]
            cv.emit(who, seq2, me.rcv, ACK | PSH, payload2, gap_us=200)
            cv.emit(who, seq, me.rcv, ACK | PSH, payload, gap_us=200)
            me.nxt = (seq2 + len(payload2)) & 0xFFFFFFFF
            peer.rcv = me.nxt
            cv.ack(other, gap_us=500)
            i += 2
            continue
        capture = not (i == target and disorder == "missed")
        cv.send(who, ACK | PSH, payload, capture=capture, gap_us=rnd.randint(50, 3000))
        if i == target and disorder == "retransmit":
            cv.emit(who, seq, me.rcv, ACK | PSH, payload, gap_us=200_000)
        if rnd.random() < 0.6 or i == len(segments) - 1 or segments[i + 1][0] != who:
            if i == target and disorder == "zero_window":
                cv.ack(other, window=0, gap_us=400)
                cv.ack(other, window=65535, gap_us=50_000)
            else:
                cv.ack(other, gap_us=rnd.randint(50, 40_000))
        if i == target and disorder == "keep_alive":
            cv.emit(who, (me.nxt - 1) & 0xFFFFFFFF, me.rcv, ACK, gap_us=2_000_000)
            cv.ack(other, gap_us=300)
        i += 1
    if close == "four_way":
        cv.send("c", FIN | ACK)
        cv.ack("s", gap_us=300)
        cv.send("s", FIN | ACK, gap_us=20_000)
        cv.ack("c", gap_us=300)
    elif close == "three_way":
        cv.send("c", FIN | ACK)
        cv.send("s", FIN | ACK, gap_us=300)
        cv.ack("c", gap_us=300)
    elif close == "half_close":
        cv.send("c", FIN | ACK)
        cv.ack("s", gap_us=300)
        cv.send("s", ACK | PSH, b"more data after the client's FIN", gap_us=500)
        cv.ack("c", gap_us=300)
        cv.send("s", FIN | ACK, gap_us=500)
        cv.ack("c", gap_us=300)
    elif close == "simultaneous":
        c_fin, s_fin = cv.client.nxt, cv.server.nxt
        cv.emit("c", c_fin, cv.client.rcv, FIN | ACK, gap_us=300)
        cv.emit("s", s_fin, cv.server.rcv, FIN | ACK, gap_us=10)
        cv.client.nxt, cv.server.nxt = c_fin + 1, s_fin + 1
        cv.emit("c", c_fin + 1, s_fin + 1, ACK, gap_us=300)
        cv.emit("s", s_fin + 1, c_fin + 1, ACK, gap_us=10)
    elif close == "rst_client":
        cv.send("c", RST | ACK, gap_us=500)
    elif close == "rst_server":
        cv.send("s", RST | ACK, gap_us=500)
    return cv


_COUNTER = itertools.count()

EXPECTED_CLOSE = {"four_way": ("four_way", "client"), "three_way": ("three_way", "client"),
                  "simultaneous": ("simultaneous", "client"), "rst_client": ("reset", "client"),
                  "rst_server": ("reset", "server"), "none": ("none", None),
                  "half_close": ("four_way", "client")}
EXPECTED_STATE = {"four_way": "SF", "three_way": "SF", "simultaneous": "SF", "rst_client": "RSTO",
                  "rst_server": "RSTR", "none": "S1", "half_close": "SF"}


@settings(max_examples=int(os.environ.get("HS_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    isn_c=st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 3000, 2**32 - 1)),
    isn_s=st.integers(0, 2**32 - 1),
    syn_retries=st.integers(0, 2),
    sizes=st.lists(st.tuples(st.sampled_from("cs"), st.integers(1, 5000)), max_size=5),
    disorder=st.sampled_from(DISORDER),
    close=st.sampled_from(CLOSES),
)
def test_random_conversations_match_tshark(tmp_path: Path, seed: int, isn_c: int, isn_s: int,
                                           syn_retries: int, sizes: list[tuple[str, int]],
                                           disorder: str, close: str) -> None:
    cv = build(seed, isn_c, isn_s, syn_retries, sizes, disorder, close)
    path = tmp_path / f"r{next(_COUNTER)}.pcap"  # tshark_view caches by path: never reuse one
    path.write_bytes(cv.pcap())
    ts = tshark_view(str(path))
    tcp, _ = ours(str(path))
    for frame, rec in ts.items():
        stream, seq, ack, seq_raw, seglen, flags, bits = tcp[frame]
        assert (stream, seq, ack, seq_raw, seglen, flags) == (
            int(rec["tcp.stream"]), int(rec["tcp.seq"]), int(rec["tcp.ack"] or 0),
            int(rec["tcp.seq_raw"]), int(rec["tcp.len"]), int(rec["tcp.flags"], 16)), frame
        for field_name, mask in ANALYSIS_FIELDS.items():
            assert (rec[field_name] != "") == bool(bits & mask), (frame, field_name)
    (c,) = analyze(path).tcp
    assert [c] == analyze(path, keep_tcp=lambda n: True).tcp  # fast lane == full analysis
    with python_lane():
        assert [c] == analyze(path).tcp  # the lane in C (if built) == the lane in Python
    assert c.handshake["state"] == "complete"
    assert c.handshake["client_isn"] == isn_c and c.handshake["server_isn"] == isn_s
    assert c.handshake["syn_retransmissions"] == syn_retries
    if syn_retries:
        assert c.handshake["syn_backoff_ms"] == [1000.0 * 2**i for i in range(syn_retries)]
    kind, initiator = EXPECTED_CLOSE[close]
    assert (c.close["kind"], c.close["initiator"]) == (kind, initiator)
    assert c.conn_state == EXPECTED_STATE[close]
    if close == "half_close":
        assert c.close["half_close_data"] is True
    if close == "simultaneous":
        assert c.close["time_wait"] == "both"


# Hand-made sequences around a segment the capture missed: they pinned down how
# tshark 4.0 decides to repeat "ACKed unseen segment" (see flow/tcp.py).
def _miss(cv: Conversation) -> None:
    cv.send("c", ACK | PSH, b"x", capture=False)


def _cdata(cv: Conversation) -> None:
    cv.send("c", ACK | PSH, b"y")


def _sack(cv: Conversation) -> None:
    cv.ack("s")


def _sdata(cv: Conversation) -> None:
    cv.send("s", ACK | PSH, b"zzzz")


def _cack(cv: Conversation) -> None:
    cv.ack("c")


def _cfin(cv: Conversation) -> None:
    cv.send("c", FIN | ACK)


def _sdup(cv: Conversation) -> None:
    cv.emit("s", cv.server.nxt, cv.server.rcv, ACK)


def _cwin(cv: Conversation) -> None:
    cv.emit("c", cv.client.nxt, cv.client.rcv, ACK, window=1000)


SEQUENCES = {
    "gap_then_fin": [_miss, _sack, _cfin, _sack],
    "gap_then_data": [_miss, _sack, _cdata, _sack],
    "gap_then_ack": [_miss, _sack, _cack, _sack],
    "gap_then_new_ack": [_miss, _sack, _sdata, _cack, _sack],
    "lost_then_same_ack": [_miss, _cdata, _sack, _cack, _sack],
    "lost_then_data": [_miss, _cdata, _sack, _cdata, _sack],
    "two_gaps": [_miss, _cdata, _sack, _cdata, _miss, _cdata, _sack],
    "dupacks_across_data": [_cdata, _sack, _sdup, _sdup, _sdata, _sdup],
    "window_update_in_gap": [_miss, _cdata, _sack, _cwin, _sack],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_hand_made_sequences_match_tshark(tmp_path: Path, name: str) -> None:
    cv = new_conversation(1000, 5000)
    cv.send("c", SYN, options=SYN_OPTS)
    cv.send("s", SYN | ACK, options=SYN_OPTS)
    cv.ack("c")
    for step in SEQUENCES[name]:
        step(cv)
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(cv.pcap())
    ts = tshark_view(str(path))
    tcp, _ = ours(str(path))
    for frame, rec in ts.items():
        bits = tcp[frame][-1]
        for field_name, mask in ANALYSIS_FIELDS.items():
            assert (rec[field_name] != "") == bool(bits & mask), (frame, field_name)


def _handshake_shape(kind: str) -> Conversation:
    cv = new_conversation(7000, 9000)
    if kind == "syn_unanswered":
        cv.send("c", SYN, options=SYN_OPTS)
        for i in range(3):  # RFC 6298 §5.5: the timer doubles
            cv.emit("c", 7000, 0, SYN, options=SYN_OPTS, gap_us=1_000_000 * 2**i)
    elif kind == "no_final_ack":
        cv.send("c", SYN, options=SYN_OPTS)
        cv.send("s", SYN | ACK, options=SYN_OPTS)
        cv.emit("s", 9000, 7001, SYN | ACK, options=SYN_OPTS, gap_us=1_000_000)
    elif kind == "simultaneous_open":
        # RFC 9293 §3.5 Figure 7: both send SYN, both answer with SYN+ACK
        cv.emit("c", 7000, 0, SYN, options=SYN_OPTS)
        cv.emit("s", 9000, 0, SYN, options=SYN_OPTS, gap_us=10)
        cv.emit("c", 7000, 9001, SYN | ACK, options=SYN_OPTS)
        cv.emit("s", 9000, 7001, SYN | ACK, options=SYN_OPTS, gap_us=10)
    elif kind == "not_seen":
        cv.emit("c", 7001, 9001, ACK | PSH, b"hello")
        cv.emit("s", 9001, 7006, ACK)
    elif kind == "refused":
        cv.send("c", SYN, options=SYN_OPTS)
        cv.emit("s", 0, 7001, RST | ACK)
    return cv


@pytest.mark.parametrize("kind,conn_state,history", [
    ("syn_unanswered", "S0", "S"),
    ("no_final_ack", "S1", "Sh"),
    ("simultaneous_open", "S1", "Ss"),
    ("not_seen", "OTH", "Da"),
    ("refused", "REJ", "Sr"),
])
def test_handshake_shapes(tmp_path: Path, kind: str, conn_state: str, history: str) -> None:
    path = tmp_path / f"{kind}.pcap"
    path.write_bytes(_handshake_shape(kind).pcap())
    ts = tshark_view(str(path))
    tcp, _ = ours(str(path))
    for frame, rec in ts.items():
        assert tcp[frame][0] == int(rec["tcp.stream"])
        for field_name, mask in ANALYSIS_FIELDS.items():
            assert (rec[field_name] != "") == bool(tcp[frame][-1] & mask), (frame, field_name)
    (c,) = analyze(path).tcp
    assert c.handshake["state"] == kind
    assert c.conn_state == conn_state
    assert c.history.startswith(history)
    if kind == "syn_unanswered":
        assert c.handshake["syn_retransmissions"] == 3
        assert c.handshake["syn_backoff_ms"] == [1000.0, 2000.0, 4000.0]
    if kind == "not_seen":
        assert c.role_guess and "port" in c.role_guess
        assert c.server.port == 80
