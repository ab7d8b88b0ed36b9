#!/usr/bin/env python3
"""Moorage vs. reference registry benchmark (OCI distribution API over plain HTTP).

Starts Debian's ``docker-registry`` (distribution 2.8, filesystem storage) and Moorage
(``python -m moorage serve``) on free loopback ports, runs the same workloads against each
(interleaved: every workload runs on the reference, then on Moorage) and prints absolute
figures plus Moorage/reference ratios.

The load generator is a small HTTP/1.1 client written directly on ``asyncio``
(``BufferedProtocol``, keep-alive connections, one connection per concurrent worker, bodies
streamed from a file in 1 MiB pieces, pulled bytes discarded straight out of a reused receive
buffer), because on a 2-core machine a heavier client would eat the CPU the servers need.
Client and server CPU usage are reported per phase so a client-bound result is visible.

Usage::

    python bench/registry_bench.py [--quick] [--only moorage|reference] [--json OUT]

See bench/README.md for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import hashlib
import importlib.util
import itertools
import math
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

import orjson

KiB = 1024
MiB = 1024 * 1024
MB = 1_000_000

HOST = "127.0.0.1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))

REPO_PUSH = "library/bench"
REPO_SMALL = "library/bench-small"
REPO_MANIFEST = "library/bench-manifest"
REPO_TAGS = "library/bench-tags"

SUFFIX_LEN = 32  # every pushed blob ends in a unique suffix, so no push is a duplicate
READ_BUFFER = 1 * MiB  # receive buffer handed to the kernel (reused, never copied when discarding)
BODY_PIECE = 1 * MiB  # request bodies are written in pieces of this size
REQUEST_TIMEOUT = 120.0  # seconds without progress before a request is aborted
# A connection idle this long is reopened before its next request: servers close idle keep-alive
# connections (granian after 30 s) and while --wait-quiet blocks the loop the client can't notice.
IDLE_REOPEN = 10.0
SERVERS = ("reference", "moorage")
NOISY_OTHER_CPU_PCT = 25  # warn when the rest of the machine used more than this during a phase
REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_USER, ADMIN_PASSWORD = "admin", "Bench12345"  # Moorage's admin (MOORAGE_ADMIN_PASSWORD at first start)


class BenchError(Exception):
    """A wrong status, a digest mismatch or any other reason the figures would be worthless."""


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """Sizes, counts and durations of one run."""

    name: str
    push_small: int
    push_large: int
    push_reps_small: int
    push_reps_large: int
    chunk_size: int
    pull_large_reps: int
    small_blob_size: int
    small_blob_count: int
    small_pull_seconds: float
    manifest_seconds: float
    warmup_seconds: float
    tag_count: int
    tags_full_reps: int
    tags_paged_reps: int
    page_size: int


FULL = Profile(
    name="full",
    push_small=64 * MiB,
    push_large=512 * MiB,
    push_reps_small=3,
    push_reps_large=2,
    chunk_size=8 * MiB,
    pull_large_reps=5,
    small_blob_size=1 * MiB,
    small_blob_count=64,
    small_pull_seconds=8.0,
    manifest_seconds=6.0,
    warmup_seconds=0.5,
    tag_count=10_000,
    tags_full_reps=5,
    tags_paged_reps=2,
    page_size=100,
)

QUICK = Profile(
    name="quick",
    push_small=8 * MiB,
    push_large=64 * MiB,
    push_reps_small=1,
    push_reps_large=1,
    chunk_size=8 * MiB,
    pull_large_reps=1,
    small_blob_size=1 * MiB,
    small_blob_count=16,
    small_pull_seconds=1.5,
    manifest_seconds=1.5,
    warmup_seconds=0.2,
    tag_count=1_000,
    tags_full_reps=2,
    tags_paged_reps=1,
    page_size=100,
)


def fmt_size(n: int) -> str:
    """Human size label for a byte count (``64 MiB``, ``1 MiB``, ``4 KiB``)."""
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n} B"


# --------------------------------------------------------------------------------------------
# Minimal HTTP/1.1 client on asyncio
# --------------------------------------------------------------------------------------------

SINK_KEEP = 0  # keep the body in memory
SINK_DISCARD = 1  # count the bytes only
SINK_SHA256 = 2  # hash and count

_IDLE, _HEAD, _LEN, _CSIZE, _CDATA, _CCRLF, _TRAILER, _EOF = range(8)
_MAX_HEAD = 64 * KiB


def _framing_header(lower_head: str, name: str) -> str | None:
    """Value of header ``name`` in a lower-cased response head (first occurrence), or None."""
    idx = lower_head.find(f"\r\n{name}:")
    if idx < 0:
        return None
    start = idx + len(name) + 3
    end = lower_head.find("\r\n", start)
    return lower_head[start : end if end >= 0 else len(lower_head)].strip()


@dataclass(slots=True)
class Response:
    """An HTTP response; headers are parsed lazily from the raw head on first access."""

    status: int
    head: str  # raw head (status line + headers), latin-1 decoded
    body: bytes
    nbytes: int
    sha256: str | None
    close: bool = False  # the server said ``Connection: close``
    _headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """All headers by lower-case name (repeated headers are joined with ``, ``)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for line in self.head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                v = v.strip()
                headers[k] = f"{headers[k]}, {v}" if k in headers else v
            self._headers = headers
        return self._headers

    def header(self, name: str) -> str | None:
        """Header value by lower-case name."""
        return self.headers.get(name)


