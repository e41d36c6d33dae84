"""``gnomon ls`` and ``gnomon show`` on every store: formats equal the query API, tables stay ANSI-free when piped."""

from __future__ import annotations

import io
import json
import math
import os
import pty
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gnomon
from gnomon.cli.main import main
from mongo_server import mongo_server  # noqa: F401 - fixtures, injected by name
from query_fixtures import BACKENDS, opened_store, write_fixture_runs


@pytest.fixture(scope="module")
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A store of the parametrised kind holding the fixture runs (written once per module)."""
    backend = request.param
    tmp = tmp_path_factory.mktemp(backend)
    if backend == "mongodb":
        pytest.importorskip("secantus")
        from gnomon.observers import MongoObserver

        url = request.getfixturevalue("mongo_server").url("cli" + uuid.uuid4().hex[:10])
        write_fixture_runs(lambda: MongoObserver(url), tmp / "work")
        yield url
        return
    with opened_store(backend, tmp, request) as (factory, url):
        write_fixture_runs(factory, tmp / "work")
        yield url


def gnomon_cli(url: str, *args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "-S", url])
    assert "Traceback" not in result.output, result.output
    return result


def encoded(value: Any) -> Any:
    """The documented JSON encoding, written independently of the command's own."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [encoded(v) for v in value]
    if isinstance(value, dict):
        return {k: encoded(v) for k, v in value.items()}
    return value


ALL = pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
LOCAL = pytest.mark.parametrize("store_url", ["file", "sqlite"], indirect=True)


@ALL
def test_ls_json_equals_rows(store_url):
    result = gnomon_cli(store_url, "ls", "--json")
    assert result.exit_code == 0, result.output
    with gnomon.open(store_url) as store:
        expected = [{k: encoded(v) for k, v in row.items()} for row in store.runs().rows()]
    assert json.loads(result.stdout) == expected
    assert [row["run_id"] for row in expected] == [str(i) for i in range(8, 0, -1)]


@ALL
def test_ls_table_and_show_are_plain_text(store_url):
    listing = gnomon_cli(store_url, "ls")
    assert listing.exit_code == 0 and "\x1b" not in listing.stdout
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:5] == ["run_id", "experiment", "status", "start_time", "duration"]
    assert lines[-1].split()[:3] == ["1", "plain", "COMPLETED"]
    assert "config.lr" in lines[0] and "config.seed" in lines[0]  # they differ
    shown = gnomon_cli(store_url, "show", "2")
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout
    assert "[overview]" in shown.stdout and "model.opt.name  adam" in shown.stdout
    assert "val/loss  count=3  last=0.3" in shown.stdout
    config = gnomon_cli(store_url, "show", "latest~7", "--section", "config", "--json")
    assert json.loads(config.stdout) == {"lr": 0.1, "seed": 1, "tags": ["baseline"]}


@LOCAL
def test_ls_csv_round_trips_through_pandas(store_url):
    pd = pytest.importorskip("pandas")
    columns = [
        "status",
        "start_time",
        "duration",
        "config.lr",
        "config.seed",
        "config.flag",
        "config.name",
        "config.model.layers",
        "metrics.loss.min",
        "metrics.weird.max",
        "tags",
    ]
    result = gnomon_cli(store_url, "ls", "--csv", "-c", ",".join(columns))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.stdout), dtype={"run_id": str, "config.name": str})
    with gnomon.open(store_url) as store:
        rows = store.runs().rows(columns)
    assert list(frame.columns) == ["run_id", *columns]
    assert frame["run_id"].tolist() == [r["run_id"] for r in rows]
    for position, row in enumerate(rows):
        for name in columns:
            want, got = row[name], frame[name].iloc[position]
            if want is None or (isinstance(want, float) and math.isnan(want)):
                assert pd.isna(got), (name, got)
            elif isinstance(want, datetime):
                assert pd.Timestamp(got) == pd.Timestamp(want), name
            elif isinstance(want, timedelta):
                assert float(got) == pytest.approx(want.total_seconds()), name
            elif isinstance(want, list | tuple):
                assert json.loads(got) == list(want), name
            elif isinstance(want, bool):
                assert got in (want, str(want).lower()), name
            elif isinstance(want, int | float):
                assert float(got) == want, name
            else:
                assert got == want, name


@LOCAL
def test_ls_nl_tsv_and_column_selection(store_url):
    nl = gnomon_cli(store_url, "ls", "--nl", "-c", "config.lr", "-c", "metrics.loss.*")
    objects = [json.loads(line) for line in nl.stdout.splitlines()]
    assert len(objects) == 8 and list(objects[0]) == [
        "run_id",
        "config.lr",
        *(f"metrics.loss.{s}" for s in ("count", "last", "last_step", "max", "min")),
    ]
    tsv = gnomon_cli(store_url, "ls", "--tsv", "-c", "experiment,config.name", "--sort", "config.seed")
    assert tsv.stdout.splitlines()[:3] == ["run_id\texperiment\tconfig.name", "1\tplain\t", "2\tnested\tünï ✓"]
    listed = gnomon_cli(store_url, "ls", "-c", "?", "--json")
    kinds = {c["column"]: c["kind"] for c in json.loads(listed.stdout)}
    assert kinds["config.lr"] == "number" and kinds["status"] == "string"


