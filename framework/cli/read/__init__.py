"""The ``gnomon`` commands that read runs back: ls, show, compare, metrics, logs, artifacts, export, tag, note, lineage.

They are built on the query API (:func:`gnomon.open`) and nothing else, so they
read every store the same way. Each module holds one command (or a pair) and
imports only click at module level: ``gnomon --help`` must stay fast, so the
store, rich and numpy are imported inside the command bodies, and pandas only by
``gnomon export --to FILE.parquet``.
"""

from __future__ import annotations

import click

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add the read commands to the ``gnomon`` group."""
    from gnomon.cli.read.annotations import note, tag
    from gnomon.cli.read.artifacts import artifacts
    from gnomon.cli.read.compare import compare
    from gnomon.cli.read.export import export
    from gnomon.cli.read.lineage import lineage
    from gnomon.cli.read.listing import ls
    from gnomon.cli.read.logs import logs
    from gnomon.cli.read.metrics import metrics
    from gnomon.cli.read.show import show

    for command in (ls, show, compare, metrics, logs, artifacts, export, tag, note, lineage):
        group.add_command(command)
