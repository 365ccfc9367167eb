"""The compiled helpers (handshaker.compiled) against their pure-Python twins.

The package builds them when it can (setup.py, optional) and runs the same code
in Python when it cannot, or with HANDSHAKER_PURE_PYTHON set. Both must give
the same answers: here on the corpus and on a generated capture with
retransmissions and disorder, in a pure-Python interpreter (a subprocess that
never loads an extension) against this one (test_columnar.py holds both
decoders to the reference decoder); the record walk on good and
damaged buffers; the two TCP lanes, which must leave every field of every
stream alike (here, and test_flow_tshark and test_flow_random inside one
interpreter as well). test_tls_hello.py compares the hello readers.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from conftest import ROOT, corpus_captures, require
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tcp_synth import ACK, FIN, PSH, RST, SYN, SYN_OPTS, new_conversation
from test_flow_random import CLOSES, DISORDER, build

from handshaker.analysis import Pipeline, analyze
from handshaker.capture import open_capture, pcap, pcapng
from handshaker.dissect import columnar
from handshaker.flow import tcp
from handshaker.split import analyze_split, cuts
from handshaker.tls import hello

BENCH_GENERATOR = ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"

# Runs in a fresh interpreter: every capture's connections, pickled, and which lane ran.
_PURE = """
import pickle, sys
from handshaker.analysis import analyze
from handshaker.flow import tcp
from handshaker.capture import pcap
from handshaker.dissect import columnar
from handshaker.tls import hello
out = {"lane": tcp._lane, "walk": pcap._walk, "hello": hello._compiled, "decode": columnar._decode,
       "base": tcp.TcpStream.__mro__[2].__name__,
       "results": [analyze(p).connections for p in sys.argv[1:]]}
sys.stdout.buffer.write(pickle.dumps(out))
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A realistic capture (TLS, bulk data, retransmissions, disorder) of ~300 flows."""
    path = tmp_path_factory.mktemp("lane") / "flows.pcap"
    subprocess.run([sys.executable, str(BENCH_GENERATOR), "-o", str(path), "-n", "300",
                    "--retx", "0.05", "--ooo", "0.05", "--seed", "7"],
                   check=True, capture_output=True)
    return path


def test_the_helpers_are_compiled() -> None:
    """The package's own build compiles them with the machine's C compiler."""
    require(pcap._walk is not None, "the compiled record walk (capture/_walk.c) was not built")
    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    require(hello._compiled is not None, "the compiled hello readers (tls/_hello.c) were not built")
    require(columnar._decode is not None, "the compiled decoder (dissect/_decode.c) was not built")
    assert tcp.TcpStream.__mro__[2] is tcp._lane.StreamCore
    assert tcp.TcpTracker().compiled


def test_pure_python_gives_the_same_answers(generated: Path) -> None:
    paths = [*corpus_captures(), generated]
    env = {**os.environ, "HANDSHAKER_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", _PURE, *map(str, paths)], env=env,
                         check=True, capture_output=True).stdout
    pure = pickle.loads(out)
    assert pure["lane"] is None and pure["walk"] is None and pure["hello"] is None
    assert pure["decode"] is None
    assert pure["base"] == "_PyStreamCore"
    assert len(pure["results"]) == len(paths)
    for path, theirs in zip(paths, pure["results"], strict=True):
        assert analyze(path).connections == theirs, path.name
    assert sum(len(r) for r in pure["results"]) > 300  # (the corpus was there)


def test_the_compiled_lane_takes_most_segments(generated: Path) -> None:
    """On a capture of 300 flows the compiled lane takes most segments, and the results
    agree with the Python lane's to the last counter."""
    from conftest import python_lane

    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    taken: list[int] = []
    real = tcp._lane.Lane

    class Counting:
        def __init__(self, *args: object) -> None:
            self.lane = real(*args)

        def run(self, i: int) -> int:
            j = self.lane.run(i)
            taken.append(j - i)
            return j

        def row(self, i: int) -> tuple[int, ...]:
            return self.lane.row(i)

    saved = tcp._lane
    tcp._lane = type("Counted", (), {"Lane": Counting, "analyze": staticmethod(saved.analyze)})
    try:
        compiled = analyze(generated)
    finally:
        tcp._lane = saved
    with python_lane():
        python = analyze(generated)
    assert compiled.connections == python.connections
    tcp_segments = compiled.counts["tcp"]
    assert sum(taken) > tcp_segments // 2  # the lane took most of them


