"""Config: scopes, dicts and files, read-only views, and resolving a run's final config.

The names Sacred users import from ``sacred.config`` are available here too.
"""

from __future__ import annotations

from .dicts import ConfigDict
from .files import load_config_file, save_config_file
from .readonly import ReadOnlyDict, ReadOnlyList
from .scope import ConfigScope
from .summary import ConfigSummary

__all__ = [
    "ConfigDict",
    "ConfigScope",
    "ConfigSummary",
    "ReadOnlyDict",
    "ReadOnlyList",
    "load_config_file",
    "save_config_file",
]
