"""A MongoDB server for the Mongo benchmarks, and a proxy that counts the bytes sent to it.

No ``mongod`` is needed: the benchmark process starts SecantusDB (a MongoDB
wire-protocol server; ``pip install 'SecantusDB==0.7.0b3'``, test-only, GPL) on a
free port, in memory. :class:`CountingProxy` sits between a measured process and
the server and counts every byte each way, so gnomon and Sacred are measured the
same way, whatever their drivers do.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


@contextmanager
def mongo_server() -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a fresh in-memory SecantusDB server."""
    from secantus import SecantusDBServer

    with SecantusDBServer(storage_path=":memory:") as server:
        host_port = server.uri.split("//", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        yield host, int(port)


class CountingProxy:
    """Forwards TCP connections to ``target`` and counts the bytes in each direction."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(1 << 20):
                with self._lock:
                    if outbound:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
