"""One large capture on several cores: split by packet range, then stitched.

Theory of operation
-------------------
The file is cut into ``jobs`` parts by the file offset at which each frame's
record starts (a contiguous range of frames each). Every part is analysed by
a worker process from an empty table, exactly as :func:`handshaker.analysis.
analyze` would analyse it; each worker hands back the connections that ended
inside its part (summaries) and those still open at its end (the live
stream objects, TLS observer and all).

A connection that crosses a cut is wrong in the next part: that worker saw
its segments without the state before them. Stitching repairs it, part after
part, in order. The 4-tuples still open at the end of part ``i - 1`` (after
part ``i - 1`` was itself repaired) are the only ones whose segments in part
``i`` may belong to an earlier connection; for exactly those 4-tuples the
frames of part ``i`` are read again and fed to the carried streams (a port
reuse or an expiry there starts a new stream, as in one pass). Everything the
worker of part ``i`` made of those 4-tuples is dropped; everything else it
made is exact, because a 4-tuple that was not open at the cut starts from an
empty table in one pass as well. The connections are then numbered in order
of their first frame, which is how one pass numbers them.

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

Stitching costs one more read of each part but the first, in which only
the carried 4-tuples are followed: a fraction of a second per million
packets. Split runs are for regular files; gzip and standard input, which
cannot be cut by offset, are analysed in one pass.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import multiprocessing
import os
import signal
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from handshaker.analysis import (
    AS_IS,
    END,
    Analysis,
    Conn,
    InOrder,
    Pipeline,
    Renderer,
    gc_paused,
    read_chunks,
    run,
    settle,
    write_chunks,
)
from handshaker.capture import open_capture
from handshaker.flow.tcp import TcpStream, TcpSummary
from handshaker.flow.udp import UdpConversation

#: parts smaller than this are not worth a process of their own
MIN_PART_BYTES = 8 << 20
#: how often the progress of the workers is read (seconds)
PROGRESS_EVERY_S = 0.25

Pair = tuple[tuple[str, int], tuple[str, int]]


def pair(a: tuple[str, int], b: tuple[str, int]) -> Pair:
    """A 4-tuple without direction, the same in every process."""
    return (a, b) if a <= b else (b, a)


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
    open_tcp: list[TcpStream]
    open_udp: list[UdpConversation]


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


def _init_worker(slots: Any) -> None:
    global _progress_slots
    _progress_slots = slots
    # a worker lives for one part: the cyclic collector would only slow the pickling of
    # its result (the analysis itself pauses it, see analysis.gc_paused)
    gc.disable()
    # the run's SIGTERM handler (_sigterm_raises) is for the parent: a worker told to stop
    # (terminate) stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def analyze_part(path: str, lo: int, hi: int, index: int, tls: bool, file_index: int,
                 spool: str, render: Renderer = AS_IS) -> Part:
    """Analyse the frames whose records start in [lo, hi) from an empty table; the
    connections that end in the part go to the file ``spool`` (as :data:`Entry`), in
    first-frame order."""
    spooled: list[Entry] = []
    ordered = InOrder(spooled.append)

    def done(c: Conn) -> None:
        ordered.add(c.first_frame, entry(c, render))

    pipe = Pipeline(on_tcp=done, on_udp=done, tls=tls, file_index=file_index, expire=True)
    slots = _progress_slots

    def progress(frames: int, offset: int) -> None:
        if slots is not None:
            slots[2 * index] = frames
            slots[2 * index + 1] = max(0, min(offset, hi) - lo)

    with open(spool, "wb") as out:
        def flush() -> None:
            ordered.flush(pipe.first_open_frame())
            write_chunks(out, spooled)
            spooled.clear()

        result = run(path, pipe, progress=progress, byte_range=(lo, hi), evicted=flush)
        ordered.flush(END)  # what is still open is handed back, not spooled
        write_chunks(out, spooled)
    return Part(result, spool, pipe.tcp.open_streams(), pipe.udp.open_conversations())


class Replay:
    """Part ``i`` again, for the 4-tuples open at its start only (see the module docstring).

    Plugged into a :class:`Pipeline` (``pipe.replay``): ``select`` keeps the rows
    of those 4-tuples and hands each carried stream to the tracker the first
    time its 4-tuple shows up.
    """

    def __init__(self, tcp: list[TcpStream], udp: list[UdpConversation]) -> None:
        self.waiting: dict[str, dict[Pair, Any]] = {
            "tcp": {_stream_pair(st): st for st in tcp},
            "udp": {_summary_pair(c): c for c in udp},
        }
        self.only = {kind: set(w) for kind, w in self.waiting.items()}

    def select(self, kind: str, pipe: Pipeline, ids: list[Any], rows: np.ndarray,
               inverse: np.ndarray, swap: np.ndarray) -> tuple[np.ndarray, ...]:
        only, waiting = self.only[kind], self.waiting[kind]
        tracker: Any = pipe.tcp if kind == "tcp" else pipe.udp
        keep = np.zeros(len(ids), dtype=bool)
        for u, (key, eps) in enumerate(ids):
            p = pair(eps[0], eps[1])
            if p in only:
                keep[u] = True
                carried = waiting.pop(p, None)
                if carried is not None:
                    tracker.adopt(key, carried)
            else:
                pipe.tuples.forget(kind, key)
        mask = keep[inverse]
        return rows[mask], inverse[mask], swap[mask]

    def still_waiting(self) -> tuple[list[TcpStream], list[UdpConversation]]:
        return list(self.waiting["tcp"].values()), list(self.waiting["udp"].values())


#: each part is this much larger than the one before (of the first's size): part i is
#: stitched as soon as part i - 1 is in, so the first parts finish a little earlier and
#: their stitching runs beside the last workers (measured: 5.82 -> 5.57 s on 2 cores)
PART_GROWTH = 0.15


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
    # fork shares the imported code; with other threads running (a progress bar's)
    # forking is unsafe, and a fresh interpreter per worker is the safe way.
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")


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
    ctx = _context()
    slots = ctx.Array("q", 2 * len(parts_at), lock=False)
    with (_sigterm_raises(),  # before any worker runs: no moment when SIGTERM kills outright
          tempfile.TemporaryDirectory(prefix="handshaker-split-") as spools,
          ProcessPoolExecutor(max_workers=min(jobs, len(parts_at)), mp_context=ctx,
                              initializer=_init_worker, initargs=(slots,)) as pool):
        futures = [pool.submit(analyze_part, path, lo, hi, i, tls, file_index,
                               os.path.join(spools, f"part-{i}.pickle"), render)
                   for i, (lo, hi) in enumerate(parts_at)]

        def in_order() -> Iterator[Part]:
            """Each part as its worker finishes it (the progress shown meanwhile)."""
            for f in futures:
                while True:
                    done, _ = wait([f], timeout=PROGRESS_EVERY_S)
                    if progress is not None:
                        progress(sum(slots[0::2]), sum(slots[1::2]))
                    if done:
                        break
                yield f.result()  # raises the worker's error, if it failed

        # the stitching of part i runs as soon as part i - 1 is in, beside later workers
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


def stitch(path: str, next_parts: Iterable[Part], parts_at: list[tuple[int, int]], tls: bool,
           file_index: int, on_connection: Callable[[Any], None] | None,
           render: Renderer = AS_IS) -> Analysis:
    """Repair the connections that cross the cuts, then merge the parts in first-frame order.

    ``next_parts`` gives the parts in order, each when it is ready: the 4-tuples open at
    the start of part i are known, and part i is read again for them, as soon as part
    i - 1 is in; part i itself is needed only after that.
    """
    coming = iter(next_parts)
    parts = [next(coming)]
    repaired: list[Conn] = []  # connections that crossed a cut: few

    def pipeline() -> Pipeline:
        return Pipeline(on_tcp=repaired.append, on_udp=repaired.append, tls=tls,
                        file_index=file_index, expire=True)

    sources: list[Iterator[Entry]] = [read_spool(parts[0].spool)]
    open_tcp, open_udp = parts[0].open_tcp, parts[0].open_udp
    for byte_range in parts_at[1:]:
        crossed_tcp: set[Pair] = set()
        crossed_udp: set[Pair] = set()
        if open_tcp or open_udp:
            pipe = pipeline()
            replay = pipe.replay = Replay(open_tcp, open_udp)
            crossed_tcp, crossed_udp = replay.only["tcp"], replay.only["udp"]
            run(path, pipe, evicted=lambda: None, byte_range=byte_range)
            open_tcp, open_udp = replay.still_waiting()
            open_tcp += pipe.tcp.open_streams()
            open_udp += pipe.udp.open_conversations()
        part = next(coming)
        parts.append(part)
        sources.append(_without(read_spool(part.spool), crossed_tcp, crossed_udp))
        open_tcp += [st for st in part.open_tcp if _stream_pair(st) not in crossed_tcp]
        open_udp += [c for c in part.open_udp if _summary_pair(c) not in crossed_udp]
    pipe = pipeline()
    repaired.extend(pipe.summary(st) for st in open_tcp)
    repaired.extend(open_udp)
    repaired.sort(key=lambda c: c.first_frame)
    sources.append(entry(c, render) for c in repaired)
    return _merge(parts, heapq.merge(*sources, key=lambda e: e[0]), on_connection, render)


def _without(entries: Iterator[Entry], tcp: set[Pair], udp: set[Pair]) -> Iterator[Entry]:
    """The connections of a part but those of the 4-tuples repaired by stitching."""
    for e in entries:
        if e[2] not in (tcp if e[1] else udp):
            yield e


def _merge(parts: list[Part], entries: Iterator[Entry],
           on_connection: Callable[[Any], None] | None, render: Renderer) -> Analysis:
    """One :class:`Analysis` from the parts, connections numbered as one pass numbers them."""
    last = parts[-1].analysis
    result = Analysis(path=last.path, info=last.info, diagnostics=list(last.diagnostics))
    numbers = [0, 0]  # UDP, TCP
    for _, is_tcp, _, anomalous, local, item in entries:
        n = numbers[is_tcp]
        numbers[is_tcp] += 1
        if n != local:
            item = render.renumber(item, local, n)
        result.anomalies_seen = result.anomalies_seen or anomalous
        if on_connection is not None:
            on_connection(item)
        elif is_tcp:
            result.tcp.append(item)
        else:
            result.udp.append(item)
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
    result.udp_streams, result.tcp_streams = numbers
    settle(result)
    return result
