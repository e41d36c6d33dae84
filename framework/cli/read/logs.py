"""``gnomon logs RUN``: the run's captured output, optionally followed until the run ends."""

from __future__ import annotations

import re
import sys
import time

import click

from gnomon.cli.read.failures import reported
from gnomon.cli.read.output import on_terminal
from gnomon.cli.read.references import resolve_one
from gnomon.cli.read.stores import opened, store_option

__all__ = ["logs"]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_LIVE = ("RUNNING", "QUEUED")


@click.command("logs")
@click.argument("run", metavar="RUN")
@store_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the run ends (or is found dead).")
@click.option("--tail", metavar="N", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--raw", is_flag=True, help="Keep ANSI escape codes even when the output is not a terminal.")
@click.option(
    "--interval",
    metavar="SECONDS",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="How often --follow looks for new output.",
)
@reported
def logs(run: str, store_url: str | None, follow: bool, tail: int | None, raw: bool, interval: float) -> None:
    """Print a run's captured output.

    RUN is an id, latest or latest~N. Piped, ANSI escape codes are removed unless --raw.
    """
    out = sys.stdout
    strip = not raw and not on_terminal(out)

    def write(text: str) -> None:
        if text:
            out.write(_ANSI.sub("", text) if strip else text)
            out.flush()

    with opened(store_url) as store:
        stored = store.run(resolve_one(store, run))
        length = stored.output_length if tail is not None else None
        text = stored.output(tail=tail)
        write(text)
        offset = length if length is not None else len(text)
        if not follow:
            return
        status = stored.status
        try:
            while status in _LIVE:
                time.sleep(interval)
                status = store.run(
                    stored.id
                ).status  # read before the output, so nothing written before the end is missed
                more = stored.output(offset=offset)
                offset += len(more)
                write(more)
        except KeyboardInterrupt:
            return
