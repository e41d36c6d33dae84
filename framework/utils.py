"""Names Sacred users import from ``sacred.utils``, kept importable from ``gnomon.utils``.

Nothing else lives here: helpers belong in the module named for what they do.
"""

from __future__ import annotations

from gnomon.capture import apply_backspaces_and_linefeeds
from gnomon.errors import (
    ConfigAddedError,
    GnomonError,
    GnomonInterrupt,
    InvalidConfigError,
    MissingConfigError,
    SacredError,
    SacredInterrupt,
    TimeoutInterrupt,
)

__all__ = [
    "ConfigAddedError",
    "GnomonError",
    "GnomonInterrupt",
    "InvalidConfigError",
    "MissingConfigError",
    "SacredError",
    "SacredInterrupt",
    "TimeoutInterrupt",
    "apply_backspaces_and_linefeeds",
]
