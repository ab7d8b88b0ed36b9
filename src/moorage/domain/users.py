"""Local users (Harbor's ``db_auth``): the bootstrap ``admin``, accounts, passwords, the
sysadmin flag."""

from __future__ import annotations

import os
from pathlib import Path

import structlog

from moorage.auth.passwords import Passwords, check_password_rule, generate_password
from moorage.core.errors import NotFound
from moorage.db.engine import Database
from moorage.domain.audit import SYSTEM, Actor, AuditEntry, AuditService
from moorage.metadata.queries import sessions as sessions_q
from moorage.metadata.queries import users as q

log = structlog.get_logger(__name__)
ADMIN = "admin"


class UserService:
    def __init__(self, db: Database, passwords: Passwords, audit: AuditService) -> None:
        self.db = db
        self.passwords = passwords
        self.audit = audit

    async def ensure_admin(self, password: str | None, data_dir: Path) -> None:
        """Create ``admin`` on first start.  Without a configured password one is generated,
        written to ``<data_dir>/admin-password`` (mode 0600) and named in the log once."""
        async with self.db.read() as conn:
            if await q.find_credentials(conn, ADMIN) is not None:
                return
        generated = password is None
        if password is None:
            password = generate_password()
        hashed = self.passwords.hash(password)
        async with self.db.write() as uow:
            if await q.find_credentials(uow.conn, ADMIN) is not None:
                return  # another replica won the race
            await q.create_user(uow.conn, username=ADMIN, email=None, realname="system admin",
                                comment="created on first start", password_hash=hashed, sysadmin=True)
            await self.audit.record(uow.conn, SYSTEM, AuditEntry("create", "user", ADMIN))
        if generated:
            path = data_dir / "admin-password"
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            os.chmod(path, 0o600)
            log.warning("admin_password_generated", file=str(path),
                        hint="sign in as admin with the password in this file, then change it")

    async def reset_password(self, username: str, password: str, actor: Actor = SYSTEM) -> None:
        """Set a password without the old one (admin reset, ``moorage admin reset-password``);
        ends the user's browser sessions.  Raises NotFound or BAD_REQUEST (password rule)."""
        check_password_rule(password)
        hashed = self.passwords.hash(password)
        async with self.db.write() as uow:
            found = await q.find_credentials(uow.conn, username)
            if found is None:
                raise NotFound(f"user {username} not found")
            await q.set_password(uow.conn, found[0], hashed)
            await sessions_q.delete_user_sessions(uow.conn, found[0])
            await sessions_q.clear_failures(uow.conn, f"user:{username}")
            await self.audit.record(uow.conn, actor, AuditEntry("update", "user", username,
                                                                description="password reset"))
