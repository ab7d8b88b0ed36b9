"""Robot accounts: system- and project-level, Harbor's naming, permissions and lifetimes.

Permission checks against the caller (may it create robots here, does it hold every access
it grants) happen at the edge; this module validates the request itself (shape, Harbor's
grantable sets, existing projects) and says which accesses the caller must hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from moorage.auth.passwords import Passwords, check_password_rule, generate_secret
from moorage.auth.rbac import ROBOT_PROJECT_GRANTABLE, ROBOT_SYSTEM_GRANTABLE, ProjectRef
from moorage.core.errors import BadRequest, Conflict, NotFound
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.configuration import ConfigService
from moorage.domain.projects import ProjectService
from moorage.metadata.models import Robot
from moorage.metadata.queries import robots as q

LEVELS = ("system", "project")
EFFECTS = ("allow", "deny")
# Harbor's robot name rule ('+' separates a project robot's project from its name).
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_MAX_DURATION = 2**31 - 1
# Stands for "every project" (namespace "*") in a permission check: rbac grants it only to
# the system administrator and to robots holding namespace "*" themselves.
ALL_PROJECTS = ProjectRef(0, "*", False)


@dataclass(frozen=True, slots=True)
class Grant:
    """One access a robot is to be allowed; whoever grants it must hold it too.
    ``project`` is None for a system access, ``ALL_PROJECTS`` for namespace "*"."""

    resource: str
    action: str
    project: ProjectRef | None


@dataclass(frozen=True, slots=True)
class RobotPermissions:
    """Validated permissions: what to store, what the granter must hold, and the project of
    a project-level robot."""

    value: list[dict[str, Any]]
    grants: tuple[Grant, ...]
    project: ProjectRef | None


def validate_name(name: str | None) -> str:
    if not name or len(name) > 255 or not _NAME.match(name):
        raise BadRequest(
            "robot name is not in lower case or contains illegal characters: use 1-255 lower-case "
            "letters and digits, separated by single '.', '_' or '-'"
        )
    return name


def check_duration(duration: int) -> int:
    """Days: -1 (never expires) or a positive number; BAD_REQUEST otherwise."""
    if duration != -1 and not 0 < duration < _MAX_DURATION:
        raise BadRequest(
            f"bad request error duration input: {duration}, duration must be either -1(Never) or a positive integer"
        )
    return duration


def expiry(duration: int, start: datetime) -> datetime | None:
    """When a robot of ``duration`` days from ``start`` expires (None: never)."""
    if duration == -1:
        return None
    try:
        return start + timedelta(days=duration)
    except OverflowError:
        raise BadRequest(f"duration {duration} is too long") from None


class RobotService:
    def __init__(self, db: Database, passwords: Passwords, config: ConfigService, audit: AuditService,
                 projects: ProjectService) -> None:
        self.db = db
        self.passwords = passwords
        self.config = config
        self.audit = audit
        self.projects = projects

    async def name_prefix(self) -> str:
        return str(await self.config.value("robot_name_prefix"))

    async def check_permissions(self, level: str | None, permissions: list[dict[str, Any]] | None) -> RobotPermissions:
        """Validate Harbor-format permissions for a robot of ``level``.  BAD_REQUEST for a bad
        level, kind, namespace or access (or one outside Harbor's grantable set), NOT_FOUND for
        a project that does not exist.  A project-level robot holds exactly one permission,
        of kind project, naming its project."""
        if level not in LEVELS:
            raise BadRequest(f"bad request error level input: {level}: must be system or project")
        if not permissions:
            raise BadRequest("bad request empty permission")
        if level == "project" and len(permissions) != 1:
            raise BadRequest("a project robot holds exactly one permission, for its own project")
        value: list[dict[str, Any]] = []
        grants: list[Grant] = []
        project: ProjectRef | None = None
        for perm in permissions:
            kind, namespace = perm.get("kind"), perm.get("namespace")
            scope: ProjectRef | None = None
            if kind == "system" and level == "system":
                if namespace != "/":
                    raise BadRequest(f"unknown namespace {namespace!r}: system permissions use namespace '/'")
                grantable = ROBOT_SYSTEM_GRANTABLE
            elif kind == "project":
                if not isinstance(namespace, str) or not namespace:
                    raise BadRequest("a project permission needs the project's name as namespace")
                if namespace == "*" and level == "project":
                    raise BadRequest("a project robot cannot hold permissions on all projects ('*')")
                scope = ALL_PROJECTS if namespace == "*" else await self._project(namespace)
                namespace, grantable = scope.name, ROBOT_PROJECT_GRANTABLE
                if level == "project":
                    project = scope
            else:
                raise BadRequest(f"bad request permission level: {kind!r} for a {level} robot")
            access = [_access(a, grantable) for a in perm.get("access") or ()]
            if not access:
                raise BadRequest("bad request empty access")
            grants += [Grant(a["resource"], a["action"], scope) for a in access if a.get("effect") != "deny"]
            value.append({"kind": kind, "namespace": namespace, "access": access})
        return RobotPermissions(value, tuple(grants), project)

    async def _project(self, name: str) -> ProjectRef:
        return await self.projects.get_ref(name, is_name=True)

    async def create(
        self,
        *,
        name: str,
        description: str,
        level: str,
        permissions: RobotPermissions,
        duration: int | None,
        disabled: bool,
        secret: str | None,
        creator: Actor,
    ) -> tuple[Robot, str]:
        """Create a robot named ``<prefix><name>`` (system) or ``<prefix><project>+<name>``;
        returns it and its secret (generated unless given).  BAD_REQUEST for a bad name,
        duration or secret; CONFLICT if the name is taken."""
        validate_name(name)
        if secret:
            check_password_rule(secret)
        else:
            secret = generate_secret()
        if duration is None:
            duration = int(await self.config.value("robot_token_duration"))
        check_duration(duration)
        prefix = await self.name_prefix()
        project = permissions.project
        full = f"{prefix}{project.name}+{name}" if project is not None else f"{prefix}{name}"
        if len(full) > 255:
            raise BadRequest(f"robot name {full!r} is longer than 255 characters")
        now = utcnow()
        values: dict[str, Any] = {
            "name": full,
            "description": description,
            "level": level,
            "project_id": project.id if project else None,
            "permissions": permissions.value,
            "duration": duration,
            "expires_at": expiry(duration, now),
            "disabled": disabled,
            "creator": creator.username,
        }
        hashed = await self.passwords.hash_async(secret)
        async with self.db.write() as uow:
            robot_id = await q.create_robot(uow.conn, secret_hash=hashed, **values)
            if robot_id is None:
                raise Conflict(f"robot {full} already exists")
            await self.audit.record(
                uow.conn,
                creator,
                AuditEntry(
                    "create", "robot", full, project.id if project else None, description=f"created {level} robot"
                ),
            )
            robot = await q.get_robot(uow.conn, robot_id)
        return robot, secret

    async def get(self, robot_id: int) -> Robot:
        """The robot, or NOT_FOUND."""
        async with self.db.read() as conn:
            return await q.get_robot(conn, robot_id)

    async def list(
        self, filters: q.RobotFilter, offset: int, limit: int, sort: list[tuple[str, bool]]
    ) -> tuple[list[Robot], int]:
        async with self.db.read() as conn:
            return await q.list_robots(conn, filters, offset, limit, sort), await q.count_robots(conn, filters)

    async def update(
        self,
        robot: Robot,
        *,
        description: str | None,
        disabled: bool | None,
        duration: int | None,
        permissions: RobotPermissions | None,
        actor: Actor,
    ) -> None:
        """Change what is given (None keeps it).  A new duration counts from the robot's creation,
        as in Harbor.  A project robot's permissions must stay on its project (BAD_REQUEST)."""
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = description
        if disabled is not None:
            values["disabled"] = disabled
        if duration is not None and duration != robot.duration:
            values["duration"] = check_duration(duration)
            values["expires_at"] = expiry(duration, robot.created_at)
        if permissions is not None:
            if robot.level == "project" and (permissions.project is None or permissions.project.id != robot.project_id):
                raise BadRequest("cannot move a project robot to another project")
            values["permissions"] = permissions.value
        changed = ", ".join(sorted(values)) or "nothing"
        async with self.db.write() as uow:
            if not await q.update_robot(uow.conn, robot.id, **values):
                raise NotFound(f"robot {robot.id} not found")
            await self.audit.record(
                uow.conn,
                actor,
                AuditEntry("update", "robot", robot.name, robot.project_id, description=f"updated {changed}"),
            )

    async def refresh_secret(self, robot: Robot, secret: str | None, actor: Actor) -> str | None:
        """Replace the secret: the given one (BAD_REQUEST unless it satisfies the password rule)
        or a generated one, which is returned (None when the caller chose it, as Harbor)."""
        generated = None
        if secret:
            check_password_rule(secret)
        else:
            secret = generated = generate_secret()
        hashed = await self.passwords.hash_async(secret)
        async with self.db.write() as uow:
            if not await q.update_robot(uow.conn, robot.id, secret_hash=hashed):
                raise NotFound(f"robot {robot.id} not found")
            await self.audit.record(
                uow.conn,
                actor,
                AuditEntry("update", "robot", robot.name, robot.project_id, description="refreshed secret"),
            )
        return generated

    async def delete(self, robot: Robot, actor: Actor) -> None:
        async with self.db.write() as uow:
            if not await q.delete_robot(uow.conn, robot.id):
                raise NotFound(f"robot {robot.id} not found")
            await self.audit.record(uow.conn, actor, AuditEntry("delete", "robot", robot.name, robot.project_id))


def _access(raw: Any, grantable: dict[str, frozenset[str]]) -> dict[str, str]:
    """One access as stored; BAD_REQUEST unless it is well formed and grantable."""
    if not isinstance(raw, dict):
        raise BadRequest("an access is an object {resource, action, effect}")
    resource, action, effect = raw.get("resource"), raw.get("action"), raw.get("effect")
    if not isinstance(resource, str) or not isinstance(action, str) or action not in grantable.get(resource, ()):
        raise BadRequest(f"bad request permission: {resource}:{action} cannot be granted to a robot")
    if effect not in (None, "", *EFFECTS):
        raise BadRequest(f"bad request permission effect {effect!r}: must be allow or deny")
    out = {"resource": resource, "action": action}
    if effect:
        out["effect"] = effect
    return out
