"""The pipeline in one call: capture -> columns -> flows -> an :class:`Analysis`.

The hot path decodes frames a batch at a time into numpy columns, finds each
TCP/UDP packet's 4-tuple for the whole batch at once (``np.unique`` over the
packed addresses and ports), and then feeds only plain integers to the flow
trackers. Per-packet Python objects are made only for SYNs (their options)
and for the streams a caller asks to keep in full.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import os
import pickle
import struct
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from handshaker.capture import open_capture
from handshaker.capture.model import LINKTYPE_NAMES, CaptureInfo
from handshaker.compiled import helper
from handshaker.dissect.columnar import decode_batch
from handshaker.dissect.columns import (
    ST_MALFORMED,
    ST_TRUNCATED,
    ST_UNSUPPORTED_LINK,
    halves_to_ip,
)
from handshaker.dissect.tcpopts import syn_options
from handshaker.errors import Diagnostic
from handshaker.flow.tcp import (
    SynOptions,
    TcpStream,
    TcpSummary,
    TcpTracker,
    summarize,
)
from handshaker.flow.udp import UdpConversation, UdpTracker

if TYPE_CHECKING:
    from handshaker.tls.opener import KeyRing

Conn = TcpSummary | UdpConversation

BATCH_SIZE = 65536
#: past any frame number
END = 1 << 62
#: connections that wait in memory for an older one to end, for the first-frame order of
#: the output (InOrder); more wait in a temporary file
MAX_HELD_CONNECTIONS = 10_000
#: how often (in capture time) over connections are looked for and retired
EVICT_EVERY_NS = 2_000_000_000


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a capture is analysed.

    The analysis allocates millions of small objects that never form cycles
    (reference counting frees them); the collector would find nothing and
    yet cost a quarter of the run (1.4 s of 5.9 s on the 1M-packet capture).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 = 6, 17, 1, 58


@dataclass(slots=True)
class Analysis:
    """What one capture holds, connection by connection."""

    path: str
    info: CaptureInfo
    frames: int = 0
    captured_bytes: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    tcp: list[TcpSummary] = field(default_factory=list)
    udp: list[UdpConversation] = field(default_factory=list)
    kept: dict[int, TcpStream] = field(default_factory=dict)
    tcp_streams: int = 0  # how many TCP streams (also when they were streamed out)
    anomalies_seen: bool = False  # any TCP connection had an anomaly
    udp_streams: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)  # the analysis's own (limits)
    clock_back: tuple[int, int, int, int] | None = None  # see Clock

    @property
    def connections(self) -> list[TcpSummary | UdpConversation]:
        """TCP and UDP conversations in order of their first frame."""
        both: list[TcpSummary | UdpConversation] = [*self.tcp, *self.udp]
        both.sort(key=lambda c: c.first_frame)
        return both


#: the compiled tuple_keys (capture/_walk.c), where the package was built with it
_walk: Any = helper("handshaker.capture._walk")


def _tuple_keys(cols: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """For the given rows: (unique-key index per row, swap bit per row, unique keys, each
    as its 40 bytes, in order of their tuple_hash). Compiled (capture/_walk.c's
    tuple_keys, a hash table where this sorts) where the package was built with it;
    :func:`tuple_keys_in_numpy` is the twin."""
    if _walk is not None:
        found = _walk.tuple_keys(cols["src_hi"], cols["src_lo"], cols["sport"],
                                 cols["dst_hi"], cols["dst_lo"], cols["dport"],
                                 np.ascontiguousarray(rows, dtype=np.int64))
        if found is not None:  # (None: two 4-tuples on one number, which numpy sorts out)
            inverse, swap, keys = found
            return np.frombuffer(inverse, dtype=np.int64), np.frombuffer(swap, dtype=np.int64), keys
    return tuple_keys_in_numpy(cols, rows)


def tuple_keys_in_numpy(cols: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                              list[bytes]]:
    """:func:`_tuple_keys` with numpy."""
    k, swap = packed_tuples(cols, rows)
    # One 64-bit number per row, unique'd (a sort of plain integers, several times quicker
    # than of 40-byte rows); then checked: rows with the same number must be equal.
    _, first, inverse = np.unique(tuple_hash(k), return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    keys = np.ascontiguousarray(k[first])
    if not np.array_equal(keys[inverse], k):  # two 4-tuples on one number: never seen
        void = np.ascontiguousarray(k).view(np.dtype((np.void, 40))).ravel()
        uniq, inverse = np.unique(void, return_inverse=True)
        return inverse.ravel(), swap.astype(np.int64), uniq.tolist()
    return inverse, swap.astype(np.int64), keys.view(np.dtype((np.void, 40))).ravel().tolist()


def packed_tuples(cols: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 4-tuples of the given rows packed as five uint64 each (the lower endpoint's
    address halves, the higher's, both ports), and whether each row goes from the higher
    endpoint to the lower."""
    shi, slo, sp = cols["src_hi"][rows], cols["src_lo"][rows], cols["sport"][rows].astype(np.uint64)
    dhi, dlo, dp = cols["dst_hi"][rows], cols["dst_lo"][rows], cols["dport"][rows].astype(np.uint64)
    swap = (shi > dhi) | ((shi == dhi) & ((slo > dlo) | ((slo == dlo) & (sp > dp))))
    k = np.empty((len(rows), 5), dtype=np.uint64)
    k[:, 0] = np.where(swap, dhi, shi)
    k[:, 1] = np.where(swap, dlo, slo)
    k[:, 2] = np.where(swap, shi, dhi)
    k[:, 3] = np.where(swap, slo, dlo)
    k[:, 4] = (np.where(swap, dp, sp) << np.uint64(16)) | np.where(swap, sp, dp)
    return k, swap


