"""The files a run reads (resources) and writes (artifacts), as the events that record them.

An artifact is copied at once into a private snapshot in the spool's staging
folder, so the run may overwrite or delete the file straight away while observers
store it in the background; a run that dies right after the call still has the
snapshot for ``gnomon sync``.

The run pays for that one copy and nothing else: a copy-on-write clone where the
filesystem has them (btrfs, XFS), else an in-kernel copy. A hard link would be
cheaper still but is not a snapshot: a run that rewrites its file in place would
change the stored artifact. The snapshot's SHA-256 is computed later, once, by
the first store that needs it (:func:`snapshot_digest`), on its own thread.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import OrderedDict
from typing import Any

from gnomon.digests import file_sha256
from gnomon.events import artifact_name_problem, freeze
from gnomon.serialize import encode_lenient

__all__ = ["artifact_fields", "copy_contents", "resource_fields", "snapshot_digest"]

_FICLONE = 0x40049409  # linux/fs.h: clone a whole file (copy-on-write)
_NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.EPERM, errno.ENOSYS}
_clones = [True]  # False once the staging filesystem said it cannot clone
_digests: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_digests_lock = threading.Lock()
_DIGESTS_KEPT = 256


def _copy(source: str, target: str) -> int:
    """Copy ``source`` to the new file ``target`` (owner-only); the number of bytes copied."""
    with open(source, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if _clones[0]:
                try:
                    import fcntl

                    fcntl.ioctl(fd, _FICLONE, src.fileno())
                    return os.fstat(fd).st_size
                except OSError as error:
                    if error.errno not in _NO_CLONE:
                        raise
                    _clones[0] = False
            with os.fdopen(fd, "wb", closefd=False) as dst:
                copy_contents(src, dst)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)


def _copy_in_python(src: Any, dst: Any) -> None:
    import shutil  # only where the kernel cannot copy: not loaded by every run

    shutil.copyfileobj(src, dst)


def copy_contents(src: Any, dst: Any) -> None:
    """Copy all of the open file ``src`` into ``dst`` in the kernel.

    What :func:`shutil.copyfile` does on Linux, without its extra stats: no
    Python-side buffer, even for a large artifact.
    """
    if not hasattr(os, "sendfile"):
        _copy_in_python(src, dst)
        return
    infd, outfd = src.fileno(), dst.fileno()
    block = max(os.fstat(infd).st_size, 1 << 23)
    offset = 0
    while True:
        try:
            sent = os.sendfile(outfd, infd, offset, block)
        except OSError as error:
            if offset == 0 and error.errno in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK):
                _copy_in_python(src, dst)
                return
            raise
        if sent == 0:
            return
        offset += sent


def snapshot_digest(filename: str, digest: str | None = None) -> str | None:
    """The SHA-256 of an artifact's snapshot: ``digest`` when the event has one, else computed.

    Computed once per snapshot and shared by every store of the run (two Mongo
    stores hash a large artifact once); None when the snapshot is gone.
    """
    if digest:
        return digest
    try:
        stat = os.stat(filename)
    except OSError:
        return None
    key = (filename, stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        known = _digests.get(key)
        if known is not None:
            return known
        try:
            known = file_sha256(filename)
        except OSError:
            return None
        _digests[key] = known
        while len(_digests) > _DIGESTS_KEPT:
            _digests.popitem(last=False)
        return known


def resource_fields(filename: str | os.PathLike[str]) -> dict[str, Any]:
    """What a ResourceEvent holds for ``filename``: its absolute path and content digest."""
    path = os.path.abspath(os.fspath(filename))
    return {"filename": path, "digest": file_sha256(path)}


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
        import mimetypes

        content_type = mimetypes.guess_type(name)[0]
    snapshot = os.path.join(staging, f"{number:06d}-{os.path.basename(name)}")
    size = _copy(source, snapshot)
    return {
        "name": name,
        "filename": snapshot,
        "source": source,
        "size": size,
        "metadata": freeze(encode_lenient(metadata, "artifact metadata")) if metadata is not None else None,
        "content_type": content_type,
    }
