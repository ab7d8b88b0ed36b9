"""Registry endpoints (``registries``) and what uses one: replication policies naming it as
source or destination, and proxy-cache projects bound to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from moorage.core.errors import NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Conn
from moorage.metadata.models import Project
from moorage.metadata.models.replication import RegistryEndpoint, ReplicationPolicy
from moorage.metadata.queries.dialect import insert_for

SORTABLE = {"id": "id", "name": "name", "type": "type", "url": "url", "creation_time": "creation_time",
            "update_time": "update_time"}


@dataclass(frozen=True, slots=True)
class RegistryRow:
    id: int
    name: str
    description: str
    type: str
    url: str
    insecure: bool
    ca_bundle: str | None
    credential_type: str
    access_key: str
    access_secret: str  # as stored: encrypted ("" when none)
    status: str
    status_message: str
    checked_at: datetime | None
    creation_time: datetime
    update_time: datetime


@dataclass(frozen=True, slots=True)
class RegistryValues:
    """What a create or an update writes (``access_secret`` already encrypted)."""

    name: str
    description: str
    type: str
    url: str
    insecure: bool
    ca_bundle: str | None
    credential_type: str
    access_key: str
    access_secret: str


def _row(r: Any) -> RegistryRow:
    m = r._mapping
    return RegistryRow(int(m["id"]), str(m["name"]), str(m["description"] or ""), str(m["type"]), str(m["url"]),
                       bool(m["insecure"]), m["ca_bundle"], str(m["credential_type"] or "basic"),
                       str(m["access_key"] or ""), str(m["access_secret"] or ""), str(m["status"] or "unknown"),
                       str(m["status_message"] or ""), m["checked_at"], m["creation_time"], m["update_time"])


def _filters(name: str | None, name_fuzzy: bool, kind: str | None) -> list[Any]:
    where: list[Any] = []
    if name is not None:
        where.append(func.lower(RegistryEndpoint.name).contains(name.lower(), autoescape=True) if name_fuzzy
                     else RegistryEndpoint.name == name)
    if kind is not None:
        where.append(RegistryEndpoint.type == kind)
    return where


async def list_registries(conn: Conn, offset: int, limit: int, *, name: str | None = None, name_fuzzy: bool = False,
                          kind: str | None = None, sort: list[tuple[str, bool]] | None = None) -> list[RegistryRow]:
    """One page of endpoints (optionally by name and type), oldest first unless ``sort`` says otherwise."""
    table = RegistryEndpoint.__table__
    order = [table.c[col].desc() if desc else table.c[col].asc() for col, desc in (sort or [])]
    order.append(table.c.id.asc())
    stmt = select(table).where(*_filters(name, name_fuzzy, kind)).order_by(*order).offset(offset).limit(limit)
    return [_row(r) for r in await conn.execute(stmt)]


async def count_registries(conn: Conn, *, name: str | None = None, name_fuzzy: bool = False,
                           kind: str | None = None) -> int:
    stmt = select(func.count()).select_from(RegistryEndpoint).where(*_filters(name, name_fuzzy, kind))
    return int((await conn.execute(stmt)).scalar_one())


async def find_registry(conn: Conn, registry_id: int) -> RegistryRow | None:
    row = (await conn.execute(select(RegistryEndpoint.__table__).where(RegistryEndpoint.id == registry_id))).first()
    return _row(row) if row else None


async def get_registry(conn: Conn, registry_id: int) -> RegistryRow:
    found = await find_registry(conn, registry_id)
    if found is None:
        raise NotFound(f"registry {registry_id} not found")
    return found


async def find_registry_id_by_name(conn: Conn, name: str) -> int | None:
    found = (await conn.execute(select(RegistryEndpoint.id).where(RegistryEndpoint.name == name))).scalar()
    return int(found) if found is not None else None


async def create_registry(conn: Conn, values: RegistryValues) -> int | None:
    """Insert an endpoint (status unknown); its id, or None if the name is taken."""
    now = utcnow()
    stmt = (insert_for(conn, RegistryEndpoint)
            .values(name=values.name, description=values.description, type=values.type, url=values.url,
                    insecure=values.insecure, ca_bundle=values.ca_bundle, credential_type=values.credential_type,
                    access_key=values.access_key, access_secret=values.access_secret, status="unknown",
                    status_message="", checked_at=None, creation_time=now, update_time=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(RegistryEndpoint.id))
    found = (await conn.execute(stmt)).scalar()
    return int(found) if found is not None else None


async def update_registry(conn: Conn, registry_id: int, values: RegistryValues, *, reset_status: bool) -> bool:
    """Overwrite an endpoint's editable fields (and forget its health when ``reset_status``); False
    if the new name is taken by another endpoint (the transaction must then be abandoned)."""
    fields: dict[str, Any] = dict(
        name=values.name, description=values.description, type=values.type, url=values.url,
        insecure=values.insecure, ca_bundle=values.ca_bundle, credential_type=values.credential_type,
        access_key=values.access_key, access_secret=values.access_secret, update_time=utcnow())
    if reset_status:
        fields.update(status="unknown", status_message="", checked_at=None)
    try:
        await conn.execute(update(RegistryEndpoint).where(RegistryEndpoint.id == registry_id).values(**fields))
    except IntegrityError:
        return False
    return True


async def set_status(conn: Conn, registry_id: int, status: str, message: str, checked_at: datetime) -> None:
    await conn.execute(update(RegistryEndpoint).where(RegistryEndpoint.id == registry_id)
                       .values(status=status, status_message=message, checked_at=checked_at))


async def delete_registry(conn: Conn, registry_id: int) -> bool | None:
    """Delete an endpoint: True, False if it does not exist, None if a policy still references it
    (the foreign key refused; the transaction must then be abandoned)."""
    try:
        result = await conn.execute(delete(RegistryEndpoint).where(RegistryEndpoint.id == registry_id))
    except IntegrityError:
        return None
    return bool(result.rowcount)


async def list_policy_names_using(conn: Conn, registry_id: int) -> list[str]:
    """Names of the replication policies pulling from or pushing to the endpoint."""
    stmt = (select(ReplicationPolicy.name)
            .where(or_(ReplicationPolicy.src_registry_id == registry_id,
                       ReplicationPolicy.dest_registry_id == registry_id))
            .order_by(ReplicationPolicy.name))
    return [str(n) for n in (await conn.execute(stmt)).scalars()]


async def list_proxy_project_names_using(conn: Conn, registry_id: int) -> list[str]:
    """Names of the proxy-cache projects bound to the endpoint."""
    stmt = select(Project.name).where(Project.registry_id == registry_id).order_by(Project.name)
    return [str(n) for n in (await conn.execute(stmt)).scalars()]
