"""Packaging guard rails.

The repository folders are not named after the packages (`framework/` is
`gnomon`, `observers/` is `gnomon.observers`), so packaging mistakes are easy
and silent: a subpackage missing from setup.cfg works in an editable install
and is absent from the wheel; a `find_packages()` would ship a top-level
`framework`. These tests build the real wheel once per session and check what
users would install.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP_CFG = ROOT / "setup.cfg"

#: Libraries that `import gnomon` must not load (style guide, rule 15).
HEAVY_MODULES = (
    "pymongo",
    "sqlalchemy",
    "pandas",
    "git",
    "rich",
    "starlette",
    "numpy",
    "yaml",
    "cpuinfo",
    "jsonpickle",
    "mako",
)
#: Drivers that `import gnomon.observers` must not load either: each observer
#: imports its own driver when it is constructed.
DRIVER_MODULES = ("pymongo", "sqlalchemy", "alembic", "psycopg", "pymysql", "pandas", "mako")

#: Files under the package folders that never belong in a wheel.
IGNORED_NAMES = {"__pycache__", ".DS_Store"}
IGNORED_SUFFIXES = (".pyc", ".pyo", "~", ".swp", ".orig", ".rej")

SUBPROCESS_TIMEOUT = 240


# ----------------------------------------------------------------- helpers --


def _read_setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SETUP_CFG, encoding="utf-8")
    return parser


def _lines(value: str) -> list[str]:
    return [
        line.strip()
        for line in value.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _declared_packages() -> list[str]:
    return _lines(_read_setup_cfg()["options"]["packages"])


def _package_dir() -> dict[str, str]:
    """The package -> folder mapping of setup.cfg, e.g. {"gnomon": "framework"}."""
    mapping: dict[str, str] = {}
    for line in _lines(_read_setup_cfg()["options"]["package_dir"]):
        package, _, folder = line.partition("=")
        mapping[package.strip()] = folder.strip()
    return mapping


def _package_roots() -> list[tuple[str, Path]]:
    """(package name, folder) for each mapped root, the deepest names first."""
    roots = [(name, ROOT / folder) for name, folder in _package_dir().items()]
    return sorted(roots, key=lambda item: item[0].count("."), reverse=True)


def _ignored(path: Path) -> bool:
    return any(part in IGNORED_NAMES for part in path.parts) or path.name.endswith(IGNORED_SUFFIXES)


def _wheel_path_of(source: Path) -> str:
    """Where a file under a mapped folder lands inside the wheel."""
    for package, folder in _package_roots():
        try:
            relative = source.relative_to(folder)
        except ValueError:
            continue
        return str(PurePosixPath(*package.split("."), *relative.parts))
    raise AssertionError(f"{source} is not under a package folder of setup.cfg")


def _packages_on_disk() -> dict[str, Path]:
    """Every folder under a mapped root that holds an __init__.py, by package name."""
    found: dict[str, Path] = {}
    for package, folder in _package_roots():
        for init in sorted(folder.rglob("__init__.py")):
            if _ignored(init):
                continue
            relative = init.parent.relative_to(folder)
            name = ".".join((package, *relative.parts))
            found.setdefault(name, init)
    # A mapped root is nested inside another root only through its mapping
    # (observers/ is not inside framework/), so no name is found twice.
    return found


def _source_files() -> list[Path]:
    files: list[Path] = []
    for _, folder in _package_roots():
        files.extend(
            p for p in folder.rglob("*") if p.is_file() and not _ignored(p.relative_to(ROOT))
        )
    return sorted(files)


def _python(
    *args: str, cwd: Path, extra_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the test interpreter isolated from the repository checkout.

    `-I` drops PYTHONPATH, the user site and the current directory from
    sys.path; the working directory is a temporary one, so a bare
    `framework` or `observers` could only come from an installed package.
    """
    code = args[-1]
    if extra_path is not None:
        code = f"import sys; sys.path.insert(0, {str(extra_path)!r})\n" + code
    return subprocess.run(
        [sys.executable, "-I", *args[:-1], "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def _json_from(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, f"subprocess failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- fixtures --


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel once per session, from a copy of the tree.

    Building from a copy keeps `build/` and `*.egg-info` out of the checkout
    and stops stale files in an old `build/lib` from reaching the wheel.
    """
    work = tmp_path_factory.mktemp("wheel-build")
    source = work / "src"
    source.mkdir()
    for entry in ROOT.iterdir():
        if entry.is_file():
            shutil.copy2(entry, source / entry.name)
    for _, folder in _package_roots():
        shutil.copytree(
            folder,
            source / folder.relative_to(ROOT),
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"),
        )
    out = work / "dist"
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"building the wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = sorted(out.glob("gnomon-*.whl"))
    assert len(wheels) == 1, f"expected one gnomon wheel in {out}, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="session")
def wheel_members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="session")
def installed_wheel(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a private folder (no dependencies: those are
    taken from the running environment)."""
    target = tmp_path_factory.mktemp("wheel-target")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"installing the wheel failed:\n{result.stdout}\n{result.stderr}"
    return target


def _dist_info(members: list[str]) -> str:
    names = {m.split("/", 1)[0] for m in members if m.split("/", 1)[0].endswith(".dist-info")}
    assert len(names) == 1, f"expected one .dist-info folder in the wheel, found {sorted(names)}"
    return names.pop()


# ------------------------------------------------------------------- tests --


def test_every_package_folder_is_listed_in_setup_cfg() -> None:
    declared = _declared_packages()
    on_disk = _packages_on_disk()
    missing = [name for name in sorted(on_disk) if name not in declared]
    assert not missing, "\n".join(
        f"package {name} ({on_disk[name].relative_to(ROOT)}) is not listed in setup.cfg "
        f"[options] packages; add the line `    {name}` there or it is left out of the wheel"
        for name in missing
    )
    stale = [name for name in declared if name not in on_disk]
    assert not stale, (
        f"setup.cfg [options] packages lists {stale}, but no folder with an __init__.py "
        "exists for it; remove the line or add the package"
    )
    assert len(declared) == len(set(declared)), f"setup.cfg lists a package twice: {declared}"


def test_package_dir_mapping_is_the_designed_one() -> None:
    assert _package_dir() == {"gnomon": "framework", "gnomon.observers": "observers"}


def test_tests_folder_is_not_a_package() -> None:
    inits = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("__init__.py"))
    assert not inits, (
        f"tests/ must hold no __init__.py (pytest runs with --import-mode=importlib): {inits}"
    )


def test_wheel_holds_only_gnomon(wheel_members: list[str]) -> None:
    dist_info = _dist_info(wheel_members)
    assert dist_info.startswith("gnomon-"), dist_info
    strays = [m for m in wheel_members if not m.startswith(("gnomon/", dist_info + "/"))]
    assert not strays, f"the wheel holds files outside gnomon/ and {dist_info}/: {strays}"
    for required in ("gnomon/__init__.py", "gnomon/py.typed", "gnomon/observers/__init__.py"):
        assert required in wheel_members, f"{required} is missing from the wheel"


def test_wheel_holds_every_file_of_the_package_folders(wheel_members: list[str]) -> None:
    members = set(wheel_members)
    missing = [
        f"{source.relative_to(ROOT)} -> {_wheel_path_of(source)}"
        for source in _source_files()
        if _wheel_path_of(source) not in members
    ]
    assert not missing, (
        "files under the package folders are missing from the wheel (a .py file needs its folder "
        "to be a package listed in setup.cfg; data files need a pattern in "
        "[options.package_data]):\n  " + "\n  ".join(missing)
    )


def test_wheel_metadata(wheel: Path, wheel_members: list[str]) -> None:
    dist_info = _dist_info(wheel_members)
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        top_level = (
            archive.read(f"{dist_info}/top_level.txt").decode()
            if f"{dist_info}/top_level.txt" in wheel_members
            else "gnomon"
        )
    assert "Requires-Python: >=3.11" in metadata
    requirements = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert not [r for r in requirements if r.lower().startswith("setuptools")], requirements
    extras = {
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert {"mongo", "sql", "report", "test", "dev", "all"} <= extras, extras
    assert top_level.split() == ["gnomon"]


def test_no_pkg_resources_in_the_wheel(wheel: Path, wheel_members: list[str]) -> None:
    needle = b"pkg_" + b"resources"  # spelled apart so this file does not match itself
    with zipfile.ZipFile(wheel) as archive:
        offenders = [m for m in wheel_members if needle in archive.read(m)]
    assert not offenders, (
        f"pkg_resources is gone from modern setuptools; use importlib.metadata in {offenders}"
    )


def test_no_pkg_resources_in_examples_or_benchmarks() -> None:
    needle = "pkg_" + "resources"
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("examples", "benchmarks")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if needle in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert not offenders, offenders


def _entry_points_of(wheel: Path, wheel_members: list[str]) -> configparser.ConfigParser:
    dist_info = _dist_info(wheel_members)
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep names' case
    with zipfile.ZipFile(wheel) as archive:
        parser.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
    return parser


def test_wheel_entry_points(wheel: Path, wheel_members: list[str]) -> None:
    entry_points = _entry_points_of(wheel, wheel_members)
    assert "gnomon.observers" in entry_points, entry_points.sections()
    assert (
        entry_points["gnomon.observers"].get("file")
        == "gnomon.observers.file.observer:FileStorageObserver"
    )
    assert entry_points["console_scripts"].get("gnomon") == "gnomon.cli.main:main"


def test_wheel_entry_points_point_into_the_wheel(wheel: Path, wheel_members: list[str]) -> None:
    entry_points = _entry_points_of(wheel, wheel_members)
    members = set(wheel_members)
    dangling = []
    for section in entry_points.sections():
        for name, value in entry_points[section].items():
            module = value.split(":", 1)[0].strip()
            path = module.replace(".", "/")
            if f"{path}.py" not in members and f"{path}/__init__.py" not in members:
                dangling.append(f"[{section}] {name} = {value}")
    assert not dangling, f"entry points name modules that are not in the wheel: {dangling}"


def test_installed_entry_point_group_has_file_observer(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json
        from importlib.metadata import entry_points
        print(json.dumps({ep.name: ep.value for ep in entry_points(group="gnomon.observers")}))
        """
    )
    found = _json_from(_python(code, cwd=tmp_path))
    assert isinstance(found, dict)
    assert found.get("file") == "gnomon.observers.file.observer:FileStorageObserver", found


_FOLDER_NAMES_CODE = textwrap.dedent(
    """
    import importlib.util, json
    spec = importlib.util.find_spec("gnomon")
    print(json.dumps({
        "gnomon": spec.origin if spec else None,
        "framework": importlib.util.find_spec("framework") is not None,
        "observers": importlib.util.find_spec("observers") is not None,
        "gnomon.observers": importlib.util.find_spec("gnomon.observers") is not None,
    }))
    """
)


def test_folder_names_are_not_importable_where_installed(tmp_path: Path) -> None:
    found = _json_from(_python(_FOLDER_NAMES_CODE, cwd=tmp_path))
    assert isinstance(found, dict)
    assert found["gnomon"], "gnomon is not installed in the test environment"
    assert found["gnomon.observers"], found
    assert not found["framework"], "`import framework` works; only `gnomon` may be importable"
    assert not found["observers"], (
        "`import observers` works; only `gnomon.observers` may be importable"
    )


def test_folder_names_are_not_importable_from_the_wheel(
    installed_wheel: Path, tmp_path: Path
) -> None:
    found = _json_from(_python(_FOLDER_NAMES_CODE, cwd=tmp_path, extra_path=installed_wheel))
    assert isinstance(found, dict)
    assert found["gnomon"], found
    assert str(found["gnomon"]).startswith(str(installed_wheel)), found
    assert found["gnomon.observers"], found
    assert not found["framework"], found
    assert not found["observers"], found


def _loaded(
    modules: tuple[str, ...], statement: str, cwd: Path, extra_path: Path | None = None
) -> list[str]:
    code = textwrap.dedent(
        f"""
        import json, sys
        {statement}
        wanted = {list(modules)!r}
        print(json.dumps(sorted(w for w in wanted
                                if any(m == w or m.startswith(w + ".") for m in sys.modules))))
        """
    )
    found = _json_from(_python(code, cwd=cwd, extra_path=extra_path))
    assert isinstance(found, list)
    return found


@pytest.mark.parametrize("where", ["installed", "wheel"])
def test_import_gnomon_is_cheap(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    extra = request.getfixturevalue("installed_wheel") if where == "wheel" else None
    loaded = _loaded(HEAVY_MODULES, "import gnomon", tmp_path, extra)
    assert not loaded, (
        f"`import gnomon` imports {loaded}; import them inside the functions that use them"
    )


def test_import_gnomon_observers_loads_no_driver(tmp_path: Path) -> None:
    loaded = _loaded(DRIVER_MODULES, "import gnomon.observers", tmp_path)
    assert not loaded, (
        f"`import gnomon.observers` imports {loaded}; "
        "import drivers inside the observer that needs them"
    )
