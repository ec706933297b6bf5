"""The door of `xmodal serve`: the token every request needs, and the headers every response
gets.

The token is random per run (`new_token`). It may come as `?token=` (the address printed at
start), an `X-Xmodal-Token` header (scripts), or a cookie; a page visited with it in the
address is redirected to the same address without it, with the cookie set (HttpOnly, so
scripts cannot read it; SameSite=Strict, so other sites' pages cannot send it; named by
port, as cookies do not tell ports apart). Everything is read-only GET, so with a
SameSite=Strict cookie there is no cross-site request to forge.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class TokenGate:
    """Refuse any request without the token; move a token given in a page's URL into a
    cookie (and out of the address bar); add the security headers to every response."""

    PAGES = frozenset({"/", "/dupes"})

    def __init__(self, app: ASGIApp, *, token: str, cookie: str) -> None:
        self.app, self.token, self.cookie = app, token, cookie

    def _valid(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(str(given).encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        in_url = request.query_params.get("token")
        known = self._valid(request.cookies.get(self.cookie)) or self._valid(
            request.headers.get("x-xmodal-token")
        )
        if self._valid(in_url) and scope["path"] in self.PAGES:
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response: Response = RedirectResponse(
                scope["path"] + (f"?{urlencode(rest)}" if rest else ""), 303
            )
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
        elif known or self._valid(in_url):
            await self.app(scope, receive, self._with_headers(send, scope["path"]))
            return
        else:
            response = JSONResponse(
                {
                    "error": "missing or wrong token",
                    "hint": "open the address `xmodal serve` printed (it ends in ?token=…)",
                },
                403,
            )
        await response(scope, receive, self._with_headers(send, scope["path"]))

    def _with_headers(self, send: Send, path: str) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"content-security-policy": PAGE_POLICY.encode(),
                }
                headers += [(k, v) for k, v in extra.items() if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        return sending


def new_token() -> str:
    """A random token for one run of the server."""
    return secrets.token_urlsafe(24)
