"""A FIFO inside a repository's git directory, where git (or driftscan) expects a file.

git opens such a FIFO and waits for ever for a writer. Each case must cost its own repository
only - an error or an unanswered read, with the reason - within the git time limit (lowered
here to 2 s; the process-level scan keeps the default, so these run through `run_scan` in
this process, among an ordinary repository whose facts must stay intact).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftscan.collectors import git as git_collector
from driftscan.engine.rules import Ruleset
from tests.hostile.builders import World, commit_all, git, write_tree
from tests.hostile.cases import BASE
from tests.hostile.conftest import ApiScan, Org, facts, scan_in

STALLED = "git gave no answer within 2s; stopped reading"
# (which file of .git becomes a FIFO, expected status, complete, error, problem on Jenkinsfile)
FIFOS = [
    ("HEAD", "error", True, STALLED, ""),  # an error result is complete: nothing more to read
    ("config", "error", True, STALLED, ""),
    ("refs/heads/main", "error", True, STALLED, ""),
    ("object", "ok", False, "", f"not read (no answer): {STALLED}"),
]


def fifo_repo(world: World, which: str) -> Path:
    repo = world.repos / f"fifo-in-git-dir-{which.replace('/', '-')}"
    write_tree(repo, BASE, world)
    commit_all(repo)
    if which == "object":
        oid = git(repo, "rev-parse", "HEAD:Jenkinsfile")
        target = repo / ".git" / "objects" / oid[:2] / oid[2:]
    else:
        target = repo / ".git" / which
    target.unlink()
    os.mkfifo(target)
    return repo


@pytest.mark.parametrize(("which", "status", "complete", "error", "problem"), FIFOS)
def test_a_fifo_in_the_git_directory_costs_one_repository_within_the_time_limit(
    which: str,
    status: str,
    complete: bool,
    error: str,
    problem: str,
    org: Org,
    baseline: ApiScan,
    ruleset: Ruleset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(git_collector, "GIT_TIMEOUT", 2)
    repo = fifo_repo(org.world, which)
    normal = org.normal[0]
    scan = scan_in([str(repo), str(normal)], ruleset, tmp_path, seconds=30)
    # git gave no answer: what the repository holds is unknown, so the scan is not complete
    assert scan.outcome.status == "incomplete"
    note = scan.store.load_scan(scan.outcome.scan_id).note or ""
    assert (
        note.startswith("1 repositories not fully read: git gave no answer") and "--resume" in note
    )
    got = scan.results[repo.name]
    assert (got.status.value, got.complete, got.error or "") == (status, complete, error)
    assert {p.path: p.reason for p in got.problems} == ({"Jenkinsfile": problem} if problem else {})
    assert facts(scan.results[normal.name]) == facts(baseline.results[normal.name])
