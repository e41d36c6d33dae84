"""What keeps the dashboard safe to leave open: edit tokens, read-only mode, sandboxed artifacts.

* Edits (tags, notes) are POSTs carrying the process's CSRF token twice: in a
  cookie and in a form field or ``X-CSRF-Token`` header. Another site can make a
  browser send the cookie but cannot read the page to learn the field, so a forged
  POST fails with 403. The token changes with every server process.
* ``read_only`` hides the edit controls and refuses every edit with 403.
* Artifacts are served raw only with ``Content-Security-Policy: sandbox`` and
  ``nosniff``: an HTML artifact runs in an opaque origin, never the dashboard's,
  so its scripts cannot read the dashboard's cookie, pages or API.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

__all__ = ["Guard", "artifact_headers"]

TOKEN_FIELD = "csrf_token"
TOKEN_HEADER = "x-csrf-token"


class Guard:
    """One process's edit policy: its CSRF token and whether edits are allowed at all."""

    def __init__(self, *, read_only: bool = False, token: str | None = None) -> None:
        self.read_only = read_only
        self.token = token or secrets.token_urlsafe(32)

    def cookie_name(self, request: Request) -> str:
        """Cookies ignore ports: two dashboards on one host each need their own name."""
        return f"gnomon_csrf_{request.url.port or 0}"

    def set_cookie(self, request: Request, response: Response) -> Response:
        """Give the browser the token cookie along with a page that holds edit controls."""
        if not self.read_only:
            response.set_cookie(self.cookie_name(request), self.token, httponly=True, samesite="strict", path="/")
        return response

    async def form(self, request: Request) -> dict[str, str]:
        """The POST's url-encoded fields (last value wins), read without a multipart parser."""
        body = (await request.body()).decode("utf-8", errors="replace")
        return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}

    def refusal(self, request: Request, fields: dict[str, str]) -> Response | None:
        """None when the edit may go ahead, else the 403 response that refuses it (and why)."""
        if self.read_only:
            return PlainTextResponse("this dashboard is read-only: edits are refused", status_code=403)
        sent = request.headers.get(TOKEN_HEADER) or fields.get(TOKEN_FIELD) or ""
        cookie = request.cookies.get(self.cookie_name(request), "")
        if not (_same(sent, self.token) and _same(cookie, self.token)):
            return PlainTextResponse("missing or wrong CSRF token: reload the page and try again", status_code=403)
        return None


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def artifact_headers(*, scripts: bool = False) -> dict[str, str]:
    """Headers for a raw artifact: a sandbox (scripts only when the user allowed them), never same-origin."""
    policy = "sandbox allow-scripts" if scripts else "sandbox"
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
