"""Splitting a filter between a backend and memory, so every backend answers every filter alike.

A backend compiles the atoms it can reproduce exactly; :func:`relax` replaces the
others with a constant chosen by polarity (true where the atom is asserted, false
where it is negated), which turns the tree into one that matches a superset of
the runs. The query layer then evaluates the original tree on the records that
come back. A backend that supports everything gets the tree unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from gnomon.query.tree import And, Const, Node, Not, Or

__all__ = ["relax", "simplify"]


def relax(node: Node, supported: Callable[[Node], bool]) -> tuple[Node, bool]:
    """A tree matching a superset of ``node``'s runs, using only supported atoms; and whether it is exact."""
    exact = True

    def walk(item: Node, positive: bool) -> Node:
        nonlocal exact
        if isinstance(item, And):
            return And(tuple(walk(i, positive) for i in item.items))
        if isinstance(item, Or):
            return Or(tuple(walk(i, positive) for i in item.items))
        if isinstance(item, Not):
            return Not(walk(item.item, not positive))
        if isinstance(item, Const) or supported(item):
            return item
        exact = False
        return Const(positive)

    return simplify(walk(node, True)), exact


def simplify(node: Node) -> Node:
    """Fold constants: ``And(x, true)`` is ``x``, ``Or(x, true)`` is true, ``Not(false)`` is true."""
    if isinstance(node, And | Or):
        absorbing = isinstance(node, Or)  # true absorbs an Or, false an And
        items: list[Node] = []
        for item in (simplify(i) for i in node.items):
            if isinstance(item, Const):
                if item.value == absorbing:
                    return Const(absorbing)
                continue
            items.append(item)
        if not items:
            return Const(not absorbing)
        if len(items) == 1:
            return items[0]
        return And(tuple(items)) if isinstance(node, And) else Or(tuple(items))
    if isinstance(node, Not):
        inner = simplify(node.item)
        if isinstance(inner, Const):
            return Const(not inner.value)
        if isinstance(inner, Not):
            return inner.item
        return Not(inner)
    return node
