"""Observer URLs through the ``gnomon.observers`` entry points, plugins included."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gnomon.errors import ObserverError, UnknownObserverError
from gnomon.observers import registry
from gnomon.observers.file.observer import FileStorageObserver
from gnomon.observers.registry import available_schemes, observer_from_url


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    registry.reset()
    yield
    registry.reset()


def make_distribution(
    root: Path, name: str, entry_points_txt: str, modules: dict[str, str]
) -> None:
    """An installed distribution as importlib.metadata sees it: a *.dist-info folder on sys.path."""
    # Wheel spelling of the folder name: importlib.metadata takes the project name
    # from the part before the first '-'.
    dist_info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points_txt))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    make_distribution(
        root,
        "gnomon-good-plugin",
        """
        [gnomon.observers]
        goodscheme = good_plugin_observer:GoodObserver
        """,
        {
            "good_plugin_observer": """
            from gnomon.observers import Observer

            class GoodObserver(Observer):
                def __init__(self, url):
                    self.url = url

                @classmethod
                def from_url(cls, url):
                    return cls(url)
            """
        },
    )
    make_distribution(
        root,
        "gnomon-broken-plugin",
        """
        [gnomon.observers]
        brokenscheme = broken_plugin_observer:BrokenObserver
        """,
        {"broken_plugin_observer": "import a_module_that_does_not_exist_anywhere\n"},
    )
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.mark.parametrize(
    ("url", "basedir"),
    [
        ("runs", "runs"),
        ("file:///abs/runs", "/abs/runs"),
        ("file://rel/runs", "rel/runs"),
        ("file:x", "x"),
    ],
)
def test_file_urls_and_plain_paths_give_file_storage(url: str, basedir: str) -> None:
    observer = observer_from_url(url)
    assert isinstance(observer, FileStorageObserver)
    assert observer.basedir == os.path.abspath(basedir)


def test_unknown_scheme_suggests_the_closest_and_lists_known_ones() -> None:
    with pytest.raises(UnknownObserverError) as info:
        observer_from_url("mongdb://localhost/db")
    message = str(info.value)
    assert "'mongdb'" in message
    assert "Did you mean 'mongodb'" in message
    assert "Known schemes: " in message
    for scheme in ("file", "mongodb", "sqlite", "postgresql"):
        assert scheme in message
    assert isinstance(info.value, ValueError)


def test_typo_without_slashes_is_not_taken_for_a_folder() -> None:
    with pytest.raises(UnknownObserverError, match="Did you mean 'sqlite'"):
        observer_from_url("sqlit:runs.db")


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("mongodb://localhost:27017/db", "mongo"),
        ("mongodb+srv://cluster.example/db", "mongo"),
        ("sqlite:///runs.db", "sql"),
        ("postgresql://u@host/db", "sql"),
        ("postgresql+psycopg://u@host/db", "sql"),
        ("mysql+pymysql://u@host/db", "sql"),
        ("mariadb://u@host/db", "sql"),
    ],
)
def test_known_schemes_without_their_observer_name_the_extra(url: str, extra: str) -> None:
    scheme = url.split("://")[0]
    if scheme in {ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}:
        pytest.skip(f"an observer for {scheme} is installed")
    with pytest.raises(ObserverError, match=rf"gnomon\[{extra}\]"):
        observer_from_url(url)


def test_plugin_from_an_installed_distribution(plugins: Path) -> None:
    observer = observer_from_url("goodscheme://somewhere")
    assert type(observer).__name__ == "GoodObserver"
    assert observer.to_url() == "goodscheme://somewhere"
    assert {"goodscheme", "brokenscheme", "file", "mongodb"} <= set(available_schemes())
    assert available_schemes() == sorted(available_schemes())


def test_plugin_that_fails_to_import_warns_with_its_distribution(plugins: Path) -> None:
    with (
        pytest.warns(RuntimeWarning, match="gnomon-broken-plugin") as record,
        pytest.raises(ObserverError, match="could not be imported"),
    ):
        observer_from_url("brokenscheme://x")
    assert "a_module_that_does_not_exist_anywhere" in str(record[0].message)
    # The broken plugin breaks nothing else.
    assert isinstance(observer_from_url("file:///tmp/runs"), FileStorageObserver)
    assert type(observer_from_url("goodscheme://y")).__name__ == "GoodObserver"


def test_entry_points_are_cached_until_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "latescheme" not in available_schemes()
    root = tmp_path / "late"
    make_distribution(
        root,
        "gnomon-late-plugin",
        "[gnomon.observers]\nlatescheme = late_observer:Late\n",
        {"late_observer": "class Late:\n    pass\n"},
    )
    monkeypatch.syspath_prepend(str(root))
    assert "latescheme" not in available_schemes()  # cached
    registry.reset()
    assert "latescheme" in available_schemes()
    with pytest.raises(ObserverError, match="no from_url"):
        observer_from_url("latescheme://x")


def test_empty_url_is_refused() -> None:
    with pytest.raises(ObserverError, match="non-empty"):
        observer_from_url("  ")
