"""The invariant every forge scan keeps, whatever the forge: a read that got no answer leaves
its repository partly read (counted, with the reason) and never reusable as "unchanged"; a
rate limit past --max-wait parks the scan without storing half-read repositories as `ok`.

The client here is an in-memory ForgeClient (the Protocol the GitHub and GitLab clients
implement), so these tests pin the runner's behaviour independently of either forge's replay.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from driftscan.collectors.forge import (
    Blob,
    BlobRef,
    Parked,
    RemoteRepo,
    RepoFilter,
    RequestLog,
    TreeResult,
)
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.models import FileEntry, Listing, ReadError, RepoStatus, Unanswered
from driftscan.store.queries import Store, StoreError
from tests.conftest import WORKFLOW

FILES = {".github/workflows/ci.yml": WORKFLOW.encode(), "Dockerfile": b"FROM python:3.12\n"}


class MemoryForge:
    """Three repositories with the same two files; `fail` says which reads get no answer."""

    forge = "memory"

    def __init__(self, names: Sequence[str] = ("a", "b", "c")) -> None:
        self.log = RequestLog()
        self.names = list(names)
        self.unanswered: set[tuple[str, str]] = set()  # (full_name, path) with no answer
        self.park_on: str | None = None  # repository whose first read hits the rate limit
        # what the listing answer says of a repository instead: an error, or None (left out)
        self.listing_answers: dict[str, TreeResult | None] = {}

    def _repo(self, name: str) -> RemoteRepo:
        full = f"org/{name}"
        return RemoteRepo("memory", full, f"https://forge.invalid/{full}", "main", "h-" + name)

    def list_repos(self) -> Iterator[RemoteRepo]:
        for name in self.names:
            yield self._repo(name)

    def clone_url(self, repo: RemoteRepo) -> str:
        return repo.url + ".git"

    def git_auth_header(self) -> str | None:
        return None

    def tree(self, repo: RemoteRepo) -> tuple[Listing, dict[str, str]]:
        files = tuple(FileEntry(p, len(b)) for p, b in sorted(FILES.items()))
        return Listing(files), {p: f"oid-{p}" for p in FILES}

    def trees(self, repos: Sequence[RemoteRepo]) -> dict[str, TreeResult]:
        out = {r.full_name: self.tree(r) for r in repos}
        for name, answer in self.listing_answers.items():
            if answer is None:
                out.pop(name, None)
            else:
                out[name] = answer
        return out

    def read_blobs(
        self, wanted: Sequence[tuple[RemoteRepo, dict[str, BlobRef]]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        out: dict[tuple[str, str], Blob] = {}
        for repo, refs in wanted:
            if repo.full_name == self.park_on:
                raise Parked(3600, "rate limit exhausted, resets in 3600s")
            for path in refs:
                key = (repo.full_name, path)
                out[key] = (
                    Unanswered("502 Bad Gateway after 4 tries")
                    if key in self.unanswered
                    else FILES[path]
                )
        return out


def _store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'scans.db'}")
    store.ensure_schema()
    return store


def _scan(client: MemoryForge, store: Store, ruleset: Ruleset, resume: bool = False):  # type: ignore[no-untyped-def]
    return run_forge_scan(
        client, RepoFilter(), store, ruleset, "memory:org", ForgeScanOptions(resume=resume)
    )


def test_an_unanswered_read_is_partial_with_its_reason_and_never_reused(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store, client = _store(tmp_path), MemoryForge()
    client.unanswered = {("org/b", ".github/workflows/ci.yml")}
    first = _scan(client, store, ruleset)
    assert (first.status, first.repos, first.errors, first.partial) == ("incomplete", 3, 0, 1)
    note = store.load_scan(first.scan_id).note or ""
    assert "1 repositories not fully read" in note and "org/b" in note and "--resume" in note
    repos = {r.name: r for r in store.load_scan(first.scan_id).repos}
    b = repos["org/b"]
    assert (b.status, b.complete) == (RepoStatus.OK, False)
    assert [p.reason for p in b.problems] == ["not read (no answer): 502 Bad Gateway after 4 tries"]
    assert "github-actions" not in b.values("ci.system")
    assert repos["org/a"].complete and "github-actions" in repos["org/a"].values("ci.system")
    assert store.load_scan(first.scan_id).partial == 1

    # The forge answers now: b is read again (same head), a and c are reused.
    client.unanswered = set()
    second = _scan(client, store, ruleset)
    again = {r.name: r for r in store.load_scan(second.scan_id).repos}
    assert (second.reused, second.partial) == (2, 0)
    assert not again["org/b"].reused and again["org/b"].complete
    assert "github-actions" in again["org/b"].values("ci.system")


def test_a_rate_limit_past_max_wait_parks_without_storing_half_read_repositories(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store, client = _store(tmp_path), MemoryForge([f"r{i:02}" for i in range(30)])
    client.park_on = "org/r27"  # in the second chunk of 25
    parked = _scan(client, store, ruleset)
    assert parked.status == "incomplete"
    stored = store.load_scan(parked.scan_id)
    assert stored.status == "incomplete" and "--resume" in (stored.note or "")
    # The first chunk is stored whole and correct; nothing of the parked chunk is "ok".
    assert {r.name for r in stored.repos} == {f"org/r{i:02}" for i in range(25)}
    assert all(r.complete and r.values("ci.system") == ("github-actions",) for r in stored.repos)

    client.park_on = None
    resumed = _scan(client, store, ruleset, resume=True)
    assert (resumed.scan_id, resumed.status) == (parked.scan_id, "complete")
    final = store.load_scan(parked.scan_id)
    assert len(final.repos) == 30
    assert all(r.values("ci.system") == ("github-actions",) for r in final.repos)


def test_a_listing_that_got_no_answer_is_an_error_not_an_empty_repository(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store, client = _store(tmp_path), MemoryForge()
    client.listing_answers = {"org/c": Unanswered("tree query timed out after 30 s")}
    outcome = _scan(client, store, ruleset)
    c = next(r for r in store.load_scan(outcome.scan_id).repos if r.name == "org/c")
    assert (c.status, c.error) == (RepoStatus.ERROR, "tree query timed out after 30 s")
    assert outcome.errors == 1
    assert isinstance(Unanswered("x"), ReadError)  # collectors may raise either


def test_a_forge_that_stops_answering_stops_the_scan_resumably(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store, client = _store(tmp_path), MemoryForge([f"r{i:02}" for i in range(60)])
    client.unanswered = {(f"org/r{i:02}", p) for i in range(25, 60) for p in FILES}
    stopped = _scan(client, store, ruleset)
    assert stopped.status == "incomplete"
    # the first chunk is read, the second got no answer at all, the third is never tried
    assert stopped.repos == 50 and stopped.partial == 25
    assert "gave no answer for a whole chunk" in (store.load_scan(stopped.scan_id).note or "")

    client.unanswered = set()
    resumed = _scan(client, store, ruleset, resume=True)
    assert (resumed.scan_id, resumed.status, resumed.partial) == (stopped.scan_id, "complete", 0)
    final = store.load_scan(stopped.scan_id)
    assert len(final.repos) == 60 and all(r.complete for r in final.repos)


def test_a_result_the_database_refuses_is_counted_as_the_error_it_is_stored_as(
    tmp_path: Path, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, client = _store(tmp_path), MemoryForge()
    real = Store._record

    def refuse_b(self: Store, scan_id: int, batch: list, *args: object, **kwargs: object) -> object:  # type: ignore[type-arg]
        if any(r.name == "org/b" and r.status is RepoStatus.OK for r in batch):
            raise ValueError("value refused by the database")
        return real(self, scan_id, batch, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "_record", refuse_b)
    outcome = _scan(client, store, ruleset)
    repos = {r.name: r for r in store.load_scan(outcome.scan_id).repos}
    assert repos["org/b"].status is RepoStatus.ERROR
    assert "cannot store" in (repos["org/b"].error or "")
    assert (outcome.repos, outcome.errors) == (3, 1)
    assert repos["org/a"].status is RepoStatus.OK and repos["org/c"].status is RepoStatus.OK


def test_a_store_failure_before_the_first_repository_leaves_no_scan_running(
    tmp_path: Path, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, client = _store(tmp_path), MemoryForge()

    def broken(self: Store, ruleset_digest: str) -> dict:  # type: ignore[type-arg]
        raise StoreError("cannot read database: disk I/O error")

    monkeypatch.setattr(Store, "known_heads", broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        _scan(client, store, ruleset)
    # no scan was begun (or it says it failed): never one `running` with a live heartbeat
    assert [s.status for s in store.scans()] in ([], ["failed"])


def test_a_listing_the_forge_left_out_is_unanswered_not_a_plain_error(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store, client = _store(tmp_path), MemoryForge()
    client.listing_answers = {"org/c": None}  # left out without a word
    outcome = _scan(client, store, ruleset)
    assert (outcome.status, outcome.errors) == ("incomplete", 1)
    note = store.load_scan(outcome.scan_id).note or ""
    assert "1 repositories not fully read" in note and "org/c: no listing returned" in note
    client.listing_answers = {}
    resumed = _scan(client, store, ruleset, resume=True)
    assert (resumed.scan_id, resumed.status, resumed.repos) == (outcome.scan_id, "complete", 1)
