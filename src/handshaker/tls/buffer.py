"""A bounds-checked cursor over bytes, and its mirror image for building.

Every TLS structure is a tree of fixed-size integers and length-prefixed
vectors (RFC 8446 §3). :class:`Buffer` reads them so that nothing is ever
read short or silently left over (STYLE §4):

* reading past the end of the data raises :class:`TruncatedError` (the data
  was cut: a snaplen, a capture that stops) — unless the buffer was made
  with ``complete=True`` (the data is a whole unit whose outer length is
  already known, such as a handshake message body), where running out means
  the contents contradict that length: :class:`MalformedError`;
* reading past the end of an enclosing length-prefixed block raises
  :class:`MalformedError` (an inner length contradicts an outer one);
* a block that is not consumed exactly raises :class:`MalformedError`.

Every error carries the absolute byte offset (``base_offset`` + position)
of the field that failed and the field's name when the caller gave one.

Usage::

    buf = Buffer(body, base_offset=offset_of_body_in_stream)
    version = buf.pull_uint16("legacy_version")
    with buf.pull_block(2, "cipher_suites"):
        while not buf.eof():
            suites.append(buf.pull_uint16("cipher_suite"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from handshaker.errors import MalformedError, TruncatedError

T = TypeVar("T")

_MAX_UINT = {1: 0xFF, 2: 0xFFFF, 3: 0xFFFFFF, 4: 0xFFFFFFFF}


class Buffer:
    """A read cursor over ``data`` whose every read is checked against the limits.

    ``base_offset`` is the position of ``data[0]`` in whatever the caller
    numbers (a stream offset, a frame offset): errors report
    ``base_offset + position``.
    """

    __slots__ = ("_complete", "_data", "_limits", "_pos", "base_offset")

    def __init__(self, data: bytes | bytearray | memoryview, base_offset: int = 0, *,
                 complete: bool = False) -> None:
        self._data = bytes(data)
        self._pos = 0
        # stack of block ends; the bottom one is the end of the data
        self._limits: list[int] = [len(self._data)]
        self._complete = complete
        self.base_offset = base_offset

    # -- position -----------------------------------------------------------

    def tell(self) -> int:
        """Position from the start of ``data``."""
        return self._pos

    @property
    def offset(self) -> int:
        """Absolute offset of the next byte to read."""
        return self.base_offset + self._pos

    def consumed_since(self, start: int) -> bytes:
        """The bytes already read from position ``start`` (a :meth:`tell`) to here."""
        return self._data[start:self._pos]

    def remaining(self) -> int:
        """Bytes left before the innermost limit (the current block, or the data)."""
        return self._limits[-1] - self._pos

    def eof(self) -> bool:
        """True when the innermost block (or the data) has been read to its end."""
        return self._pos >= self._limits[-1]

    # -- errors -------------------------------------------------------------

    def _short(self, need: int, field: str | None) -> Exception:
        """The error for a read of ``need`` bytes that does not fit."""
        have = self._limits[-1] - self._pos
        at = self.base_offset + self._pos
        if len(self._limits) > 1:
            return MalformedError(
                f"{field or 'field'} needs {need} bytes but its enclosing block has {have} left",
                offset=at, field=field)
        if self._complete:
            return MalformedError(
                f"{field or 'field'} needs {need} bytes but only {have} are left in the message",
                offset=at, field=field)
        return TruncatedError(f"data ends: {field or 'field'} needs {need} bytes, {have} left",
                              offset=at, field=field)

    def _take(self, n: int, field: str | None) -> bytes:
        if n < 0:
            raise MalformedError(f"negative length {n}", offset=self.offset, field=field)
        end = self._pos + n
        if end > self._limits[-1]:
            raise self._short(n, field)
        out = self._data[self._pos:end]
        self._pos = end
        return out

    # -- integers -----------------------------------------------------------

    def pull_uint8(self, field: str | None = None) -> int:
        if self._pos + 1 > self._limits[-1]:
            raise self._short(1, field)
        v = self._data[self._pos]
        self._pos += 1
        return v

    def pull_uint16(self, field: str | None = None) -> int:
        return int.from_bytes(self._take(2, field), "big")

    def pull_uint24(self, field: str | None = None) -> int:
        return int.from_bytes(self._take(3, field), "big")

    def pull_uint32(self, field: str | None = None) -> int:
        return int.from_bytes(self._take(4, field), "big")

    def pull_uint(self, size: int, field: str | None = None) -> int:
        """An unsigned big-endian integer of ``size`` (1–4) bytes."""
        return int.from_bytes(self._take(size, field), "big")

    # -- byte strings -------------------------------------------------------

    def pull_bytes(self, n: int, field: str | None = None) -> bytes:
        """Exactly ``n`` bytes."""
        return self._take(n, field)

    def pull_rest(self, field: str | None = None) -> bytes:
        """Everything up to the innermost limit."""
        return self._take(self._limits[-1] - self._pos, field)

    def pull_vector(self, length_bytes: int, field: str | None = None, *,
                    min_length: int = 0, max_length: int | None = None) -> bytes:
        """A vector ``opaque x<min..max>`` with a ``length_bytes``-byte length prefix.

        ``min_length``/``max_length`` are the RFC's bounds on the length; a
        length outside them is malformed.
        """
        at = self.offset
        n = self.pull_uint(length_bytes, field)
        if n < min_length or (max_length is not None and n > max_length):
            hi = _MAX_UINT[length_bytes] if max_length is None else max_length
            raise MalformedError(f"{field or 'vector'} length {n} outside <{min_length}..{hi}>",
                                 offset=at, field=field)
        return self._take(n, field)

    # -- blocks -------------------------------------------------------------

    @contextmanager
    def pull_block(self, length_bytes: int, field: str | None = None, *,
                   min_length: int = 0, max_length: int | None = None) -> Iterator[int]:
        """Read a length prefix and confine reads to that many bytes.

        Yields the block's length. Leaving the ``with`` block raises
        :class:`MalformedError` unless the block was consumed exactly.
        """
        at = self.offset
        n = self.pull_uint(length_bytes, field)
        if n < min_length or (max_length is not None and n > max_length):
            hi = _MAX_UINT[length_bytes] if max_length is None else max_length
            raise MalformedError(f"{field or 'block'} length {n} outside <{min_length}..{hi}>",
                                 offset=at, field=field)
        end = self._pos + n
        if end > self._limits[-1]:
            raise self._short(n, field)
        self._limits.append(end)
        try:
            yield n
        finally:
            self._limits.pop()
        if self._pos != end:
            raise MalformedError(
                f"{field or 'block'}: {end - self._pos} bytes left over in a block of {n}",
                offset=self.offset, field=field)

    def pull_list(self, length_bytes: int, item: Callable[[Buffer], T], field: str | None = None,
                  *, min_length: int = 0, max_length: int | None = None) -> tuple[T, ...]:
        """A length-prefixed block holding ``item``s until it is used up exactly."""
        out: list[T] = []
        with self.pull_block(length_bytes, field, min_length=min_length, max_length=max_length):
            while not self.eof():
                out.append(item(self))
        return tuple(out)

    def pull_uint16_list(self, length_bytes: int, field: str | None = None, *,
                         min_length: int = 0, max_length: int | None = None) -> tuple[int, ...]:
        """A vector of uint16 (cipher suites, groups, signature schemes, versions)."""
        at = self.offset
        raw = self.pull_vector(length_bytes, field, min_length=min_length, max_length=max_length)
        if len(raw) % 2:
            raise MalformedError(f"{field or 'list'} length {len(raw)} is odd (a list of uint16)",
                                 offset=at, field=field)
        return tuple(int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2))

    def expect_eof(self, what: str = "message") -> None:
        """Raise :class:`MalformedError` unless the innermost limit is reached."""
        if not self.eof():
            raise MalformedError(f"{self.remaining()} bytes left over after the {what}",
                                 offset=self.offset, field=what)


class BufferWriter:
    """Builds what :class:`Buffer` reads: integers, vectors and length-prefixed blocks.

    Values that do not fit their field raise :class:`ValueError`: building
    wrong bytes is a programming error, not bad input.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def data(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def push_uint(self, size: int, value: int) -> None:
        if not 0 <= value <= _MAX_UINT[size]:
            raise ValueError(f"{value} does not fit in {size} bytes")
        self._buf += value.to_bytes(size, "big")

    def push_uint8(self, value: int) -> None:
        self.push_uint(1, value)

    def push_uint16(self, value: int) -> None:
        self.push_uint(2, value)

    def push_uint24(self, value: int) -> None:
        self.push_uint(3, value)

    def push_uint32(self, value: int) -> None:
        self.push_uint(4, value)

    def push_bytes(self, value: bytes) -> None:
        self._buf += value

    def push_vector(self, length_bytes: int, value: bytes) -> None:
        self.push_uint(length_bytes, len(value))
        self._buf += value

    def push_uint16_list(self, length_bytes: int, values: tuple[int, ...] | list[int]) -> None:
        self.push_uint(length_bytes, 2 * len(values))
        for v in values:
            self.push_uint16(v)

    @contextmanager
    def push_block(self, length_bytes: int) -> Iterator[None]:
        """Write a length prefix that covers whatever is pushed inside the block."""
        at = len(self._buf)
        self._buf += bytes(length_bytes)
        yield
        n = len(self._buf) - at - length_bytes
        if n > _MAX_UINT[length_bytes]:
            raise ValueError(f"block of {n} bytes does not fit a {length_bytes}-byte length")
        self._buf[at:at + length_bytes] = n.to_bytes(length_bytes, "big")
