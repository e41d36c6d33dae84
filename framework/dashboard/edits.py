"""Edits: tags and notes, as POSTs guarded by the CSRF token (refused on a read-only dashboard).

A form POST answers with a redirect back to the page it came from; a script's POST
(``Accept: application/json``) gets the run's tags and notes as JSON.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gnomon.dashboard.pages import dashboard
from gnomon.errors import RunNotFoundError

__all__ = ["edit_routes"]


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]


def _back(request: Request, fields: dict[str, str], default: str) -> str:
    target = fields.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default


def _answer(request: Request, fields: dict[str, str], ids: list[str], default: str) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        runs = dashboard(request).store.runs(ids=ids, order_by=None).rows(["tags", "notes"])
        return JSONResponse(
            {"runs": [{"run_id": r["run_id"], "tags": list(r["tags"]), "notes": r["notes"]} for r in runs]}
        )
    return RedirectResponse(_back(request, fields, default), status_code=303)


async def edit_run(request: Request) -> Response:
    """``POST /runs/<id>/annotate``: fields ``add`` and ``remove`` (comma lists) and/or ``notes``."""
    dash = dashboard(request)
    fields = await dash.guard.form(request)
    refused = dash.guard.refusal(request, fields)
    if refused is not None:
        return refused
    run_id = request.path_params["run_id"]
    notes = fields.get("notes")
    try:
        await run_in_threadpool(
            dash.store.annotate,
            run_id,
            add_tags=_tags(fields.get("add", "")),
            remove_tags=_tags(fields.get("remove", "")),
            notes=notes.replace("\r\n", "\n") if notes is not None else None,
        )
    except RunNotFoundError as error:
        return Response(str(error), status_code=404, media_type="text/plain")
    except ValueError as error:
        return Response(str(error), status_code=400, media_type="text/plain")
    dash.facts.clear()
    return await run_in_threadpool(_answer, request, fields, [run_id], f"/runs/{run_id}")


async def tag_runs(request: Request) -> Response:
    """``POST /tag``: fields ``ids`` (comma list), ``add`` and ``remove``: tag many runs at once."""
    dash = dashboard(request)
    fields = await dash.guard.form(request)
    refused = dash.guard.refusal(request, fields)
    if refused is not None:
        return refused
    ids = [i.strip() for i in fields.get("ids", "").split(",") if i.strip()]
    add, remove = _tags(fields.get("add", "")), _tags(fields.get("remove", ""))
    if not ids or not (add or remove):
        return Response("give ids and tags to add or remove", status_code=400, media_type="text/plain")

    def apply() -> None:
        for run_id in ids:
            dash.store.annotate(run_id, add_tags=add, remove_tags=remove)

    try:
        await run_in_threadpool(apply)
    except RunNotFoundError as error:
        return Response(str(error), status_code=404, media_type="text/plain")
    except ValueError as error:
        return Response(str(error), status_code=400, media_type="text/plain")
    dash.facts.clear()
    return await run_in_threadpool(_answer, request, fields, ids, "/")


def edit_routes() -> list[Route]:
    """The edit endpoints (POST only: a GET answers 405)."""
    return [
        Route("/runs/{run_id}/annotate", edit_run, methods=["POST"], name="annotate"),
        Route("/tag", tag_runs, methods=["POST"], name="tag"),
    ]
