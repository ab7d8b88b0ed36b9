"""Repositories, artifacts and tags as the REST API sees them: listing, details, tag
changes, copies between projects and deletion.

Artifacts are assembled in Harbor's shape (dicts with its JSON field names).  Deleting an
artifact takes its tags, its accessories (manifests whose ``subject`` it is) and those index
children nothing else needs with it; blob links nothing needs any more go at once (the quota
usage drops), their bytes at garbage collection.  A copy links the
existing blobs to the destination, as a cross-repository mount does, and copies no bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
import structlog

from moorage.auth.rbac import Principal
from moorage.auth.visibility import visible_project_ids
from moorage.core.errors import BadRequest, Conflict, Forbidden, MoorageError, NotFound, PreconditionFailed
from moorage.core.query import Condition, Page
from moorage.db.engine import Conn, Database
from moorage.domain import blobs as lifecycle
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.domain.events import DELETE_ARTIFACT, EventLog
from moorage.domain.manifests import MAX_CONFIG_READ, ManifestService
from moorage.domain.projects import ProjectService
from moorage.domain.quotas import QuotaService
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import catalog as cq
from moorage.metadata.queries import labels as lq
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries.catalog import (
    ArtifactFilter,
    ArtifactRow,
    ProjectHit,
    RepositoryFilter,
    RepositoryHit,
    RepositoryRow,
    TagRow,
)
from moorage.oci import mediatypes as mt
from moorage.oci.digest import is_digest, parse_digest
from moorage.oci.manifest import parse_manifest
from moorage.oci.names import validate_name, validate_tag

log = structlog.get_logger(__name__)
SEARCH_LIMIT = 500  # hits per kind returned by /search
ICONS = {
    "IMAGE": "sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06",
    "CHART": "sha256:61cf3a178ff0f75bf08a25d96b75cf7355dc197749a9f128ed3ef34b0df05518",
    "CNAB": "sha256:089bdda265c14d8686111402c8ad629e8177a1ceb7dcd0f7f39b6480f623b3bd",
}
DEFAULT_ICON = "sha256:da834479c923584f4cbcdecc0dac61f32bef1d51e8aae598cf16bd154efab49f"
ACCESSORY_TYPES = {
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature.cosign",
    "application/vnd.cncf.notary.signature": "signature.notation",
    "application/vnd.goharbor.harbor.sbom.v1": "sbom.harbor",
}


@dataclass(frozen=True, slots=True)
class ArtifactOptions:
    """Harbor's ``with_*`` flags; ``detail`` also reads an image's config for ``extra_attrs``."""

    with_tag: bool = True
    with_label: bool = False
    with_accessory: bool = False
    with_immutable_status: bool = False
    detail: bool = False


def parse_source(value: str) -> tuple[str, str]:
    """Split copy's ``from`` (``project/repo:tag`` or ``project/repo@digest``); BadRequest if malformed."""
    if "@" in value:
        repository, _, reference = value.partition("@")
        try:
            reference = str(parse_digest(reference))
        except MoorageError:
            raise BadRequest(f"invalid input: {value}") from None
    else:
        repository, sep, reference = value.rpartition(":")
        if not sep or "/" in reference:
            raise BadRequest(f"invalid input: {value}: give project/repository:tag or project/repository@digest")
    try:
        validate_name(repository)
        if not is_digest(reference):
            validate_tag(reference)
    except MoorageError:
        raise BadRequest(f"invalid input: {value}") from None
    return repository, reference


