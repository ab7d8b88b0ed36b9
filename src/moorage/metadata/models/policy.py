"""Per-project tag policies: immutability rules, and the tag retention policy with its rules
(selectors and parameters kept in Harbor's JSON shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class ImmutableRule(Base):
    """A tag matching an enabled rule can be pushed once and then never overwritten nor deleted."""

    __tablename__ = "immutable_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tag_selectors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scope_selectors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetentionPolicy(Base):
    """A project's tag retention policy (at most one; the project's ``retention_id`` metadata
    names it).  ``trigger`` is Harbor's ``{kind, settings: {cron}, references}``."""

    __tablename__ = "retention_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="or")
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetentionRule(Base):
    """One ``retain`` rule of a policy, in the order given (``position``)."""

    __tablename__ = "retention_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("retention_policies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tag_selectors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    scope_selectors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
