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

import contextlib
import mmap
import os
import stat
import struct
import sys
import zlib
from typing import Any, BinaryIO, NoReturn, Protocol

from handshaker import procs

CHUNK_SIZE = 8 << 20  # bytes per chunk: fits the L2/L3 sweet spot (measured, see tests)
FIRST_CHUNK = 1 << 20  # first chunk of a stream of unknown size; grows x4 up to CHUNK_SIZE
SLACK = 64  # spare bytes after the data so fixed-size header windows never run off the buffer
GZIP_MAGIC = b"\x1f\x8b"
_RAW_READ = 1 << 18  # compressed bytes read at a time
INFLATE_STEP = 1 << 18  # inflated bytes asked of zlib at a time (see GzipStream._step)


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class _Pieces:
    """A stream read with ``readinto`` out of the pieces ``_more`` gives, one after the
    other (an empty piece: the end)."""

    _left: memoryview  # what is not read yet of the piece in hand

    def readinto(self, buffer: memoryview, /) -> int:
        n = 0
        want = len(buffer)
        while n < want:
            if not self._left:
                self._left = self._more()
                if not self._left:
                    break
            k = min(want - n, len(self._left))
            buffer[n:n + k] = self._left[:k]
            self._left = self._left[k:]
            n += k
        return n

    def _more(self) -> memoryview:
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading (nothing to end in this process)."""


class GzipStream(_Pieces):
    """A gzip stream (one or more members) read with ``readinto``.

    Unlike :class:`gzip.GzipFile` it keeps what was decompressed before a cut
    or a corruption (all but the last INFLATE_STEP bytes at most, which zlib
    gives none of) and records the problem in :attr:`problem` instead of
    raising, so that the frames before the damage can still be read.
    """

    def __init__(self, raw: BinaryIO, initial: bytes = b"") -> None:
        self._raw = raw
        self._pending = initial
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False
        self._left = memoryview(b"")  # inflated, not read yet
        self.problem: str | None = None  # why decompression stopped early
        self.problem_is_error = True  # False: only trailing bytes were ignored

    def _read_raw(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        return self._raw.read(_RAW_READ) or b""

    def _more(self) -> memoryview:
        """The next bytes out of zlib, at most INFLATE_STEP of them: a size decided here,
        not by the caller's buffer, so that what a damaged stream yields does not depend
        on how it is read (zlib gives nothing of a call that meets the damage)."""
        while not self._done:
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
                out = d.decompress(data, INFLATE_STEP)
            except zlib.error as err:
                self._done = True
                self.problem = f"gzip data corrupt ({err})"
                break
            if out:
                return memoryview(out)
        return memoryview(b"")


class GzipProcess(_Pieces):
    """A :class:`GzipStream` inflated by a forked child process: the analysis goes on
    on one core while zlib works on another (a thread would not do: the analysis holds
    the GIL). The same bytes, and the same :attr:`problem` once the stream has ended,
    as :class:`GzipStream` gives in this process.

    The child inflates into the slots of a ring of shared memory (RING_SLOTS of
    RING_SLOT bytes, mapped before the fork) as far ahead as the ring allows, and says
    on a pipe which slot it filled and with how many bytes (a length of 0: the end);
    the reader copies a slot out and hands it back on another pipe. A pipe alone
    would not do: it holds 64 KiB, and the child would wait on each read.

    Only where forking is safe (no other thread runs) and on POSIX (:meth:`start`).
    The child ends at the end of the stream, when the reader closes (it stops early)
    or when this process dies.
    """

    def __init__(self, pid: int, ring: mmap.mmap, filled_fd: int, free_fd: int) -> None:
        self._pid = pid
        self._ring = memoryview(ring)
        self._filled = os.fdopen(filled_fd, "rb")
        self._free_fd = free_fd
        self._slot = -1  # the slot being read (-1: none)
        self._left = memoryview(b"")
        self._ended = False
        self.problem: str | None = None
        self.problem_is_error = True

    @classmethod
    def start(cls, raw: BinaryIO, initial: bytes) -> GzipProcess | None:
        """Inflate ``raw`` (after ``initial``, the bytes already read of it) in a child
        process; None where that cannot be done safely here."""
        if not procs.fork_safe():
            return None
        ring = mmap.mmap(-1, RING_SLOTS * RING_SLOT)  # shared with the child
        filled_r, filled_w = os.pipe()
        free_r, free_w = os.pipe()
        prctl = procs.libc_prctl()  # (looked up before the fork: no dlopen in the child)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: no return from here
            os.close(filled_r)
            os.close(free_w)
            _inflate_to(raw, initial, ring, filled_w, free_r, parent, prctl)
        os.close(filled_w)
        os.close(free_r)
        return cls(pid, ring, filled_r, free_w)

    def _more(self) -> memoryview:
        """The next filled slot (the one read before handed back)."""
        if self._slot >= 0:  # read: the child may fill it again
            # (the child may have ended already, its last slots filled: no matter)
            with contextlib.suppress(BrokenPipeError):
                os.write(self._free_fd, _SLOT.pack(self._slot, 0))
            self._slot = -1
        if self._ended:
            return memoryview(b"")
        msg = self._filled.read(_SLOT.size)
        slot, n = _SLOT.unpack(msg) if len(msg) == _SLOT.size else (0, 0)
        if n:
            self._slot = slot
            return self._ring[slot * RING_SLOT:slot * RING_SLOT + n]
        self._ended = True  # the end: why it ended follows
        status = self._filled.read()
        self._reap()
        if status[:1] in (b"E", b"W"):
            self.problem = status[1:].decode("utf-8", "replace")
            self.problem_is_error = status[:1] == b"E"
        elif status[:1] == b"R":  # the file could not be read: as GzipStream raises it
            raise OSError(status[1:].decode("utf-8", "replace"))
        elif status[:1] != b"K":
            self.problem = "the gzip inflating process ended without a word"
        return memoryview(b"")

    def close(self) -> None:
        """Stop reading (the child ends at its next word) and wait for the child."""
        if not self._filled.closed:
            self._filled.close()
            os.close(self._free_fd)
        self._reap()

    def _reap(self) -> None:
        if self._pid:
            pid, self._pid = self._pid, 0
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


#: the ring a GzipProcess child inflates into: slots of this many bytes, this many of them
RING_SLOT = 2 << 20
RING_SLOTS = 12
_SLOT = struct.Struct("=II")  # a slot's index and how many bytes it holds


def _inflate_to(raw: BinaryIO, initial: bytes, ring: mmap.mmap, filled_fd: int,
                free_fd: int, parent: int, prctl: Any) -> NoReturn:
    """The child of :meth:`GzipProcess.start`: inflate into the ring's free slots, say
    each on ``filled_fd``, then the end (a length of 0) and the outcome (K: complete; E
    or W and the problem; R and why the file could not be read), and exit."""
    code = 0
    try:
        procs.end_with_parent(parent, prctl)
        gz = GzipStream(raw, initial)
        view = memoryview(ring)
        free = list(range(RING_SLOTS))
        status = b"K"
        while True:
            if not free:  # wait for the reader to hand one back
                msg = os.read(free_fd, _SLOT.size)
                if len(msg) < _SLOT.size:
                    break  # the reader is gone
                free.append(_SLOT.unpack(msg)[0])
            slot = free.pop()
            try:
                n = gz.readinto(view[slot * RING_SLOT:(slot + 1) * RING_SLOT])
            except OSError as err:
                n, status = 0, b"R" + str(err.strerror or err).encode()
            if not n:
                if gz.problem is not None:
                    status = (b"E" if gz.problem_is_error else b"W") + gz.problem.encode()
                os.write(filled_fd, _SLOT.pack(0, 0) + status)
                break
            os.write(filled_fd, _SLOT.pack(slot, n))
    except BrokenPipeError:  # the reader stopped early: nothing more is wanted
        pass
    except BaseException:
        code = 1
    finally:
        os._exit(code)


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

    @property
    def can_jump(self) -> bool:
        """The stream is a regular file read as it is: :meth:`read_at` and :meth:`jump`
        work."""
        seekable = getattr(self.stream, "seekable", None)
        return self._size_hint is not None and seekable is not None and seekable()

    def read_at(self, into: bytearray, offset: int) -> int:
        """Read file bytes from ``offset`` on into ``into``, past the window (only where
        :attr:`can_jump`); how many (fewer at the end of the file)."""
        return os.preadv(self.stream.fileno(), [into], offset)  # type: ignore[attr-defined]

    def jump(self, offset: int) -> None:
        """Go on from file offset ``offset`` (only where :attr:`can_jump`): the window
        empties, the next :meth:`refill` reads from there."""
        self.stream.seek(offset)  # type: ignore[attr-defined]
        self.base = offset
        self.end = 0
        self.eof = False

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