class RepositoryService:
    def __init__(self, db: Database, audit: AuditService, manifests: ManifestService,
                 projects: ProjectService, events: EventLog, quotas: QuotaService) -> None:
        self.db = db
        self.quotas = quotas
        self.audit = audit
        self.events = events
        self.manifests = manifests
        self.projects = projects

    # Repositories ----------------------------------------------------------------------------

    async def visible_projects(self, principal: Principal) -> frozenset[int] | None:
        """The projects whose repositories ``principal`` may list (None: every project)."""
        ids = await visible_project_ids(self.db, principal)
        return None if ids is None else frozenset(ids)

    async def list_repositories(self, f: RepositoryFilter, page: Page, sort: list[tuple[str, bool]]
                                ) -> tuple[list[RepositoryRow], int]:
        async with self.db.read() as conn:
            total = await cq.count_repositories(conn, f)
            rows = await cq.list_repositories(conn, f, page.offset, page.limit, sort) if total > page.offset else []
        return rows, total

    async def get(self, name: str) -> RepositoryRow:
        async with self.db.read() as conn:
            row = await cq.find_repository(conn, name)
        if row is None:
            raise NotFound(f"repository {name} not found")
        return row

    async def update_description(self, name: str, description: str) -> None:
        async with self.db.write() as uow:
            repo_id = await _repository_id(uow.conn, name)
            await cq.update_repository_description(uow.conn, repo_id, description)

    async def delete(self, name: str, project_id: int, actor: Actor) -> None:
        """Delete the repository with every artifact and tag in it."""
        async with self.db.write() as uow:
            repo_id = await _repository_id(uow.conn, name)
            await self.manifests.immutability.check_repository_deletable(uow.conn, project_id, name, repo_id)
            await lifecycle.lock_quota(uow.conn, project_id)  # first, as every linking transaction
            # Then the repository row, as a manifest PUT takes it (its upsert) before writing tags:
            # a concurrent PUT waits here instead of deadlocking on the tags deleted below.
            await pq.ensure_repository(uow.conn, project_id, name)
            released = await bq.list_repository_blob_ids(uow.conn, repo_id)
            await bq.lock_blob_ids(uow.conn, released)
            await cq.delete_repository(uow.conn, repo_id)
            await lifecycle.release(uow.conn, project_id, None, released, self.manifests.blob_window_hours)
            await self.audit.record(uow.conn, actor, AuditEntry("delete", "repository", name, project_id))
        log.info("repository_deleted", repository=name)

    # Artifacts -------------------------------------------------------------------------------

    async def list_artifacts(self, repository: str, f: ArtifactFilter, page: Page, sort: list[tuple[str, bool]],
                             options: ArtifactOptions) -> tuple[list[dict[str, Any]], int]:
        async with self.db.read() as conn:
            repo_id = await _repository_id(conn, repository)
            total = await cq.count_artifacts(conn, repo_id, f)
            rows = await cq.list_artifacts(conn, repo_id, f, page.offset, page.limit, sort) \
                if total > page.offset else []
            return await self._assemble(conn, repo_id, rows, options), total

    async def get_artifact(self, repository: str, reference: str, options: ArtifactOptions) -> dict[str, Any]:
        async with self.db.read() as conn:
            repo_id = await _repository_id(conn, repository)
            row = await _artifact(conn, repo_id, repository, reference)
            art = (await self._assemble(conn, repo_id, [row], options))[0]
        if options.detail and art["type"] == "IMAGE" and art["manifest_media_type"] in mt.IMAGE_MANIFESTS:
            art["extra_attrs"] = {**art.get("extra_attrs", {}), **await self._image_config(row)}
        return art

    async def delete_artifact(self, repository: str, reference: str, actor: Actor,
                              expect_tags: frozenset[str] | None = None) -> None:
        """Delete an artifact with its tags and accessories, and the index children that only it
        referenced; PreconditionFailed while an index still references it.  ``expect_tags``
        (retention): Conflict unless the artifact still has exactly these tags."""
        async with self.db.write() as uow:
            repo_id = await _repository_id(uow.conn, repository)
            row = await _artifact(uow.conn, repo_id, repository, reference)
            if expect_tags is not None:
                current = frozenset(t.name for t in (await cq.list_tags_of(uow.conn, [row.id])).get(row.id, []))
                if current != expect_tags:
                    raise Conflict(f"the tags of {repository}@{row.digest} changed: now {sorted(current)}")
            await self.manifests.immutability.check_artifact_deletable(
                uow.conn, row.project_id, repository, row.id, f"artifact {repository}@{row.digest}")
            await lifecycle.lock_quota(uow.conn, row.project_id)  # first, as every linking transaction
            await pq.ensure_repository(uow.conn, row.project_id, repository)  # then the row, as in delete()
            tags = sorted(t.name for t in (await cq.list_tags_of(uow.conn, [row.id])).get(row.id, []))
            released: list[int] = []
            deleted = await _delete_deeply(uow.conn, repo_id, row, "root", released)
            await lifecycle.release(uow.conn, row.project_id, repo_id, released, self.manifests.blob_window_hours)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "artifact", f"{repository}@{row.digest}", row.project_id,
                description=f"deleted {len(deleted)} manifest(s)"))
            await self.events.emit_in(uow, DELETE_ARTIFACT, row.project_id, actor.username, {
                "repository": repository, "digest": row.digest, "tag": None, "media_type": row.media_type,
                "size": row.size, "repository_id": repo_id, "artifact_id": row.id, "tags": tags})
        log.info("artifact_deleted", repository=repository, digest=row.digest, manifests=len(deleted))

    async def copy(self, source: str, reference: str, destination: str, project_id: int, actor: Actor) -> str:
        """Copy an artifact (with its index children, accessories and tags) into ``destination``
        of project ``project_id``; returns its digest."""
        try:
            validate_name(destination)
        except MoorageError as exc:
            raise BadRequest(exc.message) from None
        # The blobs the copy links into the project count against its quota (403 DENIED).
        quota = self.quotas.write(project_id, destination, reference if is_digest(reference) else "", actor)
        async with quota as uow:
            conn = uow.conn
            src_repo = await pq.find_repository_id(conn, source)
            if src_repo is None:
                raise NotFound(f"repository {source} not found")
            row = await _artifact(conn, src_repo, source, reference)
            if row.subject_digest is not None:
                raise Forbidden("the operation isn't supported for an artifact accessory")
            dst_repo = await pq.ensure_repository(conn, project_id, destination)
            target = _Copy(conn, src_repo, dst_repo, project_id)
            artifact_id = await target.artifact(row)
            for tag in (await cq.list_tags_of(conn, [row.id])).get(row.id, []):
                await self.manifests.immutability.check_push(conn, project_id, destination, dst_repo, tag.name,
                                                             artifact_id)
                await aq.upsert_tag(conn, dst_repo, tag.name, artifact_id)
            await self.audit.record(conn, actor, AuditEntry(
                "create", "artifact", f"{destination}@{row.digest}", project_id,
                description=f"copied from {source}@{row.digest}"))
        log.info("artifact_copied", source=source, destination=destination, digest=row.digest)
        return row.digest

    # Tags ------------------------------------------------------------------------------------

    async def list_tags(self, repository: str, reference: str, name: Condition | None, page: Page,
                        sort: list[tuple[str, bool]]) -> tuple[list[dict[str, Any]], int]:
        async with self.db.read() as conn:
            repo_id = await _repository_id(conn, repository)
            row = await _artifact(conn, repo_id, repository, reference)
            total = await cq.count_artifact_tags(conn, row.id, name)
            tags = await cq.list_artifact_tags(conn, row.id, name, page.offset, page.limit, sort) \
                if total > page.offset else []
        return [_tag(t) for t in tags], total

    async def create_tag(self, repository: str, reference: str, name: str, actor: Actor) -> None:
        """Tag an artifact; Conflict if the repository already has the tag (on any artifact)."""
        try:
            validate_tag(name)
        except MoorageError:
            raise BadRequest(f"invalid tag name {name!r}") from None
        async with self.db.write() as uow:
            repo_id = await _repository_id(uow.conn, repository)
            row = await _artifact(uow.conn, repo_id, repository, reference)
            if await aq.create_tag(uow.conn, repo_id, row.id, name) is None:
                raise Conflict(f"tag {name} already exists in repository {repository}")
            await self.audit.record(uow.conn, actor, AuditEntry(
                "create", "tag", f"{repository}:{name}", row.project_id, description=f"tagged {row.digest}"))

    async def delete_tag(self, repository: str, reference: str, name: str, actor: Actor) -> None:
        async with self.db.write() as uow:
            repo_id = await _repository_id(uow.conn, repository)
            row = await _artifact(uow.conn, repo_id, repository, reference)
            found = await aq.find_tag(uow.conn, repo_id, name)
            if found is None or found[1] != row.id:
                raise NotFound(f"tag {name} attached to artifact {reference} not found in {repository}")
            await self.manifests.immutability.check_deletable(uow.conn, row.project_id, repository, [name],
                                                              f"tag {repository}:{name}")
            await aq.delete_tag_by_id(uow.conn, found[0])
            await self.audit.record(uow.conn, actor, AuditEntry(
                "delete", "tag", f"{repository}:{name}", row.project_id, description=f"untagged {row.digest}"))

    # Search ----------------------------------------------------------------------------------

    async def search(self, project_ids: frozenset[int] | None, text: str
                     ) -> tuple[list[ProjectHit], list[RepositoryHit]]:
        """Projects and repositories among ``project_ids`` (None: all) whose name contains ``text``."""
        async with self.db.read() as conn:
            return (await cq.search_projects(conn, project_ids, text, SEARCH_LIMIT),
                    await cq.search_repositories(conn, project_ids, text, SEARCH_LIMIT))

    # Assembly --------------------------------------------------------------------------------

    async def _assemble(self, conn: Conn, repo_id: int, rows: list[ArtifactRow], options: ArtifactOptions
                        ) -> list[dict[str, Any]]:
        ids = [r.id for r in rows]
        refs = await cq.list_references(conn, [r.id for r in rows if r.media_type in mt.INDEXES])
        children = {c.digest: c for c in await cq.list_artifacts_by_digest(
            conn, repo_id, [ref.child_digest for group in refs.values() for ref in group])}
        tags = await cq.list_tags_of(conn, ids) if options.with_tag else {}
        immutable: set[str] = set()  # the rows share one repository, whose tag names are unique
        if options.with_tag and options.with_immutable_status and rows:
            immutable = await self.manifests.immutability.immutable_tags(
                conn, rows[0].project_id, rows[0].repository_name, [t.name for g in tags.values() for t in g])
        labels = await lq.list_labels_of(conn, ids) if options.with_label else {}
        accessories: dict[str, list[ArtifactRow]] = {}
        if options.with_accessory:
            for acc in await cq.list_accessories(conn, repo_id, [r.digest for r in rows]):
                accessories.setdefault(acc.subject_digest or "", []).append(acc)
        out = []
        for row in rows:
            art = _artifact_base(row)
            group = refs.get(row.id, [])
            if group:
                art["size"] = row.size + sum(_total_size(children[r.child_digest]) for r in group
                                             if r.child_digest in children)
            art["references"] = [_reference(r, children.get(r.child_digest)) for r in group]
            if options.with_tag:
                art["tags"] = [_tag(t, t.name in immutable) for t in tags.get(row.id, [])]
            art["labels"] = [asdict(label) for label in labels.get(row.id, [])]
            if options.with_accessory:
                art["accessories"] = [_accessory(a, row) for a in accessories.get(row.digest, [])]
            out.append(art)
        return out

    async def manifest_and_config(self, repository: str, reference: str
                                  ) -> tuple[bytes, dict[str, Any] | None]:
        """The artifact's manifest bytes and, for an image whose config blob is at most
        ``MAX_CONFIG_READ``, its parsed config document (None otherwise or if unreadable:
        the portal then shows no build history).  NotFound / BadRequest as ``get_artifact``."""
        async with self.db.read() as conn:
            row = await _artifact(conn, await _repository_id(conn, repository), repository, reference)
            content = row.content if row.content is not None else await cq.find_artifact_content(conn, row.id)
        content = content or b""
        try:
            doc = orjson.loads(content)
            config = doc.get("config") if isinstance(doc, dict) else None
            if (not isinstance(config, dict) or config.get("mediaType") not in mt.IMAGE_CONFIGS
                    or not isinstance(config.get("size"), int) or config["size"] > MAX_CONFIG_READ):
                return content, None
            parsed = orjson.loads(await self.manifests.store.read_all(str(config["digest"])))
        except Exception:  # a foreign or missing config is shown as absent, not as an error
            return content, None
        return content, parsed if isinstance(parsed, dict) else None

    async def _image_config(self, row: ArtifactRow) -> dict[str, Any]:
        """created / author / architecture / os / config from an image's config blob."""
        content = row.content
        if content is None:
            async with self.db.read() as conn:
                content = await cq.find_artifact_content(conn, row.id)
        try:
            config = orjson.loads(content or b"{}").get("config") or {}
            if not isinstance(config.get("size"), int) or config["size"] > MAX_CONFIG_READ:
                return {}
            doc = orjson.loads(await self.manifests.store.read_all(str(config["digest"])))
        except Exception:  # an unreadable config leaves the stored platform as it is
            return {}
        if not isinstance(doc, dict):
            return {}
        attrs = {k: doc[k] for k in ("architecture", "os", "variant", "author", "created") if doc.get(k)}
        if isinstance(doc.get("config"), dict):
            attrs["config"] = doc["config"]
        return attrs


