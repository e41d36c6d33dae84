"""A run's whole captured output as one GridFS file, appended to in a crash-safe order.

GridFS stores a file as an ``fs.files`` document (``length``, ``chunkSize``) plus
``fs.chunks`` documents ``{files_id, n, data}``, and its readers insist that every
chunk but the last holds exactly ``chunkSize`` bytes and the last one the rest of
``length``. MongoDB cannot change two documents at once, so growing a partial last
chunk and the length together would leave a file no reader accepts whenever the
writer or the server dies between the two. The output file is therefore written so
that the ``fs.files`` document is the single commit point:

1. new *complete* chunks are upserted past the committed ``length``, where no reader
   looks (``fs.get(id).read()`` stops at ``length``);
2. one update of the ``fs.files`` document then sets ``length`` (whole chunks only),
   ``metadata.tail`` (the bytes of the incomplete last chunk, kept there until it
   fills) and ``metadata.chars`` (characters stored, the offsets output events use).

A writer or server that stops between the two leaves the file as last committed,
plus chunks past its end that the next append overwrites with the same bytes. When
the run ends, :meth:`OutputFile.close` turns the tail into the last chunk (written
first, then committed the same way) and removes any chunk past the end, leaving a
plain GridFS file. During the run a plain GridFS reader sees the output up to the
last complete chunk; :func:`read_output` also returns the tail. Files written by
older versions (partial last chunk rewritten in place, possibly torn by a crash)
are read and continued too: of each chunk only the committed bytes are trusted.

A replay (``gnomon sync``) skips text before ``metadata.chars``, so nothing is
stored twice, and the bytes sent stay close to the output's size.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OUTPUT_CHUNK_SIZE", "OutputFile", "output_chars", "read_output", "read_output_bytes"]

#: GridFS chunk size of output files: small, because the incomplete tail is resent.
OUTPUT_CHUNK_SIZE = 64 * 1024


def _layout(doc: dict[str, Any]) -> tuple[int, int, bytes]:
    """``(bytes in chunks, chunk size, committed tail)`` of an output file's document.

    A ``length`` that is not a whole number of chunks is a finished file (or one an
    older version wrote): its last chunk is partial and there is no separate tail.
    """
    length = int(doc.get("length") or 0)
    size = int(doc.get("chunkSize") or OUTPUT_CHUNK_SIZE)
    tail = b"" if length % size else bytes((doc.get("metadata") or {}).get("tail") or b"")
    return length, size, tail


def read_output_bytes(db: Any, bucket: str, file_id: Any, start: int = 0, stop: int | None = None) -> bytes:
    """Committed bytes ``[start, stop)`` of an output file (``b""`` when it does not exist).

    Only chunks that are complete are trusted: reading ends at the first chunk that
    is missing or shorter than the committed length says, and bytes past the
    committed length (written by an append that never committed) are ignored.
    """
    doc = db[f"{bucket}.files"].find_one({"_id": file_id})
    return b"" if doc is None else _read(db[f"{bucket}.chunks"], doc, start, stop)


def _read(chunks: Any, doc: dict[str, Any], start: int, stop: int | None) -> bytes:
    length, size, tail = _layout(doc)
    end = length + len(tail) if stop is None else min(stop, length + len(tail))
    if start >= end:
        return b""
    out = bytearray()
    if start < length:
        first, last = start // size, (min(end, length) - 1) // size
        expected = first
        found = chunks.find({"files_id": doc["_id"], "n": {"$gte": first, "$lte": last}}, {"n": 1, "data": 1})
        for chunk in found.sort("n", 1):
            want = min(size, length - expected * size)
            data = bytes(chunk["data"])
            if chunk["n"] != expected or len(data) < want:
                break
            out += memoryview(data)[:want]
            expected += 1
        complete = expected > last
        del out[: start - first * size]
        if not complete:
            return bytes(out)
    if end > length:
        out += tail[max(0, start - length) : end - length]
    return bytes(out[: end - start])


def read_output(db: Any, bucket: str, file_id: Any, offset: int = 0, limit: int | None = None) -> str:
    """The committed output of a run as text, from character ``offset`` (at most ``limit`` characters).

    When every character is one byte (``metadata.chars`` equals the bytes stored),
    only the bytes asked for are read; otherwise the whole output is decoded.
    """
    doc = db[f"{bucket}.files"].find_one({"_id": file_id})
    if doc is None:
        return ""
    length, _, tail = _layout(doc)
    chunks = db[f"{bucket}.chunks"]
    if (doc.get("metadata") or {}).get("chars") == length + len(tail):
        return _read(chunks, doc, offset, None if limit is None else offset + limit).decode("utf-8", errors="replace")
    text = _read(chunks, doc, 0, None).decode("utf-8", errors="replace")
    return text[offset:] if limit is None else text[offset : offset + limit]


def output_chars(db: Any, bucket: str, file_id: Any) -> int:
    """Characters of committed output, without reading it when every character is one byte."""
    doc = db[f"{bucket}.files"].find_one({"_id": file_id})
    if doc is None:
        return 0
    length, _, tail = _layout(doc)
    chars = (doc.get("metadata") or {}).get("chars")
    if isinstance(chars, int) and chars == length + len(tail):
        return chars
    return len(_read(db[f"{bucket}.chunks"], doc, 0, None).decode("utf-8", errors="replace"))


class OutputFile:
    """Appends text to one GridFS output file.

    ``length`` is the committed bytes in whole chunks, ``tail`` the committed bytes
    after them, ``chars`` the characters committed in all.
    """

    def __init__(
        self, db: Any, bucket: str, file_id: Any, *, chars: int = 0, length: int = 0, tail: bytes = b""
    ) -> None:
        self.db = db
        self.bucket = bucket
        self.files = db[f"{bucket}.files"]
        self.chunks = db[f"{bucket}.chunks"]
        self.file_id = file_id
        self.chars = chars
        self.length = length
        self.tail = tail

    @classmethod
    def create(cls, db: Any, bucket: str, filename: str, run_id: Any, upload_date: Any, file_id: Any) -> OutputFile:
        """Insert the empty file's ``fs.files`` document (once: a replay finds it there)."""
        db[f"{bucket}.files"].update_one(
            {"_id": file_id},
            {"$setOnInsert": {
                "filename": filename,
                "length": 0,
                "chunkSize": OUTPUT_CHUNK_SIZE,
                "uploadDate": upload_date,
                "contentType": "text/plain; charset=utf-8",
                "metadata": {"content-type": "text/plain; charset=utf-8", "run_id": run_id, "chars": 0},
            }},
            upsert=True,
        )
        return cls.resume(db, bucket, file_id)

    @classmethod
    def resume(cls, db: Any, bucket: str, file_id: Any) -> OutputFile:
        """Carry on with a file another process wrote (``gnomon sync``), from what it committed."""
        doc = db[f"{bucket}.files"].find_one({"_id": file_id}) or {}
        length, size, tail = _layout(doc)
        chars = int((doc.get("metadata") or {}).get("chars", 0))
        if size != OUTPUT_CHUNK_SIZE:
            raise ValueError(f"output file {file_id} has chunks of {size} bytes, not {OUTPUT_CHUNK_SIZE}")
        whole = length - length % size
        if length % size:  # finished, or written by an older version: continue its last chunk
            tail = read_output_bytes(db, bucket, file_id, whole, length)
        return cls(db, bucket, file_id, chars=chars, length=whole, tail=tail)

    def append(self, text: str, offset: int) -> str:
        """Store ``text`` found at character ``offset``; returns the part that was new.

        Text before ``chars`` (a replay) is skipped; a gap (output that never
        arrived) is closed by continuing with what follows. Memory is updated only
        once the commit succeeded, so a failed call can simply be retried.
        """
        end = offset + len(text)
        if end <= self.chars:
            return ""
        if offset < self.chars:
            text = text[self.chars - offset :]
        data = self.tail + text.encode("utf-8", errors="replace")
        whole = len(data) - len(data) % OUTPUT_CHUNK_SIZE
        if whole:
            self._write_chunks(data[:whole])
        tail = data[whole:]
        self.files.update_one(
            {"_id": self.file_id},
            {"$set": {"length": self.length + whole, "metadata.tail": tail, "metadata.chars": end}},
        )
        self.length += whole
        self.tail = tail
        self.chars = end
        return text

    def _write_chunks(self, data: bytes) -> None:
        """Upsert chunks from the committed end on (a replay rewrites the same bytes)."""
        from pymongo import UpdateOne

        first = self.length // OUTPUT_CHUNK_SIZE
        self.chunks.bulk_write(
            [
                UpdateOne(
                    {"files_id": self.file_id, "n": first + i},
                    {"$set": {"data": data[start : start + OUTPUT_CHUNK_SIZE]}},
                    upsert=True,
                )
                for i, start in enumerate(range(0, len(data), OUTPUT_CHUNK_SIZE))
            ],
            ordered=False,
        )

    def close(self) -> None:
        """Make it a plain GridFS file: the tail becomes the last chunk, nothing lies past the end."""
        total = self.length + len(self.tail)
        if self.tail:
            self._write_chunks(self.tail)
        self.files.update_one(
            {"_id": self.file_id},
            {"$set": {"length": total, "metadata.chars": self.chars}, "$unset": {"metadata.tail": ""}},
        )
        chunks = -(-total // OUTPUT_CHUNK_SIZE)
        self.chunks.delete_many({"files_id": self.file_id, "n": {"$gte": chunks}})

    def text_window(self, head_chars: int, tail_chars: int) -> tuple[str, str]:
        """The first ``head_chars`` and last ``tail_chars`` characters committed.

        Returns ``(whole, "")`` when the whole output is that short.
        """
        size = self.length + len(self.tail)
        if self.chars <= head_chars + tail_chars:
            return read_output(self.db, self.bucket, self.file_id), ""
        head = read_output_bytes(self.db, self.bucket, self.file_id, 0, 4 * head_chars)
        tail = read_output_bytes(self.db, self.bucket, self.file_id, max(0, size - 4 * tail_chars), size)
        return (
            head.decode("utf-8", errors="ignore")[:head_chars],
            tail.decode("utf-8", errors="ignore")[-tail_chars:],
        )
