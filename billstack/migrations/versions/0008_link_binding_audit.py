"""link binding, audit events an operator can read

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Security in depth (issue 18). A portal link is bound to the first browser that opens it
(project.link_binding, default `browser`; portal_session.bound_secret_hash/bound_at). Every
portal action and session event writes an audit row with the client's user agent, the
Stripe object it touched and its outcome; audit rows are listed by project and customer
and pruned by age (BILLSTACK_AUDIT_RETENTION_DAYS), hence the two new indexes. Plain ADD
COLUMN: existing projects get `browser`, existing audit rows `ok`.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('project', sa.Column('link_binding', sqlmodel.sql.sqltypes.AutoString(length=16),
                                       server_default='browser', nullable=False))
    op.add_column('portal_session', sa.Column('bound_secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64),
                                              nullable=True))
    op.add_column('portal_session', sa.Column('bound_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('audit_event', sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
    op.add_column('audit_event', sa.Column('stripe_object_id', sqlmodel.sql.sqltypes.AutoString(length=255),
                                           nullable=True))
    op.add_column('audit_event', sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16),
                                           server_default='ok', nullable=False))
    op.create_index('ix_audit_event_project_customer_created', 'audit_event',
                    ['project_id', 'customer_id', 'created_at'], unique=False)
    op.create_index('ix_audit_event_created', 'audit_event', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_event_created', table_name='audit_event')
    op.drop_index('ix_audit_event_project_customer_created', table_name='audit_event')
    for column in ('user_agent', 'stripe_object_id', 'outcome'):
        op.execute(f"ALTER TABLE audit_event DROP COLUMN {column}")  # SQLite ≥ 3.35 has DROP COLUMN
    for column in ('bound_secret_hash', 'bound_at'):
        op.execute(f"ALTER TABLE portal_session DROP COLUMN {column}")
    op.execute("ALTER TABLE project DROP COLUMN link_binding")
