"""What replication reads of the local registry: top-level artifacts (not an index's
children, not referrers — those travel with their parent or subject) with their tags and
label names, per repository."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import aliased

from moorage.db.engine import Conn
from moorage.metadata.models import Artifact, ArtifactReference, Repository, Tag
from moorage.metadata.models.label import ArtifactLabel, Label


@dataclass(frozen=True, slots=True)
class ReplicableArtifact:
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    tags: tuple[str, ...]
    labels: tuple[str, ...]


async def list_repository_names(conn: Conn) -> list[str]:
    return [r[0] for r in (await conn.execute(select(Repository.name).order_by(Repository.name))).all()]


async def list_replicable_artifacts(conn: Conn, repositories: list[str] | None) -> list[ReplicableArtifact]:
    parent = aliased(Artifact)
    child = exists().where(and_(ArtifactReference.child_digest == Artifact.digest,
                                ArtifactReference.parent_id == parent.id,
                                parent.repository_id == Artifact.repository_id))
    query = (select(Artifact.id, Repository.name, Artifact.digest, Artifact.media_type, Artifact.artifact_type)
             .join(Repository, Repository.id == Artifact.repository_id)
             .where(Artifact.subject_digest.is_(None), ~child)
             .order_by(Repository.name, Artifact.id))
    if repositories is not None:
        query = query.where(Repository.name.in_(repositories))
    rows = (await conn.execute(query)).all()
    ids = [r[0] for r in rows]
    tags: dict[int, list[str]] = defaultdict(list)
    labels: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for artifact_id, name in (await conn.execute(
                select(Tag.artifact_id, Tag.name).where(Tag.artifact_id.in_(chunk)).order_by(Tag.name))).all():
            tags[artifact_id].append(name)
        for artifact_id, name in (await conn.execute(
                select(ArtifactLabel.artifact_id, Label.name).join(Label, Label.id == ArtifactLabel.label_id)
                .where(ArtifactLabel.artifact_id.in_(chunk)))).all():
            labels[artifact_id].append(name)
    return [ReplicableArtifact(r[1], r[2], r[3], r[4], tuple(tags[r[0]]), tuple(sorted(labels[r[0]])))
            for r in rows]


async def list_referrer_descriptors(conn: Conn, repository: str, subject: str) -> list[dict[str, Any]]:
    """Descriptors of the artifacts in ``repository`` whose subject is ``subject``."""
    rows = (await conn.execute(
        select(Artifact.digest, Artifact.media_type, Artifact.size, Artifact.artifact_type)
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(Repository.name == repository, Artifact.subject_digest == subject).order_by(Artifact.id))).all()
    out: list[dict[str, Any]] = []
    for digest, media_type, size, artifact_type in rows:
        desc: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
        if artifact_type:
            desc["artifactType"] = artifact_type
        out.append(desc)
    return out
