"""Every rule x fixture case is a test; the fixture set itself is checked for coverage."""

from __future__ import annotations

import subprocess

import pytest

from driftscan.engine.detect import CompiledRuleset
from driftscan.engine.rules import Ruleset, load_ruleset
from driftscan.ruletest import coverage_problems, load_cases, run_case
from tests.conftest import FIXTURES

_RULE_IDS = {r.id for r in load_ruleset().rules}
CASES = load_cases(FIXTURES, _RULE_IDS)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule_id}/{c.name}" for c in CASES])
def test_rule_case(case, compiled: CompiledRuleset) -> None:
    result = run_case(compiled, case)
    assert result.ok, result.explain()


def test_every_rule_value_has_positive_and_near_miss_cases(ruleset: Ruleset) -> None:
    assert coverage_problems(ruleset, CASES, FIXTURES) == []


def test_every_fixture_folder_belongs_to_a_rule() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "demo-org"}
    assert folders <= _RULE_IDS, f"fixture folders without a rule: {sorted(folders - _RULE_IDS)}"


def test_no_fixture_file_is_ignored_by_git() -> None:
    """A fixture file that .gitignore hides (a `build/` folder, say) passes here and is missing
    from every clone, where its case then fails or, worse, passes for the wrong reason."""
    if not (FIXTURES.parent / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--", "fixtures"],
        cwd=FIXTURES.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert ignored == [], f"fixture files hidden by .gitignore: {ignored}"
