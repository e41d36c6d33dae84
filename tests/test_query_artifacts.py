"""Artifacts read back: typed loading that never unpickles unless asked, streamed saves, on every store."""

from __future__ import annotations

import json
import pickle
import tracemalloc
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

import gnomon  # noqa: E402
from gnomon.run import Run  # noqa: E402
from mongo_server import db, db_name, mongo_server  # noqa: E402, F401 - fixtures, injected by name
from query_fixtures import BACKENDS, opened_store  # noqa: E402

BIG = 24 * 1024 * 1024


def _record(factory, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    files = {
        "table.csv": b"a,b\n1,2\n3,4\n",
        "data.json": json.dumps({"x": [1, 2]}).encode(),
        "array.npy": b"",
        "model.pkl": pickle.dumps({"weights": [1, 2, 3]}),
        "notes.txt": "ünïcødé\n".encode(),
        "big.bin": b"",
    }
    np.save(workdir / "array.npy", np.arange(6).reshape(2, 3))
    files["array.npy"] = (workdir / "array.npy").read_bytes()
    with open(workdir / "big.bin", "wb") as out:
        block = bytes(range(256)) * 4096
        for _ in range(BIG // len(block)):
            out.write(block)
    files["big.bin"] = b""

    def main() -> None:
        for name, content in files.items():
            if content:
                (workdir / name).write_bytes(content)
            run.add_artifact(str(workdir / name), name)

    run = Run(config={"seed": 1}, main_function=main, observers=[factory()],
              experiment_info={"name": "artifacts"}, host_info={"hostname": "box"})
    run.capture_mode = "sys"
    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_artifacts_load_by_type_and_stream(backend, tmp_path, request):
    with opened_store(backend, tmp_path, request) as (factory, url):
        _record(factory, tmp_path / "work")
        with gnomon.open(url) as store:
            run = store.run(next(iter(store.runs())).id)
            artifacts = run.artifacts
            assert sorted(artifacts) == sorted(["table.csv", "data.json", "array.npy", "model.pkl", "notes.txt", "big.bin"])
            assert artifacts["table.csv"].load().equals(pd.DataFrame({"a": [1, 3], "b": [2, 4]}))
            assert artifacts["data.json"].load() == {"x": [1, 2]}
            assert artifacts["array.npy"].load().tolist() == [[0, 1, 2], [3, 4, 5]]
            assert artifacts["notes.txt"].load() == "ünïcødé\n"
            with pytest.raises(ValueError, match="allow_pickle=True"):
                artifacts["model.pkl"].load()
            assert artifacts["model.pkl"].load(allow_pickle=True) == {"weights": [1, 2, 3]}
            big = artifacts["big.bin"]
            assert big.size == BIG
            assert len(big.digest or "") == 64
            tracemalloc.start()
            try:
                saved = big.save(tmp_path / "out")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert saved.stat().st_size == BIG
            assert saved.read_bytes() == (tmp_path / "work" / "big.bin").read_bytes()
            assert peak < 8 * 1024 * 1024, f"saving a {BIG} byte artifact held {peak} bytes at once"
            assert "metrics.jsonl" not in artifacts and "run.json" not in artifacts
