"""The light TLS reader's lean path against the record layer it stands in for.

In light mode (analyze's summary) :meth:`TlsObserver._lean` reads whole plaintext
handshake records straight off a segment that one frame carried, without the record
layer's objects. Here it is switched off (the record layer then reads everything) and
the summaries compared: on every corpus capture, and on real handshakes cut into
segments at random places, so that records and messages straddle segments.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from conftest import corpus_captures
from hypothesis import given, settings
from hypothesis import strategies as st

from handshaker.analysis import analyze
from handshaker.render.json_out import connection_dict
from handshaker.tls import observer
from handshaker.tls.observer import TlsObserver

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
def no_lean() -> Iterator[None]:
    real = TlsObserver._lean
    TlsObserver._lean = lambda self, d, ds, data, offset, ts: (data, offset)  # type: ignore
    try:
        yield
    finally:
        TlsObserver._lean = real  # type: ignore[method-assign]


def summaries(path: Path) -> list[str]:
    return [json.dumps(connection_dict(c), sort_keys=True) for c in analyze(path).connections]


def test_corpus_summaries_are_the_same_without_the_lean_path() -> None:
    captures = corpus_captures() + sorted(DATA.glob("*.pcap"))
    with lean_counted() as taken:
        lean = {p: summaries(p) for p in captures}
    assert taken[0] > 100_000  # it did read most handshakes
    with no_lean():
        for p in captures:
            assert summaries(p) == lean[p], p


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


def observe(isns: tuple[int, int], pieces: list[tuple[int, bytes]]) -> dict[str, Any] | None:
    """A light-mode observer fed ``pieces`` (direction, bytes) in order."""
    o = observer.observe(_Stream(isns), pieces[0][0], pieces[0][1])
    if o is None:
        return None
    nxt = [(isns[0] + 1) & 0xFFFFFFFF, (isns[1] + 1) & 0xFFFFFFFF]
    for frame, (d, data) in enumerate(pieces, start=10):
        if o.wants[d]:
            o.segment(d, frame, frame * 1000, nxt[d], len(data), data, 0)
        nxt[d] = (nxt[d] + len(data)) & 0xFFFFFFFF
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
def test_cut_handshakes_read_the_same_without_the_lean_path(data: st.DataObject) -> None:
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
    lean = observe(isns, pieces)
    with no_lean():
        assert observe(isns, pieces) == lean


def test_whole_flights_take_the_lean_path() -> None:
    """A flight in one piece is read by the lean path (the test above then compares
    something): the bytes it takes are counted."""
    with lean_counted() as taken:
        for isns, runs in flights():
            observe(isns, runs)
    assert taken[0] > 1000