class _HttpProtocol(asyncio.BufferedProtocol):
    """Keep-alive HTTP/1.1 response parser; one outstanding request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buf = bytearray(READ_BUFFER)
        self._view = memoryview(self._buf)
        self.transport: asyncio.Transport | None = None
        self.activity = time.monotonic()  # last progress, for the watchdog
        self.closed = False
        self.paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._state = _IDLE
        self._pending = bytearray()
        self._method = ""
        self._sink = SINK_KEEP
        self._status = 0
        self._head = ""
        self._close = False
        self._body = bytearray()
        self._hasher: Any = None
        self._nbytes = 0
        self._remaining = 0

    # -- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.activity = time.monotonic()
        try:
            self._feed(self._buf, 0, nbytes)
        except Exception as exc:  # noqa: BLE001 - any parse error fails the request
            self._abort(exc)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._state == _EOF:
            self._finish()
        elif self._state != _IDLE:
            self._fail(ConnectionError(f"connection closed mid-response: {exc!r}"))
        self._wake_drain(ConnectionError("connection closed"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_drain(None)

    # -- request side --------------------------------------------------------------------
    def begin(self, method: str, sink: int) -> asyncio.Future[Response]:
        """Arm the parser for the response to a request about to be written."""
        if self._state != _IDLE:
            raise RuntimeError("request already in flight on this connection")
        self._waiter = self._loop.create_future()
        self.activity = time.monotonic()
        self._method = method
        self._sink = sink
        self._state = _HEAD
        self._pending.clear()
        self._status = 0
        self._head = ""
        self._close = False
        self._body = bytearray()
        self._hasher = hashlib.sha256() if sink == SINK_SHA256 else None
        self._nbytes = 0
        self._remaining = 0
        return self._waiter

    async def drain(self) -> None:
        """Wait until the transport accepts more data, or the response has arrived."""
        if self.closed:
            raise ConnectionError("connection closed while sending")
        if not self.paused or (self._waiter is not None and self._waiter.done()):
            return
        self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    @property
    def busy(self) -> bool:
        """A request is in flight."""
        return self._state != _IDLE

    def timeout(self) -> None:
        """Abort the in-flight request (called by the watchdog)."""
        self._abort(TimeoutError(f"no progress for {REQUEST_TIMEOUT:.0f}s"))

    # -- parsing -------------------------------------------------------------------------
    def _wake_drain(self, exc: Exception | None) -> None:
        w = self._drain_waiter
        if w is not None and not w.done():
            if exc is None:
                w.set_result(None)
            else:
                w.set_exception(exc)
        self._drain_waiter = None

    def _fail(self, exc: BaseException) -> None:
        w = self._waiter
        self._state = _IDLE
        if w is not None and not w.done():
            w.set_exception(exc)

    def _abort(self, exc: BaseException) -> None:
        self._fail(exc)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _finish(self) -> None:
        w = self._waiter
        self._state = _IDLE
        resp = Response(
            status=self._status,
            head=self._head,
            close=self._close,
            body=bytes(self._body),
            nbytes=self._nbytes,
            sha256=self._hasher.hexdigest() if self._hasher is not None else None,
        )
        self._body = bytearray()
        if w is not None and not w.done():
            w.set_result(resp)
        self._wake_drain(None)

    def _consume(self, data: bytes | bytearray, a: int, b: int) -> None:
        self._nbytes += b - a
        if self._sink == SINK_KEEP:
            self._body += memoryview(data)[a:b]
        elif self._sink == SINK_SHA256:
            self._hasher.update(memoryview(data)[a:b])

    def _on_head(self, head: bytes) -> None:
        text = head.decode("latin-1")
        eol = text.find("\r\n")
        status_line = text if eol < 0 else text[:eol]
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise BenchError(f"malformed status line {status_line!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            return  # interim response: keep reading heads
        self._status = status
        self._head = text
        # only the framing headers are needed now; the rest is parsed if someone asks
        lower = text.lower()
        self._close = "close" in (_framing_header(lower, "connection") or "")
        if self._method == "HEAD" or status in (204, 304):
            self._finish()
            return
        te = _framing_header(lower, "transfer-encoding")
        cl = _framing_header(lower, "content-length")
        if te is not None and "chunked" in te:
            self._state = _CSIZE
        elif cl is not None:
            n = int(cl)
            if n == 0:
                self._finish()
            else:
                self._remaining = n
                self._state = _LEN
        else:
            self._state = _EOF

    def _feed(self, data: bytes | bytearray, pos: int, end: int) -> None:
        while pos < end:
            st = self._state
            if st in (_LEN, _CDATA):
                take = min(self._remaining, end - pos)
                self._consume(data, pos, pos + take)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    if st == _LEN:
                        self._finish()
                    else:
                        self._state = _CCRLF
            elif st == _HEAD:
                if self._pending:
                    self._pending += data[pos:end]
                    idx = self._pending.find(b"\r\n\r\n")
                    if idx < 0:
                        if len(self._pending) > _MAX_HEAD:
                            raise BenchError("response head too large")
                        return
                    head = bytes(self._pending[:idx])
                    rest = bytes(self._pending[idx + 4 :])
                    self._pending.clear()
                    self._on_head(head)
                    data, pos, end = rest, 0, len(rest)
                else:
                    idx = data.find(b"\r\n\r\n", pos, end)
                    if idx < 0:
                        self._pending += data[pos:end]
                        return
                    self._on_head(bytes(data[pos:idx]))
                    pos = idx + 4
            elif st in (_CSIZE, _CCRLF, _TRAILER):
                idx = data.find(b"\n", pos, end)
                if idx < 0:
                    self._pending += data[pos:end]
                    if len(self._pending) > _MAX_HEAD:
                        raise BenchError("chunk header too large")
                    return
                if self._pending:
                    line = bytes(self._pending) + bytes(data[pos:idx])
                    self._pending.clear()
                else:
                    line = bytes(data[pos:idx])
                pos = idx + 1
                line = line.rstrip(b"\r")
                if st == _CSIZE:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        self._state = _TRAILER
                    else:
                        self._remaining = size
                        self._state = _CDATA
                elif st == _CCRLF:
                    if line:
                        raise BenchError("missing CRLF after chunk data")
                    self._state = _CSIZE
                elif not line:
                    self._finish()
            elif st == _EOF:
                self._consume(data, pos, end)
                pos = end
            else:
                raise BenchError(f"unexpected {end - pos} bytes from server outside a response")


@dataclass(frozen=True)
class FileSpan:
    """A body sent from a file with the kernel's sendfile (no copies through the client),
    followed by a few literal bytes: the client then costs almost no CPU on uploads."""

    file: BinaryIO
    offset: int
    count: int
    tail: bytes = b""


Body = bytes | Iterable[bytes] | FileSpan | None


class HttpConnection:
    """One keep-alive connection; reconnects transparently if the server closed it.

    With ``auth``, every request carries that provider's ``Authorization`` header for its
    target, and a 401 challenge fetches a new token and resends the request once.
    """

    def __init__(self, host: str, port: int, auth: TokenAuth | None = None) -> None:
        self.host = host
        self.port = port
        self.auth = auth
        self._hostport = f"{host}:{port}"
        self._proto: _HttpProtocol | None = None

    async def _open(self) -> _HttpProtocol:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: _HttpProtocol(loop), self.host, self.port)
        self._proto = proto
        _LIVE.add(proto)
        return proto

    def close(self) -> None:
        """Close the underlying socket (if open)."""
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()
        self._proto = None

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: Body = None,
        body_len: int | None = None,
        sink: int = SINK_KEEP,
    ) -> Response:
        """Send one request and wait for the complete response.

        ``body`` is bytes, a :class:`FileSpan`, or an iterable of byte pieces whose total is
        ``body_len`` (streamed, honouring the transport's flow control).
        """
        auth = self.auth
        if auth is None:
            return await self._send(method, target, headers, body, body_len, sink)
        resp = await self._send(method, target, (*headers, await auth.header(target)), body, body_len, sink)
        if resp.status == 401 and isinstance(body, bytes | bytearray | FileSpan | None):
            await auth.on_challenge(target, resp)  # e.g. an expired token: fetch one and resend once
            resp = await self._send(method, target, (*headers, await auth.header(target)), body, body_len, sink)
        return resp

    async def _send(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: Body,
        body_len: int | None,
        sink: int,
    ) -> Response:
        proto = self._proto
        if proto is None or proto.closed or time.monotonic() - proto.activity > IDLE_REOPEN:
            self.close()
            proto = await self._open()
        transport = proto.transport
        assert transport is not None
        fut = proto.begin(method, sink)
        head = [f"{method} {target} HTTP/1.1\r\nHost: {self._hostport}\r\n"]
        head.extend(f"{k}: {v}\r\n" for k, v in headers)
        streamed = body is not None and not isinstance(body, bytes | bytearray | FileSpan)
        if body is None:
            if method in ("POST", "PUT", "PATCH"):
                head.append("Content-Length: 0\r\n")
        elif isinstance(body, FileSpan):
            head.append(f"Content-Length: {body.count + len(body.tail)}\r\n")
        elif not streamed:
            assert isinstance(body, bytes | bytearray)
            head.append(f"Content-Length: {len(body)}\r\n")
        else:
            if body_len is None:
                raise ValueError("streamed body needs body_len")
            head.append(f"Content-Length: {body_len}\r\n")
        head.append("\r\n")
        head_bytes = "".join(head).encode("latin-1")
        incomplete = False
        try:
            if body is None:
                transport.write(head_bytes)
            elif isinstance(body, FileSpan):
                transport.write(head_bytes)
                if body.count:
                    await asyncio.get_running_loop().sendfile(transport, body.file, body.offset, body.count)
                    proto.activity = time.monotonic()
                if body.tail:
                    transport.write(body.tail)
            elif not streamed:
                assert isinstance(body, bytes | bytearray)
                transport.write(head_bytes + body if len(body) < 256 * KiB else head_bytes)
                if len(body) >= 256 * KiB:
                    transport.write(body)
            else:
                assert not isinstance(body, bytes | bytearray) and body is not None
                transport.write(head_bytes)
                sent = 0
                for piece in body:
                    if fut.done():
                        break  # the server answered before reading the whole body
                    transport.write(piece)
                    sent += len(piece)
                    proto.activity = time.monotonic()
                    if proto.paused:
                        await proto.drain()
                incomplete = sent != body_len
                if incomplete and not fut.done():
                    raise BenchError(f"body generator produced {sent} bytes, expected {body_len}")
            resp = await fut
        except BaseException:
            self.close()
            raise
        if incomplete or resp.close:
            self.close()
        return resp


_LIVE: weakref.WeakSet[_HttpProtocol] = weakref.WeakSet()


async def watchdog() -> None:
    """Abort any request that made no progress for REQUEST_TIMEOUT (one timer for all)."""
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        for proto in list(_LIVE):
            if proto.busy and now - proto.activity > REQUEST_TIMEOUT:
                proto.timeout()


class ConnPool:
    """A small pool of keep-alive connections for setup/verification requests."""

    def __init__(self, host: str, port: int, size: int, auth: TokenAuth | None = None) -> None:
        self.host = host
        self.port = port
        self._all = [HttpConnection(host, port, auth) for _ in range(size)]
        self._free: asyncio.Queue[HttpConnection] = asyncio.Queue()
        for c in self._all:
            self._free.put_nowait(c)

    @contextlib.asynccontextmanager
    async def conn(self) -> AsyncIterator[HttpConnection]:
        """Borrow a connection (``async with pool.conn() as c``)."""
        c = await self._free.get()
        try:
            yield c
        finally:
            self._free.put_nowait(c)

    def close(self) -> None:
        """Close every pooled connection."""
        for c in self._all:
            c.close()


def make_conns(host: str, port: int, n: int, auth: TokenAuth | None = None) -> list[HttpConnection]:
    """``n`` fresh connections for ``n`` concurrent workers."""
    return [HttpConnection(host, port, auth) for _ in range(n)]


def close_conns(conns: Iterable[HttpConnection]) -> None:
    """Close all the given connections."""
    for c in conns:
        c.close()


# --------------------------------------------------------------------------------------------
# Token authentication, as docker/containerd/podman do it
# --------------------------------------------------------------------------------------------

_REPO_PATH = re.compile(r"/v2/(.+?)/(?:blobs/uploads/[^/]*|blobs/[^/]+|manifests/[^/]+|tags/list)")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def scope_of(target: str) -> str:
    """The token scope a client asks for to send a request to ``target`` ('' for ``/v2/``)."""
    path = target.partition("?")[0]
    if path.startswith("/v2/_catalog"):
        return "registry:catalog:*"
    m = _REPO_PATH.fullmatch(path)
    return f"repository:{m.group(1)}:pull,push" if m else ""


class TokenAuth:
    """Bearer tokens from the registry's token service (the Docker token authentication spec).

    The realm and service come from the ``WWW-Authenticate`` challenge of ``GET /v2/``. A token
    is fetched with Basic credentials once per scope (i.e. per repository, with ``pull,push``),
    cached and sent on every later request there, as docker, containerd and podman do. Tokens
    are fetched in the set-up (:meth:`login`), never in a timed loop, unless the server
    challenges a token again.
    """

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self._conn = HttpConnection(host, port)  # no auth of its own: it talks to the token service
        self._basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self._realm = ""  # request target of the token service
        self._service = ""
        self._tokens: dict[str, tuple[str, str]] = {}  # scope -> ("Authorization", "Bearer ...")
        self._lock = asyncio.Lock()
        self.fetched = 0  # tokens fetched (reported)

    async def login(self, scopes: Iterable[str]) -> None:
        """Discover the token service from the ``GET /v2/`` challenge and fetch tokens for ``scopes``."""
        resp = await self._conn.request("GET", "/v2/")
        self._learn(expect(resp, 401, "GET /v2/ without credentials"))
        for scope in scopes:
            await self._fetch(scope)

    async def header(self, target: str) -> tuple[str, str]:
        """The ``Authorization`` header for a request to ``target`` (fetching a token on a miss)."""
        scope = scope_of(target)
        return self._tokens.get(scope) or await self._fetch(scope)

    async def on_challenge(self, target: str, resp: Response) -> None:
        """A 401 despite a token (e.g. expired): drop it and fetch a new one for that resource."""
        scope = scope_of(target)
        self._tokens.pop(scope, None)
        challenged = self._learn(resp).get("scope", "")
        if challenged and challenged.rpartition(":")[0] != scope.rpartition(":")[0]:  # actions may differ
            raise BenchError(f"{target}: challenged for scope {challenged!r}, expected {scope!r}")
        await self._fetch(scope)

    def _learn(self, resp: Response) -> dict[str, str]:
        challenge = resp.header("www-authenticate") or ""
        if not challenge.lower().startswith("bearer "):
            raise BenchError(f"expected a Bearer challenge, got WWW-Authenticate {challenge!r}")
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        self._realm, self._service = local_target(params.get("realm", "")), params.get("service", "")
        return params

    async def _fetch(self, scope: str) -> tuple[str, str]:
        async with self._lock:  # one token service connection; concurrent misses wait for the first
            if scope in self._tokens:
                return self._tokens[scope]
            query = urlencode([("service", self._service)] + ([("scope", scope)] if scope else []))
            sep = "&" if "?" in self._realm else "?"
            auth = (("Authorization", self._basic),)
            resp = await self._conn.request("GET", f"{self._realm}{sep}{query}", headers=auth)
            doc = orjson.loads(expect(resp, 200, f"GET token for {scope!r}").body)
            token = doc.get("token") or doc.get("access_token")
            if not token:
                raise BenchError(f"token service answered without a token for {scope!r}")
            self.fetched += 1
            self._tokens[scope] = ("Authorization", f"Bearer {token}")
            return self._tokens[scope]

    def close(self) -> None:
        """Close the token service connection."""
        self._conn.close()


# --------------------------------------------------------------------------------------------
# Response checks and URL helpers
# --------------------------------------------------------------------------------------------


def expect(resp: Response, status: int, what: str) -> Response:
    """Raise :class:`BenchError` unless ``resp.status == status``."""
    if resp.status != status:
        snippet = resp.body[:400].decode("utf-8", "replace") if resp.body else ""
        raise BenchError(f"{what}: expected HTTP {status}, got {resp.status}: {snippet}")
    return resp


def expect_digest_header(resp: Response, digest: str, what: str) -> None:
    """If the server sent ``Docker-Content-Digest``, it must be ``digest``."""
    got = resp.header("docker-content-digest")
    if got is not None and got != digest:
        raise BenchError(f"{what}: Docker-Content-Digest {got} != {digest}")


def local_target(url: str) -> str:
    """Path+query of an absolute or relative URL returned by the server."""
    parts = urlsplit(url)
    if parts.hostname not in (None, "", HOST, "localhost"):
        raise BenchError(f"server redirected off the loopback host: {url}")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def location(resp: Response, what: str) -> str:
    """The request target of the ``Location`` header of an upload response."""
    loc = resp.header("location")
    if not loc:
        raise BenchError(f"{what}: no Location header")
    return local_target(loc)


def with_query(target: str, key: str, value: str) -> str:
    """Append ``key=value`` to a request target."""
    return f"{target}{'&' if '?' in target else '?'}{key}={value}"


def next_link(resp: Response) -> str | None:
    """Target of the ``rel="next"`` Link header, if any."""
    link = resp.header("link")
    if not link:
        return None
    for part in link.split(","):
        part = part.strip()
        if 'rel="next"' in part or "rel=next" in part:
            lt, gt = part.find("<"), part.find(">")
            if lt < 0 or gt < lt:
                raise BenchError(f"malformed Link header {link!r}")
            return local_target(part[lt + 1 : gt])
    return None


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Payload: random data generated once to a file, streamed from it
# --------------------------------------------------------------------------------------------


class Payload:
    """A random file, with sha256 states snapshotted at ``size - SUFFIX_LEN`` for each size.

    A pushed blob of ``size`` bytes is ``file[:size - 32] + suffix`` where the 32-byte suffix is
    unique per push: its digest costs one ``hash.copy().update(suffix)``, nothing is rehashed and
    no two pushes (or servers) ever upload an already-existing blob.
    """

    def __init__(self, path: Path, sizes: Sequence[int]) -> None:
        self.path = path
        self.max_size = max(sizes)
        self._states: dict[int, Any] = {}
        self._fd = -1
        self._file: BinaryIO | None = None
        self._counter = itertools.count()
        self._generate(sorted(set(sizes)))

    def _generate(self, sizes: list[int]) -> None:
        h = hashlib.sha256()
        marks = [s - SUFFIX_LEN for s in sizes]
        written = 0
        with open(self.path, "wb") as f:
            while written < self.max_size:
                n = min(BODY_PIECE, self.max_size - written)
                for m in marks:
                    if written < m < written + n:
                        n = m - written
                data = os.urandom(n)
                f.write(data)
                h.update(data)
                written += n
                for s, m in zip(sizes, marks, strict=True):
                    if m == written:
                        self._states[s] = h.copy()
        self._fd = os.open(self.path, os.O_RDONLY)

    def close(self) -> None:
        """Close the file descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._file is not None:
            self._file.close()
            self._file = None

    def new_suffix(self, tag: str) -> bytes:
        """A unique 32-byte suffix."""
        raw = f"{tag}:{next(self._counter)}:{time.time_ns()}:{os.getpid()}".encode()
        return hashlib.sha256(raw).digest()[:SUFFIX_LEN]

    def digest(self, size: int, suffix: bytes) -> str:
        """Digest of the blob ``file[:size-32] + suffix``."""
        h = self._states[size].copy()
        h.update(suffix)
        return "sha256:" + str(h.hexdigest())

    def span(self, size: int, suffix: bytes, start: int, end: int) -> FileSpan:
        """Bytes ``[start, end)`` of the blob ``file[:size-32] + suffix``, for sendfile."""
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open for the whole run
        body_end = size - SUFFIX_LEN
        file_end = min(end, body_end)
        count = max(file_end - start, 0)
        tail = suffix[max(start - body_end, 0) : max(end - body_end, 0)] if end > body_end else b""
        return FileSpan(self._file, start, count, tail)

    def iter_range(self, size: int, suffix: bytes, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes ``[start, end)`` of the blob ``file[:size-32] + suffix`` in 1 MiB pieces."""
        body_end = size - SUFFIX_LEN
        pos = start
        while pos < end:
            if pos >= body_end:
                yield suffix[pos - body_end : end - body_end]
                return
            n = min(BODY_PIECE, end - pos, body_end - pos)
            piece = os.pread(self._fd, n, pos)
            if len(piece) != n:
                raise BenchError("short read from the payload file")
            yield piece
            pos += n


# --------------------------------------------------------------------------------------------
# Process-tree resource sampling (RSS, PSS, CPU)
# --------------------------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_tree(root: int) -> list[int]:
    """``root`` and all its descendants (via /proc/PID/task/TID/children)."""
    pids = [root]
    i = 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                    pids.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return pids


def read_rss(pid: int) -> int:
    """Resident set size in bytes (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def read_pss(pid: int) -> int:
    """Proportional set size in bytes from smaps_rollup (0 if unavailable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * KiB
    except (OSError, ValueError):
        pass
    return 0


def read_all_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds (utime+stime) and name of every process on the machine."""
    out: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        lp, rp = data.find("("), data.rfind(")")
        rest = data[rp + 2 :].split()
        out[int(entry)] = (data[lp + 1 : rp], (int(rest[11]) + int(rest[12])) / CLK_TCK)
    return out


def top_consumers(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], exclude: set[int], wall: float
) -> str:
    """The processes (outside ``exclude``) that used the most CPU between two snapshots."""
    used = []
    for pid, (name, cpu) in after.items():
        if pid in exclude:
            continue
        delta = cpu - before.get(pid, (name, 0.0))[1]
        if delta > 0:
            used.append((delta, f"{name}[{pid}]"))
    used.sort(reverse=True)
    return ", ".join(f"{n} {100 * d / wall:.0f}%" for d, n in used[:3] if wall and 100 * d / wall >= 5)


def read_machine_cpu() -> tuple[float, float, float]:
    """Machine-wide CPU seconds from /proc/stat: (tasks, irq+softirq, steal).

    ``tasks`` is user+nice+system time, which is what the per-process figures add up to; irq and
    softirq time (mostly loopback networking here) and steal (the hypervisor running someone
    else) are kept apart.
    """
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    return (v[0] + v[1] + v[2]) / CLK_TCK, (v[5] + v[6]) / CLK_TCK, v[7] / CLK_TCK


def read_cpu_seconds(pids: Iterable[int]) -> float:
    """utime+stime (+ reaped children's) of the given processes, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2 :].split()
        ticks += int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    return ticks / CLK_TCK


QUIET_PCT = 15.0  # --wait-quiet: the machine counts as quiet below this % of one core


def others_cpu_seconds(server_root: int) -> float:
    """Task CPU seconds used on the machine by everything but the server tree and this process."""
    return read_machine_cpu()[0] - read_cpu_seconds(proc_tree(server_root)) - time.process_time()


def wait_for_quiet(max_wait: float, what: str, server_root: int) -> None:
    """Block (untimed) until other processes stay below QUIET_PCT of a core for 1 s, or max_wait."""
    t_end = time.monotonic() + max_wait
    waited = 0.0
    while True:
        t0 = time.monotonic()
        c0 = others_cpu_seconds(server_root)
        time.sleep(1.0)
        pct = 100 * (others_cpu_seconds(server_root) - c0) / (time.monotonic() - t0)
        if pct < QUIET_PCT:
            break
        waited = time.monotonic() - t0 + waited
        if time.monotonic() >= t_end:
            log(f"    (machine still busy at {pct:.0f}% after waiting {waited:.0f}s; measuring {what} anyway)")
            return
    if waited:
        log(f"    (waited {waited:.0f}s for the machine to quieten before {what})")


@dataclass
class PhaseStats:
    """Resources used by the server tree (and the client) during one phase."""

    name: str
    wall: float = 0.0
    peak_rss: int = 0
    peak_pss: int = 0
    start_rss: int = 0
    max_procs: int = 0
    samples: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0  # other processes on the machine (other tenants, kernel threads)
    irq_cpu: float = 0.0  # irq + softirq time (loopback networking is mostly here)
    steal_cpu: float = 0.0  # time the hypervisor gave to other guests
    other_top: str = ""  # who the "other" CPU users were

    def pct(self, cpu_seconds: float) -> float:
        """CPU seconds as a percentage of one core over the phase."""
        return 100 * cpu_seconds / self.wall if self.wall else 0.0

    def cpu_summary(self) -> str:
        """``server CPU x%, client y%, other z%`` for progress lines."""
        return (
            f"server CPU {self.pct(self.server_cpu):.0f}%, client {self.pct(self.client_cpu):.0f}%,"
            f" other {self.pct(self.other_cpu):.0f}%, irq {self.pct(self.irq_cpu):.0f}%,"
            f" steal {self.pct(self.steal_cpu):.0f}%"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (sizes in MiB, CPU in % of one core)."""
        return {
            "wall_s": round(self.wall, 3),
            "peak_rss_mib": round(self.peak_rss / MiB, 1),
            "peak_pss_mib": round(self.peak_pss / MiB, 1),
            "start_rss_mib": round(self.start_rss / MiB, 1),
            "max_procs": self.max_procs,
            "samples": self.samples,
            "server_cpu_pct": round(self.pct(self.server_cpu), 1),
            "client_cpu_pct": round(self.pct(self.client_cpu), 1),
            "other_cpu_pct": round(self.pct(self.other_cpu), 1),
            "irq_cpu_pct": round(self.pct(self.irq_cpu), 1),
            "steal_cpu_pct": round(self.pct(self.steal_cpu), 1),
            "other_top": self.other_top,
        }


class ResourceMonitor:
    """Samples RSS/PSS of a server's process tree every 50 ms in a background thread."""

    def __init__(self, root_pid: int, interval: float = 0.05, wait_quiet: float = 0.0) -> None:
        self.root_pid = root_pid
        self.wait_quiet = wait_quiet
        self.interval = interval
        self.phases: list[PhaseStats] = []

    def _sample(self, pids: list[int], st: PhaseStats) -> None:
        rss = sum(read_rss(p) for p in pids)
        pss = sum(read_pss(p) for p in pids)
        st.peak_rss = max(st.peak_rss, rss)
        st.peak_pss = max(st.peak_pss, pss)
        st.max_procs = max(st.max_procs, len(pids))
        st.samples += 1

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[PhaseStats]:
        """Sample the server during the ``with`` block; the stats are filled on exit."""
        if self.wait_quiet > 0:
            wait_for_quiet(self.wait_quiet, name, self.root_pid)
        st = PhaseStats(name=name)
        stop = threading.Event()
        pids = proc_tree(self.root_pid)
        st.start_rss = sum(read_rss(p) for p in pids)
        self._sample(pids, st)

        def run() -> None:
            tree = pids
            n = 0
            while not stop.wait(self.interval):
                n += 1
                if n % 10 == 0:
                    tree = proc_tree(self.root_pid)
                self._sample(tree, st)

        thread = threading.Thread(target=run, name=f"rss-{name}", daemon=True)
        cpu0 = read_cpu_seconds(pids)
        ccpu0 = time.process_time()
        task0, irq0, steal0 = read_machine_cpu()
        all0 = read_all_cpu()
        t0 = time.perf_counter()
        thread.start()
        try:
            yield st
        finally:
            st.wall = time.perf_counter() - t0
            stop.set()
            thread.join()
            end_pids = proc_tree(self.root_pid)
            self._sample(end_pids, st)
            st.server_cpu = read_cpu_seconds(set(pids) | set(end_pids)) - cpu0
            st.client_cpu = time.process_time() - ccpu0
            task1, irq1, steal1 = read_machine_cpu()
            st.other_cpu = max(0.0, task1 - task0 - st.server_cpu - st.client_cpu)
            st.irq_cpu = irq1 - irq0
            st.steal_cpu = steal1 - steal0
            exclude = set(pids) | set(end_pids) | {os.getpid()}
            st.other_top = top_consumers(all0, read_all_cpu(), exclude, st.wall)
            self.phases.append(st)


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


REFERENCE_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  secret: moorage-bench-not-a-secret
"""


class ServerProcess:
    """A registry server subprocess in its own session (so its workers can be stopped too)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path, port: int) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """PID of the server's main process."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Spawn the server, logging to ``<workdir>/<name>.log``."""
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed by the child's exit
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        finally:
            log.close()

    async def wait_ready(self, timeout: float) -> None:
        """Poll ``GET /v2/`` until it answers 200, or 401 (a token-auth registry's challenge)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode} before becoming ready\n" + self.log_tail()
                )
            conn = HttpConnection(HOST, self.port)
            try:
                resp = await conn.request("GET", "/v2/")
                if resp.status in (200, 401):
                    return
                last = f"HTTP {resp.status}"
            except OSError as exc:
                last = repr(exc)
            finally:
                conn.close()
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.name} not ready after {timeout:.0f}s ({last})\n" + self.log_tail())

    def check_alive(self) -> None:
        """Raise if the server process died."""
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"{self.name} died (exit {self.proc.returncode})\n" + self.log_tail())

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the server log."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])


def reference_server(workdir: Path, binary: str) -> ServerProcess:
    """``docker-registry serve CONFIG.yml`` with filesystem storage under ``workdir``."""
    port = free_port()
    root = workdir / "storage"
    root.mkdir(parents=True)
    config = workdir / "config.yml"
    config.write_text(REFERENCE_CONFIG.format(root=root, host=HOST, port=port))
    env = dict(os.environ)
    return ServerProcess("reference", [binary, "serve", str(config)], env, workdir, port)


def moorage_env() -> dict[str, str]:
    """Environment for ``python -m moorage``: the admin password for its first start, and
    ``src/`` on PYTHONPATH if not installed."""
    env = dict(os.environ)
    env["MOORAGE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    if importlib.util.find_spec("moorage") is None:
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def moorage_server(workdir: Path) -> ServerProcess:
    """``python -m moorage serve`` on a free port with its data under ``workdir/data``."""
    port = free_port()
    data = workdir / "data"
    data.mkdir(parents=True)
    argv = [
        sys.executable, "-m", "moorage", "serve",
        "--host", HOST, "--port", str(port), "--data-dir", str(data),
    ]  # fmt: skip
    return ServerProcess("moorage", argv, moorage_env(), workdir, port)


# --------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """Outcome of a closed-loop run."""

    ops: int
    wall: float
    nbytes: int
    latencies_ns: list[int]

    @property
    def ops_per_s(self) -> float:
        """Completed operations per second."""
        return self.ops / self.wall if self.wall else 0.0

    @property
    def mb_per_s(self) -> float:
        """Payload MB (10^6 bytes) per second."""
        return self.nbytes / MB / self.wall if self.wall else 0.0

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank latency percentile in milliseconds."""
        if not self.latencies_ns:
            return math.nan
        s = sorted(self.latencies_ns)
        k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
        return s[k] / 1e6


Op = Callable[[HttpConnection, int], Awaitable[int]]


async def closed_loop(
    conns: Sequence[HttpConnection], op: Op, duration: float, max_ops: int | None = None
) -> LoadResult:
    """Run ``op`` from ``len(conns)`` workers until ``duration`` elapses or ``max_ops`` are done.

    ``op(conn, i)`` gets a global sequence number and returns the payload bytes it moved.
    """
    counter = itertools.count()
    lat: list[int] = []
    moved = 0
    pc = time.perf_counter_ns
    deadline = pc() + int(duration * 1e9)

    async def worker(conn: HttpConnection) -> None:
        nonlocal moved
        while True:
            i = next(counter)
            if max_ops is not None and i >= max_ops:
                return
            t0 = pc()
            if t0 >= deadline:
                return
            n = await op(conn, i)  # (not `moved += await ...`: that loses concurrent updates)
            moved += n
            lat.append(pc() - t0)

    gc_was_enabled = gc.isenabled()
    gc.disable()
    t0 = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as tg:
            for c in conns:
                tg.create_task(worker(c))
    except BaseExceptionGroup as group:  # report the first failure like any other
        raise group.exceptions[0] from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return LoadResult(ops=len(lat), wall=time.perf_counter() - t0, nbytes=moved, latencies_ns=lat)


# --------------------------------------------------------------------------------------------
# Registry operations
# --------------------------------------------------------------------------------------------


async def start_upload(conn: HttpConnection, repo: str) -> str:
    """``POST /v2/<repo>/blobs/uploads/`` → upload location."""
    resp = await conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(resp, 202, f"POST upload to {repo}")
    return location(resp, "POST upload")


async def push_monolithic(conn: HttpConnection, repo: str, body: Body, size: int, digest: str) -> None:
    """POST, then a single ``PUT ?digest=`` carrying the whole body."""
    loc = await start_upload(conn, repo)
    resp = await conn.request(
        "PUT",
        with_query(loc, "digest", digest),
        headers=(("Content-Type", "application/octet-stream"),),
        body=body,
        body_len=size,
    )
    expect(resp, 201, f"PUT blob {digest}")
    expect_digest_header(resp, digest, "PUT blob")


async def push_chunked(conn: HttpConnection, repo: str, payload: Payload, size: int, suffix: bytes, chunk: int) -> None:
    """POST, PATCH ``chunk``-sized pieces with Content-Range, then an empty ``PUT ?digest=``."""
    digest = payload.digest(size, suffix)
    loc = await start_upload(conn, repo)
    for start in range(0, size, chunk):
        end = min(size, start + chunk)
        resp = await conn.request(
            "PATCH",
            loc,
            headers=(
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", f"{start}-{end - 1}"),
            ),
            body=payload.span(size, suffix, start, end),
            body_len=end - start,
        )
        expect(resp, 202, f"PATCH chunk {start}-{end - 1}")
        rng = resp.header("range")
        if rng is not None and rng != f"0-{end - 1}":
            raise BenchError(f"PATCH chunk {start}-{end - 1}: server reports Range {rng}")
        loc = location(resp, "PATCH")
    resp = await conn.request("PUT", with_query(loc, "digest", digest))
    expect(resp, 201, f"PUT (close chunked upload) {digest}")
    expect_digest_header(resp, digest, "PUT chunked blob")


async def head_blob(conn: HttpConnection, repo: str, digest: str, size: int) -> None:
    """``HEAD`` a blob: must exist with the right length."""
    resp = expect(await conn.request("HEAD", f"/v2/{repo}/blobs/{digest}"), 200, f"HEAD blob {digest}")
    cl = resp.header("content-length")
    if cl is not None and int(cl) != size:
        raise BenchError(f"HEAD blob {digest}: Content-Length {cl} != {size}")


async def get_blob(conn: HttpConnection, repo: str, digest: str, size: int, verify: bool) -> int:
    """``GET`` a blob; verify its sha256 (``verify``) or just its length. Returns bytes read."""
    resp = await conn.request("GET", f"/v2/{repo}/blobs/{digest}", sink=SINK_SHA256 if verify else SINK_DISCARD)
    expect(resp, 200, f"GET blob {digest}")
    if resp.nbytes != size:
        raise BenchError(f"GET blob {digest}: got {resp.nbytes} bytes, expected {size}")
    if verify and "sha256:" + (resp.sha256 or "") != digest:
        raise BenchError(f"GET blob {digest}: content hashes to sha256:{resp.sha256}")
    expect_digest_header(resp, digest, "GET blob")
    return resp.nbytes


async def put_manifest(conn: HttpConnection, repo: str, ref: str, body: bytes, digest: str) -> None:
    """``PUT /v2/<repo>/manifests/<ref>`` of an OCI image manifest."""
    resp = await conn.request(
        "PUT", f"/v2/{repo}/manifests/{ref}", headers=(("Content-Type", OCI_MANIFEST),), body=body
    )
    expect(resp, 201, f"PUT manifest {repo}:{ref}")
    expect_digest_header(resp, digest, f"PUT manifest {repo}:{ref}")


async def push_image_blobs(conn: HttpConnection, repo: str) -> tuple[bytes, str]:
    """Push a config and a layer blob to ``repo``; return (manifest bytes, manifest digest)."""
    layer = os.urandom(4 * KiB)
    layer_digest = sha256_digest(layer)
    config = orjson.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    )
    config_digest = sha256_digest(config)
    await push_monolithic(conn, repo, config, len(config), config_digest)
    await push_monolithic(conn, repo, layer, len(layer), layer_digest)
    manifest = orjson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            "annotations": {"org.opencontainers.image.title": "moorage-bench"},
        }
    )
    return manifest, sha256_digest(manifest)


# --------------------------------------------------------------------------------------------
# Benchmark state and workloads
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    """One registry under test plus everything measured on it."""

    name: str
    server: ServerProcess
    monitor: ResourceMonitor
    pool: ConnPool
    auth: TokenAuth | None = None  # Moorage: bearer tokens; the reference: no auth
    results: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    large_blob: tuple[str, int] | None = None
    small_blobs: list[tuple[str, int]] = field(default_factory=list)

    @property
    def port(self) -> int:
        """Server port."""
        return self.server.port


def log(msg: str) -> None:
    """Progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def sync_disks() -> float:
    """Flush dirty page cache (untimed) so earlier writes don't slow the next push; seconds."""
    t0 = time.perf_counter()
    os.sync()
    return time.perf_counter() - t0


async def bench_push(t: Target, prof: Profile, payload: Payload) -> None:
    """Workload 1: blob push throughput, monolithic and chunked, small and large."""
    for size, reps, label in (
        (prof.push_small, prof.push_reps_small, "small"),
        (prof.push_large, prof.push_reps_large, "large"),
    ):
        for mode in ("mono", "chunked"):
            rates: list[float] = []
            for rep in range(reps):
                sync_disks()
                suffix = payload.new_suffix(f"{t.name}-{mode}-{size}")
                digest = payload.digest(size, suffix)
                async with t.pool.conn() as conn:
                    with t.monitor.phase(f"push {fmt_size(size)} {mode}") as ph:
                        t0 = time.perf_counter()
                        if mode == "mono":
                            body = payload.span(size, suffix, 0, size)
                            await push_monolithic(conn, REPO_PUSH, body, size, digest)
                        else:
                            await push_chunked(conn, REPO_PUSH, payload, size, suffix, prof.chunk_size)
                        dt = time.perf_counter() - t0
                    await head_blob(conn, REPO_PUSH, digest, size)
                rate = size / MB / dt
                rates.append(rate)
                log(
                    f"  [{t.name}] push {fmt_size(size)} {mode} #{rep + 1}: {rate:8.1f} MB/s"
                    f"  ({dt:.2f}s, peak RSS {ph.peak_rss / MiB:.0f} MiB, {ph.cpu_summary()})"
                )
                if label == "large" and mode == "mono":
                    t.large_blob = (digest, size)
                key_rss = f"rss_push_{label}_{mode}"
                t.results[key_rss] = max(t.results.get(key_rss, 0.0), ph.peak_rss / MiB)
            t.results[f"push_{label}_{mode}_MBps"] = statistics.median(rates)
    t.server.check_alive()


