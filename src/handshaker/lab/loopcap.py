"""Capture the loopback interface to a pcapng file while a scenario runs.

Usage::

    ok, why = capture_possible()
    with capture_loopback(path, "tcp port 40123") as cap:
        ...  # make traffic on 127.0.0.1
    print(cap.packets)  # frames written, once the block has left

The capture is handshaker's own (:mod:`handshaker.capture.live`: an
AF_PACKET socket on ``lo``, the filter language of
:mod:`handshaker.dissect.filter`), run in a thread. The contract: when the
``with`` block is entered the socket is already open and the file begun
(no packet made inside the block is missed), and when it is left the file
is complete and the thread is gone, also when the block raised.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from handshaker.capture.live import CaptureStats, capture
from handshaker.dissect.filter import compile_filter
from handshaker.errors import HandshakerError

__all__ = ["LabError", "LoopbackCapture", "capture_loopback", "capture_possible"]

# How long the capture may take to open its socket and begin the file.
START_TIMEOUT = 10.0
# Packets sent just before the block ends are in the socket's queue already; the capture
# drains the queue when it stops, and this pause lets the last ones reach it.
DRAIN_DELAY = 0.05
# How long stopping may take.
STOP_TIMEOUT = 5.0


class LabError(HandshakerError):
    """A lab scenario or its capture could not be carried out here."""


@dataclass(slots=True)
class LoopbackCapture:
    """A running (then finished) capture of ``lo`` into ``path``.

    ``packets`` is the count of frames written; None while the capture runs.
    ``stats`` holds the capture's counts (the kernel's drops among them) once
    it is over.
    """

    path: Path
    bpf_filter: str
    packets: int | None = None
    stats: CaptureStats | None = None
    errors: list[BaseException] = field(default_factory=list)


def capture_possible() -> tuple[bool, str]:
    """Whether a loopback capture can run here; when not, the reason why."""
    if not Path("/sys/class/net/lo").exists():
        return False, "there is no loopback interface 'lo'"
    if not hasattr(socket, "AF_PACKET"):
        return False, "live capture needs Linux (AF_PACKET sockets)"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        return False, "capturing on lo needs root or the CAP_NET_RAW capability"
    except OSError as err:
        return False, f"cannot open a packet socket: {err.strerror}"
    return True, ""


@contextmanager
def capture_loopback(path: Path | str, bpf_filter: str) -> Iterator[LoopbackCapture]:
    """Capture ``lo`` into ``path`` (pcapng, link type Ethernet) while the block runs.

    ``bpf_filter`` is a filter expression (e.g. ``"tcp port 40123"``); keep it
    narrow, other programs may be using loopback at the same time. Raises
    LabError when the capture cannot start.
    """
    ok, why = capture_possible()
    if not ok:
        raise LabError(why)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if bpf_filter.strip():
            compile_filter(bpf_filter)
    except HandshakerError as err:
        raise LabError(f"the capture did not start: {err.reason}", file=str(target)) from None
    cap = LoopbackCapture(path=target, bpf_filter=bpf_filter)
    ready = threading.Event()
    stop = threading.Event()

    def run() -> None:
        try:
            cap.stats = capture("lo", target, filter_text=bpf_filter or None,
                                should_stop=lambda: "block left" if stop.is_set() else "",
                                ready=ready.set)
        except BaseException as err:  # handed to the caller below
            cap.errors.append(err)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="loopback-capture", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT) or cap.errors:
        stop.set()
        thread.join(STOP_TIMEOUT)
        why = str(cap.errors[0]) if cap.errors else f"no start within {START_TIMEOUT:.0f} s"
        raise LabError(f"the capture did not start: {why}", file=str(target))
    try:
        yield cap
        time.sleep(DRAIN_DELAY)
    finally:
        stop.set()
        thread.join(STOP_TIMEOUT)
    if cap.errors:
        raise LabError(f"the capture failed: {cap.errors[0]}", file=str(target))
    if cap.stats is not None:
        cap.packets = cap.stats.written
