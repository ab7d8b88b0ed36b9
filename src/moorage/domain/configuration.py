"""System configuration that administrators edit at run time (Harbor's ``/configurations``):
first values come from the settings file, changes are stored in the database so every
replica sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moorage.config.settings import AuthSettings, QuotaSettings
from moorage.core.errors import BadRequest
from moorage.db.engine import Database
from moorage.domain.audit import Actor, AuditEntry, AuditService
from moorage.metadata.queries import system as q


@dataclass(frozen=True, slots=True)
class Key:
    type: type
    editable: bool = True
    choices: tuple[str, ...] = ()
    minimum: int | None = None


KEYS: dict[str, Key] = {
    "auth_mode": Key(str, editable=False, choices=("db_auth",)),
    "primary_auth_mode": Key(bool, editable=False),
    "self_registration": Key(bool),
    "project_creation_restriction": Key(str, choices=("everyone", "adminonly")),
    "token_expiration": Key(int, minimum=1),
    "session_timeout": Key(int, minimum=1),
    "robot_token_duration": Key(int, minimum=-1),
    "robot_name_prefix": Key(str),
    "banner_message": Key(str),
    "notification_enable": Key(bool),  # webhooks: when false, events trigger no deliveries
    "quota_per_project_enable": Key(bool),
    "storage_per_project": Key(int, minimum=-1),  # bytes; -1 unlimited
}


class ConfigService:
    def __init__(self, db: Database, auth: AuthSettings, audit: AuditService,
                 quota: QuotaSettings | None = None) -> None:
        quota = quota or QuotaSettings()
        self.db = db
        self.defaults: dict[str, Any] = {
            "auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": auth.self_registration,
            "project_creation_restriction": auth.project_creation_restriction,
            "token_expiration": auth.token_expiration, "session_timeout": auth.session_timeout,
            "robot_token_duration": auth.robot_token_duration, "robot_name_prefix": auth.robot_name_prefix,
            "banner_message": "", "notification_enable": True,
            "quota_per_project_enable": True, "storage_per_project": quota.storage_per_project,
        }
        self.audit = audit

    async def get(self) -> dict[str, Any]:
        """Every key's effective value."""
        async with self.db.read() as conn:
            stored = await q.list_config(conn)
        return {**self.defaults, **{k: v for k, v in stored.items() if k in KEYS}}

    async def value(self, key: str) -> Any:
        return (await self.get())[key]

    async def update(self, values: dict[str, Any], actor: Actor) -> None:
        """Validate and store; an unknown or read-only key or a wrong type is BAD_REQUEST and
        nothing is stored."""
        for key, value in values.items():
            spec = KEYS.get(key)
            if spec is None:
                raise BadRequest(f"unknown configuration key {key!r}")
            if not spec.editable:
                raise BadRequest(f"configuration key {key!r} is read-only")
            if spec.type is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise BadRequest(f"configuration key {key!r} must be an integer")
            if not isinstance(value, spec.type):
                raise BadRequest(f"configuration key {key!r} must be a {spec.type.__name__}")
            if spec.choices and value not in spec.choices:
                raise BadRequest(f"configuration key {key!r} must be one of {', '.join(spec.choices)}")
            if spec.minimum is not None and isinstance(value, int) and value < spec.minimum:
                raise BadRequest(f"configuration key {key!r} must be at least {spec.minimum}")
            if key == "robot_name_prefix" and not value:
                raise BadRequest("robot_name_prefix must not be empty")
        async with self.db.write() as uow:
            await q.set_config(uow.conn, values)
            await self.audit.record(uow.conn, actor, AuditEntry(
                "update", "configuration", ",".join(sorted(values)), description=f"set {', '.join(sorted(values))}"))
