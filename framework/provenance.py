"""Provenance: which source files, packages and git commits a run was made of.

``experiment_info`` (Sacred's shape) lists the experiment's local source files with
their SHA-256 digests, the installed distributions it uses (``"pandas==2.2.1"``) and
the git repositories those sources live in. What is searched is chosen by
``SETTINGS.DISCOVER_SOURCES`` and ``SETTINGS.DISCOVER_DEPENDENCIES``.

Unlike Sacred, distributions are found with :mod:`importlib.metadata` (so wheels without
``top_level.txt`` such as pandas and scikit-learn are found), git is asked once per
repository rather than once per file (read from ``.git`` by :mod:`gnomon.git_state`,
without GitPython), and credentials in remote URLs are never stored.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import types
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gnomon.errors import ConfigError

__all__ = [
    "DEPENDENCY_MODES",
    "SOURCE_MODES",
    "PackageDependency",
    "Source",
    "gather_dependencies",
    "gather_sources",
    "get_digest",
    "get_experiment_info",
    "get_git_info",
    "get_main_file",
    "redact_url",
]

SOURCE_MODES = ("imported", "sys", "dir", "none")
DEPENDENCY_MODES = ("imported", "sys", "pkg", "none")
SOURCE_SUFFIXES = (".py", ".pyx", ".so", ".pyd", ".ipynb")
# Folders that hold installed or generated code, never the experiment's own sources.
_SKIPPED_DIRS = {
    "site-packages",
    "dist-packages",
    "__pycache__",
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    ".tox",
    ".nox",
}


def get_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's content."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _relative(path: str, base_dir: str) -> str:
    """``path`` relative to ``base_dir`` when inside it, else the absolute path."""
    base = os.path.realpath(base_dir)
    return os.path.relpath(path, base) if _is_under(path, base) else path


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class Source:
    """One source file of the experiment, with its digest and (optionally) its git state."""

    filename: str
    digest: str
    repo: str | None = None
    commit: str | None = None
    is_dirty: bool | None = None

    @classmethod
    def create(cls, filename: str | os.PathLike[str], save_git_info: bool = False) -> Source:
        """Make a Source of an existing file (``ex.add_source_file``); git facts if asked."""
        path = os.path.realpath(filename)
        if not os.path.isfile(path):
            raise ConfigError(
                f"Source file {os.fspath(filename)!r} does not exist; "
                "give the path of an existing file."
            )
        source = cls(filename=path, digest=get_digest(path))
        return _with_git({source}, _GitCache())[0] if save_git_info else source

    def to_json(self, base_dir: str) -> list[str]:
        """``[path relative to base_dir (absolute when outside it), digest]``."""
        return [_relative(self.filename, base_dir), self.digest]


@dataclass(frozen=True, order=True)
class PackageDependency:
    """An installed distribution the experiment uses, with its version when known."""

    name: str
    version: str | None = None

    def to_json(self) -> str:
        """``"name==version"``, or just ``"name"`` when the version is unknown."""
        return f"{self.name}=={self.version}" if self.version else self.name


# ---------------------------------------------------------------------------- sources


def get_main_file(globs: Mapping[str, Any]) -> str | None:
    """Return the experiment's main file from its globals; None in a REPL or notebook."""
    filename = globs.get("__file__")
    if not isinstance(filename, str) or not os.path.isfile(filename):
        return None
    return os.path.realpath(filename)


def _source_file(filename: Any) -> str | None:
    """Return the real path of a module file that is source (``.pyc`` mapped to ``.py``)."""
    if not isinstance(filename, str) or not filename:
        return None
    if filename.endswith(".pyc"):
        try:
            import importlib.util

            filename = importlib.util.source_from_cache(filename)
        except ValueError:
            filename = filename[:-1]
    if not filename.endswith(SOURCE_SUFFIXES) or not os.path.isfile(filename):
        return None
    return str(os.path.realpath(filename))


