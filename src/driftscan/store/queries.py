"""The store: open/upgrade a database, write scans as they happen, read them back.

Any SQLAlchemy URL works; SQLite (WAL, busy timeout) is the embedded default and PostgreSQL
(psycopg 3) is tested for real. Nothing here ever stores a token or a secret value: facts
carry ids, paths, lines and signal descriptions only.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import secrets
import socket
import threading
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from filelock import FileLock
from sqlalchemy import (
    Connection,
    CursorResult,
    Delete,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError
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


class ScanBusy(StoreError):
    """`--resume` found the scan still owned by a live process."""


class LeaseLost(StoreError):
    """Another process took this scan over (its heartbeat looked stale): stop writing to it."""


log = logging.getLogger("driftscan.store")

# A running scan refreshes its heartbeat every HEARTBEAT_SECONDS; one silent for LEASE_SECONDS
# is taken as dead (shown `interrupted`, resumable). Generous against a busy SQLite file (30 s
# busy timeout) and small clock differences between machines sharing a PostgreSQL database.
HEARTBEAT_SECONDS = 30.0
LEASE_SECONDS = 120.0
# pg_advisory_xact_lock key serialising schema migrations ("driftsca" as a 64-bit integer).
MIGRATION_LOCK_KEY = 0x6472696674736361


@dataclass(frozen=True)
class Owner:
    """Who runs a scan: host and process id, plus a random token so that a reused pid (or
    the same pid in another container) is never mistaken for the original owner."""

    host: str
    pid: int
    token: str

    @classmethod
    def this_process(cls) -> Owner:
        return cls(_process_space(), os.getpid(), secrets.token_hex(4))

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        host, _, rest = (text or "").rpartition(":")
        host, _, pid = host.rpartition(":")
        return cls(host, int(pid), rest) if host and pid.isdigit() else None

    def __str__(self) -> str:
        suffix = f":{self.pid}:{self.token}"
        return self.host[: 255 - len(suffix)] + suffix

    def is_dead(self) -> bool:
        """Known dead: a process of this host and pid namespace that no longer exists.
        Another host's process, another container's (same host name, other pids: host
        networking), or a platform that cannot tell, is judged by its heartbeat alone."""
        if self.host != _process_space() or os.name != "posix":
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # exists, owned by another user
            return False
        try:  # a zombie (killed, not yet reaped by its parent) is dead too
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return stat.rpartition(")")[2].split()[:1] == ["Z"]


@functools.cache
def _process_space() -> str:
    """Where a pid means one process: the host name, plus the pid namespace on Linux
    (containers sharing a host name see each other's pids as absent)."""
    try:
        namespace = str(Path("/proc/self/ns/pid").readlink())  # "pid:[4026531836]"
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace.strip('pid:[]')}"


def lease_status(status: str, owner: str | None, heartbeat_at: datetime | None) -> str:
    """The status a scan is shown with: a `running` scan whose process died (stale
    heartbeat, or a dead process of this host) is `interrupted`, never `running` forever.
    Derived when read, so that reading never writes."""
    if status != "running":
        return status
    stale = heartbeat_at is None or _utcnow() - heartbeat_at > timedelta(seconds=LEASE_SECONDS)
    parsed = Owner.parse(owner)
    if stale or parsed is None or parsed.is_dead():
        return "interrupted"
    return "running"