async def bench_pull_large(t: Target, prof: Profile) -> None:
    """Workload 2a: single-stream pull of the large blob pushed in workload 1."""
    assert t.large_blob is not None, "push workload must run first"
    digest, size = t.large_blob
    rates: list[float] = []
    async with t.pool.conn() as conn:
        await get_blob(conn, REPO_PUSH, digest, size, verify=True)  # untimed, full sha256 check
        for rep in range(prof.pull_large_reps):
            with t.monitor.phase(f"pull {fmt_size(size)}") as ph:
                t0 = time.perf_counter()
                await get_blob(conn, REPO_PUSH, digest, size, verify=False)
                dt = time.perf_counter() - t0
            rates.append(size / MB / dt)
            log(
                f"  [{t.name}] pull {fmt_size(size)} #{rep + 1}: {rates[-1]:8.1f} MB/s"
                f"  ({dt:.2f}s, peak RSS {ph.peak_rss / MiB:.0f} MiB, {ph.cpu_summary()})"
            )
            t.results["rss_pull_large"] = max(t.results.get("rss_pull_large", 0.0), ph.peak_rss / MiB)
    t.results["pull_large_MBps"] = statistics.median(rates)
    t.server.check_alive()


async def bench_pull_small(t: Target, prof: Profile) -> None:
    """Workload 2b: many small blobs pulled at concurrency 16 and 64."""
    size = prof.small_blob_size
    blobs = [os.urandom(size) for _ in range(prof.small_blob_count)]
    digests = [sha256_digest(b) for b in blobs]
    setup = make_conns(HOST, t.port, 8, t.auth)
    try:
        push_ops: list[tuple[bytes, str]] = list(zip(blobs, digests, strict=True))

        async def push_one(conn: HttpConnection, i: int) -> int:
            data, dg = push_ops[i]
            await push_monolithic(conn, REPO_SMALL, data, len(data), dg)
            return len(data)

        await closed_loop(setup, push_one, duration=3600, max_ops=len(push_ops))

        async def verify_one(conn: HttpConnection, i: int) -> int:
            return await get_blob(conn, REPO_SMALL, digests[i], size, verify=True)

        await closed_loop(setup, verify_one, duration=3600, max_ops=len(digests))
    finally:
        close_conns(setup)
    del blobs
    n = len(digests)

    async def pull_one(conn: HttpConnection, i: int) -> int:
        return await get_blob(conn, REPO_SMALL, digests[i % n], size, verify=False)

    for conc in (16, 64):
        conns = make_conns(HOST, t.port, conc, t.auth)
        try:
            await closed_loop(conns, pull_one, prof.warmup_seconds)
            with t.monitor.phase(f"pull {fmt_size(size)} c={conc}") as ph:
                res = await closed_loop(conns, pull_one, prof.small_pull_seconds)
        finally:
            close_conns(conns)
        t.results[f"pull_small_c{conc}_MBps"] = res.mb_per_s
        t.results[f"pull_small_c{conc}_rps"] = res.ops_per_s
        t.results[f"pull_small_c{conc}_p99_ms"] = res.percentile_ms(99)
        t.results[f"rss_pull_small_c{conc}"] = ph.peak_rss / MiB
        log(
            f"  [{t.name}] pull {fmt_size(size)} c={conc}: {res.mb_per_s:8.1f} MB/s"
            f" {res.ops_per_s:8.0f} req/s p50 {res.percentile_ms(50):.2f} ms"
            f" p99 {res.percentile_ms(99):.2f} ms ({res.ops} reqs, peak RSS"
            f" {ph.peak_rss / MiB:.0f} MiB, {ph.cpu_summary()})"
        )
    t.server.check_alive()


