"""Blob uploads and blob reads/deletes for the registry edge.

A session is a DB row plus bytes in storage; every PATCH appends, hashes inline, and
records the acknowledged size and digest state, so any replica can continue it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from datetime import timedelta

import structlog

from moorage.core.errors import oci_error
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.projects import ProjectService
from moorage.metadata.models import Upload
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import projects as pq
from moorage.oci.digest import Digest
from moorage.oci.uploads import upload_headers
from moorage.storage.blobs import BlobStore, Progress, UploadInterrupted

log = structlog.get_logger(__name__)


class UploadService:
    def __init__(self, db: Database, store: BlobStore, projects: ProjectService) -> None:
        self.db = db
        self.store = store
        self.projects = projects

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
        self, repository: str, upload_id: str, body: AsyncIterable[bytes], start: int | None
    ) -> int:
        """Append a chunk; ``start`` is Content-Range's first byte (416 on a gap). Returns the size."""
        upload = await self._get(repository, upload_id)
        _check_start(repository, upload, start)
        progress = await self._append(upload.id, body, upload.offset, upload.hash_state, None)
        async with self.db.write() as uow:
            await bq.advance_upload(uow.conn, upload.id, upload.offset, progress.size, progress.hash_state)
        return progress.size

    async def finish(
        self, repository: str, upload_id: str, digest: Digest, body: AsyncIterable[bytes], start: int | None = None
    ) -> None:
        """Append the last chunk (if any), verify ``digest`` and make the blob visible."""
        upload = await self._get(repository, upload_id)
        _check_start(repository, upload, start)
        progress = await self._append(upload.id, body, upload.offset, upload.hash_state, digest)
        await self._register(repository, upload.project_id, str(digest), progress.size, upload.id)

    async def monolithic(self, repository: str, digest: Digest, body: AsyncIterable[bytes]) -> None:
        """POST ?digest=: the whole blob in one request."""
        upload_id = await self.start(repository)
        await self.finish(repository, upload_id, digest, body)

    async def cancel(self, repository: str, upload_id: str) -> None:
        upload = await self._get(repository, upload_id)
        await self.store.discard(upload.id)
        async with self.db.write() as uow:
            await bq.delete_upload(uow.conn, upload.id)

    async def mount(self, repository: str, digest: str, source: str | None) -> bool:
        """Link an existing blob into ``repository``; False when it cannot be mounted.

        With ``source`` the blob must be linked to that repository; without it, the blob
        must already be held by the target project (no cross-project discovery by digest).
        """
        project_id = await self.projects.project_for_push(repository)
        async with self.db.read() as conn:
            if source:
                size = await bq.find_repository_blob_size(conn, source, digest)
                found = (await bq.find_blob(conn, digest)) if size is not None else None
            else:
                found = await bq.find_project_blob(conn, project_id, digest)
        if found is None or await self.store.size(digest) is None:
            return False
        async with self.db.write() as uow:
            repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
            await bq.link_blob(uow.conn, found[0], repo_id, project_id)
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

    async def _register(self, repository: str, project_id: int, digest: str, size: int, upload_id: str) -> None:
        async with self.db.write() as uow:
            repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
            blob_id = await bq.create_blob(uow.conn, digest, size)
            await bq.link_blob(uow.conn, blob_id, repo_id, project_id)
            await bq.delete_upload(uow.conn, upload_id)


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


