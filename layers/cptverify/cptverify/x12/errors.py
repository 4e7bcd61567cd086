"""Typed errors raised when an X12 file cannot be read at all.

Messages carry codes and segment positions only, never values taken from the file: an error can
reach a log line or an API body, and the file holds patient data.
"""

from __future__ import annotations


class X12Error(Exception):
    """Base class: the input could not be read as the X12 we expected.

    `code` is a short stable identifier, `segment` the 1-based position of the segment (counting
    from ISA) where reading stopped, or None when no segment could be found.
    """

    code = "x12_error"

    def __init__(self, message: str, *, segment: int | None = None, code: str | None = None):
        self.message = message
        self.segment = segment
        if code is not None:
            self.code = code
        where = f" (segment {segment})" if segment is not None else ""
        super().__init__(f"{self.code}: {message}{where}")


class NotX12Error(X12Error):
    """The input does not start with an ISA interchange header."""

    code = "not_x12"


class TruncatedInterchangeError(X12Error):
    """The input ends inside the ISA header, so the delimiters cannot be known."""

    code = "truncated_isa"


class StructureError(X12Error):
    """The delimiters are known but the segments cannot be walked as the expected transaction."""

    code = "structure"