#: odd multipliers for the 4-tuple's hash (from the golden ratio and its kin)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                 0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD], dtype=np.uint64)


def tuple_hash(k: np.ndarray) -> np.ndarray:
    """A 64-bit number for each packed 4-tuple (rows of five uint64, as :func:`_tuple_keys`
    packs them); capture/_walk.c's tuple_hashes is its twin, from a frame's bytes."""
    h = k[:, 0] * _MIX[0]
    for c in range(1, 5):
        h ^= k[:, c] * _MIX[c]
        h ^= h >> np.uint64(29)
    return h


def analyze(
    path: str | os.PathLike[str],
    *,
    keep_tcp: Callable[[int], bool] | None = None,
    keep_udp: Callable[[int], bool] | None = None,
    file_index: int = 0,
    on_connection: Callable[[Any], None] | None = None,
    tls: bool = True,
    tls_detail: bool = False,
    ca_file: str | None = None,
    keys: KeyRing | None = None,
    progress: Callable[[int, int], None] | None = None,
    jobs: int = 1,
    render: Renderer | None = None,
) -> Analysis:
    """Read a capture and follow every TCP and UDP conversation in it.

    ``keep_tcp(n)`` / ``keep_udp(n)`` choose the streams whose every segment
    is kept (for a ladder); the others keep only their summary.

    With ``on_connection``, each connection is handed over as soon as it is
    over (closed and quiet, or silent long enough; see
    :meth:`TcpTracker.evict`), in order of its first frame, and is not kept
    in the result: memory then depends on the connections open at once, not
    on the size of the file. Without it, ``Analysis.tcp`` / ``.udp`` hold
    them all.

    TLS is recognised by content on any port; each TLS stream's handshake
    is followed (``tls``) and summarised on its connection (``.tls``). With
    ``tls_detail`` every TLS stream is followed to its end, its certificates
    are described and the client's certificate check is redone (against
    the system store, or ``ca_file``): slower, for the ``tls`` command.
    With ``keys`` (:class:`~handshaker.tls.opener.KeyRing`) every TLS stream
    is followed in detail and decrypted where the keys open it; the
    capture's own Decryption Secrets Blocks join the keys as they are read.
    ``progress(frames, bytes)`` is called after each batch with the frames and
    the bytes of the file read so far, as it is on disk (a gzip file's compressed
    bytes: a share of its size). With ``render`` (a
    :class:`Renderer`), ``on_connection`` gets ``render.render(conn)`` instead
    of the connection.

    With ``jobs`` > 1, a large regular file is cut into parts analysed on that
    many processes and stitched (:mod:`handshaker.split`; the same result),
    when nothing asks for more than summaries (streaming with ``on_connection``,
    no kept streams, no TLS detail, no keys).

    Raises :class:`~handshaker.errors.CaptureError` when the file cannot be
    read at all; damage later in the file becomes a diagnostic.
    """
    streaming = on_connection is not None
    if (jobs > 1 and streaming and keep_tcp is None and keep_udp is None and not tls_detail
            and keys is None):
        from handshaker import split

        name = os.fsdecode(os.fspath(path))
        parts = split.cuts(os.path.getsize(name), jobs) if split.splittable(name) else []
        if len(parts) > 1:
            return split.analyze_split(name, jobs=jobs, on_connection=on_connection, tls=tls,
                                       file_index=file_index, progress=progress,
                                       ranges=parts, render=render or AS_IS)
    ordered = InOrder(on_connection) if on_connection is not None else None
    tcp_done: list[TcpSummary] = []
    udp_done: list[UdpConversation] = []
    anomalies_seen = False
    make = (render or AS_IS).render

    def emit(conn: TcpSummary | UdpConversation) -> None:
        if ordered is None:
            (tcp_done if isinstance(conn, TcpSummary) else udp_done).append(conn)  # type: ignore[arg-type]
        else:
            ordered.add(conn.first_frame, make(conn))

    def tcp_retired(summary: TcpSummary) -> None:
        nonlocal anomalies_seen
        anomalies_seen = anomalies_seen or bool(summary.anomalies)
        emit(summary)

    pipe = Pipeline(keep_tcp=keep_tcp, keep_udp=keep_udp, on_tcp=tcp_retired, on_udp=emit,
                    tls=tls, tls_detail=tls_detail, ca_file=ca_file, keys=keys,
                    file_index=file_index, expire=streaming)
    with gc_paused():  # (to the end: the last connections are summarised by close)
        # (with cores to spare, a gzip file, which is not split, is inflated beside)
        result = run(path, pipe, keys=keys, progress=progress,
                     evicted=(lambda: ordered.flush(pipe.first_open_frame())) if ordered else None,
                     inflate_aside=jobs > 1)
        settle(result)
        pipe.close()
        if ordered is not None:
            ordered.flush(END)
    result.tcp = sorted(tcp_done, key=lambda c: c.stream)
    result.udp = sorted(udp_done, key=lambda c: c.stream)
    result.kept = pipe.tcp.kept
    result.tcp_streams = pipe.tcp.count
    result.udp_streams = pipe.udp.count
    result.anomalies_seen = anomalies_seen
    return result


