"""Policy files: precise errors, scopes, waivers that expire, norms without a policy."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from driftscan.collectors.local import DirSource
from driftscan.engine.analyse import divergence
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.policy import (
    PolicyError,
    dev_default_environments,
    evaluate,
    fingerprint,
    load_policy,
)
from driftscan.engine.rules import Ruleset
from driftscan.models import Evidence, Fact, Finding, Outcome, RepoMeta, RepoResult, RepoStatus
from tests.conftest import DEMO_ORG

POLICY = """\
version: 1
norms: {min_share: 0.5}
owners:
  "legacy-*": "@acme/finance"
dimensions:
  ci.system:
    preferred: github-actions
    allowed: [github-actions, gitlab-ci]
    forbidden: [travis]
  secrets.handling:
    forbidden: [dotenv-committed, plaintext-credential]
    scope: {repos: ["legacy-*", "web-*"]}
waivers:
  - repo: legacy-billing
    dimension: ci.system
    value: jenkins
    reason: moving to GitHub Actions with the Q3 rewrite
    expires: 2027-03-31
"""


@pytest.fixture(scope="module")
def demo(compiled: CompiledRuleset) -> list[RepoResult]:
    return [detect_repo(compiled, DirSource(p)) for p in sorted(DEMO_ORG.iterdir()) if p.is_dir()]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftscan.yaml"
    path.write_text(text)
    return path


def findings_for(
    policy_text: str | None, ruleset: Ruleset, demo: list[RepoResult], tmp_path: Path, today: date
):
    policy = load_policy(write(tmp_path, policy_text), ruleset.rules) if policy_text else None
    return evaluate(ruleset.rules, demo, divergence(ruleset.rules, demo), policy, today)


def by(findings, repo: str, dimension: str):
    return [f for f in findings if f.repo == repo and f.dimension == dimension]


def test_policy_outcomes_scope_and_waivers(
    ruleset: Ruleset, demo: list[RepoResult], tmp_path: Path
) -> None:
    found = findings_for(POLICY, ruleset, demo, tmp_path, date(2027, 1, 1))
    legacy = by(found, "legacy-billing", "ci.system")
    assert {(f.kind, f.value, f.outcome) for f in legacy} == {
        ("forbidden", "travis", Outcome.FAIL),
        ("not-allowed", "jenkins", Outcome.FAIL),
    }
    assert next(f for f in legacy if f.value == "jenkins").waiver.startswith(
        "moving to GitHub Actions"
    )
    assert next(f for f in legacy if f.value == "travis").waiver is None
    assert by(found, "payments-api", "ci.system")[0].outcome is Outcome.PASS
    # scoped: only legacy-* and web-* repositories are held to the secrets policy
    assert by(found, "legacy-billing", "secrets.handling")[0].kind == "forbidden"
    assert by(found, "web-admin", "secrets.handling")[0].value == "dotenv-committed"
    assert by(found, "payments-api", "secrets.handling")[0].outcome is Outcome.NOT_APPLICABLE


def test_waivers_expire(ruleset: Ruleset, demo: list[RepoResult], tmp_path: Path) -> None:
    later = findings_for(POLICY, ruleset, demo, tmp_path, date(2027, 4, 1))
    jenkins = next(f for f in by(later, "legacy-billing", "ci.system") if f.value == "jenkins")
    assert jenkins.outcome is Outcome.FAIL and jenkins.waiver is None


def test_norms_without_a_policy(ruleset: Ruleset, demo: list[RepoResult], tmp_path: Path) -> None:
    found = findings_for(None, ruleset, demo, tmp_path, date(2027, 1, 1))
    catalog = by(found, "catalog-service", "ci.system")[0]
    assert (catalog.kind, catalog.outcome, catalog.value) == ("off-norm", Outcome.FAIL, "jenkins")
    assert "most of the org uses github-actions" in catalog.message
    # monitoring's dominant value (prometheus, 30%) is below the threshold: no norm, not guessed
    assert {f.kind for f in found if f.dimension == "monitoring.stack"} == {"no-norm"}


def test_fingerprints_ignore_lines_and_are_stable() -> None:
    assert fingerprint("ci.system", "forbidden", "travis", "/org/a") == fingerprint(
        "ci.system", "forbidden", "travis", "/org/a"
    )
    assert fingerprint("ci.system", "forbidden", "travis", "/org/a") != fingerprint(
        "ci.system", "forbidden", "travis", "/org/b"
    )


BROKEN = {
    "unknown top key": ("dimension:\n  ci.system: {}\n", 1, "unknown key 'dimension'"),
    "unknown dimension": (
        "dimensions:\n  ci.sytem: {preferred: jenkins}\n",
        2,
        "unknown dimension 'ci.sytem'",
    ),
    "unknown value": (
        "dimensions:\n  ci.system:\n    forbidden: [travisci]\n",
        3,
        "'travisci' is not a value of ci.system",
    ),
    "two preferred": (
        "dimensions:\n  ci.system:\n    preferred: [jenkins, travis]\n",
        3,
        "takes one value id",
    ),
    "allowed and forbidden": (
        "dimensions:\n  ci.system:\n    allowed: [travis]\n    forbidden: [travis]\n",
        4,
        "both allowed and forbidden",
    ),
    "bad scope": (
        "dimensions:\n  ci.system:\n    scope: {team: x}\n",
        3,
        "unknown scope key 'team'",
    ),
    "waiver without reason": (
        "waivers:\n  - repo: a\n    dimension: ci.system\n",
        2,
        "needs 'reason'",
    ),
    "bad expiry": (
        "waivers:\n  - {repo: a, dimension: ci.system, reason: r, expires: soon}\n",
        2,
        "is a date",
    ),
    "bad share": ("norms: {min_share: 2}\n", 1, "min_share must be a number"),
    "invalid yaml": ("dimensions:\n  ci.system: [\n", 3, "invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_policy_files_are_rejected_precisely(
    name: str, ruleset: Ruleset, tmp_path: Path
) -> None:
    text, line, words = BROKEN[name]
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text), ruleset.rules)
    assert words in info.value.reason, str(info.value)
    assert info.value.line == line, str(info.value)


GOALS = """\
version: 1
goals:
  - {dimension: ci.system, value: github-actions, target: ">= 90%", by: 2027-06-30}
  - dimension: secrets.handling
    value: dotenv-committed
    target: <= 0 repos
    by: 2027-01-31
