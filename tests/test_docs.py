"""The documentation is tested: what the code defines must be documented, and docs must hold together.

Each check reads the real modules, so adding a flag, a setting, an observer scheme, an
event field or a value tag without documenting it fails here. A check whose module does
not exist yet is skipped; once the module exists, it runs (an import error then fails).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"

DOC_PAGES = (
    "index.md",
    "quickstart.md",
    "configuration.md",
    "command_line.md",
    "observers.md",
    "writing_an_observer.md",
    "storage_formats.md",
    "querying.md",
    "dashboard.md",
    "migrating_from_sacred.md",
)


def module_or_skip(name: str) -> ModuleType:
    """Import ``name``; skip only when it does not exist at all yet."""
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} does not exist yet")
    return importlib.import_module(name)


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def mentioned(text: str, token: str) -> bool:
    """Whether ``token`` appears as code (in backticks) somewhere in ``text``."""
    return re.search(r"`[^`\n]*(?<![\w-])" + re.escape(token) + r"(?![\w-])[^`\n]*`", text) is not None


# --------------------------------------------------------------------- the pages --


@pytest.mark.parametrize("name", DOC_PAGES)
def test_page_exists_and_is_linked_from_the_index(name):
    assert (DOCS / name).is_file(), f"docs/{name} is missing"
    if name != "index.md":
        assert f"({name})" in doc("index.md"), f"docs/index.md does not link {name}"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("name", DOC_PAGES)
def test_python_examples_in_docs_are_valid_python(name):
    for block in _python_blocks(doc(name)):
        try:
            ast.parse(block)
        except SyntaxError as error:  # pragma: no cover - the message is the point
            pytest.fail(f"docs/{name}: a python block does not parse: {error}\n{block}")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("name", [*DOC_PAGES, "../README.md"])
def test_relative_links_point_to_existing_files_and_headings(name):
    page = (DOCS / name).resolve()
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an external link
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        assert linked.exists(), f"{name} links to {target!r}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{name} links to {target!r}: no such heading"


# ------------------------------------------------------------------ command line --


def test_every_cli_flag_is_documented():
    options = module_or_skip("gnomon.cli.options")
    text = doc("command_line.md")
    missing = []
    for option in options.BUILTIN_OPTIONS:
        for flag in (option.short_flag, option.long_flag, *option.aliases):
            if flag and not mentioned(text, flag):
                missing.append(flag)
    assert not missing, f"docs/command_line.md does not mention {missing}"


def test_every_capture_mode_is_documented():
    options = module_or_skip("gnomon.cli.options")
    text = doc("command_line.md")
    assert [m for m in options.CAPTURE_MODES if not mentioned(text, m)] == []


def test_every_gnomon_command_and_option_is_documented():
    cli = module_or_skip("gnomon.cli.main")
    text = doc("command_line.md")
    group = cli.main
    missing = [f"--{o}" for o in ("version", "help") if not mentioned(text, f"gnomon --{o}")]
    for name, command in group.commands.items():
        if not mentioned(text, f"gnomon {name}"):
            missing.append(f"gnomon {name}")
        for param in command.params:
            missing.extend(f"gnomon {name} {o}" for o in param.opts if not mentioned(text, o))
    assert not missing, f"docs/command_line.md does not mention {missing}"


def test_every_built_in_command_is_documented():
    experiment = module_or_skip("gnomon.experiment")
    ex = experiment.Experiment("docs_check")
    text = doc("command_line.md")
    names = [name for name, _ in ex.gather_commands()]
    assert names, "the experiment has no built-in commands"
    assert [n for n in names if not mentioned(text, n)] == []


# ---------------------------------------------------------------------- settings --


def _setting_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        if isinstance(value, dict):
            keys.extend(_setting_keys(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_every_setting_is_documented():
    settings = module_or_skip("gnomon.settings")
    text = doc("configuration.md")
    keys = _setting_keys(settings.SETTINGS.to_dict())
    assert len(keys) > 10
    assert [k for k in keys if not mentioned(text, k)] == []


def test_every_environment_variable_is_documented():
    settings = module_or_skip("gnomon.settings")
    source = Path(settings.__file__).read_text(encoding="utf-8")
    variables = sorted(set(re.findall(r'"(GNOMON_[A-Z_]+)"', source)))
    assert variables, "gnomon.settings reads no GNOMON_* variables any more?"
    text = doc("configuration.md")
    assert [v for v in variables if not mentioned(text, v)] == []


# --------------------------------------------------------------------- observers --


def test_every_observer_url_scheme_is_documented():
    registry = module_or_skip("gnomon.observers.registry")
    text = doc("observers.md")
    schemes = registry.available_schemes()
    assert "file" in schemes
    assert [s for s in schemes if f"`{s}://" not in text] == []


def test_every_event_and_field_is_documented():
    events = module_or_skip("gnomon.events")
    text = doc("writing_an_observer.md")
    missing = []
    for kind, cls in events.EVENT_TYPES.items():
        if not mentioned(text, f"on_{kind}(event)"):
            missing.append(f"on_{kind}(event)")
        if not mentioned(text, cls.__name__):
            missing.append(cls.__name__)
        missing.extend(
            f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if not mentioned(text, f.name)
        )
    for field in dataclasses.fields(events.MetricSeries):
        if not mentioned(text, field.name) and field.name not in text:
            missing.append(f"MetricSeries.{field.name}")
    assert not missing, f"docs/writing_an_observer.md does not mention {missing}"


def test_every_observer_method_is_documented():
    base = module_or_skip("gnomon.observers.base")
    text = doc("writing_an_observer.md")
    public = [
        name
        for name, value in vars(base.Observer).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, classmethod | property))
    ]
    assert {"flush", "close", "to_url", "from_url", "handle"} <= set(public)
    assert [m for m in public if not mentioned(text, m) and not mentioned(text, f"{m}()")] == []


def test_every_value_tag_is_documented():
    serialize = module_or_skip("gnomon.serialize")
    decoding = module_or_skip("gnomon.decoding")
    text = doc("storage_formats.md")
    tags = {*decoding.DECODED_TAGS, serialize.describe(object())[serialize.TYPE_KEY]}
    assert {"float", "ndarray", "datetime"} <= tags
    assert sorted(t for t in tags if f'"__type__": "{t}"' not in text) == []


def test_every_testing_helper_is_documented():
    testing = module_or_skip("gnomon.testing")
    text = doc("writing_an_observer.md")
    assert [name for name in testing.__all__ if not mentioned(text, name)] == []


# ---------------------------------------------------------------------- examples --


def _examples() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_there_are_examples():
    assert {"hello_world.py", "config_scopes.py", "ingredients.py", "metrics_artifacts.py",
            "custom_observer.py"} <= set(_examples())


@pytest.mark.parametrize("name", _examples())
def test_every_example_is_run_by_a_test(name):
    tests = [p for p in TESTS.glob("test_*.py") if p.name != Path(__file__).name]
    assert any(f'"{name}"' in p.read_text(encoding="utf-8") for p in tests), (
        f"no test under tests/ runs examples/{name}"
    )


@pytest.mark.parametrize("name", _examples())
def test_every_example_is_listed_in_the_docs(name):
    assert f"examples/{name}" in doc("index.md"), f"docs/index.md does not list examples/{name}"


def test_observer_guide_shows_the_custom_observer_example_as_it_is():
    source = (EXAMPLES / "custom_observer.py").read_text(encoding="utf-8")
    [observer] = [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    class_source = ast.get_source_segment(source, observer)
    assert class_source in doc("writing_an_observer.md"), (
        "docs/writing_an_observer.md no longer matches examples/custom_observer.py"
    )


def test_quickstart_shows_the_hello_world_example_as_it_is():
    source = (EXAMPLES / "hello_world.py").read_text(encoding="utf-8")
    body = source[source.index("from gnomon import Experiment") :]
    assert body in doc("quickstart.md"), "docs/quickstart.md no longer matches examples/hello_world.py"


# -------------------------------------------------------------------- querying --


def test_querying_examples_run_in_order(tmp_path, script_env):
    """Every python block of docs/querying.md runs, top to bottom, as one script in a fresh folder."""
    pytest.importorskip("pandas")
    import subprocess
    import sys

    blocks = _python_blocks(doc("querying.md"))
    script = tmp_path / "querying_doc.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=script_env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"docs/querying.md examples failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    import gnomon

    with gnomon.open(tmp_path / "runs") as store:
        assert store.runs().count() == 5
        assert store.run(1).tags == ("baseline",)
    assert (tmp_path / "downloads" / "table.csv").read_text().startswith("epoch,loss")
