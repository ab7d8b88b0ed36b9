"""The set of projects a principal may see (list and pull from): everything for system
administrators and robots with ``namespace: "*"``, else public projects, memberships and
the projects a robot's permissions name."""

from __future__ import annotations

from moorage.auth.rbac import Principal
from moorage.db.engine import Database
from moorage.metadata.queries import visibility as q


async def visible_project_ids(db: Database, principal: Principal) -> set[int] | None:
    """Project ids, or None meaning every project."""
    if principal.sysadmin:
        return None
    names: list[str] = []
    for perm in principal.permissions:
        if perm.get("kind") == "project":
            if perm.get("namespace") == "*":
                return None
            names.append(str(perm.get("namespace")))
    user_id = principal.id if principal.kind == "user" else None
    async with db.read() as conn:
        return await q.list_visible_project_ids(conn, user_id, names)
