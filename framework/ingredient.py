"""Ingredients: reusable units of config, captured functions, commands and hooks.

An :class:`Ingredient` owns config scopes and dicts, named configs, captured
functions, commands and hooks, all under its (dotted) path: its config appears
under that path in the run's config, and its commands and named configs are
addressed as ``path.name``. :class:`~gnomon.experiment.Experiment` is the ingredient
that can run.

Creating one is cheap: it only remembers the caller's module globals. Sources,
dependencies and git state are gathered when a run starts.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .captured import CapturedFunction, RunContext
from .config.dicts import ConfigDict, assert_valid_key, join_path
from .config.scope import ConfigScope
from .errors import (
    CircularDependencyError,
    ConfigError,
    ConfigFileNotFoundError,
    ConfigTypeError,
    DuplicateNameError,
    HookSignatureError,
)

if TYPE_CHECKING:
    from .provenance import Source

__all__ = ["Ingredient", "PackageRequirement", "SourceFile"]

# PEP 440 versions ("1.2", "2.0.1rc1", "1!3.0.post2.dev1", "1.0+local.7"). A pattern
# string, compiled (and cached by re) at its first use, not by every run's import.
_VERSION = (
    r"(?i)^\s*v?(\d+!)?\d+(\.\d+)*((a|b|rc|alpha|beta|c|pre|preview)[-_.]?\d*)?"
    r"([-_.]?(post|rev|r)[-_.]?\d*|-\d+)?([-_.]?dev[-_.]?\d*)?(\+[a-z0-9]+([-_.][a-z0-9]+)*)?\s*$"
)

ConfigEntry = ConfigScope | ConfigDict


class SourceFile(str):
    """A source file added with ``add_source_file``: its real path, as a string.

    Like Sacred's ``Source`` it equals (and hashes like) its filename, so
    ``"/abs/path/model.py" in ex.sources`` holds, and sorts by filename.
    """

    __slots__ = ()

    def __new__(cls, filename: str | os.PathLike[str]) -> SourceFile:
        """The real path of ``filename`` (symbolic links resolved, as Sacred stores it)."""
        return super().__new__(cls, os.path.realpath(filename))

    @property
    def filename(self) -> str:
        """The file's real path (Sacred's ``Source.filename``)."""
        return str(self)

    @property
    def digest(self) -> str:
        """The digest of the file's content now, as stored with runs (``Source.digest``)."""
        from .provenance import get_digest

        return get_digest(self)

    def __repr__(self) -> str:
        return f"<Source: {self}>"


class PackageRequirement:
    """A dependency added with ``add_package_dependency``.

    As Sacred's ``PackageDependency`` it compares and hashes by name only (a set
    holds one version of a package) and sorts by name; it unpacks as
    ``name, version``.
    """

    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str | None) -> None:
        self.name = name
        self.version = version

    def to_json(self) -> str:
        """``"name==version"`` as stored with a run."""
        return f"{self.name}=={self.version}" if self.version else self.name

    def __iter__(self) -> Iterator[Any]:
        return iter((self.name, self.version))

    def __eq__(self, other: object) -> bool:
        name = getattr(other, "name", None)
        return isinstance(name, str) and name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __lt__(self, other: PackageRequirement) -> bool:
        return self.name < other.name

    def __le__(self, other: PackageRequirement) -> bool:
        return self.name <= other.name

    def __repr__(self) -> str:
        return f"<PackageDependency: {self.name}={self.version}>"


def _is_text(value: object) -> bool:
    """A non-empty string (checked at run time: callers need not be type-checked)."""
    return isinstance(value, str) and bool(value)


def _config_dict(config_or_file: Any, keywords: Mapping[str, Any], what: str) -> ConfigDict:
    if config_or_file is not None and keywords:
        raise ConfigError(f"{what}: give either a dict/file or keyword arguments, not both.")
    if config_or_file is None:
        if not keywords:
            raise ConfigError(
                f"{what}: no config given; pass a dict, the path of a .json/.yaml/.toml "
                "file, or keyword arguments (e.g. lr=0.01)."
            )
        return ConfigDict(dict(keywords), source="keywords")
    if isinstance(config_or_file, str | os.PathLike):
        from .config.files import load_config_file

        return ConfigDict(load_config_file(config_or_file), source=os.fspath(config_or_file))
    if isinstance(config_or_file, Mapping):
        return ConfigDict(config_or_file)
    raise ConfigTypeError(
        f"{what}: expected a dict or the path of a config file, "
        f"not {type(config_or_file).__name__}."
    )


