"""The light TLS reader's lite and lean paths against the record layer they stand in for.

In light mode (analyze's summary) :meth:`TlsObserver._lite` first reads each stream
without the reassembler and the record layer, while its segments come in order and whole
and hold plaintext handshake records of whole messages; at the first that does not, it
reads its log again the usual way. There, :meth:`TlsObserver._lean` reads whole
plaintext handshake records straight off a segment that one frame carried, without the
record layer's objects. Here each is switched off in turn (the record layer then reads
everything) and the summaries compared: on every corpus capture, and on real handshakes
cut into segments at random places, so that records and messages straddle segments,
with segments sent again and out of order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from conftest import corpus_captures, require
from hypothesis import given, settings
from hypothesis import strategies as st

from handshaker.analysis import analyze
from handshaker.render.json_out import connection_dict
from handshaker.tls import observer, records
from handshaker.tls.observer import TlsObserver
from handshaker.tls.records import Handshake

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"


@contextmanager
def lean_counted() -> Iterator[list[int]]:
    """Count the bytes the lean path takes (records read straight off segments)."""
    taken = [0]
    real = TlsObserver._lean

    def counting(self: TlsObserver, d: int, ds: Any, data: bytes, offset: int,
                 ts: int) -> tuple[bytes, int]:
        rest, at = real(self, d, ds, data, offset, ts)
        taken[0] += at - offset
        return rest, at

    TlsObserver._lean = counting  # type: ignore[method-assign]
    try:
        yield taken
    finally:
        TlsObserver._lean = real  # type: ignore[method-assign]


@contextmanager
def lite_counted() -> Iterator[list[int]]:
    """Count the segments the lite path reads and those it gives up at."""
    counts = [0, 0]
    real = TlsObserver._lite

    def counting(self: TlsObserver, *args: Any) -> bool:
        kept = real(self, *args)
        counts[0 if kept else 1] += 1
        return kept

    TlsObserver._lite = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        TlsObserver._lite = real  # type: ignore[method-assign]


@contextmanager
def no_lean() -> Iterator[None]:
    real = TlsObserver._lean
    TlsObserver._lean = lambda self, d, ds, data, offset, ts: (data, offset)  # type: ignore
    try:
        yield
    finally:
        TlsObserver._lean = real  # type: ignore[method-assign]


@contextmanager
def no_lite() -> Iterator[None]:
    """The lite path gives up at once: each stream is read again from its log."""
    real = TlsObserver._lite
    TlsObserver._lite = lambda self, *args: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        TlsObserver._lite = real  # type: ignore[method-assign]


def summaries(path: Path) -> list[str]:
    return [json.dumps(connection_dict(c), sort_keys=True) for c in analyze(path).connections]


def test_corpus_summaries_are_the_same_without_the_lite_and_lean_paths() -> None:
    captures = corpus_captures() + sorted(DATA.glob("*.pcap"))
    with lite_counted() as counts:
        lite = {p: summaries(p) for p in captures}
    assert counts[0] > 200 and counts[1] > 20  # it read most streams, gave up at some
    with no_lite(), lean_counted() as taken:
        for p in captures:
            assert summaries(p) == lite[p], p
    assert taken[0] > 100_000  # it did read most handshakes
    with no_lite(), no_lean():
        for p in captures:
            assert summaries(p) == lite[p], p
    # the lite reading gives up on a direction after MAX_LITE_BYTES, here 300 of them
    with mock.patch.object(observer, "MAX_LITE_BYTES", 300), lite_counted() as counts:
        for p in captures:
            assert summaries(p) == lite[p], p
    assert counts[1] > 100


# -- real handshakes, cut anew ---------------------------------------------------------

class _Dir:
    def __init__(self, isn: int | None, syn: list[int]) -> None:
        self.isn = isn
        self.syn_frames = syn


class _Stream:
    """What an observer reads of a TCP stream."""

    segments = None

    def __init__(self, isns: tuple[int | None, int | None]) -> None:
        self.number = 0
        self.first_ts = 0
        self.dirs = (_Dir(isns[0], [1]), _Dir(isns[1], []))


@cache
def flights() -> list[tuple[tuple[int, int], list[tuple[int, bytes]]]]:
    """Of each TLS stream of the tour captures and a few corpus ones: the ISNs and the
    payload of each direction in order, as runs of one direction ("flights")."""
    out = []
    paths = sorted(DATA.glob("tour-tls*.pcap"))
    paths += [p for p in corpus_captures() if p.name in (
        "tls13-ech.pcap", "client-certificate.pcap", "tls-handshake.pcapng",
        "tls1.2.pcap", "tls-session-ticket.pcap", "dhe.pcap")]
    for path in paths:
        a = analyze(path, keep_tcp=lambda n: True)
        for s in a.kept.values():
            if s.observer is None and not any(seg.payload[:1] == b"\x16"
                                              for seg in s.segments or ()):
                continue
            runs: list[tuple[int, bytes]] = []
            for seg in s.segments or ():
                if not seg.payload or seg.analysis:
                    continue  # retransmissions and the like: the flights' bytes once
                if runs and runs[-1][0] == seg.sender:
                    runs[-1] = (seg.sender, runs[-1][1] + seg.payload)
                else:
                    runs.append((seg.sender, seg.payload))
            if runs:
                out.append(((s.dirs[0].isn or 0, s.dirs[1].isn or 0), runs[:6]))
    return out


def observe(isns: tuple[int, int], pieces: list[tuple[int, bytes]],
            order: list[int] | None = None) -> dict[str, Any] | None:
    """A light-mode observer fed ``pieces`` (direction, bytes), in order or in the
    ``order`` of their indexes (sent again, out of order)."""
    o = observer.observe(_Stream(isns), pieces[0][0], pieces[0][1])
    if o is None:
        return None
    seqs, nxt = [], [(isns[0] + 1) & 0xFFFFFFFF, (isns[1] + 1) & 0xFFFFFFFF]
    for d, data in pieces:
        seqs.append(nxt[d])
        nxt[d] = (nxt[d] + len(data)) & 0xFFFFFFFF
    for frame, i in enumerate(range(len(pieces)) if order is None else order, start=10):
        d, data = pieces[i]
        if o.wants[d]:
            o.segment(d, frame, frame * 1000, seqs[i], len(data), data, 0)
    s = o.finish(("10.0.0.1", 40000), ("10.0.0.2", 443), 0, None)
    if s is None:
        return None
    return s.as_dict()  # (its messages too: where each was seen)


def test_flights_were_found() -> None:
    assert len(flights()) >= 5


def reframe(flight: bytes, cuts: list[int]) -> bytes:
    """The flight with its leading plaintext handshake records made anew, their
    messages cut into records at ``cuts`` (offsets into those messages): TLS lets a
    sender split handshake messages over records as it likes (RFC 8446 §5.1)."""
    pos, messages, version = 0, b"", b""
    while len(flight) - pos >= 5 and flight[pos] == 22:
        length = int.from_bytes(flight[pos + 3:pos + 5], "big")
        if pos + 5 + length > len(flight):
            break
        version = flight[pos + 1:pos + 3]
        messages += flight[pos + 5:pos + 5 + length]
        pos += 5 + length
    if not messages:
        return flight
    out, at = b"", 0
    for c in [*sorted(c for c in cuts if 0 < c < len(messages)), len(messages)]:
        if c > at:
            out += b"\x16" + version + (c - at).to_bytes(2, "big") + messages[at:c]
            at = c
    return out + flight[pos:]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_cut_handshakes_read_the_same_without_the_lite_and_lean_paths(data: st.DataObject) -> None:
    isns, runs = data.draw(st.sampled_from(flights()))
    pieces = []
    for d, flight in runs:
        payload = reframe(flight, data.draw(st.lists(st.integers(1, 4000), max_size=4)))
        cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(payload) - 1)),
                                        max_size=6)))
        at = 0
        for c in [*cuts, len(payload)]:
            if c > at:
                pieces.append((d, payload[at:c]))
                at = c
    # some pieces sent again, or first sent one place late
    order = list(range(len(pieces)))
    for i in sorted(data.draw(st.sets(st.integers(0, len(pieces) - 1), max_size=2)),
                    reverse=True):
        if data.draw(st.booleans()):
            order.insert(i + 1, i)
        elif i + 1 < len(order):
            order[i], order[i + 1] = order[i + 1], order[i]
    for shuffled in (None, order):
        lite = observe(isns, pieces, shuffled)
        with no_lite():
            assert observe(isns, pieces, shuffled) == lite
            with no_lean():
                assert observe(isns, pieces, shuffled) == lite


def test_whole_flights_take_the_lite_and_lean_paths() -> None:
    """A flight in one piece is read by the lite path, and without it by the lean path
    (the test above then compares something): the segments and bytes they take are
    counted."""
    with lite_counted() as counts:
        for isns, runs in flights():
            observe(isns, runs)
    assert counts[0] > 10
    with no_lite(), lean_counted() as taken:
        for isns, runs in flights():
            observe(isns, runs)
    assert taken[0] > 1000


# -- the compiled record reader against its Python twin --------------------------------

def _records_or_skip() -> Any:
    require(records._compiled is not None,
            "the compiled record reader (tls/_hello.c) was not built")
    return records._compiled


def test_the_compiled_records_equal_their_twin_on_real_flights() -> None:
    """Each flight of the tour's and the corpus's handshakes, whole, cut at every
    length, from every record and byte in its first 600 bytes."""
    compiled = _records_or_skip()
    seen = 0
    for _isns, runs in flights():
        for _d, flight in runs:
            for start in range(min(len(flight), 600)):
                for end in (len(flight), *range(start, min(len(flight), start + 700), 7)):
                    data = flight[start:end]
                    want = records.read_handshake_records(data, 1000 + start)
                    assert compiled.handshake_records(data, 1000 + start, Handshake) == want
                    seen += len(want)
    assert seen > 1000


_message = st.tuples(st.integers(0, 255), st.binary(max_size=40), st.integers(-3, 3))


@settings(max_examples=500, deadline=None)
@given(recs=st.lists(st.tuples(st.sampled_from([22, 22, 22, 20, 23]),
                               st.lists(_message, max_size=4), st.integers(-3, 3),
                               st.booleans()), max_size=5),
       junk=st.binary(max_size=12), cut=st.integers(0, 30), offset=st.integers(0, 2**40))
def test_the_compiled_records_equal_their_twin_on_noise(
        recs: list[tuple[int, list[tuple[int, bytes, int]], int, bool]], junk: bytes, cut: int,
        offset: int) -> None:
    """Records whose message and record lengths lie by a few bytes, other content
    types, empty and overlong records, junk after, cut short anywhere."""
    compiled = _records_or_skip()
    data = b""
    for ctype, messages, lie, huge in recs:
        body = b"".join(bytes([t]) + max(0, len(m) + ml).to_bytes(3, "big") + m
                        for t, m, ml in messages)
        length = 2**14 + 2049 if huge and lie > 2 else max(0, len(body) + lie)
        data += bytes([ctype, 3, 3]) + (length & 0xFFFF).to_bytes(2, "big") + body
    data = (data + junk)[:max(0, len(data) + len(junk) - cut)]
    want = records.read_handshake_records(data, offset)
    assert compiled.handshake_records(data, offset, Handshake) == want
    assert compiled.handshake_records(bytearray(data), offset, Handshake) == want
