"""gnomon records experiments: config, output, sources, git, host, metrics, artifacts, results.

A Sacred script runs unchanged after ``from gnomon import Experiment``. Importing
gnomon is cheap and has no side effects: the names below are loaded on first use,
and no driver, git or dependency scan is touched until a run starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CircularDependencyError",
    "ConfigAddedError",
    "ConfigError",
    "Experiment",
    "FilterError",
    "GnomonError",
    "GnomonInterrupt",
    "Ingredient",
    "InvalidConfigError",
    "MissingConfigError",
    "NamedConfigNotFoundError",
    "ObserverError",
    "Run",
    "RunNotFoundError",
    "SETTINGS",
    "SacredError",
    "SacredInterrupt",
    "StoreError",
    "TimeoutInterrupt",
    "__version__",
    "cli_option",
    "host_info_gatherer",
    "host_info_getter",
    "observers",
    "open",
]

_LAZY = {
    "SETTINGS": "gnomon.settings",
    "CircularDependencyError": "gnomon.errors",
    "ConfigAddedError": "gnomon.errors",
    "ConfigError": "gnomon.errors",
    "Experiment": "gnomon.experiment",
    "FilterError": "gnomon.errors",
    "RunNotFoundError": "gnomon.errors",
    "StoreError": "gnomon.errors",
    "open": "gnomon.query",
    "GnomonError": "gnomon.errors",
    "GnomonInterrupt": "gnomon.errors",
    "Ingredient": "gnomon.ingredient",
    "InvalidConfigError": "gnomon.errors",
    "MissingConfigError": "gnomon.errors",
    "NamedConfigNotFoundError": "gnomon.errors",
    "ObserverError": "gnomon.errors",
    "Run": "gnomon.run",
    "SacredError": "gnomon.errors",
    "SacredInterrupt": "gnomon.errors",
    "TimeoutInterrupt": "gnomon.errors",
    "cli_option": "gnomon.cli.options",
    "host_info_gatherer": "gnomon.host",
    "host_info_getter": "gnomon.host",
}

if TYPE_CHECKING:
    from gnomon import observers
    from gnomon.cli.options import cli_option
    from gnomon.errors import (
        CircularDependencyError,
        ConfigAddedError,
        ConfigError,
        FilterError,
        GnomonError,
        GnomonInterrupt,
        InvalidConfigError,
        MissingConfigError,
        NamedConfigNotFoundError,
        ObserverError,
        RunNotFoundError,
        SacredError,
        SacredInterrupt,
        StoreError,
        TimeoutInterrupt,
    )
    from gnomon.experiment import Experiment
    from gnomon.host import host_info_gatherer, host_info_getter
    from gnomon.ingredient import Ingredient
    from gnomon.query import open  # noqa: A004 - gnomon.open(url) is the read API's entry point
    from gnomon.run import Run
    from gnomon.settings import SETTINGS


def __getattr__(name: str) -> Any:
    if name == "observers":
        return importlib.import_module("gnomon.observers")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gnomon' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
