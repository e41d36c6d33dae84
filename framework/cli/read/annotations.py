"""``gnomon tag`` and ``gnomon note``: annotations stored where no observer writes (also while a run goes on)."""

from __future__ import annotations

import sys

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.output import echo_lines, emit, format_options
from gnomon.cli.read.references import resolve, resolve_one
from gnomon.cli.read.selection import split
from gnomon.cli.read.stores import opened, store_option

__all__ = ["note", "tag"]


@click.command("tag")
@click.argument("runs", metavar="RUN…", nargs=-1, required=True)
@store_option
@click.option("--add", "add", metavar="T", multiple=True, help="Add this tag (repeat or comma-separate).")
@click.option("--remove", "remove", metavar="T", multiple=True, help="Remove this tag (repeat or comma-separate).")
@format_options
@reported
def tag(
    runs: tuple[str, ...], store_url: str | None, add: tuple[str, ...], remove: tuple[str, ...], fmt: str | None
) -> None:
    """Add or remove tags on runs, then print their tags.

    RUN is an id, latest, latest~N, a range such as 3-7 or a comma list.
    """
    added, removed = split(add), split(remove)
    with opened(store_url) as store:
        ids = resolve(store, runs)
        if added or removed:
            for run_id in ids:
                store.annotate(run_id, add_tags=added, remove_tags=removed)
        found = {r["run_id"]: r for r in store.runs(ids=ids, order_by=None).rows(["tags"])}
    emit([{"run_id": i, "tags": found[i]["tags"]} for i in ids if i in found], ["run_id", "tags"], fmt)


@click.command("note")
@click.argument("run", metavar="RUN")
@click.argument("text", metavar="[TEXT]", required=False)
@store_option
@click.option(
    "--append", is_flag=True, help="Add TEXT as a new line after the current notes instead of replacing them."
)
@reported
def note(run: str, text: str | None, store_url: str | None, append: bool) -> None:
    """Set a run's notes to TEXT ('-' reads it from stdin); without TEXT, print them.

    RUN is an id, latest or latest~N.
    """
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    with opened(store_url) as store:
        run_id = resolve_one(store, run)
        if text is None:
            if append:
                raise ReadError("--append needs the TEXT to add", 2)
            echo_lines([store.run(run_id).notes or ""])
            return
        if append:
            current = store.run(run_id).notes
            text = f"{current}\n{text}" if current else text
        store.annotate(run_id, notes=text)
