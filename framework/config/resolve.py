"""From updates, named configs and scopes to one run's final config.

Precedence, highest first: explicit updates (``with a=1``, ``config_updates``), later
named configs, earlier named configs, config scopes and dicts. Winners are *fixed*
while scopes run, so derived values follow them.

1. Updates (dotted keys allowed) become one nested dict in root coordinates.
2. Named configs are evaluated in the order given, each with the updates fixed and
   the earlier named configs as presets; the updates are laid over their merged
   result to form the fixed values.
3. Ingredients are evaluated deepest first (the experiment last), each scope with
   its part of the fixed values, the earlier scopes' values as presets and the config
   so far (sub-ingredients' configs) as read-only fallback. The ingredient's config
   hooks run next; their updates are merged, then explicit fixed values re-applied.
4. The experiment gets a ``seed`` unless one is set; the summary of added, modified
   and type-changed entries is computed; added entries that no captured function of
   their ingredient can take raise :class:`ConfigAddedError` unless forced; the config
   is normalised and checked to be storable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigAddedError, ConfigError, NamedConfigNotFoundError, SerializationError
from ..spelling import close_matches
from .dicts import (
    ConfigDict,
    expand_dotted,
    flatten_paths,
    get_by_path,
    join_path,
    merge_owned,
    normalize_config,
    recursive_update,
    set_by_path,
    validate_keys,
)
from .nesting import scope_fallback, scope_logger
from .snapshot import copy_value
from .summary import ConfigSummary

if TYPE_CHECKING:
    from ..ingredient import Ingredient

__all__ = ["SEED_DOC", "config_path", "ingredient_order", "resolve_config"]

SEED_DOC = "the random seed for this experiment"


def config_path(ingredient: Ingredient, root: Ingredient) -> str:
    """Where an ingredient's config sits in the run's config ("" for the experiment)."""
    return "" if ingredient is root else ingredient.path


def ingredient_order(root: Ingredient) -> list[Ingredient]:
    """All ingredients, sub-ingredients before those that use them, the root last."""
    order: list[Ingredient] = []
    seen: set[int] = set()
    by_path: dict[str, Ingredient] = {}

    def visit(ingredient: Ingredient, stack: tuple[Ingredient, ...]) -> None:
        if any(ingredient is s for s in stack):
            from ..errors import CircularDependencyError

            chain = " -> ".join(i.path for i in (*stack[stack.index(ingredient) :], ingredient))
            raise CircularDependencyError(
                f"Circular dependency between ingredients: {chain}. Remove one of the links."
            )
        if id(ingredient) in seen:
            return
        for child in ingredient.ingredients:
            visit(child, (*stack, ingredient))
        seen.add(id(ingredient))
        path = config_path(ingredient, root)
        other = by_path.get(path)
        if other is not None and other is not ingredient:
            raise ConfigError(
                f"Two different ingredients use the path {path!r}; ingredient paths must be unique."
            )
        by_path[path] = ingredient
        order.append(ingredient)

    visit(root, ())
    return order


def _named_config(
    root: Ingredient, order: Sequence[Ingredient], name: str
) -> tuple[Ingredient, Any]:
    table = {}
    for ingredient in order:
        for config_name, config in ingredient.named_configs.items():
            table[join_path(config_path(ingredient, root), config_name)] = (ingredient, config)
    if name in table:
        return table[name]
    if os.path.isfile(name):
        from .files import load_config_file

        return root, ConfigDict(load_config_file(name), source=name)
    close = close_matches(name, list(table), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = ", ".join(sorted(table)) or "none"
    raise NamedConfigNotFoundError(
        name,
        table,
        f"Named config not found: {name!r}; it is neither a named config (available: {known}) "
        f"nor an existing config file.{hint}",
    )


def _subtree(config: Mapping[str, Any], path: str) -> dict[str, Any]:
    value = get_by_path(config, path, {})
    return value if isinstance(value, dict) else {}


def _merge_at(config: dict[str, Any], path: str, values: Mapping[str, Any]) -> None:
    """Move ``values`` (owned by the resolution: a scope's snapshot) into ``config`` at ``path``."""
    if not path:
        merge_owned(config, values)
        return
    existing = get_by_path(config, path)
    if not isinstance(existing, dict):
        existing = {}
        set_by_path(config, path, existing)
    merge_owned(existing, values)


def _covered(path: str, assigned: set[str]) -> bool:
    """Whether a scope defined ``path``, or replaced a non-dict parent of it."""
    if path in assigned:
        return True
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in assigned:
            return not any(a.startswith(prefix + ".") for a in assigned)
    return False


def _consumer(ingredient: Ingredient, path: str) -> Any:
    """The first captured function of ``ingredient`` that can take config ``path``, or None."""
    parts = path.split(".")
    for function in ingredient.captured_functions:
        prefix = function.prefix.split(".") if function.prefix else []
        if parts[: len(prefix)] != prefix:
            continue
        rest = parts[len(prefix) :]
        if not rest or rest[0] in function.config_arg_names:
            return function
    return None


def _consumed(ingredient: Ingredient, path: str) -> bool:
    """Whether a captured function of ``ingredient`` can take config ``path``."""
    return _consumer(ingredient, path) is not None


def _check_helpers(
    helpers: Mapping[str, tuple[Ingredient, str, str]], config: Mapping[str, Any]
) -> None:
    """Refuse a scope local that held a function a captured function expects as config.

    Modules, classes and functions in a config scope are helpers and stay out of the
    config (it is data, stored with every run). When a captured function takes the
    name as a parameter, the user meant it as config: say so now, naming the entry,
    instead of letting the run start and fail on a missing value.
    """
    for path, (ingredient, relative, what) in helpers.items():
        if get_by_path(config, path, _ABSENT) is not _ABSENT:
            continue  # another scope, a named config or an update gave it a value
        function = _consumer(ingredient, relative)
        if function is None:
            continue
        name = getattr(function, "__qualname__", None) or getattr(function, "__name__", "?")
        raise ConfigError(
            f"Config entry {path!r} holds {what}, which cannot be config (config values are "
            f"data, stored with every run), yet {name}() takes {relative.split('.')[-1]!r} "
            "from the config. Define the function at module level and call it from "
            f"{name}(), or keep a name or settings in the config (e.g. {path}='relu') "
            "and pick the function from it.",
            conflicting_configs=[path],
        )


_ABSENT = object()


# Keys a command may take without being declared in any config scope.
_SPECIAL_KEYS = frozenset({"seed", "config_filename"})


def _owner(path: str, paths: Mapping[str, Ingredient]) -> tuple[Ingredient, str]:
    best = ""
    for candidate in paths:
        if (
            candidate
            and (path == candidate or path.startswith(candidate + "."))
            and len(candidate) > len(best)
        ):
            best = candidate
    return paths[best], path[len(best) + 1 :] if best else path


# The ``_log`` of the extra evaluation in _base_values (a logger outside the logging
# tree, disabled): the scopes' messages are shown once, when the config is resolved.
_SILENT = logging.Logger("gnomon.config.silent")
_SILENT.disabled = True


def _base_values(
    root: Ingredient,
    order: Sequence[Ingredient],
    owner: Ingredient,
    fixed: dict[str, Any],
) -> dict[str, Any]:
    """The config scopes' values up to ``owner``, for a named config that reads them.

    Sacred lets a named config's parameters name only updates and earlier named
    configs; a named config such as ``def double(lr): lr = lr * 2`` is more useful when
    it can read the base config too, so the scopes are evaluated once more here (with
    the winners so far fixed) when a parameter is found nowhere else. Their ``_log``
    is silent this time: what they log is shown once, when the config is resolved.
    """
    paths = {id(i): config_path(i, root) for i in order}
    config: dict[str, Any] = {}
    for ingredient in order:
        path = config_path(ingredient, root)
        values: dict[str, Any] = {}
        own_fixed = _subtree(fixed, path)
        fallback = scope_fallback(config, ingredient, paths, _SILENT)
        for scope in ingredient.configurations:
            merge_owned(values, scope(fixed=own_fixed, preset=values, fallback=fallback))
        _merge_at(config, path, recursive_update(values, own_fixed))
        if ingredient is owner:
            break
    return config


def _evaluate_named(
    root: Ingredient,
    order: Sequence[Ingredient],
    names: Iterable[str],
    updates: dict[str, Any],
    docs: dict[str, str],
    helpers: dict[str, tuple[Ingredient, str, str]],
    logger: logging.Logger,
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in names:
        owner, config = _named_config(root, order, name)
        path = config_path(owner, root)
        fixed, preset = _subtree(updates, path), _subtree(merged, path)
        fallback: dict[str, Any] = {"_log": scope_logger(logger, path)}
        wanted = getattr(config, "arg_names", ())
        if any(n not in fixed and n not in preset and n not in fallback for n in wanted):
            base = _base_values(root, order, owner, recursive_update(copy_value(merged), updates))
            paths = {id(i): config_path(i, root) for i in order}
            fallback = scope_fallback(base, owner, paths, fallback["_log"])
            fallback.update(_subtree(base, path))
        result = config(fixed=fixed, preset=preset, fallback=fallback)
        _merge_at(merged, path, result)
        for key, doc in getattr(result, "docs", {}).items():
            docs.setdefault(join_path(path, key), doc)
        for key, what in getattr(result, "helpers", {}).items():
            helpers[join_path(path, key)] = (owner, key, what)
    return merged


def resolve_config(
    root: Ingredient,
    *,
    command_name: str | None = None,
    config_updates: Mapping[str, Any] | None = None,
    named_configs: Sequence[str] = (),
    logger: logging.Logger | None = None,
    force: bool = False,
    seed: int | None = None,
) -> tuple[dict[str, Any], ConfigSummary]:
    """The final config of a run of ``root`` and a summary of how the updates changed it."""
    from ..randomness import new_seed

    logger = logger or logging.getLogger(root.path)
    order = ingredient_order(root)
    paths = {config_path(i, root): i for i in order}
    updates = expand_dotted(config_updates)
    validate_keys(updates)
    updates = normalize_config(updates, origin="the config updates")
    named_docs: dict[str, str] = {}
    helpers: dict[str, tuple[Ingredient, str, str]] = {}
    named = _evaluate_named(root, order, named_configs, updates, named_docs, helpers, logger)
    explicit = recursive_update(named, updates)

    summary = ConfigSummary()
    assigned: dict[int, set[str]] = {}
    config: dict[str, Any] = {}
    hook_fixed: dict[str, Any] = {}
    paths_by_id = {id(i): config_path(i, root) for i in order}
    for ingredient in order:
        path = config_path(ingredient, root)
        fixed = _subtree(recursive_update(copy_value(hook_fixed), explicit), path)
        values: dict[str, Any] = {}
        mine = assigned.setdefault(id(ingredient), set())
        fallback = scope_fallback(
            config, ingredient, paths_by_id, scope_logger(logger, config_path(ingredient, root))
        )
        for scope in ingredient.configurations:
            result = scope(fixed=fixed, preset=values, fallback=fallback)
            merge_owned(values, result)
            for key, what in getattr(result, "helpers", {}).items():
                helpers[join_path(path, key)] = (ingredient, key, what)
            mine.update(result.assigned)
            summary.modified.update(join_path(path, p) for p in result.modified)
            summary.typechanged.update(
                {join_path(path, p): t for p, t in result.typechanges.items()}
            )
            summary.docs.update({join_path(path, p): d for p, d in result.docs.items()})
        _merge_at(config, path, recursive_update(values, fixed))
        for hook in ingredient.config_hooks:
            changes = hook(copy_value(config), command_name, logger)
            if changes is None:
                continue
            if not isinstance(changes, Mapping):
                raise ConfigError(
                    f"Config hook {getattr(hook, '__qualname__', hook)!r} "
                    f"returned {type(changes).__name__}; "
                    "a config hook returns a dict of config updates (or None)."
                )
            changes = normalize_config(expand_dotted(changes))
            recursive_update(hook_fixed, changes)
            recursive_update(config, changes)
        if ingredient.config_hooks:
            recursive_update(config, explicit)  # explicit updates win over hooks
    for key, doc in named_docs.items():
        summary.docs.setdefault(key, doc)

    if "seed" not in config:
        config["seed"] = new_seed() if seed is None else seed
    if not isinstance(config["seed"], int) or isinstance(config["seed"], bool):
        raise ConfigError(
            f"Config entry 'seed' must be an integer, not {config['seed']!r} "
            f"({type(config['seed']).__name__}); e.g. 'with seed=42'."
        )
    summary.docs.setdefault("seed", SEED_DOC)

    unconsumed = []
    for path, _value in flatten_paths(explicit):
        owner, relative = _owner(path, paths)
        if relative.split(".")[0] in _SPECIAL_KEYS or _covered(relative, assigned[id(owner)]):
            continue
        summary.added.add(path)
        if _consumed(owner, relative):
            logger.warning('Added new config entry: "%s"', path)
        else:
            unconsumed.append(path)
    if unconsumed and not force:
        raise _added_error(unconsumed, config)
    _check_helpers(helpers, config)
    for path, (old, new) in sorted(summary.typechanged.items()):
        logger.warning(
            'Changed type of config entry "%s" from %s to %s', path, old.__name__, new.__name__
        )
    return finalize_config(config, owned=True), summary


def _added_error(paths: list[str], config: Mapping[str, Any]) -> ConfigAddedError:
    """ConfigAddedError for ``paths``, suggesting existing entries they may be typos of."""
    known = [path for path, _ in flatten_paths(config) if path not in paths]
    known += [key for key, value in config.items() if isinstance(value, Mapping)]
    hints = []
    for path in paths:
        close = close_matches(path, known)
        if close:
            hints.append(f"{close[0]!r} instead of {path!r}")
    message = ConfigAddedError(paths).message
    if hints:
        message += f" Did you mean {', '.join(hints)}?"
    return ConfigAddedError(paths, message)


def finalize_config(config: Mapping[str, Any], *, owned: bool = False) -> dict[str, Any]:
    """``config`` with valid keys and storable values (else ConfigError).

    A normalised copy, unless ``owned``: :func:`resolve_config` built its config from
    snapshots and normalised updates, so it is checked as it is, not copied again.
    """
    final: dict[str, Any] = dict(config) if owned else normalize_config(dict(config))
    validate_keys(final)
    from ..serialize import encode

    try:
        encode(final, where="config")
    except SerializationError as error:
        raise ConfigError(f"{error} Config values are stored with every run.") from None
    return final
