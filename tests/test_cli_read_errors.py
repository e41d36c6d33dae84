"""Bad input to the read commands: one line naming the problem and the fix, never a traceback or a password.

Also what the commands import: ``gnomon --help`` loads no store, rich or pandas,
and no listing command imports pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from gnomon.cli.main import main
from query_fixtures import opened_store, write_fixture_runs


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("file")
    with opened_store("file", tmp, None) as (factory, url):  # type: ignore[arg-type]
        write_fixture_runs(factory, tmp / "work")
        yield url


def fails(*args: str, code: int = 1) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: ")
    return result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "99"], "no run with id '99' in file://"),
        (["logs", "latest~20"], "latest~20 names no run: file://"),
        (["compare", "1", "42-45"], "no run has an id from 42 to 45"),
        (["compare", "5-3"], "write the smaller id first (3-5)"),
        (["show", "1-3"], "'1-3' names 3 runs; this command takes one"),
        (["tag", "1,x9", "--add", "t"], "no run with id 'x9'"),
        (["metrics", "1", "2", "nope"], "no metric 'nope' in runs 1, 2"),
    ],
)
def test_bad_run_references(store_url, args, message):
    text = fails(*args, "-S", store_url)
    assert message in text and len(text.splitlines()) == 1


def test_bad_options_exit_2(store_url):
    assert "2d|DATE" not in fails("ls", "--since", "yesterday", "-S", store_url, code=2)
    assert "is not a time" in fails("ls", "--since", "yesterday", "-S", store_url, code=2)
    assert "--stdout, not both" in fails("artifacts", "6", "--save", "x", "--stdout", "-S", store_url, code=2)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:hunter2pw@127.0.0.1:1/db",
        "mysql+pymysql://user:hunter2pw@127.0.0.1:1/db",
        "postgresql://user:hunter2pw@127.0.0.1:notaport/db",
        "nosuchscheme://user:hunter2pw@host/db",
    ],
)
def test_unreachable_or_malformed_stores_hide_the_password(url):
    text = fails("ls", "-S", url)
    assert "hunter2pw" not in text and len(text.splitlines()) == 1
    assert "cannot open" in text


def test_a_missing_folder_says_what_to_give(tmp_path):
    text = fails("ls", "-S", str(tmp_path / "nowhere"))
    assert "does not exist" in text and "nowhere" in text


def test_a_missing_driver_names_the_extra(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["sqlalchemy"] = None  # as if the sql extra were not installed
        from gnomon.cli.main import main
        main(["ls", "-S", "sqlite:///{tmp_path / "x.db"}"])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'gnomon[sql]'" in result.stderr


def test_help_imports_no_store_rich_or_pandas():
    script = textwrap.dedent("""
        import sys
        from gnomon.cli.main import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        names = ("rich", "pandas", "numpy", "sqlalchemy", "pymongo", "gnomon.query.store")
        heavy = [m for m in names if m in sys.modules]
        print(heavy, file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stderr.strip() == "[]"
    assert all(
        name in result.stdout
        for name in (
            "ls",
            "show",
            "compare",
            "metrics",
            "logs",
            "artifacts",
            "export",
            "tag",
            "note",
            "lineage",
            "sync",
        )
    )


def test_listing_commands_never_import_pandas(store_url, tmp_path):
    commands = [
        ["ls"],
        ["ls", "--json"],
        ["ls", "--csv", "--facet", "status"],
        ["ls", "-c", "?"],
        ["show", "2"],
        ["show", "2", "--json"],
        ["compare", "1", "2", "--output"],
        ["compare", "1-3", "--tsv"],
        ["metrics", "1", "2", "--spark"],
        ["metrics", "1", "--points", "4", "--csv"],
        ["logs", "1"],
        ["artifacts", "6", "--nl"],
        ["export", "--to", str(tmp_path / "x.csv")],
        ["export", "--to", str(tmp_path / "x.jsonl"), "--metrics", "loss"],
        ["tag", "1"],
        ["note", "1"],
        ["lineage", "7", "--dot"],
    ]
    script = textwrap.dedent(f"""
        import json, sys
        from gnomon.cli.main import main
        seen = []
        for args in {json.dumps(commands)}:
            try:
                main(args + ["-S", {store_url!r}], standalone_mode=False)
            except SystemExit:
                pass
            seen.append("pandas" in sys.modules)
        print(json.dumps(seen), file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == [False] * len(commands), result.stderr


def test_unexpected_errors_are_one_line_unless_debugging(store_url, monkeypatch):
    import gnomon.query.store

    def broken(self, columns=None):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(gnomon.query.store.RunSet, "rows", broken)
    text = fails("ls", "-S", store_url)
    assert text == "Error: RuntimeError: disk on fire (run with GNOMON_DEBUG=1 to see the traceback)\n"
    monkeypatch.setenv("GNOMON_DEBUG", "1")
    result = CliRunner().invoke(main, ["ls", "-S", store_url])
    assert isinstance(result.exception, RuntimeError)
    assert Path(store_url).is_dir()
