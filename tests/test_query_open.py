"""gnomon.open: which URLs open which store, and one clear StoreError (no password) for those that cannot."""

from __future__ import annotations

import time

import pytest

import gnomon
from gnomon.errors import StoreError


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://me:s3cret@127.0.0.1:1/db", "accepts connections"),
        ("mysql+pymysql://me:s3cret@127.0.0.1:1/db", "Can't connect"),
        ("mongodb://me:s3cret@127.0.0.1:1/db", "does not answer"),
        ("127.0.0.1:1:db", "does not answer"),
        ("postgresql://me:s3cret@127.0.0.1:notaport/db", "notaport"),
        ("sqlite:/runs.db", "sqlite:///runs.db"),
        ("nosuch://me:s3cret@host/x", "Known schemes"),
        ("no/such/folder", "does not exist"),
    ],
)
def test_stores_that_cannot_be_opened_say_why_without_the_password(url, words):
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        gnomon.open(url)
    message = str(caught.value)
    assert words in message
    assert "s3cret" not in message
    assert "\n" not in message
    assert time.monotonic() - started < 15
    assert isinstance(caught.value, OSError)


def test_open_accepts_paths_file_urls_and_sqlite(tmp_path):
    from gnomon.observers import FileStorageObserver

    folder = tmp_path / "runs"
    folder.mkdir()
    for url in (folder, str(folder), f"file://{folder}"):
        with gnomon.open(url) as store:
            assert store.runs().count() == 0
    with pytest.raises(StoreError, match="no database file"):
        gnomon.open(f"sqlite:///{tmp_path / 'runs.db'}")  # reading never creates a database
    assert isinstance(FileStorageObserver(str(folder)), FileStorageObserver)
    with pytest.raises(ValueError, match="died_after"):
        gnomon.open(folder, died_after=0)
