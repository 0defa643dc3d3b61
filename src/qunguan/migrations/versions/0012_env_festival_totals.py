"""envelope festival totals (the detectors' festival habits) and the group's size at each send

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('envelope_festival_totals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sender_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('season', sa.String(length=24), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('envelopes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_envelope_festival_totals_group_id_groups')),
    sa.ForeignKeyConstraint(['sender_id'], ['accounts.id'], name=op.f('fk_envelope_festival_totals_sender_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_envelope_festival_totals')),
    sa.UniqueConstraint('sender_id', 'group_id', 'season', name=op.f('uq_envelope_festival_totals_sender_id_group_id_season'))
    )
    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_member_count', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.drop_column('group_member_count')
    op.drop_table('envelope_festival_totals')
