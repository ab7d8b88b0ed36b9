"""Labels: global (scope ``g``, no project) and project (scope ``p``) labels, and which
artifacts carry them.  Deleting a label, an artifact or a project drops the attachments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class Label(Base):
    __tablename__ = "labels"
    # A global label has no project: NULLS NOT DISTINCT keeps its name unique on PostgreSQL
    # (SQLite serialises writers, and the domain checks before inserting).
    __table_args__ = (UniqueConstraint("name", "scope", "project_id", name="uq_labels_name_scope_project_id",
                                       postgresql_nulls_not_distinct=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(32), default="")
    scope: Mapped[str] = mapped_column(String(1))  # g | p
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArtifactLabel(Base):
    """A label attached to an artifact (at most once)."""

    __tablename__ = "artifact_labels"

    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
