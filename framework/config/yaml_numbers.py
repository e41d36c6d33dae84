"""YAML config files read numbers the way YAML 1.2 does.

PyYAML implements YAML 1.1, whose float pattern needs a dot: ``lr: 1e-3`` is read as
the string ``'1e-3'``, ``t: 1:30`` as the sexagesimal integer 90 and ``mode: 0755``
as octal 493. YAML 1.2's core schema, which every current YAML library and the
JSON superset follow, reads ``1e-3``, ``1E3``, ``.5`` and ``-1.5e+10`` as floats,
``0755`` as 755, ``0o755`` as octal and ``1:30`` or ``1_000`` as strings.

:class:`Loader` is PyYAML's safe loader with the 1.2 patterns for ints and floats
(booleans and null are unchanged). :class:`Dumper` quotes every string that either
version would read as something else, so files gnomon writes read back the same
in both.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

__all__ = ["Dumper", "Loader"]

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"

# The core schema of YAML 1.2.2, section 10.3.2.
_INT_PATTERN = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_PATTERN = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def _core_resolvers(base: dict[Any, list[tuple[str, re.Pattern[str]]]]) -> dict[Any, Any]:
    """``base`` without YAML 1.1's int and float patterns, with 1.2's in their place."""
    table = {
        first: [(tag, pattern) for tag, pattern in entries if tag not in (_INT, _FLOAT)]
        for first, entries in base.items()
    }
    for tag, pattern, firsts in (
        (_INT, _INT_PATTERN, "-+0123456789"),
        (_FLOAT, _FLOAT_PATTERN, "-+.0123456789"),
    ):
        for first in firsts:
            table.setdefault(first, []).append((tag, pattern))
    return table


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ints and floats by YAML 1.2's core schema."""

    yaml_implicit_resolvers = _core_resolvers(yaml.SafeLoader.yaml_implicit_resolvers)


Loader.add_constructor(_INT, _construct_int)
Loader.add_constructor(_FLOAT, _construct_float)

_YAML_11 = yaml.resolver.Resolver()


class Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper that quotes strings YAML 1.1 or 1.2 would read as non-strings."""

    yaml_implicit_resolvers = _core_resolvers(yaml.SafeDumper.yaml_implicit_resolvers)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag a plain scalar gets; a string reads as a string only if both versions agree."""
        tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        if kind is yaml.ScalarNode and tag == _STR and implicit[0]:
            return _YAML_11.resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag
