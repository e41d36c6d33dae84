"""Recording the start of a run: a new id, a queued run taken up, or a replay found again.

A started (or queued) event may reach the database twice: ``gnomon sync`` replays
one whose first delivery was cut off, and a delivery still waiting on a locked or
unreachable database when the run ended may go through after its copy was
spooled. Both must find the run stored the first time instead of making a second
one. With an id, the id says which run it is. Without one (the database numbers
the runs) the run is recognised among those the database numbered by what no
other run shares: its start (or queue) time to the microsecond, together with
the host, command, experiment and config; a run stored with a ``meta.run_uid``
is recognised by it exactly. An id another observer chose (``id_suggested``) that
names another run here is not an error: the run is numbered by this database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from gnomon.errors import ObserverError
from gnomon.events import QueuedEvent, StartedEvent, thaw
from gnomon.observers.sql.database import inserted_key
from gnomon.observers.sql.schema import runs

__all__ = ["record_start", "run_values"]


def run_values(event: StartedEvent | QueuedEvent, status: str, experiment_id: int) -> dict[str, Any]:
    """The ``runs`` columns a started (``RUNNING``) or queued (``QUEUED``) event sets."""
    meta = thaw(event.meta)
    host = thaw(event.host)
    priority = meta.get("priority")
    values: dict[str, Any] = {
        "experiment_id": experiment_id,
        "status": status,
        "command": str(event.command)[:255],
        "comment": meta.get("comment"),
        "priority": priority if isinstance(priority, int | float) and not isinstance(priority, bool) else None,
        "hostname": str(host.get("hostname") or "")[:255] or None,
        "config": thaw(event.config),
        "meta": meta,
        "host": host,
    }
    values["queue_time" if status == "QUEUED" else "start_time"] = event.time
    return values


def _same_json(stored: Any, given: Any) -> bool:
    """Whether two JSON values are equal however the database ordered their keys."""
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    try:
        return orjson.dumps(stored, option=option) == orjson.dumps(given, option=option)
    except TypeError:
        return False


def _stored_before(
    conn: sa.Connection, values: dict[str, Any], time_column: str, time: datetime
) -> tuple[int, str] | None:
    """The run this id-less start event stored already, if it did."""
    column = runs.c[time_column]
    candidates = conn.execute(
        sa.select(runs.c.id, runs.c.run_id, runs.c.config, runs.c.meta).where(
            column == time,
            runs.c.command == values["command"],
            runs.c.experiment_id == values["experiment_id"],
            runs.c.hostname.is_(None) if values["hostname"] is None else runs.c.hostname == values["hostname"],
        )
    ).all()
    given_uid = (values["meta"] or {}).get("run_uid")
    for row in candidates:
        allocated = row.run_id == str(row.id) or str(row.run_id).startswith(f"{row.id}-")
        stored_uid = row.meta.get("run_uid") if isinstance(row.meta, dict) else None
        if stored_uid is not None and given_uid is not None:
            same = stored_uid == given_uid
        else:
            same = _same_json(row.config, values["config"])
        if allocated and same:
            return int(row.id), str(row.run_id)
    return None


def record_start(
    conn: sa.Connection, event: StartedEvent | QueuedEvent, status: str, values: dict[str, Any], where: str
) -> tuple[int, str]:
    """Store the run (or find it again) in the caller's transaction: ``(key, run_id)``.

    ``where`` names the database in error messages.
    """
    if event.run_id is not None:
        run_id = str(event.run_id)
        row = conn.execute(
            sa.select(runs.c.id, runs.c.status, runs.c.start_time, runs.c.command, runs.c.meta).where(
                runs.c.run_id == run_id
            )
        ).first()
        if row is None:
            key = inserted_key(conn.execute(sa.insert(runs).values(run_id=run_id, **values)))
            return int(key), run_id
        stored_uid = (row.meta or {}).get("run_uid") if isinstance(row.meta, dict) else None
        if stored_uid is not None and event.run_uid is not None:
            same = stored_uid == event.run_uid
        else:
            same = row.command == values["command"] and (status == "QUEUED" or row.start_time == event.time)
        if same:
            return int(row.id), run_id  # the same run delivered again
        if event.id_suggested:
            pass  # another observer's id, taken here: the run gets a number of this database
        elif row.status == "QUEUED" and status == "RUNNING":  # a worker takes the queued run
            conn.execute(sa.update(runs).where(runs.c.id == row.id).values(**values))
            return int(row.id), run_id
        else:
            raise ObserverError(
                f"run id {run_id!r} in {where} already holds another run (status "
                f"{row.status}, started {row.start_time}); choose another id"
            )
    found = _stored_before(conn, values, "queue_time" if status == "QUEUED" else "start_time", event.time)
    if found is not None:
        return found
    placeholder = "new-" + uuid.uuid4().hex
    key = inserted_key(conn.execute(sa.insert(runs).values(run_id=placeholder, **values)))
    run_id = str(key)
    while conn.execute(sa.select(runs.c.id).where(runs.c.run_id == run_id)).first():
        run_id = f"{key}-{uuid.uuid4().hex[:6]}"  # a run was stored under this id by hand
    conn.execute(sa.update(runs).where(runs.c.id == key).values(run_id=run_id))
    return key, run_id
