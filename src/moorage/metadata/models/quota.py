"""Per-project storage quotas: the hard limit and the usage, kept in the same transactions
that link blobs to the project or unlink them (so usage never drifts from a recount)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, UTCDateTime, utcnow


class ProjectQuota(Base):
    __tablename__ = "project_quotas"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    hard_storage: Mapped[int] = mapped_column(BigInteger, default=-1)  # bytes; -1 unlimited
    used_storage: Mapped[int] = mapped_column(BigInteger, default=0)  # Σ size of the project's unique blobs
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
