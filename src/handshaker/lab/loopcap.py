"""Capture the loopback interface to a pcap file while a scenario runs.

Usage::

    ok, why = capture_possible()
    with capture_loopback(path, "tcp port 40123") as cap:
        ...  # make traffic on 127.0.0.1
    print(cap.packets)  # what tcpdump said it wrote, once the block has left

Today the capture is ``tcpdump -i lo``; a later version swaps in handshaker's
own AF_PACKET capture behind the same two names. Whatever does the capturing,
the contract is: when the ``with`` block is entered the capture is already
listening (no packet made inside the block is missed), and when it is left
the file is complete and the capturing process is gone, also when the block
raised.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from handshaker.errors import HandshakerError

__all__ = ["LabError", "LoopbackCapture", "capture_loopback", "capture_possible"]

# How long tcpdump may take to open lo and say "listening on".
START_TIMEOUT = 10.0
# Packets sent just before the block ends are already in the kernel's ring
# buffer but maybe not yet read by tcpdump: give it this long before stopping.
DRAIN_DELAY = 0.15
# How long a stop signal may take before the next, harsher one.
STOP_TIMEOUT = 5.0


class LabError(HandshakerError):
    """A lab scenario or its capture could not be carried out here."""


@dataclass(slots=True)
class LoopbackCapture:
    """A running (then finished) capture of ``lo`` into ``path``.

    ``packets`` is the count tcpdump reported as written to the file; it is
    None while the capture runs or when tcpdump did not say. ``pid`` is the
    capturing process's id while it runs.
    """

    path: Path
    bpf_filter: str
    pid: int | None = None
    packets: int | None = None
    messages: list[str] = field(default_factory=list)


def capture_possible() -> tuple[bool, str]:
    """Whether a loopback capture can run here; when not, the reason why."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "capturing on lo needs root"
    if shutil.which("tcpdump") is None:
        return False, "tcpdump is not installed"
    if not Path("/sys/class/net/lo").exists():
        return False, "there is no loopback interface 'lo'"
    return True, ""


def _tcpdump_command(path: Path, bpf_filter: str) -> list[str]:
    exe = shutil.which("tcpdump") or "tcpdump"
    cmd = [exe, "-i", "lo", "-U", "--immediate-mode", "-n", "-w", str(path)]
    if os.geteuid() == 0:
        # Debian's tcpdump drops to user "tcpdump" after opening the file and
        # hands the file to that user; keep it ours.
        cmd += ["-Z", "root"]
    if bpf_filter.strip():
        cmd.append(bpf_filter)
    return cmd


def _read_stderr(proc: subprocess.Popen[bytes], lines: list[str], ready: threading.Event) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        lines.append(line)
        if "listening on" in line:
            ready.set()
    # EOF: tcpdump is gone; wake up anyone still waiting for "listening on".
    ready.set()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (tcpdump flushes and writes its statistics), then harsher."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=STOP_TIMEOUT)


def _packets_written(lines: list[str]) -> int | None:
    for line in lines:
        words = line.split()
        if len(words) >= 3 and words[1:3] == ["packets", "captured"] and words[0].isdigit():
            return int(words[0])
        if len(words) >= 3 and words[1:3] == ["packet", "captured"] and words[0].isdigit():
            return int(words[0])
    return None


@contextmanager
def capture_loopback(path: Path | str, bpf_filter: str) -> Iterator[LoopbackCapture]:
    """Capture ``lo`` into ``path`` (classic pcap, link type EN10MB) while the block runs.

    ``bpf_filter`` is a tcpdump filter expression (e.g. ``"tcp port 40123"``);
    keep it narrow, other programs may be using loopback at the same time.
    Raises LabError when the capture cannot start.
    """
    ok, why = capture_possible()
    if not ok:
        raise LabError(why)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    cap = LoopbackCapture(path=target, bpf_filter=bpf_filter)
    proc = subprocess.Popen(
        _tcpdump_command(target, bpf_filter),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    cap.pid = proc.pid
    ready = threading.Event()
    reader = threading.Thread(
        target=_read_stderr, args=(proc, cap.messages, ready), name="tcpdump-stderr", daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not any("listening on" in line for line in cap.messages):
            if proc.poll() is not None:
                reader.join(timeout=1.0)
                said = "; ".join(cap.messages) or f"exit status {proc.returncode}"
                raise LabError(f"tcpdump did not start: {said}", file=str(target))
            if time.monotonic() > deadline:
                raise LabError(
                    f"tcpdump did not report 'listening on' within {START_TIMEOUT:.0f} s",
                    file=str(target),
                )
            ready.wait(timeout=0.05)
        yield cap
        time.sleep(DRAIN_DELAY)
    finally:
        _stop(proc)
        reader.join(timeout=STOP_TIMEOUT)
        if proc.stderr is not None:
            proc.stderr.close()
    cap.packets = _packets_written(cap.messages)
