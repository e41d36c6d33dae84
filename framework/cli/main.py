"""The ``gnomon`` command: tools that work on recorded runs rather than on one script.

``gnomon ls``, ``show``, ``compare``, ``metrics``, ``logs``, ``artifacts``,
``export``, ``tag``, ``note`` and ``lineage`` read runs back from any store
(:mod:`gnomon.cli.read`); ``gnomon dashboard`` serves them to a browser;
``gnomon sync`` delivers the events that observers could not take during a run
(a database that was down, a full disk) from the local spool; ``gnomon --version``
prints the installed version.
"""

from __future__ import annotations

import click

from gnomon.cli.read import register as register_read_commands

__all__ = ["main", "sync"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gnomon")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=_version(), prog_name="gnomon", message="%(prog)s %(version)s")
def main() -> None:
    """Record every experiment: config, output, sources, git, host, metrics and results."""


@main.command()
@click.option(
    "--spool",
    "spool_dir",
    metavar="DIR",
    default=None,
    help="Spool directory to deliver from (default: SETTINGS.SPOOL_DIR, else the user data dir).",
)
@click.option(
    "--observer",
    "observer_url",
    metavar="URL",
    default=None,
    help="Deliver to this observer instead of the ones the events were meant for.",
)
@click.option("--dry-run", is_flag=True, help="Only report what would be delivered.")
def sync(spool_dir: str | None, observer_url: str | None, dry_run: bool) -> None:
    """Deliver events that observers could not take during their runs.

    Exits with status 0 when everything was delivered, 1 when something is left.
    """
    from gnomon.errors import GnomonError
    from gnomon.spool import sync as sync_spool

    try:
        report = sync_spool(spool_dir=spool_dir, observer_url=observer_url, dry_run=dry_run)
    except GnomonError as error:
        raise click.ClickException(str(error)) from None
    for message in report.messages:
        click.echo(message)
    runs = f"{report.runs} run{'s' if report.runs != 1 else ''}"
    if dry_run:
        click.echo(f"{runs} with undelivered events (dry run: nothing delivered).")
        return
    click.echo(
        f"{runs}: delivered {report.delivered} event{'s' if report.delivered != 1 else ''}, "
        f"{report.failed} failed."
    )
    if report.failed:
        raise SystemExit(1)


register_read_commands(main)


def _register_dashboard(group: click.Group) -> None:
    # Imports only click: starlette and uvicorn load when the command runs.
    from gnomon.cli.read.dashboard import dashboard

    group.add_command(dashboard)


_register_dashboard(main)

if __name__ == "__main__":
    main()