class _LocalFilter:
    """Decides whether a file is the experiment's own: under base_dir, not in a venv."""

    def __init__(self, base_dir: str) -> None:
        self.base = os.path.realpath(base_dir)
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
        # An interpreter installed inside the project folder is not part of the project.
        self.prefixes = [p for p in prefixes if _is_under(p, self.base) and p != self.base]
        self._env_dirs: dict[str, bool] = {}

    def __call__(self, path: str) -> bool:
        if not _is_under(path, self.base) or any(_is_under(path, p) for p in self.prefixes):
            return False
        relative = os.path.relpath(os.path.dirname(path), self.base)
        if relative != "." and any(part in _SKIPPED_DIRS for part in relative.split(os.sep)):
            return False
        directory = os.path.dirname(path)
        while _is_under(directory, self.base) and directory != self.base:
            if self.is_environment(directory):
                return False
            directory = os.path.dirname(directory)
        return True

    def is_environment(self, directory: str) -> bool:
        """Tell a virtualenv (``pyvenv.cfg``) or conda environment (``conda-meta``)."""
        known = self._env_dirs.get(directory)
        if known is None:
            known = os.path.isfile(os.path.join(directory, "pyvenv.cfg")) or os.path.isdir(
                os.path.join(directory, "conda-meta")
            )
            self._env_dirs[directory] = known
        return known


