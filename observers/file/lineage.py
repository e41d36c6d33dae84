"""Which file-storage runs read, as resources, files that other runs wrote as artifacts.

An edge A → B exists when a resource of B

* lies inside A's run folder (``basedir/<A>/...``): known from the path alone, no hashing; or
* has a stored copy whose name carries the digest prefix (``<stem>_<32 hex><ext>``)
  of one of A's artifacts. gnomon names copies by SHA-256 and Sacred by MD5, so an
  artifact is hashed both ways, once, and the digests are kept in the index.

Only artifacts of the size of a resource's stored copy are hashed, so the first
lineage question on a large folder does not read every artifact.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gnomon.observers.file.index import RunIndex
from gnomon.observers.file.records import digest_prefix
from gnomon.query.protocol import LineageEdge

__all__ = ["lineage_edges"]


def _inside_run(filename: str, bases: Sequence[str], runs: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(run id, path inside its folder)`` when ``filename`` lies in a run folder of this storage."""
    path = os.path.normpath(filename)
    for base in bases:
        if path.startswith(base + os.sep):
            run_id, _, rest = path[len(base) + 1 :].partition(os.sep)
            if rest and run_id in runs:
                return run_id, rest
    return None


def _stored_size(stored: str | None, basedir: Path) -> int | None:
    """The size of a resource's stored copy (where the writer put it, or ``_resources`` here), if found."""
    if not stored:
        return None
    for candidate in (stored, str(basedir / "_resources" / os.path.basename(stored))):
        try:
            return os.stat(candidate).st_size
        except OSError:
            continue
    return None


def _artifact_digests(
    index: RunIndex, runs: Mapping[str, Any], names: Iterable[str], sizes: set[int] | None
) -> dict[str, list[tuple[str, str, str]]]:
    """Digest prefix (SHA-256's first 32 hex digits, and MD5) → ``(run id, artifact, sha256)``."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for run_id in names:
        for artifact in runs[run_id]["artifacts"]:
            relpath = f"{run_id}/{artifact}"
            if sizes is not None:
                try:
                    if os.stat(index.basedir / relpath).st_size not in sizes:
                        continue
                except OSError:
                    continue
            digests = index.digests(relpath)
            if digests is None:
                continue
            sha256, md5 = digests
            found.setdefault(sha256[:32], []).append((run_id, artifact, sha256))
            found.setdefault(md5, []).append((run_id, artifact, sha256))
    return found


def lineage_edges(
    index: RunIndex, runs: Mapping[str, Any], run_ids: Sequence[str], *, upstream: bool, downstream: bool
) -> list[LineageEdge]:
    """Edges ending at (``upstream``) or starting from (``downstream``) any of ``run_ids``.

    ``runs`` maps every readable run id to its links (``{"artifacts", "resources"}``).
    """
    wanted = {str(r) for r in run_ids if str(r) in runs}
    basedir = index.basedir
    bases = sorted({os.path.normpath(str(basedir)), os.path.realpath(basedir)})
    readers = list(runs) if downstream else sorted(wanted)  # runs whose resources may make a wanted edge
    edges: dict[tuple[str, str, str, str], LineageEdge] = {}
    by_digest: list[tuple[str, str, str | None]] = []  # (reader, resource, digest prefix)
    for target in readers:
        for filename, stored in runs[target]["resources"]:
            prefix = digest_prefix(stored)
            inside = _inside_run(filename, bases, runs)
            if inside is not None and inside[0] != target:
                key = (inside[0], inside[1], target, filename)
                edges[key] = LineageEdge(inside[0], inside[1], target, filename, prefix or "")
            elif prefix is not None:
                by_digest.append((target, filename, stored))
    if by_digest:
        sizes: set[int] | None = set()
        for _, _, stored in by_digest:
            size = _stored_size(stored, basedir)
            if size is None:
                sizes = None
                break
            sizes.add(size)  # type: ignore[union-attr]
        sources = list(runs) if upstream else sorted(wanted)
        digests = _artifact_digests(index, runs, sources, sizes)
        for target, filename, stored in by_digest:
            for source, artifact, sha256 in digests.get(digest_prefix(stored) or "", ()):
                if source != target:
                    edges[(source, artifact, target, filename)] = LineageEdge(
                        source, artifact, target, filename, sha256
                    )
    return [
        edge
        for edge in edges.values()
        if (upstream and edge.target in wanted) or (downstream and edge.source in wanted)
    ]
