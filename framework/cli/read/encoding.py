"""Values as machine formats write them: JSON for ``--json``/``--nl``, text cells for CSV, TSV and tables.

JSON: times are ISO 8601 in UTC (``2026-01-01T12:00:00.250000+00:00``), durations
seconds, tuples lists, and NaN and infinities ``null`` (JSON has no such numbers
and ``jq`` rejects them). CSV and TSV write the same values as text: empty for
None and NaN, ``inf``/``-inf`` for infinities (so pandas reads the float back),
lists and mappings as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["cell", "dumps", "plain"]


def plain(value: Any) -> Any:
    """``value`` as plain JSON data, by the rules above."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _default(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset):
        return list(value)
    return plain(value)


def dumps(value: Any) -> str:
    """One JSON text (no newline); fast with orjson, exact for what orjson refuses (huge integers)."""
    try:
        import orjson

        return orjson.dumps(value, default=_default, option=orjson.OPT_NAIVE_UTC).decode()
    except (ImportError, TypeError):  # orjson.JSONEncodeError is a TypeError
        return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))


def cell(value: Any) -> str:
    """A value as CSV/TSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, datetime | timedelta):
        return str(plain(value))
    return dumps(value)
