"""cancellation options, retention offer, pause and promotion codes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

Issue 20, Stripe's portal configuration field by field: `features.subscription_cancel`
(`mode`, `proration_behavior`, `cancellation_reason.options`), a retention coupon offered
in the cancel flow, `features.subscription_pause` and the `promotion_code` update. Plain
ADD COLUMN with server defaults: existing projects keep today's behaviour (cancel at period
end, every reason offered, no offer, no pause, no promotion codes). The subscription mirror
gains its discount (coupon, percent or amount off, end, promotion code) and its
`pause_collection` (behavior, resumes_at), and the customer mirror its Stripe
`preferred_locales` (for `locale: auto`), all nullable: filled by the next sync.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_REASONS = "too_expensive,missing_features,switched_service,unused,customer_service,too_complex,low_quality,other"


def upgrade() -> None:
    op.add_column('project', sa.Column('cancel_mode', sqlmodel.sql.sqltypes.AutoString(length=16),
                                       server_default='at_period_end', nullable=False))
    op.add_column('project', sa.Column('cancel_proration', sqlmodel.sql.sqltypes.AutoString(length=32),
                                       server_default='none', nullable=False))
    op.add_column('project', sa.Column('cancel_reasons', sqlmodel.sql.sqltypes.AutoString(length=200),
                                       server_default=_REASONS, nullable=False))
    op.add_column('project', sa.Column('retention_coupon', sqlmodel.sql.sqltypes.AutoString(length=255),
                                       nullable=True))
    op.add_column('project', sa.Column('retention_percent_off', sa.Float(), nullable=True))
    op.add_column('project', sa.Column('retention_amount_off', sa.Integer(), nullable=True))
    op.add_column('project', sa.Column('retention_currency', sqlmodel.sql.sqltypes.AutoString(length=3),
                                       nullable=True))
    op.add_column('project', sa.Column('retention_duration', sqlmodel.sql.sqltypes.AutoString(length=16),
                                       nullable=True))
    op.add_column('project', sa.Column('retention_duration_in_months', sa.Integer(), nullable=True))
    op.add_column('project', sa.Column('feature_pause', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('project', sa.Column('feature_promotion_code', sa.Boolean(), server_default=sa.false(),
                                       nullable=False))

    op.add_column('subscription', sa.Column('discount_coupon_id', sqlmodel.sql.sqltypes.AutoString(length=255),
                                            nullable=True))
    op.add_column('subscription', sa.Column('discount_percent_off', sa.Float(), nullable=True))
    op.add_column('subscription', sa.Column('discount_amount_off', sa.Integer(), nullable=True))
    op.add_column('subscription', sa.Column('discount_end', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('subscription', sa.Column('discount_promotion_code',
                                            sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.add_column('subscription', sa.Column('pause_behavior', sqlmodel.sql.sqltypes.AutoString(length=32),
                                            nullable=True))
    op.add_column('subscription', sa.Column('pause_resumes_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    op.add_column('customer', sa.Column('preferred_locales', sqlmodel.sql.sqltypes.AutoString(length=200),
                                        nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE customer DROP COLUMN preferred_locales")
    for column in ('discount_coupon_id', 'discount_percent_off', 'discount_amount_off', 'discount_end',
                   'discount_promotion_code', 'pause_behavior', 'pause_resumes_at'):
        op.execute(f"ALTER TABLE subscription DROP COLUMN {column}")
    for column in ('cancel_mode', 'cancel_proration', 'cancel_reasons', 'retention_coupon', 'retention_percent_off',
                   'retention_amount_off', 'retention_currency', 'retention_duration',
                   'retention_duration_in_months', 'feature_pause', 'feature_promotion_code'):
        op.execute(f"ALTER TABLE project DROP COLUMN {column}")  # SQLite ≥ 3.35 has DROP COLUMN
