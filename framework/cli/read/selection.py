"""The options that select runs, shared by ``gnomon ls`` and ``gnomon export``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gnomon.query.store import RunSet, Store

__all__ = ["select", "selection_options", "split"]


def split(values: Sequence[str] | str | None) -> list[str]:
    """Comma lists, possibly repeated (``--tag a,b --tag c``), as one list."""
    if not values:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def selection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--where -e --status --tag --since --until -n --sort``."""
    options = [
        click.option(
            "--where", "where", metavar="EXPR", help="A filter, e.g. 'config.lr < 1e-2 and status == \"COMPLETED\"'."
        ),
        click.option("-e", "--experiment", metavar="NAME", help="Only runs of this experiment."),
        click.option("--status", metavar="S,S", help="Only runs with one of these statuses (DIED included)."),
        click.option(
            "--tag", "tags", metavar="T", multiple=True, help="Only runs carrying this tag (repeat: all of them)."
        ),
        click.option("--since", metavar="2d|DATE", help="Only runs started since then: a duration ago or an ISO date."),
        click.option("--until", metavar="2d|DATE", help="Only runs started until then."),
        click.option(
            "-n",
            "--last",
            "limit",
            metavar="N",
            type=click.IntRange(min=0),
            help="At most N runs (the first N in sort order).",
        ),
        click.option(
            "--sort",
            metavar="PATH,…",
            default="-start_time",
            show_default=True,
            help="Sort by these columns; a leading - sorts descending.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def select(
    store: Store,
    *,
    where: str | None,
    experiment: str | None,
    status: str | None,
    tags: Sequence[str],
    since: str | None,
    until: str | None,
    limit: int | None,
    sort: str | None,
) -> RunSet:
    """The run set the selection options describe."""
    statuses = [s.upper() for s in split(status)] or None
    return store.runs(
        where or None,
        experiment=experiment,
        status=statuses,
        tags=split(tags) or None,
        since=since,
        until=until,
        order_by=split(sort) or None,
        limit=limit,
    )
