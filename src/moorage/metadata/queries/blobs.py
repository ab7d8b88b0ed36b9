"""Blob, repository↔blob and project↔blob link queries, the blob-state protocol's row
operations (claim, settle, touch, share-lock; see ``domain/gc.py``), and upload sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Artifact, Blob, ProjectBlob, Repository, RepositoryBlob, Upload
from moorage.metadata.models.artifact import ArtifactBlob
from moorage.metadata.models.quota import ProjectQuota
from moorage.metadata.queries.dialect import insert_for

_LINKED_SIZE = Prepared(  # the blob GET hot path
    select(Blob.size)
    .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("repository"), Blob.digest == bindparam("digest"), Blob.deleting.is_(False))
)


async def find_repository_blob_size(conn: Conn, repository: str, digest: str) -> int | None:
    """Size of ``digest`` if it is linked to the repository named ``repository`` (and not being
    garbage collected: a client then uploads it again instead of relying on it)."""
    row = await conn.first(_LINKED_SIZE, {"repository": repository, "digest": digest})
    return int(row[0]) if row else None


async def find_repository_blob(conn: Conn, repository: str, digest: str) -> Claim | None:
    """The row of ``digest`` linked to the repository named ``repository`` (one statement: the
    row that is linked, not a newer row of the same digest)."""
    stmt = (select(Blob.id, Blob.created_at).join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
            .join(Repository, Repository.id == RepositoryBlob.repository_id)
            .where(Repository.name == repository, Blob.digest == digest, Blob.deleting.is_(False)))
    row = (await conn.execute(stmt)).first()
    return Claim(int(row[0]), row[1]) if row else None


async def find_blob(conn: Conn, digest: str) -> tuple[int, int] | None:
    """(id, size) of a stored blob (not being garbage collected), or None."""
    row = (await conn.execute(select(Blob.id, Blob.size).where(Blob.digest == digest, Blob.deleting.is_(False)))
           ).first()
    return (row[0], row[1]) if row else None


async def find_project_blob(conn: Conn, project_id: int, digest: str) -> Claim | None:
    """The row of a blob already held by the project, or None."""
    stmt = (
        select(Blob.id, Blob.created_at)
        .join(ProjectBlob, ProjectBlob.blob_id == Blob.id)
        .where(ProjectBlob.project_id == project_id, Blob.digest == digest, Blob.deleting.is_(False))
    )
    row = (await conn.execute(stmt)).first()
    return Claim(int(row[0]), row[1]) if row else None


async def create_blob(conn: Conn, digest: str, size: int) -> int:
    """Insert the blob if new; return its id (deduplicated across repositories and projects)."""
    await conn.execute(
        insert_for(conn, Blob)
        .values(digest=digest, size=size, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    return int((await conn.execute(select(Blob.id).where(Blob.digest == digest))).scalar_one())


async def link_blob(conn: Conn, blob_id: int, repository_id: int, project_id: int) -> int:
    """Link a blob to a repository and its project; returns the bytes this added to the
    project's quota usage (the blob's size when the project did not hold it yet, else 0).
    The usage changes in the same transaction as the link, so it always equals a recount."""
    now = utcnow()
    await conn.execute(
        insert_for(conn, RepositoryBlob)
        .values(repository_id=repository_id, blob_id=blob_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["repository_id", "blob_id"])
    )
    added = await conn.execute(
        insert_for(conn, ProjectBlob)
        .values(project_id=project_id, blob_id=blob_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["project_id", "blob_id"])
    )
    if not added.rowcount:
        return 0
    size = int((await conn.execute(select(Blob.size).where(Blob.id == blob_id))).scalar_one())
    await conn.execute(
        update(ProjectQuota).where(ProjectQuota.project_id == project_id)
        .values(used_storage=ProjectQuota.used_storage + size, update_time=now)
    )
    return size


async def unlink_project_blobs(conn: Conn, project_id: int, blob_ids: list[int]) -> int:
    """Remove blobs from a project (and its repositories) and take their sizes off its quota
    usage; returns the bytes released."""
    if not blob_ids:
        return 0
    await conn.execute(delete(RepositoryBlob).where(
        RepositoryBlob.blob_id.in_(blob_ids),
        RepositoryBlob.repository_id.in_(select(Repository.id).where(Repository.project_id == project_id))))
    removed = list((await conn.execute(
        delete(ProjectBlob).where(ProjectBlob.project_id == project_id, ProjectBlob.blob_id.in_(blob_ids))
        .returning(ProjectBlob.blob_id))).scalars())
    if not removed:
        return 0
    size = int((await conn.execute(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.id.in_(removed))))
               .scalar_one())
    await conn.execute(
        update(ProjectQuota).where(ProjectQuota.project_id == project_id)
        .values(used_storage=ProjectQuota.used_storage - size, update_time=utcnow())
    )
    return size


async def delete_repository_blob(conn: Conn, repository_id: int, digest: str) -> bool:
    """Unlink a blob from a repository; True if it was linked.  The blob row is locked first,
    as everything that changes a blob's links or references does (see ``domain/gc.py``)."""
    blob_id = (await conn.execute(select(Blob.id).where(Blob.digest == digest).with_for_update())).scalar()
    if blob_id is None:
        return False
    result = await conn.execute(
        delete(RepositoryBlob).where(RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id == blob_id)
    )
    return bool(result.rowcount)


