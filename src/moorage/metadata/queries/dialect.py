"""Dialect-specific statement builders (upserts) shared by the query modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from moorage.db.engine import Conn


def insert_for(conn: Conn, table: Any) -> Any:
    """An INSERT supporting ``on_conflict_do_nothing``/``do_update`` on the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
