"""Waiting for a MongoDB server before a run starts, without pymongo's long server selection.

pymongo looks for servers in background threads and an operation waits for one
for up to ``serverSelectionTimeoutMS`` (10 s here), also when every server has
already refused the connection: a refusal is retried, not reported. Before a run
starts the observer asks the client's topology instead (public API:
``MongoClient.topology_description``): a server found ends the wait at once, and
so does every server's first check failing with a refusal or an unknown host.
"""

from __future__ import annotations

import time
from typing import Any

from gnomon.errors import ServerUnreachable
from gnomon.observers.reachability import is_refusal, summary

__all__ = ["await_server"]


def _found(description: Any) -> bool:
    """Whether the topology has a server writes can go to (a single, a primary, mongos, a balancer)."""
    try:
        return bool(description.has_writable_server())
    except Exception:  # noqa: BLE001 - an unusual topology: let the first operation decide
        return True


def await_server(client: Any, timeout: float, where: str) -> None:
    """Return once ``client`` found a writable server; raise ServerUnreachable when it cannot.

    A refusal (or an unknown host) of every server named is reported as soon as
    each was checked once; a server that does not answer is reported after
    ``timeout`` seconds, with the last error seen if there was one.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    last_error: BaseException | None = None
    while True:
        description = client.topology_description
        if _found(description):
            return
        servers = list(description.server_descriptions().values())
        errors = [server.error for server in servers]
        last_error = next((e for e in errors if e is not None), last_error)
        if servers and all(e is not None and is_refusal(e) for e in errors):
            raise ServerUnreachable(f"{where} cannot be reached: {summary(errors[0])}") from errors[0]
        if time.monotonic() >= deadline:
            seen = f" (last error: {summary(last_error)})" if last_error is not None else ""
            raise ServerUnreachable(f"{where} did not answer within {timeout:g} s{seen}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
