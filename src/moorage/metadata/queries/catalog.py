"""Repository, artifact and tag listings and details for ``/api/v2.0`` (filtered, sorted and
paged in SQL), repository updates and deletion, and the ``/search`` lookups.

An artifact *list* shows only top-level artifacts, as Harbor does: index children and
accessories (manifests with a ``subject``) are reached through their parent or subject.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import aliased

from moorage.core.errors import BadRequest
from moorage.core.query import Condition
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Artifact, ArtifactReference, Project, Repository, RepositoryBlob, Tag
from moorage.metadata.queries.labels import carries_all_labels
from moorage.oci import mediatypes as mt

# Harbor's artifact types, keyed by what its processors key on: the index / schema1 media
# type, else artifactType, else the config media type.  Anything else is UNKNOWN.
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
ARTIFACT_TYPES: dict[str, str] = {
    **dict.fromkeys(mt.IMAGE_CONFIGS | mt.INDEXES | mt.SCHEMA1, "IMAGE"),
    HELM_CONFIG: "CHART",
    "application/vnd.cnab.manifest.v1": "CNAB",
    "application/vnd.wasm.config.v1+json": "WASM",
    "application/vnd.module.wasm.config.v1+json": "WASM",
    "application/vnd.goharbor.harbor.sbom.v1": "SBOM",
    "application/vnd.cnai.model.manifest.v1+json": "CNAI",
}
MAX_CONTENT = 256 * 1024  # manifests larger than this are not read back for size totals

REPOSITORY_SORT = {"id": "id", "name": "name", "creation_time": "created_at", "update_time": "updated_at",
                   "pull_count": "pull_count"}
ARTIFACT_SORT = {"id": "id", "push_time": "push_time", "pull_time": "pull_time", "size": "size",
                 "digest": "digest", "media_type": "media_type"}
TAG_SORT = {"id": "id", "name": "name", "push_time": "push_time", "pull_time": "pull_time"}


def artifact_type_of(media_type: str, artifact_type: str | None, config_media_type: str | None) -> str:
    key = media_type if media_type in mt.INDEXES | mt.SCHEMA1 else (artifact_type or config_media_type or media_type)
    return ARTIFACT_TYPES.get(key, "UNKNOWN")


def _type_key() -> Any:
    return case((Artifact.media_type.in_(mt.INDEXES | mt.SCHEMA1), Artifact.media_type),
                else_=func.coalesce(Artifact.artifact_type, Artifact.config_media_type, Artifact.media_type))


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    id: int
    project_id: int
    name: str
    description: str
    pull_count: int
    created_at: datetime
    updated_at: datetime
    artifact_count: int = 0


@dataclass(frozen=True, slots=True)
class RepositoryFilter:
    """``project_ids`` None: every project; ``name`` / ``project_id`` Harbor ``q`` conditions."""

    project_ids: frozenset[int] | None = None
    name: Condition | None = None
    project_id: Condition | None = None


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    id: int
    repository_id: int
    project_id: int
    repository_name: str
    digest: str
    media_type: str
    artifact_type: str | None
    config_media_type: str | None
    size: int
    subject_digest: str | None
    platform: dict[str, Any] | None
    annotations: dict[str, Any] | None
    push_time: datetime
    pull_time: datetime | None
    content: bytes | None  # None when over MAX_CONTENT


@dataclass(frozen=True, slots=True)
class ArtifactFilter:
    tags: Condition | None = None
    digest: Condition | None = None
    media_type: Condition | None = None
    type: Condition | None = None
    labels: Condition | None = None


@dataclass(frozen=True, slots=True)
class TagRow:
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    id: int
    parent_id: int
    child_digest: str
    platform: dict[str, Any] | None
    annotations: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ProjectHit:
    id: int
    name: str
    public: bool
    owner_id: int | None
    created_at: datetime
    updated_at: datetime
    repo_count: int


@dataclass(frozen=True, slots=True)
class RepositoryHit:
    project_id: int
    project_name: str
    project_public: bool
    name: str
    pull_count: int
    artifact_count: int


def _match(column: Any, cond: Condition | None, what: str) -> Any:
    """A SQL condition for a string column: exact, ~fuzzy (substring), {a b} any of."""
    if cond is None:
        return None
    if cond.kind == "exact":
        return column == cond.value
    if cond.kind == "fuzzy":
        return column.contains(cond.value or "", autoescape=True)
    if cond.kind == "or":
        return column.in_(cond.values)
    if cond.kind == "and":
        return and_(*(column == v for v in cond.values))
    raise BadRequest(f"query {what} does not take a range")


def _order(stmt: Any, model: Any, sort: list[tuple[str, bool]], default: list[tuple[str, bool]]) -> Any:
    keys = sort or default
    cols = [getattr(model, name).desc() if desc else getattr(model, name).asc() for name, desc in keys]
    if all(name != "id" for name, _ in keys):
        cols.append(model.id.desc() if keys[0][1] else model.id.asc())
    return stmt.order_by(*cols)


# Repositories --------------------------------------------------------------------------------


def _repository_where(stmt: Any, f: RepositoryFilter) -> Any:
    if f.project_ids is not None:
        stmt = stmt.where(Repository.project_id.in_(f.project_ids) if f.project_ids else literal(False))
    for cond in (_match(Repository.name, f.name, "name"), _project_match(f.project_id)):
        if cond is not None:
            stmt = stmt.where(cond)
    return stmt


def _project_match(cond: Condition | None) -> Any:
    if cond is None:
        return None
    values = [cond.value] if cond.kind == "exact" else list(cond.values) if cond.kind == "or" else None
    if values is None or not all(v is not None and v.isdigit() for v in values):
        raise BadRequest("query project_id takes an id or {id1 id2}")
    return Repository.project_id.in_([int(v) for v in values if v is not None])


def _top_level(model: Any = Artifact) -> Any:
    """Neither an index's child nor an accessory of another artifact."""
    parent = aliased(Artifact)
    referenced = exists(
        select(ArtifactReference.id)
        .join(parent, parent.id == ArtifactReference.parent_id)
        .where(parent.repository_id == model.repository_id, ArtifactReference.child_digest == model.digest)
    )
    return and_(model.subject_digest.is_(None), ~referenced)


