"""The web dashboard: ``gnomon dashboard`` serves runs from any store to a browser.

Built on the query API alone (:func:`gnomon.open`), so every store looks the same:
a runs table, a page per run, comparisons, metric plots and lineage, all with their
state in the URL. Starlette, uvicorn and Jinja2 come with the ``dashboard`` extra;
``import gnomon`` never loads them. ::

    from gnomon.dashboard import create_app
    app = create_app("runs", read_only=True)   # any ASGI server can serve it
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gnomon.dashboard.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from gnomon.dashboard.app import create_app

        return create_app
    raise AttributeError(f"module 'gnomon.dashboard' has no attribute {name!r}")