async def create_upload(conn: Conn, upload_id: str, repository: str, project_id: int) -> None:
    now = utcnow()
    await conn.execute(
        insert_for(conn, Upload).values(
            id=upload_id, repository=repository, project_id=project_id, offset=0, hash_state=None,
            created_at=now, updated_at=now,
        )
    )


async def find_upload(conn: Conn, upload_id: str, repository: str) -> Upload | None:
    row = (
        await conn.execute(select(Upload.__table__).where(Upload.id == upload_id, Upload.repository == repository))
    ).first()
    return Upload(**row._mapping) if row else None


async def advance_upload(
    conn: Conn, upload_id: str, old_offset: int, new_offset: int, hash_state: bytes | None
) -> bool:
    """Record acknowledged progress; False if another request moved the upload meanwhile."""
    result = await conn.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.offset == old_offset)
        .values(offset=new_offset, hash_state=hash_state, updated_at=utcnow())
    )
    return bool(result.rowcount)


async def delete_upload(conn: Conn, upload_id: str) -> None:
    await conn.execute(delete(Upload).where(Upload.id == upload_id))


async def list_expired_uploads(conn: Conn, before: datetime) -> list[str]:
    return list((await conn.execute(select(Upload.id).where(Upload.updated_at < before))).scalars())


_LINKED = Prepared(
    select(Blob.id)
    .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
    .where(RepositoryBlob.repository_id == bindparam("repository_id"), Blob.digest == bindparam("digest"),
           Blob.deleting.is_(False))
)


async def list_linked_digests(conn: Conn, repository_id: int, digests: list[str]) -> set[str]:
    """Which of ``digests`` are blobs linked to the repository.

    One indexed point lookup per digest: a manifest names a handful of blobs, and prepared
    lookups cost less than building an IN list each time.
    """
    linked = set()
    for digest in dict.fromkeys(digests):
        if await conn.first(_LINKED, {"repository_id": repository_id, "digest": digest}) is not None:
            linked.add(digest)
    return linked


# The blob-state protocol (domain/gc.py explains it) ------------------------------------------


class Claim(NamedTuple):
    """One generation of a blob row: SQLite may give a deleted row's id to a new row, so a row
    is the same only if its creation time is too."""

    id: int
    created_at: datetime


def _same_row(claim: Claim) -> tuple[Any, Any]:
    return Blob.id == claim.id, Blob.created_at == claim.created_at


async def claim_blob(conn: Conn, digest: str, size: int) -> Claim | None:
    """Create the blob row, or refresh ``touched_at`` of an existing one; the row.  None while
    the existing row is being deleted by the garbage collector (the caller waits and retries).
    ``size`` is only used for a new row (an upload claims before it knows the final size;
    ``settle_blob`` sets it)."""
    now = utcnow()
    stmt = insert_for(conn, Blob).values(digest=digest, size=size, created_at=now, touched_at=now, deleting=False)
    stmt = stmt.on_conflict_do_update(
        index_elements=["digest"], set_={"touched_at": now}, where=Blob.deleting.is_(False)
    ).returning(Blob.id, Blob.created_at)
    row = (await conn.execute(stmt)).first()
    return Claim(int(row[0]), row[1]) if row else None


async def settle_blob(conn: Conn, claim: Claim, size: int) -> bool:
    """Record the verified size of a claimed blob and refresh ``touched_at``; False if the row
    is gone or being deleted (the collector took it after the claim).  On PostgreSQL the
    UPDATE waits for a collector holding the row and re-reads it."""
    stmt = update(Blob).where(*_same_row(claim), Blob.deleting.is_(False)).values(size=size, touched_at=utcnow())
    return bool((await conn.execute(stmt)).rowcount)


async def set_blob_size(conn: Conn, digest: str, size: int) -> None:
    """Record the size of a blob whose bytes are stored but which nothing links (a refused push)."""
    await conn.execute(update(Blob).where(Blob.digest == digest, Blob.deleting.is_(False)).values(size=size))