async def bench_manifests(t: Target, prof: Profile) -> None:
    """Workload 3: manifest PUT and GET by tag at concurrency 1 and 16."""
    async with t.pool.conn() as conn:
        manifest, digest = await push_image_blobs(conn, REPO_MANIFEST)
        await put_manifest(conn, REPO_MANIFEST, "seed", manifest, digest)

    def put_op(prefix: str) -> Op:
        async def op(conn: HttpConnection, i: int) -> int:
            await put_manifest(conn, REPO_MANIFEST, f"{prefix}-{i}", manifest, digest)
            return len(manifest)

        return op

    get_tags = ["seed"]  # + up to 1,000 of the tags created by the c=16 PUT run

    async def get_op(conn: HttpConnection, i: int) -> int:
        tag = get_tags[i % len(get_tags)]
        resp = await conn.request("GET", f"/v2/{REPO_MANIFEST}/manifests/{tag}", headers=(("Accept", MANIFEST_ACCEPT),))
        if resp.status != 200:
            expect(resp, 200, f"GET manifest {tag}")
        if resp.body != manifest:
            raise BenchError(f"GET manifest {tag}: body differs from what was pushed")
        expect_digest_header(resp, digest, f"GET manifest {tag}")
        ctype = (resp.header("content-type") or "").split(";")[0].strip()
        if ctype != OCI_MANIFEST:
            raise BenchError(f"GET manifest {tag}: Content-Type {ctype!r}")
        return resp.nbytes

    for kind in ("put", "get"):
        for conc in (1, 16):
            conns = make_conns(HOST, t.port, conc, t.auth)
            try:
                if kind == "put":
                    await closed_loop(conns, put_op(f"w{conc}"), prof.warmup_seconds)
                    op = put_op(f"c{conc}")
                else:
                    await closed_loop(conns, get_op, prof.warmup_seconds)
                    op = get_op
                with t.monitor.phase(f"manifest {kind} c={conc}") as ph:
                    res = await closed_loop(conns, op, prof.manifest_seconds)
            finally:
                close_conns(conns)
            if kind == "put" and conc == 16:
                get_tags.extend(f"c16-{i}" for i in range(min(res.ops, 1000)))
            key = f"manifest_{kind}_c{conc}"
            t.results[f"{key}_ops"] = res.ops_per_s
            t.results[f"{key}_p50_ms"] = res.percentile_ms(50)
            t.results[f"{key}_p99_ms"] = res.percentile_ms(99)
            if conc == 16:
                t.results[f"rss_manifest_{kind}_c16"] = ph.peak_rss / MiB
            log(
                f"  [{t.name}] manifest {kind.upper()} c={conc}: {res.ops_per_s:8.0f} ops/s"
                f" p50 {res.percentile_ms(50):.2f} ms p99 {res.percentile_ms(99):.2f} ms"
                f" ({res.ops} ops, {ph.cpu_summary()})"
            )
    t.server.check_alive()


