"""Robot accounts: system- and project-level, Harbor's naming, permissions and lifetimes."""

from __future__ import annotations

from moorage.auth.passwords import Passwords
from moorage.db.engine import Database
from moorage.domain.audit import AuditService
from moorage.domain.configuration import ConfigService


class RobotService:
    def __init__(self, db: Database, passwords: Passwords, config: ConfigService, audit: AuditService) -> None:
        self.db = db
        self.passwords = passwords
        self.config = config
        self.audit = audit
