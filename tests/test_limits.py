"""The flow stage's limits on what it holds: input past each one, memory measured.

MAX_OPEN_CONNECTIONS (connections followed at once) and MAX_HELD_CONNECTIONS
(finished connections waiting for an older one, for the output's order). Each
test feeds more than the limit, measures the memory with tracemalloc, and
checks the answer is still complete and the diagnostic names the limit.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from capture_writers import pcap_file
from tcp_synth import ACK, FIN, SYN, frame

import handshaker.analysis as analysis
import handshaker.flow.tcp as tcp
import handshaker.tls.hello as hello
from handshaker.render.json_out import connection_dict

SERVER = (bytes([10, 0, 0, 1]), 443)
T0 = 1_700_000_000


def client(i: int) -> tuple[bytes, int]:
    return bytes([10, 1 + (i >> 16), (i >> 8) & 255, i & 255]), 1024 + i % 60000


def syn_flood(n: int, path: Path, rate: int = 10_000) -> Path:
    """n spoofed SYNs, ``rate`` a second, none answered: n half-open connections."""
    recs = [(T0 + i // rate, (i % rate) * (1_000_000 // rate),
             frame(client(i), SERVER, i * 7919, 0, SYN), 54) for i in range(n)]
    path.write_bytes(pcap_file(recs))
    return path


def one_long_many_short(n: int, path: Path) -> Path:
    """One connection opened first and never closed, then n short ones, each closed."""
    recs = []
    t = 0

    def add(src: tuple[bytes, int], dst: tuple[bytes, int], seq: int, ack: int, flags: int) -> None:
        nonlocal t
        t += 4000  # 4 ms: 416 closed connections wait FINISHED_IDLE_NS (10 s) at a time
        recs.append((T0 + t // 1_000_000, t % 1_000_000, frame(src, dst, seq, ack, flags), 54))

    long = client(0)
    add(long, SERVER, 100, 0, SYN)
    add(SERVER, long, 500, 101, SYN | ACK)
    add(long, SERVER, 101, 501, ACK)
    for i in range(1, n + 1):
        c = client(i)
        add(c, SERVER, 1000, 0, SYN)
        add(SERVER, c, 9000, 1001, SYN | ACK)
        add(c, SERVER, 1001, 9001, ACK)
        add(c, SERVER, 1001, 9001, FIN | ACK)
        add(SERVER, c, 9001, 1002, FIN | ACK)
        add(c, SERVER, 1002, 9002, ACK)
    path.write_bytes(pcap_file(recs))
    return path


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 1,000 frames: what a batch costs in passing then hides nothing."""
    monkeypatch.setattr(analysis, "BATCH_SIZE", 1_000)


def brief(c: object) -> tuple:
    """What the tests check of a connection, small (the memory measured is handshaker's)."""
    d = connection_dict(c)  # type: ignore[arg-type]
    return (d["stream"], d["first_frame"], d["handshake"]["state"], d["close"]["kind"],
            hashlib.sha256(json.dumps(d, sort_keys=True).encode()).digest()[:8])


