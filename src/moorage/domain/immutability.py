"""Tag immutability: per-project rules (Harbor's ``immutable_template``) and their enforcement.
A tag an enabled rule protects may be pushed once; it is then never overwritten with another
digest, moved, nor deleted (alone, with its artifact or with its repository), and retention
always keeps it.  Every refusal names the rule that protects the tag."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moorage.auth.rbac import ProjectRef
from moorage.core.errors import BadRequest, Conflict, PreconditionFailed
from moorage.db.engine import Conn, Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.selectors import (
    Selector,
    in_scope,
    parse_scope_selectors,
    parse_tag_selectors,
    repository_path,
    selectors_from_json,
)
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import policies as q
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries.policies import ImmutableRuleRow
from moorage.oci.digest import is_digest, parse_digest
from moorage.oci.names import project_of

TEMPLATE = "immutable_template"
ACTION = "immutable"
MAX_RULES = 15  # Harbor's limit per project


class TagImmutable(PreconditionFailed):
    """412 PRECONDITION on both edges (Harbor answers an immutable tag with its precondition code)."""


@dataclass(frozen=True, slots=True)
class ImmutableRule:
    id: int
    project_id: int
    priority: int
    disabled: bool
    tag_selectors: tuple[Selector, ...]
    repository_selectors: tuple[Selector, ...]
    params: dict[str, Any] = field(default_factory=dict)
    action: str = ACTION
    template: str = TEMPLATE

    @classmethod
    def from_row(cls, row: ImmutableRuleRow) -> ImmutableRule:
        return cls(row.id, row.project_id, row.priority, row.disabled, selectors_from_json(row.tag_selectors),
                   selectors_from_json(row.scope_selectors.get("repository")), row.params, row.action, row.template)

    def protects(self, path: str, tag: str) -> bool:
        """Whether the rule covers ``tag`` in the repository ``path`` (its name inside the project)."""
        return (not self.disabled and in_scope(self.repository_selectors, path)
                and all(s.select_tag(tag) for s in self.tag_selectors))

    def describe(self) -> str:
        repos = " and ".join(s.describe() for s in self.repository_selectors)
        tags = " and ".join(s.describe() for s in self.tag_selectors)
        return f"immutable tag rule {self.id} (repositories {repos}, tags {tags})"

    def to_json(self) -> dict[str, Any]:
        """Harbor's ImmutableRule."""
        return {"id": self.id, "priority": self.priority, "disabled": self.disabled, "action": self.action,
                "template": self.template, "params": self.params,
                "tag_selectors": [s.to_json() for s in self.tag_selectors],
                "scope_selectors": {"repository": [s.to_json() for s in self.repository_selectors]}}


