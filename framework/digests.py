"""SHA-256 of files and names, without loading OpenSSL for small inputs.

Every run hashes its source files and seed names at its start. :mod:`hashlib`
loads OpenSSL's libcrypto the first time it is imported, about 2 ms of a 0.1 s
hello-world run; CPython also builds SHA-256 in (``_sha2`` from 3.12,
``_sha256`` before), with the same digests, as fast as OpenSSL's for a script.
Files of a megabyte or more (artifacts, datasets) go through hashlib, where
OpenSSL's speed matters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["file_sha256", "sha256"]

sha256: Callable[..., Any]
try:
    from _sha2 import sha256  # type: ignore[import-not-found, no-redef]
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found, no-redef]
    except ImportError:  # a CPython built without its own hashes
        from hashlib import sha256  # type: ignore[no-redef]

_SMALL = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's content."""
    with open(path, "rb") as f:
        head = f.read(_SMALL)
        if len(head) < _SMALL:
            return str(sha256(head).hexdigest())
        import hashlib

        digest = hashlib.sha256(head)
        while block := f.read(_SMALL):
            digest.update(block)
        return digest.hexdigest()
