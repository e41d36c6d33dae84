"""The same runs written into every kind of store, through the real observers, for the read-side tests.

``BACKENDS`` names each store; ``opened_store(backend, tmp_path, mongo)`` yields
``(observer_factory, url)`` for a fresh, empty store of that kind.
``write_fixture_runs(factory, workdir)`` records the fixture runs: every final
status, nested config with lists, None, booleans, a big integer, NaN and
infinities, unicode, metric names with ``/`` and ``.``, info, results,
artifacts and resources linking three runs A → B → C, a fail trace, and two
source files (``SOURCES``, one in a subfolder) stored with every run.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gnomon.errors import GnomonInterrupt
from gnomon.run import Run

BACKENDS = ("file", "sqlite", "postgresql", "mariadb", "mongodb")

#: Runs in the order they are written; their store ids are 1..N in that order.
NAMES = ("plain", "nested", "failed", "interrupted", "specials", "producer", "consumer", "final")


@contextlib.contextmanager
def opened_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Callable[[], Any], str]]:
    """A fresh store of ``backend``: a factory of observers writing to it, and its URL for gnomon.open."""
    if backend == "file":
        from gnomon.observers import FileStorageObserver

        folder = tmp_path / "runs"
        yield (lambda: FileStorageObserver(str(folder))), str(folder)
    elif backend == "mongodb":
        pytest.importorskip("secantus")
        server = request.getfixturevalue("mongo_server")
        db_name = request.getfixturevalue("db_name")
        from gnomon.observers import MongoObserver

        url = server.url(db_name)
        yield (lambda: MongoObserver(url)), url
    else:
        from gnomon.observers import SqlObserver
        from gnomon.observers.sql.testing import DatabaseUnavailable, fresh_database

        try:
            context = fresh_database(backend)
            url = context.__enter__()
        except DatabaseUnavailable as error:
            pytest.skip(str(error))
        try:
            yield (lambda: SqlObserver(url)), url
        finally:
            context.__exit__(None, None, None)


#: The experiment's source files (relative to its folder) and their content, stored with every run.
SOURCES = {
    "train.py": "from lib.helpers import scale\n\n\ndef main(lr=0.1):\n    return scale(lr)\n",
    "lib/helpers.py": "def scale(x):\n    return 2 * x  # ünï ✓\n",
}


def experiment_info(name: str, workdir: Path) -> dict[str, Any]:
    """The experiment block the framework builds (``get_experiment_info``), over SOURCES written into ``workdir``."""
    from gnomon.provenance import Source, get_experiment_info

    for relpath, text in SOURCES.items():
        (workdir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relpath).write_text(text, encoding="utf-8")
    sources = [Source.create(str(workdir / relpath)) for relpath in SOURCES]
    return get_experiment_info(name, str(workdir), str(workdir / "train.py"), sources, [], [])


def _run(observer: Any, name: str, main: Callable[[Run], Any], config: dict[str, Any], workdir: Path) -> Run:
    run: Run

    def body() -> Any:
        return main(run)

    run = Run(
        config=config,
        main_function=body,
        observers=[observer],
        experiment_info=experiment_info(name, workdir),
        host_info={"hostname": "box"},
        meta_info={"comment": f"the {name} run"} if name == "plain" else {},
    )
    run.beat_interval = 0.05
    run.capture_mode = "sys"
    return run


def write_fixture_runs(factory: Callable[[], Any], workdir: Path) -> None:
    """Record the fixture runs into the store the factory's observers write to."""
    workdir.mkdir(parents=True, exist_ok=True)

    def plain(run: Run) -> float:
        print("hello from plain")
        for step in range(5):
            run.log_scalar("loss", 1.0 / (step + 1), step)
        return 0.2

    def nested(run: Run) -> dict[str, Any]:
        print("ünïcødé output ✓")
        for step in range(3):
            run.log_scalar("val/loss", 0.5 - step * 0.1, step)
            run.log_scalar("acc.top1", 0.1 * step, step)
        run.info["note"] = "kept"
        return {"best": 0.3, "epochs": [1, 2]}

    def failed(run: Run) -> None:
        run.log_scalar("loss", 3.0, 0)
        raise ValueError("the fixture fails")

    class UserStop(GnomonInterrupt):
        STATUS = "USER_STOP"

    def interrupted(run: Run) -> None:
        raise UserStop()

    def specials(run: Run) -> float:
        for step, value in enumerate([1.0, math.nan, math.inf, -2.0]):
            run.log_scalar("weird", value, step)
        return math.nan

    def producer(run: Run) -> str:
        model = workdir / "model.bin"
        model.write_bytes(b"weights " * 100)
        run.add_artifact(str(model), "model.bin")
        return "made"

    def consumer(run: Run) -> str:
        copy = workdir / "input-model.bin"
        copy.write_bytes(b"weights " * 100)
        with run.open_resource(str(copy), "rb") as stream:
            stream.read()
        features = workdir / "features.csv"
        features.write_text("a,b\n1,2\n")
        run.add_artifact(str(features), "features.csv")
        return "consumed"

    def final(run: Run) -> int:
        copy = workdir / "features-copy.csv"
        copy.write_text("a,b\n1,2\n")
        run.add_resource(str(copy))
        return 7

    configs: dict[str, dict[str, Any]] = {
        "plain": {"lr": 0.1, "seed": 1, "tags": ["baseline"]},
        "nested": {
            "lr": 0.01, "seed": 2, "flag": True, "none": None, "name": "ünï ✓",
            "model": {"depth": 4, "layers": [64, 32], "act": "relu", "opt": {"name": "adam", "beta": 0.9}},
        },
        "failed": {"lr": 1.0, "seed": 3, "flag": False},
        "interrupted": {"lr": 0.5, "seed": 4, "name": "1"},
        "specials": {"lr": 2, "seed": 5, "big": 2**70, "nan": math.nan, "inf": math.inf, "one": True},
        "producer": {"lr": 0.001, "seed": 6},
        "consumer": {"lr": 0.001, "seed": 7},
        "final": {"lr": 0.003, "seed": 8, "model": {"depth": 2}},
    }
    mains = {"plain": plain, "nested": nested, "failed": failed, "interrupted": interrupted, "specials": specials,
             "producer": producer, "consumer": consumer, "final": final}
    for name in NAMES:
        run = _run(factory(), name, mains[name], configs[name], workdir)
        with contextlib.suppress(ValueError, GnomonInterrupt):
            run()
