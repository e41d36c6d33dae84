"""``/compare?ids=1,2,3``: runs side by side.

The config keys whose values differ (``&all=1`` shows every key), each metric's
summaries with the best run per row marked, one overlaid plot per metric (grouped
by a config key with a band when ``&group=config.x``), parallel coordinates over
the varying config and the metrics' minima (``&axes=`` to choose), and the diffs
of the first two runs' sources and output.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gnomon.dashboard.pages import dashboard, page, render, strip_ansi
from gnomon.errors import FilterError, GnomonError

__all__ = ["best_of", "compare_routes", "higher_is_better"]

MAX_RUNS = 100
_SUMMARIES = ("min", "max", "last")
#: Metric names that read as "bigger is better"; every other metric is a loss.
_HIGHER = re.compile(r"(acc|accuracy|auc|f1|precision|recall|score|reward|return|iou|bleu|map|r2)(\b|_|$)", re.I)


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of this metric is the better one (accuracy, score, reward, ...)."""
    leaf = re.split(r"[/.]", metric)[-1]
    return bool(_HIGHER.search(leaf))


def best_of(values: dict[str, Any], *, higher: bool) -> set[str]:
    """The run ids holding the best finite value of a row (ties all marked)."""
    finite = {
        k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    if len(finite) < 2:
        return set()
    target = max(finite.values()) if higher else min(finite.values())
    return {k for k, v in finite.items() if v == target}


def _differs(values: list[Any]) -> bool:
    seen = []
    for value in values:
        key = repr(value)
        if key not in seen:
            seen.append(key)
    return len(seen) > 1


def compare_page(request: Request) -> Response:
    """Render the comparison of the runs named in ``?ids=``."""
    dash = dashboard(request)
    query = request.query_params
    ids = list(dict.fromkeys(i.strip() for i in query.get("ids", "").split(",") if i.strip()))[:MAX_RUNS]
    if not ids:
        return page(request, "Compare runs", "Select runs in the table, then press Compare (or give ?ids=1,2,3).", 400)
    try:
        rows = dash.store.runs(ids=ids, order_by=None).rows()
    except (FilterError, GnomonError) as error:
        return page(request, "Compare runs", str(error), 400)
    by_id = {r["run_id"]: r for r in rows}
    missing = [i for i in ids if i not in by_id]
    ids = [i for i in ids if i in by_id]
    show_all = query.get("all") == "1"
    config_keys = sorted({c for r in rows for c in r if c.startswith("config.")})
    config_rows = [(key, [by_id[i].get(key) for i in ids]) for key in config_keys]
    varying = [key for key, values in config_rows if _differs(values)]
    if not show_all:
        config_rows = [(k, v) for k, v in config_rows if k in varying]
    metric_names = sorted(
        {
            c[len("metrics.") :].rpartition(".")[0]
            for r in rows
            for c in r
            if c.startswith("metrics.") and r.get(c) is not None
        }
    )
    metric_rows = []
    for name in metric_names:
        higher = higher_is_better(name)
        for agg in _SUMMARIES:
            values = {i: by_id[i].get(f"metrics.{name}.{agg}") for i in ids}
            metric_rows.append(
                {"name": name, "agg": agg, "values": values, "higher": higher, "best": best_of(values, higher=higher)}
            )
    group = query.get("group", "")
    if group and group not in config_keys:
        group = ""
    axes = [a for a in query.get("axes", "").split(",") if a.strip()] or (
        varying[:6] + [f"metrics.{n}.{'max' if higher_is_better(n) else 'min'}" for n in metric_names[:4]]
    )
    context: dict[str, Any] = {
        "ids": ids,
        "missing": missing,
        "rows": [by_id[i] for i in ids],
        "config_rows": config_rows,
        "varying": varying,
        "show_all": show_all,
        "metric_names": metric_names,
        "metric_rows": metric_rows,
        "group": group,
        "axes": axes,
        "x": query.get("x", "step") if query.get("x") in ("step", "time", "elapsed") else "step",
        "params": {"ids": ",".join(ids), "all": "1" if show_all else "", "group": group, "axes": query.get("axes", "")},
    }
    if len(ids) >= 2:
        context["source_diffs"] = _source_diffs(dash.store, ids[0], ids[1])
        context["output_diff"] = _output_diff(dash.store, ids[0], ids[1])
    return render(request, "compare.html", **context)


def _source_diffs(store: Any, a: str, b: str) -> list[tuple[str, list[str]]]:
    """Per source path whose content differs between two runs, its unified diff."""
    first, second = store.run(a).sources, store.run(b).sources
    out = []
    for path in sorted(set(first) | set(second)):
        one, two = first.get(path), second.get(path)
        if one is not None and two is not None and one.digest and one.digest == two.digest:
            continue
        out.append(
            (
                path,
                list(
                    difflib.unified_diff(
                        _text(one).splitlines(),
                        _text(two).splitlines(),
                        f"run {a}/{path}",
                        f"run {b}/{path}",
                        lineterm="",
                    )
                ),
            )
        )
    return out


def _text(source: Any) -> str:
    if source is None:
        return ""
    try:
        return str(source.read_text())
    except (GnomonError, KeyError, OSError):
        return f"(content of {source.path} not stored; digest {source.digest})"


def _output_diff(store: Any, a: str, b: str, tail: int = 400) -> list[str]:
    """The unified diff of the last ``tail`` lines of two runs' output."""
    first = strip_ansi(store.run(a).output(tail=tail)).splitlines()
    second = strip_ansi(store.run(b).output(tail=tail)).splitlines()
    return list(difflib.unified_diff(first, second, f"run {a}", f"run {b}", lineterm=""))[:2000]


def compare_routes() -> list[Route]:
    """The compare page."""
    return [Route("/compare", compare_page, name="compare")]