def _prefixes(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _module_names(globs: Mapping[str, Any]) -> Iterator[str]:
    """Dotted module names referenced by globals: modules, and other objects' ``__module__``."""
    for value in list(globs.values()):
        name: object
        if isinstance(value, types.ModuleType):
            name = value.__name__
        else:
            try:
                name = getattr(value, "__module__", None)
            except Exception:  # objects with odd attribute access
                continue
        if isinstance(name, str) and name:
            yield name


def _files_imported(globs: Mapping[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for name in _module_names(globs):
        for prefix in _prefixes(name):
            if prefix not in seen:
                seen.add(prefix)
                module = sys.modules.get(prefix)
                if module is not None:
                    yield getattr(module, "__file__", None)  # type: ignore[misc]


def _files_sys() -> Iterator[str]:
    for module in list(sys.modules.values()):
        yield getattr(module, "__file__", None)  # type: ignore[misc]


def _files_dir(local: _LocalFilter) -> Iterator[str]:
    for directory, subdirs, files in os.walk(local.base):
        subdirs[:] = [
            d
            for d in subdirs
            if d not in _SKIPPED_DIRS
            and not d.startswith(".")
            and not local.is_environment(os.path.join(directory, d))
        ]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def gather_sources(
    globs: Mapping[str, Any],
    base_dir: str,
    main_file: str | None,
    mode: str = "imported",
    *,
    save_git_info: bool = False,
) -> set[Source]:
    """Find the experiment's local source files as ``mode`` says; the main file always.

    ``imported``: modules (and their parent packages) referenced from ``globs``, also
    through ``from pkg import func``; ``sys``: every loaded module; ``dir``: every
    ``*.py`` under ``base_dir``; ``none``: only the main file. Only files under
    ``base_dir`` count, and never those of a virtualenv or site-packages inside it.
    """
    _check_mode("DISCOVER_SOURCES", mode, SOURCE_MODES)
    local = _LocalFilter(base_dir)
    candidates: Iterable[Any]
    if mode == "imported":
        candidates = _files_imported(globs)
    elif mode == "sys":
        candidates = _files_sys()
    elif mode == "dir":
        candidates = _files_dir(local)
    else:
        candidates = ()
    paths = set()
    for candidate in candidates:
        path = _source_file(candidate)
        if path is not None and local(path):
            paths.add(path)
    if main_file is not None and os.path.isfile(main_file):
        paths.add(os.path.realpath(main_file))
    sources = {Source(filename=p, digest=get_digest(p)) for p in paths}
    return set(_with_git(sources, _GitCache())) if save_git_info else sources


# ---------------------------------------------------------------------- dependencies


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
    _check_mode("DISCOVER_DEPENDENCIES", mode, DEPENDENCY_MODES)
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
        names = _module_names(globs) if mode == "imported" else list(sys.modules)
        found = _dependencies_of(name.partition(".")[0] for name in names)
    numpy = _distribution("numpy", thorough="numpy" in sys.modules)
    if numpy is not None and not any(d.name.lower() == "numpy" for d in found):
        found.add(numpy)
    return found


# ------------------------------------------------------------------------------- git


def redact_url(url: str) -> str:
    """Drop secrets from a remote URL: ``https://user:token@host/x`` -> ``https://host/x``.

    For ssh (``ssh://git@host/x`` and scp-like ``git@host:x``) the user name is kept, as it
    names an account rather than proving one; any password is dropped.
    """
    if "://" in url:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        keep_user = parts.scheme in ("ssh", "git+ssh", "ssh+git") and user
        netloc = f"{user}@{host}" if keep_user else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    if "@" in url:  # scp-like: [user[:password]@]host:path
        userinfo, _, rest = url.partition("@")
        if ":" in userinfo:
            return f"{userinfo.partition(':')[0]}@{rest}"
    return url


class _GitCache:
    """Finds each file's repository and asks git about each repository once."""

    def __init__(self) -> None:
        self._roots: dict[str, str | None] = {}
        self._facts: dict[str, dict[str, Any] | None] = {}

    def root(self, path: str) -> str | None:
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        visited = []
        root = None
        while True:
            if directory in self._roots:
                root = self._roots[directory]
                break
            visited.append(directory)
            if os.path.exists(os.path.join(directory, ".git")):
                root = directory
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for d in visited:
            self._roots[d] = root
        return root

    def facts(self, root: str) -> dict[str, Any] | None:
        if root not in self._facts:
            self._facts[root] = _repository_facts(root)
        return self._facts[root]


def _repository_facts(root: str) -> dict[str, Any] | None:
    """``{"url", "commit", "dirty"}`` of the working tree at ``root``; None with a warning."""
    from gnomon import git_state

    dirs = git_state.git_dirs(root)
    if dirs is None:
        warnings.warn(
            f"Git information for {root!r} is not recorded: its .git is not a repository",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    git_dir, common_dir = dirs
    try:
        dirty = git_state.is_dirty(root, git_dir)
    except git_state.GitStateError as error:
        warnings.warn(
            f"Git information for {root!r} is not recorded: {error}", RuntimeWarning, stacklevel=3
        )
        return None
    return {
        "url": redact_url(git_state.remote_url(common_dir, root)),
        "commit": git_state.head_commit(git_dir, common_dir),
        "dirty": dirty,
    }


def get_git_info(paths: Iterable[str]) -> list[dict[str, Any]]:
    """``[{"url", "commit", "dirty"}]``, one per git repository holding any of ``paths``."""
    cache = _GitCache()
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in paths:
        root = cache.root(os.path.realpath(path))
        if root is None or root in seen:
            continue
        seen.add(root)
        facts = cache.facts(root)
        if facts is not None:
            result.append(dict(facts))
    return result


def _with_git(sources: Iterable[Source], cache: _GitCache) -> list[Source]:
    out = []
    for source in sources:
        root = cache.root(source.filename)
        facts = cache.facts(root) if root is not None else None
        if facts is None:
            out.append(source)
        else:
            out.append(
                Source(
                    source.filename, source.digest, facts["url"], facts["commit"], facts["dirty"]
                )
            )
    return out


# ------------------------------------------------------------------------------ info


def get_experiment_info(
    name: str,
    base_dir: str,
    main_file: str | None,
    sources: Iterable[Source],
    dependencies: Iterable[PackageDependency],
    repositories: list[dict[str, Any]],
) -> dict[str, Any]:
    """Sacred's ``experiment_info`` dict, with sorted sources and dependencies."""
    return {
        "name": name,
        "base_dir": base_dir,
        "sources": sorted(source.to_json(base_dir) for source in sources),
        "dependencies": sorted({dependency.to_json() for dependency in dependencies}),
        "repositories": [dict(r) for r in repositories],
        "mainfile": _relative(os.path.realpath(main_file), base_dir) if main_file else None,
    }


def _check_mode(setting: str, mode: str, valid: tuple[str, ...]) -> None:
    if mode not in valid:
        import difflib

        close = difflib.get_close_matches(str(mode), valid, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        choices = ", ".join(repr(v) for v in valid)
        raise ConfigError(f"Unknown {setting} mode {mode!r}; use one of {choices}.{hint}")
