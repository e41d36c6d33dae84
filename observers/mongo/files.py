"""Files in GridFS (bucket ``fs``, Sacred's): sources, resources, artifacts and large values.

Every file gnomon writes carries a top-level ``sha256`` field (GridFS itself no
longer records a checksum). Sources and resources are stored once per content:
a run whose file has the same hash as one already stored reuses it, across runs and
hosts. Artifacts are the run's own (``artifact://<runs>/<id>/<name>``, Sacred's
naming), with the user's metadata and the content type both as GridFS'
``contentType`` and as ``metadata["content-type"]`` (Incense reads either). A file
already stored for the same run and name with the same hash is not stored again,
so replays store nothing twice.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator, Mapping
from typing import IO, Any

from gnomon.artifacts import snapshot_digest
from gnomon.observers.mongo.documents import gridfs_stand_in

__all__ = ["FileStore", "open_stream"]


class _Chunks(io.RawIOBase):
    """A GridFS file read chunk after chunk, a few chunks per round trip.

    pymongo's ``GridOut`` lets the server fill its first cursor batch (101 chunks,
    about 25 MB), so saving a large artifact would hold that much at once; here at
    most :data:`BATCH` chunks are in memory, whatever the file's size.
    """

    BATCH = 4

    def __init__(self, chunks: Any, file_id: Any, length: int) -> None:
        self._cursor: Iterator[Mapping[str, Any]] = iter(
            chunks.find({"files_id": file_id}, {"data": 1, "_id": 0}).sort("n", 1).batch_size(self.BATCH)
        )
        self._pending = memoryview(b"")
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and self._left > 0:
            chunk = next(self._cursor, None)
            if chunk is None:
                raise OSError(f"GridFS file is missing chunks: {self._left} bytes never came")
            self._pending = memoryview(bytes(chunk["data"]))[: self._left]
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._left -= count
        return count


def open_stream(db: Any, file_id: Any) -> IO[bytes]:
    """A buffered binary stream of one GridFS file; ``KeyError`` when there is no such file."""
    doc = db["fs.files"].find_one({"_id": file_id}, {"length": 1})
    if doc is None:
        raise KeyError(file_id)
    return io.BufferedReader(_Chunks(db["fs.chunks"], file_id, int(doc.get("length") or 0)), 1 << 20)


class FileStore:
    """GridFS access for one database."""

    def __init__(self, db: Any, runs_name: str) -> None:
        import gridfs

        self.db = db
        self.runs_name = runs_name
        self.fs = gridfs.GridFS(db)
        self.files = db["fs.files"]

    def ensure_indexes(self) -> None:
        """Indexes for the look-ups below and GridFS' own chunk index."""
        self.files.create_index([("sha256", 1)])
        self.files.create_index([("filename", 1), ("uploadDate", 1)])
        self.db["fs.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)

    def content(self, path: str, digest: str | None, kind: str) -> Any:
        """Store a source or resource once per content; its file id, None when it is gone."""
        if not digest:
            try:
                with open(path, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError:
                return None
        found = self.files.find_one({"sha256": digest, "metadata.kind": kind}, {"_id": 1})
        if found is not None:
            return found["_id"]
        try:
            with open(path, "rb") as handle:
                return self.fs.put(handle, filename=os.path.abspath(path), sha256=digest, metadata={"kind": kind})
        except FileNotFoundError:
            return None

    def sources(self, experiment: Mapping[str, Any]) -> list[list[Any]]:
        """Sacred's ``experiment.sources``: ``[[relpath, file id], ...]``."""
        base_dir = experiment.get("base_dir") or ""
        return [
            [relpath, self.content(os.path.join(base_dir, relpath), digest, "source")]
            for relpath, digest in experiment.get("sources") or ()
        ]

    def artifact(
        self,
        run_id: Any,
        name: str,
        path: str,
        digest: str | None,
        metadata: Mapping[str, Any] | None,
        content_type: str | None,
    ) -> Any:
        """Store an artifact of a run (once); its file id, None when the snapshot is gone.

        ``digest`` None: the snapshot is hashed here, on the observer's thread.
        """
        digest = snapshot_digest(path, digest)
        if digest is None:
            return None
        filename = f"artifact://{self.runs_name}/{run_id}/{name}"
        found = self.files.find_one({"filename": filename, "sha256": digest}, {"_id": 1})
        if found is not None:
            return found["_id"]
        meta = dict(metadata or {})
        if content_type:
            meta.setdefault("content-type", content_type)
        extra: dict[str, Any] = {"contentType": content_type} if content_type else {}
        try:
            with open(path, "rb") as handle:
                return self.fs.put(handle, filename=filename, sha256=digest, metadata=meta or None, **extra)
        except FileNotFoundError:
            return None

    def value(self, run_id: Any, where: str, value: Any) -> dict[str, Any]:
        """Store a value too large for the run document; returns its stand-in."""
        import bson

        data = bson.encode({"v": value})
        file_id = self.fs.put(
            data,
            filename=f"value://{self.runs_name}/{run_id}/{where}",
            sha256=hashlib.sha256(data).hexdigest(),
            contentType="application/bson",
            metadata={"kind": "value", "content-type": "application/bson"},
        )
        return gridfs_stand_in(file_id, len(data))

    def load_value(self, file_id: Any) -> Any:
        """A value stored by :meth:`value`."""
        import bson

        return bson.decode(self.fs.get(file_id).read())["v"]
