"""Repositories, artifacts and tags as the REST API sees them: listing, details, tag
changes, copies between projects and deletion."""

from __future__ import annotations

from moorage.db.engine import Database
from moorage.domain.audit import AuditService
from moorage.domain.manifests import ManifestService
from moorage.domain.projects import ProjectService


class RepositoryService:
    def __init__(self, db: Database, audit: AuditService, manifests: ManifestService,
                 projects: ProjectService) -> None:
        self.db = db
        self.audit = audit
        self.manifests = manifests
        self.projects = projects
