"""Run references on the command line: ``12``, ``latest``, ``latest~3`` (by start time), ``3-7``, ``1,4,9``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gnomon.cli.read.failures import ReadError

if TYPE_CHECKING:
    from gnomon.query.store import Store

__all__ = ["is_reference", "resolve", "resolve_one"]

_LATEST = re.compile(r"^latest(?:~(\d+))?$")
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_MAX_RANGE = 100_000


def is_reference(text: str) -> bool:
    """Whether ``text`` is shaped like run references: digits, ``latest[~N]``, ranges, comma lists of them."""
    parts = [p.strip() for p in text.split(",")]
    return all(p and (p.isdigit() or _LATEST.match(p) or _RANGE.match(p)) for p in parts)


def _latest(store: Store, back: int) -> str:
    ids = store.runs(order_by="-start_time", limit=back + 1).ids
    if len(ids) <= back:
        have = f"only {len(ids)} run{'s' if len(ids) != 1 else ''}" if ids else "no runs"
        raise ReadError(f"latest~{back} names no run: {store.url} has {have}")
    return ids[back]


def resolve(store: Store, references: Iterable[str]) -> list[str]:
    """The run ids the references name, in the order given, each once.

    A plain id must exist; a range keeps the ids in it that exist (and must keep one).
    """
    wanted: list[str] = []
    plain: list[str] = []
    for reference in references:
        for part in (p.strip() for p in str(reference).split(",")):
            if not part:
                continue
            latest, span = _LATEST.match(part), _RANGE.match(part)
            if latest:
                wanted.append(_latest(store, int(latest.group(1) or 0)))
            elif span:
                low, high = int(span.group(1)), int(span.group(2))
                if low > high:
                    raise ReadError(f"run range {part!r} is empty: write the smaller id first ({high}-{low})")
                if high - low >= _MAX_RANGE:
                    raise ReadError(
                        f"run range {part!r} spans more than {_MAX_RANGE:,} ids: select with --where instead"
                    )
                found = set(store.runs(ids=[str(i) for i in range(low, high + 1)], order_by=None).ids)
                if not found:
                    raise ReadError(f"no run has an id from {low} to {high} in {store.url}; list them with gnomon ls")
                wanted.extend(str(i) for i in range(low, high + 1) if str(i) in found)
            else:
                wanted.append(part)
                plain.append(part)
    if plain:
        found = set(store.runs(ids=plain, order_by=None).ids)
        missing = [p for p in dict.fromkeys(plain) if p not in found]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise ReadError(f"no run with id {names} in {store.url}; list the runs with gnomon ls")
    if not wanted:
        raise ReadError("no run given: name one by id, latest, latest~N or a range such as 3-7")
    return list(dict.fromkeys(wanted))


def resolve_one(store: Store, reference: str) -> str:
    """The one run a reference names; a list or range naming several is an error."""
    ids = resolve(store, [reference])
    if len(ids) != 1:
        raise ReadError(f"{reference!r} names {len(ids)} runs; this command takes one")
    return ids[0]