class Ingredient:
    """A reusable unit of config and captured functions under one path; see the module doc."""

    def __init__(
        self,
        path: str,
        ingredients: Any = (),
        interactive: bool = False,
        _caller_globals: Mapping[str, Any] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        save_git_info: bool = True,
    ) -> None:
        if not _is_text(path) or any(not p or p[0] == "$" or "=" in p for p in path.split(".")):
            raise ConfigError(
                f"Invalid ingredient path {path!r}: use names separated by dots, "
                "without '=' and without a leading '$' (e.g. 'data.loader')."
            )
        self.path = path
        self.ingredients: list[Ingredient] = list(ingredients)
        self.interactive = interactive
        self._caller_globals: Mapping[str, Any] = (
            _caller_globals if _caller_globals is not None else sys._getframe(1).f_globals
        )
        main = self._caller_globals.get("__file__")
        self.mainfile: str | None = (
            os.path.abspath(main) if isinstance(main, str) and main else None
        )
        if base_dir is not None:
            self.base_dir = os.path.abspath(base_dir)
        else:
            self.base_dir = os.path.dirname(self.mainfile) if self.mainfile else os.getcwd()
        self.save_git_info = save_git_info
        self.doc: str | None = self._caller_globals.get("__doc__")
        self.configurations: list[ConfigEntry] = []
        self.named_configs: dict[str, ConfigEntry] = {}
        self.captured_functions: list[CapturedFunction] = []
        self.commands: dict[str, CapturedFunction] = {}
        self.config_hooks: list[Callable[[dict[str, Any], str | None, Any], Any]] = []
        self.pre_run_hooks: list[CapturedFunction] = []
        self.post_run_hooks: list[CapturedFunction] = []
        self.sources: set[SourceFile] = set()
        self.dependencies: set[PackageRequirement] = set()
        # Contexts of the runs using this ingredient, newest last: the fallback for
        # captured functions called from threads that did not inherit the run context.
        self._active_contexts: list[RunContext] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path!r}>"

    # ------------------------------------------------------------------- config
    def config(self, function: Callable[..., Any]) -> ConfigScope:
        """Decorator: the function's local variables become config entries."""
        scope = ConfigScope(function)
        self.configurations.append(scope)
        return scope

    def add_config(self, cfg_or_file: Any = None, **kw_conf: Any) -> None:
        """Add config entries from a dict, from keywords, or from a .json/.yaml/.toml file."""
        self.configurations.append(_config_dict(cfg_or_file, kw_conf, "add_config"))

    def _add_named(self, name: str, entry: ConfigEntry) -> None:
        assert_valid_key(name, "named config")
        if name in self.named_configs:
            raise DuplicateNameError(
                f"Named config {name!r} is defined twice in {self.path!r}; "
                "give one of them another name."
            )
        self.named_configs[name] = entry

    def named_config(self, func: Callable[..., Any]) -> ConfigScope:
        """Decorator: a config scope used only when named (``with NAME``)."""
        scope = ConfigScope(func)
        self._add_named(func.__name__, scope)
        return scope

    def add_named_config(self, name: str, cfg_or_file: Any = None, **kw_conf: Any) -> None:
        """A named config from a dict, keywords or a config file."""
        self._add_named(name, _config_dict(cfg_or_file, kw_conf, f"add_named_config({name!r})"))

    def config_hook(
        self, func: Callable[[dict[str, Any], str | None, Any], Any]
    ) -> Callable[..., Any]:
        """Decorator for ``hook(config, command_name, logger) -> dict of updates``.

        Hooks run after this ingredient's config scopes, with a copy of the config so far.
        """
        params = list(inspect.signature(func).parameters)
        if params != ["config", "command_name", "logger"]:
            raise HookSignatureError(
                f"Config hook {func.__qualname__!r} takes ({', '.join(params)}); "
                "a config hook must take exactly (config, command_name, logger)."
            )
        self.config_hooks.append(func)
        return func

    # -------------------------------------------------------- captured functions
    def capture(self, function: Callable[..., Any] | None = None, prefix: str | None = None) -> Any:
        """Decorator: fill the function's missing arguments from the config (below ``prefix``)."""
        if function is None:
            return lambda f: self.capture(f, prefix=prefix)
        for captured in self.captured_functions:
            if captured is function or (
                captured.__wrapped__ is function and captured.prefix == (prefix or "")
            ):
                return captured
        captured = CapturedFunction(function, self, prefix)
        self.captured_functions.append(captured)
        return captured

    def command(
        self,
        function: Callable[..., Any] | None = None,
        prefix: str | None = None,
        unobserved: bool = False,
    ) -> Any:
        """Decorator: a captured function that can be run as a command (``python exp.py NAME``)."""
        if function is None:
            return lambda f: self.command(f, prefix=prefix, unobserved=unobserved)
        captured = self.capture(function, prefix=prefix)
        captured.unobserved = unobserved
        self.commands[captured.__name__] = captured
        return captured

    def pre_run_hook(
        self, func: Callable[..., Any] | None = None, prefix: str | None = None
    ) -> Any:
        """Decorator: a captured function run before the command (after the run started)."""
        if func is None:
            return lambda f: self.pre_run_hook(f, prefix=prefix)
        captured = self.capture(func, prefix=prefix)
        self.pre_run_hooks.append(captured)
        return captured

    def post_run_hook(
        self, func: Callable[..., Any] | None = None, prefix: str | None = None
    ) -> Any:
        """Decorator: a captured function run after the command returned."""
        if func is None:
            return lambda f: self.post_run_hook(f, prefix=prefix)
        captured = self.capture(func, prefix=prefix)
        self.post_run_hooks.append(captured)
        return captured

    # --------------------------------------------------------------- provenance
    def add_source_file(self, filename: str | os.PathLike[str]) -> None:
        """Record ``filename`` as a source of the experiment (stored with every run)."""
        path = SourceFile(filename)
        if not os.path.isfile(path):
            raise ConfigFileNotFoundError(
                f"Source file {os.fspath(filename)!r} does not exist; "
                "give the path of an existing file."
            )
        self.sources.add(path)

    def add_package_dependency(self, package_name: str, version: str) -> None:
        """Record a package dependency that automatic discovery misses."""
        if not _is_text(version) or not re.match(_VERSION, version):
            raise ConfigError(
                f"Invalid version {version!r} for package {package_name!r}: "
                "use a PEP 440 version like '1.2.3'."
            )
        requirement = PackageRequirement(package_name, version.strip())
        self.dependencies.discard(requirement)  # the latest version given wins
        self.dependencies.add(requirement)

    # ------------------------------------------------------------ introspection
    def traverse_ingredients(self) -> Iterator[tuple[Ingredient, int]]:
        """(ingredient, depth) for this ingredient and everything it includes, depth first."""
        yield from self._traverse((), 0)

    def _traverse(
        self, stack: tuple[Ingredient, ...], depth: int
    ) -> Iterator[tuple[Ingredient, int]]:
        if any(self is s for s in stack):
            chain = " -> ".join(
                i.path for i in (*stack[[id(s) for s in stack].index(id(self)) :], self)
            )
            raise CircularDependencyError(
                f"Circular dependency between ingredients: {chain}. Remove one of the links."
            )
        yield self, depth
        for ingredient in self.ingredients:
            yield from ingredient._traverse((*stack, self), depth + 1)

    def _unique_ingredients(self) -> list[Ingredient]:
        seen: dict[int, Ingredient] = {}
        for ingredient, _ in self.traverse_ingredients():
            seen.setdefault(id(ingredient), ingredient)
        return list(seen.values())

    def _name_of(self, ingredient: Ingredient, name: str) -> str:
        return join_path(ingredient.path, name)

    def gather_commands(self) -> Iterator[tuple[str, CapturedFunction]]:
        """(dotted name, command) of every command here and in included ingredients."""
        for ingredient in self._unique_ingredients():
            for name, command in ingredient.commands.items():
                yield self._name_of(ingredient, name), command

    def gather_named_configs(self) -> Iterator[tuple[str, ConfigEntry]]:
        """(dotted name, named config) of every named config here and in included ingredients."""
        for ingredient in self._unique_ingredients():
            for name, config in ingredient.named_configs.items():
                yield self._name_of(ingredient, name), config

    def get_experiment_info(self) -> dict[str, Any]:
        """Name, base dir, sources, dependencies and git repositories.

        This scans files and git, so it runs once per run, never at import.
        """
        from . import provenance
        from .settings import SETTINGS

        sources: set[Source] = set()
        dependencies: set[provenance.PackageDependency] = set()
        for ingredient in self._unique_ingredients():
            globs = ingredient._caller_globals
            main = provenance.get_main_file(globs)
            sources |= provenance.gather_sources(
                globs, ingredient.base_dir, main, SETTINGS.DISCOVER_SOURCES
            )
            sources |= {provenance.Source.create(path) for path in ingredient.sources}
            dependencies |= provenance.gather_dependencies(globs, SETTINGS.DISCOVER_DEPENDENCIES)
            dependencies |= {provenance.PackageDependency(n, v) for n, v in ingredient.dependencies}
        repositories = (
            provenance.get_git_info(sorted(s.filename for s in sources))
            if self.save_git_info
            else []
        )
        main_file = provenance.get_main_file(self._caller_globals)
        return provenance.get_experiment_info(
            self.path, self.base_dir, main_file, sources, dependencies, repositories
        )
