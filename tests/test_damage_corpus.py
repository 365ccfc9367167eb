"""Damaged and hostile captures, made here from good ones, through the command line.

Each kind of damage of issue 8 that the reader-level tests (test_capture_damage,
test_capture_formats, test_tls_damage, test_limits) do not already take through
``handshaker analyze``: for each, what was readable is reported, the damage is
named with its frame and byte offset, the exit status is the documented one
(docs/robustness.md), no traceback, and the time stays bounded.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import time
from pathlib import Path

import pytest
from capture_writers import pcap_file, pcap_records, pcapng_blocks
from conftest import CORPUS

from handshaker.cli import main
from handshaker.flow.synth import tcp_conversation

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"
GOOD = DATA / "tour-tls12-ecdhe.pcap"
GOOD_NG = CORPUS / "lekensteyn/tls/tls-null.pcapng"
LINKTYPE_RAW = 101
TIME_LIMIT_S = 20


def analyze(capsys: pytest.CaptureFixture[str], path: Path, *args: str
            ) -> tuple[int, dict, str]:
    t = time.perf_counter()
    status = main(["analyze", str(path), "--format", "json", "-j", "1", *args])
    assert time.perf_counter() - t < TIME_LIMIT_S
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return status, json.loads(out) if out else {}, err


def records(path: Path) -> tuple[bytes, list[tuple[int, int, bytes, int]]]:
    """(the pcap header, [(sec, frac, data, wirelen)]) of a little-endian pcap."""
    data = path.read_bytes()
    order, _, _, recs = pcap_records(data)
    assert order == "<"
    out = []
    for off, (sec, frac, incl, orig) in recs:
        out.append((sec, frac, data[off + 16:off + 16 + incl], orig))
    return data[:24], out


def write_pcap(path: Path, header: bytes, recs: list[tuple[int, int, bytes, int]]) -> Path:
    path.write_bytes(header + b"".join(struct.pack("<IIII", s, f, len(d), w) + d
                                       for s, f, d, w in recs))
    return path


def offset_of(recs: list[tuple[int, int, bytes, int]], index: int) -> int:
    return 24 + sum(16 + len(d) for _, _, d, _ in recs[:index])


def test_timestamps_going_backwards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, recs = records(GOOD)
    k = len(recs) // 2
    s, f, d, w = recs[k]
    recs[k] = (s - 5, f, d, w)  # five seconds before the frame ahead of it
    status, doc, err = analyze(capsys, write_pcap(tmp_path / "back.pcap", header, recs))
    assert status == 0
    good = json.loads(_json_of(capsys, GOOD))
    assert doc["capture"]["frames"] == good["capture"]["frames"]
    assert len(doc["connections"]) == len(good["connections"])
    (d_,) = [x for x in doc["capture"]["diagnostics"] if "back in time" in x["message"]]
    assert (d_["frame"], d_["offset"]) == (k + 1, offset_of(recs, k))
    assert "once" in d_["message"] and "by 4." in d_["message"]
    assert f"frame {k + 1}, byte offset {offset_of(recs, k)}" in err


def _json_of(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    assert main(["analyze", str(path), "--format", "json", "-j", "1"]) == 0
    return capsys.readouterr().out


def test_snaplen_zero_in_the_file_header(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(GOOD.read_bytes())
    struct.pack_into("<I", data, 16, 0)  # snaplen 0: "unknown", as some tools write it
    path = tmp_path / "snap0.pcap"
    path.write_bytes(bytes(data))
    status, doc, _ = analyze(capsys, path)
    good = json.loads(_json_of(capsys, GOOD))
    assert status == 0
    assert doc["connections"] == good["connections"]


def test_every_packet_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, recs = records(GOOD)
    doubled = [r for rec in recs for r in (rec, rec)]
    status, doc, _ = analyze(capsys, write_pcap(tmp_path / "dup.pcap", header, doubled))
    assert status == 0 and doc["capture"]["frames"] == 2 * len(recs)
    (conn,) = [c for c in doc["connections"] if c["proto"] == "tcp"]
    kinds = {a["kind"] for a in conn["anomalies"]}
    # each copy of a data segment is a retransmission, of a bare ACK a duplicate ACK
    assert kinds & {"retransmission", "spurious_retransmission"} and "duplicate_ack" in kinds
    assert conn["tls"]["cipher_suite"] is not None  # the handshake is still read


def test_pcapng_section_with_a_lying_byte_order(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A second section whose header says big-endian while its blocks are little-endian."""
    data = GOOD_NG.read_bytes()
    after_shb = pcapng_blocks(data)[1][0]  # where the first block after the SHB starts
    shb = bytearray(data[:after_shb])
    shb[8:12] = shb[8:12][::-1]  # the byte-order magic, turned around
    second = len(data)  # the second section starts here
    path = tmp_path / "order.pcapng"
    path.write_bytes(data + bytes(shb) + data[after_shb:])
    status, doc, err = analyze(capsys, path)
    assert status == 0
    good = json.loads(_json_of(capsys, GOOD_NG))
    assert doc["capture"]["frames"] >= good["capture"]["frames"]  # the first section stands
    damage = [x for x in doc["capture"]["diagnostics"] if x["offset"] is not None
              and x["offset"] >= second]
    assert damage, doc["capture"]["diagnostics"]
    assert f"byte offset {damage[0]['offset']}" in err


