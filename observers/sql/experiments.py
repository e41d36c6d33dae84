"""Experiments and their sources, dependencies and repositories, stored once.

An experiment row is keyed by the sha256 of its whole description (name, main
file, sources with their digests, dependencies, repositories), so every run of
the same code shares one row, and a changed source, package or commit makes a
new one. Source files go to the content-addressed blobs, once per content.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from gnomon.observers.sql.blobs import store_file
from gnomon.observers.sql.database import inserted_key
from gnomon.observers.sql.schema import (
    experiment_dependencies,
    experiment_repositories,
    experiment_sources,
    experiments,
)
from gnomon.observers.sql.url import redact_remote

__all__ = ["clean_experiment", "store_experiment"]

logger = logging.getLogger("gnomon.observers.sql")
T = TypeVar("T")
Transact = Callable[[Callable[[sa.Connection], T]], T]


def clean_experiment(experiment: dict[str, Any]) -> dict[str, Any]:
    """The experiment description with credentials removed from repository URLs."""
    repositories = []
    for repo in experiment.get("repositories") or ():
        repo = dict(repo)
        if isinstance(repo.get("url"), str):
            repo["url"] = redact_remote(repo["url"])
        repositories.append(repo)
    if "repositories" in experiment:
        experiment = dict(experiment, repositories=repositories)
    return experiment


def _store_sources(transact: Transact[Any], experiment: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Store each source file's content; ``(relpath, digest)`` of what was stored."""
    base_dir = experiment.get("base_dir") or ""
    stored: list[tuple[str, str | None]] = []
    for entry in experiment.get("sources") or ():
        relpath, given = str(entry[0]), (entry[1] if len(entry) > 1 else None)
        path = os.path.join(base_dir, relpath)
        try:
            digest, _ = transact(functools.partial(store_file, path=path))
        except OSError as error:
            logger.warning("source %s could not be read (%s): recorded without its content", path, error)
            digest = given
        else:
            if given and digest != given:
                logger.warning("source %s changed since the run started: its current content is stored", path)
        stored.append((relpath, digest))
    return stored


def _split_requirement(spec: str) -> tuple[str, str | None]:
    name, sep, version = spec.partition("==")
    return name.strip(), (version.strip() if sep else None)


def store_experiment(transact: Transact[Any], experiment: dict[str, Any]) -> int:
    """The key of the experiment row for this description, inserting it when new."""
    experiment = clean_experiment(experiment)
    sources = _store_sources(transact, experiment)
    digest = hashlib.sha256(orjson.dumps(experiment, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def insert(conn: sa.Connection) -> int:
        found = conn.execute(
            sa.select(experiments.c.id).where(experiments.c.digest == digest)
        ).scalar()
        if found is not None:
            return int(found)
        key = inserted_key(
            conn.execute(
                sa.insert(experiments).values(
                    digest=digest,
                    name=str(experiment.get("name") or "")[:255],
                    mainfile=experiment.get("mainfile"),
                    base_dir=experiment.get("base_dir"),
                    info=experiment,
                )
            )
        )
        if sources:
            conn.execute(
                sa.insert(experiment_sources),
                [
                    {"experiment_id": key, "position": i, "path": path, "digest": d}
                    for i, (path, d) in enumerate(sources)
                ],
            )
        deps = [_split_requirement(str(d)) for d in experiment.get("dependencies") or ()]
        if deps:
            conn.execute(
                sa.insert(experiment_dependencies),
                [
                    {"experiment_id": key, "position": i, "name": n[:255], "version": v}
                    for i, (n, v) in enumerate(deps)
                ],
            )
        repos = [r for r in experiment.get("repositories") or () if isinstance(r, dict)]
        if repos:
            conn.execute(
                sa.insert(experiment_repositories),
                [
                    {
                        "experiment_id": key,
                        "position": i,
                        "url": r.get("url"),
                        "commit": r.get("commit"),
                        "dirty": r.get("dirty"),
                    }
                    for i, r in enumerate(repos)
                ],
            )
        return int(key)

    key: int = transact(insert)
    return key
