"""Blob reads and deletes as seen from a repository, and the blob-state protocol every writer
follows so that online garbage collection never deletes a blob something uses (the rules are
spelled out in ``domain/gc.py``): claims before bytes go into place, share locks at manifest
PUT and copy, and the release of links when artifacts are deleted."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from moorage.core.errors import oci_error
from moorage.db.base import utcnow
from moorage.db.engine import Conn, Database
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries import quotas as qq
from moorage.oci.digest import parse_digest
from moorage.oci.manifest import ParsedManifest
from moorage.storage.blobs import BlobStore

log = structlog.get_logger(__name__)
CLAIM_WAIT_SECONDS = 60.0  # how long a push waits for the collector to finish deleting an old copy


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


# The writers' side of the protocol -------------------------------------------------------------


async def claim(db: Database, digest: str) -> bq.Claim:
    """Claim the blob row before its bytes are moved into place: create it (size unknown yet)
    or refresh ``touched_at`` so the collector's time window protects it.  While a collector
    is deleting an old copy, wait for it to finish (then the row is created afresh); after
    ``CLAIM_WAIT_SECONDS`` give up with BLOB_UPLOAD_INVALID.  Returns the claimed row."""
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    delay = 0.02
    while True:
        async with db.write() as uow:
            claimed = await bq.claim_blob(uow.conn, digest, 0)
        if claimed is not None:
            return claimed
        if time.monotonic() > deadline:
            raise collected(digest)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def settle(conn: Conn, store: BlobStore, claimed: bq.Claim | None, digest: str, size: int) -> int | None:
    """Inside the transaction that links a blob whose bytes were just put in place: the row
    to link, or None to try again shortly (the collector is deleting an older copy).

    With the row ``claimed`` still unmarked, its bytes are safe (a collector marks a row
    before deleting bytes).  If the collector took it meanwhile (only possible with a time
    window shorter than the upload), a new row is made, but only if the bytes are still
    there, checked under the new row's lock; otherwise BLOB_UPLOAD_INVALID (push again)."""
    if claimed is not None and await bq.settle_blob(conn, claimed, size):
        return claimed.id
    again = await bq.claim_blob(conn, digest, size)
    if again is None:
        return None
    if await store.size(digest) is None:
        raise collected(digest)
    await bq.settle_blob(conn, again, size)
    return again.id


def collected(digest: str) -> Exception:
    return oci_error("BLOB_UPLOAD_INVALID",
                     f"blob {digest} was being garbage collected while it was pushed; push it again",
                     detail={"digest": digest})


def blob_digests(parsed: ParsedManifest) -> list[str]:
    """The blobs a manifest names in this registry: its config and non-foreign layers."""
    return list(dict.fromkeys(d.digest for d in ([parsed.config] if parsed.config else []) + parsed.layers
                              if not d.is_foreign))


async def lock_references(conn: Conn, repository_id: int, digests: list[str], children: list[str]) -> list[int]:
    """Inside a manifest PUT's (or copy's) write transaction: share-lock the blobs the
    manifest names and check, in a fresh statement after the lock, that each is linked to
    the repository and not being collected, and that each child manifest is there (locked
    too).  Returns the blob ids; MANIFEST_BLOB_UNKNOWN names the first missing one."""
    rows = await bq.lock_blobs(conn, digests)
    usable = {d: r[0] for d, r in rows.items() if not r[2]}
    linked = await bq.list_repository_links(conn, repository_id, list(usable.values()))
    missing = [d for d in digests if usable.get(d) not in linked]
    if children:
        present = await aq.lock_children(conn, repository_id, children)
        missing += [c for c in children if c not in present]
    if missing:
        raise oci_error("MANIFEST_BLOB_UNKNOWN", f"manifest references unknown blob or manifest {missing[0]}",
                        detail={"digest": missing[0]})
    return [usable[d] for d in dict.fromkeys(digests)]


async def link_copied(conn: Conn, digests: list[str], repository_id: int, project_id: int) -> list[int]:
    """Inside a copy's write transaction: share-lock the blobs an artifact names and link those
    not being collected to the destination; their ids (for ``artifact_blobs``)."""
    rows = await bq.lock_blobs(conn, digests)
    ids = [rows[d][0] for d in digests if d in rows and not rows[d][2]]
    for blob_id in ids:
        await bq.link_blob(conn, blob_id, repository_id, project_id)
    return ids


async def lock_blobs_of(conn: Conn, artifact_ids: list[int]) -> list[int]:
    """Before deleting artifacts: lock the rows of the blobs they name (``FOR UPDATE``) and
    return them (for ``release``).  Taken before the artifact rows, as a manifest PUT takes
    its blob locks before writing the artifact: one order, so the two cannot deadlock."""
    blob_ids = await bq.list_artifact_blob_ids(conn, artifact_ids)
    await bq.lock_blob_ids(conn, blob_ids)
    return blob_ids


async def release(conn: Conn, project_id: int, repository_id: int | None, blob_ids: list[int],
                  window_hours: float) -> int:
    """After artifacts were deleted in this transaction (which locked the project's quota row
    first): unlink from the repository and from the project the blobs that none of their
    artifacts names any more, so the usage drops at once.  Blobs touched within the window
    keep their links (a push in flight may be about to reference them).  Returns the bytes
    taken off the project's usage."""
    if not blob_ids:
        return 0
    before = utcnow() - timedelta(hours=window_hours)
    locked = await bq.lock_blob_ids(conn, blob_ids)
    if repository_id is not None:
        await bq.delete_unreferenced_repository_links(conn, repository_id, locked, before)
    gone = await bq.list_unreferenced_project_blobs(conn, project_id, locked, before)
    return await bq.unlink_project_blobs(conn, project_id, gone)


async def lock_quota(conn: Conn, project_id: int | None) -> None:
    """Deleting transactions take the project's quota lock first, as linking ones do: one lock
    order (quota, then blob rows) for everyone, so they queue instead of deadlocking."""
    if project_id is not None:
        await qq.lock_quota(conn, project_id)


def window_start(window_hours: float, now: datetime | None = None) -> datetime:
    """The time-window boundary: blobs touched (and untagged artifacts pushed) after it stay."""
    return (now or utcnow()) - timedelta(hours=window_hours)
