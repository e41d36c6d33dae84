"""The public API: an explicit, sorted ``__all__`` whose names all resolve, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gnomon
import gnomon.observers


@pytest.mark.parametrize("module", [gnomon, gnomon.observers])
def test_all_is_sorted_and_resolves(module) -> None:
    assert module.__all__ == sorted(module.__all__)
    for name in module.__all__:
        if name in ("MongoObserver", "QueuedMongoObserver", "SqlObserver"):
            continue  # provided by optional extras
        assert getattr(module, name) is not None


def test_sacred_names_are_importable() -> None:
    from gnomon import Experiment, Ingredient, cli_option, host_info_gatherer  # noqa: F401
    from gnomon.observers import FileStorageObserver, RunObserver  # noqa: F401
    from gnomon.utils import SacredInterrupt, TimeoutInterrupt, apply_backspaces_and_linefeeds  # noqa: F401

    assert TimeoutInterrupt.STATUS == "TIMEOUT"


def test_import_is_cheap_and_side_effect_free() -> None:
    code = (
        "import sys, gnomon, gnomon.observers; "
        "heavy = {'pymongo', 'sqlalchemy', 'pandas', 'git', 'rich', 'starlette', 'numpy', 'yaml', 'cpuinfo',"
        " 'jsonpickle', 'mako', 'click'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
