"""read markers: how far each member has read in each group (unread counts of the web)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('read_markers',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_read_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_read_markers_account_id_accounts')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_read_markers_group_id_groups')),
    sa.PrimaryKeyConstraint('account_id', 'group_id', name=op.f('pk_read_markers'))
    )


def downgrade() -> None:
    op.drop_table('read_markers')
