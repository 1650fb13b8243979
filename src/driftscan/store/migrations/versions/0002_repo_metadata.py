"""Repository metadata per scan (forge facts and CODEOWNERS owners) and a note per scan.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: rows written by 0001 simply lack this metadata.
    with op.batch_alter_table("repo_scan") as batch:
        batch.add_column(sa.Column("archived", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("fork", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("topics", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("pushed_at", sa.String(40), nullable=True))
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=True))
        batch.add_column(sa.Column("owners", sa.JSON(), nullable=True))
    with op.batch_alter_table("scan") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("repo_scan") as batch:
        for column in ("owners", "visibility", "pushed_at", "topics", "fork", "archived"):
            batch.drop_column(column)
