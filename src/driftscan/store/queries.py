"""The store: open/upgrade a database, write scans as they happen, read them back.

Any SQLAlchemy URL works; SQLite (WAL, busy timeout) is the embedded default and PostgreSQL
(psycopg 3) is tested for real. Nothing here ever stores a token or a secret value: facts
carry ids, paths, lines and signal descriptions only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from sqlalchemy import (
    CursorResult,
    Delete,
    Engine,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session

from driftscan.engine.trend import RepoOwners, ScanPoint, ValueCount
from driftscan.models import (
    Evidence,
    Fact,
    Finding,
    InfraFile,
    Outcome,
    Problem,
    RepoMeta,
    RepoResult,
    RepoStatus,
    ScanSummary,
    VersionUse,
)
from driftscan.store.summary import (
    SEEN,
    count_selects,
    finding_count_select,
    summarise,
    summarise_findings,
)
from driftscan.store.tables import (
    EvidenceRow,
    FactRow,
    FactSetRow,
    FindingItemRow,
    FindingSetRow,
    InfraContentRow,
    InfraFileRow,
    RepoRow,
    RepoScanRow,
    RepoStateRow,
    ScanCountRow,
    ScanFindingCountRow,
    ScanRow,
    VersionUseRow,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StoreError(Exception):
    """A database problem, described without credentials."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed, not left in free pages: a text purged by
    # migration 0009 (it could hold a credential) must not survive in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def factset_digest(result: RepoResult) -> str:
    """Identity of everything detection learned about one repository state."""
    canonical = [
        sorted(
            (f.category, f.dimension, f.value, [(e.path, e.line, e.signal) for e in f.evidence])
            for f in result.facts
        ),
        sorted((v.kind, v.tool, v.version, v.path, v.line or 0) for v in result.versions),
        sorted((i.path, i.content_hash) for i in result.infra),
    ]
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


