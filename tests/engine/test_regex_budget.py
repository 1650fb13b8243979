"""Issue 11, item 6: a rule's regex cannot hang a scan. Each rule regex runs with a time budget
per file; running out is a recorded problem on that file and detection goes on."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import regex
from click.testing import CliRunner

from driftscan.cli.main import main
from driftscan.collectors.local import DirSource
from driftscan.engine.detect import REGEX_STRIKES, CompiledRuleset, detect_repo
from driftscan.engine.rules import (
    REGEX_TIMEOUT,
    ContentSignal,
    YamlSignal,
    load_ruleset,
    walk_signals,
)
from driftscan.models import RepoResult, RepoStatus
from tests.conftest import DEMO_ORG

WORKFLOW = "on: push\njobs: {b: {runs-on: x}}\n"
# The file of the report: 41 `a` and a `!` make a backtracking engine try every way to split
# the `a`s (2^40 for `(a|aa)+$`) before it can say "no match".
HOSTILE = "a" * 41 + "!"
# `regex` answers this nested quantifier at once (its repeat guards), `re` needs > 90 s.
NESTED = "^(a+)+$"
# No engine guard helps here: only the time budget ends it.
ALTERNATION = "(a|aa)+$"


def rule_file(folder: Path, rule_id: str, detect: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{rule_id}.yaml").write_text(
        f"id: {rule_id}\ncategory: probe\ndimension: probe.{rule_id}\ntitle: t\ndetect:\n{detect}"
    )


def content_rule(folder: Path, rule_id: str, pattern: str, glob: str = "**/*.txt") -> None:
    rule_file(
        folder,
        rule_id,
        f"  hit:\n    content: '{pattern}'\n    in: '{glob}'\n    example: 'aa'\n",
    )


def repo(root: Path, files: dict[str, str]) -> DirSource:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return DirSource(root)


def detect(rules: Path, source: DirSource) -> RepoResult:
    return detect_repo(CompiledRuleset.compile(load_ruleset([rules])), source)


def problems(result: RepoResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in result.problems:
        out.setdefault(problem.path, []).append(problem.reason)
    return out


def test_the_nested_quantifier_of_the_report_finishes_with_the_other_facts(
    tmp_path: Path,
) -> None:
    content_rule(tmp_path / "rules", "hang", NESTED)
    source = repo(tmp_path / "r", {"big.txt": HOSTILE, ".github/workflows/ci.yml": WORKFLOW})
    result = detect(tmp_path / "rules", source)
    facts = {(f.dimension, f.value) for f in result.facts}
    assert ("ci.system", "github-actions") in facts
    assert ("probe.hang", "hit") not in facts  # there is no match: nothing is invented
    assert result.status is RepoStatus.OK and result.complete


def test_a_backtracking_regex_times_out_into_a_recorded_problem(tmp_path: Path) -> None:
    content_rule(tmp_path / "rules", "slow", ALTERNATION)
    rule_file(tmp_path / "rules", "quick", "  txt: {content: '^b', in: '**/*.txt', example: b}\n")
    source = repo(
        tmp_path / "r",
        {"big.txt": HOSTILE, "b.txt": "b\n", ".github/workflows/ci.yml": WORKFLOW},
    )
    started = time.monotonic()
    result = detect(tmp_path / "rules", source)
    assert time.monotonic() - started < 60  # unbounded, this would not end in a lifetime
    assert problems(result) == {
        "big.txt": [f"rule slow regex timed out after {REGEX_TIMEOUT:g} s on big.txt"]
    }
    facts = {(f.dimension, f.value) for f in result.facts}
    assert {("ci.system", "github-actions"), ("probe.quick", "txt")} <= facts
    assert ("probe.slow", "hit") not in facts
    # a recorded reason, like an oversized file: the repository is still fully seen
    assert result.status is RepoStatus.OK and result.complete


def test_a_timeout_keeps_the_files_earlier_problem(tmp_path: Path) -> None:
    content_rule(tmp_path / "rules", "slow", ALTERNATION)
    root = tmp_path / "r"
    root.mkdir()
    (root / "big.txt").write_bytes(HOSTILE.encode() + b"\xff")  # not UTF-8: a first problem
    reasons = problems(detect(tmp_path / "rules", DirSource(root)))["big.txt"]
    assert len(reasons) == 2 and "not valid UTF-8" in reasons[0]
    assert reasons[1] == f"rule slow regex timed out after {REGEX_TIMEOUT:g} s on big.txt"


def test_yaml_matches_and_contains_regexes_are_budgeted(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rule_file(
        rules,
        "scalar",
        f"  hit: {{yaml: {{in: 'a.yml', key: name, matches: '{ALTERNATION}'}}}}\n",
    )
    rule_file(
        rules, "text", f"  hit: {{yaml: {{in: 'b.yml', key: name, contains: '{ALTERNATION}'}}}}\n"
    )
    source = repo(
        tmp_path / "r",
        {"a.yml": f"name: {HOSTILE}\n", "b.yml": f"name: x\nnote: {HOSTILE}\n"},
    )
    result = detect(rules, source)
    assert problems(result) == {
        "a.yml": [f"rule scalar regex timed out after {REGEX_TIMEOUT:g} s on a.yml"],
        "b.yml": [f"rule text regex timed out after {REGEX_TIMEOUT:g} s on b.yml"],
    }
    assert not result.facts


def test_a_regex_that_keeps_timing_out_is_not_run_on_the_rest_of_the_repository(
    tmp_path: Path,
) -> None:
    content_rule(tmp_path / "rules", "slow", ALTERNATION)
    files = {f"f{i}.txt": HOSTILE for i in range(REGEX_STRIKES + 3)}
    result = detect(tmp_path / "rules", repo(tmp_path / "r", files))
    reasons = [r for rs in problems(result).values() for r in rs]
    assert len(reasons) == len(files)  # every file says why it was not searched
    assert sum("timed out after" in r for r in reasons) == REGEX_STRIKES
    skipped = [r for r in reasons if "not run" in r]
    assert len(skipped) == 3
    assert skipped[0].endswith(f"it timed out on {REGEX_STRIKES} files of this repository")


def test_name_globs_cannot_backtrack(tmp_path: Path) -> None:
    """dependency/image/action/apiVersion globs become regexes through fnmatch.translate,
    which has matched stars without backtracking since Python 3.9: no budget needed."""
    stars = "*a" * 12 + "*b"
    rule_file(tmp_path / "rules", "img", f"  hit: {{image: '{stars}'}}\n")
    for name, image, found in (("miss", "a" * 3000, False), ("hit", "a" * 3000 + "b", True)):
        source = repo(tmp_path / name, {"Dockerfile": f"FROM {image}\n"})
        started = time.monotonic()
        result = detect(tmp_path / "rules", source)
        assert time.monotonic() - started < 20  # backtracking would take ~3000^12 steps
        assert (("probe.img", "hit") in {(f.dimension, f.value) for f in result.facts}) is found
        assert not result.problems


def test_shipped_regexes_find_what_re_found() -> None:
    """The `regex` module replaces `re` for rule regexes: every shipped pattern must give the
    same first match on the demo org's files (its syntax differs from `re` in a few corners)."""
    texts = []
    for path in sorted(DEMO_ORG.rglob("*")):
        if path.is_file() and path.stat().st_size < 65536:
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
    compared = 0
    for rule in load_ruleset().rules:
        for _value, condition in rule.detect:
            for signal in walk_signals(condition):
                patterns = (
                    [signal.regex]
                    if isinstance(signal, ContentSignal)
                    else [signal.contains]
                    if isinstance(signal, YamlSignal)
                    else []
                )
                for pattern in patterns:
                    if pattern is None:
                        continue
                    flags = pattern.compiled.flags & (regex.IGNORECASE | regex.MULTILINE)
                    plain = re.compile(pattern.pattern, flags)
                    for text in texts:
                        mine, theirs = pattern.search(text, timeout=5), plain.search(text)
                        assert (mine and mine.span()) == (theirs and theirs.span()), (
                            rule.id,
                            pattern.pattern,
                        )
                        compared += 1
    assert compared > 10_000


