"""Artifact, index-reference and tag queries (the manifest hot path lives here)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from moorage.db.base import utcnow
from moorage.db.engine import Conn, Prepared
from moorage.metadata.models import Artifact, ArtifactReference, Repository, Tag
from moorage.metadata.queries.dialect import insert_for, insert_on


@dataclass(frozen=True, slots=True)
class StoredManifest:
    artifact_id: int
    repository_id: int
    digest: str
    media_type: str
    subject_digest: str | None
    content: bytes
    project_id: int
    tag_id: int | None = None


_MANIFEST_COLUMNS = (
    Artifact.id, Artifact.repository_id, Artifact.digest, Artifact.media_type,
    Artifact.subject_digest, Artifact.content, Artifact.project_id,
)
# The pull hot path: statements built once with bind parameters, so a request pays only
# for execution, not for building and hashing the expression tree.
_BY_DIGEST = Prepared(
    select(*_MANIFEST_COLUMNS)
    .join(Repository, Repository.id == Artifact.repository_id)
    .where(Repository.name == bindparam("repository"), Artifact.digest == bindparam("digest"))
)
_BY_TAG = Prepared(
    select(*_MANIFEST_COLUMNS, Tag.id)
    .join(Tag, Tag.artifact_id == Artifact.id)
    .join(Repository, Repository.id == Tag.repository_id)
    .where(Repository.name == bindparam("repository"), Tag.name == bindparam("tag"))
)


async def find_manifest_by_digest(conn: Conn, repository: str, digest: str) -> StoredManifest | None:
    row = await conn.first(_BY_DIGEST, {"repository": repository, "digest": digest})
    return StoredManifest(*row) if row else None


async def find_manifest_by_tag(conn: Conn, repository: str, tag: str) -> StoredManifest | None:
    row = await conn.first(_BY_TAG, {"repository": repository, "tag": tag})
    return StoredManifest(*row) if row else None


_ARTIFACT_ID = select(Artifact.id).where(
    Artifact.repository_id == bindparam("repository_id"), Artifact.digest == bindparam("digest")
)


async def find_artifact_id(conn: Conn, repository_id: int, digest: str) -> int | None:
    return (await conn.execute(_ARTIFACT_ID, {"repository_id": repository_id, "digest": digest})).scalar()


async def list_missing_children(conn: Conn, repository_id: int, digests: list[str]) -> list[str]:
    """Which of ``digests`` are not manifests in the repository."""
    if not digests:
        return []
    stmt = select(Artifact.digest).where(Artifact.repository_id == repository_id, Artifact.digest.in_(digests))
    present = set((await conn.execute(stmt)).scalars())
    return [d for d in digests if d not in present]


async def lock_children(conn: Conn, repository_id: int, digests: list[str]) -> set[str]:
    """Which of ``digests`` are manifests in the repository, share-locked until the transaction
    ends (garbage collection cannot delete an index's children while the index is written)."""
    if not digests:
        return set()
    stmt = (select(Artifact.digest).where(Artifact.repository_id == repository_id, Artifact.digest.in_(set(digests)))
            .order_by(Artifact.id).with_for_update(read=True))
    return set((await conn.execute(stmt)).scalars())


_ARTIFACT_FIELDS = (
    "repository_id", "project_id", "digest", "media_type", "artifact_type", "config_media_type", "size",
    "subject_digest", "platform", "annotations", "content", "push_time",
)


@functools.cache
def _create_artifact(dialect: str) -> Any:
    stmt = insert_on(dialect, Artifact).values(pull_count=0, **{f: bindparam(f) for f in _ARTIFACT_FIELDS})
    # A no-op update on conflict makes RETURNING give the existing row's id: one statement.
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "digest"], set_={"digest": stmt.excluded.digest}
    ).returning(Artifact.id)


async def create_artifact(conn: Conn, **values: Any) -> int:
    """Insert the artifact unless the repository already has this digest; return its id."""
    values.setdefault("push_time", utcnow())
    return int((await conn.execute(_create_artifact(conn.dialect.name), values)).scalar_one())


async def create_references(conn: Conn, parent_id: int, children: list[dict[str, Any]]) -> None:
    if not children:
        return
    exists = (
        await conn.execute(
            select(func.count()).select_from(ArtifactReference).where(ArtifactReference.parent_id == parent_id)
        )
    ).scalar_one()
    if exists or not children:
        return
    await conn.execute(insert_for(conn, ArtifactReference), [{"parent_id": parent_id, **c} for c in children])


