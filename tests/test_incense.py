"""Incense, the notebook reader of Sacred's MongoDB runs, reads runs gnomon stored.

Incense is a third-party reader written for Sacred's schema; it reads the
``runs`` and ``metrics`` collections and GridFS directly. A run is looked up by
``_run._id``, which is the int it is stored under.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from mongo_server import db, db_name, mongo_server  # noqa: F401 - fixtures, injected by name

pytest.importorskip("pandas")
with warnings.catch_warnings():
    # Incense imports IPython and, when decoding info, Sacred: neither is ours to keep warning-free.
    warnings.simplefilter("ignore")
    incense = pytest.importorskip("incense")
    try:  # imported here, so Incense's reload of it warns nowhere
        import sacred.serializer  # noqa: F401 - imported before Incense reloads it
    except ImportError as error:  # Sacred 0.8.7 imports pkg_resources, gone from setuptools 82 on
        pytest.skip(f"Incense decodes info through Sacred, which cannot be imported: {error}", allow_module_level=True)

import pandas as pd

from gnomon import Experiment
from gnomon.observers import MongoObserver

pytestmark = [
    pytest.mark.compat,
    # Incense decodes info with jsonpickle, which announces a change of its own defaults.
    pytest.mark.filterwarnings("ignore:keys will default to True:DeprecationWarning"),
    # ... and reads an artifact's content type through a GridFS property pymongo 4 deprecates.
    pytest.mark.filterwarnings("ignore:GridOut property 'contentType' is deprecated:DeprecationWarning"),
]


def _loader(mongo_server: Any, db_name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return incense.ExperimentLoader(mongo_uri=mongo_server.uri, db_name=db_name)


def test_incense_reads_runs_config_metrics_info_and_artifacts(
    mongo_server: Any, db: Any, db_name: str, tmp_path: Path
) -> None:
    ex = Experiment("incensed")
    ex.observers.append(MongoObserver(mongo_server.url(db_name)))
    notes = tmp_path / "notes.txt"
    notes.write_text("trained well\n")
    ids: list[Any] = []

    @ex.config
    def config() -> None:
        lr = 0.1
        layers = [32, 16]

    @ex.main
    def main(_run: Any, lr: float) -> float:
        ids.append(_run._id)
        for step in range(3):
            _run.log_scalar("loss", 1.0 / (step + 1), step)
        _run.info["epochs"] = 3
        _run.add_artifact(str(notes), "notes.txt")
        return lr * 2

    first = ex.run(options={"--beat-interval": 0.05})
    second = ex.run(config_updates={"lr": 0.5}, options={"--beat-interval": 0.05})
    assert ids == [1, 2]

    loader = _loader(mongo_server, db_name)
    try:
        _check(loader, first, second)
    finally:
        loader._database.client.close()  # Incense never closes the client it makes


def _check(loader: Any, first: Any, second: Any) -> None:
    run = loader.find_by_id(first._id)
    assert run.id == 1 and run.status == "COMPLETED" and run.result == pytest.approx(0.2)
    assert run.experiment.name == "incensed"
    assert run.config["lr"] == 0.1 and list(run.config["layers"]) == [32, 16]
    assert run.info["epochs"] == 3
    loss = run.metrics["loss"]
    assert isinstance(loss, pd.Series) and loss.index.name == "step"
    assert list(loss.index) == [0, 1, 2] and list(loss.values) == pytest.approx([1.0, 0.5, 1 / 3])
    artifact = run.artifacts["notes.txt"]
    assert artifact.content == b"trained well\n"

    assert [r.id for r in loader.find_by_config_key("lr", 0.5)] == [second._id]
    assert sorted(r.id for r in loader.find_by_name("incensed")) == [1, 2]
    table = loader.find_all().project(on=["config.lr", {"metrics.loss": min}])
    assert table.loc[2, "lr"] == 0.5 and table.loc[1, "loss_min"] == pytest.approx(1 / 3)
