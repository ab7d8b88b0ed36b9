"""Garbage collection queries: candidate blobs and untagged artifacts, the two-statement
lock-then-recheck marking, stale link sweeps, and the final row deletions.

Every selection pages by id (``after``) so a batch is one short transaction and a resumed
run continues from its checkpoint.  Locking selections use PostgreSQL's ``FOR UPDATE SKIP
LOCKED`` (a row a push holds is simply left for the next run); SQLite ignores the clause and
serializes writers instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.orm import aliased

from moorage.db.engine import Conn
from moorage.metadata.models import Artifact, ArtifactReference, Blob, ProjectBlob, Repository, RepositoryBlob, Tag
from moorage.metadata.models.artifact import ArtifactBlob

BlobRow = tuple[int, str, int]  # id, digest, size


def _unreferenced() -> Any:
    return ~select(ArtifactBlob.blob_id).where(ArtifactBlob.blob_id == Blob.id).exists()


def _collectable(before: datetime) -> Any:
    """A blob no artifact names, not touched since ``before``, not already being deleted."""
    return and_(Blob.deleting.is_(False), Blob.touched_at < before, _unreferenced())


# Blobs ---------------------------------------------------------------------------------------


async def list_blob_candidates(conn: Conn, after: int, before: datetime, limit: int) -> list[BlobRow]:
    """Collectable blobs with id > ``after`` (no locks: the dry run's view)."""
    stmt = (select(Blob.id, Blob.digest, Blob.size).where(Blob.id > after, _collectable(before))
            .order_by(Blob.id).limit(limit))
    return [(int(i), str(d), int(s)) for i, d, s in await conn.execute(stmt)]


async def count_blob_candidates(conn: Conn, before: datetime, with_untagged: bool = False) -> tuple[int, int]:
    """(how many, total bytes) of the collectable blobs; ``with_untagged``: also those only
    untagged candidate artifacts name (what deleting untagged artifacts would free)."""
    cond = _collectable(before)
    if with_untagged:
        kept = (select(ArtifactBlob.blob_id).join(Artifact, Artifact.id == ArtifactBlob.artifact_id)
                .where(ArtifactBlob.blob_id == Blob.id, ~_untagged(before)).exists())
        cond = and_(Blob.deleting.is_(False), Blob.touched_at < before, ~kept)
    stmt = select(func.count(), func.coalesce(func.sum(Blob.size), 0)).where(cond)
    count, size = (await conn.execute(stmt)).one()
    return int(count), int(size)


async def lock_blob_candidates(conn: Conn, after: int, before: datetime, limit: int) -> list[int]:
    """Statement 1 of marking: lock up to ``limit`` collectable rows after ``after``, skipping
    rows another transaction holds (a manifest PUT's share lock, an upload's claim).  Its
    ``NOT EXISTS`` saw the statement's snapshot; ``mark_deleting`` checks again."""
    stmt = (select(Blob.id).where(Blob.id > after, _collectable(before)).order_by(Blob.id).limit(limit)
            .with_for_update(skip_locked=True))
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def mark_deleting(conn: Conn, blob_ids: list[int], before: datetime) -> list[BlobRow]:
    """Statement 2 of marking: a new statement, so on PostgreSQL (READ COMMITTED) it sees every
    reference committed before the rows were locked; sets ``deleting`` on those still
    collectable and returns them."""
    if not blob_ids:
        return []
    stmt = (update(Blob).where(Blob.id.in_(blob_ids), _collectable(before)).values(deleting=True)
            .returning(Blob.id, Blob.digest, Blob.size))
    return sorted((int(i), str(d), int(s)) for i, d, s in await conn.execute(stmt))


async def list_deleting(conn: Conn, after: int, limit: int) -> list[BlobRow]:
    """Rows a collector marked and did not finish (it was killed): the resume's work."""
    stmt = (select(Blob.id, Blob.digest, Blob.size).where(Blob.id > after, Blob.deleting.is_(True))
            .order_by(Blob.id).limit(limit))
    return [(int(i), str(d), int(s)) for i, d, s in await conn.execute(stmt)]


async def list_blob_projects(conn: Conn, blob_ids: list[int]) -> dict[int, list[int]]:
    """project id -> which of ``blob_ids`` it holds."""
    if not blob_ids:
        return {}
    out: dict[int, list[int]] = {}
    stmt = (select(ProjectBlob.project_id, ProjectBlob.blob_id).where(ProjectBlob.blob_id.in_(blob_ids))
            .order_by(ProjectBlob.project_id))
    for project_id, blob_id in await conn.execute(stmt):
        out.setdefault(int(project_id), []).append(int(blob_id))
    return out


async def delete_marked_blobs(conn: Conn, blob_ids: list[int]) -> int:
    """Delete marked rows (their remaining links cascade; a reference would make this fail)."""
    if not blob_ids:
        return 0
    result = await conn.execute(delete(Blob).where(Blob.id.in_(blob_ids), Blob.deleting.is_(True)))
    return int(result.rowcount or 0)


# Untagged artifacts ----------------------------------------------------------------------------


def _untagged(before: datetime) -> Any:
    """An untagged artifact pushed before ``before`` that no index in its repository lists and
    that is not an accessory of an artifact still there."""
    parent = aliased(Artifact)
    subject = aliased(Artifact)
    tagged = select(Tag.id).where(Tag.artifact_id == Artifact.id).exists()
    listed = (select(ArtifactReference.id).join(parent, parent.id == ArtifactReference.parent_id)
              .where(parent.repository_id == Artifact.repository_id, ArtifactReference.child_digest == Artifact.digest)
              .exists())
    subject_alive = (select(subject.id).where(subject.repository_id == Artifact.repository_id,
                                              subject.digest == Artifact.subject_digest).exists())
    return and_(Artifact.push_time < before, ~tagged, ~listed,
                or_(Artifact.subject_digest.is_(None), ~subject_alive))


async def list_untagged(conn: Conn, after: int, before: datetime, limit: int) -> list[int]:
    stmt = (select(Artifact.id).where(Artifact.id > after, _untagged(before)).order_by(Artifact.id).limit(limit))
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def count_untagged(conn: Conn, before: datetime) -> int:
    return int((await conn.execute(select(func.count()).select_from(Artifact).where(_untagged(before))))
               .scalar_one())


async def lock_artifacts(conn: Conn, artifact_ids: list[int]) -> list[int]:
    """Lock artifact rows (``FOR UPDATE SKIP LOCKED``): a concurrent tag or index push holding
    one keeps it out of this batch."""
    if not artifact_ids:
        return []
    stmt = select(Artifact.id).where(Artifact.id.in_(artifact_ids)).order_by(Artifact.id).with_for_update(
        skip_locked=True)
    return [int(i) for i in (await conn.execute(stmt)).scalars()]


async def delete_untagged(conn: Conn, artifact_ids: list[int], before: datetime) -> list[tuple[str, str, str]]:
    """Delete those of the (locked) artifacts that are still untagged candidates, checked in
    this new statement; (repository, digest, media type) of each deleted one."""
    if not artifact_ids:
        return []
    doomed = (select(Artifact.id, Repository.name, Artifact.digest, Artifact.media_type)
              .join(Repository, Repository.id == Artifact.repository_id)
              .where(Artifact.id.in_(artifact_ids), _untagged(before)))
    rows = [(int(i), str(n), str(d), str(m)) for i, n, d, m in await conn.execute(doomed)]
    if rows:
        await conn.execute(delete(Artifact).where(Artifact.id.in_([r[0] for r in rows])))
    return [(n, d, m) for _, n, d, m in rows]


# Stale links -----------------------------------------------------------------------------------


def _named_in(blob_id: Any, *where: Any) -> Any:
    return (select(ArtifactBlob.blob_id).join(Artifact, Artifact.id == ArtifactBlob.artifact_id)
            .where(ArtifactBlob.blob_id == blob_id, *where).exists())


async def list_stale_project_links(conn: Conn, after: tuple[int, int], before: datetime, limit: int
                                   ) -> list[tuple[int, int]]:
    """(blob id, project id) of project links to blobs that some artifact names but none in
    that project, untouched since ``before`` (blobs nothing names are collected whole)."""
    stmt = (select(ProjectBlob.blob_id, ProjectBlob.project_id).join(Blob, Blob.id == ProjectBlob.blob_id)
            .where(tuple_(ProjectBlob.blob_id, ProjectBlob.project_id) > tuple_(*after),
                   Blob.deleting.is_(False), Blob.touched_at < before,
                   ~_unreferenced(), ~_named_in(ProjectBlob.blob_id, Artifact.project_id == ProjectBlob.project_id))
            .order_by(ProjectBlob.blob_id, ProjectBlob.project_id).limit(limit))
    return [(int(b), int(p)) for b, p in await conn.execute(stmt)]


async def list_stale_repository_links(conn: Conn, after: tuple[int, int], before: datetime, limit: int
                                      ) -> list[tuple[int, int]]:
    """(blob id, repository id) of repository links to blobs that the repository's project
    still names somewhere but the repository does not, untouched since ``before``."""
    stmt = (select(RepositoryBlob.blob_id, RepositoryBlob.repository_id)
            .join(Blob, Blob.id == RepositoryBlob.blob_id)
            .join(Repository, Repository.id == RepositoryBlob.repository_id)
            .where(tuple_(RepositoryBlob.blob_id, RepositoryBlob.repository_id) > tuple_(*after),
                   Blob.deleting.is_(False), Blob.touched_at < before,
                   _named_in(RepositoryBlob.blob_id, Artifact.project_id == Repository.project_id),
                   ~_named_in(RepositoryBlob.blob_id, Artifact.repository_id == RepositoryBlob.repository_id))
            .order_by(RepositoryBlob.blob_id, RepositoryBlob.repository_id).limit(limit))
    return [(int(b), int(r)) for b, r in await conn.execute(stmt)]


async def lock_blob_ids_skipping(conn: Conn, blob_ids: list[int]) -> list[int]:
    """Lock what can be locked now (``FOR UPDATE SKIP LOCKED``): rows a push holds wait for the next run."""
    if not blob_ids:
        return []
    stmt = select(Blob.id).where(Blob.id.in_(set(blob_ids))).order_by(Blob.id).with_for_update(skip_locked=True)
    return [int(i) for i in (await conn.execute(stmt)).scalars()]