@pytest.mark.parametrize("pattern", [NESTED, ALTERNATION])
def test_scan_with_a_hostile_user_rule_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTSCAN_DB", raising=False)
    content_rule(tmp_path / "rules", "hang", pattern)
    repo(tmp_path / "odd", {"big.txt": HOSTILE, ".github/workflows/ci.yml": WORKFLOW})
    db = f"sqlite:///{tmp_path / 'd.db'}"
    args = ["scan", "--rules", "rules", "odd", "--db", db, "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scan"]["status"] == "complete"
    (odd,) = report["repos"]
    assert odd["status"] == "ok" and odd["complete"]
    expected = (
        []
        if pattern == NESTED
        else [f"rule hang regex timed out after {REGEX_TIMEOUT:g} s on big.txt"]
    )
    assert [p["reason"] for p in odd["problems"]] == expected
    dims = {d["dimension"] for d in report["dimensions"] if d.get("values")}
    assert "ci.system" in dims


def test_a_hostile_repository_cannot_hang_the_shipped_rules(tmp_path: Path) -> None:
    """ci-system's Azure stage-name patterns nest `\\w*` in `(...)+`: under `re` this one line
    took 20 s at 28 letters, doubling with each letter (this file: ~2^32 times longer)."""
    line = "  - stage: " + "a" * 60 + "!\n"
    source = repo(tmp_path / "r", {"pipelines.yml": "stages:\n" + line + "    jobs: []\n"})
    started = time.monotonic()
    result = detect_repo(CompiledRuleset.compile(load_ruleset()), source)
    assert time.monotonic() - started < 60
    # `regex` answers at once (its repeat guards): nothing to record, nothing invented
    assert result.status is RepoStatus.OK and not result.problems and not result.facts
