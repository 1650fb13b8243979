"""Findings as content-addressed sets per repository state, shared across scans.

A repository's findings rarely change between two scans; storing them per scan made them most
of the database (12 MiB per unchanged scan of 10,000 repositories). Each repo_scan now points
at a finding_set, stored once per distinct content. Existing findings are moved, not lost.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ITEM_FIELDS = (
    "rule_id",
    "dimension",
    "value",
    "outcome",
    "kind",
    "severity",
    "message",
    "fingerprint",
    "waiver",
)


def _digest(items: list[dict[str, Any]]) -> str:
    # Must match driftscan.store.queries.finding_set_digest (kept here so the migration never
    # changes meaning when the application code does).
    rows = sorted(json.dumps([i[f] for f in ITEM_FIELDS]) for i in items)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def upgrade() -> None:
    op.create_table(
        "finding_set",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("finding_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "finding_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "finding_set_id",
            sa.Integer(),
            sa.ForeignKey("finding_set.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("waiver", sa.Text(), nullable=True),
    )
    op.create_index("ix_finding_item_set", "finding_item", ["finding_set_id"])
    op.create_index("ix_finding_item_fingerprint", "finding_item", ["fingerprint"])
    with op.batch_alter_table("repo_scan") as batch:
        batch.add_column(sa.Column("finding_set_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_repo_scan_finding_set", "finding_set", ["finding_set_id"], ["id"]
        )
    _move_findings()
    op.drop_table("finding")


def _move_findings() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    finding = sa.Table("finding", meta, autoload_with=bind)
    repo = sa.Table("repo", meta, autoload_with=bind)
    repo_scan = sa.Table("repo_scan", meta, autoload_with=bind)
    finding_set = sa.Table("finding_set", meta, autoload_with=bind)
    finding_item = sa.Table("finding_item", meta, autoload_with=bind)
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in bind.execute(sa.select(finding).order_by(finding.c.id)).mappings():
        groups.setdefault((row["scan_id"], row["location"]), []).append(dict(row))
    repo_ids = dict(bind.execute(sa.select(repo.c.location, repo.c.id)).all())
    known: dict[str, int] = {}
    for (scan_id, location), items in groups.items():
        if location not in repo_ids:
            continue  # a finding for a repository the scan never recorded: nothing to attach to
        digest = _digest(items)
        if digest not in known:
            set_id = bind.execute(
                sa.insert(finding_set)
                .values(digest=digest, finding_count=len(items))
                .returning(finding_set.c.id)
            ).scalar_one()
            bind.execute(
                sa.insert(finding_item),
                [{"finding_set_id": set_id, **{f: i[f] for f in ITEM_FIELDS}} for i in items],
            )
            known[digest] = set_id
        bind.execute(
            sa.update(repo_scan)
            .where(repo_scan.c.scan_id == scan_id, repo_scan.c.repo_id == repo_ids[location])
            .values(finding_set_id=known[digest])
        )


def downgrade() -> None:
    op.create_table(
        "finding",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "scan_id", sa.Integer(), sa.ForeignKey("scan.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("location", sa.String(1024), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("waiver", sa.Text(), nullable=True),
    )
    op.create_index("ix_finding_scan", "finding", ["scan_id"])
    op.create_index("ix_finding_fingerprint", "finding", ["fingerprint"])
    fields = ", ".join(f"i.{f}" for f in ITEM_FIELDS)
    op.execute(
        f"INSERT INTO finding (scan_id, repo, location, {', '.join(ITEM_FIELDS)}) "
        f"SELECT rs.scan_id, r.name, r.location, {fields} FROM repo_scan rs "
        "JOIN repo r ON r.id = rs.repo_id "
        "JOIN finding_item i ON i.finding_set_id = rs.finding_set_id"
    )
    with op.batch_alter_table("repo_scan") as batch:
        batch.drop_constraint("fk_repo_scan_finding_set", type_="foreignkey")
        batch.drop_column("finding_set_id")
    op.drop_table("finding_item")
    op.drop_table("finding_set")
