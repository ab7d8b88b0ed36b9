"""labels

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import moorage.db.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('color', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.String(length=1), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('update_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_labels_project_id_projects'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labels')),
    sa.UniqueConstraint('name', 'scope', 'project_id', name='uq_labels_name_scope_project_id',
                        postgresql_nulls_not_distinct=True)
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_labels_project_id'), ['project_id'], unique=False)

    op.create_table('artifact_labels',
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('label_id', sa.Integer(), nullable=False),
    sa.Column('creation_time', moorage.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_artifact_labels_artifact_id_artifacts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['label_id'], ['labels.id'], name=op.f('fk_artifact_labels_label_id_labels'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artifact_id', 'label_id', name=op.f('pk_artifact_labels'))
    )
    with op.batch_alter_table('artifact_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artifact_labels_label_id'), ['label_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('artifact_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_artifact_labels_label_id'))

    op.drop_table('artifact_labels')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_labels_project_id'))

    op.drop_table('labels')