class _Copy:
    """One copy: artifacts already copied in this transaction are not copied twice."""

    def __init__(self, conn: Conn, src_repo: int, dst_repo: int, project_id: int) -> None:
        self.conn, self.src_repo, self.dst_repo, self.project_id = conn, src_repo, dst_repo, project_id
        self.done: dict[str, int] = {}

    async def artifact(self, row: ArtifactRow) -> int:
        if row.digest in self.done:
            return self.done[row.digest]
        conn = self.conn
        existing = await aq.find_artifact_id(conn, self.dst_repo, row.digest)
        if existing is None:
            content = await cq.find_artifact_content(conn, row.id)
            assert content is not None
            parsed = parse_manifest(content, row.media_type)
            children = await cq.list_artifacts_by_digest(conn, self.src_repo, [c.digest for c in parsed.children])
            for child in children:
                await self.artifact(child)
            blob_ids = await lifecycle.link_copied(conn, lifecycle.blob_digests(parsed), self.dst_repo,
                                                   self.project_id)
            existing = await aq.create_artifact(
                conn, repository_id=self.dst_repo, project_id=self.project_id, digest=row.digest,
                media_type=row.media_type, artifact_type=row.artifact_type, config_media_type=row.config_media_type,
                size=row.size, subject_digest=row.subject_digest, platform=row.platform,
                annotations=row.annotations, content=content)
            await bq.create_artifact_blobs(conn, existing, blob_ids)
            if parsed.is_index:
                await aq.create_references(conn, existing, [
                    {"child_digest": c.digest, "platform": c.platform, "annotations": c.annotations}
                    for c in parsed.children])
        self.done[row.digest] = existing
        for accessory in await cq.list_accessories(conn, self.src_repo, [row.digest]):
            await self.artifact(accessory)
        return existing


