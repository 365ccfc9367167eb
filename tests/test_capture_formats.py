"""capture/: byte orders, timestamp units and resolutions, sections, gzip, stdin."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from capture_writers import (
    PcapngWriter,
    pcap_convert,
    pcap_file,
    pcap_records,
    pcapng_swap,
)
from conftest import CORPUS, corpus_captures, tshark_fields

from handshaker import procs
from handshaker.capture import Frame, open_capture
from handshaker.capture.model import CaptureInfo
from handshaker.capture.pcapng import ticks_to_ns, tsresol_to_ns
from handshaker.errors import CaptureError

PCAPS = [p for p in corpus_captures() if p.name.endswith(".pcap")]
PCAPNGS = [p for p in corpus_captures() if p.name.endswith(".pcapng")]


def read(path: Path | str, **kw: int) -> tuple[list[Frame], CaptureInfo, list]:
    with open_capture(path, **kw) as cap:
        frames = list(cap.frames())
        return frames, cap.info, list(cap.diagnostics)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------- byte order, units


@pytest.mark.parametrize("path", PCAPS, ids=[p.name for p in PCAPS])
def test_pcap_big_endian_and_nanosecond_variants(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    frames, info, _ = read(path)
    order = ">" if data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d") else "<"
    other = ">" if order == "<" else "<"
    swapped = pcap_convert(data, order=other)
    assert swapped != data
    f2, info2, d2 = read(write(tmp_path, "swapped.pcap", swapped))
    assert d2 == []
    assert f2 == frames
    assert info2.interfaces == info.interfaces
    _, nano, _, recs = pcap_records(data)
    if not nano:
        f3, info3, _ = read(write(tmp_path, "nano.pcap", pcap_convert(data, nano=True)))
        assert f3 == frames
        assert info3.interfaces[0].tsresol_ns == (1, 1)
    elif all(r[1][1] % 1000 == 0 for r in recs):
        f3, info3, _ = read(write(tmp_path, "micro.pcap", pcap_convert(data, nano=False)))
        assert f3 == frames
        assert info3.interfaces[0].tsresol_ns == (1000, 1)


@pytest.mark.parametrize("path", PCAPNGS, ids=[p.name for p in PCAPNGS])
def test_pcapng_other_byte_order(path: Path, tmp_path: Path) -> None:
    frames, info, _ = read(path)
    f2, info2, d2 = read(write(tmp_path, "swapped.pcapng", pcapng_swap(path.read_bytes())))
    assert d2 == []
    assert f2 == frames
    assert (info2.interfaces, info2.secrets, info2.comments, info2.names) == (
        info.interfaces, info.secrets, info.comments, info.names
    )


@pytest.mark.tshark
def test_swapped_pcapng_reads_the_same_in_tshark(tmp_path: Path) -> None:
    """The converter itself is checked against tshark, so the test above means something."""
    src = CORPUS / "ja4/chrome-cloudflare-quic-with-secrets.pcapng"
    dst = write(tmp_path, "be.pcapng", pcapng_swap(src.read_bytes()))
    fields = ["frame.time_epoch", "frame.cap_len", "frame.len", "frame.protocols"]
    assert tshark_fields(dst, fields) == tshark_fields(src, fields)


def test_pcap_timestamps_are_exact_integers(tmp_path: Path) -> None:
    recs = [
        (0, 0, b"\x00" * 14, 14),
        (1_700_000_000, 999_999_999, b"\x01" * 20, 60),
        (0xFFFFFFFF, 123_456_789, b"\x02" * 3, 3),  # 2106: beyond int32, within int64 ns
    ]
    for order in "<>":
        path = write(tmp_path, "n.pcap", pcap_file(recs, order=order, nano=True))
        frames, _, diags = read(path)
        assert diags == []
        assert [f.ts_ns for f in frames] == [0, 1_700_000_000_999_999_999, 4294967295_123456789]
        assert [f.ts_ns for f in frames] == [s * 10**9 + ns for s, ns, _, _ in recs]
        assert [(f.caplen, f.wirelen, f.truncated) for f in frames] == [
            (14, 14, False), (20, 60, True), (3, 3, False)
        ]
        micro = [(s, us // 1000, d, w) for s, us, d, w in recs]
        frames, _, _ = read(write(tmp_path, "u.pcap", pcap_file(micro, order=order)))
        assert [f.ts_ns for f in frames] == [s * 10**9 + us * 1000 for s, us, _, _ in micro]


def test_pcap_linktype_high_bits_are_masked(tmp_path: Path) -> None:
    # FCS flag (bit 28) and a 4-byte FCS length (2 words in bits 29-31) above LINKTYPE_ETHERNET.
    field = 1 | (1 << 28) | (2 << 29)
    path = write(tmp_path, "fcs.pcap", pcap_file([(1, 2, b"x" * 64, 64)], linktype=field))
    frames, info, _ = read(path)
    assert info.interfaces[0].linktype == 1
    assert info.interfaces[0].fcs_len == 4
    assert frames[0].linktype == 1


def test_pcap_header_only_is_valid(tmp_path: Path) -> None:
    frames, info, diags = read(write(tmp_path, "h.pcap", pcap_file([], linktype=101)))
    assert (frames, diags) == ([], [])
    assert info.format == "pcap" and info.interfaces[0].linktype == 101


# --------------------------------------------------------------------------- pcapng sections


NUMBERS = [1, 2, 4, 5, 6, 7]


def _ns(ticks: int, tps: int, offset_s: int = 0) -> int:
    return int(Fraction(ticks, tps) * 10**9 // 1) + offset_s * 10**9


def _two_sections() -> tuple[bytes, list[tuple[int, int, int, int, bytes, int]]]:
    """A two-section pcapng and the frames it must give.

    Each: (ts_ns, global iface, linktype, wirelen, data, iface within its section).
    """
    eth = bytes.fromhex(
        "ffffffffffff001122334455080045000020000100004011f8d9"
        "c0a80001c0a8000204d2162e000c0000"
    )
    ip = eth[14:]
    want = []
    a = PcapngWriter("<")
    a.shb(("section one",))
    a.idb(1, 65535, tsresol=9, name="eth-ns", comment="nanoseconds")  # global 0
    a.nrb([(bytes([192, 168, 0, 1]), ["alpha.example", "alias"]), (bytes(15) + b"\1", ["lo6"])])
    a.idb(101, 0, tsresol=0x94, tsoffset=100, name="raw-2^-20")  # global 1: 2^-20 s ticks
    t0 = 1_700_000_000_123_456_789
    a.epb(0, t0, eth, comment="first")
    want.append((_ns(t0, 10**9), 0, 1, len(eth), eth, 0))
    t1 = (1_600_000_000 << 20) + 12_345
    a.epb(1, t1, ip, wirelen=1500)
    want.append((_ns(t1, 1 << 20, 100), 1, 101, 1500, ip, 1))
    a.dsb(b"CLIENT_RANDOM 00 11\n")
    a.isb(0, t0)
    a.block(0x0BAD, b"\0\0\x7f\xfe" + b"custom data")  # custom block: skipped, but it is
    # frame 3 for tshark 4.0, so the numbers go on from 4.
    t2 = 1_700_000_001_000_000_000
    a.pb(0, t2, eth)
    want.append((_ns(t2, 10**9), 0, 1, len(eth), eth, 0))
    b = PcapngWriter(">")
    b.shb(("section two",))
    b.idb(113, 40, tsoffset=-5, comment="usec, offset -5 s")  # global 2, default 10^-6
    b.idb(1, 0, tsresol=12)  # global 3: picoseconds
    t3 = 1_500_000_000_000_001
    sll = bytes(16) + ip
    b.epb(0, t3, sll[:40], wirelen=len(sll))
    want.append((_ns(t3, 10**6, -5), 2, 113, len(sll), sll[:40], 0))
    t4 = 18_000_000_000_123_456_789  # above 2**63: ticks are unsigned
    b.epb(1, t4, eth)
    want.append((_ns(t4, 10**12), 3, 1, len(eth), eth, 1))
    b.spb(sll[:40], wirelen=len(sll))  # SPB: interface 0, no timestamp, snaplen 40
    want.append((0, 2, 113, len(sll), sll[:40], 0))
    b.dsb(b"second secrets", secrets_type=0x57474B4C)  # WireGuard key log
    return bytes(a) + bytes(b), want


def test_two_sections_read_back_exactly(tmp_path: Path) -> None:
    data, want = _two_sections()
    path = write(tmp_path, "two.pcapng", data)
    frames, info, diags = read(path)
    assert diags == []
    got = [(f.ts_ns, f.interface, f.linktype, f.wirelen, f.data) for f in frames]
    assert got == [w[:5] for w in want]
    assert [f.number for f in frames] == NUMBERS
    assert [(i.linktype, i.section, i.tsoffset_s) for i in info.interfaces] == [
        (1, 0, 0), (101, 0, 100), (113, 1, -5), (1, 1, 0)
    ]
    assert info.interfaces[0].name == "eth-ns"
    assert info.interfaces[1].tsresol_ns == (1953125, 2048)  # 10^9 / 2^20
    assert info.interfaces[3].tsresol_ns == (1, 1000)
    assert info.comments == ["section one", "nanoseconds", "section two", "usec, offset -5 s"]
    assert info.names == {bytes([192, 168, 0, 1]): "alpha.example", bytes(15) + b"\1": "lo6"}
    assert [(s.secrets_type, s.data, s.frame_after) for s in info.secrets] == [
        (0x544C534B, b"CLIENT_RANDOM 00 11\n", 2),
        (0x57474B4C, b"second secrets", 7),
    ]
    # Same again with the byte orders of both sections swapped.
    f2, info2, d2 = read(write(tmp_path, "two-swapped.pcapng", pcapng_swap(data)))
    assert (f2, info2.interfaces, info2.secrets, d2) == (frames, info.interfaces, info.secrets, [])


@pytest.mark.tshark
def test_two_sections_match_tshark(tmp_path: Path) -> None:
    data, want = _two_sections()
    path = write(tmp_path, "two.pcapng", data)
    fields = ["frame.number", "frame.time_epoch", "frame.cap_len", "frame.len",
              "frame.interface_id"]
    rows = tshark_fields(path, fields)
    assert [int(r[0]) for r in rows] == list(range(1, 8))
    rows = [r[1:] for r in rows if int(r[0]) in NUMBERS]  # frame 3 is the custom block
    for (t_epoch, t_cap, t_len, t_if), (ts, _gif, _lt, wirelen, payload, local) in zip(
        rows, want, strict=True
    ):
        assert (epoch_ns(t_epoch) if t_epoch else 0) == ts
        assert (int(t_cap), int(t_len)) == (len(payload), wirelen)
        # tshark 4.0 prints the interface number within its section (we keep a global index).
        assert int(t_if) == local


def epoch_ns(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 10**9 + int((frac + "0" * 9)[:9])


def test_tsresol_forms() -> None:
    assert tsresol_to_ns(6) == (1000, 1)
    assert tsresol_to_ns(9) == (1, 1)
    assert tsresol_to_ns(0) == (10**9, 1)
    assert tsresol_to_ns(0x80 | 10) == (1953125, 2)  # 2^-10 s
    for code in (0, 3, 6, 9, 12, 15, 0x80, 0x8A, 0x94, 0x9E, 0xA0, 0xB0, 0xBF):
        tps = (1 << (code & 0x7F)) if code & 0x80 else 10 ** code
        num, den = tsresol_to_ns(code)
        assert Fraction(num, den) == Fraction(10**9, tps)
        secs = 1_700_000_000
        ticks = [0, 1, tps - 1, secs * tps + tps // 3, (secs + 1) * tps - 1]
        ticks = [t for t in ticks if t < 1 << 64]
        got = ticks_to_ns(np.array(ticks, dtype=np.uint64), num, den).tolist()
        assert got == [t * 10**9 // tps for t in ticks]


# --------------------------------------------------------------------------- gzip, stdin


@pytest.mark.parametrize("name", ["zeek/tls/dhe.pcap", "lekensteyn/tls/imap-ssl.pcapng"])
def test_gzip_is_transparent(name: str, tmp_path: Path) -> None:
    src = CORPUS / name
    frames, info, _ = read(src)
    gz = write(tmp_path, "capture.bin", gzip.compress(src.read_bytes()))  # the name says nothing
    f2, info2, d2 = read(gz)
    assert (f2, d2, info2.compressed, info2.format) == (frames, [], True, info.format)
    # Several gzip members, concatenated (RFC 1952 §2.2), and tiny chunks.
    raw = src.read_bytes()
    members = b"".join(gzip.compress(raw[i : i + 1000]) for i in range(0, len(raw), 1000))
    f3, _, d3 = read(write(tmp_path, "members.gz", members), chunk_size=256)
    assert (f3, d3) == (frames, [])


def test_gzip_cut_short_keeps_the_frames_before(tmp_path: Path) -> None:
    src = CORPUS / "zeek/tls/tls-1.2-stream-keylog.pcap"
    frames, _, _ = read(src)
    packed = gzip.compress(src.read_bytes())
    for cut in (len(packed) // 3, len(packed) - 9, len(packed) - 1):
        f2, _, diags = read(write(tmp_path, "cut.pcap.gz", packed[:cut]))
        assert f2 == frames[: len(f2)]
        assert len(f2) > 0
        assert diags and diags[-1].severity == "error"
        assert "gzip" in " ".join(d.message for d in diags)


def test_gzip_trailing_garbage_is_a_warning(tmp_path: Path) -> None:
    src = CORPUS / "zeek/tcp/syn-then-rst.pcap"
    frames, _, _ = read(src)
    f2, _, diags = read(write(tmp_path, "t.gz", gzip.compress(src.read_bytes()) + b"junk"))
    assert f2 == frames
    assert [d.severity for d in diags] == ["warning"]
    f3, _, d3 = read(write(tmp_path, "z.gz", gzip.compress(src.read_bytes()) + bytes(100)))
    assert (f3, d3) == (frames, [])


def _gzip_cases(tmp_path: Path) -> list[Path]:
    """gzip files whole, in members, cut short, corrupt and with bytes after the end."""
    big = CORPUS / "zeek/tls/tls-1.2-stream-keylog.pcap"
    raw = big.read_bytes()
    packed = gzip.compress(raw)
    bad = bytearray(packed)
    bad[len(bad) // 2] ^= 0xFF
    cases = {
        "whole.gz": packed,
        "members.gz": b"".join(gzip.compress(raw[i:i + 5000]) for i in range(0, len(raw), 5000)),
        "cut.gz": packed[:len(packed) // 3],
        "corrupt.gz": bytes(bad),
        "junk.gz": packed + b"junk",
        "zeros.gz": packed + bytes(100),
        "empty.gz": gzip.compress(b""),
        "text.gz": gzip.compress(b"hello, this is not a capture"),
    }
    return [write(tmp_path, name, data) for name, data in cases.items()]


def _read_or_error(path: Path, **kw: Any) -> Any:
    try:
        with open_capture(path, **kw) as cap:
            return list(cap.frames()), list(cap.diagnostics), cap.info.compressed
    except CaptureError as err:
        return str(err)


def test_gzip_inflated_aside_reads_the_same(tmp_path: Path) -> None:
    """A gzip file inflated by a child process (analyze -j 2 and more) gives the same
    frames and the same diagnostics, or the same error, as one inflated in-process;
    with small chunks too, so that the reader waits on the ring."""
    from handshaker.capture import source

    started = []
    real = source.GzipProcess.start.__func__  # type: ignore[attr-defined]

    def start(cls: type, raw: Any, initial: bytes) -> Any:
        g = real(cls, raw, initial)
        started.append(g)
        return g

    for path in _gzip_cases(tmp_path):
        expected = _read_or_error(path)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(procs, "fork_safe", lambda: True)  # (other tests' threads may linger)
            mp.setattr(source.GzipProcess, "start", classmethod(start))
            mp.setattr(source, "RING_SLOT", 4096)  # many slots' worth: the ring goes round
            assert _read_or_error(path, inflate_aside=True) == expected, path.name
            assert _read_or_error(path, inflate_aside=True, chunk_size=1024) == expected
    assert started and all(g is not None for g in started)
    for g in started:  # every child was waited for
        assert g._pid == 0


def test_gzip_inflated_aside_stops_with_the_reader(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that stops early ends the child: it is waited for, not left behind."""
    monkeypatch.setattr(procs, "fork_safe", lambda: True)  # (other tests' threads)
    path = _gzip_cases(tmp_path)[0]
    with open_capture(path, inflate_aside=True, chunk_size=4096) as cap:
        gz = cap._gzip
        pid = gz._pid  # type: ignore[union-attr]
        next(iter(cap.batches()))
    assert pid and gz._pid == 0  # type: ignore[union-attr]
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_gzip_is_inflated_in_process_while_threads_run(tmp_path: Path) -> None:
    """Forking beside other threads is not safe: then the file is inflated here."""
    import threading

    from handshaker.capture.source import GzipStream

    path = _gzip_cases(tmp_path)[0]
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not procs.fork_safe()
        with open_capture(path, inflate_aside=True) as cap:
            assert isinstance(cap._gzip, GzipStream)
    finally:
        stop.set()
        t.join()


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BufferedReader(io.BytesIO(data))


