"""Which store a command reads: ``-S/--store URL``, else ``$GNOMON_STORE``, else ``./runs``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from gnomon.cli.read.failures import ReadError, hide_secret, redact

if TYPE_CHECKING:
    from gnomon.query.store import Store

__all__ = ["DEFAULT_STORE", "opened", "store_option"]

DEFAULT_STORE = "runs"


def store_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``-S/--store URL`` option every read command takes."""
    return click.option(
        "-S",
        "--store",
        "store_url",
        metavar="URL",
        envvar="GNOMON_STORE",
        default=None,
        help="The store: a folder, sqlite:///…, postgresql://…, mysql://…, mongodb://… "
        "(default: $GNOMON_STORE, else ./runs).",
    )(function)


@contextmanager
def opened(url: str | None, positional: str | None = None) -> Iterator[Store]:
    """The store named by the positional argument, ``-S``, ``$GNOMON_STORE`` or ``./runs``, closed afterwards."""
    import gnomon.query
    from gnomon.errors import GnomonError

    chosen = positional or url or DEFAULT_STORE
    hide_secret(chosen)
    try:
        store = gnomon.query.open(chosen)
    except (GnomonError, ImportError):
        raise
    except Exception as error:  # noqa: BLE001 - a backend that let a parsing or driver error through
        first = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise ReadError(
            f"cannot open {redact(chosen)}: {first}. Check the URL given with -S/--store or $GNOMON_STORE"
        ) from None
    try:
        yield store
    finally:
        store.close()
