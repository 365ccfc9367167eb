"""One large capture on several cores: split by packet range, then stitched.

Theory of operation
-------------------
The file is cut into ``jobs`` parts by the file offset at which each frame's
record starts (a contiguous range of frames each). Every part is analysed by
a worker process from an empty table, exactly as :func:`handshaker.analysis.
analyze` would analyse it; each worker writes the connections that ended
inside its part (rendered, in a temporary file) and, the last one, those
still open at the end of the file.

A connection that crosses a cut is wrong in the next part: that worker saw
its segments without the state before them. So each worker but the last,
when its part is done, follows the 4-tuples still open at its end on
through the next part (the frames of those 4-tuples only, read again, fed
to the carried streams; a port reuse or an expiry there starts a new stream,
as in one pass). What the next part's worker made of those 4-tuples is
dropped; everything else it made is exact, because a 4-tuple that was not
open at the cut starts from an empty table in one pass as well. A
connection still open at the end of the next part (it crosses two cuts or
more) is handed back and followed on by the parent, part after part, unless
that part ends the file: then it ends there, in the worker, as the last
part's own connections do. The connections are then numbered in order of
their first frame, which is how one pass numbers them: the parent merges each
part's as soon as it is in, and the last part's as its worker writes them
(the worker closes the connections still open at the end of the file in order
of first frame, writing out each as soon as none before it is still open).

That equality needs the flow stage's decisions not to depend on where
batches begin. With ``expire`` set, a segment for a TCP stream that is over
(closed, and quiet for FINISHED_IDLE_NS by the segment's own time) starts a
new stream whether or not evict has run yet; evict goes by each batch's
median time, so one wild timestamp retires nothing. What remains is the
retiring of connections merely silent (TCP 5 min, UDP 1 min), which only
bounds memory: a conversation that resumes after such a silence may be cut
in two in one run and not in another, in a split run as in a single pass
with other batch boundaries. tests/test_split.py checks the equality on
every corpus capture and on cuts at every position of small ones.

Following costs one more read of each part but the first, in which only
the carried 4-tuples are followed (about a quarter of the part's own
analysis), done by the workers side by side; the parent reads a part again
only for connections that cross two cuts. Split runs are for regular files;
gzip and standard input, which cannot be cut by offset, are analysed in one
pass.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import heapq
import itertools
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from handshaker import procs
from handshaker.analysis import (
    AS_IS,
    END,
    PACKED_TUPLE,
    Analysis,
    ChunkWriter,
    Conn,
    InOrder,
    Pipeline,
    Reading,
    Renderer,
    follow_chunks,
    gc_paused,
    read_chunks,
    run,
    settle,
    tuple_hash,
)
from handshaker.capture import open_capture
from handshaker.capture.model import FrameBatch
from handshaker.compiled import helper
from handshaker.dissect.columns import ip_to_halves
from handshaker.flow.tcp import TcpStream, TcpSummary
from handshaker.flow.udp import UdpConversation

#: parts smaller than this are not worth a process of their own
MIN_PART_BYTES = 8 << 20
#: how often the progress of the workers is read (seconds)
PROGRESS_EVERY_S = 0.25
#: how long the parent waits for more of the last part's spool, when it has read it all
FOLLOW_NAP_S = 0.002

Pair = tuple[tuple[str, int], tuple[str, int]]


def pair(a: tuple[str, int], b: tuple[str, int]) -> Pair:
    """A 4-tuple without direction, the same in every process."""
    return (a, b) if a <= b else (b, a)


def packed_pair(p: Pair) -> bytes:
    """A 4-tuple as the batches' columns pack it (:func:`handshaker.analysis._tuple_keys`):
    the lower endpoint's address halves, the higher's, then both ports."""
    (hi_a, lo_a, port_a), (hi_b, lo_b, port_b) = sorted(
        (*ip_to_halves(socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)),
         port) for ip, port in p)
    return PACKED_TUPLE.pack(hi_a, lo_a, hi_b, lo_b, (port_a << 16) | port_b)


def _stream_pair(st: TcpStream) -> Pair:
    return pair((st.a.ip, st.a.port), (st.b.ip, st.b.port))


def _summary_pair(c: Conn) -> Pair:
    if isinstance(c, TcpSummary):
        return pair((c.client.ip, c.client.port), (c.server.ip, c.server.port))
    return pair(c.client, c.server)


@dataclass
class Part:
    """What the worker of one part hands back."""

    analysis: Analysis  # frames, counts, times (its .tcp / .udp stay empty: see spool)
    spool: str  # the connections that ended inside the part, in first-frame order
    # the 4-tuples open at the part's end (by the worker's own reckoning), which the worker
    # followed on through the next part: what it made of them is in next_spool (those that
    # ended there, in first-frame order) and in still_open (those open at the next part's
    # end). The last part has no next one: its open connections end with the file.
    crossed: tuple[set[Pair], set[Pair]] = field(default_factory=lambda: (set(), set()))
    next_spool: str | None = None
    still_open_tcp: list[TcpStream] = field(default_factory=list)
    still_open_udp: list[UdpConversation] = field(default_factory=list)


@dataclass
class Following:
    """The last part while its worker is still at it: its connections as the worker
    writes them to its spool (``entries()``, as :func:`read_spool` gives them), and its
    :class:`Part` once the worker is done (``part()``). The parent merges the last
    part's connections while its worker closes those still open at the end of the file
    (in order of first frame, written out as they go): a quarter of a second on the
    1M-packet benchmark capture, which the merge used to follow."""

    entries: Callable[[], Iterator[Entry]]
    part: Callable[[], Part]


#: what a part hands on of a connection: (first frame, TCP?, its 4-tuple, any anomaly?,
#: its stream number in the part, what the renderer made of it)
Entry = tuple[int, bool, Pair, bool, int, Any]


def entry(c: Conn, render: Renderer) -> Entry:
    tcp = isinstance(c, TcpSummary)
    return (c.first_frame, tcp, _summary_pair(c), tcp and bool(c.anomalies),  # type: ignore[union-attr]
            c.stream, render.render(c))


def read_spool(path: str) -> Iterator[Entry]:
    return read_chunks(open(path, "rb"))


_progress_slots: Any = None  # per worker: frames and bytes done (shared memory)


def _init_worker(slots: Any, parent: int) -> None:
    global _progress_slots
    _progress_slots = slots
    procs.end_with_parent(parent)
    # a worker lives for one part: the cyclic collector would only slow the pickling of
    # its result (the analysis itself pauses it, see analysis.gc_paused)
    gc.disable()
    # the run's SIGTERM handler (_sigterm_raises) is for the parent: a worker told to stop
    # (terminate) stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # (see _sigterm_held)


def analyze_part(path: str, lo: int, hi: int, index: int, tls: bool, file_index: int,
                 spool: str, render: Renderer = AS_IS,
                 next_range: tuple[int, int] | None = None, next_last: bool = False) -> Part:
    """Analyse the frames whose records start in [lo, hi) from an empty table; the
    connections that end in the part go to the file ``spool`` (as :data:`Entry`), in
    first-frame order. With ``next_range``, the 4-tuples open at the end are then
    followed through that range (the next part), see :class:`Part`; ``next_last``: that
    part ends the file, and so do the connections still open there (they are written
    with the others, none is handed back)."""
    slots = _progress_slots

    def progress(frames: int, offset: int) -> None:
        if slots is not None:
            slots[2 * index] = frames
            slots[2 * index + 1] = max(0, min(offset, hi) - lo)

    # (one reading of the file for the part and the next: the follow goes on from where
    # the part ends, rather than reading the part again to get there)
    with open_capture(path) as cap:
        reading = Reading(cap, lo)
        with open(spool, "wb") as out:  # (close: the file ends there, so do its connections)
            result, pipe = _spooled(out, render, tls, file_index, lambda pipe, evicted: run(
                path, pipe, progress=progress, byte_range=(lo, hi), evicted=evicted,
                reading=reading), close=next_range is None)
        if next_range is None:
            return Part(result, spool)
        # (the pipeline must not keep alive the streams that follow retires: it is in a
        # cycle, and a worker runs without the cyclic collector)
        tcp, udp = pipe.tcp.hand_over(), pipe.udp.hand_over()
        packed_of = pipe.tuples.packed
        del pipe
        with open(spool + ".next", "wb") as out:
            replay = follow(path, tcp, udp, next_range, tls, file_index, render, out,
                            close=next_last, reading=reading, packed_of=packed_of)
    return Part(result, spool, replay.crossed(), spool + ".next", *replay.pipe_open())


def follow(path: str, tcp: list[TcpStream], udp: list[UdpConversation],
           byte_range: tuple[int, int], tls: bool, file_index: int, render: Renderer,
           out: BinaryIO, close: bool = False, reading: Reading | None = None,
           packed_of: Callable[[Any], bytes | None] | None = None) -> Replay:
    """Follow the given connections, open where ``byte_range`` begins, through it: the
    connections of their 4-tuples that end in the range go to ``out`` (as
    :data:`Entry`, in first-frame order); the :class:`Replay` is returned (its
    ``pipe_open()``: those still open at the range's end, none with ``close``, where the
    range ends the file and they end with it, written to ``out`` too). ``reading``: the
    file, read up to the range already (see :func:`~handshaker.analysis.run`);
    ``packed_of``: see :class:`Replay`."""
    def run_replay(pipe: Pipeline, evicted: Callable[[], None]) -> Analysis:
        replay = Replay(pipe, tcp, udp, packed_of)  # (it plugs itself in: pipe.replay)
        return run(path, pipe, evicted=evicted, byte_range=byte_range, reading=reading,
                   want=replay.hashes)  # (the reader tells which frames may be theirs)

    _, pipe = _spooled(out, render, tls, file_index, run_replay, close=close)
    replay: Replay = pipe.replay
    return replay


def _spooled(out: BinaryIO, render: Renderer, tls: bool, file_index: int,
             run_it: Callable[[Pipeline, Callable[[], None]], Analysis],
             close: bool = False) -> tuple[Analysis, Pipeline]:
    """A pipeline run by ``run_it(pipe, evicted)``; each connection that ends is
    rendered and written to ``out`` (as :data:`Entry`, in first-frame order) as soon as
    no connection still open can come before it. ``close``: the open ones end too."""
    # written as they come: the connections still open at the end of the file, closed all
    # at once, are many
    spool = ChunkWriter(out)
    ordered = InOrder(spool.append)

    def done(c: Conn) -> None:
        ordered.add(c.first_frame, entry(c, render))

    pipe = Pipeline(on_tcp=done, on_udp=done, tls=tls, file_index=file_index, expire=True)

    def flush() -> None:
        ordered.flush(pipe.first_open_frame())

    result = run_it(pipe, flush)
    if close:  # (in order of first frame, each written out as soon as it may be)
        pipe.close(ordered.flush)
    ordered.flush(END)  # (those still open are handed on: they have their own place)
    spool.flush()
    return result, pipe


class Replay:
    """A range of frames again, for the 4-tuples of connections open at its start only
    (see the module docstring).

    Plugged into a :class:`Pipeline` (``pipe.replay``), which takes over the carried
    connections at once (so that evict retires those that are over, as one pass
    would); ``select`` keeps the rows of their 4-tuples, and gives a carried
    connection its 4-tuple's key the first time the 4-tuple shows up.
    """

    def __init__(self, pipe: Pipeline, tcp: list[TcpStream], udp: list[UdpConversation],
                 packed_of: Callable[[Any], bytes | None] | None = None) -> None:
        self.pipe = pipe
        pipe.replay = self
        carried: dict[str, dict[Pair, Any]] = {
            "tcp": {_stream_pair(st): st for st in tcp},
            "udp": {_summary_pair(c): c for c in udp},
        }
        # the 4-tuples whose rows have not come yet (their connections: in the tables,
        # under CARRIED keys, as long as evict leaves them there)
        self.waiting = {kind: set(c) for kind, c in carried.items()}
        # the 4-tuples as the batches' columns pack them (analysis._tuple_keys): by the
        # table the connections come from (``packed_of(key)``), else made from the text
        known = packed_of or (lambda key: None)
        self.packed = {kind: {known(conn.key) or packed_pair(p): p for p, conn in c.items()}
                       for kind, c in carried.items()}
        # their hashes, as _walk.tuple_hashes gives them (0 there: it cannot tell); the
        # same twice does no harm there. (Not np.unique: numpy 2.4's imports numpy.ma
        # on its first call, 20 ms of the first worker's time.)
        every = b"".join(b for c in self.packed.values() for b in c)
        self.hashes = tuple_hash(np.frombuffer(every, dtype=np.uint64).reshape(-1, 5))
        self.hashes[self.hashes == 0] = 1
        for kind, tracker in (("tcp", pipe.tcp), ("udp", pipe.udp)):
            for p, conn in carried[kind].items():
                tracker.adopt((CARRIED, p), conn)  # its real key comes with its rows

    def frames_of(self, batch: FrameBatch) -> FrameBatch:
        """The frames of the batch that may be of the carried 4-tuples: all but those
        that the reader (``batch.keep``) or _walk.tuple_hashes shows are not (all,
        without the compiled helper); the rows of the others are dropped by
        :meth:`select` once decoded."""
        if batch.keep is not None:
            keep = batch.keep
        elif _walk is None:
            return batch
        else:
            keep = np.frombuffer(_walk.tuple_hashes(
                batch.buf, np.ascontiguousarray(batch.start, dtype=np.int64),
                np.ascontiguousarray(batch.caplen, dtype=np.int32),
                np.ascontiguousarray(batch.linktype, dtype=np.int32), self.hashes),
                dtype=np.bool_)
        return batch if keep.all() else batch.take(keep)

    def select(self, kind: str, pipe: Pipeline, rows: np.ndarray, inverse: np.ndarray,
               swap: np.ndarray, uniq: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                          list[Any]]:
        """The rows of the carried 4-tuples, and the ids of those 4-tuples (as
        ``Pipeline.tuples`` gives them); the others are not looked at further."""
        packed, waiting = self.packed[kind], self.waiting[kind]
        tracker: Any = pipe.tcp if kind == "tcp" else pipe.udp
        keep = np.array([b in packed for b in uniq], dtype=bool)
        ids = []
        for b in itertools.compress(uniq, keep):
            ent = pipe.tuples.lookup(kind, b)
            ids.append(ent)
            p = packed[b]
            if p in waiting:
                waiting.discard(p)
                carried = tracker.holding((CARRIED, p))
                if carried is not None:  # (unless evict has retired it already)
                    tracker.adopt(ent[0], carried)
        mask = keep[inverse]
        return rows[mask], (np.cumsum(keep) - 1)[inverse[mask]], swap[mask], ids

    def crossed(self) -> tuple[set[Pair], set[Pair]]:
        """The carried 4-tuples (TCP, UDP): those open where the replayed range begins."""
        return set(self.packed["tcp"].values()), set(self.packed["udp"].values())

    def pipe_open(self) -> tuple[list[TcpStream], list[UdpConversation]]:
        """The connections of the carried 4-tuples still open."""
        return self.pipe.tcp.open_streams(), self.pipe.udp.open_conversations()


_walk: Any = helper("handshaker.capture._walk")

#: the key of a carried connection until its 4-tuple shows up (then it gets the real one)
CARRIED = "carried"


#: each part is this much larger than the one before (of the first's size): every
#: worker but the last also follows its open connections through the next part (see
#: analyze_part), so the earlier parts are smaller; and the parent, which merges the
#: parts in order, reads the last one as its worker writes it (Following) once it has
#: merged the others. Measured on 2 cores, the 1M-packet capture (alternating whole
#: runs, 6 each): 1.53 s with 0.1, 1.535 s with 0.125, 1.56 s with 0.045 (the best
#: before the parent followed the last part: then the parent had to wait for it)
PART_GROWTH = 0.1


def cuts(size: int, jobs: int) -> list[tuple[int, int]]:
    """[lo, hi) file offsets of the parts; the last one runs to the end."""
    n = max(1, min(jobs, size // MIN_PART_BYTES))
    weights = list(itertools.accumulate(1 + PART_GROWTH * i for i in range(n)))
    bounds = [0] + [int(size * w / weights[-1]) for w in weights[:-1]] + [END]
    return list(itertools.pairwise(bounds))


def splittable(path: str) -> bool:
    """A regular, uncompressed capture file (one that can be cut by offset)."""
    if path == "-" or not os.path.isfile(path):
        return False
    with open_capture(path) as cap:
        return not cap.info.compressed


def _context() -> Any:
    # fork shares the imported code; where forking is unsafe (other threads running),
    # a fresh interpreter per worker is the safe way
    return multiprocessing.get_context("fork" if procs.fork_safe() else "spawn")


def analyze_split(path: str, *, jobs: int, on_connection: Callable[[Conn], None] | None = None,
                  tls: bool = True, file_index: int = 0,
                  progress: Callable[[int, int], None] | None = None,
                  ranges: list[tuple[int, int]] | None = None,
                  render: Renderer = AS_IS) -> Analysis:
    """Analyse one capture in parts on ``jobs`` processes; the result equals one pass
    of :func:`~handshaker.analysis.analyze` (with ``on_connection``, the streaming mode).

    ``ranges`` gives the parts (:func:`cuts`, or chosen places in the tests); without
    it they are cut here.
    """
    with gc_paused():
        return _analyze_split(os.fspath(path), jobs, on_connection, tls, file_index, progress,
                              ranges, render)


def _analyze_split(path: str, jobs: int, on_connection: Callable[[Conn], None] | None,
                   tls: bool, file_index: int, progress: Callable[[int, int], None] | None,
                   ranges: list[tuple[int, int]] | None, render: Renderer) -> Analysis:
    parts_at = ranges if ranges is not None else cuts(os.path.getsize(path), jobs)
    if tls:  # imported once, before the workers are forked, rather than by each of them
        import handshaker.tls.observer  # noqa: F401
    ctx = _context()
    slots = ctx.Array("q", 2 * len(parts_at), lock=False)

    def spool_of(i: int) -> str:
        return os.path.join(spools, f"part-{i}.pickle")

    with (_sigterm_raises(),  # before any worker runs: no moment when SIGTERM kills outright
          tempfile.TemporaryDirectory(prefix="handshaker-split-") as spools,
          ProcessPoolExecutor(max_workers=min(jobs, len(parts_at)), mp_context=ctx,
                              initializer=_init_worker, initargs=(slots, os.getpid())) as pool):
        with _sigterm_held():  # (the workers are made here)
            futures = [pool.submit(analyze_part, path, lo, hi, i, tls, file_index,
                                   spool_of(i), render,
                                   parts_at[i + 1] if i + 1 < len(parts_at) else None,
                                   i + 2 == len(parts_at))
                       for i, (lo, hi) in enumerate(parts_at)]

        shown = [0.0]

        def show() -> None:
            if progress is not None and time.monotonic() - shown[0] >= PROGRESS_EVERY_S:
                shown[0] = time.monotonic()
                progress(sum(slots[0::2]), sum(slots[1::2]))

        def in_order() -> Iterator[Part | Following]:
            """Each part as its worker finishes it, but the last, which is read as its
            worker writes it (the progress shown meanwhile)."""
            for i, f in enumerate(futures):
                if i + 1 == len(futures):
                    def nap() -> None:
                        wait([futures[-1]], timeout=FOLLOW_NAP_S)
                        show()

                    yield Following(functools.partial(follow_chunks, spool_of(i), f.done, nap),
                                    f.result)
                    return
                while not wait([f], timeout=PROGRESS_EVERY_S)[0]:
                    show()
                show()
                yield f.result()  # raises the worker's error, if it failed

        # part i is merged in as soon as it is in, beside the workers still running
        with _stopped_on_the_way_out(pool):
            return stitch(path, in_order(), parts_at, tls, file_index, on_connection, render)


@contextlib.contextmanager
def _stopped_on_the_way_out(pool: ProcessPoolExecutor) -> Iterator[None]:
    """If the run ends early (Ctrl-C, an error), the workers stop now: the pool would
    otherwise wait for each to finish its part before the spools could be removed."""
    try:
        yield
    except BaseException:
        # (the pool has no public way to stop a running call: its processes, taken before
        # shutdown forgets them)
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.terminate()
        raise


@contextlib.contextmanager
def _sigterm_held() -> Iterator[None]:
    """SIGTERM waits while worker processes are made: it would otherwise raise inside
    the handlers a fork runs, where an exception is only printed, and the run would go
    on (seen in tests/test_split.py). It is delivered on the way out. The workers,
    which inherit the mask, take SIGTERM again first thing (_init_worker). (The mask
    is this thread's: it holds the signal because a run forks only when no other
    thread runs, see _context.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM ends the run as Ctrl-C does (KeyboardInterrupt), so that the workers are
    stopped and the temporary files removed; the default would leave both behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def stitch(path: str, next_parts: Iterable[Part | Following], parts_at: list[tuple[int, int]],
           tls: bool, file_index: int, on_connection: Callable[[Any], None] | None,
           render: Renderer = AS_IS) -> Analysis:
    """Keep of each part what is right, and merge the parts in first-frame order.

    ``next_parts`` gives the parts in order, each when it is ready, or the last as a
    :class:`Following` while its worker is still at it. Of part i, the
    connections of the 4-tuples open at cut i - 1 (before part i) are dropped: those
    are what the worker of part i - 1 (or, for a connection that crosses more than
    one cut, this process) followed on from the cut. The merged connections are
    handed on as soon as none still to come can go before them: those of part i
    while the later parts' workers are still at work.
    """
    merge = _Merge(on_connection, render)
    parts: list[Part] = []
    crossed: tuple[set[Pair], set[Pair]] = (set(), set())  # 4-tuples open at the last cut
    # connections open at the end of the part in hand, which crossed an earlier cut
    carried_tcp: list[TcpStream] = []
    carried_udp: list[UdpConversation] = []
    frames = 0
    last: Following | None = None
    for i, part in enumerate(next_parts):
        if isinstance(part, Following):  # the last part, its worker still at it
            last = part
            break
        parts.append(part)
        frames += part.analysis.frames
        merge.add(_without(read_spool(part.spool), *crossed))
        if part.next_spool is None:  # the last part
            break
        merge.add(_without(read_spool(part.next_spool), *crossed))
        own_tcp = {p for p in part.crossed[0] if p not in crossed[0]}
        own_udp = {p for p in part.crossed[1] if p not in crossed[1]}
        crossed = (own_tcp | {_stream_pair(st) for st in carried_tcp},
                   own_udp | {_summary_pair(c) for c in carried_udp})
        if carried_tcp or carried_udp:  # on through the next part, here
            followed = f"{part.spool}.followed"
            with open(followed, "wb") as out:
                replay = follow(path, carried_tcp, carried_udp, parts_at[i + 1], tls,
                                file_index, render, out)
            merge.add(read_spool(followed))
            carried_tcp, carried_udp = replay.pipe_open()
        carried_tcp += [st for st in part.still_open_tcp if _stream_pair(st) in own_tcp]
        carried_udp += [c for c in part.still_open_udp if _summary_pair(c) in own_udp]
        # the later parts' connections begin after these frames (whose count is at most
        # the number of the next part's first frame less one: pcapng may skip numbers);
        # the connections still carried come later, from here
        merge.hand_on(min([frames + 1, *(st.first_frame for st in carried_tcp),
                           *(c.first_frame for c in carried_udp)]))
    ended = []
    if carried_tcp:  # (the connections open at the end)
        pipe = Pipeline(tls=tls, file_index=file_index)
        ended = [entry(pipe.summary(st), render) for st in carried_tcp]
    ended += [entry(c, render) for c in carried_udp]
    ended.sort(key=lambda e: e[0])
    merge.add(iter(ended))
    if last is not None:  # its connections handed on as its worker writes them
        merge.add(_without(last.entries(), *crossed))
    merge.hand_on(END)
    if last is not None:
        parts.append(last.part())  # (raises the worker's error, if it failed)
    return merge.result(parts)


def _without(entries: Iterator[Entry], tcp: set[Pair], udp: set[Pair]) -> Iterator[Entry]:
    """The connections of a part but those of the 4-tuples repaired by stitching."""
    for e in entries:
        if e[2] not in (tcp if e[1] else udp):
            yield e


class _Merge:
    """The parts' connections (:data:`Entry`), merged in first-frame order and numbered as
    one pass numbers them, each handed on (``on_connection``) when :meth:`hand_on` says
    that none still to come goes before it."""

    def __init__(self, on_connection: Callable[[Any], None] | None, render: Renderer) -> None:
        self._on_connection = on_connection
        self._render = render
        # the next entry of each source: (first frame, tie, entry, the rest of the source)
        self._heads: list[tuple[int, int, Entry, Iterator[Entry]]] = []
        self._tie = itertools.count()
        self._numbers = [0, 0]  # UDP, TCP
        self._anomalies_seen = False
        self._tcp: list[Any] = []
        self._udp: list[Any] = []

    def add(self, entries: Iterator[Entry]) -> None:
        """One more source, in first-frame order."""
        first = next(entries, None)
        if first is not None:
            heapq.heappush(self._heads, (first[0], next(self._tie), first, entries))

    def hand_on(self, below: int) -> None:
        """Hand on, in order, every connection added whose first frame is below ``below``
        (none still to be added may go before those)."""
        heads, numbers, render = self._heads, self._numbers, self._render
        while heads and heads[0][0] < below:
            _, _, (_, is_tcp, _, anomalous, local, item), rest = heads[0]
            following = next(rest, None)
            if following is None:
                heapq.heappop(heads)
            else:
                heapq.heapreplace(heads, (following[0], next(self._tie), following, rest))
            n = numbers[is_tcp]
            numbers[is_tcp] += 1
            if n != local:
                item = render.renumber(item, local, n)
            self._anomalies_seen = self._anomalies_seen or anomalous
            if self._on_connection is not None:
                self._on_connection(item)
            elif is_tcp:
                self._tcp.append(item)
            else:
                self._udp.append(item)

    def result(self, parts: list[Part]) -> Analysis:
        """One :class:`Analysis` from the parts and the connections handed on."""
        last = parts[-1].analysis
        result = Analysis(path=last.path, info=last.info, diagnostics=list(last.diagnostics))
        result.tcp, result.udp = self._tcp, self._udp
        result.anomalies_seen = self._anomalies_seen
        result.udp_streams, result.tcp_streams = self._numbers
        result.counts = Counter()
        for part in parts:
            a = part.analysis
            result.notes += a.notes
            if a.clock_back is not None:
                times = a.clock_back[0] + (result.clock_back[0] if result.clock_back else 0)
                result.clock_back = (times, *(result.clock_back or a.clock_back)[1:])
            result.frames += a.frames
            result.captured_bytes += a.captured_bytes
            result.counts.update(a.counts)
            if a.first_ts_ns is not None:
                if result.first_ts_ns is None:
                    result.first_ts_ns = a.first_ts_ns
                result.last_ts_ns = a.last_ts_ns
        settle(result)
        return result
