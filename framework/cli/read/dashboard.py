"""``gnomon dashboard``: serve the web dashboard over a store, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import click

from gnomon.cli.read.failures import ReadError, hide_secret, redact, reported
from gnomon.cli.read.stores import DEFAULT_STORE, store_option

__all__ = ["dashboard"]


def _bind(host: str, port: int) -> object:
    """A listening socket on host:port (port 0: a free one), so the URL printed is the one served."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ReadError(
            f"cannot listen on {host}:{port}: {error.strerror}. Pick another --port (0 picks a free one)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command("dashboard")
@store_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Address to listen on; anything but 127.0.0.1 lets other machines see (and edit) your runs.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    metavar="N",
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option("--read-only", is_flag=True, help="Hide and refuse edits (tags, notes).")
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a web browser.")
@click.option(
    "--died-after",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Show a RUNNING run as DIED after S seconds without a heartbeat (default: the store's rule).",
)
@reported
def dashboard(
    store_url: str | None, host: str, port: int, read_only: bool, open_browser: bool, died_after: float | None
) -> None:
    """Serve the web dashboard: runs table, run pages, live plots, compare and lineage.

    Prints the URL it serves and runs until interrupted (Ctrl-C).
    """
    try:
        import uvicorn

        from gnomon.dashboard import create_app
    except ImportError as error:
        raise ReadError(f"the dashboard needs {error.name}: pip install 'gnomon[dashboard]'") from None
    chosen = store_url or DEFAULT_STORE
    hide_secret(chosen)
    try:
        app = create_app(chosen, read_only=read_only, died_after=died_after)
    except ReadError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to build the app is one line, not a traceback
        first = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise ReadError(f"cannot open {redact(chosen)}: {first}") from None
    sock = _bind(host, port)
    bound = sock.getsockname()  # type: ignore[attr-defined]
    shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    url = f"http://{shown_host}:{bound[1]}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: listening on {host}: anyone who can reach it can read these runs"
            f"{'' if read_only else ' and edit their tags and notes (add --read-only)'}",
            err=True,
        )
    click.echo(f"gnomon dashboard for {app.state.dashboard.store.url} at {url}")
    click.echo("Press Ctrl-C to stop.")
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")
    server = uvicorn.Server(config)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])  # type: ignore[list-item]
    finally:
        sock.close()  # type: ignore[attr-defined]
