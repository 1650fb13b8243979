"""Scans carry a lease (owner and heartbeat) so that a scan whose process died is shown as
`interrupted` and `--resume` can refuse a scan that a live process still owns; and stored infra
texts are purged: they were kept verbatim and could hold credentials. Texts stored from now on
are redacted at extraction; a purged text comes back, redacted, the next time a repository
carrying that content is detected.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan") as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("infra_content") as batch:
        batch.alter_column("text_z", existing_type=sa.LargeBinary(), nullable=True)
    op.execute("UPDATE infra_content SET text_z = NULL")
    # A checkout path with bytes that are not UTF-8 is stored escaped (up to 4x longer), so a
    # location no longer fits 1024 characters. SQLite never enforced the length (and a batch
    # rebuild of `repo` there would cascade), so only PostgreSQL's column changes.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("repo", "location", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("repo", "location", type_=sa.String(1024), existing_nullable=False)
    # Purged texts cannot come back; an empty text keeps the older schema's NOT NULL.
    op.get_bind().execute(
        sa.text("UPDATE infra_content SET text_z = :empty WHERE text_z IS NULL"),
        {"empty": zlib.compress(b"")},
    )
    with op.batch_alter_table("infra_content") as batch:
        batch.alter_column("text_z", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("scan") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
