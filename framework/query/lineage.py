"""Which run's artifact fed which run: a graph walked through the stores' digest links.

An edge A → B exists when B read, as a resource, a file whose content is that of
one of A's artifacts (same sha256) — so the link holds even when the file was
copied or renamed between the runs. Each backend finds the edges (a join on
digests); this module walks them to the asked depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnomon.query.protocol import LineageEdge

if TYPE_CHECKING:
    from gnomon.query.store import Store

__all__ = ["Graph", "walk"]


@dataclass(frozen=True, slots=True)
class Graph:
    """Runs (``nodes``: id → a small summary) and the artifact edges between them."""

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)

    def upstream(self, run_id: str) -> list[str]:
        """Ids of the runs whose artifacts ``run_id`` read."""
        return sorted({e.source for e in self.edges if e.target == run_id})

    def downstream(self, run_id: str) -> list[str]:
        """Ids of the runs that read an artifact of ``run_id``."""
        return sorted({e.target for e in self.edges if e.source == run_id})

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``{"root", "nodes": [...], "edges": [...]}``."""
        return {
            "root": self.root,
            "nodes": [{"run_id": run_id, **summary} for run_id, summary in self.nodes.items()],
            "edges": [
                {
                    "source": e.source,
                    "artifact": e.artifact,
                    "target": e.target,
                    "resource": e.resource,
                    "digest": e.digest,
                }
                for e in self.edges
            ],
        }


def walk(store: Store, run_id: str, *, direction: str = "both", depth: int = 1) -> Graph:
    """The lineage of one run, ``depth`` steps up (its inputs' producers), down (its outputs' readers) or both."""
    if direction not in ("up", "down", "both"):
        raise ValueError(f"direction must be 'up', 'down' or 'both', not {direction!r}")
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    store.run(run_id)  # an unknown id fails here, naming the store
    edges: dict[tuple[str, str, str, str], LineageEdge] = {}
    seen_up, seen_down = {run_id}, {run_id}
    frontier_up = [run_id] if direction in ("up", "both") else []
    frontier_down = [run_id] if direction in ("down", "both") else []
    for _ in range(depth):
        next_up: list[str] = []
        next_down: list[str] = []
        if frontier_up:
            for edge in store.backend.lineage_edges(frontier_up, upstream=True, downstream=False):
                edges[(edge.source, edge.artifact, edge.target, edge.resource)] = edge
                if edge.target in frontier_up and edge.source not in seen_up:
                    seen_up.add(edge.source)
                    next_up.append(edge.source)
        if frontier_down:
            for edge in store.backend.lineage_edges(frontier_down, upstream=False, downstream=True):
                edges[(edge.source, edge.artifact, edge.target, edge.resource)] = edge
                if edge.source in frontier_down and edge.target not in seen_down:
                    seen_down.add(edge.target)
                    next_down.append(edge.target)
        frontier_up, frontier_down = next_up, next_down
        if not frontier_up and not frontier_down:
            break
    ids = seen_up | seen_down | {e.source for e in edges.values()} | {e.target for e in edges.values()}
    nodes = {
        r["run_id"]: {"experiment": r.get("experiment"), "status": r.get("status"), "start_time": r.get("start_time")}
        for r in store.runs(ids=sorted(ids), order_by=None).rows(["experiment", "status", "start_time"])
    }
    return Graph(root=run_id, nodes=nodes, edges=sorted(edges.values(), key=lambda e: (e.source, e.target, e.artifact)))
