"""session write path: portal_session keeps only its primary key; customer.sessions_revoked_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Every session creation paid for three index entries that nothing needs:
- UNIQUE token_hash: tokens are found by their session id (`sid`, the primary key) and
  only then compared with the stored digest in constant time; a token embeds its unique
  session id, so two sessions cannot share a digest anyway;
- project_id: sessions are never listed by project;
- customer_id: used only to revoke a removed customer's sessions row by row. Removal now
  sets `customer.sessions_revoked_at` instead, which validation checks (one column, and
  no index for every creation to keep up to date).
Each was a B-tree insert, and customer_id's a random page, on the session API's hot path
(bench/session_api.py). Customers already removed get `sessions_revoked_at = removed_at`.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _portal_session_after() -> sa.Table:
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
    )


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sessions_revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE customer SET sessions_revoked_at = removed_at WHERE removed_at IS NOT NULL")

    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        with op.batch_alter_table('portal_session', recreate='always', copy_from=_portal_session_after()):
            pass
    else:
        op.drop_index('ix_portal_session_project_id', table_name='portal_session')
        op.drop_index('ix_portal_session_customer_id', table_name='portal_session')
        for unique in sa.inspect(bind).get_unique_constraints('portal_session'):
            if unique['column_names'] == ['token_hash']:
                op.drop_constraint(unique['name'], 'portal_session', type_='unique')


def downgrade() -> None:
    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.create_index('ix_portal_session_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_portal_session_project_id', ['project_id'], unique=False)
        batch_op.create_unique_constraint('portal_session_token_hash_key', ['token_hash'])
    # Sessions revoked through the customer are revoked row by row again, as 0002 expects.
    op.execute(
        "UPDATE portal_session SET revoked_at = (SELECT c.sessions_revoked_at FROM customer c "
        "WHERE c.id = portal_session.customer_id) WHERE revoked_at IS NULL AND EXISTS (SELECT 1 FROM customer c "
        "WHERE c.id = portal_session.customer_id AND c.sessions_revoked_at IS NOT NULL "
        "AND portal_session.created_at < c.sessions_revoked_at)"
    )
    # Plain ALTER TABLE (SQLite ≥ 3.35 has DROP COLUMN): a batch rebuild would drop the
    # customer table, which other tables' foreign keys refer to.
    op.execute("ALTER TABLE customer DROP COLUMN sessions_revoked_at")
