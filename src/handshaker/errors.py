"""One error hierarchy for everything handshaker reports about its input.

Every error says *where*: the file, the frame number (1-based, as Wireshark
numbers frames), the byte offset (in the file, or in the frame when
``in_frame`` is set) and, when known, the field that was being read.
``str(err)`` is the one-line message the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass


def where(file: str | None, frame: int | None = None, offset: int | None = None,
          field: str | None = None) -> str:
    """'FILE, frame N, byte offset M, field F', leaving out what is unknown."""
    parts = [] if file is None else [file]
    if frame is not None:
        parts.append(f"frame {frame}")
    if offset is not None:
        parts.append(f"byte offset {offset}")
    if field is not None:
        parts.append(f"field {field}")
    return ", ".join(parts)


class HandshakerError(Exception):
    """Base of every error handshaker raises on purpose."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        frame: int | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.frame = frame
        self.offset = offset
        self.field = field

    def where(self) -> str:
        return where(self.file, self.frame, self.offset, self.field)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.reason}" if where else self.reason


class CaptureError(HandshakerError):
    """The capture file cannot be read (from this point on)."""


class TruncatedError(CaptureError):
    """The data ends before a structure it announced: not damage, just cut."""


class MalformedError(HandshakerError):
    """The bytes contradict the format (a length that cannot be, a bad magic)."""


class UsageError(HandshakerError):
    """The user asked for something that does not exist (a stream, a frame)."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found while reading or analysing, kept beside the results.

    ``severity`` is ``"warning"`` (something was skipped or guessed) or
    ``"error"`` (the rest of the file could not be read).
    """

    message: str
    file: str | None = None
    frame: int | None = None
    offset: int | None = None
    severity: str = "warning"

    def __str__(self) -> str:
        at = where(self.file, self.frame, self.offset)
        return f"{at}: {self.message}" if at else self.message

    @classmethod
    def from_error(cls, err: HandshakerError, severity: str = "error") -> Diagnostic:
        return cls(err.reason, err.file, err.frame, err.offset, severity)