async def _repository_id(conn: Conn, name: str) -> int:
    repo_id = await pq.find_repository_id(conn, name)
    if repo_id is None:
        raise NotFound(f"repository {name} not found")
    return repo_id


async def _artifact(conn: Conn, repo_id: int, repository: str, reference: str) -> ArtifactRow:
    """The artifact a tag or digest names; NotFound (BadRequest for a malformed reference)."""
    by_digest = is_digest(reference)
    try:
        wanted = str(parse_digest(reference)) if by_digest else validate_tag(reference)
    except MoorageError:
        raise BadRequest(f"invalid reference {reference!r}: give a tag or a digest") from None
    if by_digest:
        row = await cq.find_artifact(conn, repo_id, digest=wanted)
    else:
        row = await cq.find_artifact(conn, repo_id, tag=wanted)
    if row is None:
        raise NotFound(f"artifact {repository}{'@' if by_digest else ':'}{reference} not found")
    return row


async def artifact_of(conn: Conn, repository: str, reference: str) -> ArtifactRow:
    """The artifact a tag or digest names in ``repository`` (for other domain services, inside
    their own transaction); NotFound, or BadRequest for a malformed reference."""
    return await _artifact(conn, await _repository_id(conn, repository), repository, reference)


async def _delete_deeply(conn: Conn, repo_id: int, row: ArtifactRow, mode: str, released: list[int]) -> list[str]:
    """Harbor's deleteDeeply: ``root`` fails while an index references it; a ``child`` is kept
    while tagged or referenced by another index; an ``accessory`` while an index references it.
    The blobs the deleted artifacts named are added to ``released``."""
    if mode == "child" and (await cq.list_tags_of(conn, [row.id])).get(row.id):
        return []
    if await cq.list_parent_ids(conn, repo_id, row.digest):
        if mode == "root":
            raise PreconditionFailed("the deleting artifact is referenced by others")
        return []
    refs = (await cq.list_references(conn, [row.id])).get(row.id, [])
    accessories = await cq.list_accessories(conn, repo_id, [row.digest])
    released += await lifecycle.lock_blobs_of(conn, [row.id])
    await aq.delete_artifact(conn, repo_id, row.digest)
    deleted = [row.digest]
    for accessory in accessories:
        deleted += await _delete_deeply(conn, repo_id, accessory, "accessory", released)
    children = await cq.list_artifacts_by_digest(conn, repo_id, list(dict.fromkeys(r.child_digest for r in refs)))
    for child in children:
        deleted += await _delete_deeply(conn, repo_id, child, "child", released)
    return deleted


