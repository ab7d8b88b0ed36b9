"""A client for remote registries speaking the OCI distribution API: Moorage and Harbor
(type ``harbor``), distribution (``docker-registry``) and any other OCI registry (``oci``).
Replication copies through it and proxy-cache projects fetch through it.

- **Auth.** A 401 with a ``Bearer`` challenge starts the Docker token flow: the endpoint's
  credentials (Basic) are sent to the realm for the challenged service and the scope the request
  needs; the token is kept per scope until it expires.  A ``Basic`` challenge is answered with
  Basic credentials.  Credential type ``oauth`` sends the stored token as a Bearer token as-is.
- **SSRF.** Every request, including each redirect target (S3 presigned blob URLs), passes the
  ``OutboundGuard`` and connects to the address the guard checked (the URL's host is kept in the
  Host header and for TLS), so a name that re-resolves elsewhere cannot redirect it.
- **Errors** are typed: ``RemoteNotFound``, ``RemoteDenied`` (credentials or permission),
  ``RemoteUnavailable`` (cannot connect, timeout, 5xx, 429; retryable), ``RemoteRefused`` (the
  guard), ``RemoteError`` otherwise.  The client itself never retries; jobs do, with backoff.
- **Bandwidth.** ``speed_kib`` > 0 caps blob reads and uploads through this client.
- **Paging.** Catalog and tag lists are read ``page_size`` at a time following ``Link`` headers
  (Harbor pain point 21: page size 10 meant thousands of calls).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
import orjson

from moorage.core.errors import BadRequest
from moorage.domain.outbound import Destination, OutboundGuard, OutboundRefused

MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.artifact.manifest.v1+json",
])
USER_AGENT = "moorage-replication"
READ_CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


# Errors --------------------------------------------------------------------------------------


class RemoteError(Exception):
    """A remote registry did not do what was asked; ``message`` says what and why."""

    retryable = False

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class RemoteNotFound(RemoteError):
    pass


class RemoteDenied(RemoteError):
    pass


class RemoteRefused(RemoteError):
    pass


class RemoteUnavailable(RemoteError):
    retryable = True

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status, code)
        self.retry_after = retry_after


# Values --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a client needs to reach a registry (credentials decrypted)."""

    url: str
    type: str = "oci"
    username: str = ""
    password: str = ""
    credential_type: str = "basic"
    insecure: bool = False
    ca_bundle: str | None = None

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    digest: str
    media_type: str
    size: int
    content: bytes = b""


@dataclass(slots=True)
class BlobStream:
    """A blob being read: ``size`` is the whole blob's, ``offset`` where ``chunks`` start."""

    size: int
    offset: int
    chunks: AsyncIterator[bytes]


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


@dataclass(slots=True)
class RateLimiter:
    """Caps bytes per second, shared by every transfer of one client.  Credit saved while idle
    is capped at ``burst_seconds``, so a transfer after a pause cannot run unthrottled."""

    bytes_per_second: float
    burst_seconds: float = 0.5
    next: float = field(default_factory=time.monotonic)  # when the bytes taken so far are paid for

    async def take(self, n: int) -> None:
        now = time.monotonic()
        self.next = max(self.next, now - self.burst_seconds) + n / self.bytes_per_second
        if self.next > now:
            await asyncio.sleep(self.next - now)


def _verify(endpoint: Endpoint) -> ssl.SSLContext | bool:
    if endpoint.insecure:
        return False
    if endpoint.ca_bundle:
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cadata=endpoint.ca_bundle)
        except (ssl.SSLError, ValueError) as exc:
            raise RemoteError(f"the endpoint's CA bundle is not valid PEM: {exc}") from None
        return context
    return True


def _oci_errors(response: httpx.Response) -> tuple[str | None, str]:
    """(first error code, a readable message) from an OCI error body, if it is one."""
    try:
        body = orjson.loads(response.content)
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            return first.get("code"), "; ".join(str(e.get("message") or e.get("code")) for e in errors)
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        pass
    text = response.content[:200].decode("utf-8", "replace").strip()
    return None, text or response.reason_phrase


