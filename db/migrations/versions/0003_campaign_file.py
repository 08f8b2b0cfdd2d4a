"""campaign files: the document a campaign was started from; per-proposal objective predictions

Both columns are nullable: campaigns started without a file, and proposals made before
objectives existed, have none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign_file', sa.JSON(), nullable=True))

    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('predictions', sa.JSON(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite >= 3.35): copying the table, batch mode's
    # default on SQLite, cannot drop "campaign" while other tables' rows point at it.
    with op.batch_alter_table('proposal', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('predictions')

    with op.batch_alter_table('campaign', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('campaign_file')
