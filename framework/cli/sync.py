"""``gnomon sync``: list, deliver or discard what observers could not take during their runs.

Everything here speaks the user's terms: a run by the id it was given (or its
experiment and start time), a store by its URL without password. The work itself
is done by :mod:`gnomon.sync` and :mod:`gnomon.backlog`; this module checks the
flags, asks before discarding, prints, and turns the outcome into the exit status.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from gnomon.redaction import redact_url

if TYPE_CHECKING:
    from gnomon.backlog import Selection

__all__ = ["sync"]


def _exit_codes_help() -> str:
    from gnomon.sync import EXIT_CODES

    return "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())


_HELP = f"""Deliver events that observers could not take during their runs.

Without options, every run's waiting events go to the stores they were meant
for, in order; a store that is away keeps its events for the next sync, and a
bad entry is set aside without holding back the rest. --list shows what waits.

--run and --store narrow any of these to one run (the id it was given, or the
start of its uid as --list shows it) and/or one store (its URL, or a folder).
--discard removes events for good and needs --run, --store or --all, and a
confirmation (--yes when not at a terminal). --observer URL naming a store
that events wait for gives that store again, e.g. with its password; naming
another store, it sends the selected events there instead (a database that
moved), and needs --run, --store or --all, and one store per run.

\b
Exit status:
{_exit_codes_help()}
"""


@click.command(help=_HELP, short_help="Deliver events that observers could not take during their runs.")
@click.option(
    "--spool",
    "spool_dir",
    metavar="DIR",
    default=None,
    help="Spool directory to work on (default: SETTINGS.SPOOL_DIR, else the user data dir).",
)
@click.option("--list", "list_", is_flag=True, help="Show what waits, by run and store; deliver nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --list: print JSON instead of a table.")
@click.option("--run", "run", metavar="ID", default=None, help="Only this run (its id, or the start of its uid).")
@click.option("--store", "store", metavar="URL", default=None, help="Only events meant for this store.")
@click.option("--all", "all_", is_flag=True, help="Everything, said explicitly (for --discard and --observer).")
@click.option(
    "--observer",
    "observer_url",
    metavar="URL",
    default=None,
    help="Send the selected events to this store instead of the one they were meant for.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be delivered (or discarded).")
@click.option("--discard", is_flag=True, help="Remove the selected events from the spool for good.")
@click.option("-y", "--yes", is_flag=True, help="Discard without asking.")
def sync(
    spool_dir: str | None,
    list_: bool,
    as_json: bool,
    run: str | None,
    store: str | None,
    all_: bool,
    observer_url: str | None,
    dry_run: bool,
    discard: bool,
    yes: bool,
) -> None:
    """Check the flags, then list, discard or deliver (the help text is ``_HELP``)."""
    from gnomon.backlog import Selection
    from gnomon.errors import SpoolError
    from gnomon.sync import EXIT_SPOOL

    _check_flags(list_, as_json, run, store, all_, observer_url, dry_run, discard, yes)
    selection = Selection(run=run, store=store)
    try:
        if list_:
            _list(spool_dir, selection, as_json)
        elif discard:
            _discard(spool_dir, selection, dry_run, yes)
        else:
            _deliver(spool_dir, selection, observer_url, dry_run, all_)
    except SpoolError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(EXIT_SPOOL)


def _check_flags(
    list_: bool,
    as_json: bool,
    run: str | None,
    store: str | None,
    all_: bool,
    observer_url: str | None,
    dry_run: bool,
    discard: bool,
    yes: bool,
) -> None:
    """Refuse combinations that would do something other than what the user meant."""
    narrowed = run is not None or store is not None
    if as_json and not list_:
        raise click.UsageError("--json goes with --list.")
    if list_ and (observer_url or dry_run or discard):
        raise click.UsageError("--list only shows what waits; it takes --run, --store and --json.")
    if all_ and narrowed:
        raise click.UsageError("--all selects everything; leave it out to select with --run or --store.")
    if discard and observer_url:
        raise click.UsageError("--discard removes events; --observer delivers them. Use one or the other.")
    if discard and not (narrowed or all_):
        raise click.UsageError(
            "--discard removes events for good: name what with --run ID and/or --store URL, "
            "or say --all to discard everything."
        )
    if yes and not discard:
        raise click.UsageError("--yes confirms --discard; there is nothing else to confirm.")


def _nothing_matches(spool_dir: str | None, selection: Selection) -> None:
    from gnomon.sync import pending

    waiting = pending(spool_dir)
    if waiting:
        runs = len({p.run_uid for p in waiting})
        click.echo(
            f"Nothing waits for {selection}; {runs} other run{' waits' if runs == 1 else 's wait'} "
            "(see gnomon sync --list)."
        )
    else:
        click.echo("Nothing waits in the spool.")


def _list(spool_dir: str | None, selection: Selection, as_json: bool) -> None:
    from gnomon.sync import pending

    deliveries = pending(spool_dir, selection)
    now = datetime.now(UTC)
    if as_json:
        click.echo(json.dumps([d.to_json(now) for d in deliveries], indent=2))
        return
    if not deliveries:
        _nothing_matches(spool_dir, selection)
        return
    from gnomon.backlog import age_text, time_text

    header = ("RUN", "EXPERIMENT", "STARTED (UTC)", "STORE", "EVENTS", "BAD", "OLDEST")
    rows = [
        (
            d.run_label,
            d.experiment or "?",
            time_text(d.started) if d.started else "?",
            d.store_label,
            str(d.events),
            str(len(d.spooled.bad)),
            age_text((now - d.oldest).total_seconds()),
        )
        for d in deliveries
    ]
    _table(header, rows, right=(4, 5))
    runs = len({d.run_uid for d in deliveries})
    stores = len({d.store or (d.run_uid, d.spooled.observer_key) for d in deliveries})
    events = sum(d.events for d in deliveries)
    bad = sum(len(d.spooled.bad) for d in deliveries)
    click.echo(
        f"{runs} run{'s' if runs != 1 else ''} to {stores} store{'s' if stores != 1 else ''}: "
        f"{events} event{'s' if events != 1 else ''} waiting, {bad} bad."
    )
    for d in deliveries:
        for entry in d.spooled.bad:
            click.echo(f"bad: {d.describe_run()} -> {d.store_label}: event {entry.seq} ({entry.kind}) {entry.problem}")
    if any(d.run_id is None for d in deliveries):
        click.echo("A run no store gave an id is shown by the start of its uid, which --run also takes.")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    for row in (header, *rows):
        click.echo(line(row))


def _observer_selection(spool_dir: str | None, selection: Selection, observer_url: str, everything: bool) -> Selection:
    """What ``--observer URL`` applies to.

    A URL that names a store events wait for (its password, or its driver, may
    differ) is that store, given again with what it needs to connect: it applies
    to that store's events. Any other URL is a new store, and the user must say
    whose events go there (``--run``, ``--store``, or ``--all``).
    """
    from gnomon.backlog import Selection, store_key
    from gnomon.sync import pending

    if not selection.everything or everything:
        return selection
    key = store_key(observer_url)
    if any(p.store is not None and store_key(p.store) == key for p in pending(spool_dir)):
        return Selection(store=observer_url)
    raise click.UsageError(
        f"--observer sends events to {redact_url(observer_url)}, which no run waits for, instead of their own "
        "stores: name whose with --run ID and/or --store URL, or say --all to send every run there."
    )


def _deliver(
    spool_dir: str | None, selection: Selection, observer_url: str | None, dry_run: bool, everything: bool
) -> None:
    from gnomon.sync import pending, retarget_problem
    from gnomon.sync import sync as sync_spool

    if observer_url is not None:
        selection = _observer_selection(spool_dir, selection, observer_url, everything)
        problem = retarget_problem(pending(spool_dir, selection))
        if problem is not None:
            raise click.UsageError(f"Cannot send to {redact_url(observer_url)}: {problem}.")
    report = sync_spool(spool_dir=spool_dir, observer_url=observer_url, dry_run=dry_run, selection=selection)
    if not report.outcomes:
        _nothing_matches(spool_dir, selection)
        return
    for message in report.messages:
        click.echo(message)
    click.echo(report.summary)
    if report.exit_code:
        sys.exit(report.exit_code)


def _at_terminal() -> bool:
    """Whether someone can answer a question: the input is a terminal, not a pipe or a file."""
    try:
        return bool(sys.stdin.isatty())
    except (AttributeError, ValueError):  # no stdin, or a closed one
        return False


def _discard(spool_dir: str | None, selection: Selection, dry_run: bool, yes: bool) -> None:
    from gnomon.spool import Spool
    from gnomon.sync import EXIT_PENDING, EXIT_USAGE, pending

    deliveries = pending(spool_dir, selection)
    if not deliveries:
        _nothing_matches(spool_dir, selection)
        return
    events = sum(d.events for d in deliveries)
    runs = len({d.run_uid for d in deliveries})
    what = f"{events} event{'s' if events != 1 else ''} of {runs} run{'s' if runs != 1 else ''}"
    for d in deliveries:
        click.echo(f"{d.describe_run()} -> {d.store_label}: {d.events} event{'s' if d.events != 1 else ''}")
    if dry_run:
        click.echo(f"Dry run: would discard {what}; nothing was discarded.")
        return
    if not yes:
        if not _at_terminal():
            click.echo(
                f"Error: not discarding {what} without confirmation: the input is not a terminal. "
                "Add --yes to discard them.",
                err=True,
            )
            sys.exit(EXIT_USAGE)
        if not click.confirm(f"Discard {what} for good?", default=False):
            click.echo("Nothing discarded.")
            sys.exit(EXIT_PENDING)
    spool = Spool(spool_dir)
    removed = sum(spool.discard(d.run_uid, d.spooled.observer_key) for d in deliveries)
    click.echo(f"Discarded {removed} event{'s' if removed != 1 else ''} of {runs} run{'s' if runs != 1 else ''}.")