async def fetch_tag_pages(conn: HttpConnection, first: str, max_pages: int) -> tuple[list[str], int, int]:
    """Follow ``rel="next"`` Links from ``first``; return (tags, pages, largest page)."""
    tags: list[str] = []
    pages = 0
    largest = 0
    target: str | None = first
    while target is not None:
        pages += 1
        if pages > max_pages:
            raise BenchError(f"tags list pagination did not end after {max_pages} pages")
        resp = expect(await conn.request("GET", target), 200, f"GET {target}")
        doc = orjson.loads(resp.body)
        page = doc.get("tags") or []
        if doc.get("name") != REPO_TAGS:
            raise BenchError(f"GET {target}: name {doc.get('name')!r} != {REPO_TAGS!r}")
        tags.extend(page)
        largest = max(largest, len(page))
        target = next_link(resp)
    return tags, pages, largest


async def bench_tags(t: Target, prof: Profile) -> None:
    """Workload 4: create N tags (timed separately), then list them whole and paginated."""
    async with t.pool.conn() as conn:
        manifest, digest = await push_image_blobs(conn, REPO_TAGS)
    names = [f"t{i:05d}" for i in range(prof.tag_count)]
    expected = set(names)

    async def create(conn: HttpConnection, i: int) -> int:
        await put_manifest(conn, REPO_TAGS, names[i], manifest, digest)
        return 0

    conns = make_conns(HOST, t.port, 16, t.auth)
    try:
        with t.monitor.phase(f"create {prof.tag_count} tags c=16") as ph:
            res = await closed_loop(conns, create, duration=3600, max_ops=prof.tag_count)
    finally:
        close_conns(conns)
    if res.ops != prof.tag_count:
        raise BenchError(f"created {res.ops} tags, expected {prof.tag_count}")
    t.results["tags_create_ops"] = res.ops_per_s
    log(
        f"  [{t.name}] create {prof.tag_count} tags c=16: {res.ops_per_s:8.0f} ops/s"
        f" ({res.wall:.1f}s, {ph.cpu_summary()})"
    )

    max_pages = prof.tag_count // prof.page_size + 10
    async with t.pool.conn() as conn:
        full_times: list[float] = []
        with t.monitor.phase("tags list full") as ph:
            for _ in range(prof.tags_full_reps):
                t0 = time.perf_counter()
                tags, pages, _largest = await fetch_tag_pages(conn, f"/v2/{REPO_TAGS}/tags/list", max_pages)
                full_times.append(time.perf_counter() - t0)
                if set(tags) != expected or len(tags) != len(expected):
                    raise BenchError(
                        f"tags list: got {len(tags)} tags ({len(set(tags))} distinct), expected {len(expected)}"
                    )
                if pages > 1:
                    t.notes.append(f"unpaginated tags list came in {pages} pages (server limit)")
        t.results["tags_full_ms"] = statistics.median(full_times) * 1e3
        t.results["rss_tags"] = ph.peak_rss / MiB

        paged_times: list[float] = []
        for _ in range(prof.tags_paged_reps):
            t0 = time.perf_counter()
            tags, pages, largest = await fetch_tag_pages(
                conn, f"/v2/{REPO_TAGS}/tags/list?n={prof.page_size}", max_pages
            )
            paged_times.append(time.perf_counter() - t0)
            if len(tags) != len(expected) or set(tags) != expected:
                raise BenchError(
                    f"paginated tags list: got {len(tags)} tags ({len(set(tags))} distinct), expected {len(expected)}"
                )
            if largest > prof.page_size:
                note = f"ignores n={prof.page_size}: a page held {largest} tags ({pages} page(s))"
                if note not in t.notes:
                    t.notes.append(note)
        t.results["tags_paged_ms"] = statistics.median(paged_times) * 1e3
        t.results["tags_paged_pages"] = float(pages)
    log(
        f"  [{t.name}] tags list {prof.tag_count}: full {t.results['tags_full_ms']:.1f} ms,"
        f" paginated n={prof.page_size} {t.results['tags_paged_ms']:.1f} ms in {pages} pages"
    )
    t.server.check_alive()


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A row of the results table."""

    key: str
    label: str
    unit: str
    higher_is_better: bool | None  # None: informational
    target_ratio: float | None = None  # Moorage/reference must be >= this (or <= if lower)


def metrics_for(prof: Profile) -> list[Metric]:
    """Table rows, labelled with this profile's sizes."""
    s, lg, sb = fmt_size(prof.push_small), fmt_size(prof.push_large), fmt_size(prof.small_blob_size)
    ch = fmt_size(prof.chunk_size)
    rows = [
        Metric("push_small_mono_MBps", f"push {s} monolithic", "MB/s", True, 2.5),
        Metric("push_small_chunked_MBps", f"push {s} chunked ({ch} PATCH)", "MB/s", True, 2.5),
        Metric("push_large_mono_MBps", f"push {lg} monolithic", "MB/s", True, 2.5),
        Metric("push_large_chunked_MBps", f"push {lg} chunked ({ch} PATCH)", "MB/s", True, 2.5),
        Metric("pull_large_MBps", f"pull {lg} single stream", "MB/s", True, 0.9),
    ]
    for c in (16, 64):
        tgt = 1.5 if c == 64 else None
        rows += [
            Metric(f"pull_small_c{c}_MBps", f"pull {sb} blobs c={c}", "MB/s", True, tgt),
            Metric(f"pull_small_c{c}_rps", f"pull {sb} blobs c={c}", "req/s", True, tgt),
            Metric(f"pull_small_c{c}_p99_ms", f"pull {sb} blobs c={c} p99", "ms", False),
        ]
    for kind in ("put", "get"):
        for c in (1, 16):
            tgt = (5.0 if kind == "get" else 2.0) if c == 16 else None
            k = f"manifest_{kind}_c{c}"
            rows += [
                Metric(f"{k}_ops", f"manifest {kind.upper()} c={c}", "ops/s", True, tgt),
                Metric(f"{k}_p50_ms", f"manifest {kind.upper()} c={c} p50", "ms", False),
                Metric(f"{k}_p99_ms", f"manifest {kind.upper()} c={c} p99", "ms", False),
            ]
    n = f"{prof.tag_count:,}"
    rows += [
        Metric("tags_create_ops", f"create {n} tags (PUT c=16)", "ops/s", True),
        Metric("tags_full_ms", f"tags/list of {n} tags, full", "ms", False),
        Metric("tags_paged_ms", f"tags/list of {n} tags, n={prof.page_size} walk", "ms", False),
        Metric("tags_paged_pages", f"tags/list n={prof.page_size} pages", "pages", None),
        Metric("rss_idle", "peak RSS idle (after start)", "MiB", False),
        Metric("rss_push_small_mono", f"peak RSS push {s} monolithic", "MiB", False),
        Metric("rss_push_small_chunked", f"peak RSS push {s} chunked", "MiB", False),
        Metric("rss_push_large_mono", f"peak RSS push {lg} monolithic", "MiB", False),
        Metric("rss_push_large_chunked", f"peak RSS push {lg} chunked", "MiB", False),
        Metric("rss_pull_large", f"peak RSS pull {lg}", "MiB", False),
        Metric("rss_pull_small_c16", f"peak RSS pull {sb} c=16", "MiB", False),
        Metric("rss_pull_small_c64", f"peak RSS pull {sb} c=64", "MiB", False),
        Metric("rss_manifest_get_c16", "peak RSS manifest GET c=16", "MiB", False),
        Metric("rss_manifest_put_c16", "peak RSS manifest PUT c=16", "MiB", False),
        Metric("rss_tags", f"peak RSS tags/list of {n}", "MiB", False),
    ]
    return rows


