"""Pull-through proxy-cache projects: a project bound to an upstream endpoint serves pulls of
``<project>/<upstream-repo>`` from its local copy, fetching what it lacks from upstream.

- **Manifests.** A miss is fetched upstream and served at once; a background task then caches
  it (its blobs first, through the same single-flight fetches clients use, then the manifest
  and tag through ``ManifestService.put``, so quota, immutability and GC locks apply).  A cached
  tag is re-validated with a HEAD upstream at most every ``manifest_check_seconds`` per
  (repository, reference) — Harbor HEADs on every pull and runs into rate limits.  When
  upstream is down, times out or answers 429, and when the image was removed upstream
  (Harbor's ``proxy_cache_local_on_not_found``, here the default), the cached copy is served.
- **Blobs.** A miss is streamed to the client while it is written to storage through the
  upload path (claim, digest verification, quota, link: nothing partial becomes visible);
  concurrent requests for one digest share one upstream fetch (in-process single flight; across
  processes the blob claim protocol keeps duplicate writes safe).
- **Limits.** ``proxy_speed_kb`` caps the project's upstream bandwidth and ``max_upstream_conn``
  its concurrent upstream requests (project metadata, as in Harbor).
- **Mirror mode.** With ``proxy.mirror_project`` set, a pull of a name that matches no local
  repository is answered as ``<mirror_project>/<name>`` (``mirror_name``), so registries.conf /
  registry-mirrors entries without a namespace can point at Moorage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

from moorage.config.settings import ProxySettings
from moorage.core.errors import MoorageError, oci_error
from moorage.db.engine import Database
from moorage.domain import blobs as lifecycle
from moorage.domain.audit import SYSTEM, Actor
from moorage.domain.blobs import BlobService
from moorage.domain.manifests import ManifestService
from moorage.domain.registries import RegistryService
from moorage.domain.remote import (
    ManifestInfo,
    RemoteError,
    RemoteNotFound,
    RemoteRegistry,
    RemoteUnavailable,
)
from moorage.domain.uploads import UploadService
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries import proxy as proxy_q
from moorage.metadata.queries.artifacts import StoredManifest
from moorage.oci.digest import is_digest, parse_digest
from moorage.oci.manifest import parse_manifest
from moorage.oci.names import project_of
from moorage.storage.blobs import BlobStore

log = structlog.get_logger(__name__)

PROJECT_TTL_SECONDS = 2.0  # how long a project's proxy binding and options are reused
CACHE_DELAY_SECONDS = 1.0  # background caching waits so that a client's own blob GETs stream (tee)
SUBSCRIBER_TIMEOUT_SECONDS = 30.0  # a client that reads nothing for this long is dropped from a tee
QUEUE_CHUNKS = 8
MIRROR_MEMORY_SECONDS = 600.0  # blobs of a name pulled through the mirror are rewritten for this long
DOCKER_HUB_HOSTS = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com"})
_TRUE = frozenset({"1", "t", "true"})


@dataclass(frozen=True, slots=True)
class ProxyProject:
    """A proxy-cache project and its options (from project metadata)."""

    id: int
    name: str
    registry_id: int
    speed_kib: int = 0  # proxy_speed_kb; 0 = unlimited
    max_connections: int = 0  # max_upstream_conn; 0 = default (10)
    local_on_not_found: bool = True  # proxy_cache_local_on_not_found

    def upstream_repository(self, repository: str, docker_hub: bool = False) -> str:
        """``<project>/<rest>`` → ``<rest>`` (``library/<rest>`` for a one-component name on Docker Hub)."""
        rest = repository[len(self.name) + 1:]
        return f"library/{rest}" if docker_hub and "/" not in rest else rest


@dataclass(frozen=True, slots=True)
class ProxiedManifest:
    digest: str
    media_type: str
    content: bytes


@dataclass(slots=True)
class ProxiedBlob:
    """A blob fetched for a client: ``stream`` tees the upstream bytes being stored; None means
    the blob is now local (serve it from storage)."""

    digest: str
    size: int
    stream: AsyncIterator[bytes] | None = None


def parse_options(metadata: dict[str, str]) -> tuple[int, int, bool]:
    def number(key: str) -> int:
        raw = metadata.get(key, "").strip()
        return int(raw) if raw.lstrip("-").isdigit() and int(raw) > 0 else 0

    local = metadata.get("proxy_cache_local_on_not_found", "true").strip().lower() in _TRUE
    return number("proxy_speed_kb"), number("max_upstream_conn"), local


@dataclass(slots=True)
class _Upstream:
    """The per-project upstream state: client (it caps the project's bandwidth), connection slots."""

    key: tuple[Any, ...]
    client: RemoteRegistry
    slots: asyncio.Semaphore
    docker_hub: bool


@dataclass(slots=True)
class _Flight:
    """One upstream fetch of a blob, shared by every request for that digest."""

    opened: asyncio.Future[int]
    subscribers: list[asyncio.Queue[bytes | BaseException | None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class ProxyCache:
    def __init__(self, db: Database, registries: RegistryService, store: BlobStore, uploads: UploadService,
                 settings: ProxySettings, manifests: ManifestService, blobs: BlobService) -> None:
        self.db = db
        self.registries = registries
        self.store = store
        self.uploads = uploads
        self.settings = settings
        self.manifests = manifests
        self.blobs = blobs
        self._projects: dict[str, tuple[float, ProxyProject | None]] = {}
        self._upstreams: dict[int, _Upstream] = {}
        self._checked: dict[tuple[int, str, str], float] = {}
        self._flights: dict[str, _Flight] = {}
        self._caching: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._mirrored: dict[str, float] = {}  # names whose manifests were pulled through the mirror

    # Which projects are proxies -----------------------------------------------------------------

    async def project(self, repository: str) -> ProxyProject | None:
        """The proxy-cache project ``repository`` belongs to, or None (a regular project)."""
        name = project_of(repository)
        now = time.monotonic()
        cached = self._projects.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.read() as conn:
            row = await proxy_q.find_project(conn, name)
        found = None
        if row is not None and row.registry_id is not None:
            speed, conns, local = parse_options(row.metadata)
            found = ProxyProject(row.id, row.name, row.registry_id, speed, conns, local)
        if len(self._projects) > 10_000:
            self._projects.clear()
        self._projects[name] = (now + PROJECT_TTL_SECONDS, found)
        return found

    async def mirror_name(self, name: str, blob: bool = False) -> str | None:
        """Mirror mode: ``<mirror_project>/<name>`` when ``name`` matches no local repository
        (and is not in the mirror project or another proxy-cache project already); else None.

        Blob requests are rewritten only when they cannot belong to a push into a local project
        (clients HEAD blobs before uploading them to a new repository): the name's project does
        not exist, or the name was just pulled through the mirror, or the mirror holds it."""
        mirror = self.settings.mirror_project
        if not mirror or project_of(name) == mirror or "/" in name and await self.project(name) is not None:
            return None
        async with self.db.read() as conn:
            if await pq.find_repository_id(conn, name) is not None:
                return None
            rewritten = f"{mirror}/{name}"
            now = time.monotonic()
            if not blob:
                if len(self._mirrored) > 10_000:
                    self._mirrored = {k: v for k, v in self._mirrored.items() if v > now}
                self._mirrored[name] = now + MIRROR_MEMORY_SECONDS
                return rewritten
            if self._mirrored.get(name, 0.0) > now or await proxy_q.find_project(conn, project_of(name)) is None \
                    or await pq.find_repository_id(conn, rewritten) is not None:
                return rewritten
        return None

    async def refuse_writes(self, repository: str, action: str) -> None:
        """Pushes and deletes through /v2 into a proxy-cache project: 403 DENIED."""
        project = await self.project(repository)
        if project is not None:
            raise oci_error("DENIED", f"project {project.name} is a proxy cache of registry {project.registry_id}: "
                            f"{action} is not allowed there (push to a regular project instead)",
                            detail={"name": repository})

    # Upstream client -----------------------------------------------------------------------------

    async def _upstream(self, project: ProxyProject) -> _Upstream:
        endpoint = await self.registries.endpoint(project.registry_id)
        conns = project.max_connections or 10
        key = (endpoint, conns, project.speed_kib)
        found = self._upstreams.get(project.id)
        if found is not None and found.key == key:
            return found
        client = self.registries.client(endpoint, max_connections=conns, speed_kib=project.speed_kib,
                                        timeout=self.settings.upstream_timeout_seconds)
        host = (urlsplit(endpoint.url).hostname or "").lower()
        upstream = _Upstream(key, client, asyncio.Semaphore(conns), host in DOCKER_HUB_HOSTS)
        self._upstreams[project.id] = upstream
        if found is not None:  # options changed: close the old client once its transfers are done
            self._spawn(self._close_later(found.client))
        return upstream

    async def _close_later(self, client: RemoteRegistry) -> None:
        await asyncio.sleep(self.settings.upstream_timeout_seconds * 4)
        await client.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("proxy_background_failed", error=str(exc), kind=type(exc).__name__)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for upstream in self._upstreams.values():
            await upstream.client.close()
        self._upstreams.clear()

    # Manifests -----------------------------------------------------------------------------------

    async def manifest(self, project: ProxyProject, repository: str, reference: str, *, record_pull: bool,
                       actor: Actor = SYSTEM) -> ProxiedManifest:
        """The manifest for a pull: cached when current (or upstream cannot say), else upstream's."""
        by_digest = is_digest(reference)
        key = (project.id, repository, reference)
        fresh = by_digest or time.monotonic() - self._checked.get(key, -1e18) < self.settings.manifest_check_seconds
        local = await self._local(repository, reference, record_pull and fresh, actor)
        if local is not None and fresh:
            return _proxied(local)
        upstream = await self._upstream(project)
        name = project.upstream_repository(repository, upstream.docker_hub)
        try:
            async with upstream.slots:
                if local is not None:
                    head = await upstream.client.head_manifest(name, reference)
                    self._mark_checked(key)
                    if head is None:
                        raise RemoteNotFound(f"{name}:{reference} is gone upstream", 404)
                    if head.digest == local.digest:
                        log.debug("proxy_manifest_current", repository=repository, reference=reference)
                        return _proxied(await self._local(repository, reference, record_pull, actor) or local)
                info = await upstream.client.get_manifest(name, reference)
        except RemoteNotFound as exc:
            if local is not None and project.local_on_not_found:
                log.info("proxy_serving_cached_not_found_upstream", repository=repository, reference=reference)
                return _proxied(await self._local(repository, reference, record_pull, actor) or local)
            raise oci_error("MANIFEST_UNKNOWN", f"manifest {reference} not found in {repository} (upstream: "
                            f"{exc.message})", detail={"reference": reference}) from None
        except RemoteError as exc:
            if local is not None:
                log.info("proxy_serving_cached_upstream_failed", repository=repository, reference=reference,
                         error=exc.message)
                self._mark_checked(key)
                return _proxied(await self._local(repository, reference, record_pull, actor) or local)
            raise _upstream_error(exc) from None
        self._mark_checked(key)
        self._cache_later(project, repository, None if by_digest else reference, info)
        return ProxiedManifest(info.digest, info.media_type, info.content)

    def _mark_checked(self, key: tuple[int, str, str]) -> None:
        if len(self._checked) > 100_000:
            self._checked.clear()
        self._checked[key] = time.monotonic()

    async def _local(self, repository: str, reference: str, record_pull: bool, actor: Actor
                     ) -> StoredManifest | None:
        try:
            return await self.manifests.get(repository, reference, record_pull=record_pull, actor=actor)
        except MoorageError as exc:
            if exc.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"):
                return None
            raise

    def _cache_later(self, project: ProxyProject, repository: str, tag: str | None, info: ManifestInfo) -> None:
        key = (repository, tag or info.digest)
        running = self._caching.get(key)
        if running is not None and not running.done():
            return
        task = self._spawn(self._cache_manifest(project, repository, tag, info, CACHE_DELAY_SECONDS))
        self._caching[key] = task
        task.add_done_callback(lambda _: self._caching.pop(key, None))

    async def _cache_manifest(self, project: ProxyProject, repository: str, tag: str | None, info: ManifestInfo,
                              delay: float = 0.0) -> None:
        """Store an upstream manifest locally: its blobs (or child manifests) first, then itself."""
        if delay:
            await asyncio.sleep(delay)
        parsed = parse_manifest(info.content, info.media_type)
        if parsed.is_index:
            upstream = await self._upstream(project)
            name = project.upstream_repository(repository, upstream.docker_hub)
            for child in parsed.children:
                if await self._local(repository, child.digest, False, SYSTEM) is not None:
                    continue
                async with upstream.slots:
                    child_info = await upstream.client.get_manifest(name, child.digest)
                await self._cache_manifest(project, repository, None, child_info)
        for digest in lifecycle.blob_digests(parsed):
            await self.ensure_blob(project, repository, digest)
        try:
            await self.manifests.put(repository, tag or info.digest, info.content, info.media_type)
        except MoorageError as exc:  # an immutable tag, the quota...: keep serving from upstream
            log.warning("proxy_manifest_not_cached", repository=repository, reference=tag or info.digest,
                        code=exc.code, error=exc.message)
            return
        log.info("proxy_manifest_cached", repository=repository, digest=info.digest, tag=tag)

    # Tags ----------------------------------------------------------------------------------------

    async def tags(self, project: ProxyProject, repository: str) -> list[str]:
        """Upstream's tags (sorted); the cached ones when upstream cannot answer."""
        upstream = await self._upstream(project)
        name = project.upstream_repository(repository, upstream.docker_hub)
        try:
            async with upstream.slots:
                return sorted(set(await upstream.client.tags(name)))
        except RemoteNotFound:
            raise oci_error("NAME_UNKNOWN", f"repository {repository} not known upstream ({name})",
                            detail={"name": repository}) from None
        except RemoteError as exc:
            log.info("proxy_tags_from_cache", repository=repository, error=exc.message)
            return await self.manifests.tags(repository, None, None)

    # Blobs ---------------------------------------------------------------------------------------

    async def blob(self, project: ProxyProject, repository: str, digest: str, mode: str) -> ProxiedBlob:
        """A blob missing locally.  ``mode`` "stream" (a whole GET): lead the upstream fetch and
        receive a tee of it, or wait for the fetch under way; "fetch" (a Range GET): make it
        local first; "head": only its size.  Without ``stream`` the caller serves the local copy."""
        digest = str(parse_digest(digest))
        flight = self._flights.get(digest)
        try:
            if mode == "head":
                if flight is not None:
                    return ProxiedBlob(digest, await asyncio.shield(flight.opened))
                upstream = await self._upstream(project)
                name = project.upstream_repository(repository, upstream.docker_hub)
                async with upstream.slots:
                    size = await upstream.client.blob_size(name, digest)
                if size is None:
                    raise _blob_unknown(repository, digest)
                return ProxiedBlob(digest, size)
            if mode != "stream" or flight is not None:  # make it local (joining a fetch under way)
                await self.ensure_blob(project, repository, digest)
                return ProxiedBlob(digest, (await self.blobs.locate(repository, digest)).size)
            flight = self._start(project, repository, digest)
            queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(QUEUE_CHUNKS)
            flight.subscribers.append(queue)
            size = await asyncio.shield(flight.opened)
        except RemoteNotFound:
            raise _blob_unknown(repository, digest) from None
        except RemoteError as exc:
            raise _upstream_error(exc) from None
        return ProxiedBlob(digest, size, _drain(queue, flight))

    async def ensure_blob(self, project: ProxyProject, repository: str, digest: str) -> None:
        """Make the blob local to ``repository`` (mounting it from the project, or fetching it)."""
        with suppress(MoorageError):
            await self.blobs.locate(repository, digest)
            return
        if await self.uploads.mount(repository, digest, None):
            return
        flight = self._flights.get(digest) or self._start(project, repository, digest)
        assert flight.task is not None
        await asyncio.shield(flight.task)
        await self._link_or_fail(repository, digest)

    async def _link_or_fail(self, repository: str, digest: str) -> None:
        """After another request's fetch: the blob may have been linked to another repository of
        the project; link it here too."""
        try:
            await self.blobs.locate(repository, digest)
        except MoorageError:
            if not await self.uploads.mount(repository, digest, None):
                raise _blob_unknown(repository, digest) from None

    def _start(self, project: ProxyProject, repository: str, digest: str) -> _Flight:
        flight = _Flight(asyncio.get_running_loop().create_future())
        self._flights[digest] = flight
        flight.task = self._spawn(self._fetch(project, repository, digest, flight))
        return flight

    async def _fetch(self, project: ProxyProject, repository: str, digest: str, flight: _Flight) -> None:
        """Fetch one blob upstream and store it through the upload path, feeding the subscribers."""
        try:
            upstream = await self._upstream(project)
            name = project.upstream_repository(repository, upstream.docker_hub)
            async with upstream.slots, upstream.client.read_blob(name, digest) as source:
                flight.opened.set_result(source.size)
                upload_id = await self.uploads.start(repository)
                try:
                    await self.uploads.finish(repository, upload_id, parse_digest(digest),
                                              _tee(source.chunks, flight))
                except BaseException:
                    with suppress(Exception):
                        await self.uploads.cancel(repository, upload_id)
                    raise
            log.info("proxy_blob_cached", repository=repository, digest=digest, size=source.size)
        except asyncio.CancelledError:  # shutting down
            if not flight.opened.done():
                flight.opened.cancel()
            for queue in flight.subscribers:
                with suppress(asyncio.QueueFull):
                    queue.put_nowait(RuntimeError("the server is shutting down"))
            raise
        except Exception as exc:
            if not flight.opened.done():
                flight.opened.set_exception(exc)
                flight.opened.exception()  # retrieved: no "never retrieved" warning
            await _publish(flight, exc)
            raise
        finally:
            self._flights.pop(digest, None)


def _proxied(found: StoredManifest) -> ProxiedManifest:
    return ProxiedManifest(found.digest, found.media_type, found.content)


async def _tee(chunks: AsyncIterator[bytes], flight: _Flight) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        for queue in list(flight.subscribers):
            try:
                await asyncio.wait_for(queue.put(chunk), SUBSCRIBER_TIMEOUT_SECONDS)
            except TimeoutError:  # the client stopped reading: the cache goes on without it
                flight.subscribers.remove(queue)
        yield chunk
    # Every byte is out: the client may finish while the digest is verified and the blob linked.
    await _publish(flight, None)


async def _publish(flight: _Flight, item: BaseException | None) -> None:
    """The end of the stream (None) or its failure, to every subscriber still reading."""
    subscribers, flight.subscribers = flight.subscribers, []
    for queue in subscribers:
        with suppress(TimeoutError):
            await asyncio.wait_for(queue.put(item), SUBSCRIBER_TIMEOUT_SECONDS)


async def _drain(queue: asyncio.Queue[bytes | BaseException | None], flight: _Flight) -> AsyncIterator[bytes]:
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        with suppress(ValueError):
            flight.subscribers.remove(queue)


def _blob_unknown(repository: str, digest: str) -> MoorageError:
    return oci_error("BLOB_UNKNOWN", f"blob {digest} unknown to {repository} and upstream",
                     detail={"digest": digest})


def _upstream_error(exc: RemoteError) -> MoorageError:
    if isinstance(exc, RemoteUnavailable) and exc.status == 429:
        headers = {"retry-after": str(int(exc.retry_after))} if exc.retry_after else None
        return oci_error("TOOMANYREQUESTS", f"the upstream registry is rate limiting: {exc.message}",
                         headers=headers)
    return MoorageError(f"the upstream registry cannot serve this and nothing is cached: {exc.message}",
                        code="INTERNAL_ERROR", status=502)
