"""Live capture (capture/live.py) and capture filters (dissect/filter.py).

Oracles: tcpdump decides the same frames as the filter on every corpus
capture (the differences are the documented ones); tcpdump, capturing the
same traffic at the same time, writes the same frames as ``handshaker
capture``; tshark and capinfos read the pcapng without complaint and find
the interface, the filter and the kernel's counts in it.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_captures, require

from handshaker.capture import open_capture
from handshaker.capture.live import capture
from handshaker.dissect.columnar import decode_batch
from handshaker.dissect.filter import compile_filter
from handshaker.errors import UsageError
from handshaker.lab.loopcap import capture_loopback, capture_possible
from handshaker.lab.peers import pick_port

EXPRESSIONS = [
    "tcp", "udp", "ip6", "ip and tcp", "port 443", "src port 443", "tcp dst port 80",
    "dst port 80 or dst port 443", "not tcp", "tcp and not port 443", "portrange 1000-2000",
    "host 127.0.0.1", "net 192.168.0.0/16", "src net 10.0.0.0/8", "host ::1", "icmp", "icmp6",
    "udp and (port 53 or port 443)", "!(tcp || udp) && ip",
]
#: where tcpdump and the filter differ, on purpose (dissect/filter.py says why)
KNOWN = {
    "zeek/http-qinq-0.pcap": "two VLAN tags: the filter looks through them",
    "zeek/ipv6-http-atomic-frag.pcap": "an IPv6 fragment header: the filter follows it",
    "zeek/trunc/trunc-hdr.pcap": "an IP header cut short: no protocol matches",
}


def _ours(path: Path, expr: str) -> list[int]:
    f = compile_filter(expr)
    out: list[int] = []
    with open_capture(path) as cap:
        for b in cap.batches(65536):
            out.extend(int(n) for n in b.number[f.mask(decode_batch(b))])
    return out


def _tcpdump(path: Path, expr: str, tmp: Path) -> list[int] | None:
    """The frame numbers tcpdump keeps (VLAN-tagged frames looked through, as ours)."""
    out = tmp / "kept.pcap"
    full = f"({expr}) or (vlan and ({expr}))"
    r = subprocess.run(["tcpdump", "-r", str(path), "-w", str(out), full],
                       capture_output=True, check=False)
    if r.returncode:
        return None  # a link type tcpdump cannot filter
    kept = [f.data for f in open_capture(out)]
    frames = [f for f in open_capture(path)]
    numbers, i = [], 0
    for f in frames:  # tcpdump writes the frames it keeps, in order
        if i < len(kept) and f.data == kept[i]:
            numbers.append(f.number)
            i += 1
    return numbers


@pytest.mark.parametrize("path", [p for p in corpus_captures() if p.suffix != ".gz" and
                                  str(p.relative_to(CORPUS)) not in KNOWN],
                         ids=lambda p: str(p.relative_to(CORPUS)))
def test_filter_keeps_what_tcpdump_keeps(path: Path, tmp_path: Path) -> None:
    require(shutil.which("tcpdump") is not None, "tcpdump is not installed")
    for expr in EXPRESSIONS:
        want = _tcpdump(path, expr, tmp_path)
        if want is not None:
            assert _ours(path, expr) == want, expr


@pytest.mark.parametrize(("expr", "words"), [
    ("", "empty"), ("tcp and", "expected a primitive at column 8"),
    ("port http", "not a port number"),
    ("host example.com", "names are not looked up"), ("(tcp", "expected ')'"),
    ("tcp udp", "at column 5"), ("portrange 10", "LOW-HIGH"), ("vlan", "unknown word"),
])
def test_filter_errors_name_the_place(expr: str, words: str) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        compile_filter(expr)


# -- live ---------------------------------------------------------------------------------


def _traffic(port: int, delay: float = 0.3) -> threading.Thread:
    """A TCP exchange and two UDP datagrams to ``port`` on loopback, after ``delay``."""

    def run() -> None:
        time.sleep(delay)
        with socket.socket() as lst:
            lst.bind(("127.0.0.1", port))
            lst.listen(1)
            with socket.create_connection(("127.0.0.1", port)) as c, lst.accept()[0] as s:
                c.sendall(b"hello, handshake\n")
                s.recv(100)
                s.sendall(b"bye\n")
                c.recv(100)
        for payload in (b"one", b"two"):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(payload, ("127.0.0.1", port))
        time.sleep(0.2)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_live_capture_equals_tcpdump(tmp_path: Path) -> None:
    """The same traffic, captured by tcpdump and by handshaker at once: the same frames,
    byte for byte; tshark reads our file cleanly and finds the interface and filter."""
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    ours, theirs = tmp_path / "ours.pcapng", tmp_path / "tcpdump.pcap"
    expr = f"port {port}"
    with capture_loopback(theirs, expr), open(ours, "wb") as f:
        t = _traffic(port)
        st = capture("lo", f, filter_text=expr, duration=1.5)
        t.join()
    got = [fr.data for fr in open_capture(ours)]
    want = [fr.data for fr in open_capture(theirs)]
    assert got == want and len(got) >= 10  # handshake, data, close, two datagrams
    assert st.written == len(got) and st.stopped_by == "duration" and st.kernel_dropped == 0
    ts = [fr.ts_ns for fr in open_capture(ours)]
    assert ts == sorted(ts) and any(t % 1000 for t in ts)  # nanoseconds, not microseconds
    r = subprocess.run(["tshark", "-r", str(ours), "-T", "fields", "-e", "frame.number"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "warn" not in r.stderr.lower()
    assert len(r.stdout.split()) == len(got)
    info = subprocess.run(["capinfos", str(ours)], capture_output=True, text=True,
                          check=True).stdout
    assert f"Filter string = {expr}" in info and "Name = lo" in info
    assert "nanoseconds" in info
    assert "Number of stat entries = 1" in info  # the Interface Statistics Block


def _run(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "handshaker", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def test_capture_command_count(tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    out = tmp_path / "c.pcapng"
    proc = _run("capture", "-i", "lo", "-f", f"udp port {port}", "-c", "2", "-o", str(out))
    t = _traffic(port, delay=1.0)
    _, err = proc.communicate(timeout=30)
    t.join()
    assert proc.returncode == 0, err
    frames = list(open_capture(out))
    assert len(frames) == 2 and "2 packets" in err and "stopped by count" in err


def test_sigterm_stops_cleanly_and_keeps_everything(tmp_path: Path) -> None:
    """SIGTERM in the middle: exit 0, a complete file with every frame written so far."""
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    out = tmp_path / "term.pcapng"
    proc = _run("capture", "-i", "lo", "-f", f"port {port}", "--duration", "60", "-o",
                str(out))
    _traffic(port, delay=1.0).join()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped by signal" in err, err
    frames = list(open_capture(out))
    assert len(frames) >= 10
    cap = open_capture(out)
    list(cap)
    assert not cap.diagnostics  # no cut block: the file ends cleanly


def test_without_privilege_one_line_exit_2(tmp_path: Path) -> None:
    """Without CAP_NET_RAW (dropped with setpriv, even as root): one line naming it, exit
    status 2, no file left half-written."""
    require(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    out = tmp_path / "x.pcapng"
    r = subprocess.run(["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw",
                        sys.executable, "-m", "handshaker", "capture", "-i", "lo", "-o",
                        str(out)], capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "CAP_NET_RAW" in r.stderr
    assert not out.exists()
