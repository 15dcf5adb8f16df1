"""plan changes: project settings, the plan_price catalogue, subscription price and schedule

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Customers change plan in the portal (issue 15), as Stripe's `features.subscription_update`
allows: the project says whether, between which prices (plan_price, a snapshot of each
price as Stripe described it when it was set) and how changes are prorated or deferred to
the period end. The mirror keeps each subscription's first item and price, and a change
a subscription schedule will apply at the period end. Existing projects keep plan
changes off; existing subscriptions get the new columns at their next sync or event.
Plain ALTER TABLE, no batch rebuild (project and subscription are referred to by other
tables' foreign keys).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_PROJECT_COLUMNS = ('feature_plan_change', 'proration_behavior', 'schedule_at_period_end',
                    'feature_quantity_change', 'quantity_min', 'quantity_max')
_SUBSCRIPTION_COLUMNS = ('stripe_item_id', 'price_id', 'schedule_id', 'scheduled_price_id',
                         'scheduled_quantity', 'scheduled_change_at')


def upgrade() -> None:
    op.add_column('project', sa.Column('feature_plan_change', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('project', sa.Column('proration_behavior', sqlmodel.sql.sqltypes.AutoString(length=32),
                                       server_default='create_prorations', nullable=False))
    op.add_column('project', sa.Column('schedule_at_period_end', sqlmodel.sql.sqltypes.AutoString(length=200),
                                       server_default='', nullable=False))
    op.add_column('project', sa.Column('feature_quantity_change', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('project', sa.Column('quantity_min', sa.Integer(), server_default='1', nullable=False))
    op.add_column('project', sa.Column('quantity_max', sa.Integer(), nullable=True))

    op.add_column('subscription', sa.Column('stripe_item_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column('subscription', sa.Column('price_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column('subscription', sa.Column('schedule_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column('subscription', sa.Column('scheduled_price_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column('subscription', sa.Column('scheduled_quantity', sa.Integer(), nullable=True))
    op.add_column('subscription', sa.Column('scheduled_change_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    op.create_table(
        'plan_price',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('price_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('product_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column('product_name', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('unit_amount', sa.Integer(), nullable=False),
        sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column('interval', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('interval_count', sa.Integer(), nullable=False),
        sa.Column('synced_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project_id', 'price_id', name='uq_plan_price_project_price'),
    )
    op.create_index('ix_plan_price_project_id', 'plan_price', ['project_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_plan_price_project_id', table_name='plan_price')
    op.drop_table('plan_price')
    for column in _SUBSCRIPTION_COLUMNS:
        op.execute(f"ALTER TABLE subscription DROP COLUMN {column}")  # SQLite ≥ 3.35 has DROP COLUMN
    for column in _PROJECT_COLUMNS:
        op.execute(f"ALTER TABLE project DROP COLUMN {column}")
