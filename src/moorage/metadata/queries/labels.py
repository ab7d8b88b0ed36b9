"""Label queries: global and project labels, their attachment to artifacts, and the
artifact-list condition "carries every one of these labels"."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal, select, update

from moorage.core.errors import BadRequest
from moorage.core.query import Condition
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Artifact
from moorage.metadata.models.label import ArtifactLabel, Label
from moorage.metadata.queries.dialect import insert_for

LABEL_SORT = {"id": "id", "name": "name", "creation_time": "creation_time", "update_time": "update_time"}
MAX_ID = 2**31 - 1  # ids are 32-bit: PostgreSQL rejects larger parameters rather than finding nothing


@dataclass(frozen=True, slots=True)
class LabelRow:
    """A label with Harbor's field names (``project_id`` is 0 for a global label)."""

    id: int
    name: str
    description: str
    color: str
    scope: str
    project_id: int
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class LabelFilter:
    scope: str
    project_id: int | None = None
    name: Condition | None = None


_COLUMNS = (Label.id, Label.name, Label.description, Label.color, Label.scope, Label.project_id,
            Label.creation_time, Label.update_time)


def _row(r: Any) -> LabelRow:
    return LabelRow(int(r[0]), r[1], r[2] or "", r[3] or "", r[4], int(r[5] or 0), r[6], r[7])


def _where(stmt: Any, f: LabelFilter) -> Any:
    stmt = stmt.where(Label.scope == f.scope)
    if f.project_id is not None:
        stmt = stmt.where(Label.project_id == f.project_id)
    if f.name is not None:
        if f.name.kind == "exact":
            stmt = stmt.where(Label.name == f.name.value)
        elif f.name.kind == "fuzzy":
            stmt = stmt.where(Label.name.contains(f.name.value or "", autoescape=True))
        elif f.name.kind == "or":
            stmt = stmt.where(Label.name.in_(f.name.values))
        else:
            raise BadRequest("query name takes a value, ~value or {a b}")
    return stmt


async def count_labels(conn: Conn, f: LabelFilter) -> int:
    return int((await conn.execute(_where(select(func.count()).select_from(Label), f))).scalar_one())


async def list_labels(conn: Conn, f: LabelFilter, offset: int, limit: int,
                      sort: list[tuple[str, bool]]) -> list[LabelRow]:
    """A page of labels (default order: newest first)."""
    keys = sort or [("creation_time", True)]
    order = [getattr(Label, c).desc() if desc else getattr(Label, c).asc() for c, desc in keys]
    order.append(Label.id.desc() if keys[0][1] else Label.id.asc())
    stmt = _where(select(*_COLUMNS), f).order_by(*order).offset(offset).limit(limit)
    return [_row(r) for r in await conn.execute(stmt)]


async def find_label(conn: Conn, label_id: int) -> LabelRow | None:
    if not 0 < label_id <= MAX_ID:
        return None
    row = (await conn.execute(select(*_COLUMNS).where(Label.id == label_id))).first()
    return _row(row) if row else None


async def find_label_id_by_name(conn: Conn, name: str, scope: str, project_id: int | None) -> int | None:
    """The id of the label named ``name`` in the scope (and project), if any."""
    stmt = select(Label.id).where(Label.name == name, Label.scope == scope,
                                  Label.project_id.is_(None) if project_id is None else Label.project_id == project_id)
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def create_label(conn: Conn, name: str, description: str, color: str, scope: str,
                       project_id: int | None) -> int | None:
    """The new label's id; None if the scope (or project) already has a label of that name."""
    now = utcnow()
    stmt = (insert_for(conn, Label).values(name=name, description=description, color=color, scope=scope,
                                           project_id=project_id, creation_time=now, update_time=now)
            .on_conflict_do_nothing().returning(Label.id))
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def update_label(conn: Conn, label_id: int, name: str, description: str, color: str) -> bool:
    result = await conn.execute(update(Label).where(Label.id == label_id).values(
        name=name, description=description, color=color, update_time=utcnow()))
    return bool(result.rowcount)


async def delete_label(conn: Conn, label_id: int) -> bool:
    """Delete the label and its attachments; False if there was none."""
    if not 0 < label_id <= MAX_ID:
        return False
    await conn.execute(delete(ArtifactLabel).where(ArtifactLabel.label_id == label_id))
    result = await conn.execute(delete(Label).where(Label.id == label_id))
    return bool(result.rowcount)


async def create_artifact_label(conn: Conn, artifact_id: int, label_id: int) -> bool:
    """Attach the label; False if the artifact already carries it."""
    stmt = (insert_for(conn, ArtifactLabel).values(artifact_id=artifact_id, label_id=label_id, creation_time=utcnow())
            .on_conflict_do_nothing(index_elements=["artifact_id", "label_id"]))
    return bool((await conn.execute(stmt)).rowcount)


async def delete_artifact_label(conn: Conn, artifact_id: int, label_id: int) -> bool:
    result = await conn.execute(delete(ArtifactLabel).where(
        ArtifactLabel.artifact_id == artifact_id, ArtifactLabel.label_id == label_id))
    return bool(result.rowcount)


async def list_labels_of(conn: Conn, artifact_ids: list[int]) -> dict[int, list[LabelRow]]:
    """The labels each artifact carries, in the order they were attached."""
    if not artifact_ids:
        return {}
    stmt = (select(ArtifactLabel.artifact_id, *_COLUMNS).join(Label, Label.id == ArtifactLabel.label_id)
            .where(ArtifactLabel.artifact_id.in_(artifact_ids))
            .order_by(ArtifactLabel.creation_time, ArtifactLabel.label_id))
    out: dict[int, list[LabelRow]] = defaultdict(list)
    for r in await conn.execute(stmt):
        out[int(r[0])].append(_row(r[1:]))
    return out


def carries_all_labels(cond: Condition) -> Any:
    """Harbor's artifact filter ``labels=(id1 id2)``: artifacts carrying every listed label.
    Only an and-list of integer ids is accepted, as in Harbor."""
    if cond.kind != "and" or not all(v.isdigit() for v in cond.values):
        raise BadRequest('the value of "labels" query can only be integer list with intersection relationship, '
                         "e.g. labels=(1 2)")
    ids = [int(v) for v in cond.values]
    if any(i > MAX_ID for i in ids):
        return literal(False)  # an id that cannot exist matches nothing
    return and_(*(Artifact.id.in_(select(ArtifactLabel.artifact_id).where(ArtifactLabel.label_id == i))
                  for i in ids))
