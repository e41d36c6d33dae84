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
from gnomon.cli.sync import sync

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


main.add_command(sync)
register_read_commands(main)


def _register_dashboard(group: click.Group) -> None:
    # Imports only click: starlette and uvicorn load when the command runs.
    from gnomon.cli.read.dashboard import dashboard

    group.add_command(dashboard)


_register_dashboard(main)

if __name__ == "__main__":
    main()
