"""``gnomon compare RUN RUN…``: runs side by side, only what differs unless ``--all``."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.listing import _varying
from gnomon.cli.read.output import echo_lines, emit, format_options, on_terminal, text_of
from gnomon.cli.read.references import resolve
from gnomon.cli.read.stores import opened, store_option

__all__ = ["compare", "compared_columns"]

_HEAD = ("experiment", "status", "start_time", "duration", "result")
_SUMMARIES = ("last", "min", "max")


def compared_columns(rows: Sequence[dict[str, Any]], show_all: bool) -> list[str]:
    """The columns worth comparing: a few fixed ones, config that differs (all with ``show_all``), metric summaries."""
    names = list(dict.fromkeys(n for row in rows for n in row))
    config = [n for n in names if n.startswith("config.")]
    if not show_all:
        differing = _varying(rows, config)
        config = [n for n in config if n in differing]
    metrics = [n for n in names if n.startswith("metrics.") and (show_all or n.rsplit(".", 1)[1] in _SUMMARIES)]
    fixed = (
        [n for n in names if not n.startswith(("config.", "metrics.")) and n != "run_id"] if show_all else list(_HEAD)
    )
    return ["run_id", *fixed, *config, *metrics]


def _transposed(rows: Sequence[dict[str, Any]], columns: Sequence[str], terminal: bool) -> None:
    """One line per column, one column per run (the readable shape for a few runs)."""
    header = ["", *(str(r["run_id"]) for r in rows)]
    body = [[name, *(text_of(r.get(name), terminal=terminal) for r in rows)] for name in columns if name != "run_id"]
    if terminal:
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("")
        for run_id in header[1:]:
            table.add_column(f"run {run_id}", overflow="fold")
        for line in body:
            table.add_row(*line)
        Console(soft_wrap=False).print(table)
        return
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    echo_lines(["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]])


def _diff(label: str, texts: Sequence[tuple[str, str]]) -> list[str]:
    (first_id, first) = texts[0]
    lines: list[str] = []
    for other_id, other in texts[1:]:
        lines.extend(
            line.rstrip("\n")
            for line in difflib.unified_diff(
                first.splitlines(keepends=True),
                other.splitlines(keepends=True),
                fromfile=f"run {first_id} {label}",
                tofile=f"run {other_id} {label}",
            )
        )
    return lines


def _content(source: Any) -> bytes | None:
    """A source's stored content; None when the store holds only its path and digest."""
    try:
        return source.read_bytes()  # type: ignore[no-any-return]
    except KeyError:
        return None


def _source_diffs(store: Any, ids: Sequence[str], show_all: bool) -> list[str]:
    """Unified diffs of the sources that differ between the first run and each other; files not in every run listed."""
    files = {i: store.run(i).sources for i in ids}
    first_id, *others = ids
    lines: list[str] = []
    for path in sorted({p for sources in files.values() for p in sources}):
        having = [i for i in ids if path in files[i]]
        if len(having) < len(ids):
            lines.append(f"only in run{'s' if len(having) > 1 else ''} {', '.join(having)}: {path}")
            continue
        first = files[first_id][path]
        first_bytes: bytes | None = None
        read = differs = False
        for other_id in others:
            other = files[other_id][path]
            if first.digest is not None and first.digest == other.digest:
                continue
            if not read:
                first_bytes, read = _content(first), True
            other_bytes = _content(other)
            if first_bytes is None or other_bytes is None:
                if first.digest != other.digest:
                    missing = first_id if first_bytes is None else other_id
                    lines.append(f"{path} differs between runs {first_id} and {other_id} "
                                 f"(its content is not stored with run {missing})")
                    differs = True
                continue
            if first_bytes == other_bytes:
                continue
            differs = True
            if b"\0" in first_bytes or b"\0" in other_bytes:
                lines.append(f"binary files run {first_id} {path} and run {other_id} {path} differ")
                continue
            lines.extend(
                _diff(path, [(first_id, first_bytes.decode("utf-8", "replace")),
                             (other_id, other_bytes.decode("utf-8", "replace"))])
            )
        if show_all and not differs:
            lines.append(f"same in every run: {path}")
    return lines


@click.command("compare")
@click.argument("runs", metavar="RUN RUN…", nargs=-1, required=True)
@store_option
@click.option("--all", "show_all", is_flag=True, help="Every column, not only the config that differs.")
@click.option(
    "--sources", is_flag=True,
    help="Show a unified diff of the source files instead (with --json etc., each run's content digests).",
)
@click.option("--output", is_flag=True, help="Show a unified diff of the captured output instead.")
@format_options
@reported
def compare(
    runs: tuple[str, ...], store_url: str | None, show_all: bool, sources: bool, output: bool, fmt: str | None
) -> None:
    """Compare runs: the config that differs and their metric summaries, side by side.

    RUN is an id, latest, latest~N, a range such as 3-7 or a comma list.
    """
    with opened(store_url) as store:
        ids = resolve(store, runs)
        if len(ids) < 2:
            raise ReadError("compare needs at least two runs, e.g. gnomon compare 3 4 or gnomon compare 3-7")
        if output:
            lines = _diff("output", [(i, store.run(i).output()) for i in ids])
            echo_lines(lines or ["(the outputs are identical)"])
            return
        if sources and fmt is None:
            lines = _source_diffs(store, ids, show_all)
            echo_lines(lines or ["(the runs have the same sources)"])
            return
        if sources:
            listing = {i: {path: info.digest for path, info in store.run(i).sources.items()} for i in ids}
            paths = sorted({p for files in listing.values() for p in files})
            rows = [{"path": p, **{f"run {i}": (listing[i].get(p) or "")[:12] or None for i in ids}} for p in paths]
            if not show_all:
                rows = [r for r in rows if len({r[f"run {i}"] for i in ids}) > 1]
            emit(rows, ["path", *(f"run {i}" for i in ids)], fmt)
            return
        found = {r["run_id"]: r for r in store.runs(ids=ids, order_by=None).rows()}
        rows = [found[i] for i in ids if i in found]
        columns = compared_columns(rows, show_all)
        if fmt is not None:
            emit(rows, columns, fmt)
        else:
            _transposed(rows, columns, on_terminal())
