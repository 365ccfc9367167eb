"""Streams, Seq/Ack and analysis flags against tshark, on every corpus capture.

For each TCP segment: tcp.stream, relative tcp.seq / tcp.ack, tcp.seq_raw,
tcp.len, tcp.flags and the tcp.analysis.* flags must equal tshark 4.0's; for
each UDP datagram udp.stream. Where we differ from tshark on purpose, the
exception is listed in KNOWN_DIFFERENCES with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_captures, corpus_ids, tshark_fields

from handshaker.analysis import analyze
from handshaker.flow.tcp import (
    A_ACK_LOST_SEGMENT,
    A_DUPLICATE_ACK,
    A_FAST_RETRANSMISSION,
    A_KEEP_ALIVE,
    A_KEEP_ALIVE_ACK,
    A_LOST_SEGMENT,
    A_OUT_OF_ORDER,
    A_RETRANSMISSION,
    A_REUSED_PORTS,
    A_SPURIOUS_RETRANSMISSION,
    A_WINDOW_FULL,
    A_WINDOW_UPDATE,
    A_ZERO_WINDOW,
    A_ZERO_WINDOW_PROBE,
    A_ZERO_WINDOW_PROBE_ACK,
    ANY_RETRANSMISSION,
)

# tshark field -> our bits that make it appear
ANALYSIS_FIELDS: dict[str, int] = {
    # tshark adds the generic retransmission expert to fast and spurious ones too
    "tcp.analysis.retransmission": A_RETRANSMISSION | A_FAST_RETRANSMISSION
    | A_SPURIOUS_RETRANSMISSION,
    "tcp.analysis.fast_retransmission": A_FAST_RETRANSMISSION,
    "tcp.analysis.spurious_retransmission": A_SPURIOUS_RETRANSMISSION,
    "tcp.analysis.out_of_order": A_OUT_OF_ORDER,
    "tcp.analysis.lost_segment": A_LOST_SEGMENT,
    "tcp.analysis.ack_lost_segment": A_ACK_LOST_SEGMENT,
    "tcp.analysis.duplicate_ack": A_DUPLICATE_ACK,
    "tcp.analysis.zero_window": A_ZERO_WINDOW,
    "tcp.analysis.zero_window_probe": A_ZERO_WINDOW_PROBE,
    "tcp.analysis.zero_window_probe_ack": A_ZERO_WINDOW_PROBE_ACK,
    "tcp.analysis.keep_alive": A_KEEP_ALIVE,
    "tcp.analysis.keep_alive_ack": A_KEEP_ALIVE_ACK,
    "tcp.analysis.window_update": A_WINDOW_UPDATE,
    "tcp.analysis.window_full": A_WINDOW_FULL,
    "tcp.analysis.reused_ports": A_REUSED_PORTS,
}
BASE_FIELDS = ["frame.number", "tcp.stream", "tcp.seq", "tcp.ack", "tcp.seq_raw", "tcp.len",
               "tcp.flags", "udp.stream"]

# capture -> (why we differ from tshark there, the exact differences allowed)
KNOWN_DIFFERENCES: dict[str, tuple[str, set[str]]] = {}

assert ANY_RETRANSMISSION


@cache
def tshark_view(path: str) -> dict[int, dict[str, str]]:
    rows = tshark_fields(path, BASE_FIELDS + list(ANALYSIS_FIELDS))
    out: dict[int, dict[str, str]] = {}
    names = BASE_FIELDS + list(ANALYSIS_FIELDS)
    for r in rows:
        r = r + [""] * (len(names) - len(r))
        rec = dict(zip(names, r, strict=True))
        out[int(rec["frame.number"])] = rec
    return out


def ours(path: str) -> tuple[dict[int, tuple], dict[int, int]]:
    a = analyze(path, keep_tcp=lambda n: True, keep_udp=lambda n: True)
    tcp: dict[int, tuple] = {}
    for st in a.kept.values():
        for s in st.segments or []:
            tcp[s.frame] = (st.number, s.seq, s.ack, s.seq_raw, s.len, s.flags, s.analysis)
    udp: dict[int, int] = {}
    for u in a.udp:
        for f in u.frames or []:
            udp[f] = u.stream
    return tcp, udp


def _first(v: str) -> str:
    return v.split(",")[0] if v else ""


@pytest.mark.tshark
@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_streams_seq_ack_flags_match_tshark(path: Path) -> None:
    rel = str(path.relative_to(CORPUS))
    ts = tshark_view(str(path))
    tcp, udp = ours(str(path))
    problems: list[str] = []
    for frame, rec in ts.items():
        t_stream = _first(rec["tcp.stream"])
        if t_stream:
            if rec["tcp.stream"].count(",") and frame not in tcp:
                continue  # TCP quoted inside an ICMP error: not a segment of the flow
            if frame not in tcp:
                problems.append(f"frame {frame}: tshark tcp.stream {t_stream}, we have no TCP")
                continue
            stream, seq, ack, seq_raw, seglen, flags, bits = tcp[frame]
            if int(t_stream) != stream:
                problems.append(f"frame {frame}: stream {stream} != tshark {t_stream}")
            if rec["tcp.len"] == "":
                continue  # header incomplete: tshark has no seq analysis for it
            exp = (int(_first(rec["tcp.seq"])), int(_first(rec["tcp.ack"]) or 0),
                   int(_first(rec["tcp.seq_raw"])), int(_first(rec["tcp.len"])),
                   int(_first(rec["tcp.flags"]), 16))
            got = (seq, ack, seq_raw, seglen, flags)
            if exp != got:
                problems.append(f"frame {frame}: (seq, ack, seq_raw, len, flags) {got} != {exp}")
            for field, mask in ANALYSIS_FIELDS.items():
                t_has = rec[field] != ""
                o_has = bool(bits & mask)
                if t_has != o_has:
                    problems.append(f"frame {frame}: {field} tshark={t_has} ours={o_has}")
        elif frame in tcp:
            problems.append(f"frame {frame}: we see TCP, tshark does not")
        t_udp = _first(rec["udp.stream"])
        if t_udp and not rec["udp.stream"].count(","):
            if frame not in udp:
                problems.append(f"frame {frame}: tshark udp.stream {t_udp}, we have no UDP")
            elif udp[frame] != int(t_udp):
                problems.append(f"frame {frame}: udp stream {udp[frame]} != tshark {t_udp}")
    if rel in KNOWN_DIFFERENCES:
        why, allowed = KNOWN_DIFFERENCES[rel]
        assert set(problems) == allowed, why
        return
    assert not problems, f"{len(problems)} differences, first: " + "\n".join(problems[:25])


@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_fast_lane_changes_nothing(path: Path, lane: str) -> None:
    """Streams that are not kept take the fast lane for in-order segments; kept
    streams always take the full analysis. Both must give the same summaries,
    anomalies (every flag with its frame) included, with the lane in C or in Python."""
    fast = analyze(str(path))
    full = analyze(str(path), keep_tcp=lambda n: True)
    # kept streams follow TLS in full detail: compare the TCP facts
    assert [replace(c, tls=None) for c in fast.tcp] == [replace(c, tls=None) for c in full.tcp]


@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_streamed_connections_equal_the_kept_ones(path: Path) -> None:
    """on_connection retires connections as they end (bounded memory); what it
    hands over, and in which order, must equal the all-in-memory result."""
    streamed: list = []
    a = analyze(str(path), on_connection=streamed.append)
    b = analyze(str(path))
    assert streamed == b.connections
    assert (a.tcp_streams, a.udp_streams) == (len(b.tcp), len(b.udp))
