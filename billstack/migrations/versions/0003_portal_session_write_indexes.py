"""portal_session: drop the two indexes no query uses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Every session creation paid for two index entries nothing reads: tokens are found by
their session id (`sid`, the primary key) and only then compared with the stored digest
in constant time, so the UNIQUE index on `token_hash` was never used for a lookup (and a
token embeds its unique session id, so two sessions cannot share a digest); sessions are
never listed by project (a customer belongs to one project, and `customer_id` stays
indexed for revoking a removed customer's sessions). Both are random-key B-tree inserts
on the session API's hot path (bench/session_api.py).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _portal_session_without_token_unique() -> sa.Table:
    """The table as it is after this revision (SQLite rebuilds it from this definition:
    its UNIQUE constraint is unnamed, so it cannot be dropped by name)."""
    return sa.Table(
        'portal_session', sa.MetaData(),
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('api_key_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('return_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('flow', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.Index('ix_portal_session_customer_id', 'customer_id'),
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        with op.batch_alter_table('portal_session', recreate='always',
                                  copy_from=_portal_session_without_token_unique()):
            pass
    else:
        op.drop_index('ix_portal_session_project_id', table_name='portal_session')
        for unique in sa.inspect(bind).get_unique_constraints('portal_session'):
            if unique['column_names'] == ['token_hash']:
                op.drop_constraint(unique['name'], 'portal_session', type_='unique')


def downgrade() -> None:
    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.create_index('ix_portal_session_project_id', ['project_id'], unique=False)
        batch_op.create_unique_constraint('portal_session_token_hash_key', ['token_hash'])
