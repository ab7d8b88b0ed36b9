"""Identity: local users, project members, robot accounts, browser sessions and login throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from moorage.db.base import Base, BinaryString, UTCDateTime, utcnow


class User(Base):
    """A local user (Harbor's ``db_auth``). ``password_hash`` is an argon2 (or bcrypt) hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(BinaryString(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    realname: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    # The portal language the user chose ("en", "zh_CN"); None: follow the browser.
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProjectMember(Base):
    """A user's role in a project (role ids as Harbor's: 1 admin, 2 developer, 3 guest,
    4 maintainer, 5 limited guest)."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_project_members_project_id_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Robot(Base):
    """A robot account. ``project_id`` is None for system robots. ``permissions`` is Harbor's
    ``[{kind, namespace, access:[{resource, action, effect}]}]``; the secret is stored hashed."""

    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(BinaryString(255), unique=True)  # full name, e.g. robot$library+ci
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(16))  # system | project
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    permissions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    duration: Mapped[int] = mapped_column(Integer)  # days; -1 never expires
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    creator: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebSession(Base):
    """A browser session (``/c/login``). ``id`` is the SHA-256 of the cookie value, so a
    database read does not yield usable cookies. Shared by all replicas, survives restarts."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginFailure(Base):
    """Failed sign-in counters per key (``user:<name>`` or ``addr:<ip>``), shared by replicas."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