def client_hello(extensions: int) -> bytes:
    """A TLS 1.2 ClientHello record sequence with that many (empty, GREASE) extensions."""
    exts = b"".join(struct.pack("!HH", 0x0A0A + 0x1010 * (i % 16), 0) for i in range(extensions))
    body = (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\xc0\x2f" + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    out = b""
    for i in range(0, len(hs), 16384):  # cut into records of the largest size allowed
        piece = hs[i:i + 16384]
        out += b"\x16\x03\x01" + struct.pack("!H", len(piece)) + piece
    return out


def test_client_hello_with_10000_extensions(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    hello = client_hello(10_000)
    assert len(hello) > 40_000
    pkts = list(tcp_conversation(("10.0.0.2", 50000), ("10.0.0.1", 443),
                                 [(True, 1_700_000_000_000_000_000, hello)]))
    path = tmp_path / "ext.pcap"
    path.write_bytes(pcap_file([(t // 10**9, t % 10**9 // 1000, p, len(p)) for t, p in pkts],
                               linktype=LINKTYPE_RAW))
    status, doc, _ = analyze(capsys, path)
    assert status == 0
    (conn,) = doc["connections"]
    assert conn["tls"] is not None and conn["tls"]["ja3"]
    assert main(["tls", str(path), "--format", "json"]) == 0
    session = json.loads(capsys.readouterr().out)["sessions"][0]
    assert [m["type"] for m in session["messages"]] == ["client_hello"]


def test_overlapping_segments_with_different_bytes_are_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same bytes of the stream sent twice with different content: an evasion sign."""
    header, recs = records(GOOD)
    # the ClientHello's segment: the first frame carrying a TLS handshake record
    k = next(i for i, (_, _, d, _) in enumerate(recs)
             if (at := d.find(b"\x16\x03", 54)) > 0 and d[at + 5] == 1)
    s, f, d, w = recs[k]
    forged = bytearray(d)
    forged[-1] ^= 0xFF  # one byte differs (the checksum is not checked, as in tshark)
    recs.insert(k + 1, (s, f + 1, bytes(forged), w))
    path = write_pcap(tmp_path / "overlap.pcap", header, recs)
    assert main(["tls", str(path), "--format", "json"]) == 0
    session = json.loads(capsys.readouterr().out)["sessions"][0]
    note = f"frame {k + 2}: client stream: overlap_mismatch at stream offset "
    assert any(n.startswith(note) for n in session["diagnostics"]), session["diagnostics"]
    # the summary view says it too
    status, doc, _ = analyze(capsys, path)
    assert status == 0
    (conn,) = [c for c in doc["connections"] if c["tls"]]
    assert any(n.startswith(note) for n in conn["tls"]["diagnostics"])


def test_csv_cells_from_hostile_names_are_defused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    name = "=HYPERLINK(1).pcap"
    (tmp_path / name).write_bytes(GOOD.read_bytes())
    assert main(["analyze", name, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][0] == "'" + name
    assert all(not cell.startswith(("=", "+", "@")) for row in rows[1:] for cell in row)


def test_a_record_length_set_to_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A record whose captured length says 0 while its bytes are still there: the reader
    takes the bytes for the next record header and meets damage there."""
    _, recs = records(GOOD)
    data = bytearray(GOOD.read_bytes())
    k = len(recs) // 2
    at = offset_of(recs, k)
    struct.pack_into("<I", data, at + 8, 0)
    path = tmp_path / "zero.pcap"
    path.write_bytes(bytes(data))
    status, doc, err = analyze(capsys, path)
    assert status == 0
    assert doc["capture"]["frames"] >= k + 1  # the frames before it, and itself (empty)
    (damage,) = [d for d in doc["capture"]["diagnostics"] if d["severity"] == "error"]
    assert damage["offset"] >= at + 16 and damage["frame"] >= k + 2
    assert f"byte offset {damage['offset']}" in err