@LOCAL
def test_ls_selection_flags(store_url):
    def ids(*args: str) -> list[str]:
        result = gnomon_cli(store_url, "ls", "-q", *args)
        assert result.exit_code == 0, result.output
        return result.stdout.split()

    assert ids() == [str(i) for i in range(8, 0, -1)]
    assert ids("--where", "config.lr < 0.01") == ["8", "7", "6"]
    assert ids("-e", "nested") == ["2"]
    assert ids("--status", "failed,user_stop,INTERRUPTED") == ["4", "3"]  # any case; run 4 stopped by an interrupt
    assert ids("--tag", "baseline") == ["1"]
    assert ids("--since", "1h", "-n", "2") == ["8", "7"]
    assert ids("--until", "2000-01-01") == []
    assert ids("--sort", "config.lr,-config.seed", "-n", "3") == ["7", "6", "8"]
    missing_last = ["3", "1", "2", "4", "5", "6", "7", "8"]  # runs without the metric: last, by id
    assert ids("--since", "2000-01-01T00:00:00", "--sort", "-metrics.loss.min") == missing_last


@LOCAL
def test_ls_varying_and_facets(store_url):
    pair = 'experiment in ["producer", "consumer"]'
    default = gnomon_cli(store_url, "ls", "--where", pair)
    header = default.stdout.splitlines()[0].split()
    assert "config.seed" in header and "config.lr" not in header  # both 0.001: not varying
    everything = gnomon_cli(store_url, "ls", "--where", pair, "--no-varying")
    assert "config.lr" in everything.stdout.splitlines()[0]
    varying = gnomon_cli(store_url, "ls", "--json", "--varying", "--where", pair)
    keys = json.loads(varying.stdout)[0].keys()
    assert "config.seed" in keys and "config.lr" not in keys and "status" in keys
    facets = json.loads(gnomon_cli(store_url, "ls", "--facet", "status", "--facet", "config.lr", "--json").stdout)
    with gnomon.open(store_url) as store:
        counted = store.runs().facets("status", "config.lr")
    assert facets == [{"column": c, "value": v, "count": n} for c, pairs in counted.items() for v, n in pairs]
    assert facets[0] == {"column": "status", "value": "COMPLETED", "count": 6}
    assert {"column": "config.lr", "value": 0.001, "count": 2} in facets


@LOCAL
def test_bad_filters_and_columns_exit_2_with_a_caret(store_url):
    result = gnomon_cli(store_url, "ls", "--where", "config.lr <<< 2")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-2:] == ["  config.lr <<< 2", "              ^"]
    result = gnomon_cli(store_url, "ls", "--where", "__import__('os').system('touch pwned')")
    assert result.exit_code == 2 and not Path("pwned").exists()
    result = gnomon_cli(store_url, "ls", "-c", "config.lrr")
    assert result.exit_code == 2 and "did you mean 'config.lr'?" in result.stderr


def test_positional_store_and_environment(tmp_path):
    with opened_store("file", tmp_path, None) as (factory, url):  # type: ignore[arg-type]
        write_fixture_runs(factory, tmp_path / "work")
        by_argument = CliRunner().invoke(main, ["ls", "-q", url])
        by_env = CliRunner(env={"GNOMON_STORE": url}).invoke(main, ["ls", "-q"])
        default = CliRunner().invoke(main, ["ls", "-q"], catch_exceptions=False)
    assert by_argument.stdout == by_env.stdout == "".join(f"{i}\n" for i in range(8, 0, -1))
    assert default.exit_code == 1 and "runs does not exist" in default.stderr


def test_piped_and_terminal_output(tmp_path):
    with opened_store("file", tmp_path, None) as (factory, url):  # type: ignore[arg-type]
        write_fixture_runs(factory, tmp_path / "work")
        command = [sys.executable, "-m", "gnomon.cli.main", "ls", "-S", url, "-n", "3"]
        piped = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert piped.returncode == 0 and "\x1b" not in piped.stdout and "T" in piped.stdout.splitlines()[1]
        leader, follower = pty.openpty()
        env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        process = subprocess.Popen(command, stdout=follower, stderr=follower, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
        os.close(leader)
    text = b"".join(chunks).decode()
    assert "\x1b[" in text and ("ago" in text or "just now" in text)
    assert "COMPLETED" in text