async def touch_blob(conn: Conn, claim: Claim) -> bool:
    """Refresh ``touched_at`` (a mount); False if the row is gone or being deleted."""
    stmt = update(Blob).where(*_same_row(claim), Blob.deleting.is_(False)).values(touched_at=utcnow())
    return bool((await conn.execute(stmt)).rowcount)


async def lock_blobs(conn: Conn, digests: list[str]) -> dict[str, tuple[int, int, bool]]:
    """digest -> (id, size, deleting) of the stored ones, share-locked (PostgreSQL ``FOR SHARE``,
    in id order) until the transaction ends: the collector cannot mark them meanwhile, and a
    row it marked before shows ``deleting``."""
    if not digests:
        return {}
    stmt = (select(Blob.digest, Blob.id, Blob.size, Blob.deleting).where(Blob.digest.in_(set(digests)))
            .order_by(Blob.id).with_for_update(read=True))
    return {d: (int(i), int(s), bool(x)) for d, i, s, x in await conn.execute(stmt)}


async def lock_blob_ids(conn: Conn, blob_ids: list[int]) -> list[int]:
    """Lock the rows exclusively (``FOR UPDATE``, id order) before changing their links; the ids found."""
    if not blob_ids:
        return []
    stmt = select(Blob.id).where(Blob.id.in_(set(blob_ids))).order_by(Blob.id).with_for_update()
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def list_repository_links(conn: Conn, repository_id: int, blob_ids: list[int]) -> set[int]:
    """Which of ``blob_ids`` are linked to the repository."""
    if not blob_ids:
        return set()
    stmt = select(RepositoryBlob.blob_id).where(
        RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id.in_(set(blob_ids)))
    return {int(i) for i in (await conn.execute(stmt)).scalars()}


async def create_artifact_blobs(conn: Conn, artifact_id: int, blob_ids: list[int]) -> None:
    """Record the blobs an artifact names (idempotent)."""
    if not blob_ids:
        return
    stmt = insert_for(conn, ArtifactBlob).on_conflict_do_nothing(index_elements=["artifact_id", "blob_id"])
    await conn.execute(stmt, [{"artifact_id": artifact_id, "blob_id": b} for b in dict.fromkeys(blob_ids)])


async def list_artifact_blob_ids(conn: Conn, artifact_ids: list[int]) -> list[int]:
    """The blobs the artifacts name (to release after deleting them)."""
    if not artifact_ids:
        return []
    stmt = select(ArtifactBlob.blob_id).where(ArtifactBlob.artifact_id.in_(set(artifact_ids))).distinct()
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def list_repository_blob_ids(conn: Conn, repository_id: int) -> list[int]:
    stmt = select(RepositoryBlob.blob_id).where(RepositoryBlob.repository_id == repository_id)
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


def _named_in(blob_id: Any, *where: Any) -> Any:
    """Some artifact matching ``where`` names the blob."""
    return (select(ArtifactBlob.blob_id).join(Artifact, Artifact.id == ArtifactBlob.artifact_id)
            .where(ArtifactBlob.blob_id == blob_id, *where).exists())


async def delete_unreferenced_repository_links(conn: Conn, repository_id: int, blob_ids: list[int],
                                               before: datetime) -> int:
    """Unlink from the repository those of ``blob_ids`` that none of its artifacts names and
    nothing touched since ``before``; how many."""
    if not blob_ids:
        return 0
    old = select(Blob.id).where(Blob.id.in_(set(blob_ids)), Blob.touched_at < before)
    stmt = delete(RepositoryBlob).where(
        RepositoryBlob.repository_id == repository_id, RepositoryBlob.blob_id.in_(old),
        ~_named_in(RepositoryBlob.blob_id, Artifact.repository_id == repository_id))
    return int((await conn.execute(stmt)).rowcount or 0)


async def list_unreferenced_project_blobs(conn: Conn, project_id: int, blob_ids: list[int],
                                          before: datetime) -> list[int]:
    """Those of ``blob_ids`` the project holds that none of its artifacts names and nothing
    touched since ``before``."""
    if not blob_ids:
        return []
    stmt = (select(ProjectBlob.blob_id).join(Blob, Blob.id == ProjectBlob.blob_id)
            .where(ProjectBlob.project_id == project_id, ProjectBlob.blob_id.in_(set(blob_ids)),
                   Blob.touched_at < before,
                   ~_named_in(ProjectBlob.blob_id, Artifact.project_id == project_id)))
    return [int(i) for i in (await conn.execute(stmt)).scalars()]