"""


def test_goals_parse(ruleset: Ruleset, tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOALS), ruleset.rules)
    assert [g.text for g in policy.goals] == [
        "ci.system github-actions >= 90%",
        "secrets.handling dotenv-committed <= 0 repos",
    ]
    assert policy.goals[1].by == date(2027, 1, 31)


@pytest.mark.parametrize(
    ("goal", "line", "reason"),
    [
        ('{dimension: ci.system, value: github-actions, target: "90%", by: 2027-06-30}', 3,
         "a target is like '>= 90%' or '<= 0 repos'"),
        ('{dimension: ci.system, value: github-actions, target: ">= 120%", by: 2027-06-30}', 3,
         "a share target is at most 100%"),
        ('{dimension: ci.system, value: gh-actions, target: ">= 90%", by: 2027-06-30}', 3,
         "'gh-actions' is not a value of ci.system"),
        ('{dimension: ci.system, value: github-actions, target: ">= 90%", by: soon}', 3,
         "'by' is a date like 2027-06-30"),
        ('{dimension: ci.system, value: github-actions}', 3, "a goal needs by, target"),
    ],
)  # fmt: skip
def test_goal_errors_name_the_line(
    ruleset: Ruleset, tmp_path: Path, goal: str, line: int, reason: str
) -> None:
    text = f"version: 1\ngoals:\n  - {goal}\n"
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text), ruleset.rules)
    assert info.value.line == line and reason in str(info.value)


def test_policy_targets_follow_the_rules_unless_a_goal_or_a_scope_says_otherwise() -> None:
    from datetime import date

    from driftscan.engine.policy import DimensionPolicy, Goal, Policy, Scope, policy_targets

    policy = Policy(
        dimensions=(
            DimensionPolicy("ci.system", preferred="github-actions", forbidden=("travis",)),
            DimensionPolicy("deploy.method", forbidden=("ftp",), scope=Scope(repos=("web-*",))),
        ),
        goals=(Goal("ci.system", "github-actions", True, 0.9, True, date(2027, 6, 30)),),
    )
    assert [(g.text, g.by_text) for g in policy_targets(policy)] == [
        ("ci.system travis <= 0 repos", "—")
    ]


# -- dev/test-only credentials: low severity, environments named ---------------------------


def _credential(path: str, env: str | None = None) -> Evidence:
    tag = f" env:{env}" if env else ""
    return Evidence(path, 1, f"credential Rails master key{tag} fp:0123456789abcdef")


def test_dev_default_environments_only_when_every_credential_is_a_dev_default() -> None:
    dev = _credential("config/dev.exs", "dev")
    test = _credential("config/test.exs", "test")
    real = _credential("config/master.key")
    assert dev_default_environments([dev, test, dev]) == ("dev", "test")
    assert dev_default_environments([dev, real]) == ()
    assert dev_default_environments([]) == ()
    assert dev_default_environments([dev] * 3, limit=3) == ()  # cut: the rest may be real
    other = Evidence(".env", 1, "content /env:dev fp:00/ in **/.env")
    assert dev_default_environments([other]) == ()


def test_a_forbidden_credential_that_is_only_a_dev_default_is_low(
    ruleset: Ruleset, tmp_path: Path
) -> None:
    policy = load_policy(
        write(
            tmp_path, "dimensions:\n  secrets.handling:\n    forbidden: [plaintext-credential]\n"
        ),
        ruleset.rules,
    )

    def finding(*evidence: Evidence) -> Finding:
        fact = Fact("secrets", "secrets.handling", "plaintext-credential", evidence)
        repo = RepoResult("acme/shop", "/r/shop", RepoMeta(), RepoStatus.OK, facts=(fact,))
        found = evaluate(ruleset.rules, [repo], [], policy, date(2027, 1, 1))
        (only,) = [f for f in found if f.dimension == "secrets.handling"]
        return only

    dev = finding(_credential("config/dev.exs", "dev"), _credential("config/test.exs", "test"))
    assert (dev.kind, dev.severity) == ("forbidden", "low")
    assert "environment: dev, test" in dev.message
    real = finding(_credential("config/dev.exs", "dev"), _credential("config/master.key"))
    assert (real.kind, real.severity) == ("forbidden", "high")
    assert "environment" not in real.message
    assert dev.fingerprint == real.fingerprint  # the same drift; only its weight differs
