"""Opening a capture file: format detection and the :class:`Capture` object.

``open_capture`` looks at the first bytes, not the file name: gzip (1f 8b) is
unwrapped transparently, then the magic number selects classic pcap or
pcapng. Everything that makes the file unusable from the start (missing,
empty, unknown magic, cut inside the file header) raises :class:`CaptureError`
with one line naming the file, the byte offset and why. Anything found later
while reading becomes a :class:`Diagnostic` in ``Capture.diagnostics``: what
came before it is still yielded, and iteration never raises.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO, cast

from ..errors import CaptureError, Diagnostic
from .model import CaptureInfo, Frame, FrameBatch
from .pcap import MAGICS as PCAP_MAGICS
from .pcap import MODIFIED_MAGICS, PcapReader
from .pcapng import PcapngReader
from .source import (
    CHUNK_SIZE,
    GZIP_MAGIC,
    ChunkBuffer,
    GzipProcess,
    GzipStream,
    Readable,
    read_up_to,
    regular_file_size,
)

STDIN_NAME = "<stdin>"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
DEFAULT_BATCH = 65536

# Other containers, named so that the error says what the file is.
_OTHER_MAGICS = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"\xfd\x37\x7a\x58", "xz-compressed data (decompress it first)"),
    (b"\x42\x5a\x68", "bzip2-compressed data (decompress it first)"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a zip archive"),
)


class Capture:
    """An open capture file. Read it once with :meth:`batches` or :meth:`frames`.

    ``info`` is filled as the file is read: for pcapng, interfaces, names and
    secrets that appear after the first packet are known only once iteration
    has passed them. ``diagnostics`` collects what went wrong while reading
    (iteration itself never raises).

    Frames are numbered as tshark numbers them. tshark 4.0 also gives a frame
    number to a few pcapng blocks that are not packets (custom blocks, systemd
    journal entries, Sysdig events); they are not yielded, but their numbers
    are skipped, so numbers may jump between two batches (never inside one).
    """

    def __init__(
        self,
        path: str,
        info: CaptureInfo,
        reader: PcapReader | PcapngReader,
        chunks: ChunkBuffer,
        gzip: GzipStream | GzipProcess | None,
        closer: BinaryIO | None,
        diagnostics: list[Diagnostic],
    ) -> None:
        self.path = path
        self.info = info
        self.diagnostics = diagnostics
        self._reader = reader
        self._chunks = chunks
        self._gzip = gzip
        self._closer = closer
        self._gen: Iterator[FrameBatch] | None = None
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        gz = " gzip" if self.info.compressed else ""
        return f"<Capture {self.path!r} {self.info.format}{gz}>"

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        """Stop reading and close the file (standard input is left open)."""
        self._closed = True
        if self._gen is not None:
            gen, self._gen = self._gen, None
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        if self._gzip is not None:
            self._gzip.close()
        if self._closer is not None:
            closer, self._closer = self._closer, None
            closer.close()

    def on_disk(self, offset: int) -> int:
        """How far the reading has got into the file as it is on disk, ``offset`` being
        how far into the capture: the same, but for a gzip file, whose compressed bytes
        read are told (for a progress bar's share of the file's size): the file's offset,
        which a child inflating it shares (GzipProcess; a little ahead of what was read
        here, by what its ring holds)."""
        if self._gzip is None or self._closer is None:  # (standard input: no size either)
            return offset
        try:
            return os.lseek(self._closer.fileno(), 0, os.SEEK_CUR)
        except OSError:
            return offset

    def batches(self, size: int = DEFAULT_BATCH) -> Iterator[FrameBatch]:
        """The frames in file order, at most ``size`` per batch (see :class:`FrameBatch`).

        A batch's ``buf`` is the chunk it was cut from; it stays valid as long
        as the batch is kept. A capture is read once: a second call raises
        :class:`CaptureError`.
        """
        if size < 1:
            raise ValueError("batch size must be at least 1")
        if self._started:
            raise CaptureError("the capture was already read; open it again", file=self.path)
        self._started = True
        self._gen = self._run(size)
        return self._gen

    def skip_to(self, offset: int) -> int | None:
        """Before :meth:`batches`: pass over the frames whose records start before file
        offset ``offset`` without making batches of them, where the format allows
        (classic pcap; the others give every frame); their numbers are counted. The
        time of the last frame passed over (None: none was)."""
        if self._started or not isinstance(self._reader, PcapReader):
            return None
        try:
            return self._reader.skip_to(offset)
        except OSError:  # (batches reads on from there, and reports it)
            return None

    def want(self, hashes: Any) -> None:
        """From the next chunk read on, mark in each batch the frames that may be of the
        4-tuples with these hashes (uint64, as analysis.tuple_hash gives them), as
        FrameBatch.keep, where the format and the compiled helper can tell (classic pcap,
        Ethernet); None: no more marking."""
        if isinstance(self._reader, PcapReader):
            self._reader.wanted = hashes

    def frames(self) -> Iterator[Frame]:
        """The frames one at a time (built on :meth:`batches`)."""
        for batch in self.batches():
            mv = memoryview(batch.buf)
            first = batch.first_number
            rows = zip(
                batch.start.tolist(),
                batch.caplen.tolist(),
                batch.wirelen.tolist(),
                batch.ts_ns.tolist(),
                batch.linktype.tolist(),
                batch.interface.tolist(),
                batch.file_offset.tolist(),
                strict=True,
            )
            for i, (s, c, w, t, lt, ifc, fo) in enumerate(rows):
                if self._closed:
                    return
                # Positional: a frozen dataclass takes keywords much more slowly.
                # Order: number, ts_ns, linktype, data, wirelen, interface, file_offset.
                yield Frame(first + i, t, lt, bytes(mv[s : s + c]), w, ifc, fo)
            del mv

    def _run(self, size: int) -> Iterator[FrameBatch]:
        reader = self._reader
        chunks = self._chunks
        try:
            yield from reader.batches(size)
        except OSError as err:
            self._diag(f"read error: {err.strerror or err}", chunks.base + chunks.end)
            return
        except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as err:
            # Not expected on any input; kept as a diagnostic so the observer goes on.
            self._diag(
                f"could not read further ({type(err).__name__}: {err})", chunks.base + chunks.end
            )
            return
        gz = self._gzip
        if gz is not None and gz.problem and chunks.eof:
            self._diag(gz.problem, chunks.base + chunks.end,
                       "error" if gz.problem_is_error else "warning")

    def _diag(self, message: str, offset: int, severity: str = "error") -> None:
        self.diagnostics.append(
            Diagnostic(message, self.path, self._reader.next_number, offset, severity)
        )


def open_capture(
    path: str | os.PathLike[str] | None = None, *, chunk_size: int = CHUNK_SIZE,
    inflate_aside: bool = False,
) -> Capture:
    """Open a pcap or pcapng file, gzip-compressed or not; ``"-"`` or None reads stdin.

    ``inflate_aside``: a gzip file is inflated by a child process on another core
    (:class:`~handshaker.capture.source.GzipProcess`), where that is safe.

    Raises :class:`CaptureError` when the file cannot be used at all.
    """
    raw: BinaryIO
    closer: BinaryIO | None
    if path is None or (isinstance(path, str) and path == "-"):
        name = STDIN_NAME
        raw = sys.stdin.buffer
        closer = None
    else:
        name = os.fsdecode(os.fspath(path))
        try:
            raw = open(name, "rb", buffering=0)  # noqa: SIM115 - owned by the Capture
        except OSError as err:
            raise CaptureError(f"cannot open: {err.strerror or err}", file=name) from err
        closer = raw
    try:
        return _open_stream(name, raw, closer, chunk_size, inflate_aside)
    except BaseException:
        if closer is not None:
            closer.close()
        raise


def _open_stream(name: str, raw: BinaryIO, closer: BinaryIO | None, chunk_size: int,
                 inflate_aside: bool = False) -> Capture:
    info = CaptureInfo(path=name)
    diagnostics: list[Diagnostic] = []
    # typing.BinaryIO does not declare readinto; files and sys.stdin.buffer have it.
    stream = cast(Readable, raw)
    try:
        head = read_up_to(stream, 4)
    except OSError as err:
        raise CaptureError(f"cannot read: {err.strerror or err}", file=name, offset=0) from err
    gz: GzipStream | GzipProcess | None = None
    size_hint = regular_file_size(raw)
    if head[:2] == GZIP_MAGIC:
        gz = (GzipProcess.start(raw, head) if inflate_aside else None) or GzipStream(raw, head)
        stream = gz
        size_hint = None
        info.compressed = True
    try:
        if gz is not None:
            try:
                head = read_up_to(gz, 4)
            except OSError as err:
                raise CaptureError(f"cannot read: {err.strerror or err}", file=name,
                                   offset=0) from err
            if len(head) < 4 and gz.problem:
                raise CaptureError(f"{gz.problem}; nothing usable", file=name, offset=len(head))
        return _open_reader(name, head, stream, gz, closer, chunk_size, size_hint, info,
                            diagnostics)
    except BaseException:
        if gz is not None:
            gz.close()  # (its process, if it has one, ends)
        raise


def _open_reader(name: str, head: bytes, stream: Readable, gz: GzipStream | GzipProcess | None,
                 closer: BinaryIO | None, chunk_size: int, size_hint: int | None,
                 info: CaptureInfo, diagnostics: list[Diagnostic]) -> Capture:
    where = " after gzip decompression" if gz is not None else ""
    if not head:
        raise CaptureError(f"empty file{where}: no capture header", file=name, offset=0)
    expected = "expected pcap (a1b2c3d4, a1b23c4d), pcapng (0a0d0d0a) or gzip (1f8b)"
    if len(head) < 4:
        raise CaptureError(
            f"truncated file header{where}: only {len(head)} bytes ({head.hex(' ')}); {expected}",
            file=name,
            offset=0,
        )
    chunks = ChunkBuffer(stream, head, chunk_size=chunk_size, size_hint=size_hint)
    reader: PcapReader | PcapngReader
    if head in PCAP_MAGICS:
        reader = PcapReader(chunks, info, diagnostics)
    elif head == PCAPNG_MAGIC:
        reader = PcapngReader(chunks, info, diagnostics)
    elif head in MODIFIED_MAGICS:
        raise CaptureError(
            f"a \"modified\" (Kuznetzov) pcap{where}: this variant is not supported",
            file=name,
            offset=0,
        )
    else:
        what = next((label for magic, label in _OTHER_MAGICS if head.startswith(magic)), None)
        detail = f" ({what})" if what else ""
        raise CaptureError(
            f"not a capture file{where}: the first 4 bytes are {head.hex(' ')}{detail}; {expected}",
            file=name,
            offset=0,
        )
    return Capture(name, info, reader, chunks, gz, closer, diagnostics)
