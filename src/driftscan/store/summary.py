"""Per-scan counts (table scan_count), computed by the database in three INSERT .. SELECT
statements, when a scan finishes (migration 0006 backfilled older scans with a frozen copy)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SEEN = "*"  # dimension and value of the row counting the repositories a scan read


def summarise(conn: Connection, scan_id: int | None = None) -> None:
    """(Re)compute scan_count for one scan, or for every scan when None."""
    meta = sa.MetaData()
    repo_scan = sa.Table("repo_scan", meta, autoload_with=conn)
    state = sa.Table("repo_state", meta, autoload_with=conn)
    fact = sa.Table("fact", meta, autoload_with=conn)
    count = sa.Table("scan_count", meta, autoload_with=conn)
    where = repo_scan.c.scan_id == scan_id if scan_id is not None else sa.true()
    conn.execute(
        sa.delete(count).where(count.c.scan_id == scan_id)
        if scan_id is not None
        else sa.delete(count)
    )
    repos = sa.func.count(repo_scan.c.repo_id.distinct())
    with_state = repo_scan.join(state, state.c.id == repo_scan.c.state_id)
    joined = with_state.join(fact, fact.c.factset_id == state.c.factset_id)
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, fact.c.dimension, fact.c.value, repos)
            .select_from(joined)
            .where(where)
            .group_by(repo_scan.c.scan_id, fact.c.dimension, fact.c.value),
        )
    )
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, fact.c.dimension, sa.literal(""), repos)
            .select_from(joined)
            .where(where)
            .group_by(repo_scan.c.scan_id, fact.c.dimension),
        )
    )
    conn.execute(
        sa.insert(count).from_select(
            ["scan_id", "dimension", "value", "repos"],
            sa.select(repo_scan.c.scan_id, sa.literal(SEEN), sa.literal(SEEN), sa.func.count())
            .select_from(with_state)
            .where(where, state.c.status != "error")
            .group_by(repo_scan.c.scan_id),
        )
    )