def _field_values(stream: tcp.TcpStream) -> dict[str, object]:
    """Every field of a stream, its directions' too (the observer by its kind only)."""
    values = dict(zip(type(stream)._fields, stream.__getstate__(), strict=True))
    values["dirs"] = [dict(zip(type(d)._fields, d.__getstate__(), strict=True))
                      for d in stream.dirs]
    values["observer"] = type(stream.observer).__name__
    return values


def _streams_as_retired(path: Path, lane: str) -> list[dict[str, object]]:
    """Each TCP stream of ``path`` as it was when retired, every field, in one lane."""
    from conftest import python_lane

    seen: list[dict[str, object]] = []
    real = Pipeline._tcp_retired

    def spy(self: Pipeline, stream: tcp.TcpStream) -> None:
        seen.append(_field_values(stream))
        real(self, stream)

    with mock.patch.object(Pipeline, "_tcp_retired", spy), \
            python_lane() if lane == "python" else contextlib.nullcontext():
        analyze(path)
        # streaming: streams over and quiet are retired as the capture goes (expire)
        analyze(path, on_connection=lambda c: None)
    return seen


def test_the_lanes_leave_every_field_alike(generated: Path) -> None:
    """The compiled lane takes control segments (ACKs, FINs) that Python sends to
    TcpTracker.segment: every field of every stream, states, history, events and
    directions included, must come out as the Python analysis leaves it."""
    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    for path in [*corpus_captures(), generated]:
        compiled = _streams_as_retired(path, "compiled")
        assert compiled == _streams_as_retired(path, "python"), path.name


@settings(max_examples=int(os.environ.get("HS_EXAMPLES", "40")), deadline=None)
@given(seed=st.integers(0, 2**32), isn_c=st.integers(0, 2**32 - 1),
       isn_s=st.integers(2**32 - 3000, 2**32 - 1),
       sizes=st.lists(st.tuples(st.sampled_from("cs"), st.integers(1, 5000)), max_size=4),
       disorder=st.sampled_from(DISORDER), close=st.sampled_from(CLOSES))
def test_the_lanes_leave_random_conversations_alike(tmp_path_factory: pytest.TempPathFactory,
                                                    seed: int, isn_c: int, isn_s: int,
                                                    sizes: list[tuple[str, int]],
                                                    disorder: str, close: str) -> None:
    """The same on hypothesis's conversations (test_flow_random): every close, crossed
    FINs, zero windows, keep-alives, segments the capture missed."""
    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    path = tmp_path_factory.mktemp("lanes") / "c.pcap"
    path.write_bytes(build(seed, isn_c, isn_s, 0, sizes, disorder, close).pcap())
    compiled = _streams_as_retired(path, "compiled")
    assert compiled == _streams_as_retired(path, "python")


#: options a SYN may carry: none, Linux's, window scales beyond 14 and of 0, timestamps
#: alone, TFO, and cut short
OPTIONS = (b"", SYN_OPTS, b"\x01\x03\x03\x0f", b"\x03\x03\x00",
           b"\x08\x0a" + bytes(8), b"\x22\x02", b"\x02\x04\x05")
#: a step of a chaotic conversation: (who, flags, how its seq and ack are made, payload,
#: window, options, gap in microseconds)
STEP = st.tuples(
    st.sampled_from("cs"),
    st.sampled_from((SYN, SYN | ACK, ACK, ACK, ACK | PSH, FIN | ACK, FIN, RST | ACK, RST,
                     SYN | FIN, SYN | ACK | PSH)),
    st.sampled_from(("next", "next", "back", "ahead", "isn", "odd_ack")),
    st.sampled_from((b"", b"", b"x", b"hello world")),
    st.sampled_from((65535, 65535, 0, 1000)),
    st.sampled_from(OPTIONS),
    st.sampled_from((100, 3000, 11_000_000, 400_000_000)),
)


@settings(max_examples=int(os.environ.get("HS_EXAMPLES", "40")) * 5, deadline=None)
@given(isn_c=st.integers(0, 2**32 - 1), isn_s=st.integers(0, 2**32 - 1),
       steps=st.lists(STEP, min_size=1, max_size=30))
# data after the peer's FIN, which shut its window as it closed: no analysis flag, yet
# not the fast lane's (data_after_peer_fin)
@example(isn_c=1000, isn_s=5000, steps=[
    ("c", SYN, "next", b"", 65535, SYN_OPTS, 100),
    ("s", SYN | ACK, "next", b"", 65535, SYN_OPTS, 100),
    ("c", ACK, "next", b"", 65535, b"", 100),
    ("s", ACK | PSH, "next", b"hello world", 65535, b"", 100),
    ("c", FIN | ACK, "next", b"", 0, b"", 100),
    ("s", ACK, "next", b"", 65535, b"", 100),
    ("s", ACK | PSH, "next", b"hello world", 65535, b"", 100)])
