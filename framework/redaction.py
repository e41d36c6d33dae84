"""Credentials kept out of everything gnomon stores or logs.

A run's ``meta`` records its command-line options, and those name databases:
``-s postgresql://user:secret@host/db``, ``-m mongodb://user:secret@host/db``,
``-O sqlite:///runs.db?token=...``. The password is needed to connect, never to
describe the run, so it is removed where the options become ``meta`` — before any
observer, the spool or a log line sees them — with the same rules every observer
uses for the URLs it logs and hands to ``gnomon sync``:

* the password of a URL's ``user:password@`` part is dropped (the user stays: it
  names an account rather than proving one);
* query parameters that carry a secret (``password=``, ``token=``, ``secret=``,
  ``api_key=``... see :data:`SECRET_QUERY_KEYS`) are dropped with their value.

Only strings are changed, wherever they sit in nested dicts and lists; nothing
else about the data changes. Git remotes keep their own rule
(:func:`gnomon.provenance.redact_url`), as they have no query secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SECRET_QUERY_KEYS", "is_secret_key", "redact_url", "scrub_secrets"]

#: Query parameter names whose value is a secret (compared without case).
SECRET_QUERY_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "sslpassword",
        "sslkeypassword",
        "access_token",
        "auth_token",
        "api_key",
        "apikey",
        "client_secret",
        "private_key",
        "sas_token",
        "sig",
        "signature",
    }
)
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "api_key", "access_key")

# scheme://user:password@ -> scheme://user@   (the password never holds '@', '/' or spaces)
_USERINFO_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*):[^@/\s]*@")
# ?name=value / &name=value / ;name=value, up to the next separator
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#?\s]+)=([^&;#\s]*)")


def is_secret_key(name: str) -> bool:
    """Whether a query parameter (or option) called ``name`` carries a secret.

    Besides the names in :data:`SECRET_QUERY_KEYS`, any name ending in one of
    them (``db_password``, ``github_token``) counts.
    """
    lowered = name.lower()
    return lowered in SECRET_QUERY_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _drop_secret_pairs(text: str) -> str:
    """Remove ``name=value`` query pairs whose name carries a secret, separators included."""
    if "=" not in text:
        return text
    pieces: list[str] = []
    last = 0
    question_at = -1  # where a dropped pair's '?' must be handed to the pair after it
    for match in _QUERY_PAIR.finditer(text):
        pieces.append(text[last : match.start()])
        last = match.end()
        separator = match[1]
        if is_secret_key(match[2]):
            if separator == "?" or match.start() == question_at:
                question_at = match.end()
            continue
        if match.start() == question_at:
            separator = "?"
        pieces.append(separator + match[0][1:])
    if last == 0:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def redact_url(text: str) -> str:
    """``text`` without the password of any URL in it, nor secret query parameters.

    Works on a whole URL (``postgresql://u:pw@h/db?password=x`` becomes
    ``postgresql://u@h/db``) and on URLs inside other text alike.
    """
    if "@" in text:
        text = _USERINFO_PASSWORD.sub(r"\1@", text)
    return _drop_secret_pairs(text)


def scrub_secrets(value: Any) -> Any:
    """A copy of plain data with :func:`redact_url` applied to every string in it.

    Dict keys that name a secret (``{"password": ...}``) have their value replaced
    by ``"***"``. Tuples become lists, as they would in JSON.
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, Mapping):
        return {
            k: ("***" if isinstance(k, str) and is_secret_key(k.lstrip("-")) and v else scrub_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_secrets(v) for v in value]
    return value
