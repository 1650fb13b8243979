"""Per-scan counts per dimension and value, so trends need not join every repository's facts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from driftscan.store.summary import summarise

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_count",
        sa.Column(
            "scan_id",
            sa.Integer(),
            sa.ForeignKey("scan.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("dimension", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(128), primary_key=True),
        sa.Column("repos", sa.Integer(), nullable=False),
    )
    summarise(op.get_bind())  # every stored scan, in the database


def downgrade() -> None:
    op.drop_table("scan_count")
