"""``gnomon show/compare/metrics/artifacts/export/tag/note/lineage`` on file storage and SQLite."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gnomon
from gnomon.cli.main import main
from query_fixtures import opened_store, write_fixture_runs


@pytest.fixture(scope="module", params=["file", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A store holding the fixture runs (written once per module and kind); tests here only read it."""
    tmp = tmp_path_factory.mktemp(request.param)
    with opened_store(request.param, tmp, request) as (factory, url):
        write_fixture_runs(factory, tmp / "work")
        yield url


@pytest.fixture(params=["file", "sqlite"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A store of its own for a test that annotates runs."""
    with opened_store(request.param, tmp_path, request) as (factory, url):
        write_fixture_runs(factory, tmp_path / "work")
        yield url


def run_cli(url: str, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(main, [*args, "-S", url])
    assert "Traceback" not in result.stderr, result.output
    assert result.exit_code == code, result.output
    assert "\x1b" not in result.output
    return result


def test_show_sections(store_url):
    everything = json.loads(run_cli(store_url, "show", "3", "--json").stdout)
    assert set(everything) == {
        "overview",
        "config",
        "info",
        "host",
        "meta",
        "git",
        "metrics",
        "artifacts",
        "resources",
        "sources",
        "fail",
    }
    assert everything["overview"]["status"] == "FAILED"
    assert everything["fail"].rstrip().endswith("ValueError: the fixture fails")
    assert everything["metrics"] == {"loss": {"count": 1, "last": 3.0, "last_step": 0, "max": 3.0, "min": 3.0}}
    fail = run_cli(store_url, "show", "3", "--section", "fail").stdout
    assert fail.rstrip().endswith("ValueError: the fixture fails") and "[fail]" not in fail
    two = run_cli(store_url, "show", "6", "--section", "overview,artifacts").stdout
    assert "[overview]" in two and "[artifacts]" in two and "model.bin" in two and "[config]" not in two
    resources = json.loads(run_cli(store_url, "show", "7", "--section", "resources", "--json").stdout)
    assert [Path(r["filename"]).name for r in resources] == ["input-model.bin"]
    info = json.loads(run_cli(store_url, "show", "2", "--section", "info", "--json").stdout)
    assert info == {"note": "kept"}
    host = run_cli(store_url, "show", "latest", "--section", "host").stdout
    assert "hostname  box" in host
    for section in ("meta", "git", "sources"):
        run_cli(store_url, "show", "1", "--section", section)
    bad = run_cli(store_url, "show", "1", "--section", "nope", code=2)
    assert "unknown section 'nope'" in bad.stderr


def test_show_config_equals_what_was_stored(store_url, tmp_path):
    shown = json.loads(run_cli(store_url, "show", "1", "--section", "config", "--json").stdout)
    if not store_url.startswith("sqlite"):
        assert shown == json.loads((Path(store_url) / "1" / "config.json").read_text())
    assert shown == {"lr": 0.1, "seed": 1, "tags": ["baseline"]}


def test_compare_lists_only_differing_config(store_url):
    table = run_cli(store_url, "compare", "6", "7").stdout.splitlines()
    names = [line.split()[0] for line in table[1:]]
    assert table[0].split() == ["6", "7"]
    assert "config.seed" in names and "config.lr" not in names  # 0.001 in both
    rows = json.loads(run_cli(store_url, "compare", "6,7", "--all", "--json").stdout)
    assert [r["run_id"] for r in rows] == ["6", "7"] and rows[0]["config.lr"] == rows[1]["config.lr"] == 0.001
    metrics = json.loads(run_cli(store_url, "compare", "1-3", "--json").stdout)
    assert [r["run_id"] for r in metrics] == ["1", "2", "3"]
    assert metrics[0]["metrics.loss.min"] == 0.2 and metrics[2]["metrics.loss.min"] == 3.0
    assert "metrics.loss.count" not in metrics[0]
    csv = run_cli(store_url, "compare", "latest", "latest~1", "--csv").stdout.splitlines()
    assert csv[0].startswith("run_id,experiment,status") and [line[0] for line in csv[1:]] == ["8", "7"]
    for flag in ("--nl", "--tsv"):
        assert run_cli(store_url, "compare", "1", "2", flag).stdout
    output = run_cli(store_url, "compare", "1", "2", "--output").stdout.splitlines()
    assert "-hello from plain" in output and "+ünïcødé output ✓" in output
    sources = run_cli(store_url, "compare", "1", "2", "--sources").stdout
    assert "same sources" in sources
    one = run_cli(store_url, "compare", "1", code=1)
    assert "at least two runs" in one.stderr


def test_metrics_csv_equals_the_logged_points(store_url):
    pd = pytest.importorskip("pandas")
    import io

    frame = pd.read_csv(io.StringIO(run_cli(store_url, "metrics", "1", "loss", "--csv").stdout))
    assert list(frame.columns) == ["run_id", "name", "step", "value", "time"]
    assert frame["step"].tolist() == [0, 1, 2, 3, 4]
    assert frame["value"].tolist() == pytest.approx([1.0 / (s + 1) for s in range(5)])
    if not store_url.startswith("sqlite"):
        stored = json.loads((Path(store_url) / "1" / "metrics.json").read_text())["loss"]
        assert frame["step"].tolist() == stored["steps"]
        assert frame["value"].tolist() == stored["values"]
        times = pd.to_datetime(frame["time"], utc=True)
        assert times.tolist() == pd.to_datetime(stored["timestamps"], utc=True).tolist()


def test_metrics_flags(store_url):
    weird = json.loads(run_cli(store_url, "metrics", "5", "--json").stdout)
    assert [p["value"] for p in weird] == [1.0, None, None, -2.0]  # NaN and inf are null in JSON
    both = [
        json.loads(line)
        for line in run_cli(store_url, "metrics", "1", "2", "val/loss", "loss", "--nl").stdout.splitlines()
    ]
    assert {(p["run_id"], p["name"]) for p in both} == {("1", "loss"), ("2", "val/loss")}
    every = json.loads(run_cli(store_url, "metrics", "1", "--every", "3", "--json").stdout)
    assert [p["step"] for p in every] == [0, 3, 4]
    thin = json.loads(run_cli(store_url, "metrics", "1", "--points", "4", "--json").stdout)
    assert len(thin) <= 4 and {"min", "max"} <= set(thin[0]) and thin[-1]["step"] == 4
    elapsed = json.loads(run_cli(store_url, "metrics", "1", "--x", "elapsed", "--json").stdout)
    assert all(0 <= p["elapsed"] < 60 for p in elapsed)
    by_time = json.loads(run_cli(store_url, "metrics", "1", "--x", "time", "--points", "8", "--json").stdout)
    assert len(by_time) == 5
    spark = run_cli(store_url, "metrics", "1", "2", "--spark").stdout.splitlines()
    assert spark[0].split() == ["run_id", "name", "points", "first", "last", "min", "max", "spark"]
    assert spark[1].split()[:3] == ["1", "loss", "5"] and spark[1].endswith("█▃▂▁▁")
    table = run_cli(store_url, "metrics", "2", "acc.top1", "--tsv").stdout.splitlines()
    assert table[0] == "run_id\tname\tstep\tvalue\ttime" and len(table) == 4
    unknown = run_cli(store_url, "metrics", "1", "lss", code=1)
    assert "did you mean 'loss'?" in unknown.stderr


def test_artifacts(store_url, tmp_path):
    listing = json.loads(run_cli(store_url, "artifacts", "6", "--json").stdout)
    assert (
        listing
        == [
            {
                "name": "model.bin",
                "size": 800,
                "content_type": "application/octet-stream",
                "digest": listing[0]["digest"],
            }
        ]
        and len(listing[0]["digest"]) == 64
    )
    assert CliRunner().invoke(main, ["artifacts", "6", "model.bin", "--stdout", "-S", store_url]).stdout_bytes == (
        b"weights " * 100
    )
    saved = run_cli(store_url, "artifacts", "7", "--save", str(tmp_path / "out")).stdout.strip()
    assert Path(saved).read_text() == "a,b\n1,2\n"
    assert run_cli(store_url, "artifacts", "7", "--glob", "*.bin", "--csv").stdout == "name,size,content_type,digest\n"
    for flag in ("--nl", "--tsv"):
        assert "features.csv" in run_cli(store_url, "artifacts", "7", flag).stdout
    assert "features.csv" in run_cli(store_url, "artifacts", "7").stdout
    missing = run_cli(store_url, "artifacts", "6", "modl.bin", code=1)
    assert "did you mean 'model.bin'?" in missing.stderr
    several = run_cli(store_url, "artifacts", "1", "--stdout", code=2)
    assert "0 are selected" in several.stderr


def test_export(store_url, tmp_path):
    with gnomon.open(store_url) as store:
        rows = store.runs().rows()
    target = tmp_path / "runs.jsonl"
    result = run_cli(store_url, "export", "--to", str(target))
    assert "wrote 8 runs" in result.stderr
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["run_id"] for r in exported] == [r["run_id"] for r in rows] and list(exported[0]) == list(rows[0])
    run_cli(store_url, "export", "--to", str(tmp_path / "runs.csv"), "--status", "COMPLETED", "-c", "config.lr")
    assert (tmp_path / "runs.csv").read_text().splitlines()[:2] == ["run_id,config.lr", "8,0.003"]
    assert json.loads(run_cli(store_url, "export", "-e", "plain", "--json").stdout)[0]["config.seed"] == 1
    assert run_cli(store_url, "export", "--tag", "baseline", "--tsv", "-c", "experiment").stdout == (
        "run_id\texperiment\n1\tplain\n"
    )
    stdout = run_cli(store_url, "export", "--where", "config.seed > 6", "--sort", "config.seed", "-n", "1", "--nl")
    assert [json.loads(line)["run_id"] for line in stdout.stdout.splitlines()] == ["7"]
    run_cli(
        store_url,
        "export",
        "--since",
        "1d",
        "--until",
        "2100-01-01",
        "--metrics",
        "loss,val/loss",
        "--points",
        "4",
        "--to",
        str(tmp_path / "series.csv"),
    )
    points = (tmp_path / "series.csv").read_text().splitlines()
    # run 3: 1 point, run 2: 3 of val/loss, run 1: 5 points of loss into one bucket: its first (max) and last (min)
    assert points[0] == "run_id,name,step,value,time,min,max" and len(points) == 1 + 1 + 3 + 2
    assert points[-2:] == [
        points[-2].split(",")[0] + ",loss,0,1.0," + points[-2].split(",")[4] + ",0.2,1.0",
        points[-1].split(",")[0] + ",loss,4,0.2," + points[-1].split(",")[4] + ",0.2,1.0",
    ]
    bad = run_cli(store_url, "export", "--to", str(tmp_path / "runs.xlsx"), code=2)
    assert "cannot tell the format" in bad.stderr


def test_export_parquet(store_url, tmp_path):
    pd = pytest.importorskip("pandas")
    result = CliRunner().invoke(main, ["export", "--to", str(tmp_path / "runs.parquet"), "-S", store_url])
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert result.exit_code == 1 and "pip install pyarrow" in result.stderr and "Traceback" not in result.output
        return
    frame = pd.read_parquet(tmp_path / "runs.parquet")
    assert frame["run_id"].tolist() == [str(i) for i in range(8, 0, -1)]
    assert math.isinf(frame.set_index("run_id").loc["5", "metrics.weird.max"])


def test_tag_and_note(fresh_url):
    tags = json.loads(run_cli(fresh_url, "tag", "1-2,3", "--add", "best", "--add", "x,y", "--json").stdout)
    assert tags == [
        {"run_id": "1", "tags": ["baseline", "best", "x", "y"]},
        {"run_id": "2", "tags": ["best", "x", "y"]},
        {"run_id": "3", "tags": ["best", "x", "y"]},
    ]
    assert run_cli(fresh_url, "tag", "1", "2", "--remove", "x", "--remove", "y").stdout.splitlines() == [
        "run_id  tags",
        "1       baseline,best",
        "2       best",
    ]
    for flag in ("--csv", "--tsv", "--nl"):
        assert "best" in run_cli(fresh_url, "tag", "latest~7", flag).stdout
    run_cli(fresh_url, "note", "2", "first line")
    run_cli(fresh_url, "note", "2", "second", "--append")
    assert run_cli(fresh_url, "note", "2").stdout == "first line\nsecond\n"
    assert CliRunner().invoke(main, ["note", "3", "-", "-S", fresh_url], input="from stdin\n").exit_code == 0
    with gnomon.open(fresh_url) as store:
        assert store.run(3).notes == "from stdin"
        assert store.runs('"best" in tags').ids == ["3", "2", "1"]
    assert "--append needs the TEXT" in run_cli(fresh_url, "note", "2", "--append", code=2).stderr


def test_lineage(store_url):
    text = run_cli(store_url, "lineage", "7").stdout.splitlines()
    assert text[0] == "7 consumer COMPLETED"
    assert any("6 producer COMPLETED  --model.bin-->  7 consumer COMPLETED" in line for line in text)
    assert any("--features.csv-->  8 final" in line for line in text)
    graph = json.loads(run_cli(store_url, "lineage", "8", "--up", "--depth", "2", "--json").stdout)
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {("6", "7"), ("7", "8")}
    down = json.loads(run_cli(store_url, "lineage", "6", "--down", "--json").stdout)
    assert {(e["source"], e["target"]) for e in down["edges"]} == {("6", "7")}
    both = json.loads(run_cli(store_url, "lineage", "7", "--both", "--json").stdout)
    assert len(both["edges"]) == 2
    dot = run_cli(store_url, "lineage", "6", "--dot").stdout
    assert dot.startswith("digraph lineage {") and '"6" -> "7" [label="model.bin"];' in dot
    assert "(no linked runs)" in run_cli(store_url, "lineage", "1").stdout
