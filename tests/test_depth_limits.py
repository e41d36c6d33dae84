"""One nesting limit for config, info and results, the same on file storage, SQL and MongoDB.

A config nested deeper than ``gnomon.serialize.MAX_DEPTH`` is refused with a
ConfigError before the run starts, so no store holds half a run; ``info`` and a
result that deep are stored as text (the ``repr`` tag) with one warning, and the
run ends COMPLETED everywhere.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gnomon import Experiment
from gnomon.errors import ConfigError
from gnomon.observers import FileStorageObserver, MongoObserver, SqlObserver
from gnomon.observers.sql.schema import runs as runs_table
from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database
from gnomon.serialize import MAX_DEPTH, TYPE_KEY
from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name


def nest(levels: int, leaf: Any = 1) -> Any:
    """``{"x": {"x": ... leaf}}`` with ``levels`` dicts."""
    value = leaf
    for _ in range(levels):
        value = {"x": value}
    return value


def depth(value: Any) -> int:
    """Levels of dicts and lists in stored data."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def has_repr_tag(value: Any) -> bool:
    while isinstance(value, dict):
        if value.get(TYPE_KEY) == "repr":
            return "{'x': {'x':" in value["repr"]
        value = value.get("x")
    return False


class Stores:
    """A folder, a SQLite file and a Mongo database, each observed by one run at a time."""

    def __init__(self, tmp_path: Path, mongo_url: str, mongo_db: Any) -> None:
        self.folder = tmp_path / "runs"
        self.sqlite_url = f"sqlite:///{tmp_path / 'runs.db'}"
        self.mongo_url = mongo_url
        self.mongo = mongo_db

    def observers(self) -> list[Any]:
        return [FileStorageObserver(self.folder), SqlObserver(self.sqlite_url), MongoObserver(self.mongo_url)]

    def runs(self) -> dict[str, list[dict[str, Any]]]:
        """What each store holds: status, config, info and result of every run."""
        found: dict[str, list[dict[str, Any]]] = {"file": [], "sqlite": [], "mongo": []}
        for run_json in sorted(self.folder.glob("[0-9]*/run.json")):
            entry = json.loads(run_json.read_text())
            info_file = run_json.with_name("info.json")
            found["file"].append(
                {
                    "status": entry["status"],
                    "result": entry.get("result"),
                    "config": json.loads(run_json.with_name("config.json").read_text()),
                    "info": json.loads(info_file.read_text()) if info_file.exists() else {},
                }
            )
        engine = sa.create_engine(self.sqlite_url)
        try:
            with engine.connect() as conn:
                if sa.inspect(conn).has_table("runs"):
                    columns = (runs_table.c.status, runs_table.c.result, runs_table.c.config, runs_table.c.info)
                    for row in conn.execute(sa.select(*columns)):
                        found["sqlite"].append({**row._asdict(), "info": row.info or {}})
        finally:
            engine.dispose()
        for doc in self.mongo.runs.find():
            found["mongo"].append({k: doc.get(k) for k in ("status", "result", "config", "info")})
        return found


@pytest.fixture
def stores(tmp_path: Path, mongo_server: Any, db: Any, db_name: str) -> Stores:
    return Stores(tmp_path, mongo_server.url(db_name), db)


def experiment(stores: Stores, main: Any, config: dict[str, Any] | None = None) -> Experiment:
    ex = Experiment("deep", save_git_info=False)
    ex.add_config(config or {"lr": 0.1})
    ex.main(main)
    ex.observers.extend(stores.observers())
    return ex


def test_info_nested_300_levels_is_kept_as_text_and_the_run_completes(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    def main(_run: Any) -> int:
        _run.info["deep"] = nest(300)
        _run.info["plain"] = 7
        return 1

    with caplog.at_level(logging.WARNING, logger="gnomon"):
        run = experiment(stores, main).run(options={"--beat-interval": 0.05})
    assert run.status == "COMPLETED"
    stored = stores.runs()
    for store, runs in stored.items():
        assert [r["status"] for r in runs] == ["COMPLETED"], store
        info = runs[0]["info"]
        assert info["plain"] == 7, store
        assert has_repr_tag(info["deep"]), store
        assert depth(info) <= MAX_DEPTH + 1, store  # Mongo adds nothing; + info['metrics'] lists
    warnings = [r for r in caplog.records if "info" in r.getMessage() and "stored as text" in r.getMessage()]
    assert len(warnings) == 1  # once per run, not once per beat


def test_result_nested_300_levels_is_kept_as_text_and_the_run_completes(stores: Stores) -> None:
    def main() -> Any:
        return nest(300)

    run = experiment(stores, main).run()
    assert run.status == "COMPLETED"
    for store, runs in stores.runs().items():
        assert [r["status"] for r in runs] == ["COMPLETED"], store
        assert has_repr_tag(runs[0]["result"]), store


@pytest.mark.parametrize("levels", [400, 1000])
@pytest.mark.parametrize("given_as", ["dict", "scope"])
def test_config_nested_too_deep_is_refused_before_the_run_starts(stores: Stores, levels: int, given_as: str) -> None:
    ran = []

    def build_and_run() -> None:
        if given_as == "dict":  # refused when added
            ex = experiment(stores, lambda: ran.append(1), {"c": nest(levels)})
        else:  # a config scope builds it: refused when the config is resolved

            def scope() -> None:
                c = nest(levels)  # a config entry

            ex = experiment(stores, lambda: ran.append(1))
            ex.config(scope)
        ex.run()

    with pytest.raises(ConfigError, match=f"deeper than {MAX_DEPTH} levels|nested too deeply"):
        build_and_run()
    assert not ran
    assert stores.runs() == {"file": [], "sqlite": [], "mongo": []}
    assert not list(stores.folder.glob("[0-9]*"))  # no run folder, not even an empty one


@pytest.mark.parametrize("levels", [400, 1000])
def test_config_file_nested_too_deep_is_refused_with_its_name(stores: Stores, tmp_path: Path, levels: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"c": ' + '{"x": ' * levels + "1" + "}" * levels + "}")
    ex = experiment(stores, lambda: None, {"c": 1})
    with pytest.raises(ConfigError, match=r"deep\.json.*nested deeper than"):
        ex.run(named_configs=[str(path)])
    assert stores.runs() == {"file": [], "sqlite": [], "mongo": []}


def test_the_limit_itself_fits_every_store_mariadb_included(stores: Stores) -> None:
    """A config, info and result exactly MAX_DEPTH deep are stored as they are, everywhere."""
    try:
        context = fresh_database("mariadb")
        mariadb_url = context.__enter__()
    except DatabaseUnavailable as error:
        pytest.skip(str(error))
    try:
        limit = nest(MAX_DEPTH)  # the top-level dict included

        def main(_run: Any) -> Any:
            _run.info.update(limit)
            return limit

        ex = experiment(stores, main, limit)
        ex.observers.append(SqlObserver(mariadb_url))
        assert ex.run().status == "COMPLETED"
        for store, runs in stores.runs().items():
            assert runs[0]["config"]["x"] == limit["x"], store
            assert runs[0]["result"] == limit, store
            assert runs[0]["info"]["x"] == limit["x"], store
        engine = sa.create_engine(mariadb_url)
        with engine.connect() as conn:
            row = conn.execute(sa.select(runs_table.c.status, runs_table.c.config, runs_table.c.result)).one()
        engine.dispose()
        assert row.status == "COMPLETED" and depth(row.config) == MAX_DEPTH
        assert row.result == limit
    finally:
        context.__exit__(None, None, None)
