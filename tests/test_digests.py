"""gnomon.digests: the built-in SHA-256 and hashlib give the same digests at every size."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gnomon.digests import file_sha256, sha256


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20])
def test_file_digest_matches_hashlib(tmp_path: Path, size: int) -> None:
    path = tmp_path / "data.bin"
    content = os.urandom(size)
    path.write_bytes(content)
    assert file_sha256(path) == hashlib.sha256(content).hexdigest()


def test_bytes_digest_matches_hashlib() -> None:
    assert sha256(b"seed\x1fname").digest() == hashlib.sha256(b"seed\x1fname").digest()
