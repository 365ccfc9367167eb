"""``handshaker lab``: every scenario runs between real peers, its capture carries its own
keys, tshark reads it and agrees with handshaker, and what the lab shows is what happened.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require, tshark_fields
from rich.console import Console

from handshaker.analysis import analyze
from handshaker.lab.loopcap import capture_possible
from handshaker.lab.peers import REQUEST, RESPONSE, SCENARIOS
from handshaker.lab.run import LAB, run_lab, show_lab
from handshaker.tls.keys import load_rsa_key
from handshaker.tls.observer import MESSAGE_NAMES
from handshaker.tls.opener import KeyRing

#: what each TCP scenario's connections must show: (handshake state, close kind)
TCP_EXPECT = {
    "tcp": ("complete", "four_way"),
    "tcp-server-closes": ("complete", "four_way"),
    "tcp-half-close": ("complete", "four_way"),
    "tcp-refused": ("refused", "reset"),
    "tcp-abort": ("complete", "reset"),
    "tcp-many": ("complete", "four_way"),
}


#: handshake message names as the session lists them -> their type numbers (RFC 8446 §4)
TYPE_CODES = {name: code for code, name in MESSAGE_NAMES.items()} | {"hello_retry_request": 2}


def test_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from handshaker.cli import main

    assert main(["lab", "--list"]) == 0
    en = capsys.readouterr().out
    assert main(["lab", "--list", "--lang", "zh"]) == 0
    zh = capsys.readouterr().out
    for sc in LAB.values():
        assert sc.scenario in SCENARIOS
        assert f"{sc.name} " in en and sc.en in en and sc.zh in zh
    for name in ("tcp", "tcp-syn-retry", "udp", "tls12-rsa", "tls13-hrr", "tls-alert",
                 "compare-rsa-ecdhe", "tcp-simultaneous-close", "tcp-half-close"):
        assert name in LAB


def _tshark_streams(path: Path) -> int:
    rows = tshark_fields(path, ["tcp.stream"], display_filter="tcp")
    return len({r[0] for r in rows if r and r[0]})


@pytest.mark.parametrize("name", sorted(LAB))
def test_lab_scenario(name: str, tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    out = tmp_path / f"{name}.pcapng"
    run = run_lab(name, out)
    assert run.packets > 0
    a = analyze(out, keys=KeyRing())  # no key given: only the file's own
    # tshark reads the file and counts the same TCP streams
    assert _tshark_streams(out) == len(a.tcp)
    # tshark's view of each connection (two passes: tcp.completeness is final then)
    complete = {int(r[0]): int(r[1]) for r in tshark_fields(
        out, ["tcp.stream", "tcp.completeness"], two_pass=True) if r[0] and r[1]}
    for conn in a.tcp:
        if name in TCP_EXPECT:
            assert (conn.handshake["state"], conn.close["kind"]) == TCP_EXPECT[name], conn.stream
        flags = complete[conn.stream]  # SYN 1, SYN-ACK 2, ACK 4, DATA 8, FIN 16, RST 32
        assert (conn.handshake["state"] == "complete") == (flags & 7 == 7), (conn.stream, flags)
        assert (conn.close["kind"] == "reset") == bool(flags & 32), (conn.stream, flags)
        if conn.close["kind"] in ("four_way", "three_way", "simultaneous"):
            assert flags & 16, (conn.stream, flags)
        s = conn.tls
        if s is None or s.version is None:
            continue
        if name == "tls-alert":  # rejected before any key was made: nothing to log
            assert s.decryption is None and s.close == "fatal_alert"
        else:  # the key log travels inside the file
            assert s.decryption is not None and s.decryption.ok, s.decryption
            assert s.decryption.key_source == "pcapng secrets block 1"
            got = {"c2s": b"", "s2c": b""}
            for d, _, _, data in s.data:
                got["c2s" if d == s.client_dir else "s2c"] += data
            assert got == {"c2s": REQUEST, "s2c": RESPONSE}
        # tshark, with the key log the file carries, sees the same handshake messages
        types = [int(t) for r in tshark_fields(out, ["tls.handshake.type"],
                                               display_filter=f"tcp.stream == {conn.stream}")
                 for t in r[0].split(",") if t]
        mine = [TYPE_CODES[m.type] for m in s.messages if m.type in TYPE_CODES]
        assert mine == types, (mine, types)
        # tshark agrees on the suite the server chose
        rows = tshark_fields(out, ["tls.handshake.ciphersuite"],
                             display_filter=f"tcp.stream == {conn.stream} && "
                                            "tls.handshake.type == 2")
        assert int(rows[-1][0], 16) == s.cipher_suite  # the last: a HelloRetryRequest is one
    if name in ("tls12-rsa", "compare-rsa-ecdhe"):
        assert run.server_key is not None and run.server_key.stat().st_mode & 0o777 == 0o600
        alone = analyze(out, keys=KeyRing(rsa_keys=[load_rsa_key(run.server_key)],
                                          capture_secrets=False))
        opened = [c.tls.decryption.ok for c in alone.tcp]
        assert opened == ([True] if name == "tls12-rsa" else [True, False])
    if name == "tcp-syn-retry":
        [_, second] = a.tcp
        assert [x["kind"] for x in second.anomalies] == ["retransmission"]
        flagged = tshark_fields(out, ["frame.number"],
                                display_filter="tcp.flags.syn == 1 && tcp.flags.ack == 0 && "
                                               "tcp.analysis.retransmission")
        assert [int(r[0]) for r in flagged] == [second.anomalies[0]["frame"]]
    if name == "tcp-simultaneous-close":
        kinds = [c.close["kind"] for c in a.tcp]
        assert set(kinds) <= {"simultaneous", "three_way", "four_way"}
        if (os.cpu_count() or 1) >= 2:  # two CPUs: the two closes run at the same instant
            assert "simultaneous" in kinds
    if name == "udp":
        assert a.udp and not a.tcp
    # what the lab shows
    console = Console(file=io.StringIO(), width=120, no_color=True)
    show_lab(run, console, "en")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert str(out) in text and "handshaker lab" in text
    if name == "tcp-simultaneous-close":
        assert "closed simultaneously" in text or "did not let the FINs cross" in text
    if a.tcp:
        assert "client" in text and "server" in text and "Seq=" in text


def test_lab_command_in_chinese(tmp_path: Path) -> None:
    ok, why = capture_possible()
    require(ok, why)
    out = tmp_path / "lab.pcapng"
    r = subprocess.run([sys.executable, "-m", "handshaker", "lab", "tcp", "-o", str(out),
                        "--lang", "zh", "--no-color"], capture_output=True, text=True,
                       check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "三次握手" in r.stdout and "四次挥手" in r.stdout and out.exists()


def test_lab_interrupted_leaves_nothing_behind(tmp_path: Path) -> None:
    """Ctrl-C in the middle of a scenario: exit 130, and no process of its own survives."""
    ok, why = capture_possible()
    require(ok, why)
    # A job started in the background (`cmd &` in a script) inherits SIGINT ignored, and
    # so would the lab: a process that ignores SIGINT cannot be interrupted (a CI run
    # started that way failed here, exit 0). The lab gets the default disposition.
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "handshaker", "lab",
                                 "tcp-simultaneous-close", "-o", str(tmp_path / "x.pcapng")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    # inside the scenario: while its shutdown helper (a Python spinning on the clock, a
    # second process of its group) runs
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-g", str(proc.pid), "-f", "monotonic_ns"],
                          capture_output=True, check=False).returncode == 0:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the lab ended before its scenario was seen running"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    time.sleep(0.5)
    group = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True,
                           check=False).stdout.split()
    # (a zombie has ended: a helper whose parent was interrupted inside Popen, before it
    # knew the helper's pid, is reaped by init, which in this sandbox takes its time)
    assert not [p for p in group if _state(p) not in ("Z", "")]


def _state(pid: str) -> str:
    """A process's state letter (R, S, Z, ...; "" once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[0]
