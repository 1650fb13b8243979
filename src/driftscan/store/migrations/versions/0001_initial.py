"""Initial schema: scans, repositories, content-addressed fact sets with evidence.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ruleset_digest", sa.String(64), nullable=False),
        sa.Column("tool_version", sa.String(32), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("repo_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "repo",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False, unique=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "factset",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("fact_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "factset_id",
            sa.Integer(),
            sa.ForeignKey("factset.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
    )
    op.create_index("ix_fact_factset", "fact", ["factset_id"])
    op.create_index("ix_fact_dimension", "fact", ["dimension"])
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "fact_id", sa.Integer(), sa.ForeignKey("fact.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("signal", sa.String(512), nullable=False),
    )
    op.create_index("ix_evidence_fact", "evidence", ["fact_id"])
    op.create_table(
        "repo_scan",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "scan_id", sa.Integer(), sa.ForeignKey("scan.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "repo_id", sa.Integer(), sa.ForeignKey("repo.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("head", sa.String(64), nullable=True),
        sa.Column("default_branch", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("factset_id", sa.Integer(), sa.ForeignKey("factset.id"), nullable=True),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("ruleset_digest", sa.String(64), nullable=False),
        sa.UniqueConstraint("scan_id", "repo_id", name="uq_repo_scan_scan_repo"),
    )
    op.create_index("ix_repo_scan_repo_head", "repo_scan", ["repo_id", "head"])


def downgrade() -> None:
    for table in ("repo_scan", "evidence", "fact", "factset", "repo", "scan"):
        op.drop_table(table)
