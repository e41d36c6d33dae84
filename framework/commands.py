"""Built-in commands of every experiment, and the config printer they use.

``print_config``, ``print_dependencies``, ``save_config`` and ``print_named_configs``
are registered on each :class:`~gnomon.experiment.Experiment` as unobserved commands
(nothing is recorded when they run). The config listing marks entries the updates
added (green), modified (blue) or changed in type (red), and shows docs dimmed;
:func:`format_config` gives the same listing as plain text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .config.dicts import join_path
from .config.readonly import plain
from .config.summary import ConfigSummary

if TYPE_CHECKING:
    import logging

__all__ = [
    "STYLES",
    "NamedConfigSource",
    "config_segments",
    "format_config",
    "format_dependencies",
    "format_named_configs",
    "make_builtin_commands",
    "render_config",
    "show_config",
]


class NamedConfigSource(Protocol):
    """What the built-in commands need of an experiment: its named configs, its ingredients' included."""

    def gather_named_configs(self) -> Iterable[tuple[str, Any]]:
        """``(dotted name, named config)`` of every named config."""
        ...


STYLES = {"added": "green", "modified": "blue", "typechanged": "red", "doc": "dim"}
LEGEND = ("modified", "added", "typechanged", "doc")
_DOC_COLUMN_MAX = 48

Segment = tuple[str, str | None]  # (text, style name from STYLES or None)


def _style(marks: set[str]) -> str | None:
    for kind in ("typechanged", "added", "modified"):
        if kind in marks:
            return kind
    return None


def _entries(
    config: Mapping[str, Any], summary: ConfigSummary, prefix: str, depth: int
) -> list[tuple[str, str | None, str | None]]:
    rows = []
    for key in sorted(config, key=str):
        value = config[key]
        path = join_path(prefix, str(key))
        indent = "  " * (depth + 1)
        if isinstance(value, Mapping) and value:
            rows.append((f"{indent}{key}:", _style(summary.marks(path)), summary.docs.get(path)))
            rows.extend(_entries(value, summary, path, depth + 1))
        else:
            rows.append(
                (
                    f"{indent}{key} = {plain(value)!r}",
                    _style(summary.marks(path)),
                    summary.docs.get(path),
                )
            )
    return rows


def config_segments(
    config: Mapping[str, Any], summary: ConfigSummary | None = None
) -> list[list[Segment]]:
    """The config listing as lines of (text, style) segments; styles are keys of :data:`STYLES`."""
    summary = summary or ConfigSummary()
    header: list[Segment] = [("Configuration (", None)]
    for index, kind in enumerate(LEGEND):
        header.append((kind, kind))
        header.append((", " if index < len(LEGEND) - 1 else "):", None))
    rows = _entries(config, summary, "", 0)
    column = min(max((len(text) for text, _, _ in rows), default=0) + 2, _DOC_COLUMN_MAX)
    lines = [header]
    for text, style, doc in rows:
        line: list[Segment] = [(text, style)]
        if doc:
            line.append((" " * max(column - len(text), 2) + f"# {doc}", "doc"))
        lines.append(line)
    return lines


def format_config(config: Mapping[str, Any], summary: ConfigSummary | None = None) -> str:
    """The config listing as plain text (no colours)."""
    return (
        "\n".join("".join(text for text, _ in line) for line in config_segments(config, summary))
        + "\n"
    )


def render_config(config: Mapping[str, Any], summary: ConfigSummary | None = None) -> Any:
    """The config listing as a ``rich.text.Text`` with the colours of :data:`STYLES`."""
    from rich.text import Text

    text = Text()
    for index, line in enumerate(config_segments(config, summary)):
        if index:
            text.append("\n")
        for part, style in line:
            text.append(part, style=STYLES[style] if style else None)
    return text


def show_config(config: Mapping[str, Any], summary: ConfigSummary | None = None) -> None:
    """Print the coloured config listing to the current ``sys.stdout``."""
    from rich.console import Console

    Console(file=sys.stdout, highlight=False, soft_wrap=True).print(render_config(config, summary))


def format_dependencies(experiment_info: Mapping[str, Any]) -> str:
    """Dependencies, sources with digests and git repositories (``M`` marks uncommitted changes)."""
    lines = ["Dependencies:"]
    for dependency in experiment_info.get("dependencies") or ():
        name, _, version = str(dependency).partition("==")
        lines.append(f"  {name:<20} == {version}" if version else f"  {name}")
    lines += ["", "Sources:"]
    for filename, digest in experiment_info.get("sources") or ():
        lines.append(f"  {filename:<43} {digest}")
    lines += ["", "Version Control:"]
    for repository in experiment_info.get("repositories") or ():
        mark = "M" if repository.get("dirty") else " "
        lines.append(f"{mark} {repository.get('url', '')!s:<43} {repository.get('commit', '')}")
    return "\n".join(lines) + "\n"


def format_named_configs(named_configs: Mapping[str, Any]) -> str:
    """Every named config with the first line of its docstring."""
    lines = ["Named Configurations (doc):"]
    if not named_configs:
        lines.append("  No named configs")
    width = max((len(name) for name in named_configs), default=0) + 2
    for name, config in named_configs.items():
        doc = (getattr(config, "__doc__", None) or "").strip().splitlines()
        lines.append(f"  {name:<{width}}# {doc[0].strip()}" if doc else f"  {name}")
    return "\n".join(lines) + "\n"


def make_builtin_commands(experiment: NamedConfigSource) -> dict[str, Callable[..., Any]]:
    """The built-in commands of ``experiment``, by name (registered unobserved)."""

    def print_config(_run: Any) -> None:
        """Print the updated configuration and exit.

        Entries the updates added are green, modified ones blue, type changes red.
        """
        show_config(_run.config, _run.config_modifications)

    def print_dependencies(_run: Any) -> None:
        """Print the detected source files, package dependencies and git repositories."""
        print(format_dependencies(_run.experiment_info), end="")

    def save_config(
        _config: Any, _log: logging.Logger, config_filename: str = "config.json"
    ) -> None:
        """Store the updated configuration in a file (.json, .yaml or .toml, by extension)."""
        from .config.files import save_config_file

        config = plain(_config)
        config.pop("config_filename", None)
        _log.info('Saving config to "%s"', config_filename)
        save_config_file(config, config_filename)

    def print_named_configs() -> None:
        """Print the available named configs and exit."""
        print(format_named_configs(dict(experiment.gather_named_configs())), end="")

    return {
        f.__name__: f for f in (print_config, print_dependencies, save_config, print_named_configs)
    }
