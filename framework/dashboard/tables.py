"""The runs table (``/``), its row fragments (``/rows``) and the export of the current view.

State is the URL: ``?where=…&sort=…&cols=…&page=…``. The filter uses the query
grammar and runs on the server; a bad filter is shown inline with a caret under
the problem. Rows come 100 a page; the last row of a page loads the next one when
it scrolls into view (htmx ``revealed``), and a plain link does the same without
scripts. The picker's columns, the facets and the default columns need every run
of the view, so they are computed once per filter and kept a few seconds (or until
the live feed sees a change).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from gnomon.dashboard.pages import cell, dashboard, plain, query_url, render
from gnomon.errors import FilterError
from gnomon.query.columns import FIXED_COLUMNS

if TYPE_CHECKING:
    from gnomon.query.columns import ColumnInfo
    from gnomon.query.store import RunSet, Store

__all__ = ["PAGE_SIZE", "View", "table_routes"]

PAGE_SIZE = 100
#: Fixed columns shown by default, before the config keys that vary and the main metrics.
DEFAULT_FIXED = ("experiment", "status", "start_time", "duration", "host", "tags")
#: Columns every row needs for its badge, whatever is shown.
_ALWAYS = ("status", "heartbeat", "start_time")
FACTS_TTL_S = 10.0
#: At most this many varying config keys are shown by default (the picker offers the rest).
MAX_CONFIG_COLUMNS = 8
_LIVE = ("RUNNING", "DIED")


@dataclass(frozen=True)
class View:
    """What the runs table shows, read from (and written back to) the URL."""

    where: str = ""
    sort: str = ""
    cols: tuple[str, ...] = ()
    page: int = 1
    ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, request: Request) -> View:
        """The view a request's query string asks for; bad numbers fall back to the first page."""
        query = request.query_params
        cols = [c.strip() for c in query.get("cols", "").split(",") if c.strip()]
        cols += [c for c in query.getlist("col") if c.strip() and c not in cols]
        try:
            page = max(int(query.get("page", "1")), 1)
        except ValueError:
            page = 1
        ids = tuple(i.strip() for i in query.get("ids", "").split(",") if i.strip())
        return cls(query.get("where", "").strip(), query.get("sort", "").strip(), tuple(cols), page, ids)

    def params(self, **changes: Any) -> dict[str, Any]:
        """The URL parameters of this view, some changed."""
        base: dict[str, Any] = {"where": self.where, "sort": self.sort, "cols": ",".join(self.cols)}
        base.update(changes)
        return {k: v for k, v in base.items() if v not in (None, "")}

    def runs(self, store: Store, *, limit: int | None = None, ids: tuple[str, ...] = ()) -> RunSet:
        """The view's run set (raises :class:`FilterError` for a bad filter or sort)."""
        order = [self.sort] if self.sort else ["-start_time"]
        return store.runs(self.where or None, order_by=order, limit=limit, ids=ids or self.ids or None)


@dataclass
class Facts:
    """What a filter's whole result gives the table: columns, default columns, facets and the count."""

    count: int
    columns: list[ColumnInfo]
    defaults: list[str]
    facets: dict[str, list[tuple[Any, int]]]
    made: float = field(default_factory=time.monotonic)


class FactsCache:
    """Facts per filter text, kept ``FACTS_TTL_S`` seconds or until the live feed reports a change."""

    def __init__(self) -> None:
        self._facts: dict[tuple[str, tuple[str, ...]], Facts] = {}
        self._lock = threading.Lock()
        self._computing = threading.Lock()

    def clear(self) -> None:
        """Forget everything (runs were added or changed)."""
        with self._lock:
            self._facts.clear()

    def cached(self, view: View) -> Facts | None:
        """The facts of the view's filter if computed and still fresh, else None (nothing is read)."""
        with self._lock:
            found = self._facts.get((view.where, view.ids))
        return found if found is not None and time.monotonic() - found.made < FACTS_TTL_S else None

    def get(self, store: Store, view: View) -> Facts:
        """The facts of the view's filter, computed when missing or stale."""
        key = (view.where, view.ids)
        with self._computing:  # one computation at a time: a second asker waits and reuses it
            found = self.cached(view)
            if found is not None:
                return found
            facts = _facts(store.runs(view.where or None, order_by=None, ids=view.ids or None))
        with self._lock:
            if len(self._facts) > 64:
                self._facts.clear()
            self._facts[key] = facts
        return facts