class InOrder:
    """Connections handed on in order of their first frame (as one pass numbers them), each
    as soon as no connection still open can come before it.

    A connection open for long holds back every one that began after it. At most
    ``limit`` (MAX_HELD_CONNECTIONS) wait in memory; past that, the waiting ones are
    written, in order, to a temporary file (pickled, in chunks) and read back when
    their turn comes: memory stays flat however long such a connection lasts.
    """

    def __init__(self, out: Callable[[Any], None], limit: int | None = None) -> None:
        self._out = out
        self._limit = MAX_HELD_CONNECTIONS if limit is None else limit
        self._heap: list[tuple[int, Any]] = []
        # the next entry of each file written: (first frame, tie, entry, the rest)
        self._runs: list[tuple[int, int, tuple[int, Any], Iterator[tuple[int, Any]]]] = []
        self._tie = 0
        self.spilled = 0  # entries that went through a file

    def add(self, first_frame: int, item: Any) -> None:
        """Hold ``item`` (a connection, or what was made of it) until its turn."""
        heapq.heappush(self._heap, (first_frame, item))  # first frames are unique
        if len(self._heap) > self._limit:
            held: Iterable[tuple[int, Any]] = sorted(self._heap, key=lambda e: e[0])
            self.spilled += len(self._heap)
            self._heap = []
            if len(self._runs) >= MAX_SPILL_FILES:  # one file of them all, in order
                runs, self._runs = self._runs, []
                held = heapq.merge(held, *(itertools.chain((e,), rest) for _, _, e, rest in runs),
                                   key=lambda e: e[0])
            f = tempfile.TemporaryFile()  # noqa: SIM115 - closed by read_chunks
            write_chunks(f, held, SPILL_CHUNK)  # small: one chunk per file stays in memory
            f.seek(0)
            self._next(read_chunks(f))

    def _next(self, rest: Iterator[tuple[int, Any]]) -> None:
        entry = next(rest, None)
        if entry is not None:
            self._tie += 1
            heapq.heappush(self._runs, (entry[0], self._tie, entry, rest))

    def flush(self, floor: int) -> None:
        """Hand on what starts before ``floor`` (the first frame of the oldest open one)."""
        heap, runs = self._heap, self._runs
        while True:
            if heap and (not runs or heap[0][0] < runs[0][0]):
                if heap[0][0] >= floor:
                    return
                self._out(heapq.heappop(heap)[1])
            elif runs and runs[0][0] < floor:
                _, _, entry, rest = heapq.heappop(runs)
                self._out(entry[1])
                self._next(rest)
            else:
                return


