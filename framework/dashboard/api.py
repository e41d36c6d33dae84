"""The dashboard's JSON endpoints: metric series for plots, rows for parallel coordinates, lineage graphs.

Pages are HTML rendered on the server; only what a script draws comes as JSON.
Every answer is small whatever the data: a series is downsampled on the server
(each bucket keeps its first, last, smallest and largest point, so a one-step
spike survives) to the ``points`` the plot can show, numbers are sent at the
precision a screen needs, and NaN and infinities become ``null``. The endpoints
are synchronous: Starlette runs them in its thread pool, so a slow store never
blocks the event loop. They read the store the app holds (``app.state.dashboard.store``,
or ``app.state.store``) through the query API only.

``GET /api/series?ids=1,2&names=loss&x=step|time|elapsed&points=2000&range=x0,x1&smooth=ema:0.6&group_by=config.optim``
    ``{"series": [{"run_id", "name", "x", "y", "min", "max"[, "raw": {"x", "y"}]}]}`` — one item per run and
    metric; ``x`` in steps, POSIX seconds (``time``) or seconds since the run started (``elapsed``); ``raw`` is
    the unsmoothed series, sent when ``smooth`` is given, for drawing faintly behind. With ``group_by`` the
    items are groups instead: ``{"group", "name", "run_ids", "x", "y" (mean), "min", "max"}``.
``GET /api/rows?ids=1,2,3&cols=config.lr,metrics.loss.min``
    ``{"rows": [{"run_id", <col>: value, ...}]}`` as :meth:`RunSet.rows` gives them.
``GET /api/runs/{id}/lineage?depth=2&direction=up|down|both``
    :meth:`Graph.to_dict` — ``{"root", "nodes": [{"run_id", "experiment", "status", "start_time"}], "edges": [...]}``.

A bad parameter answers 400 and an unknown run 404, both as ``{"error": message}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gnomon.errors import FilterError, RunNotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from gnomon.query.store import Store

__all__ = ["MAX_IDS", "MAX_POINTS", "api_routes"]

#: The most points one series may be asked for: ~2 per pixel of the widest plot.
MAX_POINTS = 4000
#: The most runs one request may name (a compare of 100 runs fits).
MAX_IDS = 500
_DEFAULT_POINTS = 1000
_MAX_DEPTH = 10
#: float32 keeps ~7 significant digits (plenty for a screen) in half the characters, for values in its range.
_FLOAT32_RANGE = (1e-30, 3e38)


class _BadRequest(ValueError):
    """A parameter the endpoint cannot use; answered with 400 and the message."""


def api_routes() -> list[Route]:
    """The JSON routes, for :func:`gnomon.dashboard.app.create_app` to include."""
    return [
        Route("/api/series", series, methods=["GET"]),
        Route("/api/runs/{run_id}/series", run_series, methods=["GET"]),
        Route("/api/rows", rows, methods=["GET"]),
        Route("/api/runs/{run_id}/lineage", lineage, methods=["GET"]),
    ]


# ---------------------------------------------------------------------------------------- endpoints --


def series(request: Request) -> Response:
    """Downsampled metric series of several runs (one plot's data)."""
    try:
        return _json(_series_payload(_store(request), request.query_params, _ids(request.query_params)))
    except _BadRequest as error:
        return _error(str(error), 400)


def run_series(request: Request) -> Response:
    """The same as ``/api/series`` for one run named in the path (``/api/runs/{id}/series``)."""
    try:
        return _json(_series_payload(_store(request), request.query_params, [request.path_params["run_id"]]))
    except _BadRequest as error:
        return _error(str(error), 400)


def rows(request: Request) -> Response:
    """Columns of several runs as plain rows (parallel coordinates, scatter plots)."""
    params = request.query_params
    try:
        ids = _ids(params)
        columns = _list(params, "cols")
        if not columns:
            raise _BadRequest("name the columns: cols=config.lr,metrics.loss.min")
        found = _store(request).runs(ids=ids, order_by=None).rows(columns)
    except (_BadRequest, FilterError) as error:
        return _error(str(error), 400)
    order = {run_id: i for i, run_id in enumerate(ids)}
    found.sort(key=lambda row: order.get(str(row["run_id"]), len(order)))
    return _json({"rows": [_plain(row) for row in found]})


def lineage(request: Request) -> Response:
    """The lineage graph of one run, with each node's status."""
    params = request.query_params
    run_id = request.path_params["run_id"]
    try:
        depth = _int(params, "depth", 1, 1, _MAX_DEPTH)
        direction = params.get("direction") or "both"
        if direction not in ("up", "down", "both"):
            raise _BadRequest(f"direction must be 'up', 'down' or 'both', not {direction!r}")
        graph = _store(request).run(run_id).lineage(direction=direction, depth=depth)
    except _BadRequest as error:
        return _error(str(error), 400)
    except RunNotFoundError as error:
        return _error(str(error.args[0] if error.args else error), 404)
    return _json(_plain(graph.to_dict()))


# ---------------------------------------------------------------------------------------- series --


def _series_payload(store: Store, params: Any, ids: list[str]) -> dict[str, Any]:
    names = _list(params, "names")
    if not names:
        raise _BadRequest("name the metrics: names=loss,acc")
    x = params.get("x") or "step"
    if x not in ("step", "time", "elapsed"):
        raise _BadRequest(f"x must be 'step', 'time' or 'elapsed', not {x!r}")
    points = _int(params, "points", _DEFAULT_POINTS, 4, MAX_POINTS)
    window = _range(params.get("range"))
    smooth = params.get("smooth") or None
    if smooth is not None:
        from gnomon.query.series import parse_smoothing

        try:
            parse_smoothing(smooth)
        except ValueError as error:
            raise _BadRequest(str(error)) from None
    group_by = params.get("group_by") or None
    runs = store.runs(ids=ids, order_by=None)
    try:
        frame = runs.metrics(names, x=x, max_points=points, smooth=smooth, range=window)
        raw = runs.metrics(names, x=x, max_points=points, range=window) if smooth and not group_by else None
        groups = _group_of(runs.rows([group_by]), group_by) if group_by else None
    except FilterError as error:
        raise _BadRequest(str(error)) from None
    order = {run_id: i for i, run_id in enumerate(ids)}
    rank = {name: i for i, name in enumerate(names)}
    pieces = sorted(_split(frame, x), key=lambda p: (rank.get(p["name"], 0), order.get(p["run_id"], 0)))
    if groups is not None:
        return {"series": _grouped(pieces, groups, names, points)}
    raw_pieces = {} if raw is None else {(p["run_id"], p["name"]): p for p in _split(raw, x)}
    out = []
    for piece in pieces:
        item = {
            "run_id": piece["run_id"], "name": piece["name"], "x": _xs(piece["x"], x),
            "y": _compact(piece["y"]), "min": _compact(piece["min"]), "max": _compact(piece["max"]),
        }
        companion = raw_pieces.get((piece["run_id"], piece["name"]))
        if companion is not None:
            item["raw"] = {"x": _xs(companion["x"], x), "y": _compact(companion["y"])}
        out.append(item)
    return {"series": out}


def _split(frame: pd.DataFrame, x: str) -> list[dict[str, Any]]:
    """The long frame cut into one dict of numpy arrays per (run, metric); it arrives sorted by both."""
    import numpy as np

    if frame.empty:
        return []
    if x == "step":
        xs = frame["step"].to_numpy(dtype=np.int64)
    elif x == "elapsed":
        xs = frame["elapsed"].to_numpy(dtype=np.float64)
    else:
        import pandas as pd

        xs = (frame["time"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    run_ids = frame["run_id"].to_numpy(dtype=object)
    names = frame["name"].to_numpy(dtype=object)
    values = frame["value"].to_numpy(dtype=np.float64)
    lows = frame["min"].to_numpy(dtype=np.float64)
    highs = frame["max"].to_numpy(dtype=np.float64)
    change = np.flatnonzero((run_ids[1:] != run_ids[:-1]) | (names[1:] != names[:-1])) + 1
    starts = np.r_[0, change]
    stops = np.r_[change, len(frame)]
    return [
        {"run_id": str(run_ids[a]), "name": str(names[a]),
         "x": xs[a:b], "y": values[a:b], "min": lows[a:b], "max": highs[a:b]}
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    ]


def _group_of(found: list[dict[str, Any]], column: str) -> dict[str, str]:
    """Each run's group label: the column's value as text (``(missing)`` when absent)."""
    labels = {}
    for row in found:
        value = row.get(column)
        labels[str(row["run_id"])] = "(missing)" if value is None else value if isinstance(value, str) else repr(value)
    return labels


def _grouped(
    pieces: list[dict[str, Any]], groups: dict[str, str], names: Sequence[str], points: int
) -> list[dict[str, Any]]:
    """Per metric and group: the mean of its runs on a common x grid, with their min and max as the band."""
    import numpy as np

    out = []
    for name in names:
        mine = [p for p in pieces if p["name"] == name and len(p["x"])]
        for label in sorted({groups.get(p["run_id"], "(missing)") for p in mine}):
            members = [p for p in mine if groups.get(p["run_id"], "(missing)") == label]
            lo = min(float(p["x"][0]) for p in members)
            hi = max(float(p["x"][-1]) for p in members)
            size = min(points // 2, 1000, max(len(p["x"]) for p in members))
            grid = np.linspace(lo, hi, max(2, size)) if hi > lo else np.array([lo])
            stack = np.vstack([_on_grid(grid, p["x"].astype(np.float64), p["y"]) for p in members])
            valid = np.isfinite(stack)
            count = valid.sum(axis=0)
            total = np.where(valid, stack, 0.0).sum(axis=0)
            empty = count == 0
            mean = np.where(empty, np.nan, total / np.maximum(count, 1))
            low = np.where(valid, stack, np.inf).min(axis=0)
            high = np.where(valid, stack, -np.inf).max(axis=0)
            low[empty], high[empty] = np.nan, np.nan
            out.append({
                "group": label, "name": name, "run_ids": [p["run_id"] for p in members],
                "x": np.round(grid, 6), "y": _compact(mean), "min": _compact(low), "max": _compact(high),
            })
    return out


def _on_grid(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``ys`` interpolated at ``grid`` (NaN outside the run's own x range and around its non-finite points)."""
    import numpy as np

    finite = np.isfinite(ys)
    if not finite.any():
        return np.full(len(grid), np.nan)
    found: np.ndarray = np.interp(grid, xs[finite], ys[finite], left=np.nan, right=np.nan)
    return found


def _xs(xs: np.ndarray, x: str) -> np.ndarray:
    """X values as sent: steps as integers, times to the millisecond."""
    import numpy as np

    return xs if x == "step" else np.round(xs, 3)


def _compact(values: np.ndarray) -> np.ndarray:
    """Values as float32 when they fit (half the JSON text), float64 for tiny or huge ones; NaN/inf → null."""
    import numpy as np

    finite = np.abs(values[np.isfinite(values)])
    nonzero = finite[finite > 0]
    if finite.size and (finite.max() >= _FLOAT32_RANGE[1] or (nonzero.size and nonzero.min() < _FLOAT32_RANGE[0])):
        return values
    return values.astype(np.float32)


# ---------------------------------------------------------------------------------------- parameters --


def _store(request: Request) -> Store:
    state = request.app.state
    dashboard = getattr(state, "dashboard", None)
    found: Store = dashboard.store if dashboard is not None else state.store
    return found


def _list(params: Any, name: str) -> list[str]:
    """A list parameter, given as ``a,b`` or repeated (``name=a&name=b``), blanks dropped, order kept."""
    items: list[str] = []
    for given in params.getlist(name):
        items.extend(part.strip() for part in given.split(","))
    return list(dict.fromkeys(item for item in items if item))


def _ids(params: Any) -> list[str]:
    ids = _list(params, "ids")
    if not ids:
        raise _BadRequest("name the runs: ids=1,2,3")
    if len(ids) > MAX_IDS:
        raise _BadRequest(f"at most {MAX_IDS} runs per request, not {len(ids)}")
    return ids


def _int(params: Any, name: str, default: int, lo: int, hi: int) -> int:
    """An integer parameter, clamped to ``[lo, hi]`` (a plot asking for too many points gets the most allowed)."""
    text = params.get(name)
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise _BadRequest(f"{name} must be an integer, not {text!r}") from None
    return max(lo, min(hi, value))


def _range(text: str | None) -> tuple[float, float] | None:
    """``x0,x1`` (either side may be empty for open) → a window; the bounds swap if given backwards."""
    if not text:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise _BadRequest(f"range must be 'x0,x1', not {text!r}")
    try:
        lo = float(parts[0]) if parts[0].strip() else -math.inf
        hi = float(parts[1]) if parts[1].strip() else math.inf
    except ValueError:
        raise _BadRequest(f"range must be two numbers 'x0,x1', not {text!r}") from None
    if math.isnan(lo) or math.isnan(hi):
        raise _BadRequest(f"range must be two numbers 'x0,x1', not {text!r}")
    return (lo, hi) if lo <= hi else (hi, lo)


# ---------------------------------------------------------------------------------------- encoding --


def _plain(value: Any) -> Any:
    """Any decoded store value made JSON-safe: big integers and odd types as text, durations in seconds."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return repr(value)


def _json(data: Any) -> Response:
    import orjson

    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


def _error(message: str, status: int) -> Response:
    response = _json({"error": message})
    response.status_code = status
    return response