def traced(path: Path) -> tuple[list[tuple], analysis.Analysis, int]:
    """The connections (brief), the analysis, and the peak of traced memory."""
    out: list[tuple] = []
    tracemalloc.start()
    try:
        a = analysis.analyze(path, on_connection=lambda c: out.append(brief(c)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, a, peak


def test_syn_flood_past_max_open_connections(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # (over 10 s: the connections the full table sheds go out in order as they are
    # retired, every 2 s of capture time, rather than all wait for the end)
    path = syn_flood(10_000, tmp_path / "flood.pcap", rate=1_000)
    _, _, peak_unlimited = traced(path)
    monkeypatch.setattr(tcp, "MAX_OPEN_CONNECTIONS", 500)
    conns, a, peak = traced(path)
    # nothing lost: every half-open connection is reported, once, in order
    assert len(conns) == a.tcp_streams == 10_000
    assert [c[0] for c in conns] == list(range(10_000))
    assert {c[2] for c in conns} == {"syn_unanswered"}
    # the diagnostic names the limit, the frame that found the table full, and its offset
    (d,) = [d for d in a.diagnostics if "MAX_OPEN_CONNECTIONS" in d.message]
    assert d.frame == 501 and d.offset == 24 + 500 * (16 + 54)
    assert "500 connections open at once" in d.message
    # memory: the table holds at most the limit, not the flood
    assert peak < peak_unlimited / 2, (peak, peak_unlimited)


def test_a_real_100k_syn_flood_stays_under_300_mb(tmp_path: Path) -> None:
    """The default limit, the command line, peak RSS of the process (not traced)."""
    path = syn_flood(100_000, tmp_path / "flood.pcap")
    code = ("import resource, subprocess, sys;"
            "p = subprocess.run([sys.executable, '-m', 'handshaker', 'analyze', sys.argv[1],"
            " '--format', 'json', '-j', '1'], capture_output=True, text=True);"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
            "print(p.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    status, rss_kib = (int(x) for x in out.splitlines()[0].split())
    assert status == 0
    assert "MAX_OPEN_CONNECTIONS" in out and "Traceback" not in out
    assert rss_kib < 300 * 1024, rss_kib


def test_long_connection_holds_back_the_rest_in_a_file(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = one_long_many_short(6_000, tmp_path / "long.pcap")
    reference, _, peak_unlimited = traced(path)
    # the fixed part: the read buffer (CHUNK_SIZE), the code's own tables
    _, _, base = traced(one_long_many_short(100, tmp_path / "small.pcap"))
    monkeypatch.setattr(analysis, "MAX_HELD_CONNECTIONS", 50)
    monkeypatch.setattr(analysis, "SPILL_CHUNK", 5)
    monkeypatch.setattr(analysis, "MAX_SPILL_FILES", 8)  # and files merged now and then
    made: list[analysis.InOrder] = []

    class Watched(analysis.InOrder):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(analysis, "InOrder", Watched)
    conns, _, peak = traced(path)
    assert made and made[0].spilled >= 5_900  # all but the last few went through files
    assert conns == reference  # the same connections, the same numbers, first-frame order
    assert [c[1] for c in conns] == sorted(c[1] for c in conns)
    assert conns[0][3] == "none" and len(conns) == 6_001
    # beyond the fixed part, what is left is mostly the closed connections that wait
    # FINISHED_IDLE_NS to be retired, not the 6,000 held back
    assert peak - base < 0.5 * (peak_unlimited - base), (peak, peak_unlimited, base)


def hello_body(seed: int, suites: int) -> bytes:
    """A ClientHello body offering that many suites (distinct for each seed)."""
    codes = b"".join(struct.pack("!H", (seed * 7 + i) & 0xFFFF) for i in range(suites))
    return (b"\x03\x03" + bytes(32) + b"\x00" + struct.pack("!H", len(codes)) + codes
            + b"\x01\x00\x00\x00")


def offers_memory(n: int, suites: int) -> int:
    hello._OFFERS.clear()
    hello._offers_bytes = 0
    tracemalloc.start()
    try:
        for seed in range(n):
            facts = hello.client_hello_facts(hello_body(seed, suites))
            assert facts is not None
            facts.offer()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        hello._OFFERS.clear()
        hello._offers_bytes = 0


def test_cached_offers_are_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_CACHED_OFFER_BYTES: hellos offering thousands of suites, each different."""
    unlimited = offers_memory(100, 1_000)
    monkeypatch.setattr(hello, "MAX_CACHED_OFFER_BYTES", 16 << 10)
    limited = offers_memory(100, 1_000)
    assert limited < unlimited / 4, (limited, unlimited)
    # the count limit alone would have kept all 100 (MAX_CACHED_OFFERS = 4,096)
    assert hello.MAX_CACHED_OFFERS > 100
