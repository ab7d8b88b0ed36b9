"""Manifests, tags and referrers: the rules for pushing, pulling, listing and deleting them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from moorage.core.errors import oci_error
from moorage.db.engine import Database, UnitOfWork
from moorage.domain import blobs as lifecycle
from moorage.domain.audit import SYSTEM, Actor, AuditEntry, AuditService
from moorage.domain.events import DELETE_ARTIFACT, PUSH_ARTIFACT, EventLog
from moorage.domain.immutability import ImmutabilityService
from moorage.domain.projects import ProjectService
from moorage.domain.pulls import PullRecorder
from moorage.domain.quotas import QuotaService
from moorage.metadata.queries import artifacts as aq
from moorage.metadata.queries import blobs as bq
from moorage.metadata.queries import catalog as cq
from moorage.metadata.queries import projects as pq
from moorage.metadata.queries import visibility as vq
from moorage.metadata.queries.artifacts import StoredManifest
from moorage.oci import mediatypes as mt
from moorage.oci.digest import EMPTY_JSON, EMPTY_JSON_DIGEST, digest_of, is_digest, parse_digest
from moorage.oci.manifest import ParsedManifest, parse_manifest
from moorage.oci.names import project_of, validate_tag
from moorage.storage.blobs import BlobStore

log = structlog.get_logger(__name__)
MAX_CONFIG_READ = 1024 * 1024  # platform is read from image configs up to this size


@dataclass(frozen=True, slots=True)
class PushResult:
    digest: str
    subject: str | None


class ManifestService:
    def __init__(
        self, db: Database, store: BlobStore, projects: ProjectService, pulls: PullRecorder, max_bytes: int,
        audit: AuditService, events: EventLog, quotas: QuotaService,
        immutability: ImmutabilityService | None = None, blob_window_hours: float = 2.0,
    ) -> None:
        self.db = db
        self.blob_window_hours = blob_window_hours  # GC's time window: deletes keep fresher blob links
        self.immutability = immutability or ImmutabilityService(db, audit)
        self.quotas = quotas
        self.audit = audit
        self.events = events
        self.store = store
        self.projects = projects
        self.pulls = pulls
        self.max_bytes = max_bytes

    async def get(self, repository: str, reference: str, record_pull: bool, actor: Actor = SYSTEM
                  ) -> StoredManifest:
        """The stored manifest for a tag or digest; MANIFEST_UNKNOWN / NAME_UNKNOWN.  A recorded
        pull updates pull statistics and the audit log (both batched)."""
        async with self.db.read() as conn:
            if is_digest(reference):
                found = await aq.find_manifest_by_digest(conn, repository, str(parse_digest(reference)))
            else:
                found = await aq.find_manifest_by_tag(conn, repository, validate_tag(reference))
            if found is None:
                await self._require_repository(conn, repository)
        if found is None:
            raise oci_error("MANIFEST_UNKNOWN", f"manifest {reference} not found in {repository}",
                            detail={"reference": reference})
        if record_pull:
            where = f"{repository}:{reference}" if found.tag_id is not None else f"{repository}@{found.digest}"
            self.pulls.record(found.repository_id, found.artifact_id, found.tag_id,
                              (actor, AuditEntry("pull", "artifact", where, found.project_id)),
                              {"repository": repository, "digest": found.digest,
                               "tag": None if is_digest(reference) else reference,
                               "media_type": found.media_type, "size": len(found.content),
                               "repository_id": found.repository_id, "artifact_id": found.artifact_id})
        return found

    async def put(self, repository: str, reference: str, body: bytes, content_type: str | None,
                  actor: Actor = SYSTEM) -> PushResult:
        if len(body) > self.max_bytes:
            raise oci_error("MANIFEST_INVALID", f"manifest is larger than {self.max_bytes} bytes", status=413)
        tag: str | None = None
        if is_digest(reference):
            wanted = parse_digest(reference)
            digest = digest_of(body, wanted.algorithm)
            if digest != str(wanted):
                raise oci_error("DIGEST_INVALID", f"manifest digest is {digest}, not {reference}",
                                detail={"digest": reference})
        else:
            tag = validate_tag(reference)
            digest = digest_of(body)
        parsed = parse_manifest(body, content_type)
        project_id = await self.projects.project_for_push(repository)
        platform = await self._check_references(repository, project_id, parsed)
        async with self.db.write() as uow:
            repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
            blob_ids = await lifecycle.lock_references(uow.conn, repo_id, lifecycle.blob_digests(parsed),
                                                       [c.digest for c in parsed.children])
            artifact_id = await aq.create_artifact(
                uow.conn,
                repository_id=repo_id, project_id=project_id, digest=digest, media_type=parsed.media_type,
                artifact_type=parsed.effective_artifact_type,
                config_media_type=parsed.config.media_type if parsed.config else None,
                size=len(body), subject_digest=parsed.subject.digest if parsed.subject else None,
                platform=platform, annotations=parsed.annotations, content=body,
            )
            await bq.create_artifact_blobs(uow.conn, artifact_id, blob_ids)
            if parsed.is_index:
                await aq.create_references(uow.conn, artifact_id, [
                    {"child_digest": c.digest, "platform": c.platform, "annotations": c.annotations}
                    for c in parsed.children
                ])
            if tag is not None:
                await self.immutability.check_push(uow.conn, project_id, repository, repo_id, tag, artifact_id)
                await aq.upsert_tag(uow.conn, repo_id, tag, artifact_id)
            where = f"{repository}:{tag}" if tag is not None else f"{repository}@{digest}"
            await self.audit.record(uow.conn, actor, AuditEntry("create", "artifact", where, project_id,
                                                                description=f"pushed {digest}"))
            await self.events.emit_in(uow, PUSH_ARTIFACT, project_id, actor.username, {
                "repository": repository, "digest": digest, "tag": tag, "media_type": parsed.media_type,
                "size": len(body), "repository_id": repo_id, "artifact_id": artifact_id})
        log.debug("manifest_pushed", repository=repository, digest=digest, tag=tag)
        return PushResult(digest, parsed.subject.digest if parsed.subject else None)

    async def delete(self, repository: str, reference: str, actor: Actor = SYSTEM) -> None:
        """Delete a manifest by digest (with its tags) or, by tag, only the tag."""
        async with self.db.write() as uow:
            repo_id = await self._require_repository(uow.conn, repository)
            await self.immutability.check_reference_deletable(uow.conn, repository, repo_id, reference)
            tags: list[str] = []
            if is_digest(reference):
                found = await cq.find_artifact(uow.conn, repo_id, digest=str(parse_digest(reference)))
                if found is not None:  # what deletion sync's tag filters judge
                    tags = sorted(t.name for t in (await cq.list_tags_of(uow.conn, [found.id])).get(found.id, []))
                deleted = await self._delete_artifact(uow, repository, repo_id, str(parse_digest(reference)))
                entry = AuditEntry("delete", "artifact", f"{repository}@{reference}")
            else:
                deleted = await aq.delete_tag(uow.conn, repo_id, validate_tag(reference))
                entry = AuditEntry("delete", "tag", f"{repository}:{reference}")
            if deleted:
                project = await pq.find_project_ref(uow.conn, name=project_of(repository))
                project_id = project[0] if project else None
                await self.audit.record(uow.conn, actor, AuditEntry(
                    entry.operation, entry.resource_type, entry.resource, project_id))
                if entry.resource_type == "artifact":
                    await self.events.emit_in(uow, DELETE_ARTIFACT, project_id, actor.username, {
                        "repository": repository, "digest": reference, "tag": None, "repository_id": repo_id,
                        "tags": tags})
        if not deleted:
            raise oci_error("MANIFEST_UNKNOWN", f"manifest {reference} not found in {repository}",
                            detail={"reference": reference})
        log.info("manifest_deleted", repository=repository, reference=reference)

    async def _delete_artifact(self, uow: UnitOfWork, repository: str, repo_id: int, digest: str) -> bool:
        """Delete the artifact and release the blob links no artifact needs any more (quota
        lock first: the one lock order, see ``domain/blobs.py``)."""
        project = await pq.find_project_ref(uow.conn, name=project_of(repository))
        await lifecycle.lock_quota(uow.conn, project[0] if project else None)
        artifact_id = await aq.find_artifact_id(uow.conn, repo_id, digest)
        blob_ids = await lifecycle.lock_blobs_of(uow.conn, [artifact_id]) if artifact_id is not None else []
        deleted = await aq.delete_artifact(uow.conn, repo_id, digest)
        if deleted and project is not None:
            await lifecycle.release(uow.conn, project[0], repo_id, blob_ids, self.blob_window_hours)
        return deleted

    async def tags(self, repository: str, last: str | None, limit: int | None) -> list[str]:
        async with self.db.read() as conn:
            repo_id = await self._require_repository(conn, repository)
            return await aq.list_tags(conn, repo_id, last, limit)

    async def catalog(self, last: str | None, limit: int | None, project_ids: set[int] | None = None
                      ) -> list[str]:
        """Repository names after ``last``; only those in ``project_ids`` unless it is None."""
        async with self.db.read() as conn:
            if project_ids is None:
                return await pq.list_repository_names(conn, last, limit)
            return await vq.list_repository_names_in(conn, project_ids, last, limit)

    async def referrers(self, repository: str, digest: str, artifact_type: str | None) -> list[dict[str, Any]]:
        subject = str(parse_digest(digest))
        async with self.db.read() as conn:
            repo_id = await pq.find_repository_id(conn, repository)
            rows = await aq.list_referrers(conn, repo_id, subject, artifact_type) if repo_id else []
        out = []
        for d, media_type, size, a_type, notes in rows:
            desc: dict[str, Any] = {"mediaType": media_type, "digest": d, "size": size}
            if a_type:
                desc["artifactType"] = a_type
            if notes:
                desc["annotations"] = notes
            out.append(desc)
        return out

    async def _require_repository(self, conn: Any, repository: str) -> int:
        repo_id = await pq.find_repository_id(conn, repository)
        if repo_id is None:
            raise oci_error("NAME_UNKNOWN", f"repository {repository} not known to registry",
                            detail={"name": repository})
        return repo_id

    async def _check_references(
        self, repository: str, project_id: int, parsed: ParsedManifest
    ) -> dict[str, Any] | None:
        """Every referenced blob / child manifest must exist; returns the image's platform."""
        blobs = [d for d in ([parsed.config] if parsed.config else []) + parsed.layers if not d.is_foreign]
        async with self.db.read() as conn:
            repo_id = await pq.find_repository_id(conn, repository)
            linked = await bq.list_linked_digests(conn, repo_id, [d.digest for d in blobs]) if repo_id else set()
            children = [c.digest for c in parsed.children]
            missing_children = (await aq.list_missing_children(conn, repo_id, children)
                                if repo_id and children else children)
        missing = [d.digest for d in blobs if d.digest not in linked]
        if EMPTY_JSON_DIGEST in missing:  # the well-known empty config: clients may skip pushing it
            await self._store_empty_config(repository, project_id)
            missing = [d for d in missing if d != EMPTY_JSON_DIGEST]
        missing += missing_children
        if missing:
            raise oci_error("MANIFEST_BLOB_UNKNOWN", f"manifest references unknown blob or manifest {missing[0]}",
                            detail={"digest": missing[0]})
        if parsed.config and parsed.config.media_type in mt.IMAGE_CONFIGS and parsed.config.size <= MAX_CONFIG_READ:
            return await self._platform(parsed.config.digest)
        return None

    async def _store_empty_config(self, repository: str, project_id: int) -> None:
        # Claimed before the bytes are written, as any upload (see domain/blobs.py); if the
        # collector takes the claimed row meanwhile (a zero time window), claim and write again.
        for _ in range(20):
            claimed = await lifecycle.claim(self.db, EMPTY_JSON_DIGEST)
            await self.store.put_content(EMPTY_JSON_DIGEST, EMPTY_JSON)
            # The only blob a manifest PUT can bring into the project (the others must be linked
            # to the repository already, so the project holds them): it counts against the quota.
            async with self.quotas.write(project_id, repository, EMPTY_JSON_DIGEST) as uow:
                repo_id = await pq.ensure_repository(uow.conn, project_id, repository)
                if await bq.settle_blob(uow.conn, claimed, len(EMPTY_JSON)):
                    await bq.link_blob(uow.conn, claimed.id, repo_id, project_id)
                    return
        raise oci_error("MANIFEST_BLOB_UNKNOWN", f"could not store {EMPTY_JSON_DIGEST}; push again",
                        detail={"digest": EMPTY_JSON_DIGEST})

    async def _platform(self, config_digest: str) -> dict[str, Any] | None:
        try:
            config = orjson.loads(await self.store.read_all(config_digest))
        except Exception:  # a config that is not JSON is the client's business, not a push failure
            return None
        if not isinstance(config, dict):
            return None
        platform = {k: config[k] for k in ("os", "architecture", "variant") if isinstance(config.get(k), str)}
        return platform or None
