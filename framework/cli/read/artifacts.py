"""``gnomon artifacts RUN [NAME…]``: list a run's artifacts, save them, or stream one to stdout."""

from __future__ import annotations

import difflib
import fnmatch
import shutil
import sys

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.output import echo_lines, emit, format_options
from gnomon.cli.read.references import resolve_one
from gnomon.cli.read.stores import opened, store_option

__all__ = ["artifacts"]


@click.command("artifacts")
@click.argument("run", metavar="RUN")
@click.argument("names", metavar="[NAME…]", nargs=-1)
@store_option
@click.option("--glob", "pattern", metavar="PAT", help="Only artifacts whose name matches this pattern, e.g. '*.png'.")
@click.option("--save", "directory", metavar="DIR", help="Copy the artifacts (all, or those named) into DIR.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Write the one named artifact's bytes to stdout.")
@format_options
@reported
def artifacts(
    run: str,
    names: tuple[str, ...],
    store_url: str | None,
    pattern: str | None,
    directory: str | None,
    to_stdout: bool,
    fmt: str | None,
) -> None:
    """List, save or print the files a run added.

    RUN is an id, latest or latest~N.
    """
    if directory and to_stdout:
        raise ReadError("give either --save DIR or --stdout, not both", 2)
    with opened(store_url) as store:
        stored = store.run(resolve_one(store, run))
        files = dict(stored.artifacts)
        for name in names:
            if name not in files:
                close = difflib.get_close_matches(name, list(files), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"it has {', '.join(sorted(files)) or 'none'}"
                raise ReadError(f"run {stored.id} has no artifact {name!r}; {hint}")
        chosen = [files[n] for n in names] if names else list(files.values())
        if pattern:
            chosen = [a for a in chosen if fnmatch.fnmatchcase(a.name, pattern)]
        if to_stdout:
            if len(chosen) != 1:
                raise ReadError(f"--stdout writes one artifact, and {len(chosen)} are selected: name one", 2)
            out = sys.stdout.buffer
            with chosen[0].open() as stream:
                shutil.copyfileobj(stream, out, 1 << 20)
            out.flush()
            return
        if directory:
            echo_lines([str(artifact.save(directory)) for artifact in chosen])
            return
        rows = [{"name": a.name, "size": a.size, "content_type": a.content_type, "digest": a.digest} for a in chosen]
        emit(rows, ["name", "size", "content_type", "digest"], fmt)
