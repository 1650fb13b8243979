"""Scans end to end through the runner: parallel workers, reuse, interruption."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from driftscan.collectors.base import discover
from driftscan.engine.rules import Ruleset
from driftscan.models import RepoResult
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store
from tests.conftest import DEMO_ORG, git, make_git_repo


@pytest.fixture(scope="module")
def git_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo org as real git repositories (git init + commit of each fixture folder)."""
    org = tmp_path_factory.mktemp("org")
    for folder in sorted(p for p in DEMO_ORG.iterdir() if p.is_dir()):
        make_git_repo(folder, org / folder.name)
    return org


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'scans.db'}")
    s.ensure_schema()
    return s


def facts_of(store: Store, scan_id: int) -> dict[str, tuple]:
    return {
        r.name: tuple(sorted((f.dimension, f.value) for f in r.facts))
        for r in store.load_scan(scan_id).repos
    }


def test_parallel_scan_equals_sequential_scan(
    git_org: Path, store: Store, ruleset: Ruleset
) -> None:
    one = run_scan([str(git_org)], store, ruleset, ScanOptions(jobs=1, reuse=False))
    two = run_scan([str(git_org)], store, ruleset, ScanOptions(jobs=2, reuse=False))
    assert one.repos == two.repos >= 24
    assert (one.errors, two.errors) == (0, 0)
    assert facts_of(store, one.scan_id) == facts_of(store, two.scan_id)


def test_unchanged_repositories_are_reused_and_changed_ones_rescanned(
    git_org: Path, tmp_path: Path, store: Store, ruleset: Ruleset
) -> None:
    org = tmp_path / "org"
    for name in ("payments-api", "legacy-billing", "engineering-handbook"):
        make_git_repo(DEMO_ORG / name, org / name)
    first = run_scan([str(org)], store, ruleset, ScanOptions(jobs=1))
    assert first.reused == 0
    (org / "engineering-handbook" / ".travis.yml").write_text("language: ruby\n")
    git(org / "engineering-handbook", "add", ".travis.yml")
    git(org / "engineering-handbook", "commit", "-qm", "travis")
    second = run_scan([str(org)], store, ruleset, ScanOptions(jobs=1))
    assert second.reused == 2
    before, after = facts_of(store, first.scan_id), facts_of(store, second.scan_id)
    assert before["payments-api"] == after["payments-api"]
    assert ("ci.system", "travis") in after["engineering-handbook"]
    assert ("ci.system", "travis") not in before["engineering-handbook"]
    assert [s.status for s in store.scans()] == ["complete", "complete"]


def _interrupt_after_three(git_org: Path, store: Store, ruleset: Ruleset) -> None:
    """A sequential scan of the org stopped by Ctrl-C once three repositories are done."""

    def stop_after_three(result: RepoResult, done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scan([str(git_org)], store, ruleset, ScanOptions(jobs=1), stop_after_three)


def test_interrupted_scan_keeps_its_work_and_is_marked_incomplete(
    git_org: Path, store: Store, ruleset: Ruleset
) -> None:
    _interrupt_after_three(git_org, store, ruleset)
    (scan,) = store.scans()
    assert scan.status == "incomplete"
    assert len(store.load_scan(scan.id).repos) == 3


def test_resume_after_the_rules_changed_reads_everything_again(
    git_org: Path, store: Store, ruleset: Ruleset
) -> None:
    _interrupt_after_three(git_org, store, ruleset)
    # the rules are changed (upgrade, edited rule folder) before the scan is resumed
    changed = replace(ruleset, rules=ruleset.rules[:-1], digest="changed")
    outcome = run_scan([str(git_org)], store, changed, ScanOptions(jobs=1, resume=True))
    assert outcome.scan_id == 2  # a new scan: none of its facts come from the other rules
    assert outcome.repos == len(discover([str(git_org)]))
    assert [s.status for s in store.scans()] == ["complete", "incomplete"]


def test_missing_and_broken_sources_are_recorded_and_the_scan_goes_on(
    git_org: Path, tmp_path: Path, store: Store, ruleset: Ruleset
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ".git").mkdir()  # looks like a repository, is not one
    (broken / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    targets = [str(git_org / "payments-api"), str(tmp_path / "missing"), str(broken)]
    outcome = run_scan(targets, store, ruleset, ScanOptions(jobs=1))
    repos = {r.name: r for r in store.load_scan(outcome.scan_id).repos}
    assert outcome.errors == 2 and outcome.status == "complete"
    assert repos["missing"].error.endswith("missing: no such path")
    assert "git" in repos["broken"].error
    assert repos["payments-api"].values("ci.system") == ("github-actions",)


def test_discover_demo_org_as_git_folder(git_org: Path) -> None:
    specs = discover([str(git_org)])
    assert len(specs) == len([p for p in DEMO_ORG.iterdir() if p.is_dir()])
    assert {s.kind for s in specs} == {"git"}


def test_workers_start_with_ctrl_c_and_sigterm_blocked(compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A Ctrl-C to the process group while a worker is still starting (before its
    initializer ignores signals) must not print that worker's traceback: workers are
    spawned with SIGINT and SIGTERM blocked, which survives exec."""
    import signal

    from driftscan.collectors.base import SourceSpec
    from driftscan.runner import _Workers

    workers = _Workers(1, compiled, ScanOptions(jobs=1))
    try:
        spec = SourceSpec("dir", str(tmp_path), tmp_path.name)
        list(workers.results([(spec, None)]))
        (pid,) = workers._pool._processes  # type: ignore[attr-defined]
        blocked = next(
            int(line.split()[1], 16)
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("SigBlk:")
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            assert blocked & (1 << (sig - 1)), sig.name
    finally:
        workers.close(abort=True)
