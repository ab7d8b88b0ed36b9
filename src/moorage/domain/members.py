"""Project members: which user holds which of Harbor's roles in a project."""

from __future__ import annotations

from moorage.auth.rbac import ROLE_NAMES, ProjectRef, Role
from moorage.core.errors import BadRequest, Conflict, NotFound
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.metadata.queries import members as q
from moorage.metadata.queries import users as users_q
from moorage.metadata.queries.members import MemberRow

MAX_ID = 2**31 - 1  # ids are 32-bit; PostgreSQL refuses larger parameters rather than finding nothing


def role_name(role: int) -> str:
    return ROLE_NAMES[Role(role)]


def _valid_role(role: int | None) -> Role:
    if role is None or isinstance(role, bool) or role not in set(Role):
        raise BadRequest(f"invalid role {role}: must be a project role id "
                         "(1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest)")
    return Role(role)


class MemberService:
    def __init__(self, db: Database, audit: AuditService) -> None:
        self.db = db
        self.audit = audit

    async def page(self, project_id: int, entity_name: str | None, offset: int, limit: int
                   ) -> tuple[list[MemberRow], int]:
        """One page of the project's members (optionally whose name contains ``entity_name``) and their total."""
        async with self.db.read() as conn:
            total = await q.count_members(conn, project_id, entity_name)
            rows = await q.list_members(conn, project_id, entity_name, offset, limit) if total > offset else []
        return rows, total

    async def get(self, project_id: int, member_id: int) -> MemberRow:
        """The membership; raises NotFound."""
        found = None
        if 0 < member_id <= MAX_ID:
            async with self.db.read() as conn:
                found = await q.find_member(conn, project_id, member_id)
        if found is None:
            raise NotFound(f"member {member_id} not found in project {project_id}")
        return found

    async def add(self, project: ProjectRef, role: int | None, actor: Actor, *, user_id: int | None = None,
                  username: str | None = None) -> int:
        """Make a user (by id, else by name) a member; BAD_REQUEST for a bad role or an unknown
        user id, NOT_FOUND for an unknown username, CONFLICT if already a member."""
        checked = _valid_role(role)
        async with self.db.write() as uow:
            if user_id:
                user = await users_q.find_user(uow.conn, user_id) if 0 < user_id <= MAX_ID else None
                if user is None:
                    raise BadRequest(f"user {user_id} not found")
            elif username:
                user = await users_q.find_user_by_name(uow.conn, username)
                if user is None:
                    raise NotFound(f"user {username} not found")
            else:
                raise BadRequest("member_user needs a user_id or a username")
            member_id = await q.create_member(uow.conn, project.id, user.id, checked)
            if member_id is None:
                raise Conflict(f"user {user.username} is already a member of project {project.name}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "member", f"{project.name}/{user.username}", project.id,
                f"added {user.username} as {role_name(checked)}"))
        return member_id

    async def update_role(self, project: ProjectRef, member_id: int, role: int | None, actor: Actor) -> None:
        checked = _valid_role(role)
        async with self.db.write() as uow:
            found = await q.find_member(uow.conn, project.id, member_id) if 0 < member_id <= MAX_ID else None
            if found is None:
                raise NotFound(f"member {member_id} not found in project {project.name}")
            await q.update_member_role(uow.conn, project.id, member_id, checked)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "member", f"{project.name}/{found.username}", project.id,
                f"changed role of {found.username} from {role_name(found.role)} to {role_name(checked)}"))

    async def remove(self, project: ProjectRef, member_id: int, actor: Actor) -> None:
        async with self.db.write() as uow:
            found = await q.find_member(uow.conn, project.id, member_id) if 0 < member_id <= MAX_ID else None
            if found is None or not await q.delete_member(uow.conn, project.id, member_id):
                raise NotFound(f"member {member_id} not found in project {project.name}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "member", f"{project.name}/{found.username}", project.id,
                f"removed {found.username} ({role_name(found.role)})"))
