"""Live capture on Linux: an AF_PACKET socket, frames written to pcapng as they come.

Theory of operation
-------------------
A ``socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)`` bound to one interface gets
every frame that interface sends or receives, link-layer header included
(packet(7)). ``SO_TIMESTAMPNS`` makes the kernel stamp each frame in
nanoseconds; ``recvmsg_into`` with ``MSG_TRUNC`` gives the frame's real
length when it was longer than the snapshot length; ``PACKET_STATISTICS``
counts what the kernel received and what it dropped because the socket's
queue was full (each read resets the counts, so they are summed here). On
loopback the kernel hands each frame to packet sockets twice, going out and
coming in: the outgoing copy is not queued (``PACKET_IGNORE_OUTGOING``) or
skipped, as libpcap does.

Frames are read one ``recvmsg_into`` at a time rather than from a
TPACKET_V3 ring buffer: the ring saves a system call per frame, which
matters at hundreds of thousands of frames per second, not at the rates of
a lab on loopback or a learner's interface, and a receive buffer of
``RCVBUF_BYTES`` absorbs bursts; drops, if any, are counted by the kernel
and reported, never hidden.

The filter (:mod:`handshaker.dissect.filter`) is applied in user space to
each burst of frames read. Each burst is written to the pcapng file
(:class:`~handshaker.capture.writer.PcapngWriter`) and flushed, so the file
is complete up to the last burst whatever stops the capture; a clean stop
adds an Interface Statistics Block with the kernel's counts.
"""

from __future__ import annotations

import contextlib
import os
import platform
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from handshaker.capture.model import LINKTYPE_ETHERNET, LINKTYPE_RAW, FrameBatch
from handshaker.capture.writer import PcapngWriter
from handshaker.errors import CaptureError, UsageError

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h, Linux 4.20
SO_TIMESTAMPNS = 35
SNAPLEN = 262144
#: the socket's receive buffer: bursts up to this size wait for the reader, not dropped
RCVBUF_BYTES = 8 << 20
#: how long one wait for frames lasts, so that a stop request is seen promptly
POLL_SECONDS = 0.1
#: frames read in one go before they are filtered and written
BURST = 512

#: ARPHRD_* (linux/if_arp.h) -> the link type of the frames the socket gives
ARPHRD_LINKTYPES = {
    1: LINKTYPE_ETHERNET,  # ARPHRD_ETHER
    772: LINKTYPE_ETHERNET,  # ARPHRD_LOOPBACK: the kernel gives lo an Ethernet header
    65534: LINKTYPE_RAW,  # ARPHRD_NONE: tun devices, raw IP
    768: LINKTYPE_RAW,  # ARPHRD_TUNNEL (ipip)
    776: LINKTYPE_RAW,  # ARPHRD_SIT
}

CAPABILITY_HINT = ("live capture needs the CAP_NET_RAW capability: run as root, or give "
                   "it to the Python interpreter: setcap cap_net_raw+ep "
                   "\"$(readlink -f \"$(command -v python3)\")\"")


@dataclass
class CaptureStats:
    """What a capture saw, wrote and lost."""

    seen: int = 0  # frames read from the socket
    written: int = 0  # frames that passed the filter and were written
    bytes: int = 0  # bytes written (captured lengths)
    kernel_received: int = 0  # PACKET_STATISTICS: frames the kernel queued for us
    kernel_dropped: int = 0  # ... and frames it dropped: the queue was full
    started_ns: int = 0
    ended_ns: int = 0
    stopped_by: str = ""  # "count", "duration", "signal", "interrupt"
    extra: dict[str, str] = field(default_factory=dict)


