"""Repository states, content-addressed: `repo_scan` shrinks to (scan, repo, state).

Every scan wrote a full row per repository (head, branch, status, problems, metadata, owners)
even when nothing had changed: 1.9 MiB per unchanged rescan of 10,000 repositories. What a scan
learned about a repository now lives in `repo_state`, stored once per distinct content; a
rescan adds four integers and a flag per repository. Existing rows are moved, not lost.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATE_FIELDS = (
    "head",
    "default_branch",
    "status",
    "error",
    "problems",
    "factset_id",
    "complete",
    "ruleset_digest",
    "archived",
    "fork",
    "topics",
    "pushed_at",
    "visibility",
    "owners",
)
BATCH = 5000


def _digest(state: dict[str, Any]) -> str:
    # The same recipe as driftscan.store.queries.repo_state_digest, kept here so that this
    # migration never changes meaning. A mismatch would only store a state twice.
    canonical = json.dumps([state[f] for f in STATE_FIELDS], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _state_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("head", sa.String(64), nullable=True),
        sa.Column("default_branch", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("factset_id", sa.Integer(), sa.ForeignKey("factset.id"), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("ruleset_digest", sa.String(64), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=True),
        sa.Column("fork", sa.Boolean(), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=True),
        sa.Column("pushed_at", sa.String(40), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=True),
        sa.Column("owners", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "repo_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        *_state_columns(),
    )
    op.create_table(
        "repo_scan_next",
        sa.Column(
            "scan_id", sa.Integer(), sa.ForeignKey("scan.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "repo_id", sa.Integer(), sa.ForeignKey("repo.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state_id", sa.Integer(), sa.ForeignKey("repo_state.id"), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column(
            "finding_set_id",
            sa.Integer(),
            sa.ForeignKey("finding_set.id", name="fk_repo_scan_finding_set"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("scan_id", "repo_id", name="pk_repo_scan"),
        sqlite_with_rowid=False,
    )
    _move_rows()
    op.drop_table("repo_scan")
    op.rename_table("repo_scan_next", "repo_scan")


def _move_rows() -> None:
    """Old repo_scan rows -> shared states + slim rows, in batches (a big history is millions
    of rows; none is held in memory at once beyond a batch and the digest index)."""
    bind = op.get_bind()
    meta = sa.MetaData()
    old = sa.Table("repo_scan", meta, autoload_with=bind)
    state = sa.Table("repo_state", meta, autoload_with=bind)
    slim = sa.Table("repo_scan_next", meta, autoload_with=bind)
    known: dict[str, int] = {}
    last_id = 0
    while True:
        rows = (
            bind.execute(sa.select(old).where(old.c.id > last_id).order_by(old.c.id).limit(BATCH))
            .mappings()
            .all()
        )
        if not rows:
            return
        last_id = rows[-1]["id"]
        slim_rows = []
        for row in rows:
            values = {f: row[f] for f in STATE_FIELDS}
            values["problems"] = values["problems"] or []
            values["complete"] = bool(values["complete"])
            digest = _digest(values)
            if digest not in known:
                known[digest] = bind.execute(
                    sa.insert(state).values(digest=digest, **values).returning(state.c.id)
                ).scalar_one()
            slim_rows.append(
                {
                    "scan_id": row["scan_id"],
                    "repo_id": row["repo_id"],
                    "state_id": known[digest],
                    "reused": bool(row["reused"]),
                    "finding_set_id": row["finding_set_id"],
                }
            )
        bind.execute(sa.insert(slim), slim_rows)


def downgrade() -> None:
    op.create_table(
        "repo_scan_wide",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "scan_id", sa.Integer(), sa.ForeignKey("scan.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "repo_id", sa.Integer(), sa.ForeignKey("repo.id", ondelete="CASCADE"), nullable=False
        ),
        *_state_columns(),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column(
            "finding_set_id",
            sa.Integer(),
            sa.ForeignKey("finding_set.id", name="fk_repo_scan_finding_set"),
            nullable=True,
        ),
        sa.UniqueConstraint("scan_id", "repo_id", name="uq_repo_scan_scan_repo"),
    )
    fields = ", ".join(STATE_FIELDS)
    op.execute(
        f"INSERT INTO repo_scan_wide (scan_id, repo_id, reused, finding_set_id, {fields}) "
        f"SELECT rs.scan_id, rs.repo_id, rs.reused, rs.finding_set_id, "
        f"{', '.join('s.' + f for f in STATE_FIELDS)} "
        "FROM repo_scan rs JOIN repo_state s ON s.id = rs.state_id ORDER BY rs.scan_id, rs.repo_id"
    )
    op.drop_table("repo_scan")
    op.drop_table("repo_state")
    op.rename_table("repo_scan_wide", "repo_scan")
    op.create_index("ix_repo_scan_repo_head", "repo_scan", ["repo_id", "head"])
