"""``gnomon lineage RUN``: which runs' artifacts a run read, and which runs read its artifacts."""

from __future__ import annotations

from typing import Any

import click

from gnomon.cli.read.failures import reported
from gnomon.cli.read.output import echo_lines, on_terminal, status_text
from gnomon.cli.read.references import resolve_one
from gnomon.cli.read.stores import opened, store_option

__all__ = ["dot", "lineage"]


def _label(run_id: str, nodes: dict[str, dict[str, Any]], terminal: bool) -> str:
    node = nodes.get(run_id, {})
    return f"{run_id} {node.get('experiment') or '?'} {status_text(node.get('status'), terminal=terminal)}".rstrip()


def dot(graph: Any) -> str:
    """The graph in Graphviz's dot language (``| dot -Tsvg``)."""

    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = ["digraph lineage {", "  rankdir=LR;", "  node [shape=box];"]
    for run_id, node in graph.nodes.items():
        label = f"{run_id} {node.get('experiment') or ''}\n{node.get('status') or ''}"
        extra = ", style=bold" if run_id == graph.root else ""
        lines.append(f"  {quote(run_id)} [label={quote(label)}{extra}];")
    for edge in graph.edges:
        lines.append(f"  {quote(edge.source)} -> {quote(edge.target)} [label={quote(edge.artifact)}];")
    lines.append("}")
    return "\n".join(lines)


@click.command("lineage")
@click.argument("run", metavar="RUN")
@store_option
@click.option("--up", "direction", flag_value="up", help="Only the runs whose artifacts RUN read (upstream).")
@click.option("--down", "direction", flag_value="down", help="Only the runs that read RUN's artifacts (downstream).")
@click.option("--both", "direction", flag_value="both", default=True, help="Both directions (the default).")
@click.option(
    "--depth", metavar="N", type=click.IntRange(min=1), default=1, show_default=True, help="How many links to follow."
)
@click.option("--dot", "as_dot", is_flag=True, help="Write the graph in Graphviz's dot language.")
@click.option("--json", "as_json", is_flag=True, help='Write {"root", "nodes", "edges"} as JSON.')
@reported
def lineage(run: str, store_url: str | None, direction: str, depth: int, as_dot: bool, as_json: bool) -> None:
    """Show the runs linked to RUN through artifacts it read or wrote (same content digest).

    RUN is an id, latest or latest~N.
    """
    with opened(store_url) as store:
        graph = store.run(resolve_one(store, run)).lineage(direction=direction, depth=depth)
    if as_json:
        from gnomon.cli.read.encoding import dumps

        echo_lines([dumps(graph.to_dict())])
        return
    if as_dot:
        echo_lines([dot(graph)])
        return
    terminal = on_terminal()
    lines = [_label(graph.root, graph.nodes, terminal)]
    for edge in graph.edges:
        source, target = _label(edge.source, graph.nodes, terminal), _label(edge.target, graph.nodes, terminal)
        lines.append(f"  {source}  --{edge.artifact}-->  {target}  (read as {edge.resource})")
    if len(lines) == 1:
        lines.append("  (no linked runs)")
    echo_lines(lines)
