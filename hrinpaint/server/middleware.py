"""ASGI middleware: the upload limit (:class:`UploadLimit`) and the host and origin checks (:class:`RequestGuard`).

Both answer before FastAPI reads the request, so an oversized or foreign request costs nothing.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi.responses import JSONResponse

#: Multipart boundaries and the small form fields ride on top of the two files.
FORM_OVERHEAD = 64 * 1024


class UploadLimit:
    """ASGI middleware: refuses a request body over ``max_bytes`` from its Content-Length, before reading it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            problem: tuple[int, str] | None = None
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
                problem = (411, "send the upload with a Content-Length")
            elif length is not None:
                try:
                    size = int(length)
                except ValueError:
                    size = -1
                if size < 0:
                    problem = (400, "bad Content-Length")
                elif size > self.max_bytes + FORM_OVERHEAD:
                    problem = (
                        413,
                        f"the upload is {size / 2**20:.1f} MB, over the server's limit of "
                        f"{self.max_bytes / 2**20:.0f} MB",
                    )
            if problem is not None:
                response = JSONResponse({"detail": problem[1]}, status_code=problem[0], headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_name(host_header: str) -> str:
    """The name in a Host header without its port: ``[::1]:8080`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    host_header = host_header.strip().lower()
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class RequestGuard:
    """ASGI middleware: answers only allowed Host names, and refuses state-changing requests from other sites.

    A browser sends ``Origin`` with every POST and DELETE that a page makes; a page of this server has the
    server's own origin (its scheme and the Host the browser used), any other web page does not. Clients that
    are not browsers send no ``Origin`` and pass.
    """

    def __init__(self, app: Any, allowed_hosts: tuple[str, ...], check_origin: bool) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in allowed_hosts)
        self.check_origin = check_origin

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            host = headers.get("host", "")
            problem: tuple[int, str] | None = None
            if self.allowed and "*" not in self.allowed and _host_name(host) not in self.allowed:
                problem = (400, "this server does not answer to that host name (hrinpaint serve --allow-host)")
            elif self.check_origin and scope.get("method", "GET") not in ("GET", "HEAD", "OPTIONS"):
                origin = headers.get("origin")
                if origin is not None and not _same_origin(origin, host, scope.get("scheme", "http")):
                    problem = (403, "requests from other web sites are refused: use the page this server serves")
            if problem is not None:
                response = JSONResponse({"detail": problem[1]}, status_code=problem[0])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _same_origin(origin: str, host: str, scheme: str) -> bool:
    parts = urllib.parse.urlsplit(origin.strip())
    return parts.scheme == scheme and bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()
