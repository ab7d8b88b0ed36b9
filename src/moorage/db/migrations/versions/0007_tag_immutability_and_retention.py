"""tag immutability and retention

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import moorage.db.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('immutable_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('tag_selectors', sa.JSON(), nullable=False),
    sa.Column('scope_selectors', sa.JSON(), nullable=False),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_immutable_rules_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_immutable_rules'))
    )
    with op.batch_alter_table('immutable_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_immutable_rules_project_id'), ['project_id'], unique=False)

    op.create_table('retention_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.JSON(), nullable=False),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_retention_policies_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_policies')),
    sa.UniqueConstraint('project_id', name=op.f('uq_retention_policies_project_id'))
    )
    op.create_table('retention_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('tag_selectors', sa.JSON(), nullable=False),
    sa.Column('scope_selectors', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['retention_policies.id'], name=op.f('fk_retention_rules_policy_id_retention_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_rules'))
    )
    with op.batch_alter_table('retention_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_rules_policy_id'), ['policy_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('retention_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_rules_policy_id'))

    op.drop_table('retention_rules')
    op.drop_table('retention_policies')
    with op.batch_alter_table('immutable_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_immutable_rules_project_id'))

    op.drop_table('immutable_rules')
