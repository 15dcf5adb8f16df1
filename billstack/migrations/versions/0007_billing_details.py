"""billing details: customer phone and address, tax ids, the next invoice, project settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Customers fix their billing details and manage their cards in the portal (issue 16), as
Stripe's `features.customer_update` allows: the project says which fields they may edit
and whether they may remove a card. The mirror keeps the customer's phone and address,
their tax ids (tax_id) and, per subscription, what the next invoice will ask for. Existing
rows get the new columns at their next sync or event. Plain ALTER TABLE, no batch rebuild
(project, customer and subscription are referred to by other tables' foreign keys).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_CUSTOMER_COLUMNS = (('phone', 40), ('address_line1', 200), ('address_line2', 200), ('address_city', 200),
                     ('address_state', 200), ('address_postal_code', 40), ('address_country', 2))


def upgrade() -> None:
    op.add_column('project', sa.Column('customer_update_fields', sqlmodel.sql.sqltypes.AutoString(length=100),
                                       server_default='name,email,address,phone,tax_id', nullable=False))
    op.add_column('project', sa.Column('feature_payment_method_remove', sa.Boolean(), server_default=sa.true(),
                                       nullable=False))
    for name, length in _CUSTOMER_COLUMNS:
        op.add_column('customer', sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True))
    op.add_column('subscription', sa.Column('next_invoice_amount', sa.Integer(), nullable=True))
    op.add_column('subscription', sa.Column('next_invoice_date', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        'tax_id',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('stripe_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('verification_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('created', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('synced_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project_id', 'stripe_id', name='uq_tax_id_project_stripe'),
    )
    op.create_index('ix_tax_id_customer', 'tax_id', ['customer_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tax_id_customer', table_name='tax_id')
    op.drop_table('tax_id')
    for column in ('next_invoice_amount', 'next_invoice_date'):
        op.execute(f"ALTER TABLE subscription DROP COLUMN {column}")  # SQLite ≥ 3.35 has DROP COLUMN
    for name, _ in _CUSTOMER_COLUMNS:
        op.execute(f"ALTER TABLE customer DROP COLUMN {name}")
    for column in ('customer_update_fields', 'feature_payment_method_remove'):
        op.execute(f"ALTER TABLE project DROP COLUMN {column}")
