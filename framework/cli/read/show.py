"""``gnomon show RUN``: everything about one run, by section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from gnomon.cli.read.failures import ReadError, reported
from gnomon.cli.read.output import echo_lines, on_terminal, status_text, text_of
from gnomon.cli.read.references import resolve_one
from gnomon.cli.read.selection import split
from gnomon.cli.read.stores import opened, store_option

if TYPE_CHECKING:
    from gnomon.query.store import Store
    from gnomon.query.stored_run import StoredRun

__all__ = ["SECTIONS", "sections_of", "show"]

SECTIONS = ("overview", "config", "info", "host", "meta", "git", "metrics", "artifacts", "resources", "sources", "fail")
_DEFAULT = ("overview", "config", "metrics", "artifacts", "fail")


def _overview(run: StoredRun) -> dict[str, Any]:
    start, stop = run.start_time, run.stop_time
    return {
        "run_id": run.id,
        "experiment": run.experiment,
        "command": run.command,
        "status": run.status,
        "recorded_status": run.recorded_status,
        "start_time": start,
        "stop_time": stop,
        "heartbeat": run.heartbeat,
        "duration": stop - start if start is not None and stop is not None else None,
        "host": run.hostname,
        "result": run.result,
        "tags": list(run.tags),
        "notes": run.notes,
        "comment": run.comment,
    }


def _metrics(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    rows = store.runs(ids=[run_id], order_by=None).rows()
    summaries: dict[str, dict[str, Any]] = {}
    for name, value in (rows[0] if rows else {}).items():
        if name.startswith("metrics."):
            metric, summary = name[len("metrics.") :].rsplit(".", 1)
            summaries.setdefault(metric, {})[summary] = value
    return summaries


def sections_of(store: Store, run: StoredRun, wanted: tuple[str, ...]) -> dict[str, Any]:
    """The asked-for sections of one run as plain data (the ``--json`` shape)."""
    out: dict[str, Any] = {}
    for section in wanted:
        if section == "overview":
            out[section] = _overview(run)
        elif section in ("config", "info", "host", "meta"):
            out[section] = _plain_mapping(getattr(run, section))
        elif section == "git":
            repositories = (run.experiment_info or {}).get("repositories") or []
            out[section] = [_plain_mapping(r) for r in repositories]
        elif section == "metrics":
            out[section] = _metrics(store, run.id)
        elif section == "artifacts":
            out[section] = [
                {"name": a.name, "size": a.size, "content_type": a.content_type, "digest": a.digest}
                for a in run.artifacts.values()
            ]
        elif section == "resources":
            out[section] = [{"filename": r.filename, "digest": r.digest} for r in run.resources]
        elif section == "sources":
            out[section] = [{"path": s.path, "digest": s.digest} for s in run.sources.values()]
        elif section == "fail":
            out[section] = "".join(run.fail_trace) if run.fail_trace else None
    return out


def _plain_mapping(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain_mapping(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_mapping(v) for v in value]
    return value


def _flat(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out.append((prefix, value))


def _lines(section: str, data: Any, terminal: bool) -> list[str]:
    if section == "fail":
        return data.rstrip("\n").splitlines() if data else ["(the run did not fail)"]
    if isinstance(data, list):
        if not data:
            return ["(none)"]
        columns = list(data[0])
        cells = [[text_of(item.get(c), terminal=False) for c in columns] for item in data]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        rows = [columns, *cells]
        return ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if section == "metrics":
        pairs: list[tuple[str, Any]] = []
        for name, summary in data.items():
            pairs.append((name, "  ".join(f"{k}={text_of(v, terminal=False)}" for k, v in summary.items())))
    else:
        pairs = []
        _flat("", data, pairs)
    if not pairs or pairs == [("", {})]:
        return ["(empty)"]
    width = max(len(k) for k, _ in pairs)

    def shown(key: str, value: Any) -> str:
        return status_text(value, terminal=terminal) if key == "status" else text_of(value, terminal=terminal)

    return [f"{k.ljust(width)}  {shown(k, v)}".rstrip() for k, v in pairs]


@click.command("show")
@click.argument("run", metavar="RUN")
@store_option
@click.option(
    "--section",
    "sections",
    metavar="NAME",
    multiple=True,
    help=f"Only these sections (repeat or comma-separate): {', '.join(SECTIONS)}.",
)
@click.option("--json", "as_json", is_flag=True, help="Write JSON: the section's value, or an object of sections.")
@reported
def show(run: str, store_url: str | None, sections: tuple[str, ...], as_json: bool) -> None:
    """Show one run: overview, config, metric summaries, artifacts, failure.

    RUN is an id, latest or latest~N.
    """
    wanted = tuple(split(sections)) or (SECTIONS if as_json else _DEFAULT)
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        raise ReadError(f"unknown section {', '.join(map(repr, unknown))}: choose from {', '.join(SECTIONS)}", 2)
    with opened(store_url) as store:
        stored = store.run(resolve_one(store, run))
        data = sections_of(store, stored, wanted)
    if as_json:
        from gnomon.cli.read.encoding import dumps

        echo_lines([dumps(data[wanted[0]] if len(split(sections)) == 1 else data)])
        return
    terminal = on_terminal()
    lines: list[str] = []
    for section in wanted:
        if section == "fail" and data[section] is None and not split(sections):
            continue
        if len(wanted) > 1:
            header = f"── {section} "
            lines.append(click.style(header, bold=True) if terminal else f"[{section}]")
        lines.extend(_lines(section, data[section], terminal))
        if len(wanted) > 1:
            lines.append("")
    echo_lines(lines[:-1] if lines and lines[-1] == "" else lines)