def _artifact_base(row: ArtifactRow) -> dict[str, Any]:
    kind = cq.artifact_type_of(row.media_type, row.artifact_type, row.config_media_type)
    media_type = row.config_media_type or row.media_type
    art: dict[str, Any] = {
        "id": row.id, "type": kind, "media_type": media_type, "manifest_media_type": row.media_type,
        "artifact_type": row.artifact_type or media_type, "project_id": row.project_id,
        "repository_id": row.repository_id, "repository_name": row.repository_name, "digest": row.digest,
        "size": _total_size(row), "icon": ICONS.get(kind, DEFAULT_ICON), "push_time": row.push_time,
        "pull_time": row.pull_time, "annotations": row.annotations or {},
    }
    platform = {k: v for k, v in (row.platform or {}).items() if k in ("architecture", "os", "variant")}
    if platform:
        art["extra_attrs"] = platform
    return art


def _total_size(row: ArtifactRow) -> int:
    """Harbor's artifact size: the manifest plus its config and layers (an index adds its children)."""
    if row.content is None or row.media_type in mt.INDEXES:
        return row.size
    try:
        doc = orjson.loads(row.content)
        parts = ([doc["config"]] if isinstance(doc.get("config"), dict) else []) + list(doc.get("layers") or [])
        return row.size + sum(int(p.get("size") or 0) for p in parts if isinstance(p, dict))
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        return row.size


