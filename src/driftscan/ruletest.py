"""Fixture cases for rules: the project's own tests and `driftscan rules test` share this.

Layout: `<fixtures>/<rule-id>/<case>/` is a tiny repository tree and
`<fixtures>/<rule-id>/expected.yaml` lists, per case, exactly which values of that rule's
dimension must be detected (see docs/rules-format.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftscan.collectors.local import DirSource
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.rules import Ruleset


@dataclass(frozen=True)
class Case:
    rule_id: str
    name: str
    path: Path
    expect: tuple[str, ...]
    near_miss: tuple[str, ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()  # (value, "path" or "path:line")
    why: str = ""


@dataclass(frozen=True)
class CaseResult:
    case: Case
    got: tuple[str, ...]
    missing_evidence: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.got == self.case.expect and not self.missing_evidence

    def explain(self) -> str:
        lines = [f"{self.case.rule_id}/{self.case.name}:"]
        extra = sorted(set(self.got) - set(self.case.expect))
        lost = sorted(set(self.case.expect) - set(self.got))
        if extra:
            lines.append(f"  detected but not expected: {', '.join(extra)}")
        if lost:
            lines.append(f"  expected but not detected: {', '.join(lost)}")
        lines += [f"  missing evidence: {item}" for item in self.missing_evidence]
        if self.case.why:  # what the case guards, as its author wrote it
            lines.append(f"  why: {self.case.why}")
        return "\n".join(lines)


class FixtureError(ValueError):
    """A malformed expected.yaml."""


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FixtureError(f"{where} must be a list of value ids")
    return tuple(sorted(value))


def load_cases(fixtures: Path, rule_ids: set[str] | None = None) -> list[Case]:
    """Every case of every `<rule-id>/expected.yaml` under `fixtures`."""
    cases: list[Case] = []
    for expected in sorted(fixtures.glob("*/expected.yaml")):
        rule_id = expected.parent.name
        if rule_ids is not None and rule_id not in rule_ids:
            continue
        try:
            data = yaml.safe_load(expected.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise FixtureError(f"{expected}: invalid YAML: {exc}") from None
        entries = data.get("cases") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise FixtureError(f"{expected}: needs a 'cases' mapping")
        for name, spec in entries.items():
            where = f"{expected}: case {name!r}"
            if not isinstance(spec, dict) or "expect" not in spec:
                raise FixtureError(f"{where} needs 'expect: [...]'")
            evidence: list[tuple[str, str]] = []
            for value, paths in (spec.get("evidence") or {}).items():
                evidence += [(value, p) for p in _str_list(paths, f"{where} evidence")]
            cases.append(
                Case(
                    rule_id=rule_id,
                    name=str(name),
                    path=expected.parent / str(name),
                    expect=_str_list(spec["expect"], f"{where} expect"),
                    near_miss=_str_list(spec.get("near_miss"), f"{where} near_miss"),
                    evidence=tuple(evidence),
                    why=str(spec.get("why", "")),
                )
            )
    return cases


def run_case(compiled: CompiledRuleset, case: Case) -> CaseResult:
    rule = compiled.ruleset.by_id(case.rule_id)
    if rule is None:
        raise FixtureError(f"fixtures name rule {case.rule_id!r}, which is not loaded")
    if not case.path.is_dir():
        raise FixtureError(f"case folder {case.path} does not exist")
    result = detect_repo(compiled, DirSource(case.path))
    facts = [f for f in result.facts if f.dimension == rule.dimension]
    got = tuple(sorted(f.value for f in facts))
    seen = set()
    for fact in facts:
        for ev in fact.evidence:
            seen.add((fact.value, ev.path))
            seen.add((fact.value, f"{ev.path}:{ev.line}"))
    missing = tuple(
        f"{value} {where}" for value, where in case.evidence if (value, where) not in seen
    )
    return CaseResult(case, got, missing)


def coverage_problems(ruleset: Ruleset, cases: list[Case], fixtures: Path) -> list[str]:
    """What the fixture set fails to cover: rules without cases, values without a positive or
    near-miss case, near-misses that expect their own value, unlisted case folders."""
    problems = []
    by_rule: dict[str, list[Case]] = {}
    for case in cases:
        by_rule.setdefault(case.rule_id, []).append(case)
    for rule in ruleset.rules:
        own = by_rule.get(rule.id, [])
        if not own:
            problems.append(f"rule {rule.id}: no fixtures in {fixtures / rule.id}")
            continue
        positives = {v for c in own for v in c.expect}
        misses = {v for c in own for v in c.near_miss}
        for value in rule.values:
            if value not in positives:
                problems.append(f"rule {rule.id}: no case detects {value!r}")
            if value not in misses:
                problems.append(f"rule {rule.id}: no near-miss case for {value!r}")
        for case in own:
            unknown = set(case.expect) - set(rule.values)
            if unknown:
                problems.append(f"{rule.id}/{case.name}: expects unknown values {sorted(unknown)}")
            clash = set(case.near_miss) & set(case.expect)
            if clash:
                problems.append(f"{rule.id}/{case.name}: near_miss {sorted(clash)} also expected")
        listed = {c.name for c in own}
        folders = {p.name for p in (fixtures / rule.id).iterdir() if p.is_dir()}
        for name in sorted(folders - listed):
            problems.append(f"{rule.id}/{name}: case folder not listed in expected.yaml")
    known = {r.id for r in ruleset.rules}
    for rule_id in sorted(set(by_rule) - known):
        problems.append(f"fixtures/{rule_id}: no rule with this id")
    return problems
