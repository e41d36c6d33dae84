"""A run's whole captured output as one GridFS file, written by appending chunks.

GridFS stores a file as ``fs.files`` (length, chunk size) plus ``fs.chunks``
documents ``{files_id, n, data}``, every chunk but the last exactly ``chunkSize``
bytes. The output file is created when the run starts and grows as output arrives:
new text is cut into chunks, each chunk is upserted by ``(files_id, n)`` -- so a
replay rewrites the same bytes instead of adding any -- and then the file's
``length`` (bytes) and ``metadata.chars`` (characters, the offsets output events
use) are set. Only the last, partial chunk is sent again when it grows, so the bytes
sent stay close to the output's size, and any GridFS reader (``fs.get(id).read()``)
gets the whole output, during the run and after it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OUTPUT_CHUNK_SIZE", "OutputFile"]

#: GridFS chunk size of output files: small, because the partial last chunk is resent.
OUTPUT_CHUNK_SIZE = 64 * 1024


class OutputFile:
    """Appends text to one GridFS file; ``chars`` and ``length`` say how much is stored."""

    def __init__(self, db: Any, bucket: str, file_id: Any, *, chars: int = 0, length: int = 0, partial: bytes = b"") -> None:
        self.files = db[f"{bucket}.files"]
        self.chunks = db[f"{bucket}.chunks"]
        self.file_id = file_id
        self.chars = chars
        self.length = length
        self.partial = partial  # bytes of the last, incomplete chunk (already stored)

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
        """Carry on with a file written by another process (``gnomon sync``)."""
        doc = db[f"{bucket}.files"].find_one({"_id": file_id}) or {}
        length = int(doc.get("length", 0))
        chars = int((doc.get("metadata") or {}).get("chars", 0))
        partial = b""
        if length % OUTPUT_CHUNK_SIZE:
            chunk = db[f"{bucket}.chunks"].find_one({"files_id": file_id, "n": length // OUTPUT_CHUNK_SIZE})
            partial = bytes(chunk["data"])[: length % OUTPUT_CHUNK_SIZE] if chunk else b""
        return cls(db, bucket, file_id, chars=chars, length=length, partial=partial)

    def append(self, text: str, offset: int) -> str:
        """Store ``text`` found at character ``offset``; returns the part that was new.

        Text before ``chars`` (a replay) is skipped; a gap (output that never
        arrived) is closed by continuing with what follows.
        """
        end = offset + len(text)
        if end <= self.chars:
            return ""
        if offset < self.chars:
            text = text[self.chars - offset :]
        data = self.partial + text.encode("utf-8", errors="replace")
        first = self.length // OUTPUT_CHUNK_SIZE
        from pymongo import UpdateOne

        ops = [
            UpdateOne(
                {"files_id": self.file_id, "n": first + i},
                {"$set": {"data": data[start : start + OUTPUT_CHUNK_SIZE]}},
                upsert=True,
            )
            for i, start in enumerate(range(0, len(data), OUTPUT_CHUNK_SIZE))
        ]
        self.chunks.bulk_write(ops, ordered=False)
        self.length = first * OUTPUT_CHUNK_SIZE + len(data)
        self.partial = data[len(data) - (len(data) % OUTPUT_CHUNK_SIZE) :] if len(data) % OUTPUT_CHUNK_SIZE else b""
        self.chars = end
        self.files.update_one(
            {"_id": self.file_id}, {"$set": {"length": self.length, "metadata.chars": self.chars}}
        )
        return text

    def text_window(self, head_chars: int, tail_chars: int) -> tuple[str, str]:
        """The first ``head_chars`` and last ``tail_chars`` characters, read back from GridFS.

        Returns ``(whole, "")`` when the whole output is that short.
        """
        import gridfs

        grid = gridfs.GridFS(self.files.database, collection=self.files.name.rsplit(".", 1)[0])
        if self.chars <= head_chars + tail_chars:
            return grid.get(self.file_id).read().decode("utf-8", errors="replace"), ""
        stored = grid.get(self.file_id)
        head = stored.read(4 * head_chars).decode("utf-8", errors="ignore")[:head_chars]
        stored.seek(max(0, self.length - 4 * tail_chars))
        tail = stored.read().decode("utf-8", errors="ignore")[-tail_chars:]
        return head, tail
