"""Observer URLs: ``scheme://...`` -> an observer, through the ``gnomon.observers`` entry points.

Every observer, the built-in ones included, registers a URL scheme in the
entry-point group ``gnomon.observers`` (``file = gnomon.observers.file.observer:
FileStorageObserver``); the class's ``from_url(url)`` builds it. A plain path
with no scheme means file storage, as Sacred's ``-F DIR`` did. Third-party
packages add schemes the same way::

    [options.entry_points]
    gnomon.observers =
        myscheme = my_package.observer:MyObserver

A plugin that fails to import is reported with a warning naming its
distribution and skipped; it never breaks other observers. The entry-point map
is read once per process (:func:`reset` forgets it).
"""

from __future__ import annotations

import re
import threading
import warnings
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from gnomon.errors import GnomonError, ObserverError, UnknownObserverError
from gnomon.observers.base import Observer
from gnomon.redaction import redact_url
from gnomon.spelling import close_matches

__all__ = [
    "ENTRY_POINT_GROUP",
    "STORE_ENTRY_POINT_GROUP",
    "available_schemes",
    "observer_from_url",
    "reset",
    "store_class",
]

ENTRY_POINT_GROUP = "gnomon.observers"
#: The read side: URL scheme -> a class implementing :class:`gnomon.query.protocol.RunStore`.
STORE_ENTRY_POINT_GROUP = "gnomon.stores"

#: Schemes gnomon knows about, with the extra that provides their observer.
_BUILTIN_EXTRAS: dict[str, str] = {
    "file": "",
    "mongodb": "mongo",
    "mongodb+srv": "mongo",
    "sqlite": "sql",
    "postgresql": "sql",
    "postgresql+psycopg": "sql",
    "mysql": "sql",
    "mysql+pymysql": "sql",
    "mariadb": "sql",
    "mariadb+pymysql": "sql",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")

_cache: dict[str, dict[str, list[EntryPoint]]] = {}
_cache_lock = threading.Lock()


def reset() -> None:
    """Forget the cached entry points (after installing a plugin, and between tests)."""
    with _cache_lock:
        _cache.clear()


def _entry_points(group: str = ENTRY_POINT_GROUP) -> dict[str, list[EntryPoint]]:
    """Scheme -> entry points registering it in ``group``, read once per process."""
    with _cache_lock:
        if group not in _cache:
            found: dict[str, list[EntryPoint]] = {}
            for ep in entry_points(group=group):
                candidates = found.setdefault(ep.name.lower(), [])
                # The same distribution seen twice on sys.path registers nothing new.
                if all(ep.value != other.value for other in candidates):
                    candidates.append(ep)
            _cache[group] = found
        return _cache[group]


def available_schemes() -> list[str]:
    """Every scheme an observer URL may use: installed plugins and gnomon's own."""
    return sorted(set(_entry_points()) | set(_BUILTIN_EXTRAS))


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) or "an unknown distribution"


