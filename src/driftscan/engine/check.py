"""The per-repository check of a pull request: what the change introduces, nothing else.

Findings are computed for the base and the head of the change with the same policy and org
norms; a head finding whose fingerprint the base does not have is new. Existing findings are
counted and shown but never fail the check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftscan.engine.analyse import Divergence, ValueShare
from driftscan.engine.policy import Policy, evaluate
from driftscan.engine.rules import Rule
from driftscan.models import SEVERITY_RANK, Evidence, Finding, Outcome, RepoResult

BASELINE_SCHEMA = "driftscan/baseline/v1"


@dataclass(frozen=True)
class LocatedFinding:
    finding: Finding
    evidence: Evidence | None  # where the value shows in the head (None for "missing")
    new: bool


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[LocatedFinding, ...]  # failing ones only, new first
    # False when there was nothing to compare with (no policy dimension, no org spread): an
    # empty result then means "not checked", never "on the golden path".
    has_norm: bool = True

    @property
    def new(self) -> tuple[LocatedFinding, ...]:
        return tuple(f for f in self.findings if f.new)

    @property
    def existing(self) -> tuple[LocatedFinding, ...]:
        return tuple(f for f in self.findings if not f.new)

    def failing(self, threshold: str) -> tuple[LocatedFinding, ...]:
        """New, unwaived findings at or above the severity threshold: what fails the check."""
        rank = SEVERITY_RANK[threshold]
        return tuple(
            f
            for f in self.new
            if f.finding.waiver is None and SEVERITY_RANK[f.finding.severity] >= rank
        )


def baseline_divergences(baseline: Mapping[str, Any]) -> list[Divergence]:
    """The org's spread per dimension, from an exported baseline (`driftscan baseline export`)."""
    out = []
    for item in baseline.get("dimensions", []):
        seen = int(item.get("repos_seen", 0))
        values = tuple(
            ValueShare(v["value"], int(v["repos"]), float(v["share"]))
            for v in item.get("values", [])
        )
        none = item.get("none", 0)
        none_repos = int(none.get("repos", 0)) if isinstance(none, dict) else int(none)
        out.append(
            Divergence(
                item["dimension"],
                item.get("category", ""),
                item.get("title", ""),
                seen,
                values,
                none_repos,
                0,
            )
        )
    return out


def check(
    rules: Sequence[Rule],
    head: RepoResult,
    base: RepoResult | None,
    org: Sequence[Divergence],
    policy: Policy | None,
) -> CheckResult:
    """Failing findings of the head, marked new when the base lacks them."""
    head_findings = [f for f in evaluate(rules, [head], org, policy) if f.outcome is Outcome.FAIL]
    # Base and head are one repository at two commits, so a finding is matched on what it
    # says, not on the fingerprint (which also names the repository's location).
    base_keys = (
        {_key(f) for f in evaluate(rules, [base], org, policy) if f.outcome is Outcome.FAIL}
        if base is not None
        else set()
    )
    evidence = {(f.dimension, f.value): f.evidence for f in head.facts}
    located = [
        LocatedFinding(f, _first(evidence, f), _key(f) not in base_keys) for f in head_findings
    ]
    located.sort(
        key=lambda lf: (not lf.new, -SEVERITY_RANK[lf.finding.severity], lf.finding.dimension)
    )
    return CheckResult(tuple(located), has_norm(org, policy))


def has_norm(org: Sequence[Divergence], policy: Policy | None) -> bool:
    """Whether anything defines the golden path: a policy that declares a dimension, or the
    org's spread over at least one repository (waivers, owners or min_share alone do not)."""
    return bool(policy is not None and policy.dimensions) or any(d.seen for d in org)


def _key(finding: Finding) -> tuple[str, str, str]:
    return (finding.dimension, finding.kind, finding.value)


def _first(
    evidence: Mapping[tuple[str, str], tuple[Evidence, ...]], finding: Finding
) -> Evidence | None:
    for value in finding.value.split(","):
        found = evidence.get((finding.dimension, value))
        if found:
            return found[0]
    return None
