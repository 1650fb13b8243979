"""The check engine: base against head, only what the change introduces fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftscan.collectors.local import DirSource
from driftscan.engine.check import baseline_divergences, check
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.policy import load_policy
from driftscan.engine.rules import Ruleset
from driftscan.models import RepoResult
from tests.conftest import WORKFLOW

POLICY = """\
version: 1
dimensions:
  ci.system:
    preferred: github-actions
    forbidden: [travis]
  secrets.handling:
    forbidden: [dotenv-committed]
"""

ENV = "DATABASE_URL=postgres://app:Xk29fhQ2LmZ8@db/app\n"


def repo(tmp_path: Path, side: str, files: dict[str, str], compiled: CompiledRuleset) -> RepoResult:
    root = tmp_path / side / "shop-api"  # base and head are the same repository
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return detect_repo(compiled, DirSource(root))


@pytest.fixture
def policy(ruleset: Ruleset, tmp_path: Path):
    path = tmp_path / "driftscan.yaml"
    path.write_text(POLICY)
    return load_policy(path, ruleset.rules)


def test_new_and_existing_findings(
    ruleset: Ruleset, compiled: CompiledRuleset, policy, tmp_path: Path
) -> None:
    base_files = {".travis.yml": "language: python\n", ".github/workflows/ci.yml": WORKFLOW}
    base = repo(tmp_path, "base", base_files, compiled)
    head = repo(tmp_path, "head", {**base_files, "app/.env": ENV}, compiled)
    result = check(ruleset.rules, head, base, [], policy)
    assert [(f.finding.value, f.new) for f in result.findings] == [
        ("dotenv-committed", True),  # new first
        ("travis", False),
    ]
    env = result.new[0]
    assert env.evidence is not None and env.evidence.path == "app/.env"
    assert [f.finding.value for f in result.failing("high")] == ["dotenv-committed"]


def test_a_finding_that_only_moves_is_not_new(
    ruleset: Ruleset, compiled: CompiledRuleset, policy, tmp_path: Path
) -> None:
    base = repo(tmp_path, "base", {".env": ENV}, compiled)
    head = repo(tmp_path, "head", {".env": "# moved down\n\n" + ENV}, compiled)
    result = check(ruleset.rules, head, base, [], policy)
    assert [f.new for f in result.findings] == [False]
    assert result.failing("info") == ()


def test_without_a_base_everything_is_new(
    ruleset: Ruleset, compiled: CompiledRuleset, policy, tmp_path: Path
) -> None:
    head = repo(tmp_path, "head", {".travis.yml": "language: ruby\n"}, compiled)
    result = check(ruleset.rules, head, None, [], policy)
    assert [(f.finding.kind, f.new) for f in result.findings] == [("forbidden", True)]


def test_severity_threshold(ruleset: Ruleset, compiled: CompiledRuleset, tmp_path: Path) -> None:
    # an off-norm value (from the org baseline) is lower than a forbidden one
    org = baseline_divergences(
        {
            "dimensions": [
                {
                    "dimension": "ci.system",
                    "repos_seen": 10,
                    "values": [
                        {"value": "github-actions", "repos": 9, "share": 0.9},
                        {"value": "travis", "repos": 1, "share": 0.1},
                    ],
                    "none": {"repos": 0},
                }
            ]
        }
    )
    head = repo(tmp_path, "head", {".travis.yml": "language: ruby\n"}, compiled)
    result = check(ruleset.rules, head, None, org, None)
    [off] = result.findings
    assert (off.finding.kind, off.finding.value) == ("off-norm", "travis")
    assert off.finding.severity == "low"
    assert result.failing("low") == (off,)
    assert result.failing("medium") == ()


def test_baseline_accepts_a_bare_none_count() -> None:
    [div] = baseline_divergences(
        {"dimensions": [{"dimension": "ci.system", "repos_seen": 3, "values": [], "none": 2}]}
    )
    assert (div.dimension, div.seen, div.none) == ("ci.system", 3, 2)
