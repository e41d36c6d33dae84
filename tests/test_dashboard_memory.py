"""Freed memory goes back to the system after heavy dashboard requests."""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip("starlette")
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gnomon.dashboard import memory


def test_freed_memory_is_given_back_on_linux() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("malloc_trim is glibc's")
    blocks = [bytearray(4096) for _ in range(50_000)]  # ~200 MB of small blocks, then freed
    del blocks
    assert memory.give_back_free_memory() is True


def test_trimming_follows_slow_requests_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "_TRIM", calls.append)
    monkeypatch.setattr(memory, "HEAVY_SECONDS", 0.05)

    def fast(request: object) -> PlainTextResponse:
        return PlainTextResponse("fast")

    def slow(request: object) -> PlainTextResponse:
        time.sleep(0.1)
        return PlainTextResponse("slow")

    app = Starlette(
        routes=[Route("/fast", fast), Route("/slow", slow)], middleware=[Middleware(memory.TrimAfterHeavyRequests)]
    )
    with TestClient(app) as client:
        assert client.get("/fast").text == "fast"
        assert calls == []
        assert client.get("/slow").text == "slow"
        assert calls == [0]
