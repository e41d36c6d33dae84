"""Sources, dependencies and git facts (gnomon.provenance), on a real temporary git repository."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import subprocess
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gnomon.errors import ConfigError
from gnomon.provenance import (
    PackageDependency,
    Source,
    gather_dependencies,
    gather_sources,
    get_digest,
    get_experiment_info,
    get_git_info,
    get_main_file,
    redact_url,
)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class Project:
    """A project folder with an experiment, a local package and environments inside it."""

    def __init__(self, root: Path, package: str) -> None:
        self.root = root
        self.package = package
        self.main = root / "experiment.py"
        self.init = root / package / "__init__.py"
        self.model = root / package / "model.py"
        self.data = root / package / "data.py"
        self.venv_module = (
            root / ".venv" / "lib" / "python3" / "site-packages" / f"{package}_installed.py"
        )
        self.env_module = root / "env" / "tools" / f"{package}_envtool.py"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    package = f"provpkg_{uuid.uuid4().hex[:8]}"
    p = Project(tmp_path / "proj", package)
    p.model.parent.mkdir(parents=True)
    p.main.write_text(f"from {package}.model import Net\nimport {package}.data\n")
    p.init.write_text("")
    p.model.write_text("class Net:\n    pass\n")
    p.data.write_text("ROWS = 3\n")
    # A virtualenv and a plain environment folder inside the project: never sources.
    p.venv_module.parent.mkdir(parents=True)
    (p.root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    p.venv_module.write_text("X = 1\n")
    p.env_module.parent.mkdir(parents=True)
    (p.root / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    p.env_module.write_text("Y = 2\n")
    git(p.root, "init", "-q")
    git(p.root, "add", "experiment.py", package)
    git(p.root, "commit", "-q", "-m", "initial")
    for folder in (p.root, p.venv_module.parent, p.env_module.parent):
        monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield p
    for name in set(sys.modules) - before:
        del sys.modules[name]


def experiment_globals(p: Project) -> dict[str, Any]:
    model = importlib.import_module(f"{p.package}.model")
    data = importlib.import_module(f"{p.package}.data")
    installed = importlib.import_module(f"{p.package}_installed")
    envtool = importlib.import_module(f"{p.package}_envtool")
    return {
        "__file__": str(p.main),
        "Net": model.Net,
        "data": data,
        "os": os,
        "inst": installed,
        "env": envtool,
    }


def names(sources: set[Source], p: Project) -> set[str]:
    return {os.path.relpath(s.filename, p.root.resolve()) for s in sources}


def test_imported_sources(project: Project) -> None:
    globs = experiment_globals(project)
    main = get_main_file(globs)
    assert main == str(project.main.resolve())
    sources = gather_sources(globs, str(project.root), main)
    pkg = project.package
    assert names(sources, project) == {
        "experiment.py",
        f"{pkg}/__init__.py",
        f"{pkg}/model.py",
        f"{pkg}/data.py",
    }
    for source in sources:
        assert source.digest == hashlib.sha256(Path(source.filename).read_bytes()).hexdigest()
        assert source.digest == get_digest(source.filename)
        assert source.repo is None
        assert source.commit is None
        assert source.is_dirty is None


def test_source_modes(project: Project) -> None:
    globs = experiment_globals(project)
    base, main = str(project.root), str(project.main)
    pkg = project.package
    everything = {"experiment.py", f"{pkg}/__init__.py", f"{pkg}/model.py", f"{pkg}/data.py"}
    assert names(gather_sources(globs, base, main, "dir"), project) == everything
    assert names(gather_sources(globs, base, main, "sys"), project) == everything
    assert names(gather_sources(globs, base, main, "none"), project) == {"experiment.py"}
    assert gather_sources(globs, base, None, "none") == set()
    with pytest.raises(ConfigError, match=r"'dirs'.*Did you mean 'dir'"):
        gather_sources(globs, base, main, "dirs")


def test_compiled_module_maps_back_to_its_source(project: Project) -> None:
    helper = project.root / "helper.py"
    helper.write_text("Z = 3\n")
    module = types.ModuleType("provenance_cached_helper")
    module.__file__ = str(
        project.root / "__pycache__" / f"helper.{sys.implementation.cache_tag}.pyc"
    )
    sys.modules[module.__name__] = module
    sources = gather_sources({"helper": module}, str(project.root), None)
    assert names(sources, project) == {"helper.py"}


def test_git_facts_one_per_repository(project: Project, tmp_path: Path) -> None:
    head = git(project.root, "rev-parse", "HEAD")
    paths = [str(project.main), str(project.model), str(project.init)]
    assert get_git_info(paths) == [
        {"url": f"git:/{project.root.resolve()}", "commit": head, "dirty": False}
    ]

    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "b.py").write_text("")
    git(other, "add", "b.py")
    git(other, "commit", "-q", "-m", "b")
    outside = tmp_path / "loose.py"
    outside.write_text("")
    info = get_git_info([*paths, str(other / "b.py"), str(outside)])
    assert [r["commit"] for r in info] == [head, git(other, "rev-parse", "HEAD")]


def test_dirty_detection(project: Project) -> None:
    (project.root / "untracked.py").write_text("")
    assert get_git_info([str(project.main)])[0]["dirty"] is False
    project.model.write_text("class Net:\n    layers = 2\n")
    assert get_git_info([str(project.main)])[0]["dirty"] is True


def test_remote_credentials_are_not_stored(project: Project) -> None:
    git(
        project.root, "remote", "add", "origin", "https://alice:ghp_secret@example.com/org/repo.git"
    )
    [facts] = get_git_info([str(project.main)])
    assert facts["url"] == "https://example.com/org/repo.git"
    assert "secret" not in str(facts)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("ssh://git:pw@host:2222/o/r.git", "ssh://git@host:2222/o/r.git"),
        ("ssh://git@host/o/r.git", "ssh://git@host/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("me:pw@host:o/r.git", "me@host:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_sources_with_git_info(project: Project) -> None:
    head = git(project.root, "rev-parse", "HEAD")
    git(project.root, "remote", "add", "origin", "git@example.com:org/repo.git")
    sources = gather_sources(
        experiment_globals(project), str(project.root), str(project.main), save_git_info=True
    )
    assert {(s.repo, s.commit, s.is_dirty) for s in sources} == {
        ("git@example.com:org/repo.git", head, False)
    }
    single = Source.create(project.data, save_git_info=True)
    assert single.commit == head
    assert single.filename == str(project.data.resolve())
    with pytest.raises(ConfigError, match=r"missing\.py"):
        Source.create(project.root / "missing.py")


def test_no_repository_means_no_git_info(tmp_path: Path) -> None:
    loose = tmp_path / "loose.py"
    loose.write_text("")
    assert get_git_info([str(loose)]) == []


def test_pandas_is_found_without_top_level_txt() -> None:
    pandas = pytest.importorskip("pandas")
    deps = gather_dependencies({"pd": pandas, "os": os, "sys": sys})
    assert PackageDependency("pandas", importlib.metadata.version("pandas")) in deps
    # numpy is always recorded when installed.
    assert PackageDependency("numpy", importlib.metadata.version("numpy")) in deps
    assert not any(d.name in ("os", "sys") for d in deps)
    # Found through a class imported from the package too.
    assert any(d.name == "pandas" for d in gather_dependencies({"DataFrame": pandas.DataFrame}))


def test_module_name_differs_from_distribution_name() -> None:
    yaml = pytest.importorskip("yaml")
    deps = gather_dependencies({"yaml": yaml})
    assert PackageDependency("PyYAML", importlib.metadata.version("PyYAML")) in deps


def test_the_dist_info_reading_agrees_with_importlib_metadata_on_every_installed_distribution() -> None:
    from gnomon.dependencies import _distribution

    checked = 0
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        first = importlib.metadata.distribution(name) if name else None  # the one imports would use
        folder = Path(str(getattr(first, "_path", "")))
        if first is None or not folder.is_dir() or folder.suffix not in (".dist-info", ".egg-info"):
            continue  # a zipped egg or a custom finder: importlib.metadata's own business
        assert _distribution(name, thorough=False) == PackageDependency(first.metadata["Name"], first.version)
        checked += 1
    assert checked >= 10  # pytest, orjson, click, ... are installed as wheels


def test_a_hello_world_run_does_not_import_importlib_metadata(tmp_path: Path) -> None:
    script = tmp_path / "exp.py"
    script.write_text(
        "import sys\n"
        "from gnomon import Experiment\n"
        "ex = Experiment('hello')\n"
        "@ex.main\n"
        "def main():\n"
        "    return 1\n"
        "run = ex.run()\n"
        "print(sorted(d for d in run.experiment_info['dependencies'] if d.startswith('gnomon')))\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True
    )
    version = importlib.metadata.version("gnomon")
    assert result.stdout.splitlines() == [f"['gnomon=={version}']", "False"]


def test_local_modules_are_not_dependencies(project: Project) -> None:
    globs = experiment_globals(project)
    assert not any(project.package in d.name for d in gather_dependencies(globs))


def test_dependency_modes() -> None:
    pytest_dep = PackageDependency("pytest", importlib.metadata.version("pytest"))
    assert pytest_dep in gather_dependencies({}, "pkg")
    assert pytest_dep in gather_dependencies({}, "sys")
    assert gather_dependencies({"pytest": pytest}, "none") == set()
    with pytest.raises(ConfigError, match=r"'package'.*'pkg'"):
        gather_dependencies({}, "package")


def test_package_dependency_json() -> None:
    assert PackageDependency("pandas", "2.2.1").to_json() == "pandas==2.2.1"
    assert PackageDependency("local", None).to_json() == "local"
    assert sorted([PackageDependency("b", "1"), PackageDependency("a", "2")])[0].name == "a"


def test_experiment_info_shape(project: Project, tmp_path: Path) -> None:
    outside = tmp_path / "shared_helper.py"
    outside.write_text("")
    base = str(project.root.resolve())
    sources = {Source.create(project.model), Source.create(project.main), Source.create(outside)}
    deps = [PackageDependency("zlib-thing", "1.0"), PackageDependency("abc", None)]
    info = get_experiment_info(
        "exp", base, str(project.main), sources, deps, [{"url": "u", "commit": "c", "dirty": False}]
    )
    assert info == {
        "name": "exp",
        "base_dir": base,
        "sources": sorted(
            [
                ["experiment.py", get_digest(project.main)],
                [f"{project.package}/model.py", get_digest(project.model)],
                [str(outside.resolve()), get_digest(outside)],
            ]
        ),
        "dependencies": ["abc", "zlib-thing==1.0"],
        "repositories": [{"url": "u", "commit": "c", "dirty": False}],
        "mainfile": "experiment.py",
    }
    assert get_experiment_info("exp", base, None, (), (), [])["mainfile"] is None
