"""Per-scan counts of failing findings per dimension and kind, so `trend --findings` need not
join every repository's findings of every scan (78 s at 10,000 repositories x 101 scans), and
an index from finding sets to the scans that saw them (when an open finding was first seen).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_repo_scan_finding_set", "repo_scan", ["finding_set_id", "scan_id"])
    op.create_table(
        "scan_finding_count",
        sa.Column(
            "scan_id",
            sa.Integer(),
            sa.ForeignKey("scan.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("dimension", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("findings", sa.Integer(), nullable=False),
    )
    # Every stored scan, in the database; the same aggregation as the store's (frozen here).
    op.execute(
        "INSERT INTO scan_finding_count (scan_id, dimension, kind, findings) "
        "SELECT rs.scan_id, i.dimension, i.kind, COUNT(i.id) FROM repo_scan rs "
        "JOIN finding_item i ON i.finding_set_id = rs.finding_set_id "
        "WHERE i.outcome = 'fail' AND i.waiver IS NULL "
        "GROUP BY rs.scan_id, i.dimension, i.kind"
    )


def downgrade() -> None:
    op.drop_table("scan_finding_count")
    op.drop_index("ix_repo_scan_finding_set", table_name="repo_scan")
