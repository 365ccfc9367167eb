"""TCP byte-stream reassembly: unit cases, properties, limits, and tshark as the oracle.

tshark's ``-z follow,tcp,raw`` is the oracle for real captures and for a
synthetic capture built here (wrap-around ISNs, reordering, overlaps, TCP Fast
Open, snaplen-cut frames, a lost segment). Its output is our stream with two
documented differences, both about gaps (tshark 4.0, ``follow_tcp_tap_listener``):

- where a segment was lost (a hole we give up on: skip_gap/close/ack), tshark
  writes the text ``[N bytes missing in capture file]`` and a NUL byte;
- where a frame was cut by the snaplen, tshark writes the captured bytes and
  nothing for the missing ones (no marker), and it writes nothing for bytes
  missing before a FIN.

So the comparison renders our runs and gap events the way tshark does and
then compares every byte of every direction of every stream.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import random
import shutil
import subprocess
import tempfile
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, corpus_captures, corpus_ids, require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handshaker.flow.reassembly import (
    GAP_ACKED,
    GAP_BEFORE_FIN,
    GAP_GIVEN_UP,
    GAP_SNAPLEN,
    HISTORY_BYTES,
    MAX_EVENTS,
    MAX_PENDING_BYTES,
    MAX_PENDING_SEGMENTS,
    MAX_UNREAD_BYTES,
    Piece,
    Reassembler,
    StreamEvent,
)

M32 = 0xFFFFFFFF
SYN_FLAG, FIN_FLAG, ACK_FLAG = 0x02, 0x01, 0x10


# ----------------------------------------------------------------- helpers


def runs(r: Reassembler) -> list[tuple[int, bytes, list[Piece]]]:
    """Every contiguous run read() gives now: (start offset, bytes, pieces)."""
    out: list[tuple[int, bytes, list[Piece]]] = []
    while True:
        data, pieces = r.read()
        if not data:
            assert pieces == []
            return out
        assert sum(p.length for p in pieces) == len(data)
        for a, b in itertools.pairwise(pieces):
            assert a.offset + a.length == b.offset
        out.append((pieces[0].offset, data, pieces))


def stream(r: Reassembler) -> bytes:
    return b"".join(data for _, data, _ in runs(r))


def kinds(r: Reassembler) -> list[str]:
    return [e.kind for e in r.events]


def gaps(r: Reassembler) -> list[tuple[int, int, int, str]]:
    return [(e.offset, e.length, e.frame, e.detail) for e in r.events if e.kind == "gap"]


ISN = 1000


def seq(off: int, isn: int = ISN) -> int:
    """The sequence number of stream offset ``off``."""
    return (isn + 1 + off) & M32


# -------------------------------------------------------------- unit cases


def test_in_order_pieces_and_reads() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"hello ")
    r.add(2, seq(6), b"world")
    assert r.read() == (b"hello world", [Piece(0, 6, 1), Piece(6, 5, 2)])
    assert r.read() == (b"", [])
    r.add(3, seq(11), bytearray(b"!"))
    r.add(4, seq(12), memoryview(b"?"))
    assert r.read() == (b"!?", [Piece(11, 1, 3), Piece(12, 1, 4)])
    assert r.events == [] and r.next_offset == 13 and r.pending_bytes == 0


def test_pass_through_takes_only_the_next_bytes_when_nothing_waits() -> None:
    r = Reassembler(ISN)
    assert r.pass_through(seq(0), b"hello ") == 0
    assert r.pass_through(seq(6), b"world") == 6
    assert r.read() == (b"", []) and r.next_offset == 11
    assert r.pass_through(seq(20), b"later") is None  # a hole before it
    r.add(3, seq(20), b"later")
    assert r.pass_through(seq(11), b"123456789") is None  # data waits behind the hole
    r.add(4, seq(11), b"123456789")
    assert r.read() == (b"123456789later", [Piece(11, 9, 4), Piece(20, 5, 3)])
    r.add(5, seq(25), b"!")
    assert r.pass_through(seq(26), b"?") is None  # "!" is unread
    assert Reassembler().pass_through(5, b"x") is None  # no ISN yet: add() decides
    # what went through is remembered: a retransmission that differs is still caught
    r.read()
    r.add(6, seq(6), b"WORLD")
    assert kinds(r) == ["overlap_mismatch"]


def test_reordered_segments_wait_for_the_hole() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(10), b"klmno")
    r.add(2, seq(5), b"fghij")
    assert r.read() == (b"", [])
    assert (r.pending_bytes, r.pending_segments, r.next_offset) == (10, 2, 0)
    r.add(3, seq(0), b"abcde")
    assert r.read() == (b"abcdefghijklmno", [Piece(0, 5, 3), Piece(5, 5, 2), Piece(10, 5, 1)])
    assert (r.pending_bytes, r.pending_segments, r.events) == (0, 0, [])


def test_duplicates_are_dropped_and_noted() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc")
    r.add(2, seq(0), b"abc")  # a retransmission of delivered bytes
    r.add(3, seq(10), b"xyz")
    r.add(4, seq(10), b"xyz")  # a retransmission of waiting bytes: not stored twice
    assert r.pending_bytes == 3
    r.add(5, seq(3), b"defghij")
    assert stream(r) == b"abcdefghijxyz"
    assert kinds(r) == ["retransmission", "retransmission"]
    assert [e.frame for e in r.events] == [2, 4]


def test_partial_overlap_delivers_only_the_new_part() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abcdef")
    r.add(2, seq(3), b"defghi")  # repacketized retransmission
    _, data, pieces = runs(r)[0]
    assert data == b"abcdefghi"
    assert pieces == [Piece(0, 6, 1), Piece(6, 3, 2)]
    assert r.events == [StreamEvent("retransmission", 2, 3, 3, "same bytes as delivered")]


def test_overlap_with_different_bytes_keeps_the_first_copy() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"GET /index.html")
    r.add(2, seq(4), b"/evil.htmlXYZ")  # differs from offset 5 on, brings 2 new bytes
    assert stream(r) == b"GET /index.htmlYZ"
    (ev,) = r.events
    assert (ev.kind, ev.frame, ev.offset, ev.length) == ("overlap_mismatch", 2, 5, 10)


def test_waiting_copies_that_disagree() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(5), b"fghij")
    r.add(2, seq(5), b"FGHIJKL")  # same start: the first copy wins, the tail is new
    r.add(3, seq(0), b"abcde")
    assert stream(r) == b"abcdefghijKL"
    ev = r.events[0]
    assert (ev.kind, ev.frame, ev.offset, ev.length) == ("overlap_mismatch", 2, 5, 5)


def test_keep_alive_byte_is_not_an_evasion_sign() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc")
    r.add(2, seq(2), b"\x00")  # keep-alive: SEG.SEQ = SND.NXT - 1 with one garbage byte
    r.add(3, seq(3), b"")  # a bare ACK: nothing
    assert stream(r) == b"abc"
    assert [(e.kind, e.detail) for e in r.events] == [
        ("retransmission", "keep-alive; its byte is ignored")]


def test_history_is_bounded() -> None:
    r = Reassembler(ISN, history_bytes=10)
    r.add(1, seq(0), bytes(100))
    r.add(2, seq(0), b"x" * 20)  # older than the history: cannot be compared
    r.add(3, seq(95), b"xxxxx")  # inside the history: compared
    assert [e.kind for e in r.events] == ["retransmission", "overlap_mismatch"]
    assert "not compared" in r.events[0].detail
    assert (r.events[1].offset, r.events[1].length) == (95, 5)


@pytest.mark.parametrize("isn", [M32 - 3, M32, 0x7FFFFFFF, 0])
def test_sequence_wrap_around(isn: int) -> None:
    data = bytes(range(256)) * 4
    r = Reassembler(isn)
    pieces = [(i, data[i:i + 100]) for i in range(0, len(data), 100)]
    order = [1, 0, 3, 2, 2, 4, *range(5, len(pieces))]
    for frame, i in enumerate(order):
        off, chunk = pieces[i]
        r.add(frame, (isn + 1 + off) & M32, chunk)
    assert stream(r) == data
    assert kinds(r) == ["retransmission"]


def test_wraps_many_times() -> None:
    """Offsets keep growing past 2**32: huge snaplen gaps move the stream cheaply."""
    isn = M32 - 10
    r = Reassembler(isn)
    step = 1 << 30
    for i in range(9):  # nine frames of 1 GiB each, none of their bytes captured
        r.add(i, seq(i * step, isn), b"", length=step)
    assert r.next_offset == 9 * step
    r.add(9, seq(9 * step, isn), b"tail")
    r.add(10, seq(9 * step - 2, isn), b"??ta")  # old bytes before a gap: not comparable
    ((off, data, _),) = runs(r)
    assert (off, data) == (9 * step, b"tail")
    assert [g[:2] for g in gaps(r)] == [(i * step, step) for i in range(9)]
    assert kinds(r)[-1] == "retransmission"


def test_gap_skip_gap_and_reads_stop_at_gaps() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc")
    r.add(2, seq(10), b"klm")
    r.add(3, seq(20), b"uvw")
    assert r.read() == (b"abc", [Piece(0, 3, 1)])
    assert r.read() == (b"", [])
    ev = r.skip_gap()
    assert ev == StreamEvent("gap", 2, 3, 7, GAP_GIVEN_UP)
    assert r.read() == (b"klm", [Piece(10, 3, 2)])
    assert r.read_offset == 13
    r.close()
    assert r.read() == (b"uvw", [Piece(20, 3, 3)])
    assert gaps(r) == [(3, 7, 2, GAP_GIVEN_UP), (13, 7, 3, GAP_GIVEN_UP)]
    assert r.skip_gap() is None and r.pending_segments == 0


def test_runs_are_split_at_gaps_even_when_unread() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"ab")
    r.add(2, seq(5), b"fg")
    r.close()
    assert [(off, data) for off, data, _ in runs(r)] == [(0, b"ab"), (5, b"fg")]


def test_ack_gives_up_on_a_hole_the_peer_acknowledged() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc")
    r.add(3, seq(10), b"klm")
    r.ack(4, seq(5))  # acknowledges part of the hole only: the rest may still come
    assert r.pending_segments == 1
    r.ack(5, seq(13))
    assert gaps(r) == [(3, 7, 5, GAP_ACKED)]
    assert [(off, data) for off, data, _ in runs(r)] == [(0, b"abc"), (10, b"klm")]


def test_fin() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"bye", fin=True)
    r.add(2, seq(0), b"bye", fin=True)  # FIN retransmitted
    assert r.fin_offset == 3 and r.finished
    r.add(3, seq(3), b"", fin=True)  # a later FIN alone: the first one stands
    r.close()
    assert stream(r) == b"bye" and kinds(r) == ["retransmission"]


def test_fin_after_missing_data() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc")
    r.add(2, seq(8), b"", fin=True)
    assert not r.finished
    r.close()
    assert r.finished
    assert gaps(r) == [(3, 5, 2, GAP_BEFORE_FIN)]


def test_isn_from_the_syn_and_tcp_fast_open() -> None:
    r = Reassembler()
    r.add(1, M32, b"GET / HTTP/1.1\r\n", syn=True)  # TFO: data on the SYN, after its seq
    assert r.isn == M32
    r.add(2, M32, b"GET / HTTP/1.1\r\n", syn=True)  # SYN retransmitted with its data
    r.add(3, 16, b"Host: x\r\n")
    assert r.read() == (b"GET / HTTP/1.1\r\nHost: x\r\n", [Piece(0, 16, 1), Piece(16, 9, 3)])
    assert kinds(r) == ["retransmission"]


def test_syn_without_data_then_data() -> None:
    r = Reassembler()
    r.add(1, 5000, b"", syn=True)
    r.add(2, 5001, b"x")
    assert r.read() == (b"x", [Piece(0, 1, 2)])


def test_capture_started_mid_stream() -> None:
    r = Reassembler()
    r.add(1, 7000, b"")  # a bare ACK: says nothing about where data starts
    r.add(2, 9000, b"middle")
    r.add(3, 8990, b"0123456789middle")  # partly before the first byte we saw
    r.add(4, 9006, b"!")
    assert stream(r) == b"middle!"
    assert r.isn == 8999
    assert kinds(r) == ["retransmission"]


def test_truncated_segment_in_order() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abc", length=10)  # the capture kept 3 of 10 bytes
    r.add(2, seq(10), b"xyz")
    assert [(off, data) for off, data, _ in runs(r)] == [(0, b"abc"), (10, b"xyz")]
    assert gaps(r) == [(3, 7, 1, GAP_SNAPLEN)]


def test_truncated_segment_out_of_order() -> None:
    r = Reassembler(ISN)
    r.add(2, seq(10), b"xyz")
    r.add(1, seq(0), b"", length=10)
    r.add(3, seq(13), b"!", length=2)
    r.add(4, seq(15), b"end")
    assert [(off, data) for off, data, _ in runs(r)] == [(10, b"xyz!"), (15, b"end")]
    assert gaps(r) == [(0, 10, 1, GAP_SNAPLEN), (14, 1, 3, GAP_SNAPLEN)]


def test_full_copy_wins_over_a_snaplen_hole() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(5), b"AB", length=10)  # waits; bytes 7..15 were not captured
    r.add(2, seq(5), b"ABCDEFGHIJ")  # a full copy of the same segment
    r.add(3, seq(0), b"01234")
    assert stream(r) == b"01234ABCDEFGHIJ"
    assert gaps(r) == []


def test_full_copy_covers_part_of_a_snaplen_hole() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"ab", length=10)
    assert gaps(r) == [(2, 8, 1, GAP_SNAPLEN)]
    r = Reassembler(ISN)
    r.add(1, seq(5), b"AB", length=10)  # hole marker 7..15
    r.add(2, seq(10), b"klmnopqrst")  # captured in full: 10..20
    r.add(3, seq(0), b"01234")
    assert [(off, data) for off, data, _ in runs(r)] == [(0, b"01234AB"), (10, b"klmnopqrst")]
    assert gaps(r) == [(7, 3, 1, GAP_SNAPLEN)]


def test_truncated_retransmission_of_delivered_data() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"abcdef")
    r.add(2, seq(0), b"ab", length=6)
    r.add(3, seq(6), b"g")
    assert stream(r) == b"abcdefg" and gaps(r) == []


def test_link_padding_beyond_the_tcp_length_is_ignored() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"ab\x00\x00\x00\x00", length=2)
    r.add(2, seq(2), b"cd")
    assert stream(r) == b"abcd" and r.events == []


def test_take_events() -> None:
    r = Reassembler(ISN)
    r.add(1, seq(0), b"a")
    r.add(2, seq(0), b"a")
    assert [e.kind for e in r.take_events()] == ["retransmission"]
    assert r.events == []


# ------------------------------------------------------------------ limits


def test_pending_segment_limit_drops_the_farthest() -> None:
    r = Reassembler(ISN, max_pending_segments=8)
    for i in range(1, 20):  # 19 one-byte segments behind a hole at offset 0
        r.add(i, seq(i), bytes([i]))
    assert r.pending_segments == 8
    limits = [e for e in r.events if e.kind == "limit"]
    assert [e.offset for e in limits] == list(range(9, 20))
    r.add(20, seq(0), b"\x00")
    assert stream(r) == bytes(range(9))


def test_pending_byte_limit() -> None:
    r = Reassembler(ISN, max_pending_bytes=1000)
    r.add(1, seq(600), bytes(500))
    r.add(2, seq(100), bytes(300))
    r.add(3, seq(2000), bytes(2000))  # alone over the limit: dropped at once
    r.add(4, seq(400), bytes(200))
    assert r.pending_bytes == 1000
    r.add(5, seq(50), bytes(50))  # over by 50: the farthest segment (frame 1) goes
    assert r.pending_bytes == 550
    assert [(e.kind, e.frame) for e in r.events] == [("limit", 3), ("limit", 1)]
    r.add(6, seq(0), bytes(50))
    assert stream(r) == bytes(600)


def test_unread_limit() -> None:
    data = random.Random(5).randbytes(3000)
    r = Reassembler(ISN, max_unread_bytes=1000)
    for i in range(0, 3000, 300):
        r.add(i, seq(i), data[i:i + 300])
    assert [e.kind for e in r.events] == ["limit"] * 7
    ((off, got, pieces),) = runs(r)
    assert (off, got) == (2000, data[2000:])
    assert pieces[0] == Piece(2000, 100, 1800)


def test_event_limit() -> None:
    r = Reassembler(ISN, max_events=10)
    r.add(0, seq(0), b"a")
    for i in range(20):
        r.add(i + 1, seq(0), b"a")
    assert len(r.events) == 10
    assert r.events[-1].kind == "limit" and r.events_dropped == 11


def test_default_limits() -> None:
    assert (MAX_PENDING_BYTES, MAX_PENDING_SEGMENTS) == (1 << 20, 1024)
    assert (HISTORY_BYTES, MAX_UNREAD_BYTES, MAX_EVENTS) == (64 << 10, 16 << 20, 4096)


def test_100_mb_of_garbage_keeps_memory_bounded() -> None:
    rnd = random.Random(42)
    block = rnd.randbytes(1 << 17)
    isn = rnd.getrandbits(32)
    r = Reassembler(isn)
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fed = frame = 0
        while fed < 100 << 20:
            frame += 1
            n = rnd.randint(1, 1500) if rnd.random() < 0.7 else rnd.randint(1, 65535)
            at = rnd.randrange(len(block) - n)
            if rnd.random() < 0.5:  # ahead of the stream, within 16 MiB: out-of-order data
                s = (isn + 1 + r.next_offset + rnd.randrange(1, 1 << 24)) & M32
            else:  # anywhere in the sequence space
                s = rnd.getrandbits(32)
            length = n if rnd.random() < 0.9 else n + rnd.randrange(100_000)
            r.add(frame, s, block[at:at + n], syn=rnd.random() < 0.01,
                  fin=rnd.random() < 0.01, length=length)
            fed += n
            if frame % 500 == 0:
                assert r.pending_bytes <= MAX_PENDING_BYTES
                assert r.pending_segments <= MAX_PENDING_SEGMENTS
                r.ack(frame, rnd.getrandbits(32))
                if frame % 2000 == 0:
                    r.skip_gap()
                r.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # pending data (1 MiB), history, the capped event list and the heaps; not 100 MB
    assert peak - base < 6 << 20, peak - base
    assert "limit" in kinds(r)
    assert len(r.events) <= MAX_EVENTS


# -------------------------------------------------------------- properties

ISNS = st.one_of(st.integers(0, M32), st.integers(M32 - 3000, M32), st.just(0x7FFFFFFF))


def _cut(rnd: random.Random, size: int, max_cuts: int = 40) -> list[tuple[int, int]]:
    if size == 0:
        return []
    k = rnd.randint(0, min(size - 1, max_cuts))
    bounds = [0, *sorted(rnd.sample(range(1, size), k)), size]
    return list(itertools.pairwise(bounds))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), isn=ISNS, rnd=st.randoms(use_true_random=False),
       isn_known=st.booleans(), tfo=st.booleans(), fin=st.booleans())
def test_any_segmentation_and_order_gives_the_same_stream(
        data: bytes, isn: int, rnd: random.Random, isn_known: bool, tfo: bool,
        fin: bool) -> None:
    segs = _cut(rnd, len(data))
    extra = []
    for _ in range(rnd.randint(0, 12)):  # copies: duplicates and overlaps, same bytes
        if not data:
            break
        a = rnd.randrange(len(data))
        extra.append((a, rnd.randint(a + 1, min(len(data), a + rnd.choice((1, 50, 700))))))
    for _ in range(rnd.randint(0, 4)):
        if segs:
            extra.append(rnd.choice(segs))
    feed: list[tuple[int, int, bool]] = [(a, b, False) for a, b in segs + extra]
    rnd.shuffle(feed)
    syn = (0, segs[0][1] if tfo and segs else 0, True)  # the SYN, with TFO data or none
    if tfo and segs:
        feed.remove((0, segs[0][1], False))
    if isn_known:
        feed.insert(rnd.randint(0, len(feed)), syn)  # anywhere, or ...
        if not (tfo and segs) and rnd.random() < 0.5:
            feed.remove(syn)  # ... not at all
    else:
        feed.insert(0, syn)  # the SYN tells the ISN: it comes first

    r = Reassembler(isn if isn_known else None)
    frames: dict[int, tuple[int, int]] = {}
    got: list[tuple[int, bytes, list[Piece]]] = []
    for frame, (a, b, is_syn) in enumerate(feed, start=1):
        frames[frame] = (a, b)
        s = isn if is_syn else isn + 1 + a
        r.add(frame, s, data[a:b], syn=is_syn, fin=fin and b == len(data) and b > a)
        if rnd.random() < 0.3:
            got += runs(r)
    r.close()
    got += runs(r)

    assert b"".join(d for _, d, _ in got) == data
    end = 0
    for _, _, pieces in got:
        for p in pieces:
            assert p.offset == end and p.length > 0
            a, b = frames[p.frame]
            assert a <= p.offset and p.offset + p.length <= b  # the frame carried these bytes
            end += p.length
    assert end == len(data) == r.next_offset
    assert set(kinds(r)) <= {"retransmission"}
    assert (r.pending_bytes, r.pending_segments) == (0, 0)
    assert r.finished == (fin and bool(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=3000), isn=ISNS, rnd=st.randoms(use_true_random=False),
       max_segs=st.integers(1, 40), max_bytes=st.integers(1, 4000))
def test_lost_and_cut_segments_never_corrupt_the_stream(
        data: bytes, isn: int, rnd: random.Random, max_segs: int, max_bytes: int) -> None:
    """Whatever is lost, cut or dropped by a limit, delivered bytes are right where they are."""
    feed = []
    for a, b in _cut(rnd, len(data)):
        fate = rnd.random()
        if fate < 0.2:
            continue  # lost by the capture
        cut = rnd.randint(0, b - a) if fate < 0.35 else b - a  # snaplen
        feed.append((a, b, cut))
        if rnd.random() < 0.2:
            feed.append((a, b, b - a))
    rnd.shuffle(feed)
    r = Reassembler(isn, max_pending_segments=max_segs, max_pending_bytes=max_bytes)
    frames: dict[int, tuple[int, int]] = {}
    got: list[tuple[int, bytes, list[Piece]]] = []
    for frame, (a, b, cut) in enumerate(feed, start=1):
        frames[frame] = (a, b)
        r.add(frame, isn + 1 + a, data[a:a + cut], length=b - a)
        if rnd.random() < 0.2:
            r.skip_gap()
        if rnd.random() < 0.3:
            got += runs(r)
        assert r.pending_segments <= max_segs and r.pending_bytes <= max_bytes
    r.close()
    got += runs(r)

    # runs and gaps tile [0, next_offset) in order, without overlap
    tiles = sorted([(off, len(d), "run") for off, d, _ in got]
                   + [(e.offset, e.length, "gap") for e in r.events if e.kind == "gap"])
    at = 0
    for off, length, _ in tiles:
        assert off == at and length > 0
        at += length
    assert at == r.next_offset <= len(data)
    for off, d, pieces in got:
        assert d == data[off:off + len(d)]
        for p in pieces:
            a, b = frames[p.frame]
            assert a <= p.offset and p.offset + p.length <= b
    assert "overlap_mismatch" not in kinds(r)


OFFS = st.integers(-70, 700)
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.one_of(OFFS, st.integers(-(1 << 40), 1 << 40)),
              st.binary(max_size=200), st.booleans(), st.booleans(),
              st.one_of(st.none(), st.integers(-5, 400), st.integers(-(1 << 40), 1 << 40))),
    st.tuples(st.just("ack"), OFFS),
    st.tuples(st.sampled_from(["read", "skip", "close", "take"])),
), max_size=60)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, isn=st.one_of(st.none(), ISNS), max_segs=st.integers(0, 8),
       max_bytes=st.integers(0, 600), hist=st.integers(0, 100), unread=st.integers(0, 500),
       max_events=st.integers(0, 20))
def test_never_raises(ops: list[tuple[Any, ...]], isn: int | None, max_segs: int,
                      max_bytes: int, hist: int, unread: int, max_events: int) -> None:
    r = Reassembler(isn, max_pending_segments=max_segs, max_pending_bytes=max_bytes,
                    history_bytes=hist, max_unread_bytes=unread, max_events=max_events)
    base = 0 if isn is None else isn + 1
    for frame, op in enumerate(ops):
        if op[0] == "add":
            _, off, payload, syn, fin, length = op
            r.add(frame, base + off, payload, syn=syn, fin=fin, length=length)
        elif op[0] == "ack":
            r.ack(frame, base + op[1])
        elif op[0] == "read":
            data, pieces = r.read()
            assert len(data) == sum(p.length for p in pieces)
        elif op[0] == "skip":
            ev = r.skip_gap()
            assert ev is None or (ev.kind == "gap" and ev.length > 0)
        elif op[0] == "close":
            r.close()
            assert r.pending_segments == 0
        else:
            r.take_events()
        assert 0 <= r.pending_segments <= max_segs
        assert 0 <= r.pending_bytes <= max_bytes
        assert len(r.events) <= max_events
    runs(r)


# ------------------------------------------------------ tshark as the oracle

_CONF = tempfile.mkdtemp(prefix="hs-tshark-follow-")
MISSING = "[{} bytes missing in capture file]"  # what tshark 4.0 follow writes for a hole
#: streams with more payload than this are not followed (keeps the run short)
MAX_FOLLOW_BYTES = 4 << 20


def tshark_follow(path: Path, streams: Iterable[int]) -> dict[int, tuple[list[str], list[bytes]]]:
    """One tshark run for several streams: {stream: ([node 0, node 1], [bytes 0, bytes 1])}."""
    require(shutil.which("tshark") is not None, "tshark is not installed")
    cmd = ["tshark", "-n", "-r", str(path), "-q"]
    for n in streams:
        cmd += ["-z", f"follow,tcp,raw,{n}"]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_CONF)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False).stdout
    result: dict[int, tuple[list[str], list[bytes]]] = {}
    nodes: list[str] = []
    data = [bytearray(), bytearray()]
    for line in out.split("\n"):
        if line.startswith("Filter: tcp.stream eq "):
            nodes, data = [], [bytearray(), bytearray()]
            result[int(line.rsplit(" ", 1)[1])] = (nodes, data)  # type: ignore[assignment]
        elif line.startswith("Node "):
            nodes.append(line.split(": ", 1)[1])
        elif line.strip() and not line.startswith(("=", "Follow:")):
            # raw mode: one hex line per segment; node 1's lines are indented by a tab
            data[1 if line.startswith("\t") else 0] += bytes.fromhex(line.strip())
    return {n: (nodes, [bytes(d) for d in data]) for n, (nodes, data) in result.items()}


def _endpoint(text: str) -> tuple[Any, int]:
    host, port = text.rsplit(":", 1)
    return ipaddress.ip_address(host.strip("[]")), int(port)


def reassemble(segments: list[Any], sender: int, *, acks: bool = True) -> Reassembler:
    """One direction of a kept stream, fed as the TLS layer will feed it.

    With ``acks``, the peer's ACKs give up on holes it acknowledged, as
    tshark's follow does (``check_follow_fragments``: "frames missing in the
    capture file that were seen by the receiving host").
    """
    r = Reassembler()
    for s in segments:
        if s.sender == sender:
            r.add(s.frame, s.seq_raw, s.payload, syn=bool(s.flags & SYN_FLAG),
                  fin=bool(s.flags & FIN_FLAG), length=s.len)
        elif acks and s.flags & ACK_FLAG:
            r.ack(s.frame, s.ack_raw)
    r.close()
    return r


def as_tshark_follows(r: Reassembler) -> tuple[bytes, bool]:
    """Our stream written as tshark 4.0 follow writes it, and whether all of it compares.

    A hole the peer acknowledged is tshark's "[N bytes missing in capture
    file]" marker and a NUL. Two differences are legitimate, and there we
    compare only up to the first such gap (``False``: ours is a prefix of
    tshark's output):

    - a hole nobody acknowledged, given up at the end of the capture: tshark
      keeps waiting for it and never writes the data behind it;
    - a snaplen-cut frame: tshark writes its captured bytes, but a frame whose
      payload was cut away entirely leaves it waiting for bytes that never
      come, so again it never writes the data behind it.
    """
    items: list[tuple[int, bytes]] = [(off, data) for off, data, _ in runs(r)]
    cut_at = None
    for e in r.events:
        if e.kind != "gap" or e.detail == GAP_BEFORE_FIN:  # tshark writes nothing there
            continue
        if e.detail == GAP_ACKED:
            items.append((e.offset, MISSING.format(e.length).encode() + b"\0"))
        else:
            cut_at = e.offset if cut_at is None else min(cut_at, e.offset)
    items.sort(key=lambda item: item[0])
    if cut_at is not None:
        items = [(off, data[:cut_at - off]) for off, data in items if off < cut_at]
    return b"".join(data for _, data in items), cut_at is None


def compare_with_tshark(path: Path, kept: dict[int, Any], a_endpoints: dict[int, Any]) -> int:
    """Every direction of every stream equals tshark's follow; returns the bytes compared."""
    streams = [n for n, st in kept.items()
               if 0 < sum(s.len for s in st.segments) <= MAX_FOLLOW_BYTES]
    if not streams:
        return 0
    follows = tshark_follow(path, streams)
    compared = 0
    for n in streams:
        nodes, data = follows[n]
        # node 0 is not always our endpoint a (the first sender): map by endpoints
        theirs = data if _endpoint(nodes[0]) == a_endpoints[n] else data[::-1]
        for sender in (0, 1):
            r = reassemble(kept[n].segments, sender)
            ours, whole = as_tshark_follows(r)
            if whole:
                assert ours == theirs[sender], (n, sender, r.events[:5])
            else:
                assert theirs[sender].startswith(ours), (n, sender, r.events[:5])
            compared += len(ours)
    return compared


@pytest.mark.tshark
@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_corpus_streams_equal_tshark_follow(path: Path) -> None:
    from handshaker.analysis import analyze

    a = analyze(path, keep_tcp=lambda n: True)
    ends = {n: (ipaddress.ip_address(st.a.ip), st.a.port) for n, st in a.kept.items()}
    compare_with_tshark(path, a.kept, ends)


def test_corpus_has_streams_with_gaps_and_retransmissions() -> None:
    """The corpus exercises what the oracle test claims to check (no tshark needed)."""
    from handshaker.analysis import analyze

    seen: set[str] = set()
    for name in ("zeek/ldap/gap-data-missing.pcapng", "zeek/tcp/truncated-header.pcap",
                 "ja4/CVE-2018-6794.pcap"):
        path = CORPUS / name
        require(path.is_file(), f"corpus file {name} is missing")
        a = analyze(path, keep_tcp=lambda n: True)
        for tcp in a.kept.values():
            for sender in (0, 1):
                r = reassemble(tcp.segments or [], sender)
                seen |= {e.detail if e.kind == "gap" else e.kind for e in r.events}
    assert {GAP_ACKED, GAP_SNAPLEN, "retransmission"} <= seen


SYNTH_TEXT = bytes(range(32, 127)) * 4


def _synthetic_capture(path: Path) -> None:
    """Streams built to hit every case, written as one pcap (ports 40000 + n)."""
    from capture_writers import pcap_file
    from tcp_synth import ACK, FIN, PSH, SYN, frame

    client, server = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    records: list[tuple[int, int, bytes, int]] = []
    t_us = 0

    def emit(n: int, who: str, isn: int, off: int, flags: int, payload: bytes = b"",
             cut: int | None = None, ack: int = 0) -> None:
        nonlocal t_us
        ends = ((client, 40000 + n), (server, 80))
        src, dst = ends if who == "c" else ends[::-1]
        s = isn if flags & SYN else isn + 1 + off
        f = frame(src, dst, s, ack, flags if flags == SYN else flags | ACK, payload)
        t_us += 1000
        captured = f if cut is None else f[:len(f) - len(payload) + cut]
        records.append((1 + t_us // 10**6, t_us % 10**6, captured, len(f)))

    text = SYNTH_TEXT
    # 0: ISNs just below 2**32 on both sides, reordering, duplicates, overlaps (same bytes)
    ci, si = M32 - 40, M32 - 3
    emit(0, "c", ci, 0, SYN)
    emit(0, "s", si, 0, SYN)
    for off in (0, 60, 30, 30, 90, 20, 120):
        emit(0, "c", ci, off, PSH, text[off:off + 30])
    emit(0, "s", si, 0, PSH, text[:100])
    emit(0, "s", si, 50, PSH, text[50:200])
    emit(0, "c", ci, 150, FIN)
    # 1: overlaps with different bytes, delivered and waiting
    emit(1, "c", ISN, 0, SYN)
    emit(1, "c", ISN, 0, PSH, b"hello world")
    emit(1, "c", ISN, 6, PSH, b"WORLD and more")
    emit(1, "c", ISN, 29, PSH, b"later")
    emit(1, "c", ISN, 27, PSH, b"XYZZ")
    emit(1, "c", ISN, 11, PSH, b"0123456789abcdef")
    # 2: frames cut by the snaplen, in order and out of order
    emit(2, "c", ISN, 0, SYN)
    emit(2, "c", ISN, 0, PSH, b"A" * 100, cut=40)
    emit(2, "c", ISN, 200, PSH, b"C" * 100)
    emit(2, "c", ISN, 100, PSH, b"B" * 100, cut=0)
    emit(2, "c", ISN, 300, PSH, b"D" * 50)
    # 3: TCP Fast Open: data on the SYN
    emit(3, "c", ISN, 0, SYN, b"tfo-data")
    emit(3, "c", ISN, 8, PSH, b"-more")
    # 4: a lost segment (never in the capture) that the peer acknowledged, data after it
    emit(4, "c", ISN, 0, SYN)
    emit(4, "c", ISN, 0, PSH, text[:50])
    emit(4, "c", ISN, 80, PSH, text[80:120])
    emit(4, "s", 5000, 0, ACK, ack=ISN + 1 + 120)
    emit(4, "c", ISN, 120, PSH | FIN, text[120:130])
    # 5: the same, never acknowledged
    emit(5, "c", ISN, 0, SYN)
    emit(5, "c", ISN, 0, PSH, text[:50])
    emit(5, "c", ISN, 80, PSH | FIN, text[80:120])
    path.write_bytes(pcap_file(records))


@pytest.mark.tshark
def test_synthetic_cases_equal_tshark_follow(tmp_path: Path) -> None:
    from handshaker.analysis import analyze

    path = tmp_path / "reassembly.pcap"
    _synthetic_capture(path)
    a = analyze(path, keep_tcp=lambda n: True)
    assert len(a.kept) == 6
    ends = {n: (ipaddress.ip_address(st.a.ip), st.a.port) for n, st in a.kept.items()}
    assert compare_with_tshark(path, a.kept, ends) > 600
    # and what they show, in our own terms
    r1 = reassemble(a.kept[1].segments or [], 0)
    assert [e.kind for e in r1.events].count("overlap_mismatch") == 3
    r2 = reassemble(a.kept[2].segments or [], 0)
    assert [g[:2] for g in gaps(r2)] == [(40, 60), (100, 100)]
    r4 = reassemble(a.kept[4].segments or [], 0)
    ack_frame = next(s.frame for s in a.kept[4].segments or [] if s.sender == 1)
    assert gaps(r4) == [(50, 30, ack_frame, GAP_ACKED)]
    assert stream(r4) == SYNTH_TEXT[:50] + SYNTH_TEXT[80:130]
    r5 = reassemble(a.kept[5].segments or [], 0)
    assert [g[:2] + g[3:] for g in gaps(r5)] == [(50, 30, GAP_GIVEN_UP)]
