"""Writing rows: ``--json``, ``--nl``, ``--csv``, ``--tsv``, or a table (rich on a terminal, plain when piped).

Every listing command writes a list of dicts through :func:`emit`. Machine
formats use the column names as keys (``run_id`` first) and the encoding of
:mod:`gnomon.cli.read.encoding`. On a terminal the table is drawn by rich with
status colours and relative times ("3 min ago"); piped, it is plain aligned text
with ISO 8601 times and no ANSI codes, so ``grep`` and ``awk`` work on it.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import click

from gnomon.cli.read.encoding import cell, dumps

__all__ = [
    "STATUS_STYLES",
    "echo_lines",
    "emit",
    "format_options",
    "on_terminal",
    "relative",
    "rich_table",
    "status_text",
    "text_of",
    "write_rows",
]

STATUS_STYLES = {
    "COMPLETED": "green",
    "RUNNING": "cyan",
    "QUEUED": "dim",
    "FAILED": "red",
    "DIED": "bold red",
    "INTERRUPTED": "yellow",
    "TIMEOUT": "yellow",
}
_MAX_CELL = 60


def format_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``--nl``, ``--csv`` and ``--tsv``: one ``fmt`` parameter (None for a table)."""
    for flag, text in reversed(
        (
            ("json", "Write one JSON array of objects."),
            ("nl", "Write one JSON object per line."),
            ("csv", "Write CSV with a header row."),
            ("tsv", "Write tab-separated values with a header row."),
        )
    ):
        function = click.option(f"--{flag}", "fmt", flag_value=flag, default=None, help=text)(function)
    return function


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether output goes to a terminal (rich tables, colours, relative times) rather than a pipe or file."""
    stream = stream or sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def relative(value: datetime, now: datetime | None = None) -> str:
    """``3 min ago``, ``in 2 h``, ``just now``."""
    now = now or datetime.now(UTC)
    seconds = (now - (value if value.tzinfo else value.replace(tzinfo=UTC))).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 10:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def text_of(value: Any, *, terminal: bool, now: datetime | None = None) -> str:
    """A value as a table cell: short numbers, relative times on a terminal, ISO 8601 otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, datetime):
        if terminal:
            return relative(value, now)
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    text = value if isinstance(value, str) else dumps(value)
    text = text.replace("\n", " ").replace("\t", " ")
    return text if len(text) <= _MAX_CELL or not terminal else text[: _MAX_CELL - 1] + "…"


def write_rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], fmt: str, out: TextIO) -> int:
    """Write rows in a machine format to a text stream; returns how many were written."""
    count = 0
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(("\n" if count == 0 else ",\n") + dumps({c: row.get(c) for c in columns}))
            count += 1
        out.write("\n]\n" if count else "]\n")
    elif fmt == "nl":
        for row in rows:
            out.write(dumps({c: row.get(c) for c in columns}) + "\n")
            count += 1
    else:
        writer = csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            values = [cell(row.get(c)) for c in columns]
            if fmt == "tsv":
                values = [v.replace("\t", " ").replace("\n", " ") for v in values]
            writer.writerow(values)
            count += 1
    return count


def emit(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str | None, *, title: str | None = None
) -> None:
    """Write rows to stdout in ``fmt``, or as a table when ``fmt`` is None."""
    out = sys.stdout
    if fmt is not None:
        write_rows(rows, columns, fmt, out)
    elif on_terminal(out):
        _rich_print(rich_table(rows, columns, title))
    else:
        _plain_table(rows, columns, out)
    out.flush()


def _plain_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    cells = [[text_of(row.get(c), terminal=False) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [
        all(
            (isinstance(row.get(c), int | float) and not isinstance(row.get(c), bool)) or row.get(c) is None
            for row in rows
        )
        and any(row.get(c) is not None for row in rows)
        for c in columns
    ]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out.write(line(columns) + "\n")
    for values in cells:
        out.write(line(values) + "\n")


def rich_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> Any:
    """A rich ``Table`` of the rows (imports rich: call it only for a terminal)."""
    from rich.table import Table
    from rich.text import Text

    now = datetime.now(UTC)
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for name in columns:
        numeric = any(isinstance(r.get(name), int | float) and not isinstance(r.get(name), bool) for r in rows)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        values = []
        for name in columns:
            value = row.get(name)
            text = text_of(value, terminal=True, now=now)
            style = STATUS_STYLES.get(str(value), "") if name in ("status", "recorded_status") else ""
            values.append(Text(text, style=style))
        table.add_row(*values)
    return table


def _rich_print(renderable: Any) -> None:
    from rich.console import Console

    Console(soft_wrap=False).print(renderable)


def echo_lines(lines: Iterable[str]) -> None:
    """Print lines to stdout (for plain text outputs)."""
    out = sys.stdout
    for line in lines:
        out.write(line + "\n")
    out.flush()


def status_text(status: str | None, *, terminal: bool) -> str:
    """A status, coloured on a terminal."""
    if not terminal or not status:
        return status or ""
    return click.style(status, fg={"COMPLETED": "green", "RUNNING": "cyan", "FAILED": "red", "DIED": "red"}.get(status))
