"""capture/: every corpus capture read by open_capture agrees with tshark, frame by frame."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, corpus_captures, corpus_ids, require, tshark_fields

from handshaker.capture import Frame, open_capture
from handshaker.capture.model import FrameBatch

FIELDS = ["frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_id"]


def epoch_ns(text: str) -> int:
    """tshark's decimal frame.time_epoch as exact integer nanoseconds (no floats)."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


@lru_cache(maxsize=1)
def _tshark_all() -> dict[Path, list[list[str]]]:
    """tshark output for the whole corpus, run in parallel (tshark starts slowly)."""
    require(shutil.which("tshark") is not None, "tshark is not installed")
    paths = corpus_captures()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(lambda p: tshark_fields(p, FIELDS), paths), strict=True))


def read_all(path: Path | str, **kw: int) -> tuple[list[Frame], list[FrameBatch], list]:
    with open_capture(path, **kw) as cap:
        batches = list(cap.batches())
        diags = list(cap.diagnostics)
    frames = [b.frame(i) for b in batches for i in range(len(b))]
    return frames, batches, diags


def test_corpus_present() -> None:
    require(CORPUS.is_dir(), "corpus missing")
    assert len(corpus_captures()) >= 60


@pytest.mark.tshark
@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_corpus_matches_tshark(path: Path) -> None:
    rows = _tshark_all()[path]
    with open_capture(path) as cap:
        frames = list(cap.frames())
        assert cap.diagnostics == []
        info = cap.info
    assert len(frames) == len(rows), "frame count differs from tshark"
    for f, (t_epoch, t_cap, t_len, t_if) in zip(frames, rows, strict=True):
        expected_ts = epoch_ns(t_epoch) if t_epoch else 0  # no time: a simple packet block
        assert (f.ts_ns, f.caplen, f.wirelen) == (expected_ts, int(t_cap), int(t_len)), f.number
        if t_if:
            assert f.interface == int(t_if), f.number
        assert 0 <= f.interface < len(info.interfaces)
        assert f.linktype == info.interfaces[f.interface].linktype
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert info.format == ("pcapng" if ".pcapng" in path.name else "pcap")
    assert info.compressed == path.name.endswith(".gz")


@pytest.mark.parametrize("path", corpus_captures(), ids=corpus_ids())
def test_batches_and_frames_agree(path: Path) -> None:
    via_batches, batches, diags = read_all(path)
    assert diags == []
    with open_capture(path) as cap:
        via_frames = list(cap.frames())
    assert via_frames == via_batches
    n = 1
    for b in batches:
        assert b.first_number == n
        assert len(b.start) == len(b.caplen) == len(b.wirelen) == len(b.ts_ns) == len(b)
        assert len(b.linktype) == len(b.interface) == len(b.file_offset) == len(b)
        assert b.start.dtype == np.int64 and b.ts_ns.dtype == np.int64
        assert b.caplen.dtype == np.int32 and b.interface.dtype == np.int32
        assert (b.number == np.arange(n, n + len(b))).all()
        n += len(b)


@pytest.mark.parametrize("chunk", [64, 1000, 4096])
@pytest.mark.parametrize(
    "name",
    [
        "zeek/tls/tls-1.2-stream-keylog.pcap",
        "ja4/http2-with-cookies.pcapng",
        "zeek/ldap/gap-data-missing.pcapng",
        "zeek/tls/tls-fragmented-handshake.pcap.gz",
    ],
)
def test_records_straddling_chunks(name: str, chunk: int) -> None:
    """Tiny chunks: every record crosses a boundary or is larger than a chunk."""
    require((CORPUS / name).is_file(), f"{name} missing")
    reference, _, _ = read_all(CORPUS / name)
    frames, batches, diags = read_all(CORPUS / name, chunk_size=chunk)
    assert diags == []
    assert frames == reference
    # Batches kept by the caller are never overwritten by later reads.
    again = [b.frame(i) for b in batches for i in range(len(b))]
    assert again == reference


@pytest.mark.parametrize("name", ["zeek/tls/tls-1.2-stream-keylog.pcap", "ja4/tls-handshake.pcapng",
                                  "zeek/tls/tls-fragmented-handshake.pcap.gz"])
