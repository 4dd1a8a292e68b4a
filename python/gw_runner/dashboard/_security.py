"""Who may see the dashboard (optional basic auth or bearer token) and which POSTs are genuine
(a signed double-submit token plus an Origin check), plus the response headers every page gets
(a Content-Security-Policy allowing only the dashboard's own script and style, and
Server-Timing).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "gw_dashboard_csrf"
CSRF_FIELD = "csrf_token"

# Scripts and styles from the dashboard's own /static only: even a value that escaped escaping
# could not run. No framing (clickjacking of the action buttons).
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Auth:
    """``basic``: (user, password) for HTTP basic auth; ``token``: a bearer token. Either one
    admits a request; with neither the dashboard is open to whoever reaches its address."""

    basic: tuple[str, str] | None = None
    token: str | None = None

    @property
    def required(self) -> bool:
        return self.basic is not None or self.token is not None

    def admits(self, header: str | None) -> bool:
        if not self.required:
            return True
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.basic is not None:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, sep, password = decoded.partition(":")
            return bool(sep) and hmac.compare_digest(user.encode(), self.basic[0].encode()) \
                & hmac.compare_digest(password.encode(), self.basic[1].encode())
        return False


def parse_basic_auth(text: str) -> tuple[str, str]:
    """``user:password`` -> (user, password); ValueError naming what is wrong."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("basic auth must be USER:PASSWORD, both non-empty")
    return user, password


class SecurityMiddleware:
    """Refuses unauthenticated requests (401) and adds the security headers to every response."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization")
        if not self.auth.admits(header.decode("latin-1") if header else None):
            challenge = [(b"www-authenticate", b'Basic realm="graphile_worker dashboard"')] \
                if self.auth.basic else []
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    *challenge, *SECURITY_HEADERS]})
            await send({"type": "http.response.body",
                        "body": b"401: this dashboard needs credentials (basic auth or token)\n"})
            return

        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Server-Timing: the time to the response's start (a page is rendered whole
                # before it starts), for browsers' dev tools and bench/dashboard.py.
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS,
                                      (b"server-timing", f"app;dur={took:.1f}".encode())]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Csrf:
    """Signed double-submit token: the cookie holds ``nonce.signature``; every form echoes it;
    a POST is genuine when the echoed token equals the cookie, the signature is this app's
    (so a cookie planted from a sibling domain does not pass) and the Origin (or, without one,
    the Referer) names this host."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    def _sign(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def new_token(self) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce)}"

    def valid_cookie(self, cookie: str | None) -> bool:
        if not cookie or "." not in cookie:
            return False
        nonce, _, signature = cookie.partition(".")
        return hmac.compare_digest(signature.encode(), self._sign(nonce).encode())

    def check(self, cookie: str | None, submitted: str | None, origin: str | None,
              referer: str | None, host: str | None) -> str | None:
        """None when genuine, else why not (shown to the user)."""
        if not self.valid_cookie(cookie) or not submitted \
                or not hmac.compare_digest(submitted.encode(), (cookie or "").encode()):
            return ("the form's anti-forgery token is missing or does not match (reload the "
                    "page and try again)")
        if origin == "null":
            return "the request came from an opaque origin (a sandboxed frame or a redirect)"
        source = origin or referer
        if source is None:
            return None  # not a browser's cross-site form: the token alone proves it
        if not host or urlsplit(source).netloc.lower() != host.lower():
            return f"the request came from another site ({source})"
        return None
