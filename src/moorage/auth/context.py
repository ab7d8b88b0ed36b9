"""Security contexts: who a request comes from (anonymous, a user or a robot, by Basic
credentials, a browser session or a registry token) and what it may do, decided by
``rbac.allowed`` with the caller's project roles looked up once per request."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog

from moorage.auth.passwords import Passwords
from moorage.auth.rbac import ANONYMOUS, Principal, ProjectRef, allowed
from moorage.auth.tokens import TokenClaims
from moorage.config.settings import AuthSettings
from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.metadata.models import Robot
from moorage.metadata.queries import members as members_q
from moorage.metadata.queries import robots as robots_q
from moorage.metadata.queries import sessions as sessions_q
from moorage.metadata.queries import users as users_q

log = structlog.get_logger(__name__)
SESSION_COOKIE = "sid"
CSRF_HEADER = "x-harbor-csrf-token"


@dataclass(slots=True)
class SecurityContext:
    """One request's caller.  ``via`` says how it authenticated; ``csrf_token`` is set for
    browser sessions; ``claims`` for registry bearer tokens."""

    principal: Principal
    db: Database
    via: Literal["anonymous", "basic", "session", "bearer"] = "anonymous"
    csrf_token: str | None = None
    claims: TokenClaims | None = None
    _roles: dict[int, int | None] = field(default_factory=dict)

    @property
    def username(self) -> str:
        return self.principal.name if self.principal.authenticated else "anonymous"

    async def role(self, project_id: int) -> int | None:
        """The caller's member role in the project (None: not a member, or not a user)."""
        if self.principal.kind != "user" or self.principal.id is None:
            return None
        if project_id not in self._roles:
            async with self.db.read() as conn:
                self._roles[project_id] = await members_q.find_role(conn, project_id, self.principal.id)
        return self._roles[project_id]

    async def can(self, resource: str, action: str, project: ProjectRef | None = None) -> bool:
        role = await self.role(project.id) if project is not None else None
        return allowed(self.principal, resource, action, project, role)


@dataclass(frozen=True, slots=True)
class Lockout:
    threshold: int
    address_threshold: int
    window: timedelta
    duration: timedelta


