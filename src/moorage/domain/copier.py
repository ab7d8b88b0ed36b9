"""Copying one artifact between two registries ("sides"): this Moorage (``LocalSide``, domain
services, no HTTP) or a remote registry (``RemoteRegistry`` from ``domain/remote.py``).

Order, so that nothing half-copied is ever visible at the destination:

1. every blob the destination lacks (config, layers), each verified by the destination;
2. an index's children, depth first, each pushed by digest;
3. the artifact itself, by digest (untagged: invisible to ``docker pull name:tag``);
4. its referrers (signatures, SBOMs; recursively), by digest, after their subject;
5. last, the tags.

**Resuming a blob** (Harbor pain point 19): blobs larger than ``chunk_size`` go up in chunks,
one PATCH per ``chunk_size``, whenever the destination is known to take chunks (this Moorage,
``harbor`` and ``docker-registry`` endpoints) or the policy asks for ``copy_by_chunk``; a
generic ``oci`` endpoint without it gets one streamed PATCH.  Before each chunk the upload's
location and offset are checkpointed in the task's state; a retried attempt asks the
destination how much of that upload it holds and continues from there, reading the source
with a Range request — it does not start from zero.

**Loops stop**: an artifact the destination already holds under all the wanted tags is not
pushed again (no event, no further replication), so two instances replicating to each other
settle.  ``override=False`` leaves a destination tag that points elsewhere alone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from moorage.config.settings import ReplicationSettings
from moorage.core.errors import MoorageError
from moorage.db.engine import Database
from moorage.domain.audit import Actor
from moorage.domain.blobs import BlobService
from moorage.domain.manifests import ManifestService
from moorage.domain.projects import ProjectService
from moorage.domain.remote import (
    BlobStream,
    ManifestInfo,
    RemoteDenied,
    RemoteError,
    RemoteNotFound,
    RemoteRegistry,
    RemoteUnavailable,
)
from moorage.domain.uploads import UploadService
from moorage.metadata.queries import replicable as rq
from moorage.oci.digest import is_digest, parse_digest
from moorage.oci.names import project_of
from moorage.storage.blobs import BlobStore

REPLICATION_ACTOR = Actor("replication")
MAX_REFERRER_DEPTH = 4
LIST_CONCURRENCY = 8
REFERRERS_TAG = re.compile(r"sha256-[0-9a-f]{64}")
CHUNKING_TYPES = ("harbor", "docker-registry")  # endpoint types known to accept chunked uploads


class CopyStopped(Exception):  # noqa: N818 - a signal, not an error
    """The task was asked to stop between two steps (the job maps it to Stopped)."""


class CopyContext(Protocol):
    """What a copy needs from its task (``moorage.jobs.registry.TaskContext`` is one)."""

    state: dict[str, Any]

    async def log(self, line: str) -> None: ...

    async def checkpoint(self, state: dict[str, Any]) -> None: ...

    async def stopping(self) -> bool: ...


class Side(Protocol):
    """A registry as the copier sees it."""

    async def get_manifest(self, repository: str, reference: str) -> ManifestInfo: ...

    async def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None: ...

    async def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str: ...

    async def delete_manifest(self, repository: str, reference: str) -> None: ...

    async def blob_size(self, repository: str, digest: str) -> int | None: ...

    def read_blob(self, repository: str, digest: str, offset: int = 0
                  ) -> AbstractAsyncContextManager[BlobStream]: ...

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]: ...

    async def start_upload(self, repository: str) -> str: ...

    async def upload_offset(self, repository: str, location: str) -> int | None: ...

    async def upload_chunk(self, repository: str, location: str, body: bytes | AsyncIterable[bytes], offset: int,
                           length: int) -> str: ...

    async def finish_upload(self, repository: str, location: str, digest: str, body: bytes = b"") -> None: ...

    async def ensure_namespace(self, repository: str) -> None: ...

    async def record_referrer(self, repository: str, subject: str, descriptor: dict[str, Any]) -> None: ...

    async def tags(self, repository: str) -> list[str]: ...

    async def catalog(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class SourceArtifact:
    repository: str
    digest: str
    media_type: str
    tags: tuple[str, ...]
    labels: tuple[str, ...] = ()
    artifact_type: str | None = None


@dataclass(slots=True)
class CopyResult:
    digest: str = ""
    blobs_copied: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    manifests_copied: int = 0
    tags_pushed: list[str] = field(default_factory=list)
    tags_kept: list[str] = field(default_factory=list)  # pointing elsewhere, override off
    skipped: bool = False  # the destination already had everything
    resumed_from: int = 0  # bytes of a blob not sent again thanks to a resumed upload


def _blob_descriptors(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(doc.get("config"), dict):
        found.append(doc["config"])
    for key in ("layers", "blobs"):
        found.extend(d for d in doc.get(key) or [] if isinstance(d, dict))
    # Foreign layers (Windows base layers) live elsewhere; registries do not hold them.
    return [d for d in found if not d.get("urls") and "foreign" not in str(d.get("mediaType", ""))]


def _local_error(exc: MoorageError, what: str) -> RemoteError:
    message = f"{what}: {exc.message}"
    if exc.status == 404:
        return RemoteNotFound(message, exc.status, exc.code)
    if exc.status in (401, 403):
        return RemoteDenied(message, exc.status, exc.code)
    if exc.status >= 500 or exc.status == 429:
        return RemoteUnavailable(message, exc.status, exc.code)
    return RemoteError(message, exc.status, exc.code)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


class LocalSide:
    """This Moorage through its domain services: pushes obey quotas and immutability, are audited
    as ``replication`` and emit PUSH_ARTIFACT / DELETE_ARTIFACT (which chain replication on)."""

    def __init__(self, db: Database, store: BlobStore, uploads: UploadService, manifests: ManifestService,
                 blobs: BlobService, projects: ProjectService) -> None:
        self.db = db
        self.store = store
        self.uploads = uploads
        self.manifests = manifests
        self.blobs = blobs
        self.projects = projects

    async def _call(self, what: str, work: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await work()
        except MoorageError as exc:
            raise _local_error(exc, what) from None

    async def get_manifest(self, repository: str, reference: str) -> ManifestInfo:
        found = await self._call(f"manifest {repository}:{reference}",
                                 lambda: self.manifests.get(repository, reference, record_pull=False))
        return ManifestInfo(found.digest, found.media_type, len(found.content), found.content)

    async def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        try:
            info = await self.get_manifest(repository, reference)
        except RemoteNotFound:
            return None
        return ManifestInfo(info.digest, info.media_type, info.size)

    async def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        result = await self._call(f"push {repository}:{reference}", lambda: self.manifests.put(
            repository, reference, content, media_type, REPLICATION_ACTOR))
        return str(result.digest)

    async def delete_manifest(self, repository: str, reference: str) -> None:
        await self._call(f"delete {repository}:{reference}",
                         lambda: self.manifests.delete(repository, reference, REPLICATION_ACTOR))

    async def blob_size(self, repository: str, digest: str) -> int | None:
        try:
            return int((await self.blobs.locate(repository, digest)).size)
        except MoorageError as exc:
            if exc.status not in (404,):
                raise _local_error(exc, f"blob {digest}") from None
        # Held elsewhere in the project: link it instead of copying it again.
        try:
            if await self.uploads.mount(repository, digest, None, REPLICATION_ACTOR):
                return await self.store.size(digest)
        except MoorageError as exc:
            if exc.status != 404:
                raise _local_error(exc, f"mount {digest}") from None
        return None

    @asynccontextmanager
    async def read_blob(self, repository: str, digest: str, offset: int = 0) -> AsyncIterator[BlobStream]:
        loc = await self._call(f"blob {repository}@{digest}", lambda: self.blobs.locate(repository, digest))
        if loc.content is not None:
            yield BlobStream(loc.size, offset, _once(loc.content[offset:]))
            return
        yield BlobStream(loc.size, offset, self.store.read(loc.digest, offset))

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            return await rq.list_referrer_descriptors(conn, repository, digest)

    async def start_upload(self, repository: str) -> str:
        return str(await self._call(f"upload to {repository}", lambda: self.uploads.start(repository)))

    async def upload_offset(self, repository: str, location: str) -> int | None:
        try:
            return await self.uploads.offset(repository, location)
        except MoorageError as exc:
            if exc.status == 404:
                return None
            raise _local_error(exc, f"upload {location}") from None

    async def upload_chunk(self, repository: str, location: str, body: bytes | AsyncIterable[bytes], offset: int,
                           length: int) -> str:
        stream = _once(body) if isinstance(body, bytes) else body
        await self._call(f"upload to {repository} at byte {offset}", lambda: self.uploads.patch(
            repository, location, stream, offset, REPLICATION_ACTOR))
        return location

    async def finish_upload(self, repository: str, location: str, digest: str, body: bytes = b"") -> None:
        await self._call(f"finish upload of {digest}", lambda: self.uploads.finish(
            repository, location, parse_digest(digest), _once(body), None, REPLICATION_ACTOR))

    async def record_referrer(self, repository: str, subject: str, descriptor: dict[str, Any]) -> None:
        """Moorage indexes referrers itself (the referrers API)."""

    async def ensure_namespace(self, repository: str) -> None:
        """Pull-based replication creates the destination project (private) when missing."""
        await self.projects.ensure(project_of(repository), public=False)

    async def tags(self, repository: str) -> list[str]:
        async with self.db.read() as conn:
            found = await rq.list_replicable_artifacts(conn, [repository])
        return sorted({t for a in found for t in a.tags})

    async def catalog(self) -> list[str]:
        async with self.db.read() as conn:
            return await rq.list_repository_names(conn)


class ArtifactCopier:
    def __init__(self, settings: ReplicationSettings, db: Database, store: BlobStore, uploads: UploadService,
                 manifests: ManifestService, blobs: BlobService, projects: ProjectService) -> None:
        self.settings = settings
        self._local = LocalSide(db, store, uploads, manifests, blobs, projects)

    def local(self) -> LocalSide:
        return self._local

    def remote(self, client: RemoteRegistry) -> Side:
        return client

    # Listing --------------------------------------------------------------------------------

    async def list_artifacts(self, side: Side, repositories: list[str] | None) -> list[SourceArtifact]:
        """Top-level artifacts with their tags (and labels, locally) in ``repositories`` (None:
        every repository the side lists)."""
        if isinstance(side, LocalSide):
            async with side.db.read() as conn:
                rows = await rq.list_replicable_artifacts(conn, repositories)
            return [SourceArtifact(r.repository, r.digest, r.media_type, r.tags, r.labels, r.artifact_type)
                    for r in rows]
        names = repositories if repositories is not None else await side.catalog()
        found: list[SourceArtifact] = []
        limit = asyncio.Semaphore(LIST_CONCURRENCY)

        async def head(repository: str, tag: str) -> tuple[str, ManifestInfo | None]:
            async with limit:
                return tag, await side.head_manifest(repository, tag)

        for repository in names:
            try:
                tags = await side.tags(repository)
            except RemoteNotFound:
                continue
            by_digest: dict[str, tuple[str, list[str]]] = {}
            # The referrers tag schema's indexes travel with their subjects (copy_referrers).
            tags = [t for t in tags if not REFERRERS_TAG.fullmatch(t)]
            for tag, info in await asyncio.gather(*(head(repository, t) for t in tags)):
                if info is not None:
                    by_digest.setdefault(info.digest, (info.media_type, []))[1].append(tag)
            for digest, (media_type, digest_tags) in by_digest.items():
                found.append(SourceArtifact(repository, digest, media_type, tuple(sorted(digest_tags))))
        return found

    # Copying --------------------------------------------------------------------------------

    async def copy(self, src: Side, src_repo: str, reference: str, dst: Side, dst_repo: str, *,
                   tags: list[str], override: bool, chunked: bool, ctx: CopyContext) -> CopyResult:
        result = CopyResult()
        top = await src.get_manifest(src_repo, reference)
        result.digest = top.digest
        wanted = list(dict.fromkeys(tags))
        present = await dst.head_manifest(dst_repo, top.digest)
        current = {t: await dst.head_manifest(dst_repo, t) for t in wanted}
        if present is not None and all(c is not None and c.digest == top.digest for c in current.values()):
            await self._copy_referrers(src, src_repo, top.digest, dst, dst_repo, chunked, ctx, result, 0)
            result.skipped = result.manifests_copied == 0
            await ctx.log(f"{dst_repo}@{top.digest} is already at the destination"
                          + (f" with tags {', '.join(wanted)}" if wanted else "") + ": nothing to copy"
                          if result.skipped else f"{dst_repo}@{top.digest} present; copied new referrers")
            return result
        await dst.ensure_namespace(dst_repo)
        if present is None:
            await self._copy_tree(src, src_repo, top, dst, dst_repo, chunked, ctx, result)
        await self._copy_referrers(src, src_repo, top.digest, dst, dst_repo, chunked, ctx, result, 0)
        for tag in wanted:
            existing = current[tag]
            if existing is not None and existing.digest == top.digest:
                continue
            if existing is not None and not override:
                result.tags_kept.append(tag)
                await ctx.log(f"tag {dst_repo}:{tag} points to {existing.digest} at the destination and override "
                              "is off: left alone")
                continue
            await dst.put_manifest(dst_repo, tag, top.content, top.media_type)
            result.tags_pushed.append(tag)
            await ctx.log(f"tagged {dst_repo}:{tag} -> {top.digest}")
        await ctx.log(f"copied {src_repo}@{top.digest} to {dst_repo}: {result.manifests_copied} manifest(s), "
                      f"{result.blobs_copied} blob(s) ({result.bytes_copied} bytes), {result.blobs_skipped} blob(s) "
                      "already there")
        return result

    async def _check_stop(self, ctx: CopyContext) -> None:
        if await ctx.stopping():
            raise CopyStopped()

    async def _copy_tree(self, src: Side, src_repo: str, manifest: ManifestInfo, dst: Side, dst_repo: str,
                         chunked: bool, ctx: CopyContext, result: CopyResult) -> None:
        """Blobs and children of ``manifest``, then ``manifest`` by digest."""
        try:
            doc = orjson.loads(manifest.content)
        except orjson.JSONDecodeError:
            raise RemoteError(f"{src_repo}@{manifest.digest} is not JSON") from None
        if not isinstance(doc, dict):
            raise RemoteError(f"{src_repo}@{manifest.digest} is not a manifest")
        for child in doc.get("manifests") or []:
            digest = str(child.get("digest", ""))
            await self._check_stop(ctx)
            if await dst.head_manifest(dst_repo, digest) is not None:
                continue
            await self._copy_tree(src, src_repo, await src.get_manifest(src_repo, digest), dst, dst_repo, chunked,
                                  ctx, result)
        # Blobs go in parallel (as skopeo does), a few at a time; each resumes on its own.
        limit = asyncio.Semaphore(self.settings.parallel_blobs)

        async def one(desc: dict[str, Any]) -> None:
            async with limit:
                await self._check_stop(ctx)
                await self._copy_blob(src, src_repo, dst, dst_repo, str(desc["digest"]), int(desc.get("size") or 0),
                                      chunked, ctx, result)

        unique = list({str(d["digest"]): d for d in _blob_descriptors(doc)}.values())
        # Every blob finishes (or fails) before the first failure is raised: no copy keeps
        # running behind a failed task, and the others' progress is kept for the retry.
        outcomes = await asyncio.gather(*(one(d) for d in unique), return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
        await dst.put_manifest(dst_repo, manifest.digest, manifest.content, manifest.media_type)
        result.manifests_copied += 1

    async def _copy_referrers(self, src: Side, src_repo: str, subject: str, dst: Side, dst_repo: str, chunked: bool,
                              ctx: CopyContext, result: CopyResult, depth: int) -> None:
        if depth >= MAX_REFERRER_DEPTH:
            return
        for desc in await src.referrers(src_repo, subject):
            digest = str(desc.get("digest", ""))
            if not is_digest(digest):
                continue
            if await dst.head_manifest(dst_repo, digest) is None:
                await self._copy_tree(src, src_repo, await src.get_manifest(src_repo, digest), dst, dst_repo,
                                      chunked, ctx, result)
                await dst.record_referrer(dst_repo, subject, desc)
                await ctx.log(f"copied referrer {digest} ({desc.get('artifactType') or desc.get('mediaType')}) "
                              f"of {subject}")
            await self._copy_referrers(src, src_repo, digest, dst, dst_repo, chunked, ctx, result, depth + 1)

    async def _copy_blob(self, src: Side, src_repo: str, dst: Side, dst_repo: str, digest: str, size: int,
                         chunked: bool, ctx: CopyContext, result: CopyResult) -> None:
        if await dst.blob_size(dst_repo, digest) is not None:
            result.blobs_skipped += 1
            return
        chunk = self.settings.chunk_size
        saved = (ctx.state.get("uploads") or {}).get(digest) or {}
        location: str | None = None
        offset = 0
        if saved.get("repository") == dst_repo:
            held = await dst.upload_offset(dst_repo, str(saved["location"]))
            if held is not None:
                location, offset = str(saved["location"]), held
                if offset:
                    result.resumed_from += offset
                    await ctx.log(f"resuming blob {digest} at byte {offset} of {size}")
        if location is None:
            if size and size <= chunk:
                await self._copy_small(src, src_repo, dst, dst_repo, digest, ctx, result)
                return
            location = await dst.start_upload(dst_repo)
        await self._save(ctx, dst_repo, digest, location, offset)
        chunked = chunked or not isinstance(dst, RemoteRegistry) or dst.endpoint.type in CHUNKING_TYPES
        async with src.read_blob(src_repo, digest, offset) as stream:
            total = stream.size or size
            if chunked:
                # Pieces are kept as they arrive and joined once per chunk (one copy of each byte).
                pending: list[bytes] = []
                held = 0
                async for piece in stream.chunks:
                    pending.append(piece)
                    held += len(piece)
                    while held >= chunk:
                        data, pending = _split(pending, chunk)
                        held -= chunk
                        location = await dst.upload_chunk(dst_repo, location, data, offset, chunk)
                        offset += chunk
                        result.bytes_copied += chunk
                        await self._save(ctx, dst_repo, digest, location, offset)
                        await ctx.log(f"blob {digest}: {offset} of {total} bytes")
                        await self._check_stop(ctx)
                if held:
                    location = await dst.upload_chunk(dst_repo, location, b"".join(pending), offset, held)
                    offset += held
                    result.bytes_copied += held
                    await self._save(ctx, dst_repo, digest, location, offset)
            else:
                remaining = total - offset
                counted = _Counted(stream.chunks)
                location = await dst.upload_chunk(dst_repo, location, counted, offset, remaining)
                offset += counted.n
                result.bytes_copied += counted.n
                await self._save(ctx, dst_repo, digest, location, offset)
        await dst.finish_upload(dst_repo, location, digest)
        uploads = {k: v for k, v in (ctx.state.get("uploads") or {}).items() if k != digest}
        await ctx.checkpoint({**ctx.state, "uploads": uploads})
        result.blobs_copied += 1
        await ctx.log(f"copied blob {digest} ({total} bytes)")

    async def _copy_small(self, src: Side, src_repo: str, dst: Side, dst_repo: str, digest: str, ctx: CopyContext,
                          result: CopyResult) -> None:
        async with src.read_blob(src_repo, digest) as stream:
            data = b"".join([piece async for piece in stream.chunks])
        location = await dst.start_upload(dst_repo)
        await dst.finish_upload(dst_repo, location, digest, data)
        result.blobs_copied += 1
        result.bytes_copied += len(data)

    async def _save(self, ctx: CopyContext, repository: str, digest: str, location: str, offset: int) -> None:
        uploads = {**(ctx.state.get("uploads") or {}),
                   digest: {"repository": repository, "location": location, "offset": offset}}
        await ctx.checkpoint({**ctx.state, "uploads": uploads})

    # Deleting -------------------------------------------------------------------------------

    async def delete(self, dst: Side, dst_repo: str, reference: str, ctx: CopyContext) -> bool:
        """Delete ``reference`` (a digest deletes the artifact, a tag only the tag) at the
        destination; False when it was not there."""
        try:
            await dst.delete_manifest(dst_repo, reference)
        except RemoteNotFound:
            await ctx.log(f"{dst_repo}:{reference} is not at the destination: nothing to delete")
            return False
        await ctx.log(f"deleted {dst_repo}{'@' if is_digest(reference) else ':'}{reference} at the destination")
        return True


def _split(pieces: list[bytes], size: int) -> tuple[bytes, list[bytes]]:
    """The first ``size`` bytes of ``pieces`` joined, and the pieces after them."""
    taken: list[bytes] = []
    n = 0
    for i, piece in enumerate(pieces):
        if n + len(piece) < size:
            taken.append(piece)
            n += len(piece)
            continue
        cut = size - n
        taken.append(piece[:cut])
        rest = [piece[cut:]] if cut < len(piece) else []
        return b"".join(taken), rest + pieces[i + 1:]
    return b"".join(taken), []


class _Counted:
    """An async byte stream that counts what went through."""

    def __init__(self, inner: AsyncIterator[bytes]) -> None:
        self.inner = inner
        self.n = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._run()

    async def _run(self) -> AsyncIterator[bytes]:
        async for piece in self.inner:
            self.n += len(piece)
            yield piece
