"""invoice: description (first line item) and due_date

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

The portal shows what an invoice is for and, for an open one, when it is due (issue 13).
Both come from Stripe with the invoice; the next sync or invoice event fills them in.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('due_date', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('due_date')
        batch_op.drop_column('description')