def _scheme_of(url: str) -> str | None:
    """The URL's scheme, or None for a plain path (which means file storage)."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if "://" in url or scheme in available_schemes():
        return scheme
    # "sqlit:runs.db" is a typo rather than a folder called "sqlit:runs.db".
    if close_matches(scheme, available_schemes(), cutoff=0.8):
        return scheme
    return None


def _unknown(scheme: str, url: str, group: str = ENTRY_POINT_GROUP) -> UnknownObserverError:
    known = available_schemes()
    close = close_matches(scheme, known, n=3)
    hint = ""
    if close:
        hint = " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return UnknownObserverError(
        f"no observer is registered for the URL scheme {scheme!r} in {redact_url(url)!r}.{hint} "
        f"Known schemes: {', '.join(known)}. A plugin adds a scheme through the "
        f"{ENTRY_POINT_GROUP!r} entry-point group; a plain path means file storage."
    )


def _missing_extra(scheme: str, url: str, error: BaseException | None, what: str = "observer") -> ObserverError:
    extra = _BUILTIN_EXTRAS[scheme]
    cause = f" ({error})" if error is not None else ""
    return ObserverError(
        f"the {what} for {scheme}:// URLs is not available{cause}: "
        f"install it with pip install 'gnomon[{extra}]' to use {redact_url(url)!r}"
    )


def _load_class(scheme: str, url: str, group: str = ENTRY_POINT_GROUP) -> Any:
    """Import the class registered for ``scheme`` in ``group``; broken plugins warn and are skipped."""
    what = "observer" if group == ENTRY_POINT_GROUP else "store reader"
    candidates = _entry_points(group).get(scheme, [])
    if not candidates:
        if scheme in _BUILTIN_EXTRAS:
            raise _missing_extra(scheme, url, None, what)
        raise _unknown(scheme, url, group)
    failures: list[str] = []
    last_error: BaseException | None = None
    for ep in candidates:
        try:
            return ep.load()
        except Exception as error:  # noqa: BLE001 - a plugin's import may fail in any way
            last_error = error
            dist = _distribution(ep)
            failures.append(f"{ep.value} from {dist}: {type(error).__name__}: {error}")
            if not _is_builtin(ep):
                warnings.warn(
                    f"the gnomon {what} plugin {ep.name!r} from distribution {dist!r} failed to "
                    f"import ({ep.value}: {type(error).__name__}: {error}); it is skipped",
                    RuntimeWarning,
                    stacklevel=3,
                )
    if (
        scheme in _BUILTIN_EXTRAS
        and _BUILTIN_EXTRAS[scheme]
        and isinstance(last_error, ImportError)
    ):
        raise _missing_extra(scheme, url, last_error, what)
    raise ObserverError(
        f"the {what} for {scheme}:// URLs could not be imported: " + "; ".join(failures)
    )


def _is_builtin(ep: EntryPoint) -> bool:
    return ep.value.startswith("gnomon.")


def observer_from_url(url: str) -> Observer:
    """Build the observer a URL names (``-O URL``, ``-F DIR``, ``gnomon sync``).

    ``file:///runs`` and a plain ``runs`` give a FileStorageObserver; other schemes
    are looked up in the ``gnomon.observers`` entry points. An unknown scheme raises
    :class:`~gnomon.errors.UnknownObserverError` with the closest known schemes; a
    known one whose extra is not installed says which extra to install.
    """
    if not url.strip():
        raise ObserverError(f"an observer URL must be a non-empty string, not {url!r}")
    url = url.strip()
    scheme = _scheme_of(url) or "file"
    if scheme == "sqlite":
        _check_sqlite_url(url)
    cls = _load_class(scheme, url)
    from_url = getattr(cls, "from_url", None)
    if from_url is None:
        raise ObserverError(
            f"{cls!r}, registered for {scheme}:// URLs, has no from_url(url) classmethod"
        )
    try:
        observer = from_url(url)
    except GnomonError:
        raise
    except NotImplementedError as error:
        raise ObserverError(f"{cls!r} cannot be created from the URL {redact_url(url)!r}: {error}") from error
    except ImportError as error:  # a driver the observer imports when it is built
        if _BUILTIN_EXTRAS.get(scheme):
            raise _missing_extra(scheme, url, error) from None
        raise ObserverError(
            f"the observer for {redact_url(url)!r} needs a module that is not installed: {error}"
        ) from None
    except Exception as error:  # noqa: BLE001 - a malformed URL: each driver reports it its own way
        raise ObserverError(_bad_url(scheme, url, error)) from None
    if not isinstance(observer, Observer):
        from gnomon.observers.base import as_observer

        observer = as_observer(observer)
    return observer


_URL_FORMS = {
    "sql": "sqlite:///runs.db (a file), postgresql://user@host:5432/db or mysql://user@host/db",
    "mongo": "mongodb://host:27017/db",
}


def _check_sqlite_url(url: str) -> None:
    """Refuse ``sqlite:/x`` and ``sqlite://x``.

    SQLAlchemy fails on the first and reads the second as an in-memory database,
    where every recorded run would be lost.
    """
    from gnomon.cli.values import sql_url

    try:
        sql_url(url)
    except ValueError as problem:
        raise ObserverError(str(problem).replace(repr(url), repr(redact_url(url)), 1)) from None


def _bad_url(scheme: str, url: str, error: Exception) -> str:
    """One line naming the URL, what its driver said and what a good URL looks like."""
    shown = redact_url(url)
    cause = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
    hint = ""
    form = _URL_FORMS.get(_BUILTIN_EXTRAS.get(scheme, ""))
    if form:
        hint = f" A URL looks like {form}."
    return f"cannot use the observer URL {shown!r}: {cause}.{hint}".replace("..", ".")


def store_class(url: str) -> Any:
    """The class that reads the store a URL names (``gnomon.stores`` entry points; a plain path is file storage).

    Errors are those of :func:`observer_from_url`: an unknown scheme lists the known
    ones, a known scheme whose extra is missing names the extra to install.
    """
    url = url.strip()
    if not url:
        raise ObserverError(f"a store URL must be a non-empty string, not {url!r}")
    scheme = _scheme_of(url) or "file"
    return _load_class(scheme, url, STORE_ENTRY_POINT_GROUP)