@pytest.mark.parametrize("arg", ["-", None])
@pytest.mark.parametrize("compress", [False, True])
def test_stdin(arg: str | None, compress: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    src = CORPUS / "lekensteyn/tls/smtp-ssl.pcapng"
    frames, _, _ = read(src)
    data = src.read_bytes()
    monkeypatch.setattr(sys, "stdin", _Stdin(gzip.compress(data) if compress else data))
    with open_capture(arg) as cap:
        assert cap.path == "<stdin>"
        assert cap.info.compressed is compress
        assert list(cap.frames()) == frames
        assert cap.diagnostics == []


def test_stdin_pipe_in_a_real_process() -> None:
    src = CORPUS / "zeek/tls/tls-fragmented-handshake.pcap.gz"
    code = (
        "from handshaker.capture import open_capture\n"
        "c = open_capture('-')\n"
        "print(sum(len(b) for b in c.batches()), c.info.compressed, c.path, len(c.diagnostics))\n"
    )
    with src.open("rb") as f:
        out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True, text=True,
                             check=True)
    assert out.stdout.split() == ["416", "True", "<stdin>", "0"]
    assert out.stderr == ""


# --------------------------------------------------------------------------- memory, misc


def test_memory_is_bounded_by_the_chunk(tmp_path: Path) -> None:
    chunk = 1 << 20
    one = pcap_file([(1_700_000_000 + i, 0, bytes([i % 251]) * (200 + i * 37 % 1300), 1514)
                     for i in range(2000)])
    body = one[24:]
    path = tmp_path / "big.pcap"
    with path.open("wb") as f:
        f.write(one[:24])
        for _ in range(12):
            f.write(body)
    size = path.stat().st_size
    assert size > 16 * chunk
    tracemalloc.start()
    try:
        n = 0
        with open_capture(path, chunk_size=chunk) as cap:
            for batch in cap.batches(size=4096):
                n += len(batch)
            assert cap.diagnostics == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 24000
    assert peak < 6 * chunk, f"peak {peak} bytes for a {size}-byte file"


def test_read_once_and_close(tmp_path: Path) -> None:
    cap = open_capture(CORPUS / "zeek/tcp/syn-then-rst.pcap")
    assert len(list(cap.frames())) == 2
    with pytest.raises(Exception) as err:
        cap.batches()
    assert "already read" in str(err.value)
    cap.close()
    cap.close()
    with open_capture(CORPUS / "ja4/http2-with-cookies.pcapng") as cap:
        it = cap.frames()
        next(it)
    assert list(it) == []  # closed: nothing more, no exception