def test_buffers_are_reused_once_the_batches_are_let_go(name: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Read as the analysis reads (each batch let go when the next comes), the chunk
    buffers are reused, not allocated anew (each fresh one is zeroed and page-faulted
    in), and what each batch holds is right while it is held."""
    from handshaker.capture import source

    require((CORPUS / name).is_file(), f"{name} missing")
    reference, _, _ = read_all(CORPUS / name)
    fresh = []
    real = source.ChunkBuffer._allocate

    def allocate(self: source.ChunkBuffer, size: int) -> bytearray:
        ids = {id(b) for b in self._spares}
        buf = real(self, size)
        fresh.append(id(buf) not in ids)
        return buf

    monkeypatch.setattr(source.ChunkBuffer, "_allocate", allocate)
    frames = []
    with open_capture(CORPUS / name, chunk_size=4096) as cap:
        for batch in cap.batches():
            frames += [batch.frame(i) for i in range(len(batch))]
    assert frames == reference
    assert len(fresh) > 10  # (many chunks)
    assert sum(fresh) <= 4


def test_file_offset_points_at_the_record() -> None:
    path = CORPUS / "zeek/tls/dhe.pcap"
    raw = path.read_bytes()
    frames, _, _ = read_all(path)
    for f in frames:
        assert raw[f.file_offset + 16 : f.file_offset + 16 + f.caplen] == f.data
    path = CORPUS / "lekensteyn/tls/smtp-ssl.pcapng"
    raw = path.read_bytes()
    frames, _, _ = read_all(path)
    for f in frames:
        assert raw[f.file_offset : f.file_offset + 4] == b"\x06\0\0\0"  # an EPB, little-endian
        assert raw[f.file_offset + 28 : f.file_offset + 28 + f.caplen] == f.data


def test_batch_size_splits_and_numbers() -> None:
    with open_capture(CORPUS / "junkie/https/dokuwiki.pcap") as cap:
        batches = list(cap.batches(size=7))
    assert all(len(b) <= 7 for b in batches)
    assert sum(len(b) for b in batches) == 106
    assert [b.first_number for b in batches] == list(range(1, 107, 7))


def test_snaplen_truncated_frames_are_kept() -> None:
    frames, _, _ = read_all(CORPUS / "tcpdump/quic_handshake_truncated.pcap")
    assert len(frames) == 18
    assert any(f.truncated for f in frames)
    assert all(f.caplen <= f.wirelen for f in frames)


def test_interfaces_and_link_types() -> None:
    with open_capture(CORPUS / "zeek/ldap/gap-data-missing.pcapng") as cap:
        frames = list(cap.frames())
        ifaces = cap.info.interfaces
    assert len(ifaces) == 126
    assert {i.linktype for i in ifaces} >= {1, 113, 274}
    assert {f.interface for f in frames} == {48}
    with open_capture(CORPUS / "zeek/pcapng-multi-interface.pcapng") as cap:
        frames = list(cap.frames())
        assert [f.interface for f in frames] == [0, 0, 1, 1, 1, 1]
        assert [i.tsresol_ns for i in cap.info.interfaces] == [(1, 1), (1000, 1)]
    with open_capture(CORPUS / "tcpdump/tcp-handshake-nano.pcap") as cap:
        assert cap.info.interfaces[0].linktype == 113
        assert cap.info.interfaces[0].tsresol_ns == (1, 1)
        assert cap.info.format == "pcap"


def test_decryption_secrets_blocks() -> None:
    for name, size in [
        ("ja4/chrome-cloudflare-quic-with-secrets.pcapng", 1556),
        ("ja4/http2-with-cookies.pcapng", 27880),
    ]:
        with open_capture(CORPUS / name) as cap:
            list(cap.batches())
            (dsb,) = cap.info.secrets
        assert dsb.secrets_type == 0x544C534B  # TLS key log
        assert len(dsb.data) == size
        assert dsb.frame_after == 0  # before the first packet
        assert b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" in dsb.data


@pytest.mark.parametrize("name", ["http2-16-ssl", "imap-ssl", "mysql-ssl", "smtp-ssl", "tls-null"])
def test_shb_comments_hold_the_keys(name: str) -> None:
    """The DERIVED keylogs are the CLIENT_RANDOM lines of each file's SHB comment, verbatim."""
    keylog = (CORPUS / f"lekensteyn/tls/{name}.DERIVED-from-comment.keylog").read_text()
    with open_capture(CORPUS / f"lekensteyn/tls/{name}.pcapng") as cap:
        comments = "\n".join(cap.info.comments)
    lines = [ln for ln in keylog.splitlines() if ln.startswith("CLIENT_RANDOM")]
    assert lines
    for line in lines:
        assert line in comments


@pytest.mark.tshark
def test_name_resolution_block_matches_tshark_hosts() -> None:
    require(shutil.which("tshark") is not None, "tshark is not installed")
    path = CORPUS / "zeek/ldap/gap-data-missing.pcapng"
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-q", "-z", "hosts"],
        capture_output=True, text=True, check=False,
    ).stdout
    expected = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            addr, name = line.split("\t")[:2]
            expected[ipaddress.ip_address(addr).packed] = name
    with open_capture(path) as cap:
        list(cap.batches())
        names = cap.info.names
    assert len(expected) == 68
    assert names == expected
