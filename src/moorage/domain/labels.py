"""Labels: global labels (scope ``g``) and project labels (scope ``p``), unique by name in
their scope, and their attachment to artifacts.  Permission checks happen at the edge;
this module validates, keeps names unique and keeps a project label inside its project."""

from __future__ import annotations

from moorage.core.errors import BadRequest, Conflict, NotFound
from moorage.core.query import Page
from moorage.db.engine import Conn, Database
from moorage.domain.repositories import artifact_of
from moorage.metadata.queries import labels as q
from moorage.metadata.queries import projects as projects_q
from moorage.metadata.queries.labels import LabelFilter, LabelRow

GLOBAL, PROJECT = "g", "p"
MAX_NAME = 128
MAX_COLOR = 32


def _valid(name: str | None, color: str | None) -> tuple[str, str]:
    if name is None or not name.strip():
        raise BadRequest("the label name is required")
    if len(name) > MAX_NAME:
        raise BadRequest(f"the label name is too long: at most {MAX_NAME} characters")
    if color is not None and len(color) > MAX_COLOR:
        raise BadRequest(f"the label color is too long: at most {MAX_COLOR} characters")
    return name, color or ""


def valid_scope(scope: str | None, project_id: int | None) -> tuple[str, int | None]:
    """Check a scope and project id pair; the scope and the project id to store (None for a
    global label)."""
    if scope == GLOBAL:
        return GLOBAL, None
    if scope != PROJECT:
        raise BadRequest(f"invalid scope {scope!r}: g for a global label, p for a project label")
    if project_id is None or project_id <= 0:
        raise BadRequest("a project label needs a project_id")
    return PROJECT, project_id


class LabelService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, f: LabelFilter, page: Page, sort: list[tuple[str, bool]]) -> tuple[list[LabelRow], int]:
        async with self.db.read() as conn:
            total = await q.count_labels(conn, f)
            rows = await q.list_labels(conn, f, page.offset, page.limit, sort) if total > page.offset else []
        return rows, total

    async def get(self, label_id: int) -> LabelRow:
        """The label; raises NotFound."""
        async with self.db.read() as conn:
            found = await q.find_label(conn, label_id)
        if found is None:
            raise NotFound(f"label {label_id} not found")
        return found

    async def create(self, scope: str, project_id: int | None, name: str | None, description: str | None,
                     color: str | None) -> int:
        """Create a label; BadRequest if invalid, NotFound for a missing project, Conflict if
        its scope (or project) already has a label of that name."""
        name, color = _valid(name, color)
        scope, project_id = valid_scope(scope, project_id)
        async with self.db.write() as uow:
            if project_id is not None and not await projects_q.lock_project(uow.conn, project_id):
                raise NotFound(f"project {project_id} not found")
            await _unique(uow.conn, name, scope, project_id)
            label_id = await q.create_label(uow.conn, name, description or "", color, scope, project_id)
        if label_id is None:  # a concurrent create of the same name won
            raise Conflict(f"label {name} already exists")
        return label_id

    async def update(self, label_id: int, name: str | None, description: str | None, color: str | None) -> None:
        """Change name, description and color (scope and project stay); Conflict on a taken name."""
        name, color = _valid(name, color)
        async with self.db.write() as uow:
            found = await q.find_label(uow.conn, label_id)
            if found is None:
                raise NotFound(f"label {label_id} not found")
            await _unique(uow.conn, name, found.scope, found.project_id or None, label_id)
            await q.update_label(uow.conn, label_id, name, description or "", color)

    async def delete(self, label_id: int) -> None:
        """Delete the label and detach it from every artifact."""
        async with self.db.write() as uow:
            if not await q.delete_label(uow.conn, label_id):
                raise NotFound(f"label {label_id} not found")

    async def attach(self, repository: str, reference: str, label_id: int) -> None:
        """Attach a global label or a label of the artifact's project; NotFound, BadRequest
        for another project's label, Conflict if already attached."""
        async with self.db.write() as uow:
            artifact = await artifact_of(uow.conn, repository, reference)
            label = await q.find_label(uow.conn, label_id)
            if label is None:
                raise NotFound(f"label {label_id} not found")
            if label.scope == PROJECT and label.project_id != artifact.project_id:
                raise BadRequest(f"label {label_id} belongs to another project: only global labels and labels of "
                                 "the artifact's project can be added")
            if not await q.create_artifact_label(uow.conn, artifact.id, label_id):
                raise Conflict(f"label {label_id} is already added to artifact {repository}@{artifact.digest}")

    async def detach(self, repository: str, reference: str, label_id: int) -> None:
        async with self.db.write() as uow:
            artifact = await artifact_of(uow.conn, repository, reference)
            if not (0 < label_id <= q.MAX_ID) or not await q.delete_artifact_label(uow.conn, artifact.id, label_id):
                raise NotFound(f"label {label_id} is not added to artifact {repository}@{artifact.digest}")


async def _unique(conn: Conn, name: str, scope: str, project_id: int | None, label_id: int | None = None) -> None:
    found = await q.find_label_id_by_name(conn, name, scope, project_id)
    if found is not None and found != label_id:
        where = "global labels" if project_id is None else f"project {project_id}"
        raise Conflict(f"label {name} already exists in {where}")
