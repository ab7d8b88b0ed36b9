"""System state shared by every replica: token signing keys, editable configuration, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class SigningKey(Base):
    """The token service's key pair (PEM). Generated on first start; the newest one signs."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConfigItem(Base):
    """A system configuration value changed through ``PUT /configurations`` (JSON-encoded)."""

    __tablename__ = "config_items"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditLog(Base):
    """Who did what to which resource, when, and whether it succeeded (Harbor's audit_log_ext)."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_project_id_op_time", "project_id", "op_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # kept after the project goes
    username: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(1024))
    resource_type: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(32))
    operation_description: Mapped[str] = mapped_column(Text, default="")
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    op_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