async def count_repositories(conn: Conn, f: RepositoryFilter) -> int:
    stmt = _repository_where(select(func.count()).select_from(Repository), f)
    return int((await conn.execute(stmt)).scalar_one())


async def list_repositories(conn: Conn, f: RepositoryFilter, offset: int, limit: int,
                            sort: list[tuple[str, bool]]) -> list[RepositoryRow]:
    """A page of repositories with their artifact counts (default order: newest first)."""
    stmt = _repository_where(select(*_REPO_COLUMNS), f)
    stmt = _order(stmt, Repository, sort, [("created_at", True)]).offset(offset).limit(limit)
    rows = (await conn.execute(stmt)).all()
    counts = await count_artifacts_by_repository(conn, [r[0] for r in rows])
    return [_repository_row(r, counts) for r in rows]


_REPO_COLUMNS = (Repository.id, Repository.project_id, Repository.name, Repository.description,
                 Repository.pull_count, Repository.created_at, Repository.updated_at)


async def find_repository(conn: Conn, name: str) -> RepositoryRow | None:
    row = (await conn.execute(select(*_REPO_COLUMNS).where(Repository.name == name))).first()
    if row is None:
        return None
    return _repository_row(row, await count_artifacts_by_repository(conn, [row[0]]))


def _repository_row(row: Any, counts: dict[int, int]) -> RepositoryRow:
    return RepositoryRow(int(row[0]), int(row[1]), row[2], row[3] or "", int(row[4]), row[5], row[6],
                         counts.get(int(row[0]), 0))


async def count_artifacts_by_repository(conn: Conn, repository_ids: list[int]) -> dict[int, int]:
    """Top-level artifacts per repository (what the artifact list of each would total)."""
    if not repository_ids:
        return {}
    stmt = (select(Artifact.repository_id, func.count()).where(Artifact.repository_id.in_(repository_ids),
                                                               _top_level()).group_by(Artifact.repository_id))
    return {int(r[0]): int(r[1]) for r in await conn.execute(stmt)}


async def update_repository_description(conn: Conn, repository_id: int, description: str) -> None:
    await conn.execute(update(Repository).where(Repository.id == repository_id)
                       .values(description=description, updated_at=utcnow()))


async def delete_repository(conn: Conn, repository_id: int) -> None:
    """Delete a repository with its tags, artifacts and blob links (the blobs stay for GC)."""
    await conn.execute(delete(Tag).where(Tag.repository_id == repository_id))
    artifact_ids = select(Artifact.id).where(Artifact.repository_id == repository_id).scalar_subquery()
    await conn.execute(delete(ArtifactReference).where(ArtifactReference.parent_id.in_(artifact_ids)))
    await conn.execute(delete(Artifact).where(Artifact.repository_id == repository_id))
    await conn.execute(delete(RepositoryBlob).where(RepositoryBlob.repository_id == repository_id))
    await conn.execute(delete(Repository).where(Repository.id == repository_id))


# Artifacts -----------------------------------------------------------------------------------


def _artifact_columns() -> tuple[Any, ...]:
    content = case((func.length(Artifact.content) <= MAX_CONTENT, Artifact.content), else_=None)
    return (Artifact.id, Artifact.repository_id, Artifact.project_id, Repository.name, Artifact.digest,
            Artifact.media_type, Artifact.artifact_type, Artifact.config_media_type, Artifact.size,
            Artifact.subject_digest, Artifact.platform, Artifact.annotations, Artifact.push_time,
            Artifact.pull_time, content)


