"""Project members: which user holds which of Harbor's roles in a project."""

from __future__ import annotations

from moorage.db.engine import Database
from moorage.domain.audit import AuditService


class MemberService:
    def __init__(self, db: Database, audit: AuditService) -> None:
        self.db = db
        self.audit = audit