def test_the_lanes_leave_chaotic_conversations_alike(tmp_path_factory: pytest.TempPathFactory,
                                                     isn_c: int, isn_s: int,
                                                     steps: list[tuple[Any, ...]]) -> None:
    """The same on conversations no stack would make: SYNs and SYN+ACKs anywhere, with
    any options, new ISNs on a known 4-tuple, FINs and RSTs out of turn, silences long
    enough to end a connection; in one pass and streaming (where connections over are
    retired as the capture goes)."""
    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    cv = new_conversation(isn_c, isn_s)
    for who, flags, numbers, payload, window, options, gap in steps:
        me, _ = cv.side(who)
        opts = options if flags & SYN else b""
        if numbers == "next":
            cv.send(who, flags, payload, window=window, options=opts, gap_us=gap)
            continue
        seq = {"back": me.nxt - 1, "ahead": me.nxt + 100, "isn": me.isn ^ 0x5A5A,
               "odd_ack": me.nxt}[numbers]
        ack = me.rcv + (7 if numbers == "odd_ack" else 0) if flags & ACK else 0
        cv.emit(who, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, payload, window=window,
                options=opts, gap_us=gap)
    path = tmp_path_factory.mktemp("chaos") / "c.pcap"
    path.write_bytes(cv.pcap())
    compiled = _streams_as_retired(path, "compiled")
    assert compiled == _streams_as_retired(path, "python")


