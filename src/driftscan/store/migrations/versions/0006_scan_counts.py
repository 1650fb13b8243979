"""Per-scan counts per dimension and value, so trends need not join every repository's facts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

SEEN = "*"  # dimension and value of the row counting the repositories a scan read

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
    # A frozen copy of the store's summary for the repo_scan of this revision (0007 moved
    # its columns): a migration must not change meaning when the application code does.
    _summarise(op.get_bind())


def downgrade() -> None:
    op.drop_table("scan_count")


def _summarise(conn: Connection) -> None:
    """scan_count for every stored scan, as the store of this revision wrote it."""
    meta = sa.MetaData()
    repo_scan = sa.Table("repo_scan", meta, autoload_with=conn)
    fact = sa.Table("fact", meta, autoload_with=conn)
    count = sa.Table("scan_count", meta, autoload_with=conn)
    repos = sa.func.count(repo_scan.c.repo_id.distinct())
    joined = repo_scan.join(fact, fact.c.factset_id == repo_scan.c.factset_id)
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, fact.c.dimension, fact.c.value, repos)
            .select_from(joined)
            .group_by(repo_scan.c.scan_id, fact.c.dimension, fact.c.value),
        )
    )
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, fact.c.dimension, sa.literal(""), repos)
            .select_from(joined)
            .group_by(repo_scan.c.scan_id, fact.c.dimension),
        )
    )
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, sa.literal(SEEN), sa.literal(SEEN), sa.func.count())
            .where(repo_scan.c.status != "error")
            .group_by(repo_scan.c.scan_id),
        )
    )
