"""Check output formats on awkward input: many findings, commas, colons, pipes, newlines."""

from __future__ import annotations

import re

from driftscan.engine.check import CheckResult, LocatedFinding
from driftscan.models import Evidence, Finding, Outcome
from driftscan.reports.check import render_github, render_markdown


def located(value: str, path: str, message: str, new: bool = True) -> LocatedFinding:
    finding = Finding(
        rule_id="deploy-method",
        dimension="deploy.method",
        repo="shop",
        location="/src/shop",
        value=value,
        outcome=Outcome.FAIL,
        kind="forbidden",
        severity="high",
        message=message,
        remediation="",
        fingerprint=f"fp-{value}",
    )
    return LocatedFinding(finding, Evidence(path, 3), new)


def test_markdown_is_capped_and_counts_the_rest() -> None:
    items = [located(f"v{i}", f"deploy/{i}.sh", f"finding {i}") for i in range(14)]
    result = CheckResult((*items, located("old", "old.sh", "old", new=False)))
    text = render_markdown(result, "high", cap=10)
    rows = [line for line in text.splitlines() if line.startswith("| high")]
    assert len(rows) == 10
    assert "…and 4 more new finding(s)." in text
    assert "1 finding(s) already on the base branch" in text
    assert text.startswith("### driftscan: 14 new finding(s) at or above high")


def test_markdown_rows_survive_pipes_and_newlines() -> None:
    text = render_markdown(
        CheckResult((located("x", "a|b.sh", "uses x | y\nsecond line"),)), "high"
    )
    [row] = [line for line in text.splitlines() if line.startswith("| high")]
    cells = re.split(r"(?<!\\)\|", row)[1:-1]  # split on unescaped pipes only
    assert len(cells) == 5
    assert "second line" in row


def test_github_annotation_escapes_properties_and_data() -> None:
    out = render_github(
        CheckResult((located("x", "deploy/a,b:c.sh", "100% sure\nreally"),))
    ).strip()
    assert out == (
        "::error file=deploy/a%2Cb%3Ac.sh,line=3,title=driftscan deploy.method::100%25 sure%0Areally"
    )


def test_github_is_silent_when_nothing_is_new() -> None:
    assert render_github(CheckResult((located("old", "x.sh", "old", new=False),))) == ""
