"""many harvesters, dumps: a shared request budget table; 64-bit harvest cursor offsets

Revision ID: 0005_shared_harvest
Revises: 0004_cover_attributes
Create Date: 2026-12-06 21:30:00

``rate_budgets`` holds the next time a request to a rate-limited service may start, for every
collect process on this catalog (taken under a row lock). ``harvest_cursors.next_offset``
becomes 64-bit: a MusicBrainz dump's byte offset passes 2**31 after 2 GB. Self-contained, so
it can be re-chained after another revision at merge time by editing ``down_revision`` alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_shared_harvest"
down_revision: str | None = "0004_cover_attributes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_budgets",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rate_budgets")),
    )
    with op.batch_alter_table("harvest_cursors") as batch:
        batch.alter_column("next_offset", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    with op.batch_alter_table("harvest_cursors") as batch:
        batch.alter_column("next_offset", type_=sa.Integer(), existing_type=sa.BigInteger())
    op.drop_table("rate_budgets")
