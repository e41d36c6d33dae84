"""Tags and notes of file-storage runs, kept where the observer never writes: ``_gnomon/annotations/<id>.json``.

One small file per run, so copies of a folder merged with ``rsync`` keep the
annotations of both sides, and a run's own later writes (heartbeats, its end)
never touch them. Each file is replaced atomically; ``{"tags": [...], "notes":
"..."}`` with either key absent when that part was never set.

Unlike the index next to them, these files are not derived data: they are the
only copy of what users typed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from gnomon.observers.file.layout import atomic_write

__all__ = ["Annotations"]

Annotation = tuple[list[str] | None, str | None]


def _parse(data: bytes) -> Annotation | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    tags, notes = value.get("tags"), value.get("notes")
    if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        tags = None
    return tags, notes if isinstance(notes, str) else None


class Annotations:
    """The annotation files of one folder, re-read only when one changes (by inode, mtime and size)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, tuple[tuple[int, int, int], Annotation | None]] = {}

    def all(self) -> dict[str, Annotation]:
        """Every run's annotation, by run id (one listing of the folder, plus the files that changed)."""
        out: dict[str, Annotation] = {}
        seen: dict[str, tuple[tuple[int, int, int], Annotation | None]] = {}
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        for entry in entries:
            name = entry.name
            if not name.endswith(".json") or name.startswith("."):
                continue
            run_id = name[:-5]
            try:
                info = entry.stat()
            except FileNotFoundError:
                continue
            signature = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = self._cache.get(run_id)
            if cached is None or cached[0] != signature:
                try:
                    cached = (signature, _parse(Path(entry.path).read_bytes()))
                except FileNotFoundError:
                    continue
            seen[run_id] = cached
            if cached[1] is not None:
                out[run_id] = cached[1]
        self._cache = seen
        return out

    def get(self, run_id: str) -> Annotation | None:
        """One run's annotation, read now."""
        try:
            return _parse((self.folder / f"{run_id}.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None

    def set(self, run_id: str, *, tags: list[str] | None, notes: str | None) -> None:
        """Replace the tags and/or the notes of a run (None keeps that part as it is)."""
        current = self.get(run_id) or (None, None)
        value: dict[str, Any] = {}
        new_tags = tags if tags is not None else current[0]
        new_notes = notes if notes is not None else current[1]
        if new_tags is not None:
            value["tags"] = list(new_tags)
        if new_notes is not None:
            value["notes"] = new_notes
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / f"{run_id}.json", orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
