"""The installed distributions an experiment uses, as ``experiment_info["dependencies"]`` lists them.

Found with the metadata folders on ``sys.path`` and, where those do not say,
:mod:`importlib.metadata`, so wheels without ``top_level.txt`` (pandas,
scikit-learn) are found too. ``SETTINGS.DISCOVER_DEPENDENCIES`` chooses what is
searched: the modules the experiment's globals reference (``imported``), every
loaded module (``sys``), every installed distribution (``pkg``) or nothing.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gnomon.errors import ConfigError
from gnomon.records import record
from gnomon.spelling import did_you_mean

__all__ = ["DEPENDENCY_MODES", "PackageDependency", "check_mode", "gather_dependencies", "module_names"]

DEPENDENCY_MODES = ("imported", "sys", "pkg", "none")


@record(frozen=True, slots=True)
class PackageDependency:
    """An installed distribution the experiment uses, with its version when known (sorted by both)."""

    name: str
    version: str | None = None

    def __lt__(self, other: PackageDependency) -> bool:
        return (self.name, self.version or "") < (other.name, other.version or "")

    def to_json(self) -> str:
        """``"name==version"``, or just ``"name"`` when the version is unknown."""
        return f"{self.name}=={self.version}" if self.version else self.name


def module_names(globs: Mapping[str, Any]) -> Iterator[str]:
    """Dotted module names referenced by globals: modules, and other objects' ``__module__``."""
    for value in list(globs.values()):
        name: object
        if isinstance(value, types.ModuleType):
            name = value.__name__
        else:
            try:
                name = getattr(value, "__module__", None)
            except Exception:  # noqa: BLE001 - objects with odd attribute access
                continue
        if isinstance(name, str) and name:
            yield name


def check_mode(setting: str, mode: str, valid: tuple[str, ...]) -> None:
    """Refuse a discovery mode that is not one of ``valid``, naming the closest."""
    if mode not in valid:
        hint = did_you_mean(str(mode), valid)
        choices = ", ".join(repr(v) for v in valid)
        raise ConfigError(f"Unknown {setting} mode {mode!r}; use one of {choices}.{hint}")


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """Top-level module name -> distribution names; slow to compute, so once per process."""
    import importlib.metadata

    return importlib.metadata.packages_distributions()


_METADATA_FILES = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}


@functools.cache
def _metadata_files() -> Mapping[str, str]:
    """Normalized distribution name -> its metadata file, the first on sys.path.

    ``.dist-info`` and ``.egg-info`` folders are where importlib.metadata finds
    installed distributions; reading them directly saves importing it, which (it
    pulls in the email package) alone would cost a hello-world run a sixth of its
    start-up. Once per process.
    """
    files: dict[str, str] = {}
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as items:
                for item in items:
                    stem, suffix = os.path.splitext(item.name)
                    if suffix in _METADATA_FILES:
                        # {name}-{version}.dist-info, {name}[-{version}...].egg-info: no "-" in name
                        name = _normalized(stem.partition("-")[0])
                        files.setdefault(name, os.path.join(item.path, _METADATA_FILES[suffix]))
        except OSError:  # not a folder (a zip), or unreadable
            continue
    return files


def _normalized(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_and_version(metadata_file: str) -> tuple[str, str] | None:
    """``(Name, Version)`` from the header of a METADATA or PKG-INFO file."""
    name = version = None
    try:
        with open(metadata_file, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():  # the header ends at the first blank line
                    break
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
                if name and version:
                    return name, version
    except OSError:
        pass
    return None


def _distribution(name: str, *, thorough: bool = True) -> PackageDependency | None:
    """The installed distribution called ``name``, with its own spelling and version.

    Found in the metadata folders on sys.path; ``thorough`` also asks
    importlib.metadata, which knows more (zipped eggs, custom finders, packages
    installed after the first lookup).
    """
    metadata_file = _metadata_files().get(_normalized(name))
    fields = _name_and_version(metadata_file) if metadata_file is not None else None
    if fields is not None:
        return PackageDependency(*fields)
    if not thorough:
        return None
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    return PackageDependency(str(dist.metadata["Name"] or name), dist.version)


def _installed_module(top: str) -> bool:
    """Whether a loaded top-level module comes from an installed package (not the project)."""
    module = sys.modules.get(top)
    path = str(getattr(module, "__file__", None) or "")
    return not path or "site-packages" in path or "dist-packages" in path


def _dependencies_of(top_levels: Iterable[str]) -> set[PackageDependency]:
    """Distributions of the given top-level modules.

    Most distributions are named like their module (numpy, torch, gnomon), so that
    is tried first; the module-to-distribution map of every installed package,
    which takes 50-200 ms to build, is consulted only for the rest (yaml, sklearn).
    """
    excluded = (
        set(sys.stdlib_module_names) | set(sys.builtin_module_names) | {"__main__", "builtins"}
    )
    found: set[PackageDependency] = set()
    for top in sorted(set(top_levels) - excluded):
        installed = _installed_module(top)
        dependency = None if top.startswith("_") else _distribution(top, thorough=installed)
        if dependency is not None:
            found.add(dependency)
            continue
        if not installed:
            continue  # a module of the project itself: a source, not a dependency
        for distribution in _packages_distributions().get(top) or []:
            dependency = _distribution(distribution)
            if dependency is not None:
                found.add(PackageDependency(distribution, dependency.version))
    return found


def gather_dependencies(globs: Mapping[str, Any], mode: str = "imported") -> set[PackageDependency]:
    """Find the installed distributions the experiment uses, as ``mode`` says.

    ``imported``: distributions of the top-level modules referenced from ``globs``;
    ``sys``: of every loaded module; ``pkg``: every installed distribution; ``none``.
    Standard-library modules are never dependencies. numpy is added whenever it is
    installed (it may drive the run's randomness), except in ``none`` mode.
    """
    check_mode("DISCOVER_DEPENDENCIES", mode, DEPENDENCY_MODES)
    if mode == "none":
        return set()
    if mode == "pkg":
        import importlib.metadata

        found = set()
        for dist in importlib.metadata.distributions():
            name = dist.metadata["Name"]
            if name:
                found.add(PackageDependency(name, dist.version))
    else:
        names = module_names(globs) if mode == "imported" else list(sys.modules)
        found = _dependencies_of(name.partition(".")[0] for name in names)
    numpy = _distribution("numpy", thorough="numpy" in sys.modules)
    if numpy is not None and not any(d.name.lower() == "numpy" for d in found):
        found.add(numpy)
    return found
