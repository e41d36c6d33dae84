"""What the user's updates did to the default config, for ``print_config`` and checks.

A :class:`ConfigSummary` is ``run.config_modifications``: which dotted paths were
added (absent from every config scope), modified (a fixed value replaced a scope's
value) or changed type, plus the documentation of each entry.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from ..records import record

__all__ = ["ConfigSummary"]


@record
class ConfigSummary:
    """Dotted paths the updates added, modified or type-changed, and entry docs."""

    added: set[str] = field(default_factory=set)
    modified: set[str] = field(default_factory=set)
    typechanged: dict[str, tuple[type, type]] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    ignored_fallbacks: set[str] = field(default_factory=set)

    def marks(self, path: str) -> set[str]:
        """The markers of one path: a subset of {"added", "modified", "typechanged"}."""
        found = set()
        if path in self.added:
            found.add("added")
        if path in self.typechanged:
            found.add("typechanged")
        elif path in self.modified:
            found.add("modified")
        return found

    def touches(self, prefix: str) -> set[str]:
        """Markers of ``prefix`` and of everything under it (to colour a dict heading)."""
        found = self.marks(prefix)
        dotted = prefix + "."
        for kind, paths in (
            ("added", self.added),
            ("modified", self.modified),
            ("typechanged", self.typechanged),
        ):
            if any(p.startswith(dotted) for p in paths):
                found.add(kind)
        return found

    def to_json(self) -> dict[str, Any]:
        """Plain data, for storing next to the run."""
        return {
            "added": sorted(self.added),
            "modified": sorted(self.modified),
            "typechanged": {
                k: [old.__name__, new.__name__]
                for k, (old, new) in sorted(self.typechanged.items())
            },
            "docs": dict(sorted(self.docs.items())),
        }
