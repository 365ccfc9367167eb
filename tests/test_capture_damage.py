"""capture/: damaged files never raise during iteration; the reason and the place are kept.

Every damaged file is made here from a good corpus capture. Expectations come
from the record layout of the good file (read by the independent helpers in
capture_writers.py): what lies wholly before the damage is yielded unchanged,
and the diagnostic names the frame number the broken record would have had
and the byte offset where it starts.
"""

from __future__ import annotations

import gzip
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from capture_writers import PcapngWriter, pcap_records, pcapng_blocks
from conftest import CORPUS, tshark_fields

from handshaker.capture import Frame, open_capture
from handshaker.errors import CaptureError, Diagnostic

PCAP = CORPUS / "zeek/tcp/retransmit-fast009.pcap"  # 39 frames, little-endian
PCAPNG = CORPUS / "lekensteyn/tls/tls-null.pcapng"  # 15 EPBs then an ISB
PACKET_TYPES = (2, 3, 6)


@dataclass(frozen=True)
class Rec:
    off: int
    end: int
    packet: bool
    type: int = 0


def pcap_layout(data: bytes) -> list[Rec]:
    return [Rec(off, off + 16 + h[2], True) for off, h in pcap_records(data)[3]]


def pcapng_layout(data: bytes) -> list[Rec]:
    blocks = pcapng_blocks(data)[1:]  # without the SHB
    return [Rec(off, off + blen, t in PACKET_TYPES, t) for off, _, t, blen in blocks]


def read(path: Path) -> tuple[list[Frame], list[Diagnostic]]:
    with open_capture(path) as cap:
        frames = list(cap.frames())
        return frames, list(cap.diagnostics)


def write(tmp_path: Path, data: bytes, name: str = "damaged") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def expect_cut(frames: list[Frame], layout: list[Rec], length: int
               ) -> tuple[list[Frame], tuple[int, int] | None]:
    """Frames left when the file is cut to ``length`` bytes; (frame, offset) of the cut record."""
    done = [r for r in layout if r.end <= length]
    n = sum(r.packet for r in done)
    broken = next((r for r in layout if r.off < length < r.end), None)
    return frames[:n], (n + 1, broken.off) if broken else None


def check_one_error(diags: list[Diagnostic], path: Path, frame: int, offset: int, *words: str
                    ) -> None:
    assert len(diags) == 1, diags
    (d,) = diags
    assert (d.severity, d.file, d.frame, d.offset) == ("error", str(path), frame, offset), d
    for w in words:
        assert w in d.message, d.message
    assert "\n" not in str(d)
    assert str(d).startswith(f"{path}, frame {frame}, byte offset {offset}: ")


# --------------------------------------------------------------------------- open_capture errors


def _open_error(path: Path | str) -> CaptureError:
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    assert "\n" not in str(info.value)
    return info.value


def test_missing_and_directory(tmp_path: Path) -> None:
    err = _open_error(tmp_path / "nope.pcap")
    assert str(tmp_path / "nope.pcap") in str(err) and "No such file" in str(err)
    assert "cannot open" in str(_open_error(tmp_path))


def test_empty_file(tmp_path: Path) -> None:
    err = _open_error(write(tmp_path, b""))
    assert "empty" in str(err) and err.offset == 0
    err = _open_error(write(tmp_path, gzip.compress(b"")))
    assert "empty" in str(err) and "gzip" in str(err)


@pytest.mark.parametrize(
    ("head", "shown"),
    [
        (b"GIF89a\x01\x00", "47 49 46 38"),
        (b"\x28\xb5\x2f\xfd\x00\x00\x00\x00", "zstd"),
        (b"\xa1\xb2\xcd\x34" + bytes(40), "modified"),
        (bytes(64), "00 00 00 00"),
    ],
    ids=["gif", "zstd", "modified-pcap", "zeros"],
)
def test_unknown_magic(tmp_path: Path, head: bytes, shown: str) -> None:
    err = _open_error(write(tmp_path, head))
    assert shown in str(err)
    assert err.offset == 0
    if shown != "modified":
        assert all(w in str(err) for w in ("pcap", "pcapng", "gzip"))
    err = _open_error(write(tmp_path, gzip.compress(head)))
    assert shown in str(err) and "gzip" in str(err)


def test_truncated_pcap_header(tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    for n in range(1, 24):
        err = _open_error(write(tmp_path, data[:n]))
        assert "truncated" in str(err) and err.offset == 0 and err.file == str(tmp_path / "damaged")


def test_truncated_pcapng_header(tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    shb_len = struct.unpack_from("<I", data, 4)[0]
    for n in range(1, shb_len):
        err = _open_error(write(tmp_path, data[:n]))
        assert "truncated" in str(err)
    frames, diags = read(write(tmp_path, data[:shb_len]))
    assert (frames, diags) == ([], [])


def test_bad_pcapng_section_headers(tmp_path: Path) -> None:
    data = bytearray(PCAPNG.read_bytes())
    bad_bom = bytes(data[:8]) + b"\x11\x22\x33\x44" + bytes(data[12:])
    assert "byte-order magic" in str(_open_error(write(tmp_path, bad_bom)))
    v2 = bytes(data[:12]) + struct.pack("<HH", 2, 0) + bytes(data[16:])
    assert "version 2.0" in str(_open_error(write(tmp_path, v2)))
    odd = bytes(data[:4]) + struct.pack("<I", 30) + bytes(data[8:])
    assert "multiple of 4" in str(_open_error(write(tmp_path, odd)))


def test_header_only_files_are_valid(tmp_path: Path) -> None:
    frames, diags = read(write(tmp_path, PCAP.read_bytes()[:24]))
    assert (frames, diags) == ([], [])
    frames, diags = read(CORPUS / "tcpdump/empty.pcapng")
    assert (frames, diags) == ([], [])


# --------------------------------------------------------------------------- cut files


@pytest.mark.parametrize("src", [PCAP, PCAPNG], ids=["pcap", "pcapng"])
def test_cut_in_the_last_records(src: Path, tmp_path: Path) -> None:
    data = src.read_bytes()
    frames, _ = read(src)
    layout = pcap_layout(data) if src.suffix == ".pcap" else pcapng_layout(data)
    assert layout[-1].end == len(data)
    for cut in range(1, 41):
        path = write(tmp_path, data[:-cut])
        got, diags = read(path)
        want, broken = expect_cut(frames, layout, len(data) - cut)
        assert got == want, cut
        if broken is None:
            assert diags == [], cut
        else:
            check_one_error(diags, path, *broken, "file ends inside")


@pytest.mark.parametrize("src", [PCAP, PCAPNG], ids=["pcap", "pcapng"])
def test_cut_everywhere_in_a_small_file(src: Path, tmp_path: Path) -> None:
    data = src.read_bytes()[:1200]
    whole = src.read_bytes()
    layout = pcap_layout(whole) if src.suffix == ".pcap" else pcapng_layout(whole)
    frames, _ = read(src)
    first = 24 if src.suffix == ".pcap" else layout[0].off
    for length in range(first, len(data)):
        got, diags = read(write(tmp_path, data[:length]))
        want, broken = expect_cut(frames, layout, length)
        assert got == want, length
        assert [(d.frame, d.offset) for d in diags] == ([broken] if broken else []), length


@pytest.mark.tshark
@pytest.mark.parametrize("src", [PCAP, PCAPNG], ids=["pcap", "pcapng"])
def test_cut_file_frame_count_matches_tshark(src: Path, tmp_path: Path) -> None:
    data = src.read_bytes()
    for cut in (7, 33):
        path = write(tmp_path, data[:-cut], f"cut{cut}{src.suffix}")
        got, _ = read(path)
        assert len(got) == len(tshark_fields(path, ["frame.len"]))


# --------------------------------------------------------------------------- bad lengths


def _with(data: bytes, at: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


@pytest.mark.parametrize("caplen", [0xFFFFFFFF, (256 << 20) + 1])
def test_pcap_impossible_caplen(caplen: int, tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    frames, _ = read(PCAP)
    layout = pcap_layout(data)
    k = 20  # frame 21
    path = write(tmp_path, _with(data, layout[k].off + 8, "<I", caplen))
    got, diags = read(path)
    assert got == frames[:k]
    check_one_error(diags, path, k + 1, layout[k].off, str(caplen), "not a pcap record")


def test_pcap_caplen_beyond_the_end(tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    frames, _ = read(PCAP)
    layout = pcap_layout(data)
    path = write(tmp_path, _with(data, layout[30].off + 8, "<I", 1_000_000))
    got, diags = read(path)
    assert got == frames[:30]
    check_one_error(diags, path, 31, layout[30].off, "file ends inside a record")


def test_pcapng_epb_caplen_too_big_is_skipped(tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    frames, _ = read(PCAPNG)
    layout = pcapng_layout(data)
    epb = layout[5]  # frame 5 (layout[0] is the IDB)
    path = write(tmp_path, _with(data, epb.off + 20, "<I", 0xFFFFFFFF))
    got, diags = read(path)
    assert [f.data for f in got] == [f.data for f in frames[:4] + frames[5:]]
    assert [f.number for f in got] == list(range(1, 15))
    assert [(d.severity, d.frame, d.offset) for d in diags] == [("warning", 5, epb.off)]
    assert "captured length 4294967295" in diags[0].message


@pytest.mark.parametrize(
    ("where", "delta", "words"),
    [
        ("trailer", 4, "length mismatch"),
        ("trailer", -4, "length mismatch"),
        ("leading", 4, "length mismatch"),
        ("leading", -4, "length mismatch"),
        ("leading", 1, "not a multiple of 4"),
        ("leading", 2, "not a multiple of 4"),
        ("leading", "set:8", "less than 12"),
        ("leading", "set:0", "less than 12"),
        ("leading", "set:2147483644", "larger than"),
    ],
)
def test_pcapng_block_length_damage(where: str, delta: int | str, words: str, tmp_path: Path
                                    ) -> None:
    data = PCAPNG.read_bytes()
    frames, _ = read(PCAPNG)
    layout = pcapng_layout(data)
    k = 7  # frame 7
    epb = layout[k]
    blen = epb.end - epb.off
    value = int(delta[4:]) if isinstance(delta, str) else blen + delta
    at = epb.end - 4 if where == "trailer" else epb.off + 4
    path = write(tmp_path, _with(data, at, "<I", value))
    got, diags = read(path)
    assert got == frames[: k - 1]
    check_one_error(diags, path, k, epb.off, words)


def test_pcapng_unknown_interface_is_skipped(tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    frames, _ = read(PCAPNG)
    layout = pcapng_layout(data)
    path = write(tmp_path, _with(data, layout[3].off + 8, "<I", 7))  # frame 3 names interface 7
    got, diags = read(path)
    assert [f.data for f in got] == [f.data for f in frames[:2] + frames[3:]]
    assert [f.number for f in got] == list(range(1, 15))
    assert [(d.severity, d.frame, d.offset) for d in diags] == [("warning", 3, layout[3].off)]
    assert "interface 7" in diags[0].message


def test_pcapng_packet_before_any_interface(tmp_path: Path) -> None:
    w = PcapngWriter()
    w.shb()
    spb = w.spb(b"\x45" + bytes(19))
    epb = w.epb(0, 1, b"\x45" + bytes(19))
    w.idb(101)
    w.epb(0, 2, b"\x45" + bytes(19))
    path = write(tmp_path, bytes(w))
    got, diags = read(path)
    assert [(f.number, f.ts_ns) for f in got] == [(1, 2000)]
    assert [(d.severity, d.frame, d.offset) for d in diags] == [
        ("warning", 1, spb), ("warning", 1, epb)
    ]


# --------------------------------------------------------------------------- garbage


def test_pcap_garbage_in_the_middle(tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    frames, _ = read(PCAP)
    at = pcap_layout(data)[12].off
    path = write(tmp_path, data[:at] + b"\xff" * 37 + data[at:])
    got, diags = read(path)
    assert got == frames[:12]
    check_one_error(diags, path, 13, at, "not a pcap record")


@pytest.mark.parametrize(
    "garbage", [b"\xde\xad\xbe\xef" * 5, bytes(16), b"\x06\0\0\0\x40\0\0\0zzz"]
)
def test_pcapng_garbage_in_the_middle(garbage: bytes, tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    frames, _ = read(PCAPNG)
    at = pcapng_layout(data)[9].off  # before frame 9
    path = write(tmp_path, data[:at] + garbage + data[at:])
    got, diags = read(path)
    assert got == frames[:8]
    assert [(d.severity, d.frame, d.offset) for d in diags] == [("error", 9, at)]


def test_pcapng_well_formed_unknown_block_is_skipped(tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    frames, _ = read(PCAPNG)
    at = pcapng_layout(data)[9].off
    unknown = struct.pack("<III", 0x1234, 16, 0xCAFE) + struct.pack("<I", 16)
    got, diags = read(write(tmp_path, data[:at] + unknown + data[at:]))
    assert [f.data for f in got] == [f.data for f in frames]
    assert diags == []


# --------------------------------------------------------------------------- fuzz


def _mutations(data: bytes, rng: random.Random) -> tuple[bytes, int]:
    """A damaged copy of data and the first offset that differs."""
    b = bytearray(data)
    kind = rng.choice(("flip", "insert", "delete", "zero", "length"))
    at = rng.randrange(0, len(b))
    if kind == "flip":
        for i in range(rng.randint(1, 4)):
            b[min(at + i, len(b) - 1)] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        b[at:at] = rng.randbytes(rng.randint(1, 40))
    elif kind == "delete":
        del b[at : at + rng.randint(1, 40)]
    elif kind == "zero":
        b[at : at + 8] = bytes(len(b[at : at + 8]))
    else:
        at = at & ~3
        if at + 4 <= len(b):
            struct.pack_into("<I", b, at, rng.choice((0, 1, 12, 0x7FFFFFFF, 0xFFFFFFFF, 65536)))
    first = next((i for i in range(min(len(b), len(data))) if b[i] != data[i]),
                 min(len(b), len(data)))
    return bytes(b), first


FUZZ_SOURCES = [
    PCAP,
    PCAPNG,
    CORPUS / "zeek/ldap/gap-data-missing.pcapng",
    CORPUS / "ja4/chrome-cloudflare-quic-with-secrets.pcapng",
    CORPUS / "scapy/tls_tcp_frag_withnss.pcap.gz",
]


@pytest.mark.parametrize("src", FUZZ_SOURCES, ids=[p.name for p in FUZZ_SOURCES])
def test_fuzz_never_raises(src: Path, tmp_path: Path) -> None:
    data = src.read_bytes()
    frames, _ = read(src)
    if src.name.endswith(".pcap"):
        layout = pcap_layout(data)
    elif src.name.endswith(".pcapng"):
        layout = pcapng_layout(data)
    else:
        layout = []
    rng = random.Random(src.name)
    path = tmp_path / "fuzz"
    for _ in range(120):
        damaged, first = _mutations(data, rng)
        path.write_bytes(damaged)
        try:
            cap = open_capture(path)
        except CaptureError:
            continue
        with cap:
            got = list(cap.frames())
            diags = cap.diagnostics
        for d in diags:
            assert d.severity in ("warning", "error")
            assert d.file == str(path) and d.offset is not None and d.frame is not None
            assert "could not read further" not in d.message, d
        # Records wholly before the first damaged byte come out unchanged.
        intact = sum(r.packet for r in layout if r.end <= first)
        assert got[:intact] == frames[:intact]
