"""The command line as a user meets it: output formats, exit codes, bad input."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, ROOT, tshark_fields

from handshaker.cli import main
from handshaker.render.csv_out import csv_safe

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"
TOUR_TCP = DATA / "tour-tcp.pcap"

CONNECTION_KEYS = {"proto", "stream", "client", "server", "first_frame", "last_frame",
                   "packets", "bytes", "handshake", "close", "conn_state", "history",
                   "anomalies"}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handshaker", *args], capture_output=True,
                          text=True, input=stdin.decode("latin-1") if stdin else None,
                          timeout=120, check=False)


def test_analyze_json_follows_the_contract() -> None:
    out = run("analyze", str(TOUR_TCP), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) >= {"capture", "connections"}
    (conn,) = doc["connections"]
    assert set(conn) >= CONNECTION_KEYS
    assert conn["proto"] == "tcp" and conn["stream"] == 0
    assert set(conn["handshake"]) >= {"state", "client_isn", "server_isn", "frames", "rtt_ms"}
    assert set(conn["close"]) >= {"kind", "initiator", "frames"}
    assert conn["handshake"]["state"] == "complete"
    assert conn["close"] == conn["close"] | {"kind": "four_way", "initiator": "client"}
    assert conn["conn_state"] == "SF"
    # the ISNs are the raw sequence numbers of the SYN and the SYN+ACK, as tshark shows them
    rows = tshark_fields(TOUR_TCP, ["tcp.flags", "tcp.seq_raw"], display_filter="tcp.flags.syn==1")
    isns = {int(f, 16): int(s) for f, s in rows}
    assert conn["handshake"]["client_isn"] == isns[0x002]
    assert conn["handshake"]["server_isn"] == isns[0x012]
    assert conn["handshake"]["frames"] == [1, 2, 3]


def test_ladder_json_matches_tshark_numbers() -> None:
    out = run("ladder", str(TOUR_TCP), "--stream", "0", "--format", "json")
    assert out.returncode == 0, out.stderr
    steps = json.loads(out.stdout)["steps"]
    rows = tshark_fields(TOUR_TCP, ["frame.number", "tcp.seq", "tcp.ack", "tcp.seq_raw",
                                    "tcp.len", "tcp.nxtseq"])
    assert [(s["frame"], s["seq"], s["ack"], s["seq_raw"], s["len"], s["nxtseq"])
            for s in steps] == [tuple(int(v) for v in row) for row in rows]
    labels = [s["label"] for s in steps]
    assert labels[:3] == ["handshake 1/3: SYN", "handshake 2/3: SYN+ACK", "handshake 3/3: ACK"]
    closing = [s["label"] for s in steps if s["phase"] == "close"]
    assert [c.split(":")[0] for c in closing] == ["close 1/4", "close 2/4", "close 3/4",
                                                  "close 4/4"]
    syn, synack, ack = steps[:3]
    assert synack["ack_raw"] == syn["seq_raw"] + 1  # Ack = x+1
    assert ack["seq_raw"] == syn["seq_raw"] + 1 and ack["ack_raw"] == synack["seq_raw"] + 1


def test_ladder_text_in_both_languages() -> None:
    en = run("ladder", str(TOUR_TCP), "--stream", "0", "--lang", "en", "--no-color")
    zh = run("ladder", str(TOUR_TCP), "--stream", "0", "--lang", "zh", "--no-color")
    assert en.returncode == zh.returncode == 0
    assert "handshake 1/3: SYN" in en.stdout and "Seq=0" in en.stdout
    assert "第一次握手" in zh.stdout and "第四次挥手" in zh.stdout
    absolute = run("ladder", str(TOUR_TCP), "--stream", "0", "--absolute", "--no-color")
    isn = json.loads(run("analyze", str(TOUR_TCP), "--format", "json").stdout)[
        "connections"][0]["handshake"]["client_isn"]
    assert f"Seq={isn}" in absolute.stdout


def test_unknown_stream_is_a_usage_error() -> None:
    out = run("ladder", str(TOUR_TCP), "--stream", "7")
    assert out.returncode == 2
    assert "no TCP stream 7" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"NOTAPCAPFILE" * 4, "not a capture file"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "header"),
])
def test_bad_files_get_one_line_and_exit_2(tmp_path: Path, content: bytes, expect: str) -> None:
    p = tmp_path / "bad.pcap"
    p.write_bytes(content)
    out = run("analyze", str(p))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(p) in lines[0] and "Traceback" not in out.stderr
    assert expect in lines[0].lower()


def test_missing_file(tmp_path: Path) -> None:
    out = run("analyze", str(tmp_path / "nope.pcap"))
    assert out.returncode == 2 and "nope.pcap" in out.stderr


def test_truncated_capture_still_yields_what_was_readable(tmp_path: Path) -> None:
    data = TOUR_TCP.read_bytes()
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[: len(data) - 30])
    out = run("analyze", str(p), "--format", "json")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert doc["capture"]["frames"] == 16  # the last of 17 records is cut
    assert doc["connections"][0]["handshake"]["state"] == "complete"
    warn = out.stderr.strip().splitlines()
    assert len(warn) == 1 and "frame 17" in warn[0] and "offset" in warn[0]


def test_stdin_and_gzip(tmp_path: Path) -> None:
    import gzip

    gz = tmp_path / "t.pcap.gz"
    gz.write_bytes(gzip.compress(TOUR_TCP.read_bytes()))
    a = run("analyze", str(gz), "--format", "json")
    b = subprocess.run([sys.executable, "-m", "handshaker", "analyze", "-", "--format", "json"],
                       input=TOUR_TCP.read_bytes(), capture_output=True, timeout=60, check=False)
    assert a.returncode == 0 and b.returncode == 0
    ca = json.loads(a.stdout)["connections"]
    cb = json.loads(b.stdout)["connections"]
    assert ca == cb


def test_csv_output_and_formula_injection() -> None:
    out = run("analyze", str(TOUR_TCP), "--format", "csv")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0][:3] == ["file", "proto", "stream"]
    assert rows[1][1] == "tcp"
    assert csv_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_safe("-1") == "'-1"
    assert csv_safe(5) == 5


def test_analyze_many_files_and_udp() -> None:
    out = run("analyze", str(TOUR_TCP), str(CORPUS / "tcpdump" / "dns_udp.pcap"),
              "--format", "json")
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert len(files) == 2
    (udp,) = files[1]["connections"]
    assert udp["proto"] == "udp" and udp["header_overhead"]["udp_header_bytes"] == 16


def test_main_never_shows_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", "/nonexistent/x.pcap", "--stream", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "x.pcap" in err


def test_layers_command() -> None:
    out = run("layers", str(TOUR_TCP), "--frame", "1", "--no-color")
    assert out.returncode == 0, out.stderr
    assert "TCP" in out.stdout and "Transport" in out.stdout and "Network" in out.stdout
    js = json.loads(run("layers", str(TOUR_TCP), "--frame", "1", "--format", "json").stdout)
    assert js
    bad = run("layers", str(TOUR_TCP), "--frame", "99")
    assert bad.returncode == 2 and "no frame 99" in bad.stderr


def test_tour_runs_without_a_terminal() -> None:
    out = run("tour", "--no-color")
    assert out.returncode == 0, out.stderr
    for heading in ("TCP against UDP", "three-way handshake", "four-way close", "Resets"):
        assert heading in out.stdout
    zh = run("tour", "--chapter", "handshake", "--lang", "zh", "--no-color")
    assert zh.returncode == 0 and "三次握手" in zh.stdout


def test_tour_decrypts_rsa_with_the_key_and_not_ecdhe() -> None:
    """The rsa-vs-ecdhe chapter really decrypts: the shipped RSA key opens the RSA capture
    only; each capture's key log opens it."""
    out = run("tour", "--chapter", "rsa-vs-ecdhe", "--no-color")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if ".pcap" in line and "│" in line]
    assert [r.count("not opened") for r in rows] == [0, 1, 1]  # RSA, ECDHE, TLS 1.3
    assert [r.count("opened") for r in rows] == [2, 2, 2]
    assert "What the client sent, decrypted: GET /hello HTTP/1.1" in out.stdout
    assert "tour-tls12-ecdhe.pcap, the RSA key: ECDHE key exchange" in out.stdout
    assert out.stdout.count("forward secrecy)") == 2


