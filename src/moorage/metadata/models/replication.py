"""Registry endpoints (remote registries Moorage replicates with or proxies), replication
policies, and the proxy-cache binding of a project (``projects.registry_id`` lives in the
project model).  Credentials are stored encrypted (``domain/secrets.py``); the key is kept
outside the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class RegistryEndpoint(Base):
    __tablename__ = "registries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(64))  # harbor | docker-registry | oci
    url: Mapped[str] = mapped_column(String(1024))
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    ca_bundle: Mapped[str | None] = mapped_column(Text, nullable=True)  # PEM
    credential_type: Mapped[str] = mapped_column(String(32), default="basic")  # basic | oauth (bearer token)
    access_key: Mapped[str] = mapped_column(String(255), default="")
    access_secret: Mapped[str] = mapped_column(Text, default="")  # encrypted ("" when none)
    status: Mapped[str] = mapped_column(String(32), default="unknown")  # healthy | unhealthy | unknown
    status_message: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplicationPolicy(Base):
    __tablename__ = "replication_policies"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(255), default="")
    # Exactly one side is remote: push-based has dest_registry_id, pull-based src_registry_id.
    src_registry_id: Mapped[int | None] = mapped_column(
        ForeignKey("registries.id", ondelete="RESTRICT"), nullable=True, index=True)
    dest_registry_id: Mapped[int | None] = mapped_column(
        ForeignKey("registries.id", ondelete="RESTRICT"), nullable=True, index=True)
    dest_namespace: Mapped[str] = mapped_column(String(255), default="")
    dest_namespace_replace_count: Mapped[int] = mapped_column(Integer, default=-1)
    # {"type": "manual"|"scheduled"|"event_based", "trigger_settings": {"cron": "..."}}
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"type": "name"|"tag"|"label"|"resource", "value": ..., "decoration": "matches"|"excludes"}]
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    replicate_deletion: Mapped[bool] = mapped_column(Boolean, default=False)
    override: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    speed: Mapped[int] = mapped_column(Integer, default=-1)  # KiB/s per task; <= 0 unlimited
    copy_by_chunk: Mapped[bool] = mapped_column(Boolean, default=False)
    single_active_replication: Mapped[bool] = mapped_column(Boolean, default=False)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
