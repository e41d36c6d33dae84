"""Content-addressed files in the database: sources, artifacts and resources.

A file is stored once per content (its sha256 is the key), however many runs
use it, in chunks of 1 MiB: MySQL/MariaDB refuse statements larger than
``max_allowed_packet`` (16 MiB by default) and no backend should hold a 1 GB
artifact in one value. The ``blobs`` row is written last, in the same
transaction as the chunks, so a blob that is listed is complete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import sqlalchemy as sa

from gnomon.observers.sql.schema import blob_chunks, blobs

__all__ = ["CHUNK_SIZE", "blob_exists", "iter_blob", "read_blob", "store_file"]

CHUNK_SIZE = 1 << 20


def blob_exists(connection: sa.Connection, digest: str) -> bool:
    """Whether the content with this sha256 is stored completely."""
    return (
        connection.execute(sa.select(blobs.c.size).where(blobs.c.digest == digest)).first()
        is not None
    )


def _digest_of(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def store_file(connection: sa.Connection, path: str | os.PathLike[str]) -> tuple[str, int]:
    """Store a file's content unless already there; return ``(sha256, size)``.

    Must run inside a transaction on ``connection``; raises ``OSError`` when the
    file cannot be read. The digest is computed from the bytes stored, never
    trusted from the caller, so the key always matches the content.
    """
    digest = _digest_of(path)
    row = connection.execute(sa.select(blobs.c.size).where(blobs.c.digest == digest)).first()
    if row is not None:
        return digest, int(row[0])
    size = 0
    position = 0
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK_SIZE)
            if not data and position > 0:
                break
            hasher.update(data)
            connection.execute(
                sa.insert(blob_chunks), {"digest": digest, "position": position, "data": data}
            )
            size += len(data)
            position += 1
            if not data:
                break
    if hasher.hexdigest() != digest:
        raise OSError(f"{os.fspath(path)} changed while it was being stored; try again")
    connection.execute(sa.insert(blobs), {"digest": digest, "size": size, "chunks": position})
    return digest, size


def iter_blob(connection: sa.Connection, digest: str) -> Iterator[bytes]:
    """The chunks of a stored content, in order (nothing when it is not stored)."""
    count = connection.execute(sa.select(blobs.c.chunks).where(blobs.c.digest == digest)).scalar()
    for position in range(count or 0):
        yield connection.execute(
            sa.select(blob_chunks.c.data).where(
                blob_chunks.c.digest == digest, blob_chunks.c.position == position
            )
        ).scalar_one()


def read_blob(connection: sa.Connection, digest: str) -> bytes | None:
    """The whole stored content, or None when it is not stored."""
    if not blob_exists(connection, digest):
        return None
    return b"".join(iter_blob(connection, digest))
