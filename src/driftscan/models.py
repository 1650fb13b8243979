"""Records shared by every layer: what a collector offers and what detection produces.

Everything here is a frozen dataclass or a Protocol; no I/O, no third-party imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol


class Outcome(str, Enum):
    """A finding's outcome. `unknown` when the repository could not be seen: never a silent pass."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"
    ERROR = "error"


# Finding severities, least to most severe (check thresholds, "most severe first" listings).
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class Finding:
    """A repository measured against the policy or the org norm for one dimension."""

    rule_id: str
    dimension: str
    repo: str
    location: str
    value: str  # the value concerned ("" when none)
    outcome: Outcome
    kind: str  # forbidden | not-allowed | missing | not-preferred | off-norm | norm | policy | ...
    severity: str  # info | low | medium | high
    message: str
    remediation: str
    fingerprint: str  # no line numbers: the same drift matches across scans and PRs
    waiver: str | None = None  # the reason of a waiver that covers it


class RepoStatus(str, Enum):
    """How far a repository's scan got."""

    OK = "ok"
    EMPTY = "empty"  # no commits or no files: nothing to detect, not an error
    ERROR = "error"  # the repository could not be listed or read at all


@dataclass(frozen=True)
class Evidence:
    """Where a fact was seen. `line` is 1-based; None when the whole file is the proof."""

    path: str
    line: int | None = None
    signal: str = ""


@dataclass(frozen=True)
class Fact:
    """One detected value of one dimension, e.g. ci.system = github-actions."""

    category: str
    dimension: str
    value: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Problem:
    """A precise, recorded reason why part of a repository was not (fully) seen.

    `path` is the file concerned, or "" when the problem concerns the whole repository.
    """

    path: str
    reason: str


@dataclass(frozen=True)
class RepoMeta:
    """What a collector knows about a repository besides its files."""

    default_branch: str | None = None
    head: str | None = None
    archived: bool = False
    fork: bool = False
    topics: tuple[str, ...] = ()
    pushed_at: str | None = None
    visibility: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """A path (POSIX, relative to the repository root) and its size in bytes when known."""

    path: str
    size: int | None = None


@dataclass(frozen=True)
class Listing:
    """A repository's file listing. `complete` is False when the collector saw only part."""

    files: tuple[FileEntry, ...]
    problems: tuple[Problem, ...] = ()
    complete: bool = True


class ReadError(Exception):
    """A file could not be read; the message is the precise reason, safe to store."""


class Unanswered(ReadError):
    """The forge or git gave no usable answer (rate limit, timeout, 5xx after retries, a
    GraphQL error): what was asked is unseen. Never evidence of absence: a repository with an
    unanswered read is recorded incomplete, is never reused as unchanged, and `--resume`
    reads it again."""


class RepoSource(Protocol):
    """A read-only view of one repository, wherever its files live."""

    @property
    def name(self) -> str: ...

    @property
    def location(self) -> str: ...

    def meta(self) -> RepoMeta: ...

    def list_files(self) -> Listing: ...

    def read(self, path: str) -> bytes:
        """Return the file's bytes or raise ReadError. Never reads outside the repository."""
        ...

    def prefetch(self, paths: list[str]) -> None:
        """Hint: these files will be read next (lets remote sources fetch them in one batch)."""
        ...

    def close(self) -> None:
        """Release processes, connections or temporary folders."""
        ...


@dataclass(frozen=True)
class VersionUse:
    # action | base-image | terraform | terraform-provider | helm-api | helm-dependency | runtime
    kind: str
    tool: str  # actions/checkout, python, hashicorp/aws, ...
    version: str  # v4, 3.12-slim, ~> 5.0, ...
    path: str
    line: int | None


@dataclass(frozen=True)
class InfraFile:
    # github-workflow | dockerfile | compose | jenkinsfile | gitlab-ci | deploy-script |
    # helm-chart | terraform-module
    kind: str
    path: str
    content_hash: str  # of the normalised text
    lines: int
    text: str  # normalised
    minhash: bytes  # NUM_PERM uint32 hash values


@dataclass(frozen=True)
class RepoResult:
    """Everything detection learned about one repository in one scan."""

    name: str
    location: str
    meta: RepoMeta
    status: RepoStatus
    facts: tuple[Fact, ...] = ()
    problems: tuple[Problem, ...] = ()
    error: str | None = None
    reused: bool = False  # facts were taken from an earlier scan of the same head and ruleset
    complete: bool = True
    # a request for it got no answer (not a refusal): its scan is not complete until it is read
    # again (`--resume`); never stored, the scan's status and note carry it
    unanswered: bool = False
    owners: tuple[str, ...] = ()  # from CODEOWNERS: teams and people, in file order
    versions: tuple[VersionUse, ...] = ()  # tools at a version: the raw material of drift
    infra: tuple[InfraFile, ...] = ()  # normalised infra files: the raw material of clusters

    def values(self, dimension: str) -> tuple[str, ...]:
        return tuple(sorted(f.value for f in self.facts if f.dimension == dimension))


@dataclass(frozen=True)
class ScanSummary:
    """A stored scan as reports see it."""

    id: int
    started_at: str
    finished_at: str | None
    status: str
    ruleset_digest: str
    sources: tuple[str, ...] = ()
    repos: tuple[RepoResult, ...] = field(default=())
    note: str | None = None  # why a scan stopped early and how to finish it

    @property
    def failed(self) -> int:
        """Repositories that could not be scanned (each with its recorded error)."""
        return sum(r.status is RepoStatus.ERROR for r in self.repos)

    @property
    def partial(self) -> int:
        """Repositories stored with something the rules need left unread (with reasons)."""
        return sum(r.status is not RepoStatus.ERROR and not r.complete for r in self.repos)


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan run did, for the command line and tests."""

    scan_id: int
    repos: int
    errors: int
    reused: int
    status: str
    seconds: float
    partial: int = 0  # stored with a recorded reason for what could not be read