def interface_linktype(name: str) -> int:
    """The link type of an interface's frames, from its ARPHRD type in sysfs."""
    if name == "any" or "/" in name or not name:
        raise UsageError(f"capture: {name!r}: name one interface (ip link lists them); "
                         "'any' is not supported")
    try:
        hatype = int(Path(f"/sys/class/net/{name}/type").read_text())
    except OSError:
        raise UsageError(f"capture: no interface named {name!r} (ip link lists them)") from None
    linktype = ARPHRD_LINKTYPES.get(hatype)
    if linktype is None:
        raise UsageError(f"capture: {name}: link type ARPHRD {hatype} is not supported "
                         "(Ethernet, loopback and raw IP interfaces are)")
    return linktype


class LiveCapture:
    """An open AF_PACKET socket on one interface (use as a context manager)."""

    def __init__(self, interface: str, *, snaplen: int = SNAPLEN) -> None:
        self.interface = interface
        self.linktype = interface_linktype(interface)
        self.snaplen = snaplen
        self.loopback = Path(f"/sys/class/net/{interface}/type").read_text().strip() == "772"
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(ETH_P_ALL))
        except PermissionError:
            raise UsageError(CAPABILITY_HINT) from None
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            self.sock.bind((interface, ETH_P_ALL))
            if self.loopback:
                # lo's outgoing copies are the same frames as the incoming ones: have the
                # kernel not queue them at all (they are skipped below on older kernels)
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError as err:
            self.sock.close()
            raise CaptureError(f"capture: cannot listen on {interface}: {err.strerror}") \
                from None
        self.sock.setblocking(False)
        self._buf = bytearray(snaplen)
        self._view = memoryview(self._buf)
        self._anc = socket.CMSG_SPACE(16)
        self.received = self.dropped = 0

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def read(self, timeout: float = POLL_SECONDS, limit: int = BURST
             ) -> list[tuple[int, bytes, int]]:
        """The frames that arrive within ``timeout`` (at most ``limit``): (ns timestamp,
        captured bytes, length on the wire)."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        out: list[tuple[int, bytes, int]] = []
        if not ready:
            return out
        while len(out) < limit:
            try:
                n, anc, _, addr = self.sock.recvmsg_into([self._view], self._anc,
                                                         socket.MSG_TRUNC)
            except BlockingIOError:
                break
            if self.loopback and addr[2] == PACKET_OUTGOING:
                continue  # the same frame comes again, incoming
            ts = 0
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    ts = sec * 1_000_000_000 + nsec
            out.append((ts or time.time_ns(), bytes(self._buf[:min(n, self.snaplen)]), n))
        return out

    def kernel_stats(self) -> tuple[int, int]:
        """(received, dropped) by the kernel since the socket opened."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        packets, drops = struct.unpack("II", raw)
        self.received += packets
        self.dropped += drops
        return self.received, self.dropped


def frame_batch(frames: list[tuple[int, bytes, int]], linktype: int, first: int
                ) -> FrameBatch:
    """A burst of frames as the batch the decoders take (numbered from ``first``)."""
    buf = b"".join(f[1] for f in frames)
    lens = np.array([len(f[1]) for f in frames], dtype=np.int32)
    start = np.zeros(len(frames), dtype=np.int64)
    if len(frames) > 1:
        start[1:] = np.cumsum(lens[:-1])
    n = len(frames)
    return FrameBatch(buf, first, start, lens, np.array([f[2] for f in frames], dtype=np.int32),
                      np.array([f[0] for f in frames], dtype=np.int64),
                      np.full(n, linktype, dtype=np.int32), np.zeros(n, dtype=np.int32),
                      np.full(n, -1, dtype=np.int64))


