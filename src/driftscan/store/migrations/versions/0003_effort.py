"""Raw material of the duplicated-effort analysis: tool versions and normalised infra files,
part of each content-addressed fact set; infra file texts stored once per distinct content.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "version_use",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "factset_id",
            sa.Integer(),
            sa.ForeignKey("factset.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tool", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
    )
    op.create_index("ix_version_use_factset", "version_use", ["factset_id"])
    op.create_table(
        "infra_content",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("text_z", sa.LargeBinary(), nullable=False),
        sa.Column("minhash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "infra_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "factset_id",
            sa.Integer(),
            sa.ForeignKey("factset.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column(
            "content_hash", sa.String(64), sa.ForeignKey("infra_content.hash"), nullable=False
        ),
    )
    op.create_index("ix_infra_file_factset", "infra_file", ["factset_id"])


def downgrade() -> None:
    op.drop_table("infra_file")
    op.drop_table("infra_content")
    op.drop_table("version_use")