def parse_rule(body: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a rule in Harbor's shape; the stored column values (BadRequest when invalid)."""
    action = body.get("action") or ACTION
    if action != ACTION:
        raise BadRequest(f"immutable tag rule: action must be {ACTION!r}, not {action!r}")
    template = body.get("template") or TEMPLATE
    if template != TEMPLATE:
        raise BadRequest(f"immutable tag rule: template must be {TEMPLATE!r}, not {template!r}")
    priority = body.get("priority") or 0
    disabled = body.get("disabled") or False
    if not isinstance(priority, int) or isinstance(priority, bool) or not isinstance(disabled, bool):
        raise BadRequest("immutable tag rule: priority must be an integer and disabled a boolean")
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise BadRequest("immutable tag rule: params must be an object")
    tags = parse_tag_selectors(body.get("tag_selectors"), "immutable tag rule")
    repos = parse_scope_selectors(body.get("scope_selectors"), "immutable tag rule")
    return {"priority": priority, "disabled": disabled, "action": ACTION, "template": TEMPLATE,
            "params": dict(params), "tag_selectors": [s.to_json() for s in tags],
            "scope_selectors": {"repository": [s.to_json() for s in repos]}}


def _same_selectors(a: Mapping[str, Any], b: ImmutableRuleRow) -> bool:
    return bool(a["tag_selectors"] == b.tag_selectors and a["scope_selectors"] == b.scope_selectors)


class ImmutabilityService:
    def __init__(self, db: Database, audit: AuditService) -> None:
        self.db = db
        self.audit = audit

    # Rules ---------------------------------------------------------------------------------

    async def page(self, project_id: int, offset: int, limit: int) -> tuple[list[ImmutableRule], int]:
        async with self.db.read() as conn:
            total = await q.count_immutable_rules(conn, project_id)
            rows = await q.list_immutable_rules(conn, project_id, offset=offset, limit=limit) if total > offset else []
        return [ImmutableRule.from_row(r) for r in rows], total

    async def get(self, project_id: int, rule_id: int) -> ImmutableRule:
        """NotFound unless the project has the rule."""
        async with self.db.read() as conn:
            return ImmutableRule.from_row(await q.get_immutable_rule(conn, project_id, rule_id))

    async def create(self, project: ProjectRef, body: Mapping[str, Any], actor: Actor) -> int:
        """Add a rule; Conflict for a duplicate (same selectors) and beyond MAX_RULES."""
        values = parse_rule(body)
        async with self.db.write() as uow:
            await pq.lock_project(uow.conn, project.id)  # serialises the duplicate / limit checks
            existing = await q.list_immutable_rules(uow.conn, project.id)
            if len(existing) >= MAX_RULES:
                raise BadRequest(f"project {project.name} already has {MAX_RULES} immutable tag rules, the maximum")
            for other in existing:
                if _same_selectors(values, other):
                    raise Conflict(f"immutable tag rule {other.id} of project {project.name} has the same selectors")
            rule_id = await q.create_immutable_rule(uow.conn, project.id, values)
            rule = ImmutableRule.from_row(await q.get_immutable_rule(uow.conn, project.id, rule_id))
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "immutable_tag_rule", f"{project.name}/{rule_id}", project.id, f"created {rule.describe()}"))
        return rule_id

    async def update(self, project: ProjectRef, rule_id: int, body: Mapping[str, Any], actor: Actor) -> None:
        """Replace a rule; fields left out of ``body`` keep their value (so ``{"disabled": true}``
        alone toggles it).  NotFound, BadRequest, Conflict as ``create``."""
        async with self.db.write() as uow:
            await pq.lock_project(uow.conn, project.id)
            stored = ImmutableRule.from_row(await q.get_immutable_rule(uow.conn, project.id, rule_id)).to_json()
            merged = {**stored, **{k: v for k, v in body.items() if v is not None and k != "id"}}
            values = parse_rule(merged)
            for other in await q.list_immutable_rules(uow.conn, project.id):
                if other.id != rule_id and _same_selectors(values, other):
                    raise Conflict(f"immutable tag rule {other.id} of project {project.name} has the same selectors")
            await q.update_immutable_rule(uow.conn, rule_id, values)
            state = "disabled" if values["disabled"] else "enabled"
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "immutable_tag_rule", f"{project.name}/{rule_id}", project.id,
                f"updated immutable tag rule {rule_id} ({state})"))

    async def delete(self, project: ProjectRef, rule_id: int, actor: Actor) -> None:
        async with self.db.write() as uow:
            rule = ImmutableRule.from_row(await q.get_immutable_rule(uow.conn, project.id, rule_id))
            await q.delete_immutable_rule(uow.conn, rule_id)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "immutable_tag_rule", f"{project.name}/{rule_id}", project.id, f"deleted {rule.describe()}"))

    # Enforcement (inside the caller's transaction) -------------------------------------------

    async def rules(self, conn: Conn, project_id: int) -> list[ImmutableRule]:
        """The project's enabled rules: a single indexed lookup when it has none."""
        if not await q.has_enabled_immutable_rules(conn, project_id):
            return []
        return [ImmutableRule.from_row(r) for r in await q.list_immutable_rules(conn, project_id, enabled_only=True)]

    async def protecting(self, conn: Conn, project_id: int, repository: str, tag: str) -> ImmutableRule | None:
        """The first enabled rule protecting ``repository:tag``, or None."""
        return protecting_rule(await self.rules(conn, project_id), repository, tag)

    async def check_push(self, conn: Conn, project_id: int, repository: str, repository_id: int, tag: str,
                         artifact_id: int) -> None:
        """Before pointing ``tag`` at ``artifact_id``: TagImmutable if the tag exists on another
        artifact and a rule protects it (pushing it the first time, or the same digest again, is fine)."""
        rules = await self.rules(conn, project_id)
        if not rules:
            return
        rule = protecting_rule(rules, repository, tag)
        if rule is None:
            return
        current = await aq.find_tag(conn, repository_id, tag)
        if current is not None and current[1] != artifact_id:
            raise TagImmutable(f"Failed to process request due to '{repository}:{tag}' configured as immutable: "
                               f"protected by {rule.describe()}; push a new tag instead")

    async def check_deletable(self, conn: Conn, project_id: int, repository: str, tags: Iterable[str],
                              what: str) -> None:
        """TagImmutable if a rule protects one of ``tags`` (deleting ``what`` would take it)."""
        rules = await self.rules(conn, project_id)
        if not rules:
            return
        for tag in tags:
            rule = protecting_rule(rules, repository, tag)
            if rule is not None:
                raise TagImmutable(f"cannot delete {what}: the tag '{repository}:{tag}' is immutable, "
                                   f"protected by {rule.describe()}")

    async def check_artifact_deletable(self, conn: Conn, project_id: int, repository: str, artifact_id: int,
                                       what: str) -> None:
        if await q.has_enabled_immutable_rules(conn, project_id):
            await self.check_deletable(conn, project_id, repository,
                                       await q.list_artifact_tag_names(conn, artifact_id), what)

    async def check_reference_deletable(self, conn: Conn, repository: str, repository_id: int,
                                        reference: str) -> None:
        """A ``/v2`` DELETE of a tag, or of a digest (which takes all its tags)."""
        project = await pq.find_project_ref(conn, name=project_of(repository))
        if project is None or not await q.has_enabled_immutable_rules(conn, project[0]):
            return
        if is_digest(reference):
            artifact_id = await aq.find_artifact_id(conn, repository_id, str(parse_digest(reference)))
            if artifact_id is not None:
                await self.check_artifact_deletable(conn, project[0], repository, artifact_id,
                                                    f"manifest {repository}@{reference}")
        else:
            await self.check_deletable(conn, project[0], repository, [reference], f"tag {repository}:{reference}")

    async def check_repository_deletable(self, conn: Conn, project_id: int, repository: str,
                                         repository_id: int) -> None:
        if await q.has_enabled_immutable_rules(conn, project_id):
            await self.check_deletable(conn, project_id, repository,
                                       await q.list_repository_tag_names(conn, repository_id),
                                       f"repository {repository}")

    async def immutable_tags(self, conn: Conn, project_id: int, repository: str, tags: Iterable[str]) -> set[str]:
        """Which of ``tags`` (of ``repository``) a rule protects."""
        rules = await self.rules(conn, project_id)
        return {t for t in tags if protecting_rule(rules, repository, t) is not None} if rules else set()


def protecting_rule(rules: Iterable[ImmutableRule], repository: str, tag: str) -> ImmutableRule | None:
    """The first of ``rules`` protecting ``tag`` of the full repository name ``repository``."""
    path = repository_path(repository)
    return next((r for r in rules if r.protects(path, tag)), None)
