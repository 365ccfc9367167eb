"""Where capture bytes come from: files, standard input, gzip; and the chunk buffer.

Theory of operation
-------------------
The record readers (:mod:`.pcap`, :mod:`.pcapng`) never read a stream
themselves. They walk a :class:`ChunkBuffer`: one large ``bytearray`` holding
``buf[0:end]`` of the (decompressed) file starting at file offset ``base``.
When a walker reaches a record that is not complete in the buffer it calls
:meth:`ChunkBuffer.refill`, which copies the incomplete tail to the front of
another buffer and fills the rest from the stream with ``readinto``. Batches
handed to the caller keep referring to the buffer they were cut from, so a
buffer is reused only when nothing outside this module refers to it any more
(checked with the reference count); otherwise a fresh one is allocated. Two
buffers wait for reuse: the caller still holds the last batch of the chunk
before while the next is read, so the one before that is the one that is
free (a fresh buffer costs its zeroing and a page fault per 4 KiB).
Memory therefore stays bounded by a few chunks, never by the file size.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib
from typing import BinaryIO, Protocol

CHUNK_SIZE = 8 << 20  # bytes per chunk: fits the L2/L3 sweet spot (measured, see tests)
FIRST_CHUNK = 1 << 20  # first chunk of a stream of unknown size; grows x4 up to CHUNK_SIZE
SLACK = 64  # spare bytes after the data so fixed-size header windows never run off the buffer
GZIP_MAGIC = b"\x1f\x8b"
_RAW_READ = 1 << 18  # compressed bytes read at a time


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class GzipStream:
    """A gzip stream (one or more members) read with ``readinto``.

    Unlike :class:`gzip.GzipFile` it keeps everything decompressed before a
    cut or a corruption and records the problem in :attr:`problem` instead of
    raising, so that the frames before the damage can still be read.
    """

    def __init__(self, raw: BinaryIO, initial: bytes = b"") -> None:
        self._raw = raw
        self._pending = initial
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False
        self.problem: str | None = None  # why decompression stopped early
        self.problem_is_error = True  # False: only trailing bytes were ignored

    def _read_raw(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw.read(_RAW_READ) or b""

    def readinto(self, buffer: memoryview, /) -> int:
        n = 0
        want = len(buffer)
        while n < want and not self._done:
            d = self._d
            if d.eof:
                # RFC 1952 §2.2: a gzip file is a series of members. (Test eof first:
                # at a member's end zlib leaves the rest in both unused_data and
                # unconsumed_tail.)
                data = d.unused_data
                while len(data) < 2:
                    more = self._read_raw()
                    if not more:
                        break
                    data += more
                if not data:
                    self._done = True
                    break
                if data[:2] != GZIP_MAGIC:
                    self._done = True
                    if data.strip(b"\0") or self._raw.read(1 << 16).strip(b"\0"):
                        self.problem = "bytes after the end of the gzip stream ignored"
                        self.problem_is_error = False
                    break
                self._d = d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif d.unconsumed_tail:
                data = d.unconsumed_tail
            else:
                data = self._read_raw()
                if not data:
                    self._done = True
                    self.problem = "gzip stream ends before its end marker (file cut short)"
                    break
            try:
                out = d.decompress(data, want - n)
            except zlib.error as err:
                self._done = True
                self.problem = f"gzip data corrupt ({err})"
                break
            if out:
                buffer[n : n + len(out)] = out
                n += len(out)
        return n


def read_up_to(stream: Readable, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at the end of the stream."""
    buf = bytearray(size)
    mv = memoryview(buf)
    got = 0
    while got < size:
        n = stream.readinto(mv[got:])
        if not n:
            break
        got += n
    mv.release()
    return bytes(buf[:got])


class ChunkBuffer:
    """The sliding window over the stream that the record walkers read.

    ``buf[0:end]`` holds file bytes ``base .. base+end``; ``eof`` is set once
    the stream has no more. See the module docstring for the reuse rule.
    """

    def __init__(
        self,
        stream: Readable,
        initial: bytes = b"",
        *,
        chunk_size: int = CHUNK_SIZE,
        size_hint: int | None = None,
    ) -> None:
        self.stream = stream
        self.buf = bytearray(initial) + bytes(SLACK)
        self.end = len(initial)
        self.base = 0
        self.eof = False
        self.chunk_size = chunk_size
        self._size_hint = size_hint  # total stream length when known (regular files)
        self._next = min(FIRST_CHUNK, chunk_size)
        self._spares: list[bytearray] = []  # buffers read before, newest last

    def _target(self, keep: int, need: int) -> int:
        if self._size_hint is not None:
            left = self._size_hint - (self.base + self.end)
            size = min(self.chunk_size, keep + max(left, 1 << 16))
        else:
            size = self._next
            self._next = min(self._next * 4, self.chunk_size)
        return max(size, need)

    def _allocate(self, size: int) -> bytearray:
        spares = self._spares
        for i in range(len(spares)):
            # free when no batch, view or slice still refers to it: the references are
            # then the list's, the name's and getrefcount's own
            spare = spares[i]
            if len(spare) >= size + SLACK and sys.getrefcount(spare) <= 3:
                del spares[i]
                return spare
        return bytearray(size + SLACK)

    def refill(self, pos: int, need: int) -> int:
        """Keep ``buf[pos:end]``, read more after it; return the new position of ``pos`` (0).

        Afterwards at least ``need`` bytes are available from the returned
        position unless the stream ended first (then ``eof`` is set).
        """
        keep = self.end - pos
        size = self._target(keep, need)
        old = self.buf
        new = self._allocate(size)
        new[:keep] = memoryview(old)[pos : self.end]
        filled = keep
        if not self.eof:
            mv = memoryview(new)
            try:
                while filled < size:
                    n = self.stream.readinto(mv[filled:size])
                    if not n:
                        self.eof = True
                        break
                    filled += n
            finally:
                mv.release()
        self.base += pos
        self.buf = new
        self.end = filled
        if len(old) > 2 * SLACK:
            self._spares = [*self._spares[-1:], old]
        return 0

    def ensure(self, pos: int, need: int) -> int:
        """Make ``need`` bytes available from ``pos`` if the stream has them; return new pos."""
        if self.end - pos >= need or self.eof:
            return pos
        return self.refill(pos, need)


def regular_file_size(f: BinaryIO) -> int | None:
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None
