"""Minimal ASGI request and response objects for the hot paths (no framework per request)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is larger than the handler accepts."""


class Request:
    __slots__ = ("scope", "_receive", "params", "_query", "_headers", "action", "_consumed", "ctx")

    def __init__(self, scope: Scope, receive: Receive, params: dict[str, str]) -> None:
        self.scope = scope
        self._receive = receive
        self.params = params
        self._query: dict[str, list[str]] | None = None
        self._headers: dict[str, str] | None = None
        self.action: str | None = None
        self._consumed = False
        self.ctx: Any = None  # the edge's security context, set before the handler runs

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def headers(self) -> dict[str, str]:
        if self._headers is None:
            headers: dict[str, str] = {}
            for k, v in self.scope["headers"]:
                name, value = k.decode("latin-1").lower(), v.decode("latin-1")
                # Repeated fields are one comma-separated list (RFC 9110 §5.3); containers/image
                # sends one Accept line per media type.
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    def query(self, name: str) -> str | None:
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qs(raw, keep_blank_values=True)
        values = self._query.get(name)
        return values[0] if values else None

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body as it arrives (chunked transfer-encoding already decoded)."""
        if self._consumed:
            return
        self._consumed = True
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ConnectionError("client disconnected")
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    async def body(self, limit: int) -> bytes:
        """The whole body; raises BodyTooLarge past ``limit`` bytes."""
        parts: list[bytes] = []
        total = 0
        async for chunk in self.stream():
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(total)
            parts.append(chunk)
        return b"".join(parts)

    async def drain(self) -> None:
        async for _ in self.stream():
            pass


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    path: str | None = None  # a local file sent whole (ASGI pathsend where the server has it)
    length: int | None = None  # Content-Length of a streamed or HEAD response

    async def send(self, scope: Scope, send: Send) -> None:
        head = scope["method"] == "HEAD"
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        length = self.length if self.length is not None else len(self.body)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return
        if self.path is not None and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": self.path})
            return
        if self.stream is not None:
            async for chunk in self.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": self.body})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> Response:
    hdrs = {"content-type": content_type}
    if headers:
        hdrs.update(headers)
    return Response(status, hdrs, orjson.dumps(data))