def fmt_value(v: float | None) -> str:
    """Compact number formatting for the table."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def absolute_checks(prof: Profile, results: dict[str, dict[str, float]]) -> list[str]:
    """Checks on Moorage's absolute figures (RSS ceiling, flat RSS across blob sizes)."""
    m = results.get("moorage")
    if not m:
        return []
    out: list[str] = []
    rss64 = m.get("rss_pull_small_c64")
    if rss64 is not None:
        ok = "PASS" if rss64 <= 150 else "FAIL"
        out.append(
            f"{ok}  Moorage peak RSS during {fmt_size(prof.small_blob_size)} pulls c=64:"
            f" {rss64:.0f} MiB (target <= 150 MiB)"
        )
    for mode in ("mono", "chunked"):
        small, large = m.get(f"rss_push_small_{mode}"), m.get(f"rss_push_large_{mode}")
        if small is not None and large is not None:
            grow = large - small
            ok = "PASS" if grow <= 16 else "FAIL"
            out.append(
                f"{ok}  Moorage peak RSS {mode} push {fmt_size(prof.push_large)} vs"
                f" {fmt_size(prof.push_small)}: {large:.0f} vs {small:.0f} MiB"
                f" ({grow:+.0f} MiB; flat = +16 MiB at most)"
            )
    pull_l, pull_s = m.get("rss_pull_large"), m.get("rss_pull_small_c16")
    if pull_l is not None and m.get("rss_idle") is not None:
        grow = pull_l - m["rss_idle"]
        ok = "PASS" if grow <= 16 else "FAIL"
        out.append(
            f"{ok}  Moorage peak RSS pull {fmt_size(prof.push_large)}: {pull_l:.0f} MiB,"
            f" {grow:+.0f} MiB over idle (flat = +16 MiB at most)"
            + (f"; {fmt_size(prof.small_blob_size)} c=16 pulls: {pull_s:.0f} MiB" if pull_s else "")
        )
    return out