def test_ladder_shows_the_rfc9293_states() -> None:
    steps = json.loads(run("ladder", str(TOUR_TCP), "--stream", "0", "--format", "json").stdout)[
        "steps"]
    seen = []
    for s in steps:
        pair = (s["states"]["client"], s["states"]["server"])
        if not seen or seen[-1] != pair:
            seen.append(pair)
    assert seen == [
        ("SYN_SENT", "LISTEN"),
        ("ESTABLISHED", "SYN_RECEIVED"),
        ("ESTABLISHED", "ESTABLISHED"),
        ("FIN_WAIT_1", "CLOSE_WAIT"),
        ("FIN_WAIT_2", "CLOSE_WAIT"),
        ("TIME_WAIT", "LAST_ACK"),
        ("TIME_WAIT", "CLOSED"),
    ]


def test_unknown_link_type_is_counted_and_reported(tmp_path: Path) -> None:
    from capture_writers import pcap_file

    p = tmp_path / "lt.pcap"
    p.write_bytes(pcap_file([(1, 0, b"\0" * 40, 40)], linktype=147))
    out = run("analyze", str(p), "--format", "json")
    assert out.returncode == 0
    assert json.loads(out.stdout)["capture"]["counts"]["skipped_linktype:147"] == 1
    assert "link type 147 skipped" in out.stderr