class Renderer:
    """What :func:`analyze` hands ``on_connection``: by default the connection itself.

    Subclasses make the output of a connection (a JSON text, a CSV row) as soon
    as it is over: what waits for its turn (:class:`InOrder`, a split run's
    files) is then that, smaller and quicker to write to a file than the
    objects. A split run renumbers what the parts made (``renumber``): stream
    numbers are final only once the parts are stitched. Instances go to worker
    processes, so they hold no open file.
    """

    def render(self, conn: Conn) -> Any:
        return conn

    def renumber(self, item: Any, old: int, stream: int) -> Any:
        """``item`` as made for stream number ``old``, for number ``stream`` instead."""
        item.stream = stream
        tls = getattr(item, "tls", None)
        if tls is not None:
            tls.stream = stream
        return item


AS_IS = Renderer()


#: objects per pickled chunk of a temporary file
CHUNK_OBJECTS = 1000
#: Pipeline.close(on_way): connections retired between two calls of on_way
CLOSE_STEP = 100
#: connections per chunk of InOrder's files (each file being read keeps one in memory)
SPILL_CHUNK = 100
#: InOrder's files open at once; one more merges them all into one
MAX_SPILL_FILES = 64


class ChunkWriter:
    """Items pickled to ``f`` as they come, in chunks of ``size`` (read back by
    :func:`read_chunks`): one chunk in memory at a time. ``flush`` writes the last one.
    Each chunk goes to the file as soon as it is whole, its length before it (a reader
    may follow the file as it grows: :func:`follow_chunks`)."""

    def __init__(self, f: BinaryIO, size: int = CHUNK_OBJECTS) -> None:
        self._f = f
        self._size = size
        self._chunk: list[Any] = []

    def append(self, item: Any) -> None:
        self._chunk.append(item)
        if len(self._chunk) >= self._size:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            blob = pickle.dumps(self._chunk, protocol=pickle.HIGHEST_PROTOCOL)
            self._f.write(_CHUNK_LEN.pack(len(blob)))
            self._f.write(blob)
            self._f.flush()
            self._chunk = []


#: the length before each chunk of a ChunkWriter's file
_CHUNK_LEN = struct.Struct("<Q")
#: follow_chunks reads this much at a time (what it holds: about this and a chunk)
FOLLOW_READ = 1 << 20


def write_chunks(f: BinaryIO, items: Iterable[Any], size: int = CHUNK_OBJECTS) -> None:
    """Pickle ``items`` to ``f`` in chunks of ``size`` (read back by :func:`read_chunks`)."""
    w = ChunkWriter(f, size)
    for item in items:
        w.append(item)
    w.flush()


def read_chunks(f: BinaryIO) -> Iterator[Any]:
    """The items :func:`write_chunks` wrote, in order, one chunk in memory at a time;
    the file is closed at the end. Only for files this process's own code wrote."""
    with f:
        while True:
            head = f.read(_CHUNK_LEN.size)
            if not head:
                return
            yield from pickle.loads(f.read(_CHUNK_LEN.unpack(head)[0]))  # our own file


def follow_chunks(path: str, finished: Callable[[], bool],
                  wait: Callable[[], None]) -> Iterator[Any]:
    """:func:`read_chunks` of a file that another process is writing with a
    :class:`ChunkWriter` (and may not have made yet): each chunk as soon as it is whole;
    ``wait()`` while none is, until ``finished()`` says the writer is done. Only for
    files this program's own processes wrote."""
    f = None
    held = bytearray()
    try:
        while True:
            over = finished()  # (asked before reading: what it wrote before is there then)
            if f is None:
                with contextlib.suppress(FileNotFoundError):
                    f = open(path, "rb")  # noqa: SIM115 - closed below
            got = f.read(FOLLOW_READ) if f is not None else b""
            held += got
            at = 0
            while len(held) - at >= _CHUNK_LEN.size:
                end = at + _CHUNK_LEN.size + _CHUNK_LEN.unpack_from(held, at)[0]
                if end > len(held):
                    break
                chunk = pickle.loads(held[at + _CHUNK_LEN.size:end])
                at = end
                yield from chunk
            del held[:at]
            if got or at:
                continue  # (more may be there already)
            if over:
                return  # (what is left, if anything, is what a failed writer left half made)
            wait()
    finally:
        if f is not None:
            f.close()


class Reading:
    """The batches of one open capture, read in consecutive byte ranges by more than one
    :func:`run` (a split run's part, then the next part, which its worker follows its
    open connections through): what one run read past its range is kept for the next."""

    def __init__(self, cap: Any, start: int = 0) -> None:
        self.cap = cap
        # from file offset ``start`` on: the frames before it are passed over unread where
        # the format allows (Capture.skip_to); the time of the last of them, for Clock
        self.start = start
        self.before = cap.skip_to(start) if start else None
        self._batches = cap.batches(BATCH_SIZE)
        self._back: list[Any] = []

    def __iter__(self) -> Reading:
        return self

    def __next__(self) -> Any:
        return self._back.pop() if self._back else next(self._batches)

    def put_back(self, batch: Any) -> None:
        self._back.append(batch)


