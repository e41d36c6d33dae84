"""A run's ``cout.txt`` read by character offsets without reading it whole each time.

The query API counts output in characters, the file holds UTF-8 bytes, and a
character offset cannot be turned into a byte offset without decoding what comes
before it. So the characters are counted once, incrementally (the file is only
ever appended to), and a mark ``(byte offset, character offset)`` is remembered
every :data:`MARK_BYTES`; reading from any character offset then seeks to the
nearest mark before it and decodes at most that much more than it returns. A
character torn at the end of the file (being written) is not counted until it
is complete; bytes that are not UTF-8 read as U+FFFD, as the writer's own
counting does.
"""

from __future__ import annotations

import bisect
import codecs
import os
from array import array
from dataclasses import dataclass, field

__all__ = ["MARK_BYTES", "OutputMarks", "count", "read"]

#: Bytes between two remembered (byte, character) marks; also the read size.
MARK_BYTES = 1 << 20


@dataclass
class OutputMarks:
    """How much of one ``cout.txt`` is counted: its inode, bytes and characters, and the marks."""

    ino: int = 0
    nbytes: int = 0
    chars: int = 0
    marks: array[int] = field(default_factory=lambda: array("q", [0, 0]))  # byte, char, byte, char, ...

    def to_blob(self) -> bytes:
        """The marks for the index."""
        return self.marks.tobytes()

    @classmethod
    def from_row(cls, ino: int, nbytes: int, chars: int, blob: bytes) -> OutputMarks:
        """Marks the index kept."""
        return cls(ino, nbytes, chars, array("q", blob))


def count(path: str, known: OutputMarks | None) -> tuple[OutputMarks, bool]:
    """Bring ``known`` up to date with the file: ``(marks, whether anything changed)``.

    A file replaced or shortened since (another inode, fewer bytes) is counted from the start.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return OutputMarks(), known is not None and known.nbytes > 0
    with f:
        info = os.fstat(f.fileno())
        marks = known
        if marks is None or marks.ino != info.st_ino or info.st_size < marks.nbytes:
            marks = OutputMarks(ino=info.st_ino)
        elif info.st_size == marks.nbytes:
            return marks, False
        f.seek(marks.nbytes)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        position, chars = marks.nbytes, marks.chars
        while True:
            chunk = f.read(MARK_BYTES)
            if not chunk:
                break
            chars += len(chunk) if chunk.isascii() and not decoder.getstate()[0] else len(decoder.decode(chunk))
            position += len(chunk)
            clean = position - len(decoder.getstate()[0])  # bytes of a character not yet complete
            if clean - marks.marks[-2] >= MARK_BYTES:
                marks.marks.extend((clean, chars))
        marks.nbytes = position - len(decoder.getstate()[0])
        marks.chars = chars
        return marks, True


def read(path: str, marks: OutputMarks, offset: int, limit: int | None) -> str:
    """Characters ``offset`` to ``offset + limit`` of the counted part of the file."""
    offset = max(0, offset)
    end = marks.chars if limit is None else min(marks.chars, offset + max(0, limit))
    if offset >= end:
        return ""
    chars_at = marks.marks[1::2]
    i = bisect.bisect_right(chars_at, offset) - 1
    byte, char = marks.marks[2 * i], marks.marks[2 * i + 1]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pieces: list[str] = []
    with open(path, "rb") as f:
        f.seek(byte)
        remaining = marks.nbytes - byte
        while remaining > 0 and char < end:
            chunk = f.read(min(MARK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            text = decoder.decode(chunk)
            if char + len(text) > offset:
                pieces.append(text[max(0, offset - char) : end - char])
            char += len(text)
    return "".join(pieces)
