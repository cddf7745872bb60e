"""cover attributes: per-image extractor values (colour, texture, structure, faces), cached

Revision ID: 0004_cover_attributes
Revises: 0003_review_decisions
Create Date: 2026-12-01 20:15:00

Self-contained (one new table, no change to existing ones), so it can be re-chained after
another revision at merge time by editing ``down_revision`` alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_cover_attributes"
down_revision: str | None = "0003_review_decisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cover_attributes",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("extractor", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "extractor", "version", name=op.f("pk_cover_attributes")),
    )


def downgrade() -> None:
    op.drop_table("cover_attributes")
