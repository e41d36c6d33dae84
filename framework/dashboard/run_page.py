"""A run's page (``/runs/<id>?tab=…``), its output feed and its raw artifacts.

Tabs: overview, config, metrics, output, artifacts, sources, resources, lineage,
json. Artifacts are previewed by type: images as ``<img>``, text, CSV and JSON
inline (escaped), HTML only in an ``<iframe sandbox>`` whose source is served with
``Content-Security-Policy: sandbox`` (see :mod:`gnomon.dashboard.security`).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
from collections.abc import Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gnomon.dashboard.pages import dashboard, page, plain, render, strip_ansi
from gnomon.dashboard.security import artifact_headers
from gnomon.errors import GnomonError, RunNotFoundError
from gnomon.query.columns import flatten

if TYPE_CHECKING:
    from gnomon.query.store import Store
    from gnomon.query.stored_run import Artifact, StoredRun

__all__ = ["run_routes"]

TABS = ("overview", "config", "metrics", "output", "artifacts", "sources", "resources", "lineage", "json")
#: Characters of output shown at first, and loaded by each "load earlier".
OUTPUT_CHUNK = 65536
PREVIEW_BYTES = 200_000
_TEXT_SUFFIXES = (".txt", ".log", ".md", ".yaml", ".yml", ".py", ".toml", ".ini", ".cfg", ".json", ".csv", ".tsv")


def _run(request: Request) -> StoredRun:
    return dashboard(request).store.run(request.path_params["run_id"])


def preview_kind(artifact: Artifact) -> str:
    """How an artifact is previewed: image, html, csv, json, text or none."""
    name = artifact.name.lower()
    kind = artifact.content_type or ""
    if name.endswith((".html", ".htm")) or kind == "text/html":
        return "html"
    if kind.startswith("image/"):
        return "image"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(".json") or kind == "application/json":
        return "json"
    if name.endswith(_TEXT_SUFFIXES) or kind.startswith("text/"):
        return "text"
    return "none"


def _preview(artifact: Artifact) -> dict[str, Any]:
    kind = preview_kind(artifact)
    out: dict[str, Any] = {"kind": kind, "truncated": (artifact.size or 0) > PREVIEW_BYTES}
    if kind in ("csv", "json", "text"):
        with artifact.open() as stream:
            text = stream.read(PREVIEW_BYTES).decode("utf-8", errors="replace")
        if kind == "json" and not out["truncated"]:
            import json

            with contextlib.suppress(ValueError):  # not JSON after all: shown as text
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        if kind == "csv":
            delimiter = "\t" if artifact.name.lower().endswith(".tsv") else ","
            out["table"] = list(csv.reader(io.StringIO(text), delimiter=delimiter))[:200]
        out["text"] = text
    return out


def command_line(meta: Mapping[str, Any]) -> str:
    """The command as typed, rebuilt from meta: command, named configs, ``with`` updates, options set."""
    parts = [str(meta.get("command") or "")]
    parts += [str(n) for n in meta.get("named_configs") or ()]
    updates = meta.get("config_updates") or {}
    if updates:
        flat: dict[str, Any] = {}
        flatten("", dict(updates), flat)
        parts.append("with " + " ".join(f"{k.lstrip('.')}={v!r}" for k, v in flat.items()))
    for name, value in (meta.get("options") or {}).items():
        if value not in (None, False, [], "", 0):
            parts.append(name if value is True else f"{name}={value}")
    return " ".join(p for p in parts if p)


def _tree(value: Any) -> Any:
    return plain(value)


def run_page(request: Request) -> Response:
    """``/runs/<id>``: one run, the tab in ``?tab=`` (overview by default)."""
    dash = dashboard(request)
    query = request.query_params
    tab = query.get("tab", "overview")
    if tab not in TABS:
        tab = "overview"
    try:
        run = _run(request)
    except RunNotFoundError as error:
        return page(request, "No such run", str(error), 404)
    context: dict[str, Any] = {"run": run, "tab": tab, "tabs": TABS, "metric_names": sorted(run.metrics)}
    context["summaries"] = summaries(dash.store, run.id) if tab in ("overview", "metrics", "json") else {}
    if tab == "overview":
        repos = (run.experiment_info or {}).get("repositories") or []
        context.update(
            repositories=repos,
            command_line=command_line(run.meta or {}),
            host=dict(run.host or {}),
            result=plain(run.result),
        )
    elif tab == "config":
        flat: dict[str, Any] = {}
        flatten("", dict(run.config), flat)
        context.update(tree=_tree(dict(run.config)), flat={k.lstrip("."): v for k, v in sorted(flat.items())})
    elif tab == "output":
        search = query.get("q", "")
        length = run.output_length
        if search:
            lines = strip_ansi(run.output()).splitlines()
            context["matches"] = [(i + 1, line) for i, line in enumerate(lines) if search.lower() in line.lower()][
                :2000
            ]
        start = max(0, length - OUTPUT_CHUNK)
        context.update(search=search, output=strip_ansi(run.output(offset=start)), start=start, length=length)
    elif tab == "artifacts":
        artifacts = run.artifacts
        chosen = query.get("name")
        context.update(
            artifacts=list(artifacts.values()),
            chosen=None,
            preview_kind=preview_kind,
            scripts=query.get("scripts") == "1",
        )
        if chosen is not None and chosen in artifacts:
            context.update(chosen=artifacts[chosen], preview=_preview(artifacts[chosen]))
    elif tab == "sources":
        sources = run.sources
        chosen = query.get("path")
        context.update(
            sources=list(sources.values()), chosen=chosen if chosen in sources else None, other=query.get("diff", "")
        )
        if chosen is not None and chosen in sources:
            context.update(source_text=_read_source(sources[chosen]), diff=_source_diff(request, run, chosen))
    elif tab == "resources":
        context["resources"] = run.resources
    elif tab == "lineage":
        depth = query.get("depth", "2")
        context.update(
            depth=int(depth) if depth.isdigit() and 1 <= int(depth) <= 10 else 2,
            direction=query.get("direction", "both") if query.get("direction") in ("up", "down", "both") else "both",
        )
        try:
            context["graph"] = run.lineage(direction=context["direction"], depth=context["depth"])
        except GnomonError:
            context["graph"] = None
    elif tab == "json":
        import json

        context["document"] = json.dumps(
            _document(run, context["summaries"]), indent=2, ensure_ascii=False, sort_keys=True
        )
    return render(request, "run.html", **context)


def _read_source(source: Any) -> str | None:
    try:
        return str(source.read_text())
    except (GnomonError, KeyError, OSError, AttributeError):
        return None


def _source_diff(request: Request, run: StoredRun, path: str) -> list[str] | None:
    other_id = request.query_params.get("diff", "").strip()
    if not other_id:
        return None
    try:
        other = dashboard(request).store.run(other_id)
        theirs = _read_source(other.sources[path]) if path in other.sources else ""
    except RunNotFoundError:
        return [f"no run {other_id}"]
    ours = _read_source(run.sources[path]) or ""
    return list(
        difflib.unified_diff(
            (theirs or "").splitlines(),
            ours.splitlines(),
            f"run {other_id}/{path}",
            f"run {run.id}/{path}",
            lineterm="",
        )
    )


def summaries(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """Each metric's summaries (last, min, max, count, ...) of one run, from its listing row."""
    rows = store.runs(ids=[run_id], order_by=None).rows(["metrics.*"])
    out: dict[str, dict[str, Any]] = {}
    for column, value in (rows[0] if rows else {}).items():
        if column.startswith("metrics."):
            name, _, agg = column[len("metrics.") :].rpartition(".")
            out.setdefault(name, {})[agg] = value
    return out


