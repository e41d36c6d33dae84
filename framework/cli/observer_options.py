"""The observers that the ``-F``, ``-m``, ``-s`` and ``-O`` flags ask for.

Each of these flags may be given several times and every one is attached: ``-F a
-F b`` records each run in both folders. A flag given once holds a string (the
form Sacred stored in ``meta_info["options"]``), several times a list; both are
accepted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gnomon.cli.values import mongo_option_to_url
from gnomon.errors import ConfigError

__all__ = ["observer_urls", "observers_from_options"]


def _each(value: Any) -> list[str]:
    """The values of a repeatable flag: none, one string, or a list of strings."""
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def observer_urls(options: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The folders of ``-F`` and the URLs of ``-m``, ``-s`` and ``-O``, in that order."""
    urls: list[str] = []
    for text in _each(options.get("--mongo_db")):
        try:
            urls.append(mongo_option_to_url(text))
        except ValueError as error:
            raise ConfigError(f"Invalid value for --mongo-db: {error}", print_usage=True) from None
    urls.extend(_each(options.get("--sql")))
    urls.extend(_each(options.get("--observer")))
    return _each(options.get("--file_storage")), urls


def observers_from_options(options: Mapping[str, Any]) -> list[Any]:
    """Build the observers that ``-F``, ``-m``, ``-s`` and ``-O`` ask for, in that order."""
    directories, urls = observer_urls(options)
    observers: list[Any] = []
    if directories:
        from gnomon.observers.file.observer import FileStorageObserver

        observers.extend(FileStorageObserver(directory) for directory in directories)
    if urls:
        from gnomon.observers.registry import observer_from_url

        observers.extend(observer_from_url(url) for url in urls)
    return observers