@functools.cache
def _upsert_tag(dialect: str) -> Any:
    stmt = insert_on(dialect, Tag).values(
        repository_id=bindparam("repository_id"), name=bindparam("name"), artifact_id=bindparam("artifact_id"),
        push_time=bindparam("now"),
    )
    return stmt.on_conflict_do_update(
        index_elements=["repository_id", "name"],
        set_={"artifact_id": stmt.excluded.artifact_id, "push_time": stmt.excluded.push_time},
    )


async def upsert_tag(conn: Conn, repository_id: int, name: str, artifact_id: int) -> None:
    params = {"repository_id": repository_id, "name": name, "artifact_id": artifact_id, "now": utcnow()}
    await conn.execute(_upsert_tag(conn.dialect.name), params)


async def list_tags(conn: Conn, repository_id: int, last: str | None, limit: int | None) -> list[str]:
    stmt = select(Tag.name).where(Tag.repository_id == repository_id).order_by(Tag.name)
    if last:
        stmt = stmt.where(Tag.name > last)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await conn.execute(stmt)).scalars())


async def delete_tag(conn: Conn, repository_id: int, name: str) -> bool:
    result = await conn.execute(delete(Tag).where(Tag.repository_id == repository_id, Tag.name == name))
    return bool(result.rowcount)


async def delete_artifact(conn: Conn, repository_id: int, digest: str) -> bool:
    """Delete a manifest from a repository with its tags and index references."""
    artifact_id = await find_artifact_id(conn, repository_id, digest)
    if artifact_id is None:
        return False
    await conn.execute(delete(Tag).where(Tag.artifact_id == artifact_id))
    await conn.execute(delete(ArtifactReference).where(ArtifactReference.parent_id == artifact_id))
    await conn.execute(delete(Artifact).where(Artifact.id == artifact_id))
    return True


async def list_referrers(
    conn: Conn, repository_id: int, subject: str, artifact_type: str | None
) -> list[tuple[str, str, int, str | None, dict[str, Any] | None]]:
    """(digest, media_type, size, artifact_type, annotations) of manifests whose subject is ``subject``."""
    stmt = (
        select(Artifact.digest, Artifact.media_type, Artifact.size, Artifact.artifact_type, Artifact.annotations)
        .where(Artifact.repository_id == repository_id, Artifact.subject_digest == subject)
        .order_by(Artifact.push_time, Artifact.id)
    )
    if artifact_type is not None:
        stmt = stmt.where(Artifact.artifact_type == artifact_type)
    return [tuple(r) for r in (await conn.execute(stmt)).all()]


async def record_pulls(
    conn: Conn, artifacts: dict[int, tuple[int, datetime]], tags: dict[int, datetime]
) -> None:
    """Apply a batch of pulls: artifact id → (count, last time); tag id → last time."""
    for artifact_id, (count, when) in artifacts.items():
        await conn.execute(
            update(Artifact)
            .where(Artifact.id == artifact_id)
            .values(pull_count=Artifact.pull_count + count, pull_time=when)
        )
    for tag_id, when in tags.items():
        await conn.execute(update(Tag).where(Tag.id == tag_id).values(pull_time=when))


# REST API tag changes (not on the registry hot path) -----------------------------------------


async def find_tag(conn: Conn, repository_id: int, name: str) -> tuple[int, int] | None:
    """(tag id, artifact id) of the repository's tag ``name``, or None."""
    row = (await conn.execute(
        select(Tag.id, Tag.artifact_id).where(Tag.repository_id == repository_id, Tag.name == name))).first()
    return (int(row[0]), int(row[1])) if row else None


async def create_tag(conn: Conn, repository_id: int, artifact_id: int, name: str) -> int | None:
    """Add a tag; its id, or None if the repository already has a tag with that name."""
    stmt = (
        insert_for(conn, Tag)
        .values(repository_id=repository_id, artifact_id=artifact_id, name=name, push_time=utcnow())
        .on_conflict_do_nothing(index_elements=["repository_id", "name"])
        .returning(Tag.id)
    )
    return (await conn.execute(stmt)).scalar()


async def delete_tag_by_id(conn: Conn, tag_id: int) -> bool:
    result = await conn.execute(delete(Tag).where(Tag.id == tag_id))
    return bool(result.rowcount)
