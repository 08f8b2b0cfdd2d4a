"""model lineage: each model version's parent, what triggered it and its training set by source

All columns are nullable: versions registered before lineage existed have none. The parent
is an indexed id, not a database foreign key: SQLite cannot add or drop a constraint without
copying the table, which other tables' keys into it forbid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('modelversion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('trigger', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('training_set', sa.JSON(), nullable=True))
        batch_op.create_index('ix_modelversion_parent_id', ['parent_id'], unique=False)


def downgrade() -> None:
    # in place (SQLite >= 3.35): copying the table, batch mode's default on SQLite, cannot drop
    # "modelversion" while proposals point at it
    op.drop_index('ix_modelversion_parent_id', table_name='modelversion')
    with op.batch_alter_table('modelversion', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('training_set')
        batch_op.drop_column('trigger')
        batch_op.drop_column('parent_id')
