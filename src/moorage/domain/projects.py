"""Projects: the first component of every repository name."""

from __future__ import annotations

from moorage.auth.rbac import ProjectRef
from moorage.core.errors import Conflict, NotFound, oci_error
from moorage.db.engine import Database
from moorage.domain.audit import AuditService
from moorage.metadata.models import Project
from moorage.metadata.queries import projects as q
from moorage.oci.names import project_of, validate_project_name


class ProjectService:
    def __init__(self, db: Database, audit: AuditService) -> None:
        self.db = db
        self.audit = audit

    async def create(self, name: str, public: bool = False) -> int:
        """Create a project; raise Conflict if the name is taken, NAME_INVALID if malformed."""
        validate_project_name(name)
        async with self.db.write() as uow:
            project_id = await q.create_project(uow.conn, name, public)
        if project_id is None:
            raise Conflict(f"project {name} already exists")
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
            ref = await self.find_ref(project_id=int(name_or_id))
        else:
            ref = await self.find_ref(name=name_or_id)
        if ref is None:
            raise NotFound(f"project {name_or_id} not found")
        return ref