def test_the_analysis_lets_each_batch_go(generated: Path, lane: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane holds its batch's bytes (the compiled one reads the SYNs' options there)
    only while it runs: the chunk buffers are reused, not allocated anew, and memory stays
    flat. (A reference cycle through the lane, which the paused cyclic collector never
    breaks, kept every buffer: 915 MB for the 1M-packet capture.)"""
    from handshaker.capture import source

    fresh = []
    real_allocate, real_init = source.ChunkBuffer._allocate, source.ChunkBuffer.__init__

    def allocate(self: source.ChunkBuffer, size: int) -> bytearray:
        ids = {id(b) for b in self._spares}
        buf = real_allocate(self, size)
        fresh.append(id(buf) not in ids)
        return buf

    def init(self: source.ChunkBuffer, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **{**kwargs, "chunk_size": 1 << 16})

    monkeypatch.setattr(source.ChunkBuffer, "_allocate", allocate)
    monkeypatch.setattr(source.ChunkBuffer, "__init__", init)
    analyze(generated)
    assert len(fresh) > 20  # (many chunks)
    assert sum(fresh) <= 4


def test_a_split_run_carries_compiled_streams(generated: Path) -> None:
    """Streams open at a cut cross processes pickled: their compiled fields go along."""
    one = analyze(generated)
    parts = analyze_split(str(generated), jobs=2, ranges=cuts(generated.stat().st_size, 3))
    assert parts.connections == one.connections


def test_streams_pickle_with_every_field() -> None:
    st = tcp.TcpStream(3, tcp.Endpoint("10.0.0.1", 1), tcp.Endpoint("10.0.0.2", 2), False)
    st.last_ts = 1_700_000_000_123_456_789
    st.watch = True
    st.dirs[1].nextseq = 0xFFFFFFFF
    st.dirs[1].marks = tcp.MARK_D | tcp.MARK_FIN
    st.dirs[1].fin_frames.append(7)
    st.history += "d"
    back = pickle.loads(pickle.dumps(st))
    for name in type(st)._fields:
        if name != "dirs":
            assert getattr(back, name) == getattr(st, name), name
    for d in (0, 1):
        for name in type(st.dirs[d])._fields:
            assert getattr(back.dirs[d], name) == getattr(st.dirs[d], name), name


def _lane_or_skip() -> object:
    require(tcp._lane is not None, "the compiled fast lane (flow/_lane.c) was not built")
    return tcp._lane


def _columns(n: int, **over: object) -> list[np.ndarray]:
    cols = {name: np.zeros(n, dtype=np.int64) for name in
            ("inv", "sw", "number", "ts", "seq", "ack", "flags", "plen", "win", "wire")}
    cols.update(over)  # type: ignore[arg-type]
    return list(cols.values())


def test_lane_refuses_bad_columns() -> None:
    lane = _lane_or_skip()
    with pytest.raises(ValueError, match="expected 10 columns"):
        lane.Lane({}, [], _columns(2)[:9], 0)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="column seq: expected int64"):
        lane.Lane({}, [0], _columns(2, seq=np.zeros(2, dtype=np.int32)), 0)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="one length"):
        lane.Lane({}, [0], _columns(2, ack=np.zeros(3, dtype=np.int64)), 0)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="out of range"):
        lane.Lane({}, [0], _columns(2, inv=np.array([0, 1])), 0)  # type: ignore[attr-defined]


def test_lane_leaves_to_python_what_it_does_not_know() -> None:
    """A new 4-tuple, or a table entry that is not a stream, stops the lane there."""
    lane = _lane_or_skip()
    assert lane.Lane({}, [5], _columns(3), 0).run(0) == 0  # type: ignore[attr-defined]
    assert lane.Lane({5: "not a stream"}, [5], _columns(3), 0).run(1) == 1  # type: ignore[attr-defined]
    assert lane.Lane({}, [5], _columns(3), 0).run(3) == 3  # type: ignore[attr-defined]


def test_lane_rows_are_the_columns() -> None:
    lane = _lane_or_skip()
    cols = [np.arange(c, c + 3, dtype=np.int64) for c in range(10)]
    cols[0] = np.zeros(3, dtype=np.int64)  # (inv indexes the keys)
    one = lane.Lane({}, [5], cols, 0)  # type: ignore[attr-defined]
    assert one.row(2) == (0, 3, 4, 5, 6, 7, 8, 9, 10, 11)
    for bad in (-1, 3):
        with pytest.raises(IndexError):
            one.row(bad)


def _records(sizes: list[int], big: bool) -> bytes:
    """Records of those sizes; times and wire lengths of all kinds (one longer than
    2**31 - 1, which the wirelen column cannot hold: it is clamped)."""
    order = ">" if big else "<"
    return b"".join(np.array([1_700_000_000 + 7 * i, (i * 7919) % 1_000_000_000, n,
                              0xFFFFFFF0 if i % 5 == 4 else n + 4 * i],
                             dtype=order + "u4").tobytes() + bytes([7]) * n
                    for i, n in enumerate(sizes))


def _walk_or_skip() -> object:
    require(pcap._walk is not None, "the compiled record walk (capture/_walk.c) was not built")
    return pcap._walk


def _same_records(got: pcap.Records, want: pcap.Records) -> None:
    assert got.pos == want.pos
    for name in ("offsets", "ts_ns", "caplen", "wirelen"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), name


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), max_size=40), big=st.booleans(),
       cut=st.integers(0, 400), start=st.integers(0, 40), junk=st.binary(max_size=40),
       mult=st.sampled_from([1, 1000]))
def test_the_walks_agree(sizes: list[int], big: bool, cut: int, start: int, junk: bytes,
                         mult: int) -> None:
    """Whole records, a record cut short, a header cut short, garbage after, any
    starting point: the compiled walk stops where the Python walk does, with the same
    columns."""
    _walk_or_skip()
    data = bytearray(_records(sizes, big) + junk)
    end = max(0, len(data) - cut)
    pos = min(start, end)
    got = pcap.records(data, pos, end, big, mult)
    _same_records(got, pcap.records_in_python(data, pos, end, big, mult))
    assert got.keep is None
    if pos == 0 and not junk and cut == 0:
        assert len(got.offsets) == len(sizes) and got.pos == len(data)
        assert got.wirelen.max(initial=0) <= 0x7FFFFFFF


# pcapng blocks for the walk: (type, interface or original length, length as claimed,
# body bytes); claimed lengths of all kinds: short of the minimum, past the end, huge
_BLOCK = st.tuples(st.sampled_from([pcapng.EPB, pcapng.SPB, pcapng.IDB, pcapng.ISB, 0x40000BAD]),
                   st.integers(0, 3),
                   st.one_of(st.none(), st.integers(0, 80), st.just(0xFFFFFFFC)),
                   st.integers(0, 40))


def _blocks(blocks: list[tuple[int, int, int | None, int]], big: bool) -> bytes:
    order = ">" if big else "<"
    out = b""
    for kind, third, claimed, body in blocks:
        size = 12 + body + 4  # (None: the length true to the block, trailer included)
        head = np.array([kind, size if claimed is None else claimed, third], order + "u4")
        out += head.tobytes() + bytes(body) + np.array([size], order + "u4").tobytes()
    return out


@settings(max_examples=300, deadline=None)
@example(blocks=[(pcapng.EPB, 1, None, 16), (pcapng.EPB, 0, None, 40)], big=True,
         interfaces=2, cut=0, start=0, junk=b"")
@given(blocks=st.lists(_BLOCK, max_size=30), big=st.booleans(), interfaces=st.integers(0, 3),
       cut=st.integers(0, 200), start=st.integers(0, 40), junk=st.binary(max_size=40))
def test_the_pcapng_walks_agree(blocks: list[tuple[int, int, int | None, int]], big: bool,
                                interfaces: int, cut: int, start: int, junk: bytes) -> None:
    """pcapng's walk: packet blocks naming an interface or not, other blocks, lengths
    short, long or cut, garbage after, any starting point: the compiled walk takes the
    blocks the Python walk takes and stops where it does."""
    _walk_or_skip()
    data = bytearray(_blocks(blocks, big) + junk)
    end = max(0, len(data) - cut)
    pos = min(start, end)
    order = ">" if big else "<"
    got, stop = pcapng.packet_blocks(data, pos, end, order, interfaces)
    want, want_stop = pcapng.packet_blocks_in_python(data, pos, end, order, interfaces)
    assert got.dtype == want.dtype and got.tolist() == want.tolist() and stop == want_stop
    if pos == 0 and not cut and all(
            kind == pcapng.EPB and third < interfaces and claimed is None and body >= 16
            for kind, third, claimed, body in blocks):
        assert len(got) == len(blocks) and stop >= len(data) - len(junk)


def test_the_walk_refuses_a_range_outside_the_buffer() -> None:
    walk = _walk_or_skip()
    for pos, end in ((0, 33), (20, 10)):
        with pytest.raises(ValueError, match="pos <= end"):
            walk.records(bytearray(32), pos, end, False, 1000)  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="pos <= end"):
            walk.skip(bytearray(32), pos, end, False, 1000, 8, 99)  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="pos <= end"):
            walk.blocks(bytearray(32), pos, end, False, 1)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="uint64 wanted"):
        walk.records(bytearray(32), 0, 32, False, 1000, b"1234")  # type: ignore[attr-defined]


def test_a_huge_incl_len_stops_the_walk() -> None:
    data = bytearray(_records([10, 20], False))
    data[16 + 10 + 8:16 + 10 + 12] = (0xFFFFFFFF).to_bytes(4, "little")
    for got in (pcap.records(data, 0, len(data), False, 1000),
                pcap.records_in_python(data, 0, len(data), False, 1000)):
        assert got.offsets.tolist() == [0] and got.pos == 26


def _decoded_hashes(batch: Any) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a batch that the analysis feeds to its trackers (TCP or UDP, not a
    fragment), and their 4-tuple hashes as analysis._tuple_keys computes them."""
    from handshaker.analysis import packed_tuples, tuple_hash
    from handshaker.dissect.columnar import decode_batch

    cols = decode_batch(batch)
    rows = np.flatnonzero(np.isin(cols["ip_proto"], (6, 17)) & (cols["sport"] >= 0)
                          & (cols["frag"] == 0))
    want = tuple_hash(packed_tuples(cols, rows)[0])
    want[want == 0] = 1
    return rows, want