DATA_TLS = {
    "tour-tls12-rsa.pcap": ("TLS 1.2", 0x009C, "rsa", False),
    "tour-tls12-ecdhe.pcap": ("TLS 1.2", 0xC02F, "ecdhe", True),
    "tour-tls13.pcap": ("TLS 1.3", 0x1302, "tls13_ecdhe", True),
}


@pytest.mark.parametrize("name", sorted(DATA_TLS))
def test_tls_command(name: str) -> None:
    version, suite, kx, fs = DATA_TLS[name]
    out = run("tls", str(DATA / name), "--format", "json")
    assert out.returncode == 0, out.stderr
    (s,) = json.loads(out.stdout)["sessions"]
    assert (s["version"], s["cipher_suite"]["id"], s["key_exchange"], s["forward_secrecy"]) == (
        version, suite, kx, fs)
    assert s["sni"] == "handshaker.test"
    assert s["certificates"] or version == "TLS 1.3"  # 1.3 certificates are encrypted
    types = [m["type"] for m in s["messages"]]
    assert types[:2] == ["client_hello", "server_hello"]
    # tshark agrees on the suite and the SNI
    rows = tshark_fields(DATA / name, ["tls.handshake.ciphersuite",
                                       "tls.handshake.extensions_server_name"],
                         display_filter="tls.handshake.type==2")
    assert [int(r[0], 16) for r in rows] == [suite]  # the ServerHello's choice
    text = run("tls", str(DATA / name), "--no-color")
    assert text.returncode == 0 and "forward secrecy" in text.stdout


def test_analyze_json_has_tls() -> None:
    out = run("analyze", str(DATA / "tour-tls12-rsa.pcap"), "--format", "json")
    (c,) = json.loads(out.stdout)["connections"]
    assert c["tls"]["key_exchange"] == "rsa" and c["tls"]["forward_secrecy"] is False


