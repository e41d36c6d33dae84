"""Captured output: appended as rows of at most 1 Mi characters, never rewritten.

Each output event says where its text starts in the run's whole output, and the
run row says how much is stored (``runs.output_length``), so text delivered
again is skipped and a gap (text that never arrived) is noticed and logged.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from gnomon.observers.sql.schema import output_chunks, runs

__all__ = ["OUTPUT_CHUNK", "append_output"]

OUTPUT_CHUNK = 1 << 20  # characters per output row, far below MySQL's packet limit

logger = logging.getLogger("gnomon.observers.sql")


def append_output(conn: sa.Connection, run: int, run_id: str, offset: int, text: str) -> None:
    """Append ``text``, which starts at character ``offset``, in the caller's transaction."""
    end = offset + len(text)
    stored = conn.execute(sa.select(runs.c.output_length).where(runs.c.id == run)).scalar_one()
    if end <= stored:
        return
    if offset < stored:
        text, offset = text[stored - offset :], stored
    elif offset > stored:
        logger.warning(
            "run %s: output from character %d to %d never arrived; the stored output "
            "continues with the text that follows",
            run_id,
            stored,
            offset,
        )
    rows = [
        {"run": run, "offset": offset + i, "text": text[i : i + OUTPUT_CHUNK]}
        for i in range(0, len(text), OUTPUT_CHUNK)
    ]
    conn.execute(sa.insert(output_chunks), rows)
    conn.execute(sa.update(runs).where(runs.c.id == run).values(output_length=end))