def run(path: str | os.PathLike[str], pipe: Pipeline, *, keys: KeyRing | None = None,
        progress: Callable[[int, int], None] | None = None,
        evicted: Callable[[], None] | None = None,
        byte_range: tuple[int, int] | None = None, inflate_aside: bool = False,
        reading: Reading | None = None, want: Any = None) -> Analysis:
    """Feed a capture's frames to ``pipe``, a batch at a time; the pipe is left open.

    With ``evicted``, connections that are over are retired every
    EVICT_EVERY_NS of capture time and ``evicted()`` is called after each time.
    ``byte_range`` = (lo, hi) feeds only the frames whose records start at a
    file offset in [lo, hi) (a part of a split run, :mod:`handshaker.split`);
    reading stops at hi unless hi is past the end, so only the last part sees
    (and reports) the damage of the whole file. ``inflate_aside``: a gzip file is
    inflated by a process of its own (on another core). ``reading``: the capture,
    open already and read up to ``byte_range`` (which it then needs). ``want``: 4-tuple
    hashes whose frames the reader marks in each batch (Capture.want; a split run's
    follow, which looks at those only).
    """
    lo, hi = byte_range if byte_range is not None else (0, END)
    next_evict = -1
    shed_at: tuple[int, int] | None = None  # (frame, offset) where the table was first full
    clock = Clock()
    with gc_paused(), (open_capture(path, inflate_aside=inflate_aside) if reading is None
                       else contextlib.nullcontext(reading.cap)) as cap:
        result = Analysis(path=cap.path, info=cap.info)
        batches = Reading(cap, lo) if reading is None else reading
        if batches.start == lo:
            clock.last = batches.before
        cap.want(want)
        past = False  # the frames after the range were reached
        for batch in batches:
            if byte_range is not None:
                offsets = batch.file_offset
                if len(batch) and int(offsets[0]) >= hi:
                    batches.put_back(batch)
                    break
                i, j = (int(x) for x in np.searchsorted(offsets, (lo, hi)))
                if i:  # the last frame before the part: the time the part's first follows
                    clock.last = int(batch.ts_ns[i - 1])
                if j < len(batch):
                    batches.put_back(batch.slice(j, len(batch)))
                    past = True
                if (i, j) != (0, len(batch)):
                    batch = batch.slice(i, j)
            n = len(batch)
            if n == 0:
                continue
            clock.check(batch)
            result.frames += n
            if keys is not None:
                keys.take_secrets_blocks(cap.info.secrets)
            result.captured_bytes += int(batch.caplen.sum())
            ts_all = batch.ts_ns
            if result.first_ts_ns is None:
                result.first_ts_ns = int(ts_all[0])
            result.last_ts_ns = int(ts_all[-1])
            pipe.feed(batch)
            if shed_at is None and (pipe.tcp.shed_frame or pipe.udp.shed_frame):
                frame = min(f for f in (pipe.tcp.shed_frame, pipe.udp.shed_frame) if f)
                shed_at = (frame, int(batch.file_offset[frame - batch.first_number]))
            if progress is not None:
                progress(result.frames,
                         cap.on_disk(int(batch.file_offset[-1]) + int(batch.caplen[-1])))
            # the batch's median time, not its latest: one frame with a wild timestamp
            # must not retire every connection at once
            now = int(np.median(ts_all))
            if evicted is not None and now >= next_evict:
                next_evict = now + EVICT_EVERY_NS
                pipe.evict(now)
                evicted()
            if past:
                break
        cap.want(None)
        result.diagnostics.extend(cap.diagnostics)
    result.counts = pipe.counts
    result.clock_back = clock.back
    if shed_at is not None:
        result.notes.append(Diagnostic(
            f"more than {pipe.tcp.limit:,} connections open at once "
            f"(MAX_OPEN_CONNECTIONS): {pipe.tcp.shed + pipe.udp.shed:,} of those quiet the "
            "longest were reported before they ended; a later packet of one starts a new "
            "connection", result.path, shed_at[0], shed_at[1], "warning"))
    return result


class Clock:
    """Where a capture's timestamps go back in time."""

    def __init__(self) -> None:
        self.last: int | None = None  # the previous frame's time
        self.back: tuple[int, int, int, int] | None = None  # times, first frame, offset, by ns

    def check(self, batch: Any) -> None:
        ts = batch.ts_ns
        prev = np.empty_like(ts)
        prev[0] = ts[0] if self.last is None else self.last
        prev[1:] = ts[:-1]
        self.last = int(ts[-1])
        drops = np.flatnonzero(ts < prev)
        if len(drops) == 0:
            return
        if self.back is None:
            k = int(drops[0])
            self.back = (len(drops), batch.first_number + k, int(batch.file_offset[k]),
                         int(prev[k] - ts[k]))
        else:
            self.back = (self.back[0] + len(drops), *self.back[1:])