def test_progress_reports_frames_and_bytes() -> None:
    """analyze's progress callback: frames and bytes only grow, and end at the file's end."""
    from handshaker.analysis import analyze

    seen: list[tuple[int, int]] = []
    a = analyze(DATA / "tour-isn.pcap", progress=lambda f, b: seen.append((f, b)))
    assert seen and seen == sorted(seen) and seen[-1][0] == a.frames
    size = (DATA / "tour-isn.pcap").stat().st_size
    assert size - 64 <= seen[-1][1] <= size


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_through_a_gzip_file_is_of_its_compressed_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """A gzip file's progress is told in its compressed bytes (inflated in this process,
    or by a child with -j 2, whose offset in the file this one reads): a share of the
    size on disk that only grows and ends at the end, so the bar has a total and a time
    left."""
    from handshaker import procs
    from handshaker.analysis import analyze
    from handshaker.capture import source

    path = tmp_path / "flows.pcap"
    subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"),
                    "-o", str(path), "-n", "400", "--seed", "5"], check=True, capture_output=True)
    packed = tmp_path / "flows.pcap.gz"
    packed.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    size = packed.stat().st_size
    assert size < path.stat().st_size * 0.9  # (else the two would not be told apart)
    children = []
    start = source.GzipProcess.start.__func__  # type: ignore[attr-defined]

    def started(cls: type, raw: Any, initial: bytes) -> Any:
        children.append(start(cls, raw, initial))
        return children[-1]

    monkeypatch.setattr(procs, "fork_safe", lambda: True)  # (other tests' threads may linger)
    monkeypatch.setattr(source.GzipProcess, "start", classmethod(started))
    seen: list[tuple[int, int]] = []
    a = analyze(packed, progress=lambda f, b: seen.append((f, b)), jobs=jobs,
                on_connection=lambda c: None)
    assert len(children) == (jobs > 1) and all(children)
    assert len(seen) > 1 and seen == sorted(seen) and seen[-1][0] == a.frames
    assert all(b <= size for _, b in seen) and seen[-1][1] == size
    assert seen[0][1] < size  # (the first batch is not the end of the file)


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from handshaker import cli

    args = argparse.Namespace(quiet=False, no_color=True)
    path = str(DATA / "tour-isn.pcap")
    with cli._progress(args, path) as bar:  # piped (pytest captures stderr): no bar
        assert bar is None
    monkeypatch.setattr(cli, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with cli._progress(args, path) as bar:  # a terminal and a big enough file: a bar
        assert bar is not None
        bar(10, 100)
    args.quiet = True
    with cli._progress(args, path) as bar:
        assert bar is None


def test_the_command_ends_at_once_with_its_output_whole(tmp_path: Path) -> None:
    """The command leaves without Python's shutdown (cli.run: os._exit once the output is
    flushed). What it wrote to a file is all there, the same as main() writes in this
    process; a reader that stops early gets neither an error nor a traceback."""
    path = tmp_path / "flows.pcap"
    subprocess.run([sys.executable, str(ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"),
                    "-o", str(path), "-n", "300", "--seed", "3"], check=True, capture_output=True)
    args = ["analyze", str(path), "--format", "json", "-j", "2"]
    out = tmp_path / "out.json"
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with out.open("w") as f:
        done = subprocess.run([sys.executable, "-m", "handshaker", *args], stdout=f,
                              stderr=subprocess.PIPE, text=True, timeout=300, check=False,
                              env=buffered)
    assert done.returncode == 0, done.stderr
    here = tmp_path / "here.json"
    with here.open("w") as f, contextlib.redirect_stdout(f):
        assert main(args) == 0
    assert out.read_bytes() == here.read_bytes() and len(out.read_bytes()) > 100_000
    doc = json.loads(out.read_text())  # (written in pieces: json_out.WRITE_CHUNK)
    capture = doc["capture"]
    assert len(doc["connections"]) == capture["tcp_streams"] + capture["udp_streams"] >= 300
    head = subprocess.run(f"{sys.executable} -m handshaker {' '.join(args)} | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=300, check=False)
    assert head.stdout == '{"schema":' and head.stderr == ""
    # started with standard output closed: said, not a traceback
    closed = subprocess.run([sys.executable, "-m", "handshaker", *args],
                            preexec_fn=lambda: os.close(1), capture_output=False,
                            stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert closed.returncode == 2
    assert closed.stderr == ("handshaker: error: standard output is closed: nowhere to write "
                             "the output\n")


def test_the_json_encoder_takes_what_orjson_refuses() -> None:
    """orjson encodes analyze's documents; a key that is not a string and an int beyond
    64 bits, which it refuses, go to the standard library's encoder: the same JSON."""
    from handshaker.render.json_out import _dumps

    for obj in ({1: "a", "b": [1.5, None, "é"]}, {"big": 1 << 70, "small": -(1 << 70)},
                {"plain": {"x": [1, 2]}, "t": True}):
        assert json.loads(_dumps(obj)) == json.loads(json.dumps(obj))
    assert _dumps({"é": 1}) == '{"é":1}'  # (non-ASCII as it is)
