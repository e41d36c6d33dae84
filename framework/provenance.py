"""Provenance: which source files, packages and git commits a run was made of.

``experiment_info`` (Sacred's shape) lists the experiment's local source files with
their SHA-256 digests, the installed distributions it uses (``"pandas==2.2.1"``) and
the git repositories those sources live in. What is searched is chosen by
``SETTINGS.DISCOVER_SOURCES`` and ``SETTINGS.DISCOVER_DEPENDENCIES``.

Unlike Sacred, distributions are found from their metadata (:mod:`gnomon.dependencies`;
wheels without ``top_level.txt`` such as pandas and scikit-learn are found), git is asked once per
repository rather than once per file (read from ``.git`` by :mod:`gnomon.git_state`,
without GitPython), and credentials in remote URLs are never stored.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gnomon import early
from gnomon.dependencies import DEPENDENCY_MODES, PackageDependency, check_mode, gather_dependencies, module_names
from gnomon.digests import file_sha256
from gnomon.errors import ConfigError
from gnomon.records import record

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
    return file_sha256(path)


def _relative(path: str, base_dir: str) -> str:
    """``path`` relative to ``base_dir`` when inside it, else the absolute path."""
    base = os.path.realpath(base_dir)
    return os.path.relpath(path, base) if _is_under(path, base) else path


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


@record(frozen=True, slots=True)
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


def _files_imported(globs: Mapping[str, Any]) -> Iterator[str]:
    seen: set[str] = set()
    for name in module_names(globs):
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
    check_mode("DISCOVER_SOURCES", mode, SOURCE_MODES)
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
        dirty = early.collect(("dirty", root, git_dir), lambda: git_state.is_dirty(root, git_dir))
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


def begin_git_facts(main_file: str | None) -> None:
    """Begin ``git status`` for the main file's repository (see :mod:`gnomon.early`)."""
    from gnomon import git_state

    root = _GitCache().root(os.path.realpath(main_file)) if main_file else None
    dirs = git_state.git_dirs(root) if root is not None else None
    if root is not None and dirs is not None:
        git_dir = dirs[0]
        early.begin(("dirty", root, git_dir), lambda: git_state.is_dirty(root, git_dir))


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