def _document(run: StoredRun, metrics: dict[str, Any]) -> dict[str, Any]:
    """The run as one JSON document (the JSON tab)."""
    document: dict[str, Any] = plain(
        {
            "run_id": run.id,
            "experiment": run.experiment,
            "command": run.command,
            "status": run.status,
            "recorded_status": run.recorded_status,
            "start_time": run.start_time,
            "stop_time": run.stop_time,
            "heartbeat": run.heartbeat,
            "host": dict(run.host or {}),
            "config": dict(run.config),
            "info": dict(run.info or {}),
            "meta": dict(run.meta or {}),
            "result": run.result,
            "fail_trace": run.fail_trace,
            "tags": list(run.tags),
            "notes": run.notes,
            "metrics": metrics,
            "artifacts": [
                {"name": a.name, "size": a.size, "digest": a.digest, "content_type": a.content_type}
                for a in run.artifacts.values()
            ],
            "resources": [{"filename": r.filename, "digest": r.digest} for r in run.resources],
            "sources": [{"path": s.path, "digest": s.digest} for s in run.sources.values()],
        }
    )
    return document


def output_json(request: Request) -> Response:
    """``/runs/<id>/output.json?offset=N`` (new text from N, to follow) or ``?before=N`` (the chunk before N)."""
    try:
        run = _run(request)
        length = run.output_length
        query = request.query_params
        if "before" in query:
            end = min(_int(query.get("before"), length), length)
            start = max(0, end - OUTPUT_CHUNK)
            text = run.output(offset=start)[: end - start]
        else:
            start = min(_int(query.get("offset"), 0), length)
            text, end = run.output(offset=start), length
    except RunNotFoundError as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    return JSONResponse(
        {
            "start": start,
            "end": start + len(text) if "before" not in query else end,
            "length": length,
            "status": run.status,
            "text": strip_ansi(text),
        }
    )


def _int(text: str | None, default: int) -> int:
    try:
        return max(int(text or ""), 0)
    except ValueError:
        return default


async def artifact_raw(request: Request) -> Response:
    """``/runs/<id>/artifacts/<name>/raw``: the content, streamed, sandboxed; ``?download=1`` as a file."""
    from starlette.concurrency import run_in_threadpool

    name = request.path_params["name"]
    try:
        run = await run_in_threadpool(_run, request)
        artifact = run.artifacts.get(name)
        if artifact is None:
            raise RunNotFoundError(f"run {run.id} has no artifact {name!r}")
        stream = await run_in_threadpool(artifact.open)
    except RunNotFoundError as error:
        return Response(str(error), status_code=404, media_type="text/plain", headers=artifact_headers())
    headers = artifact_headers(scripts=request.query_params.get("scripts") == "1")
    filename = name.rsplit("/", 1)[-1].replace('"', "")
    disposition = "attachment" if request.query_params.get("download") == "1" else "inline"
    headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    media = artifact.content_type or "application/octet-stream"
    if media.startswith("text/") and "charset" not in media:
        media += "; charset=utf-8"
    return StreamingResponse(iterate_in_threadpool(_chunks(stream)), media_type=media, headers=headers)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk


def run_routes() -> list[Route]:
    """The run page, its output feed and raw artifacts."""
    return [
        Route("/runs/{run_id}", run_page, name="run"),
        Route("/runs/{run_id}/output.json", output_json, name="run_output"),
        Route("/runs/{run_id}/artifacts/{name:path}/raw", artifact_raw, name="artifact_raw"),
    ]
