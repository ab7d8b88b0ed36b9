"""Blobs (content-addressed, deduplicated), their links to repositories and projects, uploads.

A blob row's lifecycle (see ``domain/gc.py``): ``touched_at`` is refreshed whenever an upload,
mount or link claims it (the GC time window counts from it); ``deleting`` is set by the
garbage collector before it deletes the bytes, and nothing may link or reference a blob that
carries it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class Blob(Base):
    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(160), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleting: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class RepositoryBlob(Base):
    """A blob is served from a repository only once linked to it (pushed or mounted there)."""

    __tablename__ = "repository_blobs"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectBlob(Base):
    """Which blobs a project holds (quotas count each blob once per project)."""

    __tablename__ = "project_blobs"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """A blob upload session. Its bytes live in storage at ``_uploads/<id>/data``; the row
    keeps the acknowledged size and the running digest state, so the session resumes on
    any replica or after a restart without re-reading what was written."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    hash_state: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