def settle(result: Analysis) -> None:
    """Add to the diagnostics what the analysis itself noticed (after the reader's)."""
    result.diagnostics.extend(result.notes)
    if result.clock_back is not None:
        times, frame, offset, by = result.clock_back
        result.diagnostics.append(Diagnostic(
            f"timestamps go back in time ({'once' if times == 1 else f'{times:,} times'}; here "
            f"by {by / 1e9:.6f} s): times, "
            "durations and the retiring of connections follow the capture's clock as written",
            result.path, frame, offset, "warning"))


class Pipeline:
    """The flow stage, fed one batch of frames at a time: :func:`analyze` runs it over a
    file, ``handshaker live`` over an interface.

    Each batch is decoded into columns, counted, and its TCP and UDP rows handed
    to the trackers by 4-tuple. A connection that is over is summarised (with
    its TLS session, when the observer followed one) and handed to ``on_tcp`` /
    ``on_udp``.
    """

    def __init__(self, *, keep_tcp: Callable[[int], bool] | None = None,
                 keep_udp: Callable[[int], bool] | None = None,
                 on_tcp: Callable[[TcpSummary], None] | None = None,
                 on_udp: Callable[[UdpConversation], None] | None = None,
                 tls: bool = True, tls_detail: bool = False, ca_file: str | None = None,
                 keys: KeyRing | None = None, file_index: int = 0, expire: bool = False) -> None:
        self.tuples = _TupleKeys()
        self.counts: Counter[str] = Counter()
        self.file_index = file_index
        self._on_tcp = on_tcp
        self._on_udp = on_udp
        self._tls_detail = tls_detail
        self._ca_file = ca_file
        observe = None
        if tls:
            from handshaker.tls.observer import observe as tls_observe

            def observe(stream: TcpStream, direction: int, first: bytes) -> Any:
                return tls_observe(stream, direction, first, detail=tls_detail, keys=keys)

        self.tcp = TcpTracker(keep_tcp, on_done=self._tcp_retired, observe=observe)
        self.udp = UdpTracker(keep_udp, on_done=self._udp_retired)
        self.tcp.expire = expire
        #: a split run's stitching (handshaker.split): only some 4-tuples, continued
        self.replay: Any = None

    def summary(self, st: TcpStream) -> TcpSummary:
        """The summary of a stream, with its TLS session when one was followed."""
        summary = summarize(st)
        obs: Any = st.observer
        if obs is not None and hasattr(obs, "finish"):  # the TLS observer
            if self._tls_detail:
                obs.verify(self._ca_file)
            summary.tls = obs.finish((summary.client.ip, summary.client.port),
                                     (summary.server.ip, summary.server.port),
                                     summary.client_dir, summary.close.get("kind"))
        return summary

    def _tcp_retired(self, st: TcpStream) -> None:
        if self.tcp.holding(st.key) in (None, st):  # else a new stream has taken the 4-tuple
            self.tuples.forget("tcp", st.key)
        summary = self.summary(st)
        if self._on_tcp is not None:
            self._on_tcp(summary)

    def _udp_retired(self, conv: UdpConversation) -> None:
        if self.udp.holding(conv.key) in (None, conv):
            self.tuples.forget("udp", conv.key)
        if self._on_udp is not None:
            self._on_udp(conv)

    def feed(self, batch: Any) -> None:
        if self.replay is not None:  # (the frames of other 4-tuples need not be decoded)
            batch = self.replay.frames_of(batch)
            if not len(batch):
                return
        cols = decode_batch(batch)
        _count(cols, self.counts, batch)
        proto = cols["ip_proto"]
        l4ok = (cols["sport"] >= 0) & (cols["frag"] == 0)
        for p, kind in ((IPPROTO_TCP, "tcp"), (IPPROTO_UDP, "udp")):
            rows = np.nonzero((proto == p) & l4ok)[0]
            if len(rows) == 0:
                continue
            inverse, swap, uniq = _tuple_keys(cols, rows)
            if self.replay is not None:  # only some 4-tuples, followed on (split.Replay)
                rows, inverse, swap, ids = self.replay.select(kind, self, rows, inverse, swap,
                                                              uniq)
                if len(rows) == 0:
                    continue
            else:
                ids = self.tuples.lookup_all(kind, uniq)
            if kind == "tcp":
                _feed_tcp(self.tcp, cols, batch, rows, inverse, swap, ids, self.file_index)
            else:
                _feed_udp(self.udp, cols, rows, inverse, swap, ids, self.file_index)

    def evict(self, now_ns: int) -> None:
        self.tcp.evict(now_ns)
        self.udp.evict(now_ns)

    def first_open_frame(self) -> int:
        return min(self.tcp.first_open_frame(), self.udp.first_open_frame())

    def close(self, on_way: Callable[[int], None] | None = None) -> None:
        """Retire every connection still open (the capture has ended). With ``on_way``
        they go in order of their first frame, TCP and UDP together, and after each
        CLOSE_STEP of them ``on_way`` is told the first frame of the next to go (END: none
        is left): a split run's last worker writes out what comes before it meanwhile."""
        if on_way is not None:
            tcp = sorted(self.tcp.open_streams(), key=lambda s: s.number)  # (first frames')
            udp = sorted(self.udp.open_conversations(), key=lambda c: c.stream)
            order = list(heapq.merge(((s.first_frame, 1, s) for s in tcp),
                                     ((c.first_frame, 0, c) for c in udp)))
            for k, (_, is_tcp, conn) in enumerate(order, 1):
                tracker: Any = self.tcp if is_tcp else self.udp
                tracker.retire(conn)
                if k % CLOSE_STEP == 0 or k == len(order):
                    on_way(order[k][0] if k < len(order) else END)
        self.tcp.close()
        self.udp.close()


