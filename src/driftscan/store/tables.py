"""The schema, as SQLAlchemy 2 typed ORM classes. Alembic migrations own the real tables;
tests check that the migrated schema and these classes agree.

Content-addressed throughout: a `factset` (facts of one repository content), a `repo_state`
(what a scan learned about a repository) and a `finding_set` are each stored once and shared by
every `repo_scan` that saw the same, so history grows with change, not scan count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ScanRow(Base):
    __tablename__ = "scan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # running -> complete | incomplete | failed. A crash leaves `running`, never `complete`.
    status: Mapped[str] = mapped_column(String(16))
    ruleset_digest: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(String(32))
    sources: Mapped[list[str]] = mapped_column(JSON)
    repo_count: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)  # why a scan is incomplete, how to resume
    # The lease of a running scan: "host:pid" of the process writing it and when it last said
    # it is alive. A `running` scan whose heartbeat is stale is shown as `interrupted`.
    owner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]


class RepoRow(Base):
    __tablename__ = "repo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # An escaped checkout path (pathnames) can exceed 1024 characters: Text where the length
    # is enforced (PostgreSQL, migration 0009); SQLite never enforced it
    location: Mapped[str] = mapped_column(
        String(1024).with_variant(Text(), "postgresql"), unique=True
    )
    first_seen: Mapped[datetime]


class FactSetRow(Base):
    __tablename__ = "factset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    fact_count: Mapped[int] = mapped_column(Integer)


class FactRow(Base):
    __tablename__ = "fact"
    __table_args__ = (
        Index("ix_fact_factset", "factset_id"),
        Index("ix_fact_dimension", "dimension"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    factset_id: Mapped[int] = mapped_column(ForeignKey("factset.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(64))
    dimension: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(128))


class EvidenceRow(Base):
    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_fact", "fact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fact_id: Mapped[int] = mapped_column(ForeignKey("fact.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    signal: Mapped[str] = mapped_column(String(512))


class RepoStateRow(Base):
    """What one scan learned about one repository, apart from which scan it was: stored once
    per distinct content, so an unchanged rescan adds only (scan, repo, state) rows."""

    __tablename__ = "repo_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    head: Mapped[str | None] = mapped_column(String(64))
    default_branch: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # ok | empty | error
    error: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[Any]] = mapped_column(JSON)
    factset_id: Mapped[int | None] = mapped_column(ForeignKey("factset.id"))
    complete: Mapped[bool]
    ruleset_digest: Mapped[str] = mapped_column(String(64))
    archived: Mapped[bool | None]
    fork: Mapped[bool | None]
    topics: Mapped[list[str] | None] = mapped_column(JSON)
    pushed_at: Mapped[str | None] = mapped_column(String(40))
    visibility: Mapped[str | None] = mapped_column(String(16))
    owners: Mapped[list[str] | None] = mapped_column(JSON)


class RepoScanRow(Base):
    """One repository in one scan. Kept to four integers and a flag (a SQLite WITHOUT ROWID
    table: the primary key is the row) because there is one per repository per scan."""

    __tablename__ = "repo_scan"
    __table_args__ = (
        PrimaryKeyConstraint("scan_id", "repo_id", name="pk_repo_scan"),
        # When a finding set was first seen (the age of open findings) without a full pass.
        Index("ix_repo_scan_finding_set", "finding_set_id", "scan_id"),
        {"sqlite_with_rowid": False},
    )

    scan_id: Mapped[int] = mapped_column(ForeignKey("scan.id", ondelete="CASCADE"))
    repo_id: Mapped[int] = mapped_column(ForeignKey("repo.id", ondelete="CASCADE"))
    state_id: Mapped[int] = mapped_column(ForeignKey("repo_state.id"))
    reused: Mapped[bool]  # facts taken from an earlier scan of the same head and ruleset
    # Not part of the state: a report with another policy recomputes a scan's findings.
    finding_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("finding_set.id", name="fk_repo_scan_finding_set")
    )


class VersionUseRow(Base):
    __tablename__ = "version_use"
    __table_args__ = (Index("ix_version_use_factset", "factset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    factset_id: Mapped[int] = mapped_column(ForeignKey("factset.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    tool: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)


class InfraContentRow(Base):
    """One normalised infra file text, stored once however many repositories carry it."""

    __tablename__ = "infra_content"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    lines: Mapped[int] = mapped_column(Integer)
    # zlib of the redacted normalised text; NULL where migration 0009 purged an old copy
    text_z: Mapped[bytes | None] = mapped_column(LargeBinary)
    minhash: Mapped[bytes] = mapped_column(LargeBinary)


class InfraFileRow(Base):
    __tablename__ = "infra_file"
    __table_args__ = (Index("ix_infra_file_factset", "factset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    factset_id: Mapped[int] = mapped_column(ForeignKey("factset.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(ForeignKey("infra_content.hash"))


class FindingSetRow(Base):
    """The findings of one repository state, stored once however many scans produce them."""

    __tablename__ = "finding_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    finding_count: Mapped[int] = mapped_column(Integer)


class FindingItemRow(Base):
    __tablename__ = "finding_item"
    __table_args__ = (
        Index("ix_finding_item_set", "finding_set_id"),
        Index("ix_finding_item_fingerprint", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_set_id: Mapped[int] = mapped_column(ForeignKey("finding_set.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(64))
    dimension: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(32))
    waiver: Mapped[str | None] = mapped_column(Text)


class ScanCountRow(Base):
    """Per scan: repositories per (dimension, value), written when the scan finishes, so
    trends read a few hundred rows per scan instead of joining every repository's facts.
    `value` "" is the repositories with any value of the dimension; the row ("*", "*") is
    the repositories the scan read successfully."""

    __tablename__ = "scan_count"

    scan_id: Mapped[int] = mapped_column(
        ForeignKey("scan.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    repos: Mapped[int] = mapped_column(Integer)


class ScanFindingCountRow(Base):
    """Per scan: failing, unwaived findings per dimension and kind, written when a scan's
    findings are recorded, so `trend --findings` reads a few rows per scan."""

    __tablename__ = "scan_finding_count"

    scan_id: Mapped[int] = mapped_column(
        ForeignKey("scan.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    findings: Mapped[int] = mapped_column(Integer)
