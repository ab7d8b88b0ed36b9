"""blob lifecycle for gc

Blobs get ``touched_at`` (the GC time window counts from it) and ``deleting`` (set by the
collector before it removes the bytes); ``artifact_blobs`` records which blobs each manifest
names, backfilled here from the stored manifests.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

import moorage.db.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
CHUNK = 500


def upgrade() -> None:
    # Columns are added in place (recreating ``blobs`` on SQLite would fire the link tables'
    # ON DELETE CASCADE): constant server defaults fill existing rows, then touched_at is set.
    with op.batch_alter_table('blobs', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('touched_at', moorage.db.base.UTCDateTime(timezone=True), nullable=False,
                                      server_default=sa.text("'1970-01-01 00:00:00'")))
        batch_op.add_column(sa.Column('deleting', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_blobs_deleting'), ['deleting'], unique=False)
    op.execute("UPDATE blobs SET touched_at = created_at")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column('blobs', 'touched_at', server_default=None)
        op.alter_column('blobs', 'deleting', server_default=None)

    op.create_table('artifact_blobs',
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('blob_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_artifact_blobs_artifact_id_artifacts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], name=op.f('fk_artifact_blobs_blob_id_blobs'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('artifact_id', 'blob_id', name=op.f('pk_artifact_blobs'))
    )
    with op.batch_alter_table('artifact_blobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artifact_blobs_blob_id'), ['blob_id'], unique=False)
    _backfill_artifact_blobs()


def _blob_digests(content: bytes | str) -> list[str]:
    """The config and non-foreign layer digests a stored manifest names ([] for indexes)."""
    try:
        doc = json.loads(content)
    except (ValueError, TypeError):
        return []
    if not isinstance(doc, dict):
        return []
    parts: list[Any] = [doc.get("config")] + list(doc.get("layers") or [])
    out = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("digest"), str):
            continue
        if part.get("mediaType") == FOREIGN_LAYER or part.get("urls"):
            continue
        out.append(part["digest"])
    return list(dict.fromkeys(out))


def _backfill_artifact_blobs() -> None:
    bind = op.get_bind()
    artifacts = sa.table('artifacts', sa.column('id', sa.Integer()), sa.column('content', sa.LargeBinary()))
    blobs = sa.table('blobs', sa.column('id', sa.Integer()), sa.column('digest', sa.String()))
    links = sa.table('artifact_blobs', sa.column('artifact_id', sa.Integer()), sa.column('blob_id', sa.Integer()))
    last = 0
    while True:
        rows = bind.execute(sa.select(artifacts.c.id, artifacts.c.content).where(artifacts.c.id > last)
                            .order_by(artifacts.c.id).limit(CHUNK)).all()
        if not rows:
            return
        last = rows[-1][0]
        wanted = {artifact_id: _blob_digests(content) for artifact_id, content in rows}
        digests = {d for ds in wanted.values() for d in ds}
        ids = dict(bind.execute(sa.select(blobs.c.digest, blobs.c.id).where(blobs.c.digest.in_(digests))).all()) \
            if digests else {}
        values = [{"artifact_id": a, "blob_id": ids[d]} for a, ds in wanted.items() for d in ds if d in ids]
        if values:
            bind.execute(links.insert(), values)


def downgrade() -> None:
    with op.batch_alter_table('artifact_blobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_artifact_blobs_blob_id'))

    op.drop_table('artifact_blobs')
    with op.batch_alter_table('blobs', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_blobs_deleting'))
        batch_op.drop_column('deleting')
        batch_op.drop_column('touched_at')
