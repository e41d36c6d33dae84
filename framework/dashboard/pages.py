"""Rendering shared by every page: the Jinja2 templates, value formatting, the base context.

Pages are rendered on the server and work without JavaScript (links and forms);
scripts only enhance them (live rows, plots, tag editing). Everything a page
shows comes from its URL, so a reload or a shared link restores the view.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from gnomon.dashboard.app import Dashboard

__all__ = ["ago", "cell", "dashboard", "page", "query_url", "render", "vendor_assets"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: Load order of vendored scripts: a later one may need an earlier one (cytoscape-dagre needs both).
_VENDOR_ORDER = ("htmx.", "htmx-", "htmx-ext", "uplot", "cytoscape-3", "cytoscape.", "dagre", "cytoscape-dagre")
#: The front end's scripts, loaded on every page; each does nothing where its containers are absent.
FRONT_SCRIPTS = ("plots.js", "compare.js", "parcoords.js", "lineage.js")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")


def _vendor_rank(name: str) -> tuple[int, str]:
    lowered = name.lower()
    rank = 0
    for i, prefix in enumerate(_VENDOR_ORDER):
        if lowered.startswith(prefix):
            rank = i
    return (rank, lowered)


def vendor_assets() -> tuple[list[str], list[str]]:
    """The vendored scripts (in dependency order) and stylesheets, as URLs under ``/static``."""
    folder = STATIC / "vendor"
    if not folder.is_dir():
        return [], []
    scripts = sorted((p.name for p in folder.glob("*.js")), key=_vendor_rank)
    styles = sorted(p.name for p in folder.glob("*.css"))
    return [f"/static/vendor/{n}" for n in scripts], [f"/static/vendor/{n}" for n in styles]


def environment() -> jinja2.Environment:
    """The template environment: autoescaping on, undefined names an error in tests' eyes."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(cell=cell, ago=ago, when=when, size=size, tojson_compact=_json_text)
    env.globals.update(query_url=query_url)
    return env


def dashboard(request: Request) -> Dashboard:
    """The app's state (store, guard, templates)."""
    return request.app.state.dashboard  # type: ignore[no-any-return]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render a template with the base context; pages holding edit controls also get the CSRF cookie."""
    dash = dashboard(request)
    scripts, styles = dash.assets
    base = {
        "request": request,
        "read_only": dash.guard.read_only,
        "csrf_token": "" if dash.guard.read_only else dash.guard.token,
        "store_url": dash.store.url,
        "vendor_scripts": scripts,
        "vendor_styles": styles,
        "front_scripts": [f"/static/{n}" for n in FRONT_SCRIPTS if (STATIC / n).is_file()],
    }
    html = dash.templates.get_template(template).render(**base, **context)
    response = HTMLResponse(html, status_code=status_code)
    return dash.guard.set_cookie(request, response)


def page(request: Request, title: str, message: str, status_code: int) -> Response:
    """A plain error page (unknown run, bad parameter)."""
    return render(request, "message.html", status_code=status_code, title=title, message=message)


def query_url(path: str, params: Mapping[str, Any], **changes: Any) -> str:
    """``path`` with the current parameters, some changed (None drops one): links keep the view's state."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return f"{path}?{urlencode(merged)}" if merged else path


# ------------------------------------------------------------------ formatting --


def when(value: Any) -> str:
    """A UTC time to the second, the way the CLI prints it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def ago(value: Any, now: datetime | None = None) -> str:
    """``3 min ago`` for a time in the past (for "last seen" badges)."""
    if not isinstance(value, datetime):
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 60:
        return f"{max(int(seconds), 0)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{value.total_seconds():.1f}s"


def cell(value: Any) -> str:
    """One value as table text: numbers to 6 significant digits, times in UTC, lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, list | dict):
        return _json_text(value)
    return str(value)


def size(value: Any) -> str:
    """A byte count for people."""
    if not isinstance(value, int):
        return ""
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def plain(value: Any) -> Any:
    """A value made JSON-safe: times as ISO text, durations as seconds, NaN and infinities as None."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _json_text(value: Any, indent: int | None = None) -> str:
    return json.dumps(plain(value), ensure_ascii=False, indent=indent, sort_keys=indent is not None)


def strip_ansi(text: str) -> str:
    """Output without terminal colour codes (shown as plain text)."""
    return _ANSI.sub("", text)
