"""Reaching a store's server before a run starts: a refusal at once, silence within a bound.

A run must not wait on a database that is not there. There are two ways for a
server to be missing, and drivers handle both badly for a run that is about to
start. A refused connection, or a host name that does not resolve, is known at
once, but pymongo keeps trying it for its whole server-selection time, and an
observer retrying its start keeps the run waiting for its whole start time. A
server that accepts the connection and never answers (a hung process, an
address that drops packets) holds a connection attempt for the driver's whole
connect timeout. Observers that talk to a server implement ``connect(timeout)``
with the helpers here: a refusal raises :class:`~gnomon.errors.ServerUnreachable`
as soon as the driver reports it, and silence raises it after ``timeout``
seconds, while the attempt itself may go on in the background.
"""

from __future__ import annotations

import errno
import re
import socket
import threading
from collections.abc import Callable, Iterator

from gnomon.errors import ServerUnreachable

__all__ = ["is_refusal", "reach", "summary"]

# Errors of the connection attempt that no retry within a run will mend.
_ERRNOS = {
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENOENT,  # a Unix socket that is not there: no server runs on this machine
    *(
        getattr(socket, name)
        for name in ("EAI_NONAME", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_SERVICE")
        if hasattr(socket, name)
    ),
}
# What drivers that do not keep the socket error say instead (libpq, through psycopg).
_TEXTS = (
    "connection refused",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated with hostname",
    "getaddrinfo failed",
    "could not translate host name",
    "failed to resolve host",
    "no route to host",
    "network is unreachable",
)
_ERRNO_IN_TEXT = re.compile(r"\[Errno (-?\d+)\]")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, the errors it was raised from or during, and a wrapped driver error."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` says the server cannot be reached at all (refused, unknown host, no route).

    An error the server itself returned (a wrong password, a missing database) is
    not one: the server is there.
    """
    for part in _chain(error):
        if isinstance(part, socket.gaierror):
            return True
        if isinstance(part, OSError) and part.errno in _ERRNOS:
            return True
        text = str(part).lower()
        if any(marker in text for marker in _TEXTS):
            return True
        if "socket" in text and "no such file or directory" in text:
            return True
        if any(int(number) in _ERRNOS for number in _ERRNO_IN_TEXT.findall(text)):
            return True
    return False


def summary(error: BaseException) -> str:
    """The driver's message in one short line, without pymongo's list of timeouts."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = text.split(" (configured timeouts")[0].split(", Timeout:")[0]
    return text[:300]


def reach(connect: Callable[[], object], timeout: float, where: str) -> None:
    """Call ``connect()`` and wait for it at most ``timeout`` seconds.

    Raises :class:`ServerUnreachable` when it reports a refusal (at once) or has
    not returned in time (it then goes on in a background thread and ends with the
    driver's own timeout). Any other error ``connect()`` raises is raised as is.
    """
    outcome: list[BaseException] = []
    done = threading.Event()

    def attempt() -> None:
        try:
            connect()
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            outcome.append(error)
        finally:
            done.set()

    threading.Thread(target=attempt, name="gnomon-connect", daemon=True).start()
    if not done.wait(timeout):
        raise ServerUnreachable(f"{where} did not answer within {timeout:g} s")
    if outcome:
        error = outcome[0]
        if is_refusal(error):
            reason = summary(getattr(error, "orig", None) or error)  # the driver's words, not SQLAlchemy's
            raise ServerUnreachable(f"{where} cannot be reached: {reason}") from error
        raise error
