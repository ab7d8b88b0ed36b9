"""Local users (Harbor's ``db_auth``): the bootstrap ``admin``, accounts, passwords, the
sysadmin flag."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import structlog

from moorage.auth.passwords import Passwords, check_password_rule, generate_password
from moorage.core.errors import BadRequest, Conflict, Forbidden, NotFound
from moorage.core.query import Condition, Page
from moorage.db.engine import Conn, Database
from moorage.domain.audit import SYSTEM, Actor, AuditEntry, AuditService
from moorage.metadata.models import User
from moorage.metadata.queries import sessions as sessions_q
from moorage.metadata.queries import users as q

log = structlog.get_logger(__name__)
ADMIN = "admin"
# Harbor's illegal characters plus '"', ':' (it ends the name in Basic credentials) and '/'.
# '$' matters most: robot accounts are named ``robot$...``.
_USERNAME_ILLEGAL = frozenset(',"~#%$:/')
_REALNAME_ILLEGAL = frozenset(",~#$%")
# Harbor's e-mail check (without the quoted local part and IP-literal forms).
_EMAIL = re.compile(r'^[^<>()\[\]\\.,;:\s@"]+(\.[^<>()\[\]\\.,;:\s@"]+)*@([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}$')
MAX_COMMENT = 30  # Harbor's limit


def validate_username(username: str) -> None:
    """BAD_REQUEST unless 1–255 characters without whitespace, control or illegal characters."""
    if not username or len(username) > 255:
        raise BadRequest("username must be 1 to 255 characters long")
    if any(ch in _USERNAME_ILLEGAL or ch.isspace() or not ch.isprintable() for ch in username):
        raise BadRequest('username must not contain whitespace or any of , " ~ # % $ : /')


def validate_profile(email: str | None, realname: str | None, comment: str | None) -> None:
    """BAD_REQUEST for a malformed e-mail, a realname that is too long or has illegal characters,
    or a comment over Harbor's 30 characters."""
    if email and (len(email) > 255 or not _EMAIL.match(email)):
        raise BadRequest("email with illegal format")
    if realname is not None:
        if len(realname) > 255:
            raise BadRequest("realname must be at most 255 characters long")
        if any(ch in _REALNAME_ILLEGAL for ch in realname):
            raise BadRequest("realname must not contain any of , ~ # $ %")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise BadRequest(f"comment must be at most {MAX_COMMENT} characters long")


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
        hashed = await self.passwords.hash_async(password)
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
        hashed = await self.passwords.hash_async(password)
        async with self.db.write() as uow:
            found = await q.find_credentials(uow.conn, username)
            if found is None:
                raise NotFound(f"user {username} not found")
            await q.set_password(uow.conn, found[0], hashed)
            await sessions_q.delete_user_sessions(uow.conn, found[0])
            await sessions_q.clear_failures(uow.conn, f"user:{username}")
            await self.audit.record(uow.conn, actor, AuditEntry("update", "user", username,
                                                                description="password reset"))

    # Accounts (``/api/v2.0/users``) ---------------------------------------------------------

    async def create(self, username: str, password: str, actor: Actor, *, email: str | None = None,
                     realname: str | None = None, comment: str | None = None) -> int:
        """Create a local, never-sysadmin user (CVE-2019-16097: the flag is only ever set by
        ``set_sysadmin``); return its id.  Raises BAD_REQUEST (name, profile or password rule)
        or Conflict (username or e-mail taken)."""
        validate_username(username)
        email = email or None
        validate_profile(email, realname, comment)
        check_password_rule(password)
        hashed = await self.passwords.hash_async(password)
        async with self.db.write() as uow:
            await self._check_unique(uow.conn, username=username, email=email)
            user_id = await q.create_user(uow.conn, username=username, email=email, realname=realname or "",
                                          comment=comment or "", password_hash=hashed, sysadmin=False)
            if user_id is None:  # a concurrent create won
                raise Conflict(f"username {username} or email {email} is already taken")
            await self.audit.record(uow.conn, actor, AuditEntry("create", "user", username))
        return user_id

    @staticmethod
    async def _check_unique(conn: Conn, *, username: str | None = None, email: str | None = None,
                            user_id: int | None = None) -> None:
        if username is not None and await q.find_credentials(conn, username) is not None:
            raise Conflict(f"username {username} is already taken")
        if email is not None:
            owner = await q.find_user_id_by_email(conn, email)
            if owner is not None and owner != user_id:
                raise Conflict(f"email {email} is already taken")

    async def get(self, user_id: int) -> User:
        """Raises NotFound."""
        async with self.db.read() as conn:
            return await q.get_user(conn, user_id)

    async def list(self, conditions: Mapping[str, Condition], page: Page,
                   sort: list[tuple[str, bool]] | None = None) -> tuple[list[User], int]:
        """One page of users matching Harbor ``q`` conditions (keys: ``q.FIELDS``), and the total."""
        async with self.db.read() as conn:
            total = await q.count_users(conn, conditions)
            users = await q.list_users(conn, conditions, page.offset, page.limit, sort) if total else []
        return users, total

    async def update_profile(self, user_id: int, actor: Actor, *, email: str | None = None,
                             realname: str | None = None, comment: str | None = None) -> None:
        """Change the given fields (None: unchanged; an empty e-mail clears it).  Raises
        NotFound, BAD_REQUEST or Conflict (e-mail taken)."""
        validate_profile(email, realname, comment)
        values: dict[str, str | None] = {}
        if email is not None:
            values["email"] = email or None
        if realname is not None:
            values["realname"] = realname
        if comment is not None:
            values["comment"] = comment
        async with self.db.write() as uow:
            user = await q.get_user(uow.conn, user_id)
            if values.get("email"):
                await self._check_unique(uow.conn, email=values["email"], user_id=user_id)
            if values:
                await q.update_profile(uow.conn, user_id, values)
            await self.audit.record(uow.conn, actor, AuditEntry("update", "user", user.username,
                                                                description="profile updated"))

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        """Remember the portal language a user chose (a preference: not audited)."""
        async with self.db.write() as uow:
            if not await q.set_locale(uow.conn, user_id, locale):
                raise NotFound(f"user {user_id} not found")

    async def set_sysadmin(self, user_id: int, sysadmin: bool, actor: Actor) -> None:
        """Grant or revoke the system administrator flag.  Raises NotFound."""
        async with self.db.write() as uow:
            user = await q.get_user(uow.conn, user_id)
            await q.set_sysadmin(uow.conn, user_id, sysadmin)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "user", user.username,
                description="sysadmin granted" if sysadmin else "sysadmin revoked"))

    async def change_password(self, user_id: int, new_password: str, actor: Actor,
                              old_password: str | None = None) -> None:
        """Set a new password and end the user's browser sessions.  With ``old_password`` (a
        user changing their own) it must match, else Forbidden.  The new password must satisfy
        the rule and differ from the current one, else BAD_REQUEST.  Raises NotFound."""
        async with self.db.read() as conn:
            user = await q.get_user(conn, user_id)
        if old_password is not None and not await self.passwords.check(user.password_hash, old_password):
            raise Forbidden("the current password is incorrect")
        check_password_rule(new_password)
        if await self.passwords.check(user.password_hash, new_password):
            raise BadRequest("the new password is identical to the current one")
        hashed = await self.passwords.hash_async(new_password)
        async with self.db.write() as uow:
            if not await q.set_password(uow.conn, user_id, hashed):
                raise NotFound(f"user {user_id} not found")
            await sessions_q.delete_user_sessions(uow.conn, user_id)
            await sessions_q.clear_failures(uow.conn, f"user:{user.username}")
            await self.audit.record(uow.conn, actor, AuditEntry("update", "user", user.username,
                                                                description="password changed"))

    async def delete(self, user_id: int, actor: Actor) -> None:
        """Delete a user with their memberships and sessions.  The bootstrap ``admin`` cannot be
        deleted (Forbidden).  Raises NotFound."""
        async with self.db.write() as uow:
            user = await q.get_user(uow.conn, user_id)
            if user.username == ADMIN:
                raise Forbidden(f"user {ADMIN} cannot be deleted")
            await q.delete_user(uow.conn, user_id)
            await self.audit.record(uow.conn, actor, AuditEntry("delete", "user", user.username))