def _hashes(walk: Any, batch: Any, *wanted: np.ndarray) -> np.ndarray:
    raw = walk.tuple_hashes(batch.buf, batch.start, batch.caplen, batch.linktype, *wanted)
    return np.frombuffer(raw, dtype=np.bool_ if wanted else np.uint64)


def test_the_tuple_hashes_agree_on_the_corpus(generated: Path) -> None:
    """_walk.tuple_hashes reads a frame's 4-tuple from its bytes (a split run's follow
    passes over the frames of other 4-tuples with it): wherever it tells (not 0), it
    must give the hash of the 4-tuple the decoder reads, or the follow would drop a
    frame it needs."""
    walk = _walk_or_skip()
    told = fed = 0
    for path in [*corpus_captures(), generated]:
        with open_capture(path) as cap:
            for batch in cap.batches(4096):
                got = _hashes(walk, batch)
                rows, want = _decoded_hashes(batch)
                mine = got[rows] != 0
                assert (got[rows][mine] == want[mine]).all(), path.name
                # the mask form keeps a frame whose hash is asked for, or not known
                wanted = np.unique(want[::3])
                keep = _hashes(walk, batch, wanted)
                assert (keep == ((got == 0) | np.isin(got, wanted))).all(), path.name
                told += int(mine.sum())
                fed += len(rows)
    assert told > 0.9 * fed  # (most frames of the corpus are plain Ethernet and IPv4)


