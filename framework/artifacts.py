"""The files a run reads (resources) and writes (artifacts), as the events that record them.

An artifact is copied at once into a private snapshot in the spool's staging
folder, so the run may overwrite or delete the file straight away while observers
store it in the background; a run that dies right after the call still has the
snapshot for ``gnomon sync``.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
from typing import Any

from gnomon.events import artifact_name_problem, freeze
from gnomon.serialize import encode_lenient

__all__ = ["artifact_fields", "resource_fields"]


def _sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def resource_fields(filename: str | os.PathLike[str]) -> dict[str, Any]:
    """What a ResourceEvent holds for ``filename``: its absolute path and content digest."""
    path = os.path.abspath(os.fspath(filename))
    return {"filename": path, "digest": _sha256(path)}


def artifact_fields(
    filename: str | os.PathLike[str],
    name: str | None,
    metadata: dict[str, Any] | None,
    content_type: str | None,
    *,
    staging: str,
    number: int,
) -> dict[str, Any]:
    """Snapshot ``filename`` into ``staging`` and return what its ArtifactEvent holds.

    A ``name`` no store can keep as given (empty, absolute, or with a ``.`` or
    ``..`` part) raises ValueError rather than being stored under another name.
    """
    source = os.path.abspath(os.fspath(filename))
    name = name or os.path.basename(source)
    problem = artifact_name_problem(name)
    if problem is not None:
        raise ValueError(
            f"Cannot add the artifact {name!r} (from {source}): {problem}. "
            "Pass name='...' with a plain file name such as 'model.pt' or 'plots/loss.png'."
        )
    if content_type is None:
        content_type = mimetypes.guess_type(name)[0]
    snapshot = os.path.join(staging, f"{number:06d}-{os.path.basename(name)}")
    shutil.copyfile(source, snapshot)
    return {
        "name": name,
        "filename": snapshot,
        "source": source,
        "digest": _sha256(snapshot),
        "size": os.path.getsize(snapshot),
        "metadata": freeze(encode_lenient(metadata, "artifact metadata")) if metadata is not None else None,
        "content_type": content_type,
    }
