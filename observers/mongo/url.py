"""MongoDB observer URLs: parsing, Sacred's ``-m`` forms, and redaction of credentials.

An observer URL is a standard ``mongodb://`` or ``mongodb+srv://`` connection string
whose path names the database (``sacred`` when empty). gnomon reads three query
parameters itself and passes every other one to ``MongoClient``:

* ``collection_prefix``: runs go to ``<prefix>_runs`` and ``<prefix>_metrics``;
* ``priority``: the observer's priority (default 30, Sacred's);
* ``overwrite``: store the run under this id, replacing the run there (Sacred's
  ``-m db.prefix:id``).

Sacred's ``-m [host:port:]db_name[.prefix][!priority]`` is translated by
:func:`gnomon.cli.values.mongo_option_to_url`; a URL passes through it unchanged.

Passwords never leave the process: :func:`redact` removes them from every URL that
is logged, stored in the spool (``to_url()``) or written to the database. ``gnomon
sync`` therefore needs the password again: pass the full URL with ``--observer``, or
set ``GNOMON_MONGO_PASSWORD`` (used when the URL names a user but no password).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from gnomon.errors import ObserverError
from gnomon.redaction import is_secret_key, redact_url, scrub_secrets

__all__ = [
    "PASSWORD_ENV",
    "MongoTarget",
    "build_url",
    "client_seeds",
    "parse_mongo_url",
    "redact",
    "runs_key",
    "scrub_credentials",
    "with_uri_options",
]

#: Environment variable holding the password when the URL names only the user.
PASSWORD_ENV = "GNOMON_MONGO_PASSWORD"

_SCHEMES = ("mongodb://", "mongodb+srv://")
_OWN_PARAMS = ("collection_prefix", "priority", "overwrite", "db_name")


@dataclass
class MongoTarget:
    """What an observer URL means: where to connect and how to store."""

    client_url: str  # what MongoClient gets: credentials included, gnomon's own params removed
    db_name: str = "sacred"
    collection_prefix: str = ""
    priority: int = 30
    overwrite: int | str | None = None
    client_options: dict[str, str] = field(default_factory=dict)


def _split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """``user:password@hosts`` -> (user, password, hosts); both may be None."""
    if "@" not in netloc:
        return None, None, netloc
    userinfo, hosts = netloc.rsplit("@", 1)
    user, sep, password = userinfo.partition(":")
    return unquote(user), (unquote(password) if sep else None), hosts


def _join_netloc(user: str | None, password: str | None, hosts: str) -> str:
    if user is None:
        return hosts
    userinfo = quote(user, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return f"{userinfo}@{hosts}"


def _normalise(url: str) -> str:
    """Accept Sacred's ``host:port`` for ``url=`` as well as full connection strings."""
    text = url.strip()
    if text.startswith(_SCHEMES):
        return text
    if "://" in text:
        raise ObserverError(
            f"{redact(text)!r} is not a MongoDB URL: use mongodb://host:port/db_name "
            "or mongodb+srv://host/db_name"
        )
    return "mongodb://" + text


def parse_mongo_url(url: str | None, db_name: str | None = None) -> MongoTarget:
    """Read an observer URL; ``db_name`` (when given) wins over the URL's path.

    A user without a password takes it from ``GNOMON_MONGO_PASSWORD`` when that is set.
    """
    parts = urlsplit(_normalise(url or "mongodb://localhost:27017"))
    user, password, hosts = _split_netloc(parts.netloc)
    if not hosts:
        raise ObserverError(f"the MongoDB URL {redact(url or '')!r} names no host")
    if user is not None and password is None and os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    own: dict[str, str] = {}
    passed: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN_PARAMS:
            own[key] = value
        else:
            passed.append((key, value))
    path_db = unquote(parts.path.lstrip("/"))
    name = db_name or own.get("db_name") or path_db or "sacred"
    try:
        priority = int(own.get("priority", 30))
    except ValueError:
        raise ObserverError(
            f"priority={own['priority']!r} in the MongoDB URL is not an integer; use e.g. ?priority=30"
        ) from None
    overwrite: int | str | None = own.get("overwrite")
    if isinstance(overwrite, str) and overwrite.isdigit():
        overwrite = int(overwrite)
    client_url = urlunsplit(
        (parts.scheme, _join_netloc(user, password, hosts), "/" + quote(path_db, safe=""), urlencode(passed), "")
    )
    return MongoTarget(
        client_url=client_url,
        db_name=name,
        collection_prefix=own.get("collection_prefix", ""),
        priority=priority,
        overwrite=overwrite,
        client_options=dict(passed),
    )


def build_url(
    client_url: str,
    db_name: str,
    collection_prefix: str = "",
    priority: int = 30,
    overwrite: int | str | None = None,
) -> str:
    """The observer URL (without password or secret options) that rebuilds an equivalent observer."""
    parts = urlsplit(client_url)
    user, _password, hosts = _split_netloc(parts.netloc)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(key, value) for key, value in query if not is_secret_key(key)]
    if collection_prefix:
        query.append(("collection_prefix", collection_prefix))
    if priority != 30:
        query.append(("priority", str(priority)))
    if overwrite is not None:
        query.append(("overwrite", str(overwrite)))
    return urlunsplit(
        (parts.scheme, _join_netloc(user, None, hosts), "/" + quote(db_name, safe=""), urlencode(query), "")
    )


def redact(url: str) -> str:
    """The URL without password or secret query options (the user name stays): safe for logs and storage."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return redact_url(url)
    user, _password, hosts = _split_netloc(parts.netloc)
    return redact_url(
        urlunsplit((parts.scheme, _join_netloc(user, None, hosts), parts.path, parts.query, parts.fragment))
    )


def client_seeds(client: Any) -> str | None:
    """``host:port,...`` of a user-supplied MongoClient, without connecting; None if unknown."""
    settings = getattr(client, "_topology_settings", None)
    seeds = getattr(settings, "seeds", None)
    if not seeds:
        return None
    return ",".join(f"{host}:{port}" for host, port in seeds)


def scrub_credentials(value: Any) -> Any:
    """A copy of plain data with the password of every URL in its strings removed.

    The run's ``meta`` holds its command-line options, ``-m mongodb://user:pw@...``
    included; no password may reach the database. The rules are gnomon's shared
    ones (:func:`gnomon.redaction.scrub_secrets`); the run removes them at the
    source already, and this keeps runs replayed from older spools clean too.
    """
    return scrub_secrets(value)


def with_uri_options(client_url: str, client_kwargs: dict[str, Any]) -> str:
    """Client options that are URI options go into the URL, so ``gnomon sync`` uses them too."""
    from urllib.parse import urlencode

    from pymongo.common import URI_OPTIONS_VALIDATOR_MAP

    extra = {
        k: (str(v).lower() if isinstance(v, bool) else v)
        for k, v in client_kwargs.items()
        if k.lower() in URI_OPTIONS_VALIDATOR_MAP and k.lower() not in ("password", "username")
        and isinstance(v, str | int | float | bool)
    }  # fmt: skip
    if not extra:
        return client_url
    return client_url + ("&" if "?" in client_url else "?") + urlencode(extra)


def runs_key(client_url: str, db_name: str, runs_name: str) -> tuple[str, ...]:
    """What makes two observers write the same runs: servers and options of the URL, database, collection."""
    from urllib.parse import urlsplit

    parts = urlsplit(client_url)
    return (parts.scheme, parts.netloc.lower(), parts.query, db_name, runs_name)
