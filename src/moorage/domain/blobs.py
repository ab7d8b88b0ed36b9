"""Blob reads and deletes as seen from a repository."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from moorage.core.errors import oci_error
from moorage.db.engine import Database
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import projects as pq
from moorage.oci.digest import parse_digest
from moorage.storage.blobs import BlobStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BlobLocation:
    digest: str
    size: int
    content: bytes | None = None  # set when the "blob" is a manifest kept in the database


class BlobService:
    def __init__(self, db: Database, store: BlobStore) -> None:
        self.db = db
        self.store = store

    async def locate(self, repository: str, digest: str) -> BlobLocation:
        """Where a blob linked to ``repository`` is; BLOB_UNKNOWN if it is not linked there."""
        digest = str(parse_digest(digest))
        async with self.db.read() as conn:
            size = await bq.find_repository_blob_size(conn, repository, digest)
            if size is None:
                manifest = await aq.find_manifest_by_digest(conn, repository, digest)
                if manifest is not None:  # manifests are content-addressed blobs too
                    return BlobLocation(digest, len(manifest.content), manifest.content)
        if size is None:
            raise oci_error("BLOB_UNKNOWN", f"blob {digest} unknown to {repository}", detail={"digest": digest})
        return BlobLocation(digest, size)

    async def delete(self, repository: str, digest: str) -> None:
        """Unlink the blob from the repository (its bytes go at garbage collection)."""
        digest = str(parse_digest(digest))
        async with self.db.write() as uow:
            repo_id = await pq.find_repository_id(uow.conn, repository)
            deleted = repo_id is not None and await bq.delete_repository_blob(uow.conn, repo_id, digest)
        if not deleted:
            raise oci_error("BLOB_UNKNOWN", f"blob {digest} unknown to {repository}", detail={"digest": digest})
        log.info("blob_deleted", repository=repository, digest=digest)