FINDING_FIELDS = (
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


def finding_set_digest(findings: Iterable[Finding]) -> str:
    """Content address of one repository's findings (migration 0005 computes the same)."""
    rows = sorted(
        json.dumps(
            [f.outcome.value if name == "outcome" else getattr(f, name) for name in FINDING_FIELDS]
        )
        for f in findings
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


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


def repo_state_digest(state: dict[str, Any]) -> str:
    """Content address of what one scan learned about one repository (migration 0007 computes
    the same)."""
    canonical = json.dumps([state[f] for f in STATE_FIELDS], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class PruneResult:
    scans_deleted: int
    scans_kept: int
    factsets: int  # fact sets no remaining scan refers to, deleted with their facts
    states: int  # repository states no remaining scan refers to
    finding_sets: int
    infra_texts: int
    repos: int  # repositories no remaining scan saw


@dataclass(frozen=True)
class KnownHead:
    """The last successful scan of a repository: enough to reuse its facts."""

    head: str
    factset_id: int | None
    owners: tuple[str, ...] = ()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
            kwargs: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (
                None,
                "",
                ":memory:",
            ):
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30}
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, OSError) as exc:
            raise StoreError(f"cannot open database {safe_url(url)}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    # -- schema ---------------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        from alembic.config import Config  # Alembic loads in ~0.25 s: only when the schema is asked

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Bring the schema to the newest (or the given) revision; returns (before, after)."""
        from alembic import command

        before = self.current_revision()
        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed on {safe_url(self.url)}: {_short(exc)}") from None
        return before, self.current_revision()

    def ensure_schema(self) -> None:
        """Create the schema in a new database; refuse to touch an outdated one silently."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            self.upgrade()
            return
        raise StoreError(
            f"database {safe_url(self.url)} has schema revision {current}, this driftscan needs "
            f"{head}: back it up if you wish, then run `driftscan db upgrade`"
        )

    # -- writing a scan -------------------------------------------------------------------

    def begin_scan(self, sources: Sequence[str], ruleset_digest: str, tool_version: str) -> int:
        with Session(self.engine) as session, session.begin():
            row = ScanRow(
                started_at=_utcnow(),
                finished_at=None,
                status="running",
                ruleset_digest=ruleset_digest,
                tool_version=tool_version,
                sources=list(sources),
                repo_count=0,
            )
            session.add(row)
            session.flush()
            return row.id

    def known_heads(self, ruleset_digest: str) -> dict[str, KnownHead]:
        """location -> last successful, complete scan with this ruleset (for reuse).

        Each repository's newest qualifying row is found in SQL over integers only (no JSON,
        no sort of the whole history): it runs at the start of every scan."""
        usable = select(RepoStateRow.id).where(
            RepoStateRow.ruleset_digest == ruleset_digest,
            RepoStateRow.status.in_(("ok", "empty")),
            RepoStateRow.complete.is_(True),
            RepoStateRow.head.is_not(None),
        )
        newest = (
            select(RepoScanRow.repo_id, func.max(RepoScanRow.scan_id).label("scan_id"))
            .where(RepoScanRow.state_id.in_(usable))
            .group_by(RepoScanRow.repo_id)
            .subquery()
        )
        stmt = (
            select(
                RepoRow.location, RepoStateRow.head, RepoStateRow.factset_id, RepoStateRow.owners
            )
            .join(newest, newest.c.repo_id == RepoRow.id)
            .join(
                RepoScanRow,
                (RepoScanRow.scan_id == newest.c.scan_id) & (RepoScanRow.repo_id == RepoRow.id),
            )
            .join(RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
        )
        with Session(self.engine) as session:
            return {
                location: KnownHead(head, factset_id, tuple(owners or ()))
                for location, head, factset_id, owners in session.execute(stmt)
                if head is not None
            }

    def record(
        self,
        scan_id: int,
        results: Iterable[RepoResult],
        ruleset_digest: str,
        reuse: dict[str, KnownHead] | None = None,
    ) -> int:
        """Write a batch of repository results in one transaction; returns how many."""
        batch = list(results)
        try:
            return self._record(scan_id, batch, ruleset_digest, reuse or {})
        except SQLAlchemyError as exc:
            names = ", ".join(r.name for r in batch[:3]) + (" …" if len(batch) > 3 else "")
            raise StoreError(
                f"cannot store the results of {names} in {safe_url(self.url)}: {_short(exc)}"
            ) from None

    def _record(
        self,
        scan_id: int,
        batch: list[RepoResult],
        ruleset_digest: str,
        reuse: dict[str, KnownHead],
    ) -> int:
        with Session(self.engine) as session, session.begin():
            repos = self._repos(session, batch)
            states: list[dict[str, Any]] = []
            for result in batch:
                factset_id: int | None
                owners = result.owners
                if result.reused and result.location in reuse:
                    factset_id = reuse[result.location].factset_id
                    owners = reuse[result.location].owners
                else:
                    factset_id = self._factset(session, result)
                states.append(_state(result, factset_id, owners, ruleset_digest))
            state_ids = self._states(session, states)
            session.add_all(
                RepoScanRow(
                    scan_id=scan_id,
                    repo_id=repos[result.location].id,
                    state_id=state_id,
                    reused=result.reused,
                )
                for result, state_id in zip(batch, state_ids, strict=True)
            )
            count = len(batch)
            scan = session.get(ScanRow, scan_id)
            if scan is not None:
                scan.repo_count += count
        return count

    def _repos(self, session: Session, batch: Sequence[RepoResult]) -> dict[str, RepoRow]:
        """The repo rows of a batch, created where new (one query for the known ones)."""
        locations = list(dict.fromkeys(r.location for r in batch))
        rows: dict[str, RepoRow] = {}
        for start in range(0, len(locations), 500):
            chunk = locations[start : start + 500]
            for row in session.scalars(select(RepoRow).where(RepoRow.location.in_(chunk))):
                rows[row.location] = row
        for result in batch:
            known = rows.get(result.location)
            if known is None:
                new = RepoRow(
                    name=_fit(result.name, 255), location=result.location, first_seen=_utcnow()
                )
                session.add(new)
                rows[result.location] = new
            elif known.name != _fit(result.name, 255):
                known.name = _fit(result.name, 255)
        session.flush()
        return rows

    @staticmethod
    def _states(session: Session, states: Sequence[dict[str, Any]]) -> list[int]:
        """The id of each state, stored where new (one lookup query per 500 digests)."""
        digests = [repo_state_digest(state) for state in states]
        known: dict[str, int] = {}
        unique = sorted(set(digests))
        for start in range(0, len(unique), 500):
            found = session.execute(
                select(RepoStateRow.digest, RepoStateRow.id).where(
                    RepoStateRow.digest.in_(unique[start : start + 500])
                )
            )
            known.update((digest, state_id) for digest, state_id in found)
        new = {
            digest: RepoStateRow(digest=digest, **state)
            for digest, state in zip(digests, states, strict=True)
            if digest not in known
        }
        if new:
            session.add_all(new.values())
            session.flush()
            known.update((digest, row.id) for digest, row in new.items())
        return [known[digest] for digest in digests]

    def _factset(self, session: Session, result: RepoResult) -> int | None:
        facts = result.facts
        if not (facts or result.versions or result.infra):
            return None
        digest = factset_digest(result)
        existing = session.scalars(select(FactSetRow.id).where(FactSetRow.digest == digest)).first()
        if existing is not None:
            return existing
        factset = FactSetRow(digest=digest, fact_count=len(facts))
        session.add(factset)
        session.flush()
        rows = [
            FactRow(
                factset_id=factset.id, category=f.category, dimension=f.dimension, value=f.value
            )
            for f in facts
        ]
        session.add_all(rows)
        session.flush()  # one multi-row INSERT .. RETURNING gives every fact its id
        session.add_all(
            EvidenceRow(fact_id=row.id, path=e.path, line=e.line, signal=_fit(e.signal, 512))
            for row, fact in zip(rows, facts, strict=True)
            for e in fact.evidence
        )
        session.add_all(
            VersionUseRow(
                factset_id=factset.id,
                kind=v.kind,
                tool=v.tool[:255],
                version=v.version[:255],
                path=v.path,
                line=v.line,
            )
            for v in result.versions
        )
        self._infra(session, factset.id, result.infra)
        return factset.id

    def _infra(self, session: Session, factset_id: int, files: Sequence[InfraFile]) -> None:
        """Each distinct content once. `f.text` is redacted at extraction (engine/infra.py),
        so no credential value gets here; a text that migration 0009 purged is written again
        when a repository carrying that content is detected."""
        hashes = list({f.content_hash for f in files})
        purged: dict[str, bool] = (
            dict(
                session.execute(
                    select(InfraContentRow.hash, InfraContentRow.text_z.is_(None)).where(
                        InfraContentRow.hash.in_(hashes)
                    )
                ).tuples()
            )
            if hashes
            else {}
        )
        for f in files:
            stored = purged.get(f.content_hash)
            purged[f.content_hash] = False
            if stored is None:
                session.add(
                    InfraContentRow(
                        hash=f.content_hash,
                        kind=f.kind,
                        lines=f.lines,
                        text_z=zlib.compress(f.text.encode()),
                        minhash=f.minhash,
                    )
                )
            elif stored:
                session.execute(
                    update(InfraContentRow)
                    .where(InfraContentRow.hash == f.content_hash, InfraContentRow.text_z.is_(None))
                    .values(text_z=zlib.compress(f.text.encode()))
                )
        session.flush()
        session.add_all(
            InfraFileRow(factset_id=factset_id, path=f.path, content_hash=f.content_hash)
            for f in files
        )

    def effort_material(
        self, scan: ScanSummary
    ) -> dict[str, tuple[tuple[VersionUse, ...], tuple[InfraFile, ...]]]:
        """location -> versions and infra files (text left empty, see `infra_texts`)."""
        locations = {r.location for r in scan.repos}
        with Session(self.engine) as session:
            rows = session.execute(
                select(RepoRow.location, RepoStateRow.factset_id)
                .join(RepoScanRow, RepoScanRow.repo_id == RepoRow.id)
                .join(RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
                .where(RepoScanRow.scan_id == scan.id, RepoStateRow.factset_id.is_not(None))
            ).all()
            by_set: dict[int, list[str]] = {}
            for location, factset_id in rows:
                if location in locations and factset_id is not None:
                    by_set.setdefault(factset_id, []).append(location)
            versions: dict[int, list[VersionUse]] = {}
            infra: dict[int, list[InfraFile]] = {}
            ids = sorted(by_set)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for v in session.scalars(
                    select(VersionUseRow).where(VersionUseRow.factset_id.in_(chunk))
                ):
                    versions.setdefault(v.factset_id, []).append(
                        VersionUse(v.kind, v.tool, v.version, v.path, v.line)
                    )
                for f, c in session.execute(
                    select(InfraFileRow, InfraContentRow)
                    .join(InfraContentRow, InfraContentRow.hash == InfraFileRow.content_hash)
                    .where(InfraFileRow.factset_id.in_(chunk))
                ).all():
                    infra.setdefault(f.factset_id, []).append(
                        InfraFile(c.kind, f.path, c.hash, c.lines, "", c.minhash)
                    )
        out: dict[str, tuple[tuple[VersionUse, ...], tuple[InfraFile, ...]]] = {}
        for factset_id, locs in by_set.items():
            for location in locs:
                out[location] = (
                    tuple(versions.get(factset_id, ())),
                    tuple(infra.get(factset_id, ())),
                )
        return out

    def record_findings(self, scan_id: int, findings: Sequence[Finding]) -> None:
        """Set the scan's findings (a report with another policy recomputes them).

        Each repository's findings form a content-addressed set: an unchanged repository
        points at the set an earlier scan stored, so history grows with change only."""
        by_location: dict[str, list[Finding]] = {}
        for finding in findings:
            by_location.setdefault(finding.location, []).append(finding)
        with Session(self.engine) as session, session.begin():
            rows = session.execute(
                select(RepoScanRow, RepoRow.location)
                .join(RepoRow, RepoRow.id == RepoScanRow.repo_id)
                .where(RepoScanRow.scan_id == scan_id)
            ).all()
            digests = {loc: finding_set_digest(items) for loc, items in by_location.items()}
            known: dict[str, int] = {}
            wanted = sorted(set(digests.values()))
            for start in range(0, len(wanted), 500):
                found = session.execute(
                    select(FindingSetRow.digest, FindingSetRow.id).where(
                        FindingSetRow.digest.in_(wanted[start : start + 500])
                    )
                )
                known.update((digest, set_id) for digest, set_id in found)
            for repo_scan, location in rows:
                items = by_location.get(location)
                if not items:
                    repo_scan.finding_set_id = None
                    continue
                digest = digests[location]
                if digest not in known:
                    known[digest] = self._finding_set(session, digest, items)
                repo_scan.finding_set_id = known[digest]
            session.flush()
            summarise_findings(session.connection(), scan_id)

    @staticmethod
    def _finding_set(session: Session, digest: str, items: Sequence[Finding]) -> int:
        row = FindingSetRow(digest=digest, finding_count=len(items))
        session.add(row)
        session.flush()
        session.add_all(
            FindingItemRow(
                finding_set_id=row.id,
                rule_id=f.rule_id,
                dimension=f.dimension,
                value=f.value[:255],
                outcome=f.outcome.value,
                kind=f.kind,
                severity=f.severity,
                message=f.message,
                fingerprint=f.fingerprint,
                waiver=f.waiver,
            )
            for f in items
        )
        return row.id

    def findings(
        self, scan_id: int, failing: bool = False, dimensions: Sequence[str] = ()
    ) -> list[Finding]:
        """The scan's findings (only the failing, unwaived ones when `failing`). Plain
        columns, not ORM objects: a scan of 10,000 repositories holds tens of thousands."""
        item = FindingItemRow
        query = (
            select(
                item.rule_id,
                item.dimension,
                RepoRow.name,
                RepoRow.location,
                item.value,
                item.outcome,
                item.kind,
                item.severity,
                item.message,
                item.fingerprint,
                item.waiver,
            )
            .join(RepoScanRow, RepoScanRow.finding_set_id == item.finding_set_id)
            .join(RepoRow, RepoRow.id == RepoScanRow.repo_id)
            .where(RepoScanRow.scan_id == scan_id)
            .order_by(RepoRow.name, RepoRow.location, item.id)
        )
        if failing:
            query = query.where(item.outcome == Outcome.FAIL.value, item.waiver.is_(None))
        if dimensions:
            query = query.where(item.dimension.in_(dimensions))
        with Session(self.engine) as session:
            rows = session.execute(query).all()
        return [
            Finding(rule, dim, name, loc, value, Outcome(outcome), kind, sev, msg, "", fp, waiver)
            for rule, dim, name, loc, value, outcome, kind, sev, msg, fp, waiver in rows
        ]

    def infra_texts(self, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with Session(self.engine) as session:
            unique = sorted(set(hashes))
            for start in range(0, len(unique), 500):
                for row in session.scalars(
                    select(InfraContentRow).where(
                        InfraContentRow.hash.in_(unique[start : start + 500])
                    )
                ):
                    if row.text_z is not None:  # purged by migration 0009 until seen again
                        out[row.hash] = zlib.decompress(row.text_z).decode()
        return out

    def finish_scan(self, scan_id: int, status: str, note: str | None = None) -> None:
        with Session(self.engine) as session, session.begin():
            scan = session.get(ScanRow, scan_id)
            if scan is not None:
                scan.status = status
                scan.finished_at = _utcnow()
                scan.note = note
                summarise(session.connection(), scan_id)

    def resumable_scan(self, sources: Sequence[str]) -> tuple[int, set[str]] | None:
        """The newest scan of exactly these sources that stopped early, and the locations it
        already holds: `scan --resume` finishes it instead of starting over."""
        with Session(self.engine) as session:
            scan = session.scalars(select(ScanRow).order_by(ScanRow.id.desc()).limit(1)).first()
            if scan is None or scan.status not in ("incomplete", "running"):
                return None
            if list(scan.sources or []) != list(sources):
                return None
            done = set(
                session.scalars(
                    select(RepoRow.location)
                    .join(RepoScanRow, RepoScanRow.repo_id == RepoRow.id)
                    .where(RepoScanRow.scan_id == scan.id)
                )
            )
            scan.status = "running"
            session.commit()
            return scan.id, done

    # -- reading --------------------------------------------------------------------------

    def trend_scans(
        self, since: datetime | None = None, include_incomplete: bool = False
    ) -> list[ScanPoint]:
        """The scans trends chart, with how many repositories each read successfully."""
        statuses = _statuses(include_incomplete)
        try:
            with Session(self.engine) as session:
                query = (
                    select(ScanRow.id, ScanRow.started_at, ScanCountRow.repos)
                    .join(ScanCountRow, ScanCountRow.scan_id == ScanRow.id)
                    .where(
                        ScanRow.status.in_(statuses),
                        ScanCountRow.dimension == SEEN,
                        ScanCountRow.value == SEEN,
                    )
                )
                if since is not None:
                    query = query.where(ScanRow.started_at >= since)
                return [ScanPoint(i, at, n) for i, at, n in session.execute(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def trend_counts(
        self,
        dimensions: Sequence[str] = (),
        since: datetime | None = None,
        include_incomplete: bool = False,
        repo_ids: Collection[int] | None = None,
    ) -> tuple[list[ScanPoint], list[ValueCount], list[ValueCount]]:
        """Per scan: repositories seen; per scan, dimension and value: repositories using it;
        per scan and dimension: repositories with any value. Aggregated in SQL, so the cost
        grows with scans x values, not with repositories x scans read back. With `repo_ids`,
        only those repositories (a team's, say), counted from their facts."""
        if repo_ids is not None:
            return self._subset_counts(dimensions, since, include_incomplete, repo_ids)
        try:
            scans = self.trend_scans(since, include_incomplete)
            with Session(self.engine) as session:
                ids = [s.scan_id for s in scans]
                values: list[ValueCount] = []
                covered: list[ValueCount] = []
                for start in range(0, len(ids), 500):
                    query = select(ScanCountRow).where(
                        ScanCountRow.scan_id.in_(ids[start : start + 500]),
                        ScanCountRow.dimension != SEEN,
                    )
                    if dimensions:
                        query = query.where(ScanCountRow.dimension.in_(dimensions))
                    for row in session.scalars(query):
                        count = ValueCount(row.scan_id, row.dimension, row.value, row.repos)
                        (values if row.value else covered).append(count)
                return scans, values, covered
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def _subset_counts(
        self,
        dimensions: Sequence[str],
        since: datetime | None,
        include_incomplete: bool,
        repo_ids: Collection[int],
    ) -> tuple[list[ScanPoint], list[ValueCount], list[ValueCount]]:
        scans = select(ScanRow.id).where(ScanRow.status.in_(_statuses(include_incomplete)))
        if since is not None:
            scans = scans.where(ScanRow.started_at >= since)
        totals: dict[tuple[int, str, str], int] = {}
        ids = sorted(repo_ids)
        try:
            with Session(self.engine) as session:
                # Chunks of repositories partition each scan's rows: their counts add up.
                for start in range(0, len(ids), 500):
                    where = RepoScanRow.scan_id.in_(scans) & RepoScanRow.repo_id.in_(
                        ids[start : start + 500]
                    )
                    for query in count_selects(where, dimensions):
                        for scan_id, dimension, value, repos in session.execute(query):
                            key = (scan_id, dimension, value)
                            totals[key] = totals.get(key, 0) + repos
                times = session.execute(
                    select(ScanRow.id, ScanRow.started_at).where(ScanRow.id.in_(scans))
                ).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None
        points = [ScanPoint(i, at, totals.get((i, SEEN, SEEN), 0)) for i, at in times]
        values = [ValueCount(*key, n) for key, n in totals.items() if key[1] != SEEN and key[2]]
        covered = [
            ValueCount(*key, n) for key, n in totals.items() if key[1] != SEEN and not key[2]
        ]
        return sorted(points, key=lambda p: p.scan_id), values, covered

    def repo_owners(self, scan_id: int) -> list[RepoOwners]:
        """Every repository of a scan with its CODEOWNERS teams (to choose a team's)."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(RepoRow.id, RepoRow.name, RepoRow.location, RepoStateRow.owners)
                .join(RepoScanRow, RepoScanRow.repo_id == RepoRow.id)
                .join(RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
                .where(RepoScanRow.scan_id == scan_id)
            )
            return [RepoOwners(i, name, loc, tuple(owners or ())) for i, name, loc, owners in rows]

    def finding_counts(
        self,
        scan_ids: Sequence[int],
        dimensions: Sequence[str] = (),
        repo_ids: Collection[int] | None = None,
    ) -> list[ValueCount]:
        """Failing, unwaived findings per scan, dimension and kind (`value` holds the kind):
        of every repository from the per-scan counts, of `repo_ids` from their findings."""
        if repo_ids is None:
            return self._stored_finding_counts(scan_ids, dimensions)
        totals: dict[tuple[int, str, str], int] = {}
        ids = sorted(repo_ids)
        with Session(self.engine) as session:
            for start, repos in itertools.product(
                range(0, len(scan_ids), 500), range(0, len(ids), 500)
            ):
                where = RepoScanRow.scan_id.in_(
                    scan_ids[start : start + 500]
                ) & RepoScanRow.repo_id.in_(ids[repos : repos + 500])
                for scan_id, dimension, kind, n in session.execute(
                    finding_count_select(where, dimensions)
                ):
                    key = (scan_id, dimension, kind)
                    totals[key] = totals.get(key, 0) + n
        return [ValueCount(*key, n) for key, n in totals.items()]

    def _stored_finding_counts(
        self, scan_ids: Sequence[int], dimensions: Sequence[str]
    ) -> list[ValueCount]:
        out: list[ValueCount] = []
        with Session(self.engine) as session:
            for start in range(0, len(scan_ids), 500):
                query = select(ScanFindingCountRow).where(
                    ScanFindingCountRow.scan_id.in_(scan_ids[start : start + 500])
                )
                if dimensions:
                    query = query.where(ScanFindingCountRow.dimension.in_(dimensions))
                out += [
                    ValueCount(r.scan_id, r.dimension, r.kind, r.findings)
                    for r in session.scalars(query)
                ]
        return out

    def failing_findings(
        self,
        scan_id: int,
        dimensions: Sequence[str] = (),
        locations: Collection[str] | None = None,
    ) -> dict[str, Finding]:
        """The scan's failing, unwaived findings by fingerprint (of the repositories at
        `locations` when given): compare two scans' keys to see what is new and what fixed."""
        return {
            f.fingerprint: f
            for f in self.findings(scan_id, failing=True, dimensions=dimensions)
            if locations is None or f.location in locations
        }

    def first_seen(self, fingerprints: Collection[str]) -> dict[str, datetime]:
        """When any stored scan first recorded each finding (by fingerprint): the age of
        what is still open. Index to index: fingerprint -> finding sets -> their first scan."""
        wanted = sorted(set(fingerprints))
        first: dict[str, int] = {}
        try:
            with Session(self.engine) as session:
                for start in range(0, len(wanted), 500):
                    query = (
                        select(FindingItemRow.fingerprint, func.min(RepoScanRow.scan_id))
                        .join(
                            RepoScanRow,
                            RepoScanRow.finding_set_id == FindingItemRow.finding_set_id,
                        )
                        .where(FindingItemRow.fingerprint.in_(wanted[start : start + 500]))
                        .group_by(FindingItemRow.fingerprint)
                    )
                    first.update((fp, scan_id) for fp, scan_id in session.execute(query))
                scans = sorted(set(first.values()))
                started: dict[int, datetime] = {}
                for start in range(0, len(scans), 500):
                    rows = session.execute(
                        select(ScanRow.id, ScanRow.started_at).where(
                            ScanRow.id.in_(scans[start : start + 500])
                        )
                    )
                    started.update((scan_id, at) for scan_id, at in rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None
        return {fp: started[scan_id] for fp, scan_id in first.items()}

    def prune(
        self,
        keep_scans: int | None = None,
        keep_since: datetime | None = None,
        dry_run: bool = False,
    ) -> PruneResult:
        """Delete scans beyond the newest `keep_scans` and/or started before `keep_since`, then
        the facts, findings, infra texts and repositories no remaining scan refers to. The
        newest complete scan is always kept."""
        try:
            return self._prune(keep_scans, keep_since, dry_run)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot prune {safe_url(self.url)}: {_short(exc)}") from None

    def _prune(
        self, keep_scans: int | None, keep_since: datetime | None, dry_run: bool
    ) -> PruneResult:
        with Session(self.engine) as session:
            scans = list(session.execute(select(ScanRow.id, ScanRow.started_at, ScanRow.status)))
            scans.sort(key=lambda s: s.id, reverse=True)
            keep = {s.id for s in scans[:keep_scans]} if keep_scans is not None else None
            doomed = [
                s.id
                for s in scans
                if (keep is not None and s.id not in keep)
                or (keep_since is not None and s.started_at < keep_since)
            ]
            newest_complete = next((s.id for s in scans if s.status == "complete"), None)
            doomed = [i for i in doomed if i != newest_complete]
            for start in range(0, len(doomed), 500):
                session.execute(delete(ScanRow).where(ScanRow.id.in_(doomed[start : start + 500])))
            states = _deleted(
                session,
                delete(RepoStateRow).where(RepoStateRow.id.not_in(select(RepoScanRow.state_id))),
            )
            live_sets = select(RepoStateRow.factset_id).where(RepoStateRow.factset_id.is_not(None))
            live_findings = select(RepoScanRow.finding_set_id).where(
                RepoScanRow.finding_set_id.is_not(None)
            )
            factsets = _deleted(session, delete(FactSetRow).where(FactSetRow.id.not_in(live_sets)))
            finding_sets = _deleted(
                session, delete(FindingSetRow).where(FindingSetRow.id.not_in(live_findings))
            )
            contents = _deleted(
                session,
                delete(InfraContentRow).where(
                    InfraContentRow.hash.not_in(select(InfraFileRow.content_hash))
                ),
            )
            repos = _deleted(
                session, delete(RepoRow).where(RepoRow.id.not_in(select(RepoScanRow.repo_id)))
            )
            result = PruneResult(
                len(doomed),
                len(scans) - len(doomed),
                factsets,
                states,
                finding_sets,
                contents,
                repos,
            )
            if dry_run:
                session.rollback()
            else:
                session.commit()
            return result

    def vacuum(self) -> tuple[int | None, int | None]:
        """Give freed space back (SQLite VACUUM, PostgreSQL VACUUM ANALYZE); sizes in bytes
        before and after where the backend can tell."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                before = self._size(conn)
                conn.exec_driver_sql("VACUUM" if self._is_sqlite else "VACUUM ANALYZE")
                return before, self._size(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot vacuum {safe_url(self.url)}: {_short(exc)}") from None

    @property
    def _is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _size(self, conn: Any) -> int | None:
        if self._is_sqlite:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar()
            return int(pages) * int(size)
        if self.engine.dialect.name == "postgresql":
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar())
        return None

    def scans(self, limit: int = 50) -> list[ScanSummary]:
        with Session(self.engine) as session:
            rows = session.scalars(select(ScanRow).order_by(ScanRow.id.desc()).limit(limit))
            return [_summary(row) for row in rows]

    def latest_scan_id(self) -> int | None:
        with Session(self.engine) as session:
            return session.scalars(select(ScanRow.id).order_by(ScanRow.id.desc()).limit(1)).first()

    def load_scan(self, scan_id: int | None = None) -> ScanSummary:
        """A scan with every repository result and its facts; the newest when id is None."""
        try:
            return self._load_scan(scan_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def _load_scan(self, scan_id: int | None) -> ScanSummary:
        wanted = scan_id if scan_id is not None else self.latest_scan_id()
        if wanted is None:
            raise StoreError("the database holds no scan yet: run `driftscan scan` first")
        with Session(self.engine) as session:
            scan = session.get(ScanRow, wanted)
            if scan is None:
                raise StoreError(f"no scan with id {wanted}")
            rows = session.execute(
                select(RepoScanRow, RepoStateRow, RepoRow)
                .join(RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
                .join(RepoRow, RepoRow.id == RepoScanRow.repo_id)
                .where(RepoScanRow.scan_id == wanted)
                .order_by(RepoRow.name, RepoRow.location)
            ).all()
            factsets = {rs.factset_id for _, rs, _ in rows if rs.factset_id is not None}
            facts = _facts_by_set(session, factsets)
            repos = tuple(
                RepoResult(
                    name=repo.name,
                    location=repo.location,
                    meta=RepoMeta(
                        default_branch=rs.default_branch,
                        head=rs.head,
                        archived=bool(rs.archived),
                        fork=bool(rs.fork),
                        topics=tuple(rs.topics or ()),
                        pushed_at=rs.pushed_at,
                        visibility=rs.visibility,
                    ),
                    status=RepoStatus(rs.status),
                    facts=facts.get(rs.factset_id, ()) if rs.factset_id is not None else (),
                    problems=tuple(Problem(p[0], p[1]) for p in rs.problems or ()),
                    error=rs.error,
                    reused=scanned.reused,
                    complete=rs.complete,
                    owners=tuple(rs.owners or ()),
                )
                for scanned, rs, repo in rows
            )
            return _summary(scan, repos)

    def newest_complete_scan_id(self) -> int | None:
        """The newest scan whose status is `complete`: what report, baseline export and check
        take when no scan is named (a failed or interrupted scan is never "the newest")."""
        try:
            with Session(self.engine) as session:
                return session.scalars(
                    select(ScanRow.id)
                    .where(ScanRow.status == "complete")
                    .order_by(ScanRow.id.desc())
                    .limit(1)
                ).first()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None


def _statuses(include_incomplete: bool) -> tuple[str, ...]:
    return ("complete", "incomplete") if include_incomplete else ("complete",)


def _state(
    result: RepoResult, factset_id: int | None, owners: Sequence[str], ruleset_digest: str
) -> dict[str, Any]:
    """The repo_state columns of one result (every key of STATE_FIELDS)."""
    meta = result.meta
    return {
        "head": _fit(meta.head, 64),
        "default_branch": _fit(meta.default_branch, 255),
        "status": result.status.value,
        "error": result.error,
        "problems": [[p.path, p.reason] for p in result.problems],
        "factset_id": factset_id,
        "complete": result.complete,
        "ruleset_digest": ruleset_digest,
        "archived": meta.archived,
        "fork": meta.fork,
        "topics": list(meta.topics),
        "pushed_at": _fit(meta.pushed_at, 40),
        "visibility": _fit(meta.visibility, 16),
        "owners": list(owners),
    }


def _facts_by_set(session: Session, factset_ids: set[int]) -> dict[int, tuple[Fact, ...]]:
    if not factset_ids:
        return {}
    ids = sorted(factset_ids)
    fact_rows: list[FactRow] = []
    evidence: dict[int, list[Evidence]] = {}
    for start in range(0, len(ids), 500):  # stay below every backend's bound-parameter limit
        chunk = ids[start : start + 500]
        batch = list(session.scalars(select(FactRow).where(FactRow.factset_id.in_(chunk))))
        fact_rows += batch
        fact_ids = [f.id for f in batch]
        for fstart in range(0, len(fact_ids), 500):
            for ev in session.scalars(
                select(EvidenceRow)
                .where(EvidenceRow.fact_id.in_(fact_ids[fstart : fstart + 500]))
                .order_by(EvidenceRow.id)
            ):
                evidence.setdefault(ev.fact_id, []).append(Evidence(ev.path, ev.line, ev.signal))
    out: dict[int, list[Fact]] = {}
    for row in fact_rows:
        out.setdefault(row.factset_id, []).append(
            Fact(row.category, row.dimension, row.value, tuple(evidence.get(row.id, ())))
        )
    return {k: tuple(v) for k, v in out.items()}


def _summary(row: ScanRow, repos: tuple[RepoResult, ...] = ()) -> ScanSummary:
    return ScanSummary(
        id=row.id,
        started_at=row.started_at.isoformat(timespec="seconds") + "Z",
        finished_at=row.finished_at.isoformat(timespec="seconds") + "Z"
        if row.finished_at
        else None,
        status=row.status,
        ruleset_digest=row.ruleset_digest,
        sources=tuple(row.sources or ()),
        repos=repos,
        note=row.note,
    )


@overload
def _fit(text: str, size: int) -> str: ...
@overload
def _fit(text: None, size: int) -> None: ...
def _fit(text: str | None, size: int) -> str | None:
    """Text cut to a column's length (PostgreSQL enforces VARCHAR(n), SQLite does not): a
    long signal such as a rule's whole regex must not fail the scan's write."""
    if text is None or len(text) <= size:
        return text
    return text[: size - 1] + "…"


def _deleted(session: Session, statement: Delete) -> int:
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
