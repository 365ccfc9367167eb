"""A capture split into parts, analysed apart and stitched, equals one pass (issue 7).

The oracle is the one-pass analysis (itself checked against tshark elsewhere):
the stitched result must give the same JSON for every connection, in the same
order with the same stream numbers, and the same counts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, corpus_captures, require

from handshaker.analysis import AS_IS, Renderer, analyze
from handshaker.capture import open_capture
from handshaker.render.json_out import connection_dict
from handshaker.split import END, analyze_part, analyze_split, splittable, stitch

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"


def one_pass(path: Path) -> tuple[list[dict], object]:
    conns: list = []
    a = analyze(path, on_connection=conns.append)
    return [connection_dict(c) for c in conns], a


def stitched(path: Path, bounds: list[int], *, pool: bool = False,
             next_last: bool = False) -> tuple[list[dict], object]:
    """``next_last``: the worker before the last part ends the connections still open
    there, as in analyze_split (without, they are handed to this process, which ends
    them: the path of a connection that crosses two cuts or more)."""
    ranges = list(zip([0, *bounds], [*bounds, END], strict=True))
    conns: list = []
    if pool:
        a = analyze_split(str(path), jobs=2, on_connection=conns.append, ranges=ranges)
    else:  # the same parts and stitching, in this process (fast enough to try every cut)
        with tempfile.TemporaryDirectory() as spools:
            parts = [analyze_part(str(path), lo, hi, i, True, 0, f"{spools}/{i}", AS_IS,
                                  ranges[i + 1] if i + 1 < len(ranges) else None,
                                  next_last and i + 2 == len(ranges))
                     for i, (lo, hi) in enumerate(ranges)]
            a = stitch(str(path), parts, ranges, True, 0, conns.append)
    return [connection_dict(c) for c in conns], a


def record_offsets(path: Path) -> list[int]:
    with open_capture(path) as cap:
        return [int(o) for b in cap.batches() for o in b.file_offset]


def assert_same(one: tuple[list[dict], object], two: tuple[list[dict], object]) -> None:
    (conns1, a1), (conns2, a2) = one, two
    assert len(conns2) == len(conns1)
    for c1, c2 in zip(conns1, conns2, strict=True):
        assert c2 == c1
    for attr in ("frames", "captured_bytes", "first_ts_ns", "last_ts_ns", "tcp_streams",
                 "udp_streams", "anomalies_seen"):
        assert getattr(a2, attr) == getattr(a1, attr), attr
    assert a2.counts == a1.counts
    assert [d.message for d in a2.diagnostics] == [d.message for d in a1.diagnostics]


SPLITTABLE = [p for p in corpus_captures() if not p.name.endswith(".gz")]


@pytest.mark.parametrize("path", SPLITTABLE, ids=[p.name for p in SPLITTABLE])
def test_corpus_in_three_parts_equals_one_pass(path: Path) -> None:
    offsets = record_offsets(path)
    if len(offsets) < 3:
        bounds = [1, 2]  # empty parts are fine too
    else:
        bounds = [offsets[len(offsets) // 3], offsets[2 * len(offsets) // 3]]
    assert_same(one_pass(path), stitched(path, bounds))


@pytest.mark.parametrize("name", ["tour-tls12-ecdhe.pcap", "tour-tcp.pcap", "tour-reset.pcap"])
def test_every_cut_of_a_connection_equals_one_pass(name: str) -> None:
    """Cut between every two frames: the handshake, the TLS flight, the close."""
    path = DATA / name
    reference = one_pass(path)
    offsets = record_offsets(path)
    for cut in offsets[1:]:
        assert_same(reference, stitched(path, [cut]))


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_the_follow_reads_on_from_where_the_part_ends_whatever_the_batches(
        batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part's worker follows its open connections on through the next part from
    where its own reading stopped (analysis.Reading): the batch that crosses the cut,
    cut in two, or the whole batch after it, is handed on, at every cut."""
    import handshaker.analysis as analysis

    monkeypatch.setattr(analysis, "BATCH_SIZE", batch)
    path = DATA / "tour-tls12-ecdhe.pcap"
    reference = one_pass(path)
    for cut in record_offsets(path)[1:]:
        assert_same(reference, stitched(path, [cut]))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("piece", [40, 200, 1 << 18, None])