class RemoteRegistry:
    def __init__(self, endpoint: Endpoint, guard: OutboundGuard, *, timeout: float = 60.0, speed_kib: int = 0,
                 max_connections: int = 10, page_size: int = 1000, rate_limit_wait: float = 0.0) -> None:
        """``rate_limit_wait``: seconds a request may spend waiting out 429 answers (honouring
        Retry-After) before RemoteUnavailable; 0 answers at once (the proxy cache serves its
        cached copy instead), replication waits (Harbor pain point 20)."""
        self.endpoint = endpoint
        self.rate_limit_wait = rate_limit_wait
        self.guard = guard
        self.page_size = page_size
        self.limiter = RateLimiter(speed_kib * 1024.0) if speed_kib > 0 else None
        self._http = httpx.AsyncClient(
            verify=_verify(endpoint), timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": USER_AGENT},
        )
        self._tokens: dict[str, _Token] = {}
        self._challenge: tuple[str, dict[str, str]] | None = None  # scheme, params
        self._destinations: dict[tuple[str, str, int], Destination] = {}

    async def __aenter__(self) -> RemoteRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # Transport: guard, pinning, redirects ------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.endpoint.base + "/", path.lstrip("/")) if not path.startswith("http") else path

    async def _destination(self, url: str) -> Destination:
        try:
            scheme, host, port = OutboundGuard.parse(url)
        except BadRequest as exc:
            raise RemoteError(exc.message) from None
        key = (scheme, host, port)
        found = self._destinations.get(key)
        if found is None:
            try:
                found = await self.guard.resolve(url)
            except OutboundRefused as exc:
                raise RemoteRefused(exc.message) from None
            except BadRequest as exc:  # does not resolve: DNS may come back
                raise RemoteUnavailable(exc.message) from None
            self._destinations[key] = found
        return found

    async def _send_once(self, method: str, url: str, headers: dict[str, str], content: Any, stream: bool
                         ) -> httpx.Response:
        dest = await self._destination(url)
        target = httpx.URL(url)
        failure: Exception | None = None
        for address in dest.addresses:
            extensions: dict[str, Any] = {}
            if dest.scheme == "https" and dest.host not in dest.addresses:
                extensions["sni_hostname"] = dest.host
            request = self._http.build_request(
                method, target.copy_with(host=address), content=content,
                headers={**headers, "Host": target.netloc.decode("ascii")}, extensions=extensions)
            try:
                return await self._http.send(request, stream=stream)
            except httpx.ConnectError as exc:
                failure = exc
            except httpx.TimeoutException as exc:
                raise RemoteUnavailable(f"{method} {url}: timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise RemoteUnavailable(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        raise RemoteUnavailable(f"{method} {url}: cannot connect: {failure or 'no address'}")

    async def _send(self, method: str, url: str, headers: dict[str, str], content: Any = None,
                    stream: bool = False) -> httpx.Response:
        """One request, following redirects of GET/HEAD (each target checked; credentials are
        not sent to another host)."""
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._send_once(method, url, headers, content, stream)
            if method not in ("GET", "HEAD") or response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("location")
            await response.aclose()
            if not location:
                raise RemoteError(f"{method} {url}: redirect without a Location", response.status_code)
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise RemoteError(f"{method} {url}: too many redirects")

    # Auth ---------------------------------------------------------------------------------------

    def _basic(self) -> str | None:
        if not self.endpoint.username and not self.endpoint.password:
            return None
        pair = f"{self.endpoint.username}:{self.endpoint.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _authorization(self, scope: str) -> str | None:
        if self.endpoint.credential_type == "oauth" and self.endpoint.password:
            return f"Bearer {self.endpoint.password}"
        if self._challenge is None:
            return None
        scheme, _ = self._challenge
        if scheme == "basic":
            return self._basic()
        token = self._tokens.get(scope)
        if token is not None and token.expires > time.monotonic():
            return f"Bearer {token.value}"
        return None

    async def _fetch_token(self, scope: str) -> None:
        assert self._challenge is not None
        params = self._challenge[1]
        realm = params.get("realm")
        if not realm:
            raise RemoteDenied("the registry asked for a token but named no realm")
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query.extend(("scope", s) for s in scope.split(" ") if s)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        headers: dict[str, str] = {}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        response = await self._send("GET", url, headers)
        if response.status_code in (401, 403):
            raise RemoteDenied(f"the token service at {realm} refused the credentials of {self.endpoint.username!r}",
                               response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            raise RemoteUnavailable(f"the token service at {realm} answered {response.status_code}",
                                    response.status_code)
        if response.status_code != 200:
            raise RemoteError(f"the token service at {realm} answered {response.status_code}", response.status_code)
        try:
            body = orjson.loads(response.content)
            value = str(body.get("token") or body.get("access_token"))
            lifetime = float(body.get("expires_in") or 60)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise RemoteError(f"the token service at {realm} answered something that is not a token") from None
        self._tokens[scope] = _Token(value, time.monotonic() + max(lifetime - 10, 5))

    def _learn_challenge(self, header: str) -> bool:
        scheme, _, rest = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme not in ("bearer", "basic"):
            return False
        params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _CHALLENGE_PARAM.finditer(rest)}
        self._challenge = (scheme, params)
        return True

    async def request(self, method: str, path: str, scope: str, *, headers: dict[str, str] | None = None,
                      content: Any = None, stream: bool = False, replayable: bool = True) -> httpx.Response:
        """A request with authentication (answering one challenge).  ``content`` that cannot be
        sent twice (a stream) is not replayed: authenticate first with a cheap request."""
        waited = 0.0
        while True:
            response = await self._authenticated(method, path, scope, headers, content, stream, replayable)
            if response.status_code != 429 or not replayable:
                return response
            try:
                delay = float(response.headers.get("retry-after", "1"))
            except ValueError:
                delay = 1.0
            delay = max(delay, 0.1)
            if waited + delay > self.rate_limit_wait:
                return response
            await response.aclose()
            await asyncio.sleep(delay)
            waited += delay

    async def _authenticated(self, method: str, path: str, scope: str, headers: dict[str, str] | None,
                             content: Any, stream: bool, replayable: bool) -> httpx.Response:
        url = self.url(path)
        base_headers = dict(headers or {})
        for attempt in range(2):
            sent = dict(base_headers)
            auth = self._authorization(scope)
            if auth:
                sent["Authorization"] = auth
            response = await self._send(method, url, sent, content, stream)
            if response.status_code != 401 or attempt == 1:
                return response
            challenge = response.headers.get("www-authenticate", "")
            await response.aclose()
            known = self._challenge
            if not self._learn_challenge(challenge):
                raise RemoteDenied(f"{method} {url}: 401 without a usable challenge", 401)
            if self._challenge and self._challenge[0] == "bearer":
                await self._fetch_token(scope)
            elif known == self._challenge and auth is not None:
                break  # Basic credentials already sent and refused
            if not replayable:
                raise RemoteDenied(f"{method} {url}: authentication needed before a streamed body", 401)
        raise RemoteDenied(f"{self.endpoint.base} refused the credentials of {self.endpoint.username!r}", 401)

    async def ensure_auth(self, scope: str) -> None:
        """Authenticate for ``scope`` ahead of a streamed upload (which cannot be replayed)."""
        response = await self.request("GET", "/v2/", scope)
        await response.aclose()
        if self._challenge and self._challenge[0] == "bearer" and scope not in self._tokens \
                and self.endpoint.credential_type != "oauth":
            await self._fetch_token(scope)

    async def _check(self, response: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        if response.status_code in ok:
            return response
        if not response.is_closed:
            await response.aread()
        code, message = _oci_errors(response)
        status = response.status_code
        text = f"{what}: {status} {code + ' ' if code else ''}{message}".strip()
        if status == 404:
            raise RemoteNotFound(text, status, code)
        if status in (401, 403):
            raise RemoteDenied(text, status, code)
        if status == 429 or status >= 500:
            retry_after: float | None = None
            with suppress(ValueError):
                retry_after = float(response.headers.get("retry-after", ""))
            raise RemoteUnavailable(text, status, code, retry_after)
        raise RemoteError(text, status, code)

    # Reads --------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """GET /v2/ and, if challenged, authenticate: a RemoteError says what is wrong."""
        response = await self.request("GET", "/v2/", "")
        await self._check(response, f"GET {self.endpoint.base}/v2/")
        if self._challenge and self._challenge[0] == "bearer" and self.endpoint.username \
                and self.endpoint.credential_type != "oauth" and "" not in self._tokens:
            await self._fetch_token("")  # proves the credentials even where /v2/ is open

    async def _paged(self, path: str, key: str, scope: str) -> list[str]:
        items: list[str] = []
        url: str | None = f"{path}?n={self.page_size}"
        while url:
            response = await self._check(await self.request("GET", url, scope), f"GET {path}")
            try:
                items.extend(orjson.loads(response.content).get(key) or [])
            except (orjson.JSONDecodeError, AttributeError) as exc:
                raise RemoteError(f"GET {path}: not a JSON list: {exc}") from None
            match = _LINK_NEXT.search(response.headers.get("link", ""))
            url = urljoin(self.url(path), match.group(1)) if match else None
        return items

    async def catalog(self) -> list[str]:
        return await self._paged("/v2/_catalog", "repositories", "registry:catalog:*")

    async def tags(self, repository: str) -> list[str]:
        return await self._paged(f"/v2/{repository}/tags/list", "tags", f"repository:{repository}:pull")

    async def get_manifest(self, repository: str, reference: str) -> ManifestInfo:
        what = f"GET manifest {repository}:{reference}" if ":" not in reference else f"GET {repository}@{reference}"
        response = await self._check(await self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", f"repository:{repository}:pull",
            headers={"Accept": MANIFEST_ACCEPT}), what)
        content = response.content
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if not media_type or media_type == "application/json":
            with suppress(orjson.JSONDecodeError, AttributeError):
                media_type = str(orjson.loads(content).get("mediaType") or media_type)
        if reference.startswith("sha256:") and digest != reference:
            raise RemoteError(f"{what}: content digest is {digest}, not {reference}")
        return ManifestInfo(digest, media_type, len(content), content)

    async def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        response = await self.request("HEAD", f"/v2/{repository}/manifests/{reference}",
                                      f"repository:{repository}:pull", headers={"Accept": MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        await self._check(response, f"HEAD manifest {repository}:{reference}")
        digest = response.headers.get("docker-content-digest")
        if not digest:  # some registries omit it on HEAD: ask for the body
            info = await self.get_manifest(repository, reference)
            return ManifestInfo(info.digest, info.media_type, info.size)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return ManifestInfo(digest, media_type, int(response.headers.get("content-length") or 0))

    async def blob_size(self, repository: str, digest: str) -> int | None:
        response = await self.request("HEAD", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull")
        if response.status_code == 404:
            return None
        await self._check(response, f"HEAD blob {repository}@{digest}")
        return int(response.headers.get("content-length") or 0)

    @asynccontextmanager
    async def read_blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[BlobStream]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = await self.request("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull",
                                      headers=headers, stream=True)
        try:
            await self._check(response, f"GET blob {repository}@{digest}", ok=(200, 206))
            skip = 0
            if response.status_code == 206:
                total = response.headers.get("content-range", "").rpartition("/")[2]
                size = int(total) if total.isdigit() else offset + int(response.headers.get("content-length") or 0)
            else:
                size = int(response.headers.get("content-length") or 0)
                skip = offset  # the Range was ignored: drop what the caller already has
            yield BlobStream(size, offset, self._chunks(response, skip))
        finally:
            await response.aclose()

    async def _chunks(self, response: httpx.Response, skip: int) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes(READ_CHUNK):
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                if self.limiter is not None:
                    await self.limiter.take(len(chunk))
                yield chunk
        except httpx.TimeoutException:
            raise RemoteUnavailable(f"reading {response.request.url.path}: timed out") from None
        except httpx.TransportError as exc:
            raise RemoteUnavailable(f"reading {response.request.url.path}: {type(exc).__name__}: {exc}") from None

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is ``digest``: the referrers API, or the
        referrers tag schema (``sha256-<hex>``) where the API is missing (distribution 2.8)."""
        response = await self.request("GET", f"/v2/{repository}/referrers/{digest}",
                                      f"repository:{repository}:pull",
                                      headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        if response.status_code == 200 and response.headers.get("content-type", "").startswith(
                "application/vnd.oci.image.index.v1+json"):
            return list(orjson.loads(response.content).get("manifests") or [])
        if response.status_code not in (200, 404, 405):
            await self._check(response, f"GET referrers {repository}@{digest}")
        try:
            index = await self.get_manifest(repository, digest.replace(":", "-"))
        except RemoteNotFound:
            return []
        return list(orjson.loads(index.content).get("manifests") or [])

    # Writes -------------------------------------------------------------------------------------

    def _push_scope(self, repository: str, extra: str = "") -> str:
        return f"repository:{repository}:pull,push" + (f" {extra}" if extra else "")

    async def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        response = await self._check(await self.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", self._push_scope(repository),
            headers={"Content-Type": media_type}, content=content), f"PUT manifest {repository}:{reference}",
            ok=(200, 201, 202))
        return response.headers.get("docker-content-digest") or "sha256:" + hashlib.sha256(content).hexdigest()

    async def delete_manifest(self, repository: str, reference: str) -> None:
        digest = reference
        if not reference.startswith("sha256:"):
            found = await self.head_manifest(repository, reference)
            if found is None:
                raise RemoteNotFound(f"{repository}:{reference} does not exist", 404)
            digest = found.digest
        scope = f"repository:{repository}:delete,pull,push" if self.endpoint.type == "harbor" \
            else f"repository:{repository}:*"
        await self._check(await self.request("DELETE", f"/v2/{repository}/manifests/{digest}", scope),
                          f"DELETE {repository}@{digest}", ok=(200, 202, 204))

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; True when the registry mounted it."""
        query = urlencode({"mount": digest, "from": from_repository})
        response = await self.request("POST", f"/v2/{repository}/blobs/uploads/?{query}",
                                      self._push_scope(repository, f"repository:{from_repository}:pull"))
        if response.status_code == 201:
            return True
        if response.status_code == 202:  # an upload was started instead: drop it
            location = response.headers.get("location")
            if location:
                await (await self.request("DELETE", self.url(location), self._push_scope(repository))).aclose()
            return False
        await self._check(response, f"mount {digest} into {repository}", ok=(201, 202))
        return False

    async def start_upload(self, repository: str) -> str:
        response = await self._check(await self.request(
            "POST", f"/v2/{repository}/blobs/uploads/", self._push_scope(repository)),
            f"start upload to {repository}", ok=(202,))
        location = response.headers.get("location")
        if not location:
            raise RemoteError(f"start upload to {repository}: no Location")
        return str(urljoin(self.endpoint.base + "/", location))

    async def upload_offset(self, repository: str, location: str) -> int | None:
        """Bytes the registry holds for an upload (None: the upload is gone)."""
        response = await self.request("GET", location, self._push_scope(repository))
        if response.status_code == 404:
            return None
        await self._check(response, f"upload status {repository}", ok=(204, 200))
        rng = response.headers.get("range", "")
        end = rng.rpartition("-")[2]
        if not end.isdigit():
            return 0
        # distribution answers "0-0" both for nothing and for one byte: assume nothing.
        return int(end) + 1 if int(end) > 0 else 0

    async def upload_chunk(self, repository: str, location: str, body: bytes | AsyncIterable[bytes], offset: int,
                           length: int) -> str:
        """PATCH ``length`` bytes at ``offset``; returns the next location."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        if length:
            headers["Content-Range"] = f"{offset}-{offset + length - 1}"
        response = await self.request("PATCH", location, self._push_scope(repository), headers=headers,
                                      content=self._limited(body), replayable=isinstance(body, bytes))
        await self._check(response, f"upload to {repository} at byte {offset}", ok=(202, 204))
        return str(urljoin(self.endpoint.base + "/", str(response.headers.get("location") or location)))

    async def _limited(self, body: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        if isinstance(body, bytes):
            for start in range(0, len(body), READ_CHUNK):
                piece = body[start:start + READ_CHUNK]
                if self.limiter is not None:
                    await self.limiter.take(len(piece))
                yield piece
            return
        async for piece in body:
            if self.limiter is not None:
                await self.limiter.take(len(piece))
            yield piece

    async def finish_upload(self, repository: str, location: str, digest: str, body: bytes = b"") -> None:
        if body and self.limiter is not None:  # the body is sent whole (replayable): pay for it first
            await self.limiter.take(len(body))
        url = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(body))}
        await self._check(await self.request("PUT", url, self._push_scope(repository), headers=headers,
                                             content=body), f"finish upload of {digest} to {repository}",
                          ok=(201, 204))

    async def record_referrer(self, repository: str, subject: str, descriptor: dict[str, Any]) -> None:
        """Make a pushed referrer discoverable: nothing to do where the referrers API answers;
        elsewhere (distribution 2.8) add its descriptor to the referrers tag schema's index
        (``sha256-<hex>``), as the distribution spec asks of clients."""
        response = await self.request("GET", f"/v2/{repository}/referrers/{subject}",
                                      f"repository:{repository}:pull",
                                      headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        await response.aread()
        if response.status_code == 200 and response.headers.get("content-type", "").startswith(
                "application/vnd.oci.image.index.v1+json"):
            return
        tag = subject.replace(":", "-")
        try:
            index = orjson.loads((await self.get_manifest(repository, tag)).content)
        except RemoteNotFound:
            index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
        manifests = list(index.get("manifests") or [])
        if any(d.get("digest") == descriptor.get("digest") for d in manifests):
            return
        index["manifests"] = [*manifests, descriptor]
        await self.put_manifest(repository, tag, orjson.dumps(index), "application/vnd.oci.image.index.v1+json")

    async def ensure_namespace(self, repository: str) -> None:
        """On a Moorage or Harbor, create the destination project (private) when it is missing,
        as Harbor's replication does; other registries create namespaces on push."""
        if self.endpoint.type != "harbor":
            return
        project = repository.split("/", 1)[0]
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        basic = self._basic()
        if basic:
            headers["Authorization"] = basic
        url = self.url("/api/v2.0/projects")
        body = orjson.dumps({"project_name": project, "metadata": {"public": "false"}})
        response = await self._send("POST", url, headers, body)
        if response.status_code in (201, 409):
            return
        if response.status_code in (401, 403):  # may not create projects: the push says whether it exists
            return
        await self._check(response, f"create project {project} at {self.endpoint.base}", ok=(201, 409))

    async def cancel_upload(self, repository: str, location: str) -> None:
        response = await self.request("DELETE", location, self._push_scope(repository))
        await response.aclose()