def test_the_reader_marks_the_frames_asked_for(generated: Path) -> None:
    """A capture asked for some 4-tuples (Capture.want, as a split run's follow asks)
    marks each batch's frames as _walk.tuple_hashes would: those whose hash is wanted
    or not known. Classic pcap on Ethernet marks from the first chunk on; other
    captures mark nothing (the follow then asks tuple_hashes itself)."""
    walk = _walk_or_skip()
    marked = 0
    for path in [*corpus_captures(), generated]:
        with open_capture(path) as cap:
            every = np.concatenate([np.zeros(0, np.uint64),
                                    *(_hashes(walk, b) for b in cap.batches(4096))])
        wanted = np.unique(every[every != 0][::3])
        with open_capture(path) as cap:
            cap.want(wanted)
            marking = cap.info.format == "pcap" and cap.info.interfaces[0].linktype == 1
            for batch in cap.batches(4096):
                if not marking:
                    assert batch.keep is None, path.name
                    continue
                got = _hashes(walk, batch)
                assert batch.keep is not None, path.name
                assert batch.keep.tolist() == ((got == 0) | np.isin(got, wanted)).tolist()
                marked += len(batch)
    assert marked > 10_000


def _keys_agree(cols: dict[str, np.ndarray], rows: np.ndarray) -> None:
    from handshaker.analysis import _tuple_keys, tuple_keys_in_numpy

    inverse, swap, keys = _tuple_keys(cols, rows)
    want_inverse, want_swap, want_keys = tuple_keys_in_numpy(cols, rows)
    assert inverse.tolist() == want_inverse.tolist()
    assert swap.tolist() == want_swap.tolist()
    assert keys == want_keys


def test_the_tuple_keys_agree_on_the_corpus(generated: Path) -> None:
    """_walk.tuple_keys gives each batch's 4-tuples their ids (the analysis's every
    batch): the same ids, swap bits and keys in the same order as numpy's twin, on
    every batch of the corpus and of a generated capture, TCP and UDP rows apart."""
    require(analysis_walk() is not None, "the compiled record walk (capture/_walk.c) was not built")
    from handshaker.dissect.columnar import decode_batch

    seen = 0
    for path in [*corpus_captures(), generated]:
        with open_capture(path) as cap:
            for batch in cap.batches(4096):
                cols = decode_batch(batch)
                for proto in (6, 17):
                    rows = np.flatnonzero((cols["ip_proto"] == proto) & (cols["sport"] >= 0)
                                          & (cols["frag"] == 0))
                    if len(rows):
                        _keys_agree(cols, rows)
                        seen += len(rows)
    assert seen > 10_000


@settings(max_examples=300, deadline=None)
@given(eps=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 1),
                              st.integers(0, 3), st.integers(0, 65535)), min_size=1, max_size=6),
       picks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=60),
       shuffle=st.randoms(use_true_random=False))
