"""webhooks

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import moorage.db.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('creator', sa.String(length=255), nullable=False),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_webhook_policies_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_policies')),
    sa.UniqueConstraint('project_id', 'name', name='uq_webhook_policies_project_id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('webhook_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_policies_project_id'), ['project_id'], unique=False)

    op.create_table('webhook_last_triggers',
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('last_trigger_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['webhook_policies.id'],
                            name=op.f('fk_webhook_last_triggers_policy_id_webhook_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'event_type', name=op.f('pk_webhook_last_triggers'))
    )


def downgrade() -> None:
    op.drop_table('webhook_last_triggers')
    with op.batch_alter_table('webhook_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_policies_project_id'))

    op.drop_table('webhook_policies')