def _reference(ref: cq.ReferenceRow, child: ArtifactRow | None) -> dict[str, Any]:
    out: dict[str, Any] = {"parent_id": ref.parent_id, "child_id": child.id if child else None,
                           "child_digest": ref.child_digest}
    if ref.platform:
        out["platform"] = {("'" + k + "'" if k in ("os.version", "os.features") else k): v
                           for k, v in ref.platform.items()}
    if ref.annotations:
        out["annotations"] = ref.annotations
    return out


def _tag(tag: TagRow, immutable: bool = False) -> dict[str, Any]:
    return {"id": tag.id, "repository_id": tag.repository_id, "artifact_id": tag.artifact_id, "name": tag.name,
            "push_time": tag.push_time, "pull_time": tag.pull_time, "immutable": immutable}


def _accessory(acc: ArtifactRow, subject: ArtifactRow) -> dict[str, Any]:
    kind = ACCESSORY_TYPES.get(acc.artifact_type or "", "subject.accessory")
    return {"id": acc.id, "artifact_id": acc.id, "subject_artifact_id": subject.id,
            "subject_artifact_digest": subject.digest, "subject_artifact_repo": subject.repository_name,
            "size": _total_size(acc), "digest": acc.digest, "type": kind, "icon": DEFAULT_ICON,
            "creation_time": acc.push_time}
