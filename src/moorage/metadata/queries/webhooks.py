"""Webhook policies, their last trigger times, and what a payload says about a repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Project, Repository
from moorage.metadata.models.webhook import WebhookLastTrigger, WebhookPolicy
from moorage.metadata.queries.dialect import insert_for

SORTABLE = {"id": "id", "name": "name", "creation_time": "creation_time", "update_time": "update_time",
            "enabled": "enabled"}


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: int
    project_id: int
    name: str
    description: str
    enabled: bool
    targets: list[dict[str, Any]]
    event_types: list[str]
    creator: str
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class PolicyValues:
    """What a create or an update writes."""

    name: str
    description: str
    enabled: bool
    targets: list[dict[str, Any]]
    event_types: list[str]


def _row(r: Any) -> PolicyRow:
    m = r._mapping
    return PolicyRow(int(m["id"]), int(m["project_id"]), str(m["name"]), str(m["description"] or ""),
                     bool(m["enabled"]), list(m["targets"] or []), list(m["event_types"] or []),
                     str(m["creator"] or ""), m["creation_time"], m["update_time"])


def _filters(project_id: int, name: str | None, name_fuzzy: bool) -> list[Any]:
    where: list[Any] = [WebhookPolicy.project_id == project_id]
    if name is not None:
        where.append(func.lower(WebhookPolicy.name).contains(name.lower(), autoescape=True) if name_fuzzy
                     else WebhookPolicy.name == name)
    return where


async def list_policies(conn: Conn, project_id: int, offset: int, limit: int, *, name: str | None = None,
                        name_fuzzy: bool = False, sort: list[tuple[str, bool]] | None = None) -> list[PolicyRow]:
    """One page of the project's policies (optionally by name), newest first unless ``sort`` says otherwise."""
    table = WebhookPolicy.__table__
    order = [table.c[col].desc() if desc else table.c[col].asc() for col, desc in (sort or [])]
    order += [table.c.creation_time.desc(), table.c.id.desc()]
    stmt = (select(table).where(*_filters(project_id, name, name_fuzzy)).order_by(*order)
            .offset(offset).limit(limit))
    return [_row(r) for r in await conn.execute(stmt)]


async def count_policies(conn: Conn, project_id: int, *, name: str | None = None, name_fuzzy: bool = False) -> int:
    stmt = select(func.count()).select_from(WebhookPolicy).where(*_filters(project_id, name, name_fuzzy))
    return int((await conn.execute(stmt)).scalar_one())


async def list_enabled_policies(conn: Conn, project_id: int) -> list[PolicyRow]:
    """The project's enabled policies (whatever their event types), oldest first."""
    stmt = (select(WebhookPolicy.__table__)
            .where(WebhookPolicy.project_id == project_id, WebhookPolicy.enabled.is_(True))
            .order_by(WebhookPolicy.id))
    return [_row(r) for r in await conn.execute(stmt)]


async def find_policy(conn: Conn, policy_id: int, project_id: int | None = None) -> PolicyRow | None:
    """A policy by id (within ``project_id`` when given), or None."""
    stmt = select(WebhookPolicy.__table__).where(WebhookPolicy.id == policy_id)
    if project_id is not None:
        stmt = stmt.where(WebhookPolicy.project_id == project_id)
    row = (await conn.execute(stmt)).first()
    return _row(row) if row else None


async def get_policy(conn: Conn, policy_id: int, project_id: int | None = None) -> PolicyRow:
    found = await find_policy(conn, policy_id, project_id)
    if found is None:
        raise NotFound(f"webhook policy {policy_id} not found")
    return found


async def find_policy_id_by_name(conn: Conn, project_id: int, name: str) -> int | None:
    stmt = select(WebhookPolicy.id).where(WebhookPolicy.project_id == project_id, WebhookPolicy.name == name)
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def create_policy(conn: Conn, project_id: int, values: PolicyValues, creator: str) -> int | None:
    """Insert a policy; its id, or None if the project already has one of that name."""
    now = utcnow()
    stmt = (insert_for(conn, WebhookPolicy)
            .values(project_id=project_id, name=values.name, description=values.description,
                    enabled=values.enabled, targets=values.targets, event_types=values.event_types,
                    creator=creator, creation_time=now, update_time=now)
            .on_conflict_do_nothing(index_elements=["project_id", "name"])
            .returning(WebhookPolicy.id))
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def update_policy(conn: Conn, policy_id: int, values: PolicyValues) -> bool:
    """Overwrite a policy's editable fields; False if the new name is taken by another policy
    (the transaction must then be abandoned)."""
    stmt = (update(WebhookPolicy).where(WebhookPolicy.id == policy_id)
            .values(name=values.name, description=values.description, enabled=values.enabled,
                    targets=values.targets, event_types=values.event_types, update_time=utcnow()))
    try:
        await conn.execute(stmt)
    except IntegrityError:
        return False
    return True


async def delete_policy(conn: Conn, policy_id: int) -> bool:
    result = await conn.execute(delete(WebhookPolicy).where(WebhookPolicy.id == policy_id))
    return bool(result.rowcount)


async def upsert_last_trigger(conn: Conn, policy_id: int, event_type: str, at: datetime) -> None:
    stmt = insert_for(conn, WebhookLastTrigger).values(policy_id=policy_id, event_type=event_type,
                                                       last_trigger_time=at)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["policy_id", "event_type"],
                                                  set_={"last_trigger_time": at}))


async def list_last_triggers(conn: Conn, policy_ids: list[int]) -> dict[tuple[int, str], datetime]:
    """(policy id, event type) -> when an event of that type last triggered the policy."""
    if not policy_ids:
        return {}
    stmt = select(WebhookLastTrigger.policy_id, WebhookLastTrigger.event_type, WebhookLastTrigger.last_trigger_time
                  ).where(WebhookLastTrigger.policy_id.in_(policy_ids))
    return {(int(pid), str(et)): at for pid, et, at in await conn.execute(stmt)}


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    """What a payload's ``repository`` object needs."""

    project_name: str
    public: bool
    created_at: datetime | None  # None once the repository is gone (a delete event)


async def find_repository_info(conn: Conn, project_id: int, repository: str) -> RepositoryInfo | None:
    """The project's name and visibility and, if it still exists, the repository's creation time."""
    project = (await conn.execute(select(Project.name, Project.public).where(Project.id == project_id))).first()
    if project is None:
        return None
    created = (await conn.execute(select(Repository.created_at).where(Repository.name == repository))).scalar()
    return RepositoryInfo(str(project[0]), bool(project[1]), created)
