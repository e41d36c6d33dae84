"""What an ingredient sees of the config: its own entries plus its sub-ingredients' configs.

Sacred's rule for nested ingredients: an ingredient's config scopes and captured
functions see, next to the ingredient's own entries, the config of every ingredient
it includes (directly or further down) under that ingredient's path: relative to
the including ingredient when nested below its path (``model.sub`` is ``sub`` for
``model``), absolute otherwise (``dataset`` stays ``dataset``). So::

    dataset = Ingredient("dataset")
    model = Ingredient("model", ingredients=[dataset])

    @model.capture
    def build(depth, dataset):  # dataset is the dataset ingredient's config
        ...

The experiment's own view is the whole config, which already holds every ingredient.
Config scopes see the same, plus ``_log``: a logger for messages while the config is
built (Sacred hands scopes its scaffold logger under that name).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .dicts import get_by_path
from .snapshot import copy_value

__all__ = ["IngredientNode", "ingredient_view", "scope_fallback", "scope_logger", "sub_ingredients"]


class IngredientNode(Protocol):
    """What config nesting needs of an ingredient (or experiment): its path and what it includes.

    A protocol, so that the config and captured-function layers below
    :mod:`gnomon.ingredient` never import it.
    """

    @property
    def path(self) -> str:
        """Where the ingredient's config sits in the whole config ("" for the experiment)."""
        ...

    @property
    def ingredients(self) -> Sequence[IngredientNode]:
        """The ingredients it includes directly."""
        ...


def sub_ingredients(ingredient: IngredientNode) -> list[IngredientNode]:
    """Every ingredient ``ingredient`` includes, directly or further down, once each."""
    found: dict[int, IngredientNode] = {}
    stack = list(ingredient.ingredients)
    while stack:
        current = stack.pop(0)
        if id(current) in found or current is ingredient:
            continue  # cycles are reported when the config is resolved
        found[id(current)] = current
        stack.extend(current.ingredients)
    return list(found.values())


def ingredient_view(
    config: Mapping[str, Any], ingredient: IngredientNode, paths: Mapping[int, str]
) -> dict[str, Any]:
    """A copy of ``ingredient``'s config with its sub-ingredients' configs placed in it.

    ``paths`` maps ``id(ingredient)`` to where each ingredient's config sits in
    ``config`` ("" for the experiment). As in Sacred, a sub-ingredient's config
    replaces an own entry of the same name.
    """
    path = paths.get(id(ingredient), ingredient.path)
    own = get_by_path(config, path, {}) if path else config
    view: dict[str, Any] = copy_value(dict(own)) if isinstance(own, Mapping) else {}
    if not path:
        return view
    for sub in sub_ingredients(ingredient):
        sub_path = paths.get(id(sub), sub.path)
        if not sub_path or sub_path.startswith(path + "."):
            continue  # nested below the ingredient's path: already among its own entries
        value = get_by_path(config, sub_path)
        if value is None:
            continue
        node = view
        parts = sub_path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = copy_value(value)
    return view


def scope_logger(logger: logging.Logger, path: str) -> logging.Logger:
    """The ``_log`` of the config scopes of the ingredient at ``path`` ("" for the experiment)."""
    return logger.getChild(path) if path else logger


def scope_fallback(
    config: Mapping[str, Any],
    ingredient: IngredientNode,
    paths: Mapping[int, str],
    log: logging.Logger,
) -> dict[str, Any]:
    """Read-only values a scope may take as parameters.

    They are the config so far, the ingredient's view of its sub-ingredients, and ``_log``.
    """
    fallback = {k: v for k, v in config.items() if k != "_log"}
    if paths.get(id(ingredient)):
        fallback.update(ingredient_view(config, ingredient, paths))
    fallback["_log"] = log
    return fallback