#: a packed 4-tuple (:func:`_tuple_keys`): five uint64 in the machine's byte order
PACKED_TUPLE = struct.Struct("=5Q")


class _TupleKeys:
    """Packed 4-tuple bytes -> (small int id, the endpoints as text), per protocol.

    Ids of retired connections are forgotten, so that this table, like the
    trackers', holds only the connections still open.
    """

    def __init__(self) -> None:
        self._ids: dict[str, dict[bytes, tuple[int, Any]]] = {"tcp": {}, "udp": {}}
        self._bytes: dict[int, tuple[str, bytes]] = {}
        self._next = 0

    def lookup_all(self, kind: str, keys: list[bytes]) -> list[tuple[int, Any]]:
        """:meth:`lookup` of each key (most are known: those are looked up here)."""
        known = self._ids[kind].get
        return [known(b) or self.lookup(kind, b) for b in keys]

    def lookup(self, kind: str, b: bytes) -> tuple[int, Any]:
        table = self._ids[kind]
        ent = table.get(b)
        if ent is None:
            hi_a, lo_a, hi_b, lo_b, ports = PACKED_TUPLE.unpack(b)
            eps = ((halves_to_ip(hi_a, lo_a), ports >> 16),
                   (halves_to_ip(hi_b, lo_b), ports & 0xFFFF))
            ent = (self._next, eps)
            self._next += 1
            table[b] = ent
            self._bytes[ent[0]] = (kind, b)
        return ent

    def packed(self, key: Any) -> bytes | None:
        """The packed 4-tuple of an id :meth:`lookup` gave (None: not one of this table's)."""
        found = self._bytes.get(key)
        return None if found is None else found[1]

    def forget(self, kind: str, key: int) -> None:
        found = self._bytes.pop(key, None)
        if found is not None:
            self._ids[found[0]].pop(found[1], None)


def _count(cols: Any, counts: Counter[str], batch: Any) -> None:
    status = cols["status"]
    counts["truncated"] += int(np.count_nonzero(status == ST_TRUNCATED))
    counts["malformed"] += int(np.count_nonzero(status == ST_MALFORMED))
    unsupported = status == ST_UNSUPPORTED_LINK
    if unsupported.any():
        for lt, c in zip(*np.unique(batch.linktype[unsupported], return_counts=True), strict=True):
            counts[f"skipped_linktype:{LINKTYPE_NAMES.get(int(lt), int(lt))}"] += int(c)
    l3 = cols["l3"]
    counts["ipv4"] += int(np.count_nonzero(l3 == 4))
    counts["ipv6"] += int(np.count_nonzero(l3 == 6))
    counts["non_ip"] += int(np.count_nonzero((l3 == 0) & ~unsupported))
    proto = cols["ip_proto"]
    for p, name in ((IPPROTO_TCP, "tcp"), (IPPROTO_UDP, "udp"), (IPPROTO_ICMP, "icmp"),
                    (IPPROTO_ICMPV6, "icmpv6")):
        counts[name] += int(np.count_nonzero(proto == p))
    counts["ip_fragments"] += int(np.count_nonzero(cols["frag"] != 0))


