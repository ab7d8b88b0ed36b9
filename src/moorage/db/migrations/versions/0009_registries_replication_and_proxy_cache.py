"""registries replication and proxy cache

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import moorage.db.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('insecure', sa.Boolean(), nullable=False),
    sa.Column('ca_bundle', sa.Text(), nullable=True),
    sa.Column('credential_type', sa.String(length=32), nullable=False),
    sa.Column('access_key', sa.String(length=255), nullable=False),
    sa.Column('access_secret', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('status_message', sa.Text(), nullable=False),
    sa.Column('checked_at', moorage.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registries')),
    sa.UniqueConstraint('name', name=op.f('uq_registries_name')),
    sqlite_autoincrement=True
    )
    op.create_table('replication_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('creator', sa.String(length=255), nullable=False),
    sa.Column('src_registry_id', sa.Integer(), nullable=True),
    sa.Column('dest_registry_id', sa.Integer(), nullable=True),
    sa.Column('dest_namespace', sa.String(length=255), nullable=False),
    sa.Column('dest_namespace_replace_count', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.JSON(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('replicate_deletion', sa.Boolean(), nullable=False),
    sa.Column('override', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('speed', sa.Integer(), nullable=False),
    sa.Column('copy_by_chunk', sa.Boolean(), nullable=False),
    sa.Column('single_active_replication', sa.Boolean(), nullable=False),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dest_registry_id'], ['registries.id'], name=op.f('fk_replication_policies_dest_registry_id_registries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['src_registry_id'], ['registries.id'], name=op.f('fk_replication_policies_src_registry_id_registries'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_replication_policies')),
    sa.UniqueConstraint('name', name=op.f('uq_replication_policies_name')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('replication_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replication_policies_dest_registry_id'), ['dest_registry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_replication_policies_src_registry_id'), ['src_registry_id'], unique=False)

    # A plain column (no foreign key): SQLite cannot add a named constraint without recreating
    # ``projects``, and dropping that table would cascade into every child table.  The registry
    # service refuses to delete an endpoint a proxy project uses.
    op.add_column('projects', sa.Column('registry_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_projects_registry_id'), 'projects', ['registry_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_projects_registry_id'), table_name='projects')
    with op.batch_alter_table('projects', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('registry_id')

    with op.batch_alter_table('replication_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replication_policies_src_registry_id'))
        batch_op.drop_index(batch_op.f('ix_replication_policies_dest_registry_id'))

    op.drop_table('replication_policies')
    op.drop_table('registries')
