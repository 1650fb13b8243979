"""`driftscan check`: detect the base and the head of a change and keep what it introduces."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftscan.collectors.git import GitSource, find_git_dir, run_git
from driftscan.collectors.local import DirSource, IndexSource
from driftscan.engine.analyse import Divergence, divergence
from driftscan.engine.check import BASELINE_SCHEMA, CheckResult, baseline_divergences, check
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.engine.policy import Policy, load_policy
from driftscan.engine.rules import Ruleset
from driftscan.models import ReadError, RepoResult, RepoSource, RepoStatus, ScanSummary
from driftscan.reports.json_report import divergence_dict
from driftscan.store.queries import Store

REPO_POLICY = ".driftscan.yaml"


@dataclass(frozen=True)
class CheckRun:
    result: CheckResult
    head: RepoResult
    base_ref: str | None  # the commit compared against, None when there was none
    org_source: str  # baseline file, database scan, or "policy only"


class CheckError(Exception):
    """A usage problem of `check` (no such path, unknown ref, unreadable baseline)."""


def export_baseline(scan: ScanSummary, ruleset: Ruleset) -> dict[str, Any]:
    """The org's spread per dimension from a stored scan: all a PR check needs, no database."""
    return {
        "schema": BASELINE_SCHEMA,
        "scan": {"id": scan.id, "started_at": scan.started_at, "repos": len(scan.repos)},
        "ruleset_digest": ruleset.digest,
        "dimensions": [divergence_dict(d) for d in divergence(ruleset.rules, scan.repos)],
    }


def _default_base(git_dir: Path) -> str | None:
    """The merge-base of HEAD with the default branch (origin's HEAD, else main/master)."""
    candidates = []
    try:
        ref = (
            run_git("symbolic-ref", "-q", "refs/remotes/origin/HEAD", git_dir=git_dir)
            .decode()
            .strip()
        )
        candidates.append(ref)
    except ReadError:
        pass
    candidates += [
        "refs/remotes/origin/main",
        "refs/remotes/origin/master",
        "refs/heads/main",
        "refs/heads/master",
    ]
    for ref in candidates:
        try:
            base = run_git("merge-base", "HEAD", ref, git_dir=git_dir).decode().strip()
        except ReadError:
            continue
        head = run_git("rev-parse", "HEAD", git_dir=git_dir).decode().strip()
        if base != head or ref.startswith("refs/remotes/"):
            return base
    return None


def _org_context(
    baseline: Path | None, store: Store | None, ruleset: Ruleset
) -> tuple[list[Divergence], str]:
    if baseline is not None:
        try:
            data = json.loads(baseline.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckError(f"cannot read baseline {baseline}: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA:
            raise CheckError(f"{baseline} is not a driftscan baseline ({BASELINE_SCHEMA})")
        try:
            return baseline_divergences(data), f"baseline {baseline}"
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckError(
                f"{baseline}: malformed baseline ({type(exc).__name__}: {exc})"
            ) from None
    if store is not None:
        scan_id = store.latest_scan_id()  # never a failed or interrupted scan
        if scan_id is None:
            return [], "no complete scan stored"
        scan = store.load_scan(scan_id)
        return divergence(ruleset.rules, scan.repos), f"scan #{scan.id}"
    return [], "policy only"


def _work_tree_root(path: Path) -> Path | None:
    """The top of the git work tree holding `path` (a check run from a subfolder checks the
    whole repository, as git itself would), else None."""
    try:
        out = run_git("-C", str(path), "rev-parse", "--show-toplevel")
    except ReadError:
        return None  # not inside a work tree (a plain folder, or a bare repository)
    top = out.decode("utf-8", "surrogateescape").strip()
    return Path(top).resolve() if top else None


def run_check(
    path: Path,
    ruleset: Ruleset,
    policy: Policy | None,
    *,
    base_ref: str | None = None,
    head_ref: str | None = None,
    staged: bool = False,
    baseline: Path | None = None,
    store: Store | None = None,
    max_file_size: int = 1 << 20,
    salt: bytes = b"driftscan",
) -> CheckRun:
    if not path.is_dir():
        raise CheckError(f"{path} is not a folder")
    root = path.resolve()
    git_dir = find_git_dir(root)
    if git_dir is None:
        top = _work_tree_root(root)
        if top is not None and find_git_dir(top) is not None:
            root, git_dir = top, find_git_dir(top)
    compiled = CompiledRuleset.compile(ruleset)
    options = DetectOptions(max_file_size, salt, effort=False)
    repo_policy = root / REPO_POLICY
    if repo_policy.is_file():
        waivers = load_policy(repo_policy, ruleset.rules, repo_file=True).waivers
        policy = (policy or Policy()).with_waivers(waivers)
    org, org_source = _org_context(baseline, store, ruleset)

    head_source: RepoSource
    if git_dir is None:
        head_source = DirSource(root, max_file_size=max_file_size)
    elif staged:
        tracked = run_git(
            "ls-files", "-z", "--cached", git_dir=git_dir, extra_env={"GIT_WORK_TREE": str(root)}
        )
        paths = [p.decode("utf-8", "surrogateescape") for p in tracked.split(b"\0") if p]
        head_source = IndexSource(root, paths, max_file_size=max_file_size)
    else:
        head_source = GitSource(
            root, git_dir, revision=head_ref or "HEAD", max_file_size=max_file_size
        )
    head = _detect(compiled, head_source, options)
    if head.status is RepoStatus.ERROR:
        raise CheckError(f"cannot read {head_ref or 'the head'}: {head.error}")

    base: RepoResult | None = None
    if git_dir is not None:
        base_ref = base_ref or _default_base(git_dir)
        if base_ref is not None:
            base = _detect(
                compiled,
                GitSource(root, git_dir, revision=base_ref, max_file_size=max_file_size),
                options,
            )
            if base.status is RepoStatus.ERROR:
                raise CheckError(f"cannot read base {base_ref}: {base.error}")
    return CheckRun(
        check(ruleset.rules, head, base, org, policy), head, base_ref if base else None, org_source
    )


def _detect(compiled: CompiledRuleset, source: RepoSource, options: DetectOptions) -> RepoResult:
    try:
        return detect_repo(compiled, source, options)
    finally:
        source.close()
