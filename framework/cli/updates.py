"""Reading the ``with UPDATE...`` part of a command line.

An update is either ``path=value`` (``lr=0.01``, ``model.depth=50``,
``optimizer=adam``) or a bare ``NAME``: a named config (``big``, ``ing.small``) or a
config file (``params.yaml``). Values are Python literals read with
:func:`ast.literal_eval`, which never executes code; ``inf``, ``-inf`` and ``nan``
mean floats. Sacred's rule for everything else holds: a value that is not a literal
is the string as written (``optimizer=adam``, ``message=Ciao world!``), unless
``SETTINGS.COMMAND_LINE.STRICT_PARSING`` is on. Because that rule also turns typos
into strings, a value that looks like a broken literal (``lr=0.1.2``,
``layers=[1,2``, ``name='x``) or is empty is still taken as a string, but with a
one-line warning that names the fix.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from gnomon.errors import ConfigUpdateSyntaxError

__all__ = ["CONFIG_FILE_EXTENSIONS", "is_config_file_name", "parse_update_value", "parse_updates"]

#: Extensions that make a bare ``with`` token a config file rather than a named config.
CONFIG_FILE_EXTENSIONS = (".json", ".yaml", ".yml", ".toml")

# Text that starts like a number (``0.1.2``, ``1e-3e``, ``.5.``) or like a container or
# a quoted string was most likely meant as a literal: a string there is probably a typo.
_NUMBER_LIKE = r"^[+-]?\.?\d"  # a pattern string: compiled on first use, by re
_LITERAL_OPENERS = ("[", "{", "(", "'", '"')

_log = logging.getLogger("gnomon.config")
_KEY_PART = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$"
_NAMED_CONFIG = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_SPECIAL_FLOATS = {
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "+infinity",
    "-infinity",
    "nan",
    "+nan",
    "-nan",
}


def is_config_file_name(token: str) -> bool:
    """Whether a bare ``with`` token names a config file (by its extension)."""
    return token.lower().endswith(CONFIG_FILE_EXTENSIONS)


def _shell_quoted(text: str) -> str:
    import shlex  # for error messages only

    return shlex.quote(text)


def _quoting_hint(key: str, text: str) -> str:
    """Shell text that passes ``text`` as a string value of ``key``."""
    if "'" not in text:
        return f"{key}='{json.dumps(text)}'"
    return _shell_quoted(f"{key}={text!r}")


def parse_update_value(text: str, *, key: str = "value", strict: bool | None = None) -> Any:
    """Read the text after ``=`` in one update as a Python value.

    A Python literal gives its value; anything else gives the text (stripped of
    surrounding whitespace) as a string, as in Sacred. ``strict`` defaults to
    ``SETTINGS.COMMAND_LINE.STRICT_PARSING``; when on, text that is not a literal is
    an error instead (ConfigUpdateSyntaxError with the quoting fix). Text that looks
    like a broken literal is logged as a warning on ``gnomon.config``, since it is
    more likely a typo than a string.
    """
    token = f"{key}={text}"
    try:
        with warnings.catch_warnings():
            # 'C:\data' is meant as written; Python's "invalid escape" warning is noise here.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return ast.literal_eval(text)
    except SyntaxError as error:
        if "too many nested" in str(error):
            _too_deep(token)
    except (ValueError, TypeError):
        pass
    except (MemoryError, RecursionError):  # the parser's own stack ran out
        _too_deep(token)
    stripped = text.strip()
    if stripped.lower() in _SPECIAL_FLOATS:
        return float(stripped)
    if strict is None:
        from gnomon.settings import SETTINGS

        strict = bool(SETTINGS.COMMAND_LINE.STRICT_PARSING)
    if strict:
        reason = (
            "is not a Python literal (SETTINGS.COMMAND_LINE.STRICT_PARSING is on, "
            "so only literals are accepted)"
        )
        if not stripped:
            raise ConfigUpdateSyntaxError(
                f"Cannot parse config update {token!r}: the value after '=' is empty. "
                f"Write a value, or pass an empty string with {key}='\"\"'"
            )
        if len(text) > 200:
            raise ConfigUpdateSyntaxError(
                f"Cannot parse config update {_shown(token)!r}: the value {reason}. "
                "Check its brackets and quotes, or put it in a .json/.yaml config file: "
                "with params.json"
            )
        raise ConfigUpdateSyntaxError(
            f"Cannot parse config update {token!r}: {text!r} {reason}. "
            f"Quote it to pass a string: {_quoting_hint(key, text)}"
        )
    problem = _suspicious(stripped)
    if problem:
        _log.warning(
            "Config update %r: %s, so it is taken as the string %r. Fix it if you meant %s; "
            "quote it to pass a string without this warning: %s",
            _shown(token),
            problem,
            _shown(stripped),
            "a number" if re.match(_NUMBER_LIKE, stripped) else "a value",
            _quoting_hint(key, stripped) if len(stripped) <= 200 else "put it in a config file",
        )
    return stripped


def _suspicious(text: str) -> str:
    """Why ``text`` (not a literal) looks like a typo rather than a string, or ''."""
    if not text:
        return "the value after '=' is empty"
    if re.match(_NUMBER_LIKE, text):
        return f"{_shown(text)!r} looks like a number but is not one"
    if text.startswith(_LITERAL_OPENERS):
        return (
            f"{_shown(text)!r} looks like a Python literal but does not parse "
            "(check its brackets and quotes)"
        )
    return ""


def _too_deep(token: str) -> NoReturn:
    raise ConfigUpdateSyntaxError(
        f"Cannot parse config update {_shown(token)!r}: the value is nested too deeply "
        "to read. Flatten it, or put it in a .json/.yaml config file: with params.json"
    )


def _shown(token: str) -> str:
    """A long update cut to a readable length for messages."""
    return token if len(token) <= 80 else f"{token[:60]}… ({len(token):,} characters)"


def _split_key(token: str, key: str) -> list[str]:
    """Check the dotted path before ``=`` and return its parts."""
    if not key.strip():
        raise ConfigUpdateSyntaxError(
            f"Cannot parse config update {token!r}: the key before '=' is empty. "
            "Write path=value, e.g. lr=0.01 or model.depth=50"
        )
    parts = key.split(".")
    if any(part == "" for part in parts):
        raise ConfigUpdateSyntaxError(
            f"Cannot parse config update {token!r}: the path {key!r} has an empty part. "
            "Separate nested keys with single dots, e.g. model.depth=50"
        )
    for part in parts:
        if not re.match(_KEY_PART, part):
            raise ConfigUpdateSyntaxError(
                f"Cannot parse config update {token!r}: {part!r} is not a config key "
                "(keys are letters, digits, '_' and '-'; no spaces or quotes). "
                "Write path=value, e.g. model.depth=50"
            )
    return parts


def _set_nested(
    updates: dict[str, Any], parts: list[str], value: Any, token: str, origin: dict[str, str]
) -> None:
    """Place ``value`` at ``parts`` in ``updates``, refusing to mix a value with keys under it."""
    node = updates
    for depth, part in enumerate(parts[:-1]):
        path = ".".join(parts[: depth + 1])
        child = node.get(part)
        if child is None and part not in node:
            child = node[part] = {}
            origin[path] = token
        elif not isinstance(child, dict):
            raise ConfigUpdateSyntaxError(
                f"Config updates {origin.get(path, path)!r} and {token!r} conflict: "
                f"{path!r} is set to a value and also used as a group of keys. Keep one of them."
            )
        node = child
    node[parts[-1]] = value
    origin[".".join(parts)] = token


def parse_updates(
    tokens: Sequence[str], *, strict: bool | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Split ``with`` tokens into a nested ``config_updates`` dict and named config names.

    ``["lr=0.1", "model.depth=50", "big"]`` gives
    ``({"lr": 0.1, "model": {"depth": 50}}, ["big"])``. Named configs keep their order
    (later ones win); a later update of the same key wins too.
    """
    updates: dict[str, Any] = {}
    named: list[str] = []
    origin: dict[str, str] = {}
    previous = ""
    for token in tokens:
        if "=" in token:
            key, _, text = token.partition("=")
            parts = _split_key(token, key)
            value = parse_update_value(text, key=key, strict=strict)
            _set_nested(updates, parts, value, token, origin)
        elif is_config_file_name(token) or re.match(_NAMED_CONFIG, token):
            named.append(token)
        else:
            hint = ""
            if "=" in previous:
                key = previous.partition("=")[0]
                hint = (
                    f". If {token!r} belongs to the value of {key!r}, the shell split it at a "
                    f"space; quote the whole update: {_shell_quoted(f'{previous} {token}')}"
                )
            raise ConfigUpdateSyntaxError(
                f"Cannot parse config update {token!r}: expected path=value (e.g. lr=0.01), "
                f"the name of a named config, or a .json/.yaml/.yml/.toml config file{hint}"
            )
        previous = token
    return updates, named