def bursts(live: LiveCapture, *, filter_text: str | None = None, count: int | None = None,
           duration: float | None = None, should_stop: Callable[[], str] = lambda: "",
           stats: CaptureStats | None = None) -> Iterator[list[tuple[int, bytes, int]]]:
    """The frames of ``live`` that pass the filter, a burst at a time (an empty one when
    nothing came for POLL_SECONDS), until ``count`` frames, ``duration`` seconds or
    ``should_stop()`` naming a reason; what is queued when a stop comes is read too."""
    from handshaker.dissect.columnar import decode_batch
    from handshaker.dissect.filter import compile_filter

    flt = compile_filter(filter_text) if filter_text else None
    st = stats if stats is not None else CaptureStats()
    st.started_ns = st.started_ns or time.time_ns()
    deadline = None if duration is None else time.monotonic() + duration

    def take(frames: list[tuple[int, bytes, int]]) -> list[tuple[int, bytes, int]]:
        st.seen += len(frames)
        if frames and flt is not None:
            mask = flt.mask(decode_batch(frame_batch(frames, live.linktype, 1)))
            frames = [f for f, keep in zip(frames, mask.tolist(), strict=True) if keep]
        if count is not None:
            frames = frames[:count - st.written]
        st.written += len(frames)
        st.bytes += sum(len(f[1]) for f in frames)
        return frames

    while True:
        yield take(live.read(POLL_SECONDS if deadline is None else
                             max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))))
        st.kernel_received, st.kernel_dropped = live.kernel_stats()
        reason = should_stop()
        if count is not None and st.written >= count:
            reason = "count"
        elif deadline is not None and time.monotonic() >= deadline:
            reason = "duration"
        if reason:
            st.stopped_by = reason
            break
    # what is already queued was sent before the stop: keep it too
    while reason != "count" and (frames := live.read(0)):
        yield take(frames)
    st.ended_ns = time.time_ns()
    st.kernel_received, st.kernel_dropped = live.kernel_stats()


def capture(interface: str, output: BinaryIO | str | os.PathLike[str], *,
            filter_text: str | None = None,
            count: int | None = None, duration: float | None = None,
            should_stop: Callable[[], str] = lambda: "",
            progress: Callable[[CaptureStats], None] | None = None,
            ready: Callable[[], None] | None = None) -> CaptureStats:
    """Capture ``interface`` into ``output`` (pcapng; a path is opened only once the
    socket is, so a capture that cannot start leaves no file) until ``count`` frames are
    written, ``duration`` seconds pass, or ``should_stop()`` names a reason. Returns the
    counts."""
    from importlib.metadata import PackageNotFoundError, version

    if filter_text:
        from handshaker.dissect.filter import compile_filter

        compile_filter(filter_text)  # a bad filter is a usage error before anything opens
    stats = CaptureStats(started_ns=time.time_ns())
    with LiveCapture(interface) as live, contextlib.ExitStack() as stack:
        if isinstance(output, (str, os.PathLike)):
            try:
                out: BinaryIO = stack.enter_context(open(output, "wb"))
            except OSError as err:
                raise UsageError(f"{os.fspath(output)}: cannot write ({err.strerror})") \
                    from None
        else:
            out = output
        try:
            app = f"handshaker {version('handshaker')}"
        except PackageNotFoundError:  # running from a source tree
            app = "handshaker"
        w = PcapngWriter(out, application=app,
                         os_name=f"{platform.system()} {platform.release()}")
        iface = w.add_interface(live.linktype, interface, snaplen=live.snaplen,
                                filter_text=filter_text or "")
        out.flush()
        if ready is not None:
            ready()
        for frames in bursts(live, filter_text=filter_text, count=count, duration=duration,
                             should_stop=should_stop, stats=stats):
            for ts, data, wirelen in frames:
                w.packet(iface, ts, data, wirelen=wirelen)
            if frames:
                out.flush()
            if progress is not None:
                progress(stats)
        w.statistics(iface, stats.ended_ns, start_ns=stats.started_ns, end_ns=stats.ended_ns,
                     received=stats.kernel_received, dropped=stats.kernel_dropped,
                     accepted=stats.written)
        out.flush()
    return stats


__all__ = ["CAPABILITY_HINT", "CaptureStats", "LiveCapture", "bursts", "capture", "frame_batch",
           "interface_linktype"]
