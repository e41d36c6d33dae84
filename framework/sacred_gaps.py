"""What Sacred has and gnomon does not, and what to use instead.

A script or command line written for Sacred that asks for one of these gets one
line naming the replacement, rather than "No such option" or "cannot import name".
"""

from __future__ import annotations

__all__ = ["GUIDE", "MISSING_FLAGS", "MISSING_OBSERVERS", "missing_flag_message", "missing_observer_message"]

#: Where the user guide says more.
GUIDE = "docs/migrating_from_sacred.md"

_SERVERLESS = "file storage (-F runs) or SQLite (-s sqlite:///runs.db), read with gnomon.open"
_CHAT = "a custom observer of a few lines that posts to the chat's webhook when a run ends"

#: Sacred's observer classes gnomon does not have, and what to use instead.
MISSING_OBSERVERS = {
    "TinyDbObserver": _SERVERLESS,
    "TinyDbReader": _SERVERLESS,
    "S3Observer": "file storage (-F runs), then copy the folder to the bucket (aws s3 sync runs s3://bucket/runs)",
    "GoogleCloudStorageObserver": "file storage (-F runs), then copy the folder (gcloud storage rsync runs gs://bucket/runs)",
    "SlackObserver": _CHAT,
    "TelegramObserver": _CHAT,
}

#: Sacred's command-line flags for those observers.
MISSING_FLAGS = {
    "-t": ("--tiny_db", "TinyDbObserver"),
    "--tiny_db": ("-t", "TinyDbObserver"),
    "--tiny-db": ("-t", "TinyDbObserver"),
    "-S": ("--s3", "S3Observer"),
    "--s3": ("-S", "S3Observer"),
}


def missing_observer_message(name: str) -> str:
    """One line: gnomon has no ``name``; what to use instead."""
    return f"gnomon has no {name}: use {MISSING_OBSERVERS[name]} (see {GUIDE})"


def missing_flag_message(flag: str) -> str:
    """One line for a Sacred flag whose observer gnomon does not have."""
    other, name = MISSING_FLAGS[flag]
    short, long = (flag, other) if not flag.startswith("--") else (other, flag)
    return f"{short}/{long}: {missing_observer_message(name)}"