def _feed_tcp(tcp: TcpTracker, cols: Any, batch: Any, rows: np.ndarray, inverse: np.ndarray,
              swap: np.ndarray, ids: list[Any], file_index: int) -> None:
    flags = cols["tcp_flags"][rows]
    columns = [np.ascontiguousarray(a, dtype=np.int64) for a in (
        inverse, swap, cols["number"][rows], cols["ts_ns"][rows], cols["seq"][rows],
        cols["ack"][rows], np.where(flags < 0, 0, flags), cols["payload_len"][rows],
        cols["window"][rows], cols["wirelen"][rows])]
    rows_of = _Rows(batch, cols, rows)
    tcp.feed(ids, columns, rows_of.syn_options, file_index, rows_of.payload,
             _spans(batch, cols, rows) if tcp.compiled else None)


def _spans(batch: Any, cols: Any, rows: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray,
                                                             np.ndarray, np.ndarray]:
    """(buf, lo, hi, plo, phi): the TCP options of the given rows are ``buf[lo:hi]``
    (``lo`` < 0 where the header is too short to have any), their captured payloads
    ``buf[plo:phi]``. The compiled lane reads a SYN's options and hands the payloads on
    from there (:meth:`_Rows.syn_options` and :meth:`_Rows.payload` are its twins)."""
    hlen, l4 = cols["tcp_hlen"][rows].astype(np.int64), cols["l4_off"][rows].astype(np.int64)
    start, caplen = batch.start[rows].astype(np.int64), batch.caplen[rows].astype(np.int64)
    lo = start + l4 + 20
    hi = np.maximum(lo, start + np.minimum(l4 + hlen, caplen))
    none = (hlen <= 20) | (l4 < 0)  # (an empty span: SynOptions())
    lo[none] = 0
    hi[none] = 0
    lo[hlen < 20] = -1
    off, n = cols["payload_off"][rows].astype(np.int64), cols["payload_len"][rows]
    plo = start + off
    phi = np.maximum(plo, start + np.minimum(off + n, caplen))
    empty = (off < 0) | (n <= 0)
    plo[empty] = 0
    phi[empty] = 0
    return batch.buf, lo, hi, plo, phi


class _Rows:
    """The bytes of a batch's TCP rows that Python reads one at a time: payloads (for
    the stream observers) and SYN options. Segment ``i`` is the batch's row ``at[i]``;
    the columns are read through memoryviews, which give plain ints three times as
    quickly as indexing the arrays."""

    __slots__ = ("at", "buf", "caplen", "hlen", "l4", "off", "plen", "start")

    def __init__(self, batch: Any, cols: Any, rows: np.ndarray) -> None:
        self.at = np.ascontiguousarray(rows).data  # (a memoryview: no list of every row)
        self.buf = batch.buf
        self.start, self.caplen = memoryview(batch.start), memoryview(batch.caplen)
        self.off, self.plen = memoryview(cols["payload_off"]), memoryview(cols["payload_len"])
        self.hlen, self.l4 = memoryview(cols["tcp_hlen"]), memoryview(cols["l4_off"])

    def payload(self, i: int) -> bytes:
        """The captured payload of segment ``i`` (cut by the snapshot length, if it was)."""
        row = self.at[i]
        off, n = self.off[row], self.plen[row]
        if off < 0 or n <= 0:
            return b""
        start = self.start[row]
        return bytes(self.buf[start + off:start + min(off + n, self.caplen[row])])

    def syn_options(self, i: int) -> SynOptions | None:
        """The options of segment ``i``, a SYN or SYN+ACK, read straight from the buffer."""
        row = self.at[i]
        hlen, l4 = self.hlen[row], self.l4[row]
        if hlen <= 20 or l4 < 0:
            return SynOptions() if hlen >= 20 else None
        start = self.start[row]
        return syn_options(self.buf, start + l4 + 20, start + min(l4 + hlen, self.caplen[row]))


def _feed_udp(udp: UdpTracker, cols: Any, rows: np.ndarray, inverse: np.ndarray,
              swap: np.ndarray, ids: list[Any], file_index: int) -> None:
    number = cols["number"][rows].tolist()
    ts = cols["ts_ns"][rows].tolist()
    plen = cols["payload_len"][rows].tolist()
    wire = cols["wirelen"][rows].tolist()
    inv = inverse.tolist()
    sw = swap.tolist()
    datagram = udp.datagram
    for i in range(len(number)):
        ent = ids[inv[i]]
        datagram(ent[0], sw[i], ent[1], number[i], ts[i], plen[i], wire[i], file_index)