def _select_artifacts() -> Any:
    return select(*_artifact_columns()).join(Repository, Repository.id == Artifact.repository_id)


def _rows(result: Any) -> list[ArtifactRow]:
    return [ArtifactRow(*r) for r in result]


def _artifact_where(stmt: Any, repository_id: int, f: ArtifactFilter) -> Any:
    parent = aliased(Artifact)
    children = (select(ArtifactReference.child_digest)
                .join(parent, parent.id == ArtifactReference.parent_id)
                .where(parent.repository_id == repository_id))
    stmt = stmt.where(Artifact.repository_id == repository_id, Artifact.subject_digest.is_(None),
                      Artifact.digest.not_in(children.scalar_subquery()))
    media_type = func.coalesce(Artifact.config_media_type, Artifact.media_type)
    for cond in (_match(Artifact.digest, f.digest, "digest"), _match(media_type, f.media_type, "media_type"),
                 _type_match(f.type), _tags_match(repository_id, f.tags)):
        if cond is not None:
            stmt = stmt.where(cond)
    if f.labels is not None:
        stmt = stmt.where(carries_all_labels(f.labels))
    return stmt


def _type_match(cond: Condition | None) -> Any:
    if cond is None:
        return None
    key = _type_key()
    wanted = [cond.value or ""] if cond.kind in ("exact", "fuzzy") else list(cond.values)
    keys = {k for k, t in ARTIFACT_TYPES.items() if t in {w.upper() for w in wanted}}
    unknown = "UNKNOWN" in {w.upper() for w in wanted}
    clauses = [key.in_(keys)] if keys else []
    if unknown:
        clauses.append(key.not_in(list(ARTIFACT_TYPES)))
    return or_(*clauses) if clauses else literal(False)


def _tags_match(repository_id: int, cond: Condition | None) -> Any:
    """Harbor's ``tags``: ``*`` tagged, ``nil`` untagged, ``~v`` fuzzy, ``v`` exact."""
    if cond is None:
        return None
    tagged = select(Tag.artifact_id).where(Tag.repository_id == repository_id)
    if cond.kind == "exact" and cond.value == "*":
        return Artifact.id.in_(tagged)
    if cond.kind == "exact" and cond.value == "nil":
        return Artifact.id.not_in(tagged)
    return Artifact.id.in_(tagged.where(_match(Tag.name, cond, "tags")))


async def count_artifacts(conn: Conn, repository_id: int, f: ArtifactFilter) -> int:
    stmt = _artifact_where(select(func.count()).select_from(Artifact), repository_id, f)
    return int((await conn.execute(stmt)).scalar_one())


async def list_artifacts(conn: Conn, repository_id: int, f: ArtifactFilter, offset: int, limit: int,
                         sort: list[tuple[str, bool]]) -> list[ArtifactRow]:
    """A page of top-level artifacts (default order: latest push first)."""
    # Order and page on narrow rows first: sorting whole rows would drag the manifests along.
    stmt = _artifact_where(select(Artifact.id), repository_id, f)
    stmt = _order(stmt, Artifact, sort, [("push_time", True)]).offset(offset).limit(limit)
    ids = [int(r[0]) for r in await conn.execute(stmt)]
    if not ids:
        return []
    by_id = {row.id: row for row in _rows(await conn.execute(_select_artifacts().where(Artifact.id.in_(ids))))}
    return [by_id[i] for i in ids if i in by_id]


async def find_artifact(conn: Conn, repository_id: int, *, digest: str | None = None,
                        tag: str | None = None) -> ArtifactRow | None:
    """The artifact with ``digest``, or the one ``tag`` points at, in the repository."""
    stmt = _select_artifacts().where(Artifact.repository_id == repository_id)
    if digest is not None:
        stmt = stmt.where(Artifact.digest == digest)
    else:
        stmt = stmt.join(Tag, Tag.artifact_id == Artifact.id).where(Tag.repository_id == repository_id,
                                                                   Tag.name == tag)
    rows = _rows(await conn.execute(stmt))
    return rows[0] if rows else None


async def find_artifact_content(conn: Conn, artifact_id: int) -> bytes | None:
    return (await conn.execute(select(Artifact.content).where(Artifact.id == artifact_id))).scalar()


async def list_artifacts_by_digest(conn: Conn, repository_id: int, digests: list[str]) -> list[ArtifactRow]:
    if not digests:
        return []
    stmt = _select_artifacts().where(Artifact.repository_id == repository_id, Artifact.digest.in_(set(digests)))
    return _rows(await conn.execute(stmt))