def render_table(prof: Profile, results: dict[str, dict[str, float]]) -> list[str]:
    """The results table (absolute figures, ratio, target)."""
    ref, moo = results.get("reference", {}), results.get("moorage", {})
    both = bool(ref) and bool(moo)
    header = ["metric", "unit", "reference", "moorage"]
    if both:
        header += ["M/R", "target", ""]
    rows: list[list[str]] = []
    for m in metrics_for(prof):
        rv, mv = ref.get(m.key), moo.get(m.key)
        if rv is None and mv is None:
            continue
        row = [m.label, m.unit, fmt_value(rv), fmt_value(mv)]
        if both:
            ratio = mv / rv if rv and mv is not None and rv > 0 else None
            row.append(f"{ratio:.2f}x" if ratio is not None else "-")
            if m.target_ratio is not None:
                row.append(f">= {m.target_ratio:g}x")
                row.append("PASS" if ratio is not None and ratio >= m.target_ratio else "FAIL")
            else:
                row.append(
                    "(info)"
                    if m.higher_is_better is None
                    else "(higher better)"
                    if m.higher_is_better
                    else "(lower better)"
                )
                row.append("")
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    align_left = {0, 1, 5, 6}

    def fmt_row(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i in align_left else c.rjust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    lines = [fmt_row(header), fmt_row(["-" * w for w in widths])]
    lines += [fmt_row(r) for r in rows]
    return lines


def render_phases(targets: Sequence[Target]) -> list[str]:
    """Per-phase resource usage: wall time, CPU (% of one core), peak RSS/PSS, process count."""
    lines = [
        "phase resources (CPU in % of one core, 200% = both cores; RSS/PSS summed over the server's process tree):"
    ]
    header = ["server", "phase", "wall s", "srv CPU%", "cli CPU%", "other%", "irq%", "steal%"]
    header += ["RSS MiB", "PSS MiB", "procs"]
    rows: list[list[str]] = []
    for t in targets:
        for ph in t.monitor.phases:
            cpu = [ph.pct(x) for x in (ph.server_cpu, ph.client_cpu, ph.other_cpu, ph.irq_cpu, ph.steal_cpu)]
            mem = [ph.peak_rss / MiB, ph.peak_pss / MiB]
            rows.append([t.name, ph.name, f"{ph.wall:.2f}"] + [f"{v:.0f}" for v in cpu + mem] + [str(ph.max_procs)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for cells in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(cells)))
    return lines


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

WORKLOADS: list[tuple[str, Callable[..., Awaitable[None]]]] = [
    ("blob push", bench_push),
    ("large blob pull", bench_pull_large),
    ("small blob pulls", bench_pull_small),
    ("manifests", bench_manifests),
    ("tags list", bench_tags),
]


async def run(args: argparse.Namespace, command: str) -> int:
    """Start the servers, run every workload on each, print the report."""
    prof = QUICK if args.quick else FULL
    names = [args.only] if args.only else list(SERVERS)
    base = Path(tempfile.mkdtemp(prefix="moorage-bench-", dir=args.workdir))
    servers: list[ServerProcess] = []
    targets: list[Target] = []
    payload: Payload | None = None
    failure: str | None = None
    t_start = time.perf_counter()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    dog = asyncio.create_task(watchdog())
    try:
        log(f"workspace {base}; generating {fmt_size(prof.push_large)} of random payload ...")
        payload = Payload(base / "payload.bin", [prof.push_small, prof.push_large])
        for name in names:
            wd = base / name
            wd.mkdir()
            srv = moorage_server(wd) if name == "moorage" else reference_server(wd, args.reference_bin)
            log(f"starting {name}: {shlex.join(srv.argv)}")
            srv.start()
            servers.append(srv)
        for srv in servers:
            t0 = time.perf_counter()
            await srv.wait_ready(args.ready_timeout)
            log(f"{srv.name} ready on {HOST}:{srv.port} (pid {srv.pid}) after {time.perf_counter() - t0:.1f}s")
            auth = None
            if srv.name == "moorage":  # a client's set-up: discover the token service, get a token per repository
                auth = TokenAuth(HOST, srv.port, ADMIN_USER, ADMIN_PASSWORD)
                await auth.login(f"repository:{r}:pull,push" for r in (REPO_PUSH, REPO_SMALL, REPO_MANIFEST, REPO_TAGS))
            mon = ResourceMonitor(srv.pid, wait_quiet=args.wait_quiet)
            t = Target(name=srv.name, server=srv, monitor=mon, pool=ConnPool(HOST, srv.port, 4, auth), auth=auth)
            with mon.phase("idle") as ph:
                await asyncio.sleep(0.3)
            t.results["rss_idle"] = ph.peak_rss / MiB
            targets.append(t)
        for wname, fn in WORKLOADS:
            for t in targets:
                log(f"[{t.name}] {wname}")
                try:
                    if fn is bench_push:
                        await fn(t, prof, payload)
                    else:
                        await fn(t, prof)
                except (BenchError, OSError, TimeoutError) as exc:
                    t.server.check_alive()
                    raise BenchError(f"[{t.name}] {wname}: {exc}") from exc
    except BenchError as exc:
        failure = str(exc)
    finally:
        dog.cancel()
        for t in targets:
            t.pool.close()
            if t.auth is not None:
                t.auth.close()
        for srv in servers:
            srv.stop()
        if payload is not None:
            payload.close()
        if args.keep:
            log(f"kept workspace {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    results = {t.name: t.results for t in targets}
    out = [
        f"command: {command}",
        f"profile: {prof.name}; load average at start: {load_at_start}; servers:",
    ]
    out += [f"  {s.name}: {shlex.join(s.argv)}" for s in servers]
    out.append(
        "client: raw asyncio HTTP/1.1 (BufferedProtocol, keep-alive, 1 connection per worker);"
        " MB = 10^6 bytes; throughputs are medians over repetitions; ratio M/R = moorage/reference"
    )
    out += [
        f"auth [{t.name}]: "
        + ("none" if t.auth is None else f"bearer token on every request ({t.auth.fetched} token(s) fetched)")
        for t in targets
    ]
    out.append("")
    if targets:
        out += render_table(prof, results)
        checks = absolute_checks(prof, results)
        if checks:
            out += ["", *checks]
        for t in targets:
            for note in t.notes:
                out.append(f"note [{t.name}]: {note}")
        out += ["", *render_phases(targets)]
        noisy = [
            f"{t.name}/{ph.name}: other processes {ph.pct(ph.other_cpu):.0f}%"
            + (f" ({ph.other_top})" if ph.other_top else "")
            + f", steal {ph.pct(ph.steal_cpu):.0f}%"
            for t in targets
            for ph in t.monitor.phases
            if ph.wall >= 0.5 and max(ph.pct(ph.other_cpu), ph.pct(ph.steal_cpu)) > NOISY_OTHER_CPU_PCT
        ]
        if noisy:
            out.append(
                f"WARNING: other processes (or steal) used > {NOISY_OTHER_CPU_PCT}% of a core during these phases"
                " -- the machine was not quiet; rerun before trusting their figures:"
            )
            out += [f"  {n}" for n in noisy]
    out.append(f"\ntotal wall time {time.perf_counter() - t_start:.0f}s")
    if failure:
        out.append(f"\nBENCHMARK FAILED: {failure}")
    print("\n".join(out), flush=True)

    if args.json:
        doc = {
            "command": command,
            "profile": prof.__dict__,
            "servers": {s.name: s.argv for s in servers},
            "results": results,
            "ratios": {
                k: results["moorage"][k] / v
                for k, v in results.get("reference", {}).items()
                if "moorage" in results and results["moorage"].get(k) and v
            },
            "phases": {t.name: {p.name: p.as_dict() for p in t.monitor.phases} for t in targets},
            "notes": {t.name: t.notes for t in targets},
            "failure": failure,
        }
        Path(args.json).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        log(f"wrote {args.json}")
    return 1 if failure else 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes/counts (< 2 min, smoke test)")
    p.add_argument("--only", choices=SERVERS, help="benchmark only this server")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.add_argument("--reference-bin", default="docker-registry", help="distribution binary")
    p.add_argument("--workdir", default=None, help="parent of the temp workspace (default $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the workspace (logs, storage)")
    p.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for /v2/")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help=f"before each timed phase wait up to S seconds for other processes to use < {QUIET_PCT:g}%% CPU",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}", flush=True)
    if args.only != "moorage" and shutil.which(args.reference_bin) is None:
        print(f"error: {args.reference_bin} not found (apt-get install docker-registry)")
        return 2
    return asyncio.run(run(args, command))


if __name__ == "__main__":
    sys.exit(main())
