"""Suggestions for a mistyped name: "Did you mean 'lr'?".

:mod:`difflib` is loaded on the first mistake rather than at import, so the start
of every run that has none pays nothing for the error path.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["close_matches", "did_you_mean"]


def close_matches(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The ``n`` choices closest to ``word`` (:func:`difflib.get_close_matches`)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest of ``choices``, or ''."""
    close = close_matches(word, choices)
    return f" Did you mean {close[0]!r}?" if close else ""
