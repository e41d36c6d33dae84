"""Tracebacks that show the user's code, not gnomon's plumbing.

A failing run stores its ``fail_trace`` and the command line prints the error; in
both, the frames of gnomon's own modules (the run lifecycle, captured-function
injection) only hide where the user's code went wrong, so they are left out —
unless every frame is gnomon's, which means the bug is ours and all are kept.
"""

from __future__ import annotations

import importlib.util
import os
import traceback
from collections.abc import Iterable

__all__ = ["filtered_traceback"]


def _package_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.abspath(__file__))]
    spec = importlib.util.find_spec("gnomon.observers")
    if spec is not None and spec.submodule_search_locations:
        dirs.extend(os.path.abspath(d) for d in spec.submodule_search_locations)
    return tuple(dirs)


def _filter_stack(exception: traceback.TracebackException, internal: tuple[str, ...], seen: set[int]) -> bool:
    """Drop internal frames from ``exception`` and the exceptions linked to it; True if any went."""
    if id(exception) in seen:
        return False
    seen.add(id(exception))
    filtered = False
    kept = [frame for frame in exception.stack if not os.path.abspath(frame.filename).startswith(internal)]
    if kept and len(kept) < len(exception.stack):
        exception.stack = traceback.StackSummary.from_list(kept)
        filtered = True
    for linked in (
        exception.__cause__,
        exception.__context__,
        *(getattr(exception, "exceptions", None) or ()),
    ):
        if linked is not None:
            filtered = _filter_stack(linked, internal, seen) or filtered
    return filtered


def filtered_traceback(error: BaseException, extra_dirs: Iterable[str] = ()) -> tuple[str, bool]:
    """The formatted traceback of ``error`` without gnomon's frames; and whether any were left out."""
    internal = tuple(d.rstrip(os.sep) + os.sep for d in (*_package_dirs(), *extra_dirs))
    exception = traceback.TracebackException.from_exception(error)
    filtered = _filter_stack(exception, internal, set())
    return "".join(exception.format()), filtered
