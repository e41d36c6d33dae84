"""The dashboard's ASGI application: :func:`create_app` over one store.

One :class:`Dashboard` per app holds the store, the edit guard, the templates, the
live feed and the table's cached facts. Page endpoints are plain functions, so
Starlette runs their (synchronous) store calls in its threadpool; ``/events`` is
the one async stream.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gnomon.dashboard.compare_page import compare_routes
from gnomon.dashboard.edits import edit_routes
from gnomon.dashboard.live import LiveFeed
from gnomon.dashboard.memory import TrimAfterHeavyRequests, give_back_free_memory
from gnomon.dashboard.pages import STATIC, environment, vendor_assets
from gnomon.dashboard.run_page import run_routes
from gnomon.dashboard.security import Guard
from gnomon.dashboard.tables import FactsCache, table_routes

if TYPE_CHECKING:
    from gnomon.query.store import Store

__all__ = ["Dashboard", "create_app"]


class Dashboard:
    """What every request of one app shares."""

    def __init__(self, store: Store, *, read_only: bool, owns_store: bool, live_interval: float = 1.0) -> None:
        self.store = store
        self.owns_store = owns_store
        self.guard = Guard(read_only=read_only)
        self.templates = environment()
        self.assets = vendor_assets()
        self.facts = FactsCache()
        self.live = LiveFeed(store, interval=live_interval)
        self.live.on_change = self.facts.clear

    def warm(self) -> None:
        """Compute the store-wide table facts ahead of the first request (errors wait for that request)."""
        from gnomon.dashboard.tables import View

        with contextlib.suppress(Exception):
            self.facts.get(self.store, View())
        give_back_free_memory()  # reading a store for the first time parses every metric log

    def close(self) -> None:
        """Stop the live feed; close the store if this app opened it."""
        self.live.close()
        if self.owns_store:
            self.store.close()


def _api_routes() -> list[BaseRoute]:
    from gnomon.dashboard.api import api_routes

    return list(api_routes())


def create_app(
    store: str | os.PathLike[str] | Store,
    *,
    read_only: bool = False,
    died_after: float | None = None,
    live_interval: float = 1.0,
) -> Starlette:
    """The dashboard over a store (a URL or path, opened here, or an open :class:`~gnomon.query.store.Store`).

    ``read_only`` hides and refuses edits; ``died_after`` is the heartbeat age (seconds)
    after which a RUNNING run shows as DIED; ``live_interval`` how often, in seconds,
    the live feed reads the store while a browser listens.
    """
    import gnomon.query

    if isinstance(store, str | os.PathLike):
        opened, owns = gnomon.query.open(store, died_after=died_after), True
    else:
        opened, owns = store, False
        if died_after is not None:
            opened.died_after = died_after
    dashboard = Dashboard(opened, read_only=read_only, owns_store=owns, live_interval=live_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Read the whole store's columns and facets once now, so the first page is fast.
        threading.Thread(target=dashboard.warm, name="gnomon-dashboard-warm", daemon=True).start()
        try:
            yield
        finally:
            app.state.closing = True
            dashboard.close()

    routes: list[BaseRoute] = [
        *table_routes(),
        *run_routes(),
        *compare_routes(),
        *edit_routes(),
        Route("/events", dashboard.live.stream, name="events"),
        *_api_routes(),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TrimAfterHeavyRequests), Middleware(GZipMiddleware, minimum_size=1024)],
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.closing = False
    return app