async def list_accessories(conn: Conn, repository_id: int, subjects: list[str]) -> list[ArtifactRow]:
    """Artifacts of the repository whose subject is one of ``subjects`` (oldest first)."""
    if not subjects:
        return []
    stmt = (_select_artifacts()
            .where(Artifact.repository_id == repository_id, Artifact.subject_digest.in_(set(subjects)))
            .order_by(Artifact.push_time, Artifact.id))
    return _rows(await conn.execute(stmt))


async def list_references(conn: Conn, parent_ids: list[int]) -> dict[int, list[ReferenceRow]]:
    """Index children per parent artifact id, in manifest order."""
    if not parent_ids:
        return {}
    stmt = (select(ArtifactReference.id, ArtifactReference.parent_id, ArtifactReference.child_digest,
                   ArtifactReference.platform, ArtifactReference.annotations)
            .where(ArtifactReference.parent_id.in_(parent_ids)).order_by(ArtifactReference.id))
    out: dict[int, list[ReferenceRow]] = defaultdict(list)
    for r in await conn.execute(stmt):
        out[int(r[1])].append(ReferenceRow(*r))
    return out


async def list_parent_ids(conn: Conn, repository_id: int, child_digest: str) -> list[int]:
    """Ids of the indexes in the repository that reference ``child_digest``."""
    stmt = (select(Artifact.id).join(ArtifactReference, ArtifactReference.parent_id == Artifact.id)
            .where(Artifact.repository_id == repository_id, ArtifactReference.child_digest == child_digest))
    return [int(r[0]) for r in await conn.execute(stmt)]


# Tags ----------------------------------------------------------------------------------------

_TAG_COLUMNS = (Tag.id, Tag.repository_id, Tag.artifact_id, Tag.name, Tag.push_time, Tag.pull_time)


async def list_tags_of(conn: Conn, artifact_ids: list[int]) -> dict[int, list[TagRow]]:
    """Every tag of each artifact (latest pushed first)."""
    if not artifact_ids:
        return {}
    stmt = (select(*_TAG_COLUMNS).where(Tag.artifact_id.in_(artifact_ids))
            .order_by(Tag.push_time.desc(), Tag.id.desc()))
    out: dict[int, list[TagRow]] = defaultdict(list)
    for r in await conn.execute(stmt):
        out[int(r[2])].append(TagRow(*r))
    return out


def _tag_where(stmt: Any, artifact_id: int, name: Condition | None) -> Any:
    stmt = stmt.where(Tag.artifact_id == artifact_id)
    cond = _match(Tag.name, name, "name")
    return stmt if cond is None else stmt.where(cond)


async def count_artifact_tags(conn: Conn, artifact_id: int, name: Condition | None) -> int:
    stmt = _tag_where(select(func.count()).select_from(Tag), artifact_id, name)
    return int((await conn.execute(stmt)).scalar_one())


async def list_artifact_tags(conn: Conn, artifact_id: int, name: Condition | None, offset: int, limit: int,
                             sort: list[tuple[str, bool]]) -> list[TagRow]:
    stmt = _tag_where(select(*_TAG_COLUMNS), artifact_id, name)
    stmt = _order(stmt, Tag, sort, [("push_time", True)]).offset(offset).limit(limit)
    return [TagRow(*r) for r in await conn.execute(stmt)]


# Search --------------------------------------------------------------------------------------


def _visible(column: Any, project_ids: frozenset[int] | None) -> Any:
    if project_ids is None:
        return literal(True)
    return column.in_(project_ids) if project_ids else literal(False)


async def search_projects(conn: Conn, project_ids: frozenset[int] | None, text: str,
                          limit: int) -> list[ProjectHit]:
    repo_count = (select(func.count(Repository.id)).where(Repository.project_id == Project.id)
                  .correlate(Project).scalar_subquery())
    stmt = (select(Project.id, Project.name, Project.public, Project.owner_id, Project.created_at,
                   Project.updated_at, repo_count)
            .where(_visible(Project.id, project_ids), Project.name.contains(text, autoescape=True))
            .order_by(Project.name).limit(limit))
    return [ProjectHit(*r) for r in await conn.execute(stmt)]


async def search_repositories(conn: Conn, project_ids: frozenset[int] | None, text: str,
                              limit: int) -> list[RepositoryHit]:
    stmt = (select(Repository.id, Project.id, Project.name, Project.public, Repository.name, Repository.pull_count)
            .join(Project, Project.id == Repository.project_id)
            .where(_visible(Repository.project_id, project_ids), Repository.name.contains(text, autoescape=True))
            .order_by(Repository.name).limit(limit))
    rows = (await conn.execute(stmt)).all()
    counts = await count_artifacts_by_repository(conn, [int(r[0]) for r in rows])
    return [RepositoryHit(int(r[1]), r[2], bool(r[3]), r[4], int(r[5]), counts.get(int(r[0]), 0)) for r in rows]
