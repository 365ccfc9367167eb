"""``handshaker live``: each connection's handshake, TLS summary and close are told while
the capture runs, not at its end; Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from conftest import require

from handshaker.lab.loopcap import capture_possible
from handshaker.lab.peers import (
    pick_port,
    tcp_basic,
    tcp_refused,
    tls12_ecdhe,
    udp_basic,
)

WAIT = 5.0  # seconds a line may take to come


def _lines(stream: object, q: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        q.put(line.rstrip("\n"))


def _expect(q: queue.Queue[str], seen: list[str], ok: Callable[[str], bool]) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if ok(line):
            return line
    raise AssertionError(f"no such line within {WAIT} s; seen: {seen[-10:]}")


def test_live_tells_each_connection_as_it_happens() -> None:
    ok, why = capture_possible()
    require(ok, why)
    ports = [pick_port() for _ in range(4)]
    flt = " or ".join(f"port {p}" for p in ports)
    proc = subprocess.Popen([sys.executable, "-m", "handshaker", "live", "-i", "lo", "-f", flt,
                             "--ladder", "--no-color", "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="200"))
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    for stream, q in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, q), daemon=True).start()
    seen: list[str] = []
    try:
        _expect(err, [], lambda s: "listening on lo" in s)
        tcp_basic(ports[0])
        # told while the capture still runs: the handshake, the close, then the ladder
        _expect(out, seen, lambda s: f":{ports[0]}: three-way handshake done" in s)
        _expect(out, seen, lambda s: f":{ports[0]}: closed: four-way by the client" in s)
        _expect(out, seen, lambda s: "[SYN]" in s)
        tls12_ecdhe(ports[1])
        tls = _expect(out, seen, lambda s: f":{ports[1]}: TLS 1.2" in s)
        assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in tls and "SNI handshaker.test" in tls
        _expect(out, seen, lambda s: f":{ports[1]}: closed" in s)
        tcp_refused(ports[2])
        _expect(out, seen, lambda s: f":{ports[2]}: refused" in s)
        udp_basic(ports[3])
        _expect(out, seen, lambda s: s.split()[1:2] == ["udp"] and f":{ports[3]}" in s)
        assert proc.poll() is None  # all of it while the capture runs
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0
    summary = _expect(err, [], lambda s: "stopped by" in s)
    assert "stopped by interrupt" in summary and "dropped 0" in summary
