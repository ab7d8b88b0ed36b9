"""Projects: the first component of every repository name; their metadata (Harbor's string
key/values, with ``public`` kept in ``projects.public`` where ``/v2`` reads it), listing,
details, summaries and deletion."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from moorage.auth.rbac import ProjectRef, Role
from moorage.core.errors import BadRequest, Conflict, NotFound, PreconditionFailed, oci_error
from moorage.db.engine import Conn, Database
from moorage.domain.audit import SYSTEM, Actor, AuditEntry, AuditService
from moorage.metadata.models import Project
from moorage.metadata.queries import members as members_q
from moorage.metadata.queries import projects as q
from moorage.metadata.queries import proxy as proxy_q
from moorage.metadata.queries import quotas as quotas_q
from moorage.metadata.queries import robots as robots_q
from moorage.oci.names import project_of, validate_project_name

BOOLEAN_KEYS = frozenset({"public", "auto_scan", "prevent_vul", "enable_content_trust",
                          "enable_content_trust_cosign", "reuse_sys_cve_allowlist", "auto_sbom_generation"})
SEVERITIES = ("none", "low", "medium", "high", "critical")
# Proxy-cache options (Harbor's keys; they only matter on a project created with a registry_id).
PROXY_NUMBER_KEYS = frozenset({"proxy_speed_kb", "max_upstream_conn"})
PROXY_KEYS = frozenset({*PROXY_NUMBER_KEYS, "proxy_cache_local_on_not_found"})
METADATA_KEYS = frozenset({*BOOLEAN_KEYS, "severity", "retention_id", *PROXY_KEYS})
_TRUE = frozenset({"1", "t", "true"})  # Go's strconv.ParseBool, which Harbor uses
_FALSE = frozenset({"0", "f", "false"})
MAX_ID = 2**31 - 1
NOT_DELETABLE = "the project contains repositories, can not be deleted"


def normalize_metadata(values: Mapping[str, str]) -> dict[str, str]:
    """Validate metadata as Harbor does and return it normalised (flags ``"true"``/``"false"``,
    severity lower case); an unknown key or a bad value is BAD_REQUEST."""
    out: dict[str, str] = {}
    for key, raw in values.items():
        value = raw.strip()
        if key in BOOLEAN_KEYS or key == "proxy_cache_local_on_not_found":
            if value.lower() not in _TRUE | _FALSE:
                raise BadRequest(f"invalid value {raw!r} of metadata {key}: expected true or false")
            out[key] = "true" if value.lower() in _TRUE else "false"
        elif key == "severity":
            if value.lower() not in SEVERITIES:
                raise BadRequest(f"invalid severity {raw!r}: expected one of {', '.join(SEVERITIES)}")
            out[key] = value.lower()
        elif key in PROXY_NUMBER_KEYS:
            if not value.lstrip("-").isdigit() or int(value) < -1 or int(value) > MAX_ID:
                raise BadRequest(f"invalid value {raw!r} of metadata {key}: expected a number (-1 or 0: unlimited)")
            out[key] = str(int(value))
        elif key == "retention_id":
            if not value.isdigit():
                raise BadRequest(f"invalid retention_id {raw!r}: expected a retention policy id")
            out[key] = value
        else:
            raise BadRequest(f"invalid metadata key {key!r}: allowed keys are {', '.join(sorted(METADATA_KEYS))}")
    return out


@dataclass(frozen=True, slots=True)
class ProjectDetail:
    """A project as the API shows it; ``role`` is the asking user's member role (None if not one)."""

    id: int
    name: str
    public: bool
    owner_id: int | None
    owner_name: str | None
    created_at: datetime
    updated_at: datetime
    repo_count: int
    metadata: dict[str, str] = field(default_factory=dict)  # includes "public"
    role: int | None = None
    registry_id: int | None = None  # set on a proxy-cache project: its upstream endpoint

    @property
    def ref(self) -> ProjectRef:
        return ProjectRef(self.id, self.name, self.public)


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    repo_count: int
    members_by_role: dict[int, int]
    quota: quotas_q.Usage | None = None  # storage limit (-1: unlimited) and usage in bytes


