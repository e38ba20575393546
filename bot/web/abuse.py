"""The console under abuse: who is really asking, how often they may fail, how much they may send.

- ``client_address``: ``X-Forwarded-For`` is believed only from ``[web] trusted_proxies``;
  from anyone else it is a header a client typed (a spoofed audit address, a bypassed limit).
- failed logins and cross-hospital probes are counted in the database (``bot.web.counts``):
  every worker sees them; ``milestone`` picks the 1st, 10th, 100th … of a flood for the audit
  instead of one row each.
- ``BodyLimit``: request bodies are cut per route *before* anything parses them.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``[web] trusted_proxies`` entries (addresses or CIDR blocks) as networks; raises
    ValueError naming a bad entry."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"[web] trusted_proxies: {entry!r} is not an address or CIDR block"
            ) from None
    return tuple(out)


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """The address a request came from. Only when the peer is a trusted proxy is
    ``X-Forwarded-For`` read — right to left, skipping our own proxies, since anything left
    of the first untrusted hop was written by the client itself."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def milestone(count: int) -> bool:
    """1, 10, 100, …: the occurrences of a repeated event worth an audit row."""
    return count >= 1 and 10 ** round(math.log10(count)) == count


#: Route prefixes and the largest request body each accepts (bytes); the rest get DEFAULT_BODY.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/login", 8 * 1024),
    ("/logout", 8 * 1024),
    ("/h/", 8 * 1024),
    ("/account/", 8 * 1024),
    ("/playground/api/", 32 * 1024),
    ("/kb", 1024 * 1024),  # article Markdown
)
DEFAULT_BODY = 128 * 1024
#: A request without a session cookie can only be a login or a refused CSRF check: it gets
#: this much wherever it posts.
ANONYMOUS_BODY = 8 * 1024


def body_limit(path: str, limits: Sequence[tuple[str, int]] = BODY_LIMITS) -> int:
    return next((size for prefix, size in limits if path.startswith(prefix)), DEFAULT_BODY)


class BodyLimit:
    """Refuses a body larger than its route's limit (``ANONYMOUS_BODY`` without a session
    cookie) before any of it is parsed: a declared
    ``Content-Length`` is answered 413 at once; a chunked body is counted as it is read and
    cut with a 413 when it passes the limit. Multipart bodies (file uploads) are refused with
    415 except on the ``uploads`` routes (a path pattern and its own limit: a ticket's
    attachments), so nothing else spools files to disk."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[tuple[str, int]] = BODY_LIMITS,
        session_cookie: str = "hisbot_session",
        uploads: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.limits = limits
        self.session_cookie = session_cookie.encode()
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = body_limit(path, self.limits)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        upload = next((size for pattern, size in self.uploads if pattern.fullmatch(path)), None)
        if headers.get("content-type", "").lower().startswith("multipart/"):
            if upload is None:
                await _refuse(send, 415, "file uploads are not accepted")
                return
            limit = upload
        if self.session_cookie not in headers.get("cookie", "").encode("latin-1"):
            limit = min(limit, ANONYMOUS_BODY)
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, f"request body over {limit} bytes")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
