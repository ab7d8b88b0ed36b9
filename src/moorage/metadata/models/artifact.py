"""Artifacts (manifests stored per repository), their index children, the blobs they name, and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, BinaryString, UTCDateTime, utcnow


class Artifact(Base):
    """One manifest in one repository. ``content`` holds the exact pushed bytes (≤ 4 MiB),
    so a manifest GET is one indexed lookup."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_artifacts_repository_id_digest"),
        Index("ix_artifacts_repository_id_subject_digest", "repository_id", "subject_digest"),
        Index("ix_artifacts_repository_id_push_time", "repository_id", "push_time"),  # API lists, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(160), index=True)
    media_type: Mapped[str] = mapped_column(String(255))
    artifact_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    config_media_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    subject_digest: Mapped[str | None] = mapped_column(String(160), nullable=True)
    platform: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    push_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0)


class ArtifactReference(Base):
    """An index's (or manifest list's) child manifest."""

    __tablename__ = "artifact_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), index=True)
    child_digest: Mapped[str] = mapped_column(String(160), index=True)
    platform: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    annotations: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ArtifactBlob(Base):
    """A blob an artifact's manifest names (config and non-foreign layers): the garbage
    collector's mark set.  Deleting an artifact drops its rows; a referenced blob row cannot
    be deleted at all (RESTRICT), whatever the collector believes."""

    __tablename__ = "artifact_blobs"

    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"), primary_key=True, index=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository_id", "name", name="uq_tags_repository_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(BinaryString(128))
    push_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
