"""docs/rules.md is generated from the rule files and must never be stale."""

from __future__ import annotations

import re

import pytest

from driftscan.engine.rules import Ruleset
from driftscan.reports.rules_doc import render
from tests.conftest import ROOT


def test_docs_rules_md_is_up_to_date(ruleset: Ruleset) -> None:
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == render(ruleset), "stale: run `driftscan rules doc -o docs/rules.md`"


def test_every_value_of_every_rule_is_documented(ruleset: Ruleset) -> None:
    text = render(ruleset)
    for rule in ruleset.rules:
        assert f"## `{rule.id}`" in text
        for value in rule.values:
            assert f"| `{value}` |" in text, (rule.id, value)


def test_every_catalogue_id_has_a_rule_value(ruleset: Ruleset) -> None:
    catalogue = ROOT.parent / "shared" / "CATALOGUE.md"
    if not catalogue.exists():  # the catalogue lives beside the repository, not in it
        pytest.skip("shared/CATALOGUE.md is not beside this checkout")
    values = {v for rule in ruleset.rules for v in rule.values}
    section = ""
    missing = []
    for line in catalogue.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line.split()[1]
        m = re.match(r"^\| ([a-z0-9-]+) \|", line)
        core = section in ("ci", "deploy", "secrets", "monitoring")
        if m and core and m.group(1) != "id" and m.group(1) not in values:
            missing.append(f"{section}:{m.group(1)}")
    assert not missing
