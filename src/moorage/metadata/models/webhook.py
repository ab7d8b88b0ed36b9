"""Project webhook policies (targets and the event types they subscribe to) and, per policy
and event type, when an event last triggered a delivery (Harbor's ``lasttrigger``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class WebhookPolicy(Base):
    __tablename__ = "webhook_policies"
    # AUTOINCREMENT: SQLite would otherwise hand a deleted policy's id to the next one, and its
    # unfinished deliveries and history (keyed by vendor id) would then belong to the newcomer.
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_webhook_policies_project_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"type": "http"|"slack", "address", "auth_header", "skip_cert_verify", "payload_format"}]
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    creator: Mapped[str] = mapped_column(String(255), default="")
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookLastTrigger(Base):
    """Kept apart from executions, which are pruned: the time survives the delivery history."""

    __tablename__ = "webhook_last_triggers"

    policy_id: Mapped[int] = mapped_column(ForeignKey("webhook_policies.id", ondelete="CASCADE"), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_trigger_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