class _Heartbeat:
    """A daemon thread refreshing one scan's heartbeat in its own short transaction, so a
    scan waiting on a rate limit or a slow repository still shows it is alive. A failed beat
    (a busy SQLite file, a dropped connection) is only logged: the next one may pass, and a
    lease that really lapsed is what `interrupted` is for."""

    def __init__(self, store: Store, scan_id: int, owner: str) -> None:
        self._store, self._scan_id, self._owner = store, scan_id, owner
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(
            target=self._run, name=f"driftscan-heartbeat-{scan_id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                if not self._store.heartbeat(self._scan_id, self._owner):
                    self.lost = True
                    return
            except Exception as exc:  # never let the timer kill anything; see class doc
                log.debug("heartbeat of scan #%s failed: %s", self._scan_id, _short(exc))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


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
        self._sqlite_file: Path | None = None  # a file database: where its lock file goes
        try:
            parsed = make_url(url)
            kwargs: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (
                None,
                "",
                ":memory:",
            ):
                self._sqlite_file = Path(parsed.database).expanduser()
                self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 30}
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, NoSuchModuleError, ImportError, OSError) as exc:
            raise StoreError(f"cannot open database {safe_url(url)}: {exc}") from None
        # The scans this store writes: their owner strings and heartbeat timers.
        self._leases: dict[int, str] = {}
        self._beats: dict[int, _Heartbeat] = {}
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
        try:
            with self.engine.connect() as conn:
                return _revision_of(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def newer_revision(self, revision: str | None) -> bool:
        """Whether `revision` is unknown to this driftscan: a newer one wrote the database."""
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        if revision is None:
            return False
        try:
            ScriptDirectory.from_config(self._alembic_config()).get_revision(revision)
        except CommandError:  # alembic's RevisionError/ResolutionError derive from it
            return True
        return False

    def _refuse_newer(self, revision: str | None) -> None:
        if self.newer_revision(revision):
            raise StoreError(
                f"{safe_url(self.url)}: this database was written by a newer driftscan "
                f"(revision {revision}); upgrade driftscan"
            )

    def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Bring the schema to the newest (or the given) revision; returns (before, after).

        Serialised between processes (PostgreSQL advisory lock, a lock file next to a SQLite
        database) and re-checked inside the lock, so two first runs on a new database cannot
        both create the tables."""
        from alembic import command

        before = self.current_revision()
        self._refuse_newer(before)
        cfg = self._alembic_config()
        try:
            with self._schema_lock(), self._migration_connection() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
                now = _revision_of(conn)  # another process may have migrated meanwhile
                self._refuse_newer(now)
                if not (revision == "head" and now == self.head_revision()):
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed on {safe_url(self.url)}: {_short(exc)}") from None
        return before, self.current_revision()

    def downgrade(self, revision: str) -> None:
        """Take the schema back to an older revision (tests; recovery by hand)."""
        from alembic import command

        cfg = self._alembic_config()
        try:
            with self._schema_lock(), self._migration_connection() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"migration failed on {safe_url(self.url)}: {_short(exc)}") from None

    @contextmanager
    def _migration_connection(self) -> Iterator[Connection]:
        """One transaction for Alembic, DDL included (a failed migration changes nothing). On
        SQLite, foreign keys are off while tables are rebuilt (SQLite's documented procedure
        for schema changes: with them on, dropping the old copy of a table deletes or refuses
        every row that refers to it) and checked before the migration commits."""
        with self.engine.connect() as conn:
            sqlite = self.engine.dialect.name == "sqlite"
            if sqlite:  # a no-op inside a transaction: set before the migration begins
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            try:
                with conn.begin():
                    if sqlite:  # pysqlite begins only before DML: make the DDL transactional
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    yield conn
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(
                                f"migration of {safe_url(self.url)} left {len(broken)} rows "
                                f"referring to missing rows (first in table {broken[0][0]}); "
                                "nothing was changed"
                            )
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """A lock file beside a SQLite database file (PostgreSQL locks in the transaction)."""
        if self._sqlite_file is None:
            yield
            return
        lock = FileLock(f"{self._sqlite_file}.lock", timeout=300)
        try:
            lock.acquire()
        except OSError as exc:  # includes filelock's Timeout
            raise StoreError(
                f"cannot lock {self._sqlite_file} for a schema migration: {_short(exc)}"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def ensure_schema(self) -> None:
        """Create the schema in a new database; refuse to touch an outdated one silently."""
        # A new SQLite file is first touched under the schema lock: its first connection sets
        # WAL mode, which needs the file to itself, and another process may be creating it.
        with self._schema_lock():
            current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        self._refuse_newer(current)
        if current is None:
            self.upgrade()
            return
        raise StoreError(
            f"database {safe_url(self.url)} has schema revision {current}, this driftscan needs "
            f"{head}: back it up if you wish, then run `driftscan db upgrade`"
        )

    # -- writing a scan -------------------------------------------------------------------

    def begin_scan(self, sources: Sequence[str], ruleset_digest: str, tool_version: str) -> int:
        """A new `running` scan leased to this process, its heartbeat kept by a timer."""
        owner = str(Owner.this_process())
        now = _utcnow()
        try:
            with Session(self.engine) as session, session.begin():
                row = ScanRow(
                    started_at=now,
                    finished_at=None,
                    status="running",
                    ruleset_digest=ruleset_digest,
                    tool_version=tool_version,
                    sources=list(sources),
                    repo_count=0,
                    owner=owner,
                    heartbeat_at=now,
                )
                session.add(row)
                session.flush()
                scan_id = row.id
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to {safe_url(self.url)}: {_short(exc)}") from None
        self._hold(scan_id, owner)
        return scan_id

    def _hold(self, scan_id: int, owner: str) -> None:
        self._leases[scan_id] = owner
        if self._sqlite_file is not None or not self._is_sqlite:  # in-memory: one connection
            self._beats[scan_id] = _Heartbeat(self, scan_id, owner)

    def heartbeat(self, scan_id: int, owner: str | None = None) -> bool:
        """Say the scan's process is alive; False when another process has taken it over."""
        with self.engine.begin() as conn:
            return _beat(conn, scan_id, owner or self._leases.get(scan_id))

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
    ) -> list[RepoResult]:
        """Write a batch of repository results in one transaction; returns them as stored.

        When the batch cannot be written, each repository is written alone, and one that still
        cannot be is stored (and returned) as an error result saying why: nothing about one
        repository (a name, a path, a value a column refuses) can lose another's result. A
        store that cannot write even that is a StoreError."""
        batch = list(results)
        known = reuse or {}
        try:
            self._record(scan_id, batch, ruleset_digest, known)
            return batch
        except StoreError:  # the lease was lost: nothing more may be written
            raise
        except Exception as exc:  # any failure: isolate it below, whatever raised it
            if not batch:
                raise StoreError(f"cannot write to {safe_url(self.url)}: {_short(exc)}") from None
            log.warning(
                "scan #%s: a batch of %d results could not be stored (%s); storing each alone",
                scan_id,
                len(batch),
                _short(exc),
            )
        return [self._record_alone(scan_id, result, ruleset_digest, known) for result in batch]

    def _record_alone(
        self, scan_id: int, result: RepoResult, ruleset_digest: str, reuse: dict[str, KnownHead]
    ) -> RepoResult:
        try:
            self._record(scan_id, [result], ruleset_digest, reuse)
            return result
        except StoreError:
            raise
        except Exception as exc:
            failed = _unstorable(result, _short(exc))
        try:
            self._record(scan_id, [failed], ruleset_digest, {})
            return failed
        except StoreError:
            raise
        except Exception as exc:  # not even an error row fits: the store itself is broken
            raise StoreError(f"cannot write to {safe_url(self.url)}: {_short(exc)}") from None

    def _record(
        self,
        scan_id: int,
        batch: list[RepoResult],
        ruleset_digest: str,
        reuse: dict[str, KnownHead],
    ) -> int:
        with Session(self.engine) as session, session.begin():
            self._renew(session, scan_id)
            # Shared rows are created table by table, each in sorted key order: two scans
            # writing the same new rows at once then wait for each other, never deadlock.
            repos = self._repos(session, batch)
            digests = {
                r.location: factset_digest(r)
                for r in batch
                if not (r.reused and r.location in reuse) and (r.facts or r.versions or r.infra)
            }
            factsets = self._factsets(
                session, [(digests[r.location], r) for r in batch if r.location in digests]
            )
            states: list[dict[str, Any]] = []
            for result in batch:
                factset_id: int | None
                owners = result.owners
                if result.reused and result.location in reuse:
                    factset_id = reuse[result.location].factset_id
                    owners = reuse[result.location].owners
                else:
                    digest = digests.get(result.location)
                    factset_id = factsets[digest] if digest is not None else None
                states.append(_state(result, factset_id, owners, ruleset_digest))
            state_ids = self._states(session, states)
            rows = {
                repos[r.location]: (r, state_id)
                for r, state_id in zip(batch, state_ids, strict=True)
            }
            # A repository written again (a resumed scan retrying it, a batch re-recorded after
            # an interrupt) replaces its row rather than colliding with it.
            ids = sorted(rows)
            replaced = sum(
                _deleted(
                    session,
                    delete(RepoScanRow).where(
                        RepoScanRow.scan_id == scan_id,
                        RepoScanRow.repo_id.in_(ids[start : start + 500]),
                    ),
                )
                for start in range(0, len(ids), 500)
            )
            session.add_all(
                RepoScanRow(
                    scan_id=scan_id, repo_id=repo_id, state_id=state_id, reused=result.reused
                )
                for repo_id, (result, state_id) in rows.items()
            )
            session.flush()
            session.execute(
                update(ScanRow)
                .where(ScanRow.id == scan_id)
                .values(repo_count=ScanRow.repo_count + len(rows) - replaced)
            )
        return len(batch)

    def _renew(self, session: Session, scan_id: int) -> None:
        """Refresh the heartbeat of a scan this store leases, checking it still does."""
        owner = self._leases.get(scan_id)
        if owner is None:
            return
        beat = self._beats.get(scan_id)
        if (beat is not None and beat.lost) or not _beat(session.connection(), scan_id, owner):
            raise LeaseLost(
                f"scan #{scan_id} was taken over by another process (its heartbeat had lapsed): "
                "this process stops writing to it"
            )

    def _repos(self, session: Session, batch: Sequence[RepoResult]) -> dict[str, int]:
        """location -> repo id for a batch, creating the new ones. Another scan may create the
        same repository at the same moment: its row is then used, never a failed batch."""
        names = {r.location: _fit(r.name, 255) for r in batch}
        rows = _repo_rows(session, list(names))
        missing = sorted(location for location in names if location not in rows)
        if missing:
            now = _utcnow()
            _insert_missing(
                session,
                _table(RepoRow),
                "location",
                [{"name": names[loc], "location": loc, "first_seen": now} for loc in missing],
            )
            rows.update(_repo_rows(session, missing))
        for location, name in sorted(names.items()):
            repo_id, stored = rows[location]
            if stored != name:
                session.execute(update(RepoRow).where(RepoRow.id == repo_id).values(name=name))
        return {location: rows[location][0] for location in names}

    @staticmethod
    def _states(session: Session, states: Sequence[dict[str, Any]]) -> list[int]:
        """The id of each state, stored where new (one lookup query per 500 digests)."""
        digests = [repo_state_digest(state) for state in states]
        known = _ids_by_key(session, RepoStateRow.digest, RepoStateRow.id, digests)
        new = {
            digest: state
            for digest, state in zip(digests, states, strict=True)
            if digest not in known
        }
        if new:
            rows = [{"digest": digest, **state} for digest, state in sorted(new.items())]
            _insert_missing(session, _table(RepoStateRow), "digest", rows)
            known.update(_ids_by_key(session, RepoStateRow.digest, RepoStateRow.id, list(new)))
        return [known[digest] for digest in digests]

    def _factsets(
        self, session: Session, results: Sequence[tuple[str, RepoResult]]
    ) -> dict[str, int]:
        """digest -> fact set id of (digest, result) pairs, storing the new sets (with their
        facts, evidence, versions and infra files) once."""
        wanted = dict(results)
        known = _ids_by_key(session, FactSetRow.digest, FactSetRow.id, list(wanted))
        # Sets stored before: their infra texts that migration 0009 purged come back, redacted.
        self._restore_purged(session, [f for digest in known for f in wanted[digest].infra])
        missing = sorted(digest for digest in wanted if digest not in known)
        new = [{"digest": d, "fact_count": len(wanted[d].facts)} for d in missing]
        # Rows another scan stored first come with all their children (same transaction):
        # look up ours and theirs, fill in ours.
        ours = _insert_missing(session, _table(FactSetRow), "digest", new)
        known.update(_ids_by_key(session, FactSetRow.digest, FactSetRow.id, missing))
        for digest in sorted(ours):
            self._fact_rows(session, known[digest], wanted[digest])
        return known

    def _fact_rows(self, session: Session, factset_id: int, result: RepoResult) -> None:
        facts = result.facts
        rows = [
            FactRow(
                factset_id=factset_id, category=f.category, dimension=f.dimension, value=f.value
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
                factset_id=factset_id,
                kind=v.kind,
                tool=v.tool[:255],
                version=v.version[:255],
                path=v.path,
                line=v.line,
            )
            for v in result.versions
        )
        self._infra(session, factset_id, result.infra)

    def _infra(self, session: Session, factset_id: int, files: Sequence[InfraFile]) -> None:
        """Each distinct content once. `f.text` is redacted at extraction (engine/infra.py),
        so no credential value gets here."""
        stored = self._restore_purged(session, files)
        for f in files:
            if f.content_hash not in stored:
                stored.add(f.content_hash)
                session.add(
                    InfraContentRow(
                        hash=f.content_hash,
                        kind=f.kind,
                        lines=f.lines,
                        text_z=zlib.compress(f.text.encode()),
                        minhash=f.minhash,
                    )
                )
        session.flush()
        session.add_all(
            InfraFileRow(factset_id=factset_id, path=f.path, content_hash=f.content_hash)
            for f in files
        )

    def _restore_purged(self, session: Session, files: Sequence[InfraFile]) -> set[str]:
        """Which of the files' contents are stored already; a text of theirs that migration
        0009 purged is written again, redacted, now that a repository carrying it was seen."""
        hashes = sorted({f.content_hash for f in files})
        purged: dict[str, bool] = {}  # content hash -> its text is NULL
        for start in range(0, len(hashes), 500):
            purged.update(
                session.execute(
                    select(InfraContentRow.hash, InfraContentRow.text_z.is_(None)).where(
                        InfraContentRow.hash.in_(hashes[start : start + 500])
                    )
                ).all()
            )
        for f in files:
            if purged.get(f.content_hash):
                purged[f.content_hash] = False
                session.execute(
                    update(InfraContentRow)
                    .where(InfraContentRow.hash == f.content_hash, InfraContentRow.text_z.is_(None))
                    .values(text_z=zlib.compress(f.text.encode()))
                )
        return set(purged)

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
            items_of = {digests[loc]: items for loc, items in by_location.items()}
            known = _ids_by_key(session, FindingSetRow.digest, FindingSetRow.id, list(items_of))
            missing = sorted(digest for digest in items_of if digest not in known)
            new = [{"digest": d, "finding_count": len(items_of[d])} for d in missing]
            ours = _insert_missing(session, _table(FindingSetRow), "digest", new)
            # look up ours, and those another scan stored meanwhile
            known.update(_ids_by_key(session, FindingSetRow.digest, FindingSetRow.id, missing))
            for digest in sorted(ours):
                session.add_all(_finding_items(known[digest], items_of[digest]))
            for repo_scan, location in rows:
                items = by_location.get(location)
                repo_scan.finding_set_id = known[digests[location]] if items else None
            session.flush()
            summarise_findings(session.connection(), scan_id)

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
        """Set the final status; stops the heartbeat. Refused (LeaseLost) when another
        process took the scan over meanwhile: its status is that process's to set."""
        beat = self._beats.pop(scan_id, None)
        if beat is not None:
            beat.stop()
        owner = self._leases.pop(scan_id, None)
        try:
            with Session(self.engine) as session, session.begin():
                stmt = (
                    update(ScanRow)
                    .where(ScanRow.id == scan_id)
                    .values(status=status, finished_at=_utcnow(), note=note)
                )
                if owner is not None:
                    stmt = stmt.where(ScanRow.owner == owner)
                if _changed(session, stmt) == 0:
                    if owner is not None and session.get(ScanRow, scan_id) is not None:
                        raise LeaseLost(
                            f"scan #{scan_id} was taken over by another process: "
                            f"not marking it {status}"
                        )
                    return
                summarise(session.connection(), scan_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to {safe_url(self.url)}: {_short(exc)}") from None

    def resumable_scan(
        self, sources: Sequence[str], ruleset_digest: str | None = None
    ) -> tuple[int, set[str]] | None:
        """The newest scan of exactly these sources when it stopped early (`incomplete`, or
        `interrupted`: its process died), taken over by this process, and the locations it
        holds complete results for: `scan --resume` finishes it, re-reading every repository
        that failed or was only partly read. A scan a live process still runs is refused
        (ScanBusy); a finished one, or one detected with other rules than `ruleset_digest`
        (its results would be mixed with this run's), is not resumed (None)."""
        try:
            taken = self._take_over(list(sources), ruleset_digest)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot resume in {safe_url(self.url)}: {_short(exc)}") from None
        if taken is not None:
            self._hold(taken[0], taken[2])
            return taken[0], taken[1]
        return None

    def _take_over(
        self, sources: list[str], ruleset_digest: str | None
    ) -> tuple[int, set[str], str] | None:
        with Session(self.engine) as session:
            row = _newest_with_sources(session, sources)
            if row is None:
                return None
            shown = lease_status(row.status, row.owner, row.heartbeat_at)
            if shown == "running":
                raise ScanBusy(_busy_message(row))
            if shown not in ("incomplete", "interrupted"):
                return None
            if ruleset_digest is not None and row.ruleset_digest != ruleset_digest:
                log.warning(
                    "scan #%s was made with other rules (or another driftscan): not resumed; "
                    "a new scan reads every repository",
                    row.id,
                )
                return None
            owner = str(Owner.this_process())
            # Compare-and-set on the lease as read (owner and heartbeat): of two processes
            # resuming at once one wins, and an owner that renewed its lease meanwhile (it was
            # only slow) keeps its scan.
            stmt = (
                update(ScanRow)
                .where(
                    ScanRow.id == row.id,
                    ScanRow.status == row.status,
                    ScanRow.owner == row.owner if row.owner else ScanRow.owner.is_(None),
                    ScanRow.heartbeat_at == row.heartbeat_at
                    if row.heartbeat_at
                    else ScanRow.heartbeat_at.is_(None),
                )
                .values(status="running", owner=owner, heartbeat_at=_utcnow(), finished_at=None)
            )
            if _changed(session, stmt) != 1:
                raise ScanBusy(
                    f"scan #{row.id} was taken over, or renewed by its owner, just now: "
                    "run --resume again"
                )
            done = set(
                session.scalars(
                    select(RepoRow.location)
                    .join(RepoScanRow, RepoScanRow.repo_id == RepoRow.id)
                    .join(RepoStateRow, RepoStateRow.id == RepoScanRow.state_id)
                    .where(
                        RepoScanRow.scan_id == row.id,
                        RepoStateRow.status.in_(("ok", "empty")),
                        RepoStateRow.complete.is_(True),
                    )
                )
            )
            session.commit()
            return row.id, done, owner

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
            scans = list(
                session.execute(
                    select(
                        ScanRow.id,
                        ScanRow.started_at,
                        ScanRow.status,
                        ScanRow.owner,
                        ScanRow.heartbeat_at,
                    )
                )
            )
            running = [
                s.id for s in scans if lease_status(s.status, s.owner, s.heartbeat_at) == "running"
            ]
            if running and not dry_run:
                # it may reuse fact sets of the very scans that would go
                raise StoreError(
                    f"scan #{running[0]} is running; prune once it has finished (or, if its "
                    f"process is gone, after its lease lapses: {LEASE_SECONDS:.0f}s)"
                )
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
        """The newest scans, newest first, each with its shown status (see `lease_status`)."""
        try:
            with Session(self.engine) as session:
                rows = session.scalars(select(ScanRow).order_by(ScanRow.id.desc()).limit(limit))
                return [_summary(row) for row in rows]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def latest_scan_id(self) -> int | None:
        """The newest `complete` scan: what reports, baselines and checks take as "now". A
        scan still running, interrupted, parked or failed is never it."""
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

    def load_scan(self, scan_id: int | None = None) -> ScanSummary:
        """A scan with every repository result and its facts; the newest when id is None."""
        try:
            return self._load_scan(scan_id)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {safe_url(self.url)}: {_short(exc)}") from None

    def _load_scan(self, scan_id: int | None) -> ScanSummary:
        wanted = scan_id if scan_id is not None else self.latest_scan_id()
        if wanted is None:
            raise StoreError(
                "the database holds no complete scan yet: run `driftscan scan` first "
                "(or finish a stopped one with `driftscan scan ... --resume`)"
            )
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
    status = lease_status(row.status, row.owner, row.heartbeat_at)
    note = row.note
    if status == "interrupted" and note is None:
        beat = row.heartbeat_at or row.started_at
        note = (
            f"interrupted: its process stopped (last heartbeat {_iso(beat)}); run the same "
            "command with --resume to finish this scan"
        )
    return ScanSummary(
        id=row.id,
        started_at=_iso(row.started_at),
        finished_at=_iso(row.finished_at) if row.finished_at else None,
        status=status,
        ruleset_digest=row.ruleset_digest,
        sources=tuple(row.sources or ()),
        repos=repos,
        note=note,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _revision_of(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _changed(session: Session, statement: Any) -> int:
    result = cast("CursorResult[Any]", session.execute(statement))
    return result.rowcount


def _beat(conn: Connection, scan_id: int, owner: str | None) -> bool:
    """Refresh a scan's heartbeat (only while `owner` holds it, when given)."""
    stmt = update(ScanRow).where(ScanRow.id == scan_id).values(heartbeat_at=_utcnow())
    if owner is not None:
        stmt = stmt.where(ScanRow.owner == owner)
    return conn.execute(stmt).rowcount == 1


def _busy_message(row: ScanRow) -> str:
    owner = Owner.parse(row.owner)
    host = owner.host.split("/")[0] if owner else ""  # without the pid namespace
    who = f"process {owner.pid} on {host}" if owner else "another process"
    age = (_utcnow() - row.heartbeat_at).total_seconds() if row.heartbeat_at else 0.0
    return (
        f"scan #{row.id} is still running in {who} (heartbeat {age:.0f}s ago): "
        f"let it finish, or stop it and run --resume again"
    )


def _newest_with_sources(session: Session, sources: list[str]) -> ScanRow | None:
    ids = session.execute(select(ScanRow.id, ScanRow.sources).order_by(ScanRow.id.desc()))
    for scan_id, stored in ids:
        if list(stored or []) == sources:
            return session.get(ScanRow, scan_id)
    return None


def _table(row_class: type[Any]) -> Table:
    return cast("Table", row_class.__table__)


def _insert_missing(
    session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> set[str]:
    """Insert the rows whose unique `key` is not stored yet; returns the keys this call
    inserted. Another writer may store the same key at the same moment (rows are
    content-addressed or keyed by location, so its row is the same): keep theirs instead of
    failing the batch."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = make(table).on_conflict_do_nothing(index_elements=[key])
        return set(session.scalars(statement.returning(table.c[key]), list(rows)))
    inserted: set[str] = set()
    for row in rows:  # any other backend: a savepoint per row
        try:
            with session.begin_nested():
                session.execute(insert(table).values(row))
        except IntegrityError:
            continue
        inserted.add(row[key])
    return inserted


def _finding_items(set_id: int, items: Sequence[Finding]) -> list[FindingItemRow]:
    return [
        FindingItemRow(
            finding_set_id=set_id,
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
    ]


def _ids_by_key(session: Session, key: Any, id_column: Any, keys: Sequence[str]) -> dict[str, int]:
    unique = sorted(set(keys))
    found: dict[str, int] = {}
    for start in range(0, len(unique), 500):
        rows = session.execute(select(key, id_column).where(key.in_(unique[start : start + 500])))
        found.update((k, i) for k, i in rows)
    return found


def _repo_rows(session: Session, locations: Sequence[str]) -> dict[str, tuple[int, str]]:
    """location -> (id, name) of the stored ones (one query per 500)."""
    rows: dict[str, tuple[int, str]] = {}
    for start in range(0, len(locations), 500):
        chunk = locations[start : start + 500]
        for repo_id, name, location in session.execute(
            select(RepoRow.id, RepoRow.name, RepoRow.location).where(RepoRow.location.in_(chunk))
        ):
            rows[location] = (repo_id, name)
    return rows


def _storable(text: str) -> str:
    """Text every backend accepts: lone surrogates and NUL escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _unstorable(result: RepoResult, reason: str) -> RepoResult:
    """The error result stored for a repository whose own result could not be."""
    return RepoResult(
        _storable(result.name),
        _storable(result.location),
        RepoMeta(),
        RepoStatus.ERROR,
        error=_storable(f"cannot store: {reason}"),
        complete=False,
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
