"""``file://`` URLs of the file storage, both ways (``-O file:///runs``, ``gnomon sync``).

Accepted: ``file:///abs/path``, ``file://rel/path`` and ``file:rel/path``
(relative to the current folder: ``file://runs`` means the folder ``runs``, which
is what people mean when they type it), ``file://localhost/abs/path`` and plain
paths. Options that differ from the defaults travel in the query:
``priority``, ``template``, ``resource_dir``, ``source_dir``, ``copy_artifacts``,
``copy_sources`` (booleans as true/false, 1/0, yes/no).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from gnomon.errors import ObserverError
from gnomon.spelling import did_you_mean

if TYPE_CHECKING:
    from gnomon.observers.file.observer import FileStorageObserver

__all__ = ["DEFAULT_FILE_STORAGE_PRIORITY", "file_storage_from_url", "file_storage_url"]

#: File storage's priority when none is given: Sacred's (below SQL's 40 and MongoDB's 30).
DEFAULT_FILE_STORAGE_PRIORITY = 20

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_OPTIONS = ("copy_artifacts", "copy_sources", "priority", "resource_dir", "source_dir", "template")


def file_storage_url(observer: FileStorageObserver) -> str:
    """The URL that rebuilds ``observer`` (absolute basedir, non-default options)."""
    query: dict[str, str] = {}
    if observer.priority != DEFAULT_FILE_STORAGE_PRIORITY:
        query["priority"] = str(observer.priority)
    if observer.template is not None:
        query["template"] = str(observer.template.absolute())
    if str(observer.resource_dir) != f"{observer.basedir}/_resources":
        query["resource_dir"] = str(observer.resource_dir)
    if str(observer.source_dir) != f"{observer.basedir}/_sources":
        query["source_dir"] = str(observer.source_dir)
    if not observer.copy_artifacts:
        query["copy_artifacts"] = "false"
    if not observer.copy_sources:
        query["copy_sources"] = "false"
    url = "file://" + quote(observer.basedir)
    return f"{url}?{urlencode(query)}" if query else url


def _boolean(key: str, text: str) -> bool:
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise ObserverError(
            f"file storage option {key}={text!r} is not a boolean: use true or false"
        ) from None


def file_storage_from_url(url: str) -> tuple[str, dict[str, Any]]:
    """Split a file storage URL into ``(basedir, keyword options)``."""
    if not url.startswith("file:"):
        return url, {}
    rest, _, query = url[len("file:") :].partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
        if rest.startswith("localhost/"):
            rest = rest[len("localhost") :]
    path = unquote(rest)
    if not path:
        raise ObserverError(
            f"observer URL {url!r} names no folder: use file:///absolute/path or file://relative/path"
        )
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _OPTIONS:
            hint = did_you_mean(key, _OPTIONS)
            raise ObserverError(
                f"unknown file storage option {key!r} in {url!r}.{hint} "
                f"Known options: {', '.join(_OPTIONS)}"
            )
        if key == "priority":
            try:
                options[key] = int(value)
            except ValueError:
                raise ObserverError(
                    f"file storage option priority={value!r} is not an integer"
                ) from None
        elif key.startswith("copy_"):
            options[key] = _boolean(key, value)
        else:
            options[key] = value
    return path, options
