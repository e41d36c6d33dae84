"""Sacred's run report: a Mako template rendered into the run folder when a run ends.

The template (``template=`` of the observer, a ``str`` or ``Path``, or
``basedir/template.html`` when present) sees Sacred's variables: ``run`` (the
run.json entry), ``config``, ``info``, ``cout`` (the whole captured output) and
``savedir`` (the run folder). The result is written to ``report<suffix of the
template>``. A report is a convenience: a missing Mako or a broken template is
logged as a warning and never fails the recording of the run.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from gnomon.observers.file.layout import atomic_write, read_json

__all__ = ["render_report"]

logger = logging.getLogger("gnomon.observers.file.observer")


def render_report(
    template: Path, entry: dict[str, Any], run_dir: Path, info: dict[str, Any], *, warned: bool
) -> bool:
    """Render ``template`` into ``run_dir/report<suffix>``; False when Mako is missing.

    ``warned`` says the missing-Mako warning was already given by this observer,
    so it is given once, not once per run.
    """
    try:
        from mako.template import Template
    except ImportError:
        if not warned:
            logger.warning(
                "cannot render the report template %s: Mako is not installed; "
                "install it with pip install 'gnomon[report]'",
                template,
            )
        return False
    if not template.is_file():
        logger.warning(
            "report template %s does not exist: no report for run folder %s", template, run_dir
        )
        return True
    config: Any = {}
    with contextlib.suppress(FileNotFoundError):
        config = read_json(run_dir / "config.json")
    cout = ""
    with contextlib.suppress(FileNotFoundError):
        cout = (run_dir / "cout.txt").read_text(encoding="utf-8", errors="replace")
    try:
        report = Template(filename=str(template)).render(
            run=entry, config=config, info=info, cout=cout, savedir=str(run_dir)
        )
    except Exception as error:  # noqa: BLE001 - any template error: the run's record stays intact
        logger.warning(
            "report template %s failed for run folder %s: %s: %s",
            template,
            run_dir,
            type(error).__name__,
            error,
        )
        return True
    text = report if isinstance(report, str) else str(report)
    atomic_write(run_dir / f"report{template.suffix}", text.encode("utf-8"))
    return True