class Authenticator:
    """Checks passwords and robot secrets (with lockout), and browser sessions."""

    def __init__(self, db: Database, passwords: Passwords, settings: AuthSettings) -> None:
        self.db = db
        self.passwords = passwords
        self.lockout = Lockout(settings.lockout_threshold, settings.lockout_address_threshold,
                               timedelta(seconds=settings.lockout_window_seconds),
                               timedelta(seconds=settings.lockout_seconds))
        # (stored hash, password) digests already verified: Basic auth on every /v2 request
        # must not pay argon2 each time.  The row is still read, so a disabled robot or a
        # changed password takes effect at once.
        self._verified: dict[bytes, float] = {}

    def context(self, principal: Principal, via: Literal["anonymous", "basic", "session", "bearer"] = "basic",
                csrf_token: str | None = None, claims: TokenClaims | None = None) -> SecurityContext:
        return SecurityContext(principal, self.db, via, csrf_token, claims)

    def anonymous(self) -> SecurityContext:
        return SecurityContext(ANONYMOUS, self.db)

    async def basic(self, header: str, client_ip: str) -> Principal | None:
        """The principal of an ``Authorization: Basic`` header, or None if it is wrong."""
        try:
            raw = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode()
        except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = raw.partition(":")
        if not sep:
            return None
        return await self.password(username, password, client_ip)

    async def password(self, username: str, password: str, client_ip: str) -> Principal | None:
        """Check a user's password or a robot's secret.  Failures count towards a lockout per
        user and per client address; while locked, even the right password fails.  The answer
        never reveals whether the name exists."""
        now = utcnow()
        keys = [f"user:{username}", f"addr:{client_ip}"]
        async with self.db.read() as conn:
            user = await users_q.find_credentials(conn, username)
            robot = None if user else await robots_q.find_robot_by_name(conn, username)
            locked = await sessions_q.find_lock(conn, keys, now)
        stored = user[2] if user else robot.secret_hash if robot else None
        if locked is None and stored is not None and await self._check(stored, password):
            principal = _principal(user, robot, now)
            if principal is None:
                log.info("robot_rejected", robot=username)
            return principal
        if stored is None:
            await self.passwords.check(None, password)  # same cost as a wrong password
        await self._failed(keys, now)
        return None

    async def principal_named(self, name: str) -> Principal | None:
        """The user or (enabled, unexpired) robot called ``name``, without credentials: for
        requests that carry a token naming its subject."""
        now = utcnow()
        async with self.db.read() as conn:
            user = await users_q.find_credentials(conn, name)
            robot = None if user else await robots_q.find_robot_by_name(conn, name)
        return _principal(user, robot, now)

    async def _check(self, stored: str, password: str) -> bool:
        key = hashlib.sha256(stored.encode() + b"\0" + password.encode()).digest()
        now = asyncio.get_running_loop().time()
        if self._verified.get(key, 0.0) > now:
            return True
        if not await self.passwords.check(stored, password):
            return False
        if len(self._verified) > 10_000:
            self._verified = {k: t for k, t in self._verified.items() if t > now}
        self._verified[key] = now + 300.0
        return True

    async def _failed(self, keys: list[str], now: datetime) -> None:
        async with self.db.write() as uow:
            for key in keys:
                count = await sessions_q.record_failure(uow.conn, key, now, now - self.lockout.window)
                limit = self.lockout.threshold if key.startswith("user:") else self.lockout.address_threshold
                if count >= limit:
                    await sessions_q.lock(uow.conn, key, now + self.lockout.duration)
                    log.warning("sign_in_locked", key=key, failures=count)

    async def cleared(self, username: str) -> None:
        """Forget a user's failures after a successful interactive sign-in."""
        async with self.db.write() as uow:
            await sessions_q.clear_failures(uow.conn, f"user:{username}")

    # Browser sessions -------------------------------------------------------------------

    async def start_session(self, user_id: int, timeout_minutes: int) -> tuple[str, str]:
        """(cookie value, csrf token) of a new session."""
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = utcnow()
        async with self.db.write() as uow:
            await sessions_q.create_session(uow.conn, _session_id(cookie), user_id, csrf, now,
                                            now + timedelta(minutes=timeout_minutes))
        return cookie, csrf

    async def session(self, cookie: str, timeout_minutes: int) -> tuple[Principal, str] | None:
        """(principal, csrf token) of a live session cookie; extends it once half its idle
        timeout has passed."""
        now = utcnow()
        sid = _session_id(cookie)
        async with self.db.read() as conn:
            found = await sessions_q.find_session(conn, sid, now)
            user = await users_q.find_user(conn, found[0]) if found else None
        if found is None or user is None:
            return None
        timeout = timedelta(minutes=timeout_minutes)
        if found[2] - now < timeout / 2:  # extend while in use, without a write per request
            async with self.db.write() as uow:
                await sessions_q.touch_session(uow.conn, sid, now + timeout)
        return Principal("user", user.id, user.username, sysadmin=user.sysadmin), found[1]

    async def end_session(self, cookie: str) -> None:
        async with self.db.write() as uow:
            await sessions_q.delete_session(uow.conn, _session_id(cookie))


def _principal(user: tuple[int, str, str, bool] | None, robot: Robot | None, now: datetime) -> Principal | None:
    """The principal of a found user row or robot; None for a disabled or expired robot."""
    if user is not None:
        return Principal("user", user[0], user[1], sysadmin=user[3])
    if robot is None or robot.disabled or (robot.expires_at is not None and robot.expires_at <= now):
        return None
    return Principal("robot", robot.id, robot.name, permissions=tuple(robot.permissions or ()),
                     robot_project_id=robot.project_id)


def _session_id(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
