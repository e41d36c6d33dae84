"""Where the file storage puts files: sources, resources and artifacts.

Sources and resources are content-addressed and shared by every run of a
folder (``_sources/<stem>_<digest><ext>``, ``_resources/...``): each content is
copied once. Artifacts are private to their run; an artifact may not take the
place of the run's own record (``run.json``, ``cout.txt``, ``report.*``...) nor
leave the run folder, so such names are changed, with a warning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gnomon.observers.file.layout import copy_atomic, store_content_addressed
from gnomon.observers.file.metrics import METRICS_JSON, METRICS_LOG

__all__ = ["ARTIFACT_PREFIX", "RESERVED_NAMES", "ContentStore", "artifact_name"]

#: Files of a run folder that an artifact may not replace (``report.*`` too).
RESERVED_NAMES = frozenset(
    {"run.json", "config.json", "cout.txt", "info.json", METRICS_JSON, METRICS_LOG, "sources"}
)
#: Prefix of an artifact stored under another name because its own is reserved.
ARTIFACT_PREFIX = "artifact_"

logger = logging.getLogger("gnomon.observers.file.observer")


def artifact_name(name: str, run_id: str, run_dir: Path) -> str:
    """The path, relative to the run folder, an artifact called ``name`` is stored at."""
    rel = os.path.normpath(name.lstrip("/")) if name else ""
    if not rel or rel == "." or rel.split(os.sep)[0] == "..":
        safe = os.path.basename(name.rstrip("/")) or "artifact"
        if safe in {".", ".."}:
            safe = "artifact"
        logger.warning(
            "run %s: artifact name %r points outside the run folder; stored as %r",
            run_id,
            name,
            safe,
        )
        rel = safe
    if rel in RESERVED_NAMES or rel.startswith("report."):
        stored = ARTIFACT_PREFIX + rel
        logger.warning(
            "run %s: artifact name %r is reserved for the run's own record in %s; "
            "stored as %r instead (listed under that name in run.json)",
            run_id,
            name,
            run_dir,
            stored,
        )
        rel = stored
    return rel


class ContentStore:
    """Sacred's find-or-save for sources and resources of the runs under ``basedir``."""

    def __init__(
        self,
        basedir: Path,
        source_dir: Path,
        resource_dir: Path,
        *,
        copy_sources: bool,
        copy_artifacts: bool,
    ) -> None:
        self.basedir = basedir
        self.source_dir = source_dir
        self.resource_dir = resource_dir
        self.copy_sources = copy_sources
        self.copy_artifacts = copy_artifacts

    def store(
        self, filename: str, digest: str | None, store_dir: Path, *, copy: bool = True
    ) -> str | None:
        """The stored copy's path; the file itself when not copied; None when it is gone.

        Files already inside ``basedir`` are not copied when ``copy_artifacts`` is
        False (Sacred's meaning of that flag).
        """
        base = os.path.realpath(self.basedir)
        inside = Path(os.path.realpath(filename)).is_relative_to(base)
        if not copy or (inside and not self.copy_artifacts):
            return filename
        try:
            if not digest:
                from gnomon.provenance import get_digest

                digest = get_digest(filename)
            return str(store_content_addressed(filename, digest, store_dir))
        except FileNotFoundError:
            if os.path.exists(filename):
                raise  # the store itself is missing a folder: a real error
            logger.warning(
                "file %s is gone (moved or deleted before it could be copied into %s): "
                "it is recorded without a stored copy",
                filename,
                store_dir,
            )
            return None

    def resource(self, filename: str, digest: str) -> str | None:
        """Store a resource once in the resource folder."""
        return self.store(filename, digest, self.resource_dir)

    def sources(self, experiment: dict[str, Any]) -> list[list[Any]]:
        """``[relpath, "_sources/<name>"]`` per source of ``experiment``, copying each once."""
        base_dir = experiment.get("base_dir") or ""
        saved: list[list[Any]] = []
        for relpath, digest in experiment.get("sources") or ():
            stored = self.store(
                os.path.join(base_dir, relpath), digest, self.source_dir, copy=self.copy_sources
            )
            saved.append(
                [relpath, None if stored is None else os.path.relpath(stored, self.basedir)]
            )
        return saved

    def queued_sources(self, experiment: dict[str, Any], run_dir: Path) -> None:
        """Copy a queued run's sources under ``<id>/sources/<relpath>`` for a later worker.

        Sources outside the experiment's folder go under ``sources/_outside/<abs path>``.
        """
        base_dir = experiment.get("base_dir") or ""
        for relpath, _digest in experiment.get("sources") or ():
            source = os.path.join(base_dir, relpath)
            rel = os.path.normpath(relpath)
            if os.path.isabs(rel) or rel.split(os.sep)[0] == "..":
                rel = os.path.join("_outside", os.path.abspath(source).lstrip(os.sep))
            target = run_dir / "sources" / rel
            if not os.path.exists(source):
                logger.warning("source %s of a queued run is gone: not copied", source)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(source, target)