def test_the_tuple_keys_agree_on_odd_columns(eps: list[tuple[int, int, int, int]],
                                             picks: list[tuple[int, int]],
                                             shuffle: Any) -> None:
    """Endpoints that share address halves or ports, a 4-tuple from an endpoint to
    itself, both directions, repeats, rows picked out of order: the same as numpy."""
    require(analysis_walk() is not None, "the compiled record walk (capture/_walk.c) was not built")
    n = len(picks)
    src = [eps[a % len(eps)] for a, _ in picks]
    dst = [eps[b % len(eps)] for _, b in picks]
    cols = {"src_hi": np.array([e[0] for e in src], dtype=np.uint64),
            "src_lo": np.array([e[1] >> e[2] for e in src], dtype=np.uint64),
            "sport": np.array([e[3] for e in src], dtype=np.int32),
            "dst_hi": np.array([e[0] for e in dst], dtype=np.uint64),
            "dst_lo": np.array([e[1] >> e[2] for e in dst], dtype=np.uint64),
            "dport": np.array([e[3] for e in dst], dtype=np.int32)}
    rows = list(range(n))
    shuffle.shuffle(rows)
    _keys_agree(cols, np.array(rows[: max(1, n - n // 3)], dtype=np.int64))


def test_tuple_keys_refuses_bad_columns() -> None:
    walk = analysis_walk()
    require(walk is not None, "the compiled record walk (capture/_walk.c) was not built")
    u, i = np.zeros(4, dtype=np.uint64), np.zeros(4, dtype=np.int32)
    with pytest.raises(ValueError, match="one length"):
        walk.tuple_keys(u, u, i, u[:3], u, i, np.zeros(1, dtype=np.int64))
    with pytest.raises(IndexError, match="outside"):
        walk.tuple_keys(u, u, i, u, u, i, np.array([4], dtype=np.int64))


def analysis_walk() -> Any:
    from handshaker import analysis

    return analysis._walk


def _ipv4_frame(ihl: int, flags_frag: int, proto: int, ethertype: int, ports: bytes,
                extra: bytes) -> bytes:
    opts = bytes(4 * (ihl - 5)) if ihl >= 5 else b""
    body = ports + extra
    ip = bytes([0x40 | ihl, 0]) + (20 + len(opts) + len(body)).to_bytes(2, "big") + \
        b"\0\1" + flags_frag.to_bytes(2, "big") + bytes([64, proto, 0, 0]) + \
        bytes([10, 0, 0, 2, 10, 0, 0, 1]) + opts
    return b"\2\0\0\0\0\2\2\0\0\0\0\1" + ethertype.to_bytes(2, "big") + ip + body


@settings(max_examples=400, deadline=None)
@given(ihl=st.integers(0, 15), flags_frag=st.sampled_from([0, 0x4000, 0x2000, 0x0001, 0x4abc]),
       proto=st.sampled_from([6, 17, 6, 17, 1, 58]),
       ethertype=st.sampled_from([0x0800, 0x0800, 0x0800, 0x86DD, 0x8100, 0x0806]),
       ports=st.binary(min_size=4, max_size=4), extra=st.binary(min_size=16, max_size=30),
       cut=st.integers(0, 80) | st.just(0), linktype=st.sampled_from([1, 1, 1, 101, 113]))
@example(ihl=7, flags_frag=0x4000, proto=6, ethertype=0x0800, ports=b"\1\2\3\4",
         extra=bytes(16), cut=0, linktype=1)
def test_the_tuple_hashes_agree_on_odd_frames(ihl: int, flags_frag: int, proto: int,
                                              ethertype: int, ports: bytes, extra: bytes,
                                              cut: int, linktype: int) -> None:
    """IPv4 options, fragments, other protocols and link types, frames cut short."""
    from handshaker.capture.model import FrameBatch

    walk = _walk_or_skip()
    data = _ipv4_frame(ihl, flags_frag, proto, ethertype, ports, extra)
    data = data[:max(1, len(data) - cut)]
    one = np.ones(1, dtype=np.int32)
    batch = FrameBatch(data, 1, np.zeros(1, dtype=np.int64), one * len(data),
                       one * len(data), np.zeros(1, dtype=np.int64), one * linktype,
                       one * 0, np.zeros(1, dtype=np.int64))
    got = _hashes(walk, batch)
    rows, want = _decoded_hashes(batch)
    if got[0] != 0:
        assert linktype == 1 and ethertype == 0x0800 and proto in (6, 17)
        assert len(data) >= 14 + 4 * ihl + 4  # (it read no byte past the frame's end)
        assert rows.tolist() in ([], [0])  # (it may tell where the decoder feeds nothing)
        assert not len(rows) or got[0] == want[0]
    elif linktype == 1 and ethertype == 0x0800 and ihl >= 5 and flags_frag & 0x3FFF == 0 \
            and proto in (6, 17) and cut == 0:
        pytest.fail("a plain IPv4 TCP or UDP frame without its hash")


def test_times_at_the_ends_of_int64(tmp_path: Path) -> None:
    """A pcapng's 64-bit timestamps can sit at both ends of int64: the SYN's at the
    bottom, the rest at the top. Their difference (the first RTT) does not fit a C
    field; it is kept in range, and both builds say the same, without a traceback."""
    from capture_writers import PcapngWriter, pcap_records

    data = (ROOT / "src" / "handshaker" / "data" / "tour-tcp.pcap").read_bytes()
    w = PcapngWriter()
    w.shb()
    w.idb(1, tsresol=9)
    for i, (off, hdr) in enumerate(pcap_records(data)[3]):
        w.epb(0, (1 << 63) if i == 0 else (1 << 63) - 1, data[off + 16:off + 16 + hdr[2]])
    path = tmp_path / "ends.pcapng"
    path.write_bytes(bytes(w))
    outs = []
    for pure in ("", "1"):
        env = {**os.environ, "HANDSHAKER_PURE_PYTHON": pure}
        run = subprocess.run([sys.executable, "-m", "handshaker", "analyze", str(path),
                              "--format", "json", "-j", "1"], env=env, capture_output=True)
        assert run.returncode == 0 and not run.stderr, run.stderr
        outs.append(run.stdout)
    assert outs[0] == outs[1]
    assert b'"rtt_ms":9223372036854.775' in outs[0]


_SEQ = st.integers(0, 0xFFFFFFFF)
_NEAR = st.sampled_from([0, 1, 2, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1000, 1460])
_TIME = st.one_of(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(0, 10**10))
_DIR = st.fixed_dictionaries({
    "base_seq": _SEQ, "base_set": st.booleans(), "nextseq": st.one_of(_SEQ, _NEAR),
    "nextseqtime": _TIME, "lastack": st.one_of(_SEQ, _NEAR), "lastacktime": _TIME,
    "window": st.sampled_from([0, 1, 512, 65535]), "win_scale": st.sampled_from([-2, -1, 0, 7, 14]),
    "dupacknum": st.integers(-1, 4), "maxseqtobeacked": st.one_of(_SEQ, _NEAR),
    "lastsegmentflags": st.sampled_from([0, tcp.A_KEEP_ALIVE, tcp.A_ZERO_WINDOW_PROBE]),
})


@settings(max_examples=1500, deadline=None)
@given(dirs=st.tuples(_DIR, _DIR), first_rtt=st.sampled_from([0, 500_000, -(1 << 63)]),
       mru_syn=st.one_of(st.just(0), _TIME), d=st.integers(0, 1), frame=st.integers(1, 10**6),
       ts=_TIME, seq=st.one_of(_SEQ, _NEAR), ack=st.one_of(_SEQ, _NEAR),
       flags=st.sampled_from([0x10, 0x18, 0x02, 0x12, 0x11, 0x14, 0x04, 0x19, 0x00]),
       seglen=st.sampled_from([0, 1, 2, 100, 1460]), window=st.sampled_from([0, 1, 512, 65535]),
       bits=st.sampled_from([0, tcp.A_REUSED_PORTS]))
def test_the_analyses_agree(dirs: tuple[dict, dict], first_rtt: int, mru_syn: int, d: int,
                            frame: int, ts: int, seq: int, ack: int, flags: int, seglen: int,
                            window: int, bits: int) -> None:
    """flow/_lane.c's analyze and flow/tcp.py's _analyze, on any state a capture can
    make (wrap-around, times at the ends of int64, every flag), change the same
    fields the same way and give the same answer."""
    lane = _lane_or_skip()
    streams = []
    for _ in range(2):
        s = tcp.TcpStream(0, tcp.Endpoint("10.0.0.1", 1), tcp.Endpoint("10.0.0.2", 2), False)
        s.first_rtt_ns, s.ts_mru_syn = first_rtt, mru_syn
        for dd, fields in zip(s.dirs, dirs, strict=True):
            for name, value in fields.items():
                setattr(dd, name, value)
        streams.append(s)
    args = (frame, ts, seq, ack, flags, seglen, window, bits)
    got = lane.analyze(streams[0], d, *args)  # type: ignore[attr-defined]
    want = tcp._analyze(streams[1], streams[1].dirs[d], streams[1].dirs[1 - d], *args)
    assert got == want
    for name in ("first_rtt_ns", "ts_mru_syn"):
        assert getattr(streams[0], name) == getattr(streams[1], name), name
    for k in (0, 1):
        for name in tcp._PyDirCore.__slots__:
            assert getattr(streams[0].dirs[k], name) == getattr(streams[1].dirs[k], name), name


def test_analyze_leaves_to_python_what_no_capture_holds() -> None:
    lane = _lane_or_skip()
    s = tcp.TcpStream(0, tcp.Endpoint("10.0.0.1", 1), tcp.Endpoint("10.0.0.2", 2), False)
    for args in ((0, 1, 0, 1 << 32, 0, 0x10, 0, 512, 0),  # seq beyond 32 bits
                 (0, 1, 0, 5, 0, 0x10, 0, 1 << 20, 0),  # window beyond 16 bits
                 (2, 1, 0, 5, 0, 0x10, 0, 512, 0),  # no such direction
                 (0, 1, 1 << 64, 5, 0, 0x10, 0, 512, 0)):  # time beyond int64
        assert lane.analyze(s, *args) is NotImplemented  # type: ignore[attr-defined]
    assert lane.analyze("not a stream", 0, 1, 0, 5, 0, 0x10, 0, 512, 0) is NotImplemented  # type: ignore[attr-defined]
    assert s.dirs[0].base_set is False  # nothing was changed