def test_a_part_passes_over_the_frames_before_it_as_one_pass_reads_them(
        order: str, piece: int | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part's worker passes over the records before its part unread (Capture.skip_to),
    in chunks smaller than the file, or (compiled) in pieces of any size, a record longer
    than one among them: the frame numbers, a clock that goes back right at the cut, and
    a file cut short are as one pass finds them, at every cut."""
    from capture_writers import pcap_file
    from tcp_synth import ACK, SYN, frame

    import handshaker.analysis
    import handshaker.split
    from handshaker.capture import pcap

    small = functools.partial(open_capture, chunk_size=256)  # records across many chunks
    monkeypatch.setattr(handshaker.analysis, "open_capture", small)
    monkeypatch.setattr(handshaker.split, "open_capture", small)
    if piece is None:
        monkeypatch.setattr(pcap, "_walk", None)  # (the Python walk, in chunks)
    else:
        require(pcap._walk is not None, "the compiled record walk was not built")
        monkeypatch.setattr(pcap, "SKIP_PIECE", piece)
    s = (bytes([10, 0, 0, 1]), 80)
    times = [10, 11, 12, 9, 13, 14, 8, 15, 16, 17]  # back twice
    pkts = []
    for i in range(len(times)):  # a connection of two frames (SYN, SYN+ACK) after another
        c = (bytes([10, 0, 0, 2]), 40000 + i // 2)
        pkts.append(frame(c, s, 1000, 0, SYN) if i % 2 == 0 else frame(s, c, 5000, 1001, SYN | ACK))
    data = pcap_file([(1_700_000_000 + t, 0, p, len(p)) for t, p in zip(times, pkts, strict=True)],
                     order=order)
    path = tmp_path / "back.pcap"
    for whole in (data, data[:-7]):  # (the last record cut short: a diagnostic)
        path.write_bytes(whole)
        reference = one_pass(path)
        assert any("back in time" in d.message for d in reference[1].diagnostics)
        assert len(reference[0]) == 5
        for cut in record_offsets(path)[1:]:
            assert_same(reference, stitched(path, [cut]))


def test_every_frame_its_own_part() -> None:
    path = DATA / "tour-tls12-rsa.pcap"
    assert_same(one_pass(path), stitched(path, record_offsets(path)[1:]))


def test_worker_processes_equal_one_pass() -> None:
    """Real worker processes (the pickled streams cross a process boundary)."""
    path = max(SPLITTABLE, key=lambda p: p.stat().st_size)
    offsets = record_offsets(path)
    bounds = [offsets[len(offsets) * k // 4] for k in (1, 2, 3)]
    assert_same(one_pass(path), stitched(path, bounds, pool=True))


@pytest.mark.parametrize("parts", [2, 5, 12])
def test_many_connections_in_many_parts_equal_one_pass(
        parts: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 connections that overlap (TLS, bulk data, retransmissions, disorder), in up
    to 12 parts: many cross a cut, some several. The merge hands on each part's
    connections as soon as no later one can go before them, while the later parts
    are still at work; the order and the numbers are those of one pass. (Connections
    over are retired after a second here, not after 10 s, and UDP conversations after
    2 s of silence, not a minute, so that most end inside their part in a capture of
    27 s.)"""
    import handshaker.analysis as analysis
    import handshaker.flow.tcp as tcp
    import handshaker.flow.udp as udp

    monkeypatch.setattr(tcp, "FINISHED_IDLE_NS", 1_000_000_000)
    monkeypatch.setattr(udp, "UDP_IDLE_NS", 2_000_000_000)
    monkeypatch.setattr(analysis, "EVICT_EVERY_NS", 200_000_000)
    path = tmp_path / "flows.pcap"
    subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"),
                    "-o", str(path), "-n", "300", "--retx", "0.05", "--ooo", "0.05",
                    "--seed", "11", "--duration", "4"], check=True, capture_output=True)
    offsets = record_offsets(path)
    bounds = [offsets[len(offsets) * k // parts] for k in range(1, parts)]
    reference = one_pass(path)
    assert len(reference[0]) >= 300
    assert_same(reference, stitched(path, bounds))
    if parts == 5:
        assert_same(reference, stitched(path, bounds, pool=True))


def _udp_frame(src: tuple[bytes, int], dst: tuple[bytes, int], payload: bytes) -> bytes:
    from handshaker.flow.synth import checksum

    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                     src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + udp


@pytest.mark.parametrize("cuts_at", [[3.0], [3.0, 6.0]], ids=["2 parts", "3 parts"])
def test_the_merge_hands_on_no_connection_before_its_turn(
        cuts_at: list[float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge hands a part's connections on before the later parts are in, up to
    the next part's first frame and the first frame of a connection still followed:
    a connection reusing the 4-tuple of one open at the cut, which begins in the next
    part (after another that does), and a UDP conversation open across two cuts,
    which began first, keep their places."""
    from capture_writers import pcap_file
    from tcp_synth import ACK, FIN, SYN, frame

    import handshaker.analysis as analysis
    import handshaker.flow.tcp as tcp
    import handshaker.flow.udp as udp

    monkeypatch.setattr(tcp, "FINISHED_IDLE_NS", 1_000_000_000)  # (over inside a part)
    monkeypatch.setattr(udp, "UDP_IDLE_NS", 2_000_000_000)
    monkeypatch.setattr(analysis, "EVICT_EVERY_NS", 200_000_000)
    s = (bytes([10, 0, 0, 1]), 443)
    pkts: list[tuple[float, bytes]] = []

    def conn(port: int, t: float, isn: int = 1000) -> None:
        c = (bytes([10, 0, 0, 2]), port)
        pkts.extend([(t, frame(c, s, isn, 0, SYN)), (t + .01, frame(s, c, 9, isn + 1, SYN | ACK)),
                     (t + .02, frame(c, s, isn + 1, 10, ACK)),
                     (t + .03, frame(c, s, isn + 1, 10, FIN | ACK)),
                     (t + .04, frame(s, c, 10, isn + 2, FIN | ACK)),
                     (t + .05, frame(c, s, isn + 2, 11, ACK))])

    dns = ((bytes([10, 0, 0, 2]), 5353), (bytes([10, 0, 0, 53]), 53))
    pkts += [(t, _udp_frame(*dns, b"q")) for t in (0.0, 1.5, 3.05, 4.5, 6.05, 7.5)]
    for i, t in enumerate((0.1, 0.5, 1.0, 1.6, 2.2)):
        conn(41000 + i, t)
    conn(42000, 2.95)  # open at the cut at 3.0 ...
    conn(43000, 3.5)
    conn(42000, 4.0, isn=777_000)  # ... its 4-tuple again, after another began
    for i, t in enumerate((4.6, 5.2, 5.9, 6.3, 7.0)):
        conn(44000 + i, t)
    pkts.sort(key=lambda p: p[0])
    path = tmp_path / "turns.pcap"
    path.write_bytes(pcap_file([(1_700_000_000 + int(t), round(t % 1 * 1e6), p, len(p))
                                for t, p in pkts]))
    offsets = record_offsets(path)
    bounds = [offsets[next(i for i, (t, _) in enumerate(pkts) if t >= cut)] for cut in cuts_at]
    reference = one_pass(path)
    assert len(reference[0]) == 14
    for next_last in (False, True):
        assert_same(reference, stitched(path, bounds, next_last=next_last))


def test_only_regular_uncompressed_files_are_split(tmp_path: Path) -> None:
    gz = next(p for p in corpus_captures() if p.name.endswith(".gz"))
    assert not splittable(str(gz))
    assert splittable(str(DATA / "tour-tcp.pcap"))
    assert not splittable("-")


def test_analyze_jobs_uses_the_split_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    import handshaker.split

    monkeypatch.setattr(handshaker.split, "MIN_PART_BYTES", 1)  # split even a small file
    calls: list[int] = []
    real = handshaker.split.analyze_split
    monkeypatch.setattr(handshaker.split, "analyze_split",
                        lambda *a, **k: calls.append(k["jobs"]) or real(*a, **k))
    path = DATA / "tour-tls13.pcap"
    conns: list = []
    analyze(path, on_connection=conns.append, jobs=2)
    assert calls == [2]
    assert [connection_dict(c) for c in conns] == one_pass(path)[0]


def test_with_another_thread_running_the_workers_are_spawned() -> None:
    """A progress bar's thread is running: forking then is unsafe, fresh interpreters are
    started instead; same result."""
    import handshaker.split as split

    before = split._context().get_start_method()  # earlier tests may leave threads behind
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert split._context().get_start_method() == "spawn"
        path = DATA / "tour-tls13.pcap"
        offsets = record_offsets(path)
        assert_same(one_pass(path), stitched(path, [offsets[len(offsets) // 2]], pool=True))
    finally:
        stop.set()
        t.join()
    assert split._context().get_start_method() == before


@contextlib.contextmanager
def split_run_at_work(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str], Path]]:
    """A `-j 2` run of a 128 MB capture (a few seconds), once its workers write their
    parts: (the run, its child processes, its TMPDIR). Anything left is killed after."""
    from capture_writers import pcap_records

    data = (DATA / "tour-tls12-ecdhe.pcap").read_bytes()
    recs = [data[off:off + 16 + h[2]] for off, h in pcap_records(data)[3]]
    body = b"".join(recs)
    big = tmp_path / "big.pcap"
    big.write_bytes(data[:24] + body * ((128 << 20) // len(body) + 1))
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "handshaker", "analyze", str(big), "--format",
                          "json", "-j", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, "TMPDIR": str(spool_dir)})
    children: list[str] = []

    def working() -> list[str]:
        if not any(spool_dir.glob("handshaker-split-*/part-*")):
            return []
        return Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()

    try:
        deadline = time.monotonic() + 30
        while not (children := working()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert children
        yield p, children, spool_dir
    finally:
        for pid in (p.pid, *map(int, children)):  # (if the test failed before its end)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        p.communicate()


def gone(children: list[str], within: float) -> bool:
    deadline = time.monotonic() + within
    while any(Path(f"/proc/{c}").exists() for c in children):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_sigterm_stops_the_workers_and_removes_the_spools(tmp_path: Path) -> None:
    """A split run told to stop (SIGTERM, as a service manager does): status 130 at
    once, no worker left, no temporary file left."""
    with split_run_at_work(tmp_path) as (p, children, spool_dir):
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
        assert p.returncode == 130, err
        assert b"Traceback" not in err, err
        assert not list(spool_dir.rglob("*")), list(spool_dir.rglob("*"))
        # (terminated, then reaped: under load that takes a moment)
        assert gone(children, 2), [Path(f"/proc/{c}/stat").read_text()
                                   for c in children if Path(f"/proc/{c}").exists()]


def test_workers_end_with_a_killed_parent(tmp_path: Path) -> None:
    """A parent killed outright (SIGKILL, the OOM killer) cannot stop its workers; they
    used to wait for work forever. They now end with it."""
    with split_run_at_work(tmp_path) as (p, children, _):
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=20)
        assert gone(children, 5)


@pytest.mark.parametrize("batch", [1, 2, 3, 65536])
def test_port_reuse_gives_the_same_streams_whatever_the_batches(
        batch: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two connections on one 4-tuple (the second SYN with a new ISN): two streams, as
    tshark numbers them, however the frames fall into batches. (The 4-tuple's id was
    once dropped with the first stream, which cut the second at the next batch.)"""
    from capture_writers import pcap_file
    from conftest import tshark_fields
    from tcp_synth import ACK, FIN, SYN, frame

    import handshaker.analysis as analysis

    c, s = (bytes([10, 0, 0, 2]), 40000), (bytes([10, 0, 0, 1]), 80)
    pkts = []
    for isn_c, isn_s in ((1000, 5000), (900_000, 7_000_000)):
        pkts += [frame(c, s, isn_c, 0, SYN), frame(s, c, isn_s, isn_c + 1, SYN | ACK),
                 frame(c, s, isn_c + 1, isn_s + 1, ACK),
                 frame(c, s, isn_c + 1, isn_s + 1, ACK, b"GET / HTTP/1.0\r\n\r\n"),
                 frame(s, c, isn_s + 1, isn_c + 19, ACK | FIN, b"HTTP/1.0 200 OK\r\n\r\n"),
                 frame(c, s, isn_c + 19, isn_s + 21, ACK | FIN),
                 frame(s, c, isn_s + 21, isn_c + 20, ACK)]
    path = tmp_path / "reuse.pcap"
    path.write_bytes(pcap_file([(1_700_000_000 + i, 0, p, len(p)) for i, p in enumerate(pkts)]))
    monkeypatch.setattr(analysis, "BATCH_SIZE", batch)
    conns: list = []
    analysis.analyze(path, on_connection=conns.append, jobs=1)
    assert [(c.stream, c.first_frame, c.last_frame) for c in conns] == [(0, 1, 7), (1, 8, 14)]
    streams = {int(r[0]) for r in tshark_fields(path, ["tcp.stream"])}
    assert streams == {0, 1}


def test_a_sigterm_while_workers_are_made_waits_for_the_way_out() -> None:
    """A SIGTERM that comes while the pool forks would raise inside the fork's own
    handlers, where Python only prints it (the run then went on, and once ended with
    status 0): it is held until the workers are made, then stops the run."""
    from handshaker.split import _sigterm_held, _sigterm_raises

    reached = []
    with pytest.raises(KeyboardInterrupt), _sigterm_raises():
        with _sigterm_held():
            # to this thread: a process's signal goes to any thread not blocking it, and
            # the test runner may have others (a split run forks only when it has none)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            reached.append("held")  # not interrupted in here
        reached.append("after")  # the signal was delivered on the way out
    assert reached == ["held"]
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@pytest.mark.parametrize("read", [7, 1 << 20])
def test_the_last_part_is_read_as_its_worker_writes_it(
        read: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """analysis.follow_chunks reads a ChunkWriter's file while another process writes it
    (in reads of any size): each chunk once it is whole, not before the file exists,
    until the writer is done; a chunk the writer left half written (it failed) is not
    read."""
    import handshaker.analysis as analysis
    from handshaker.analysis import ChunkWriter, follow_chunks

    monkeypatch.setattr(analysis, "FOLLOW_READ", read)

    path = tmp_path / "spool"
    done = threading.Event()
    steps = threading.Semaphore(0)

    def writer() -> None:
        steps.acquire()  # (the reader is waiting for the file)
        with open(path, "wb") as f:
            w = ChunkWriter(f, size=3)
            for i in range(10):
                w.append(("item", i))
                if i % 3 == 2:
                    steps.acquire()  # a chunk is out: the reader reads it before the next
            w.flush()
        done.set()

    naps = []

    def nap() -> None:
        naps.append(1)
        steps.release()
        time.sleep(0.001)

    t = threading.Thread(target=writer)
    t.start()
    got = list(follow_chunks(str(path), done.is_set, nap))
    t.join()
    assert got == [("item", i) for i in range(10)]
    assert len(naps) >= 4  # (it waited for the file and for each chunk)

    # a writer that failed half way through a chunk: the whole chunks, then the end
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:20])
    assert list(follow_chunks(str(path), lambda: True, lambda: None)) == got
    # a writer that failed before it made the file
    assert list(follow_chunks(str(tmp_path / "none"), lambda: True, lambda: None)) == []


def test_the_connections_open_at_the_end_go_in_order_of_first_frame(tmp_path: Path) -> None:
    """Pipeline.close(on_way) retires the connections still open, TCP and UDP together,
    in order of their first frame, and tells on_way where the next begins (a split
    run's last worker writes out what comes before it meanwhile); what it retires is
    what close() retires."""
    import handshaker.analysis as analysis
    from handshaker.analysis import Pipeline, run

    path = tmp_path / "flows.pcap"
    subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"),
                    "-o", str(path), "-n", "400", "--seed", "5", "--duration", "2"],
                   check=True, capture_output=True)
    retired: list[list[int]] = [[], []]
    floors: list[int] = []
    for k, on_way in enumerate((None, floors.append)):
        def done(c: object, k: int = k) -> None:
            retired[k].append(c.first_frame)  # type: ignore[attr-defined]

        pipe = Pipeline(on_tcp=done, on_udp=done)
        run(str(path), pipe)
        pipe.close(on_way)
    assert sorted(retired[0]) == sorted(retired[1]) and len(retired[1]) > 300
    assert retired[1] == sorted(retired[1])
    assert floors == sorted(floors) and floors[-1] == analysis.END
    for floor in floors[:-1]:  # each floor: the first frame of one still to go
        assert floor in retired[1]


class _Breaking(Renderer):
    """Renders as AS_IS does, but breaks on the connections that begin at ``frame`` and
    after (``after``) or before it: a worker that fails, whether the workers are forked
    or spawned (it goes to them pickled)."""

    def __init__(self, frame: int, after: bool) -> None:
        self.frame = frame
        self.after = after

    def render(self, conn: Any) -> Any:
        if (conn.first_frame >= self.frame) == self.after:
            raise RuntimeError("a worker broke")
        return conn


@pytest.mark.parametrize("spawned", [False, True], ids=["forked", "spawned"])
@pytest.mark.parametrize("last", [False, True], ids=["first", "last"])
def test_a_worker_that_fails_fails_the_run(last: bool, spawned: bool, tmp_path: Path) -> None:
    """A worker's error ends the run with that error, whether its part is merged when it
    is in (the first) or as it is written (the last), the workers forked or spawned
    (another thread running): the parent neither waits for ever nor goes on as if the
    part were empty."""
    stop = threading.Event()
    if spawned:
        threading.Thread(target=stop.wait, daemon=True).start()
    path = tmp_path / "flows.pcap"
    subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"),
                    "-o", str(path), "-n", "100", "--seed", "3", "--duration", "2"],
                   check=True, capture_output=True)
    offsets = record_offsets(path)
    cut = len(offsets) // 2  # (frame cut + 1 is the last part's first)
    ranges = [(0, offsets[cut]), (offsets[cut], END)]
    try:
        with pytest.raises(RuntimeError, match="a worker broke"):
            analyze_split(str(path), jobs=2, on_connection=lambda c: None, ranges=ranges,
                          render=_Breaking(cut + 1, last))
    finally:
        stop.set()
