"""Dialect-specific statement builders (upserts) shared by the query modules.

Hot-path statements are built once per dialect (``functools.cache`` on the dialect name)
with bind parameters, so a request pays only for executing them, not for building and
hashing expression trees (which cost more than SQLite's own work).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from moorage.db.engine import Conn


def insert_for(conn: Conn, table: Any) -> Any:
    """An INSERT supporting ``on_conflict_do_nothing``/``do_update`` on the connection's dialect."""
    return insert_on(conn.dialect.name, table)


def insert_on(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
