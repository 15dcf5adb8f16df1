"""customer: external_id (the SaaS's own id), unique per project

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A SaaS backend creates and finds its customers by its own user id through the customers
API (issue 14). NULL for every existing customer; NULLs never collide in the unique index,
on SQLite and PostgreSQL alike. Plain ALTER TABLE and CREATE INDEX, no batch rebuild: that
would drop the customer table, which other tables' foreign keys refer to.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('customer', sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.create_index('uq_customer_project_external', 'customer', ['project_id', 'external_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_customer_project_external', table_name='customer')
    op.execute("ALTER TABLE customer DROP COLUMN external_id")  # SQLite ≥ 3.35 has DROP COLUMN
