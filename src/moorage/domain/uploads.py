"""Blob uploads and blob reads/deletes for the registry edge.

A session is a DB row plus bytes in storage; every PATCH appends, hashes inline, and
records the acknowledged size and digest state, so any replica can continue it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterable
from datetime import timedelta

import structlog

from moorage.core.errors import oci_error
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain import blobs as lifecycle
from moorage.domain.audit import SYSTEM, Actor
from moorage.domain.projects import ProjectService
from moorage.domain.quotas import QuotaExceeded, QuotaService
from moorage.metadata.models import Upload
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import projects as pq
from moorage.oci.digest import Digest
from moorage.oci.uploads import upload_headers
from moorage.storage.blobs import BlobStore, Progress, UploadInterrupted
from moorage.storage.driver import PathNotFound

log = structlog.get_logger(__name__)


class UploadService:
    def __init__(self, db: Database, store: BlobStore, projects: ProjectService, quotas: QuotaService) -> None:
        self.db = db
        self.store = store
        self.projects = projects
        self.quotas = quotas

    async def start(self, repository: str) -> str:
        project_id = await self.projects.project_for_push(repository)
        upload_id = str(uuid.uuid4())
        async with self.db.write() as uow:
            await bq.create_upload(uow.conn, upload_id, repository, project_id)
        return upload_id

    async def offset(self, repository: str, upload_id: str) -> int:
        async with self.db.read() as conn:
            upload = await bq.find_upload(conn, upload_id, repository)
        if upload is None:
            raise _unknown(upload_id)
        return upload.offset

    async def patch(
        self, repository: str, upload_id: str, body: AsyncIterable[bytes], start: int | None, actor: Actor = SYSTEM
    ) -> int:
        """Append a chunk; ``start`` is Content-Range's first byte (416 on a gap). Returns the size."""
        upload = await self._get(repository, upload_id)
        _check_start(repository, upload, start)
        progress = await self._append(upload.id, body, upload.offset, upload.hash_state, None)
        async with self.db.write() as uow:
            await bq.advance_upload(uow.conn, upload.id, upload.offset, progress.size, progress.hash_state)
        # Acknowledged first, so a refused session stays consistent: cancelable, or resumable
        # once the limit is raised.
        await self.quotas.check_room(upload.project_id, repository, progress.size, actor=actor)
        return progress.size

    async def finish(
        self, repository: str, upload_id: str, digest: Digest, body: AsyncIterable[bytes], start: int | None = None,
        actor: Actor = SYSTEM,
    ) -> None:
        """Append the last chunk (if any), verify ``digest`` and make the blob visible."""
        upload = await self._get(repository, upload_id)
        _check_start(repository, upload, start)
        await self.quotas.check_room(upload.project_id, repository, upload.offset, str(digest), actor)
        # The row is claimed before the bytes move into place, so a collector deleting an old
        # copy of the same blob finishes first and cannot delete the new bytes (domain/gc.py).
        claimed = await lifecycle.claim(self.db, str(digest))
        try:
            progress = await self._append(upload.id, body, upload.offset, upload.hash_state, digest)
        except PathNotFound:  # the bytes vanished while moved into place: a zero-window collector took the claim
            async with self.db.write() as uow:
                await bq.delete_upload(uow.conn, upload.id)
            raise lifecycle.collected(str(digest)) from None
        try:
            await self._register(repository, upload.project_id, str(digest), progress.size, upload.id, actor, claimed)
        except QuotaExceeded:
            await self._refused(str(digest), progress.size)
            raise

    async def monolithic(self, repository: str, digest: Digest, body: AsyncIterable[bytes],
                         actor: Actor = SYSTEM) -> None:
        """POST ?digest=: the whole blob in one request."""
        upload_id = await self.start(repository)
        try:
            await self.finish(repository, upload_id, digest, body, actor=actor)
        except QuotaExceeded:  # the client never saw this session
            await self.cancel(repository, upload_id)
            raise

    async def cancel(self, repository: str, upload_id: str) -> None:
        upload = await self._get(repository, upload_id)
        await self.store.discard(upload.id)
        async with self.db.write() as uow:
            await bq.delete_upload(uow.conn, upload.id)

    async def mount(self, repository: str, digest: str, source: str | None, actor: Actor = SYSTEM) -> bool:
        """Link an existing blob into ``repository``; False when it cannot be mounted.

        With ``source`` the blob must be linked to that repository; without it, the blob
        must already be held by the target project (no cross-project discovery by digest).
        """
        project_id = await self.projects.project_for_push(repository)
        async with self.db.read() as conn:
            if source:  # the row linked there (a placeholder an upload just claimed has no links)
                found = await bq.find_repository_blob(conn, source, digest)
            else:
                found = await bq.find_project_blob(conn, project_id, digest)
        if found is None or await self.store.size(digest) is None:
            return False
        async with self.quotas.write(project_id, repository, digest, actor) as uow:
            repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
            if not await bq.touch_blob(uow.conn, found):  # being garbage collected: upload it instead
                return False
            await bq.link_blob(uow.conn, found.id, repo_id, project_id)
        return True

    async def purge_expired(self, max_age_hours: float) -> int:
        """Delete sessions untouched for ``max_age_hours`` and their bytes; returns how many."""
        before = utcnow() - timedelta(hours=max_age_hours)
        async with self.db.read() as conn:
            expired = await bq.list_expired_uploads(conn, before)
        for upload_id in expired:
            await self.store.discard(upload_id)
            async with self.db.write() as uow:
                await bq.delete_upload(uow.conn, upload_id)
        if expired:
            log.info("uploads_purged", count=len(expired))
        return len(expired)

    async def _get(self, repository: str, upload_id: str) -> Upload:
        async with self.db.read() as conn:
            upload = await bq.find_upload(conn, upload_id, repository)
        if upload is None:
            raise _unknown(upload_id)
        return upload

    async def _append(
        self, upload_id: str, body: AsyncIterable[bytes], offset: int, state: bytes | None, digest: Digest | None
    ) -> Progress:
        try:
            return await self.store.append(upload_id, body, offset, state, digest)
        except UploadInterrupted:
            async with self.db.write() as uow:
                await bq.delete_upload(uow.conn, upload_id)
            raise oci_error(
                "BLOB_UPLOAD_UNKNOWN",
                "the upload was interrupted and cannot continue; start a new upload",
                detail={"uuid": upload_id},
            ) from None
        except Exception as exc:
            if getattr(exc, "code", None) == "DIGEST_INVALID":
                async with self.db.write() as uow:
                    await bq.delete_upload(uow.conn, upload_id)
            raise

    async def _register(self, repository: str, project_id: int, digest: str, size: int, upload_id: str,
                        actor: Actor = SYSTEM, claimed: bq.Claim | None = None) -> None:
        deadline = time.monotonic() + lifecycle.CLAIM_WAIT_SECONDS
        while True:
            async with self.quotas.write(project_id, repository, digest, actor) as uow:
                repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
                blob_id = await lifecycle.settle(uow.conn, self.store, claimed, digest, size)
                if blob_id is not None:
                    await bq.link_blob(uow.conn, blob_id, repo_id, project_id)
                    await bq.delete_upload(uow.conn, upload_id)
                    return
            if time.monotonic() > deadline:  # an older copy is still being deleted
                raise lifecycle.collected(digest)
            claimed = None
            await asyncio.sleep(0.1)

    async def _refused(self, digest: str, size: int) -> None:
        """A refused upload's bytes are already in place, its row claimed: record the size, so
        garbage collection reclaims them (deleting them here could race a push of the same blob)."""
        async with self.db.write() as uow:
            await bq.set_blob_size(uow.conn, digest, size)


def _unknown(upload_id: str) -> Exception:
    return oci_error("BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} unknown", detail={"uuid": upload_id})


def _check_start(repository: str, upload: Upload, start: int | None) -> None:
    if start is not None and start != upload.offset:
        raise oci_error(
            "BLOB_UPLOAD_INVALID",
            f"chunk starts at {start} but the upload has {upload.offset} bytes",
            status=416,
            headers=upload_headers(repository, upload.id, upload.offset),
        )