def _facts(runs: RunSet) -> Facts:
    columns = runs.columns()
    varying = runs.varying()
    rows = runs.rows()
    popularity: Counter[str] = Counter()
    present: Counter[str] = Counter()
    for row in rows:
        for name, value in row.items():
            if name.startswith("metrics.") and name.endswith(".count") and value:
                popularity[name[len("metrics.") : -len(".count")]] += 1
            elif name.startswith("config.") and value is not None:
                present[name] += 1
    metrics = [name for name, _ in sorted(popularity.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    # The keys most runs have come first when many vary; shown in their usual (sorted) order.
    common = set(sorted(varying, key=lambda k: (-present[k], k))[:MAX_CONFIG_COLUMNS])
    defaults = [*DEFAULT_FIXED, *(k for k in varying if k in common)]
    for name in metrics:
        defaults += [f"metrics.{name}.last", f"metrics.{name}.min"]
    by_path = {c.path: c for c in columns}
    low = [p for p in varying if 1 < by_path[p].n_distinct <= 12 and by_path[p].kind in ("string", "bool", "number")]
    paths = ["status", "experiment", "host", "tags", *low[:5]]
    facets = runs.facets(*paths, limit=12)
    return Facts(count=len(rows), columns=columns, defaults=defaults, facets=facets)


def _shown(view: View, facts: Facts) -> list[str]:
    """The columns to show; a name no run of the view has is a :class:`FilterError` naming the closest."""
    if not view.cols:
        return list(facts.defaults)
    known = {c.path for c in facts.columns} | set(FIXED_COLUMNS)
    unknown = [c for c in view.cols if c not in known and not c.startswith(("info.", "meta.", "host."))]
    if unknown and facts.count:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise FilterError(f"unknown column {', '.join(hints)}; pick columns from the Columns list")
    return list(view.cols)


def _select(runs: RunSet, shown: list[str]) -> list[dict[str, Any]]:
    """The shown columns of each run; a column a run lacks is None (a page may hold none of a column)."""
    wanted = list(dict.fromkeys([*shown, *_ALWAYS]))
    patterns = ["*", *(f"{b}.*" for b in ("info", "meta", "host") if any(c.startswith(f"{b}.") for c in wanted))]
    return [{"run_id": r["run_id"], **{c: r.get(c) for c in wanted}} for r in runs.rows(patterns)]


def _rows(
    store: Store, view: View, shown: list[str], *, ids: tuple[str, ...] = ()
) -> tuple[list[dict[str, Any]], bool]:
    """The rows of the view's page (or of ``ids``) and whether more pages follow."""
    if ids:
        return _select(view.runs(store, ids=ids), shown), False
    end = view.page * PAGE_SIZE
    rows = _select(view.runs(store, limit=end + 1), shown)
    return rows[end - PAGE_SIZE : end], len(rows) > end


def _facet_link(view: View, path: str, value: Any) -> str:
    import json

    if path == "tags":
        clause = f"{json.dumps(value)} in tags"
    elif value is None:
        clause = f"{path} == null"
    else:
        clause = f"{path} == {json.dumps(value)}"
    where = f"({view.where}) and {clause}" if view.where else clause
    return query_url("/", view.params(where=where, page=None))


def runs_page(request: Request) -> Response:
    """``/``: the filter box, facets, column picker, the first page of rows and the live glue."""
    dash = dashboard(request)
    view = View.of(request)
    error = None
    rows: list[dict[str, Any]] = []
    more = False
    facts = Facts(0, [], list(DEFAULT_FIXED), {})
    shown = list(view.cols) or list(DEFAULT_FIXED)
    count = 0
    facets = None
    # Default columns and the picker come from the whole store (cached); the view's own
    # facets are shown at once when cached, else fetched by the page after the rows.
    facts = dash.facts.get(dash.store, View(ids=view.ids))
    try:
        shown = _shown(view, facts)
        rows, more = _rows(dash.store, view, shown)
        count = view.runs(dash.store).count() if view.where else facts.count
        cached = facts if not view.where else dash.facts.cached(view)
        facets = cached.facets if cached is not None else None
    except FilterError as problem:
        error = problem.caret()
        facets = {}
    return render(
        request,
        "runs.html",
        view=view,
        params=view.params(),
        rows=rows,
        shown=shown,
        more=more,
        facts=facts,
        facets=facets,
        count=count,
        error=error,
        facet_link=lambda path, value: _facet_link(view, path, value),
        live_statuses=_LIVE,
    )


def facets_fragment(request: Request) -> Response:
    """``/facets``: the facet sidebar of a filtered view (counted over every run it matches)."""
    dash = dashboard(request)
    view = View.of(request)
    try:
        facets = dash.facts.get(dash.store, view).facets
    except FilterError:
        facets = {}
    html = dash.templates.get_template("facets.html").render(
        facets=facets, facet_link=lambda path, value: _facet_link(view, path, value)
    )
    return HTMLResponse(html)


def rows_fragment(request: Request) -> Response:
    """``/rows``: the ``<tr>``s of one page (infinite scroll) or of some ids (live updates)."""
    dash = dashboard(request)
    view = View.of(request)
    ids = tuple(i.strip() for i in request.query_params.get("only", "").split(",") if i.strip())
    try:
        shown = _shown(view, dash.facts.get(dash.store, View(ids=view.ids)))
        rows, more = _rows(dash.store, view, shown, ids=ids)
    except FilterError as problem:
        return HTMLResponse(f'<tr class="filter-error"><td>{_escape(problem.caret())}</td></tr>', status_code=400)
    template = dash.templates.get_template("rows.html")
    html = template.render(
        rows=rows,
        shown=shown,
        more=more,
        view=view,
        params=view.params(),
        live_statuses=_LIVE,
        read_only=dash.guard.read_only,
    )
    return HTMLResponse(html)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _export_rows(request: Request) -> tuple[list[dict[str, Any]], list[str]] | Response:
    dash = dashboard(request)
    view = View.of(request)
    try:
        shown = _shown(view, dash.facts.get(dash.store, View(ids=view.ids)))
        return _select(view.runs(dash.store), shown), shown
    except FilterError as problem:
        return Response(problem.caret() + "\n", status_code=400, media_type="text/plain")


def export_csv(request: Request) -> Response:
    """``/export.csv``: every run of the current view (all pages), the shown columns."""
    found = _export_rows(request)
    if isinstance(found, Response):
        return found
    rows, shown = found

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["run_id", *shown])
        for row in rows:
            writer.writerow([row["run_id"], *(_csv_value(row.get(c)) for c in shown)])
            if buffer.tell() > 65536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="runs.csv"'},
    )


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return (
            cell(value)
            if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf"))
            else value
        )
    return cell(value)


def export_json(request: Request) -> Response:
    """``/export.json``: the current view as a JSON list of row objects (NaN and infinities as null)."""
    import json

    found = _export_rows(request)
    if isinstance(found, Response):
        return found
    rows, shown = found
    body = json.dumps(
        [plain({"run_id": r["run_id"], **{c: r.get(c) for c in shown}}) for r in rows], ensure_ascii=False
    )
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="runs.json"'},
    )


def table_routes() -> list[Route]:
    """The runs table, its fragments and the exports."""
    return [
        Route("/", runs_page, name="runs"),
        Route("/rows", rows_fragment, name="rows"),
        Route("/facets", facets_fragment, name="facets"),
        Route("/export.csv", export_csv, name="export_csv"),
        Route("/export.json", export_json, name="export_json"),
    ]
