"""Blob, repository↔blob and project↔blob link queries, and upload sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Blob, ProjectBlob, Repository, RepositoryBlob, Upload
from moorage.metadata.queries.dialect import insert_for

_LINKED_SIZE = Prepared(  # the blob GET hot path
    select(Blob.size)
    .join(RepositoryBlob, RepositoryBlob.blob_id == Blob.id)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("repository"), Blob.digest == bindparam("digest"))
)


async def find_repository_blob_size(conn: Conn, repository: str, digest: str) -> int | None:
    """Size of ``digest`` if it is linked to the repository named ``repository``."""
    row = await conn.first(_LINKED_SIZE, {"repository": repository, "digest": digest})
    return int(row[0]) if row else None


async def find_blob(conn: Conn, digest: str) -> tuple[int, int] | None:
    """(id, size) of a stored blob, or None."""
    row = (await conn.execute(select(Blob.id, Blob.size).where(Blob.digest == digest))).first()
    return (row[0], row[1]) if row else None


async def find_project_blob(conn: Conn, project_id: int, digest: str) -> tuple[int, int] | None:
    """(id, size) of a blob already held by the project, or None."""
    stmt = (
        select(Blob.id, Blob.size)
        .join(ProjectBlob, ProjectBlob.blob_id == Blob.id)
        .where(ProjectBlob.project_id == project_id, Blob.digest == digest)
    )
    row = (await conn.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def create_blob(conn: Conn, digest: str, size: int) -> int:
    """Insert the blob if new; return its id (deduplicated across repositories and projects)."""
    await conn.execute(
        insert_for(conn, Blob)
        .values(digest=digest, size=size, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    return int((await conn.execute(select(Blob.id).where(Blob.digest == digest))).scalar_one())


async def link_blob(conn: Conn, blob_id: int, repository_id: int, project_id: int) -> None:
    now = utcnow()
    await conn.execute(
        insert_for(conn, RepositoryBlob)
        .values(repository_id=repository_id, blob_id=blob_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["repository_id", "blob_id"])
    )
    await conn.execute(
        insert_for(conn, ProjectBlob)
        .values(project_id=project_id, blob_id=blob_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["project_id", "blob_id"])
    )


async def delete_repository_blob(conn: Conn, repository_id: int, digest: str) -> bool:
    """Unlink a blob from a repository; True if it was linked."""
    blob_id = (await conn.execute(select(Blob.id).where(Blob.digest == digest))).scalar()
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
    .where(RepositoryBlob.repository_id == bindparam("repository_id"), Blob.digest == bindparam("digest"))
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
