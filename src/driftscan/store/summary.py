"""Per-scan counts: repositories per (dimension, value), per dimension, and read at all.

`summarise` stores them for one scan when it finishes (table scan_count); `count_selects`
gives the same three aggregations for any filter, e.g. one team's repositories. Likewise
`summarise_findings` / `finding_count_select` for failing findings per dimension and kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, join, literal, select
from sqlalchemy.engine import Connection

from driftscan.store.tables import (
    FactRow,
    FindingItemRow,
    RepoScanRow,
    RepoStateRow,
    ScanCountRow,
    ScanFindingCountRow,
)

SEEN = "*"  # dimension and value of the row counting the repositories a scan read
COLUMNS = ["scan_id", "dimension", "value", "repos"]
if TYPE_CHECKING:  # Select's parameters differ between SQLAlchemy 2.0 and 2.1
    from typing import TypeAlias

    from typing_extensions import Unpack

    Rows: TypeAlias = Select[Unpack[tuple[Any, ...]]]


def count_selects(
    where: ColumnElement[bool], dimensions: Sequence[str] = ()
) -> tuple[Rows, Rows, Rows]:
    """Rows of (scan_id, dimension, value, repos): per value; per dimension with value "" (the
    repositories with any value); per scan as (SEEN, SEEN), the repositories read."""
    repos = func.count(RepoScanRow.repo_id.distinct())
    with_state = join(RepoScanRow, RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
    joined = with_state.join(FactRow, FactRow.factset_id == RepoStateRow.factset_id)
    of_facts = [where, FactRow.dimension.in_(dimensions)] if dimensions else [where]
    per_value = (
        select(RepoScanRow.scan_id, FactRow.dimension, FactRow.value, repos)
        .select_from(joined)
        .where(*of_facts)
        .group_by(RepoScanRow.scan_id, FactRow.dimension, FactRow.value)
    )
    per_dimension = (
        select(RepoScanRow.scan_id, FactRow.dimension, literal(""), repos)
        .select_from(joined)
        .where(*of_facts)
        .group_by(RepoScanRow.scan_id, FactRow.dimension)
    )
    seen = (
        select(RepoScanRow.scan_id, literal(SEEN), literal(SEEN), func.count())
        .select_from(with_state)
        .where(where, RepoStateRow.status != "error")
        .group_by(RepoScanRow.scan_id)
    )
    return per_value, per_dimension, seen


def summarise(conn: Connection, scan_id: int) -> None:
    """(Re)compute scan_count for one scan, in the database (three INSERT .. SELECT)."""
    conn.execute(delete(ScanCountRow).where(ScanCountRow.scan_id == scan_id))
    for query in count_selects(RepoScanRow.scan_id == scan_id):
        conn.execute(insert(ScanCountRow).from_select(COLUMNS, query))


def finding_count_select(where: ColumnElement[bool], dimensions: Sequence[str] = ()) -> Rows:
    """Rows of (scan_id, dimension, kind, findings): failing, unwaived findings."""
    query = (
        select(
            RepoScanRow.scan_id,
            FindingItemRow.dimension,
            FindingItemRow.kind,
            func.count(FindingItemRow.id),
        )
        .join(FindingItemRow, FindingItemRow.finding_set_id == RepoScanRow.finding_set_id)
        .where(where, FindingItemRow.outcome == "fail", FindingItemRow.waiver.is_(None))
        .group_by(RepoScanRow.scan_id, FindingItemRow.dimension, FindingItemRow.kind)
    )
    return query.where(FindingItemRow.dimension.in_(dimensions)) if dimensions else query


def summarise_findings(conn: Connection, scan_id: int) -> None:
    """(Re)compute scan_finding_count for one scan, in the database."""
    conn.execute(delete(ScanFindingCountRow).where(ScanFindingCountRow.scan_id == scan_id))
    conn.execute(
        insert(ScanFindingCountRow).from_select(
            ["scan_id", "dimension", "kind", "findings"],
            finding_count_select(RepoScanRow.scan_id == scan_id),
        )
    )