def _describe(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


class ProjectService:
    def __init__(self, db: Database, audit: AuditService) -> None:
        self.db = db
        self.audit = audit

    async def create(self, name: str, public: bool = False, *, metadata: Mapping[str, str] | None = None,
                     owner_id: int | None = None, actor: Actor = SYSTEM, storage_limit: int = -1,
                     registry_id: int | None = None) -> int:
        """Create a project; raise Conflict if the name is taken, NAME_INVALID if malformed,
        BAD_REQUEST for bad metadata (whose ``public``, when given, wins over ``public``).
        The owner (a user) becomes its ProjectAdmin member; ``storage_limit`` is its quota.
        With ``registry_id`` (an existing endpoint: the caller checks) it is a proxy cache."""
        validate_project_name(name)
        values = normalize_metadata(metadata or {})
        if "public" in values:
            public = values.pop("public") == "true"
        async with self.db.write() as uow:
            project_id = await q.create_project(uow.conn, name, public, owner_id, storage_limit)
            if project_id is None:
                raise Conflict(f"project {name} already exists")
            await q.set_metadata(uow.conn, project_id, values)
            if registry_id is not None:
                await proxy_q.set_registry(uow.conn, project_id, registry_id)
            if owner_id is not None:
                await members_q.create_member(uow.conn, project_id, owner_id, Role.PROJECT_ADMIN)
            description = _describe({"public": str(public).lower(), **values,
                                     **({"registry_id": str(registry_id)} if registry_id is not None else {})})
            await self.audit.record(uow.conn, actor, AuditEntry("create", "project", name, project_id,
                                                                f"created project {name} ({description})"))
        return project_id

    async def ensure(self, name: str, public: bool) -> None:
        """Create the project unless it exists (first start: the public ``library``)."""
        async with self.db.write() as uow:
            await q.create_project(uow.conn, name, public)

    async def list(self) -> list[Project]:
        async with self.db.read() as conn:
            return await q.list_projects(conn)

    async def project_for_push(self, repository: str) -> int:
        """The id of the project a push to ``repository`` lands in; NAME_UNKNOWN if it does not exist."""
        name = project_of(repository)
        async with self.db.read() as conn:
            project_id = await q.find_project_id(conn, name)
        if project_id is None:
            raise oci_error(
                "NAME_UNKNOWN",
                f"project {name} not found: create it first (moorage project create {name})",
                detail={"name": repository},
            )
        return project_id

    async def find_ref(self, name: str | None = None, project_id: int | None = None) -> ProjectRef | None:
        """What permission checks need about a project, by name or id; None if it does not exist."""
        async with self.db.read() as conn:
            row = await q.find_project_ref(conn, name=name, project_id=project_id)
        return ProjectRef(*row) if row else None

    async def get_ref(self, name_or_id: str, is_name: bool = False) -> ProjectRef:
        """Resolve Harbor's ``{project_name_or_id}``: an all-digit value is an id unless the
        caller sent ``X-Is-Resource-Name: true``.  Raises NotFound."""
        if not is_name and name_or_id.isdigit():
            project_id = int(name_or_id)
            # Ids are 32-bit: PostgreSQL rejects a larger literal rather than finding nothing.
            ref = await self.find_ref(project_id=project_id) if project_id <= MAX_ID else None
        else:
            ref = await self.find_ref(name=name_or_id)
        if ref is None:
            raise NotFound(f"project {name_or_id} not found")
        return ref

    # Reading ---------------------------------------------------------------------------

    async def _details(self, conn: Conn, rows: builtins.list[tuple[Project, str | None]], user_id: int | None
                       ) -> builtins.list[ProjectDetail]:
        ids = [p.id for p, _ in rows]
        repos = await q.count_repositories(conn, ids)
        metadata = await q.list_metadata(conn, ids)
        roles = await members_q.list_roles(conn, user_id, ids) if user_id is not None else {}
        return [
            ProjectDetail(p.id, p.name, p.public, p.owner_id, owner, p.created_at, p.updated_at, repos.get(p.id, 0),
                          {"public": str(p.public).lower(), **metadata[p.id]}, roles.get(p.id), p.registry_id)
            for p, owner in rows
        ]

    async def page(self, f: q.ProjectFilter, offset: int, limit: int, sort: builtins.list[tuple[str, bool]],
                   user_id: int | None = None) -> tuple[builtins.list[ProjectDetail], int]:
        """One page of the projects matching ``f`` (visibility included) and their total;
        ``role`` is ``user_id``'s role in each."""
        async with self.db.read() as conn:
            total = await q.count_projects(conn, f)
            rows = await q.list_projects_page(conn, f, offset, limit, sort) if total > offset else []
            return await self._details(conn, rows, user_id), total

    async def get(self, project_id: int, user_id: int | None = None) -> ProjectDetail:
        """The project's details; raises NotFound."""
        async with self.db.read() as conn:
            row = await q.get_project(conn, project_id)
            return (await self._details(conn, [row], user_id))[0]

    async def metadata(self, project_id: int) -> dict[str, str]:
        """All metadata of the project, ``public`` included."""
        return (await self.get(project_id)).metadata

    async def deletable(self, project_id: int) -> tuple[bool, str | None]:
        """(may it be deleted, why not): not while it holds repositories."""
        async with self.db.read() as conn:
            repos = (await q.count_repositories(conn, [project_id])).get(project_id, 0)
        return (False, NOT_DELETABLE) if repos else (True, None)

    async def summary(self, project_id: int) -> ProjectSummary:
        async with self.db.read() as conn:
            repos = (await q.count_repositories(conn, [project_id])).get(project_id, 0)
            return ProjectSummary(repos, await members_q.count_members_by_role(conn, project_id),
                                  await quotas_q.find_usage(conn, project_id))

    # Changing --------------------------------------------------------------------------

    async def update(self, project: ProjectRef, actor: Actor, metadata: Mapping[str, str]) -> None:
        """Merge metadata into the project (``public`` included).  ``retention_id`` may only
        repeat the one already associated (Harbor's rule)."""
        values = normalize_metadata(metadata)
        public = values.pop("public", None)
        async with self.db.write() as uow:
            if not await q.lock_project(uow.conn, project.id):
                raise NotFound(f"project {project.name} not found")
            if "retention_id" in values:
                stored = (await q.list_metadata(uow.conn, [project.id]))[project.id]
                if stored.get("retention_id") != values["retention_id"]:
                    raise BadRequest("the retention_id in the request should be omitted, or be the one already "
                                     "associated with this project")
            await q.update_project(uow.conn, project.id, None if public is None else public == "true")
            await q.set_metadata(uow.conn, project.id, values)
            changed = {**values, **({"public": public} if public is not None else {})}
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "project", project.name, project.id,
                f"set {_describe(changed)}" if changed else "updated project"))

    async def add_metadata(self, project: ProjectRef, actor: Actor, metadata: Mapping[str, str]) -> None:
        """Add metadata keys the project does not have yet (Conflict for one it has; ``public``
        always exists)."""
        values = normalize_metadata(metadata)
        async with self.db.write() as uow:
            if not await q.lock_project(uow.conn, project.id):
                raise NotFound(f"project {project.name} not found")
            stored = {"public": "", **(await q.list_metadata(uow.conn, [project.id]))[project.id]}
            taken = sorted(set(values) & set(stored))
            if taken:
                raise Conflict(f"metadata {', '.join(taken)} already exists in project {project.name}: "
                               "update it with PUT")
            await q.update_project(uow.conn, project.id)
            await q.set_metadata(uow.conn, project.id, values)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "project", project.name, project.id, f"set {_describe(values)}"))

    async def delete_metadata(self, project: ProjectRef, actor: Actor, name: str) -> None:
        """Remove a metadata key (removing ``public`` makes the project private); NotFound if unset."""
        if name not in METADATA_KEYS:
            raise BadRequest(f"invalid metadata key {name!r}")
        async with self.db.write() as uow:
            if not await q.lock_project(uow.conn, project.id):
                raise NotFound(f"project {project.name} not found")
            if name == "public":
                await q.update_project(uow.conn, project.id, public=False)
            elif await q.delete_metadata(uow.conn, project.id, name):
                await q.update_project(uow.conn, project.id)
            else:
                raise NotFound(f"metadata {name} not found in project {project.name}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "project", project.name, project.id, f"deleted metadata {name}"))

    async def delete(self, project: ProjectRef, actor: Actor) -> None:
        """Delete the project with its members, metadata and robots; PRECONDITION while it
        still holds repositories."""
        async with self.db.write() as uow:
            # The row lock makes a concurrent first push into the project either finish
            # before the count (and block the delete) or fail on the missing project.
            if not await q.lock_project(uow.conn, project.id):
                raise NotFound(f"project {project.name} not found")
            repos = (await q.count_repositories(uow.conn, [project.id])).get(project.id, 0)
            if repos:
                raise PreconditionFailed(
                    f"project {project.name} contains {repos} repositories and can not be deleted: "
                    "delete its repositories first")
            await q.delete_project(uow.conn, project.id)
            await robots_q.strip_project_permissions(uow.conn, project.name)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "project", project.name, project.id, f"deleted project {project.name}"))
