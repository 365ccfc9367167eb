"""The contract between ``capture/`` and the stages after it.

A capture is read as a sequence of :class:`FrameBatch` (the hot path: many
frames at once, their bytes in one buffer, their metadata in numpy columns)
or as :class:`Frame` objects (one at a time, for detail views). Both number
frames from 1 in file order, as Wireshark does, counting every packet record
whatever its link type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# Link-layer header types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

LINKTYPE_NAMES = {
    LINKTYPE_NULL: "null",
    LINKTYPE_ETHERNET: "ether",
    LINKTYPE_PPP: "ppp",
    LINKTYPE_RAW: "rawip",
    LINKTYPE_LOOP: "loop",
    LINKTYPE_LINUX_SLL: "linux-sll",
    LINKTYPE_IPV4: "rawip4",
    LINKTYPE_IPV6: "rawip6",
    LINKTYPE_LINUX_SLL2: "linux-sll2",
}


@dataclass(frozen=True, slots=True)
class Interface:
    """One capture interface (pcapng IDB; a classic pcap has exactly one)."""

    linktype: int
    snaplen: int
    name: str | None = None
    description: str | None = None
    filter: str | None = None
    tsresol_ns: tuple[int, int] = (1000, 1)  # ticks -> ns as (num, den): ns = ticks*num//den
    tsoffset_s: int = 0
    section: int = 0
    fcs_len: int | None = None  # bytes of FCS at the end of each frame; None = not stated


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured packet record."""

    number: int  # 1-based, in file order
    ts_ns: int  # nanoseconds since the Unix epoch
    linktype: int
    data: bytes  # the captured bytes (caplen of them)
    wirelen: int  # the packet's length on the wire
    interface: int = 0  # global interface index (see Capture.interfaces)
    file_offset: int = 0  # where the record starts in the (decompressed) file

    @property
    def caplen(self) -> int:
        return len(self.data)

    @property
    def truncated(self) -> bool:
        """True when the capture kept fewer bytes than were on the wire (snaplen)."""
        return len(self.data) < self.wirelen


@dataclass(slots=True)
class FrameBatch:
    """Many frames at once: bytes in ``buf``, metadata as numpy columns.

    Frame ``i`` of the batch is ``buf[start[i] : start[i] + caplen[i]]``; its
    frame number is ``first_number + i`` (``numbers[i]`` in a batch made by
    :meth:`take`).
    """

    buf: bytes | bytearray | memoryview
    first_number: int
    start: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int32]
    wirelen: npt.NDArray[np.int32]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int32]
    interface: npt.NDArray[np.int32]
    file_offset: npt.NDArray[np.int64]
    numbers: npt.NDArray[np.int64] | None = None  # (see take)
    keep: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.start)

    @property
    def number(self) -> npt.NDArray[np.int64]:
        if self.numbers is not None:
            return self.numbers
        return np.arange(self.first_number, self.first_number + len(self.start), dtype=np.int64)

    def take(self, keep: npt.NDArray[np.bool_]) -> FrameBatch:
        """The frames where ``keep`` is true, as a batch of their own (sharing ``buf``,
        keeping their numbers)."""
        return FrameBatch(self.buf, self.first_number, self.start[keep], self.caplen[keep],
                          self.wirelen[keep], self.ts_ns[keep], self.linktype[keep],
                          self.interface[keep], self.file_offset[keep], self.number[keep])

    @classmethod
    def split(cls, buf: bytes | bytearray | memoryview, first_number: int, size: int,
              start: npt.NDArray[np.int64], caplen: npt.NDArray[np.int32],
              wirelen: npt.NDArray[np.int32], ts_ns: npt.NDArray[np.int64],
              linktype: npt.NDArray[np.int32], interface: npt.NDArray[np.int32],
              file_offset: npt.NDArray[np.int64],
              keep: npt.NDArray[np.bool_] | None = None) -> Iterator[FrameBatch]:
        """Cut the columns of one buffer's records into batches of at most ``size`` frames."""
        whole = cls(buf, first_number, start, caplen, wirelen, ts_ns, linktype, interface,
                    file_offset, None, keep)
        for i in range(0, len(start), size):
            yield whole.slice(i, i + size)

    def slice(self, i: int, j: int) -> FrameBatch:
        """Frames i to j - 1 of this batch, as a batch of their own (sharing ``buf``)."""
        return FrameBatch(self.buf, self.first_number + i, self.start[i:j], self.caplen[i:j],
                          self.wirelen[i:j], self.ts_ns[i:j], self.linktype[i:j],
                          self.interface[i:j], self.file_offset[i:j],
                          None if self.numbers is None else self.numbers[i:j],
                          None if self.keep is None else self.keep[i:j])

    def frame(self, i: int) -> Frame:
        s = int(self.start[i])
        return Frame(
            number=self.first_number + i,
            ts_ns=int(self.ts_ns[i]),
            linktype=int(self.linktype[i]),
            data=bytes(self.buf[s : s + int(self.caplen[i])]),
            wirelen=int(self.wirelen[i]),
            interface=int(self.interface[i]),
            file_offset=int(self.file_offset[i]),
        )


@dataclass(frozen=True, slots=True)
class DecryptionSecrets:
    """A pcapng Decryption Secrets Block, kept for the decryption stage."""

    secrets_type: int  # 0x544c534b = TLS key log
    data: bytes
    frame_after: int  # number of the last frame read before this block (0 = none)


@dataclass(slots=True)
class CaptureInfo:
    """What the reader learned about the file besides the frames."""

    path: str
    format: str = "unknown"  # "pcap", "pcapng"
    compressed: bool = False
    interfaces: list[Interface] = field(default_factory=list)
    secrets: list[DecryptionSecrets] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    names: dict[bytes, str] = field(default_factory=dict)  # NRB: address bytes -> name
