"""Rule files: the shipped ones load; broken ones are rejected with file, line and reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from driftscan.cli.main import main
from driftscan.engine.paths import compile_glob
from driftscan.engine.rules import (
    BUILTIN_RULES_DIR,
    ContentSignal,
    RuleError,
    load_rule_file,
    load_ruleset,
    walk_signals,
)

BROKEN = Path(__file__).parent / "broken_rules"

# file -> (line, words the reason must contain)
EXPECTED_ERRORS = {
    "bad-yaml.yaml": (7, "invalid YAML"),
    "missing-detect.yaml": (1, "missing required key 'detect'"),
    "wrong-id.yaml": (1, "must equal the file name 'wrong-id'"),
    "unknown-key.yaml": (5, "unknown key 'detcet'"),
    "bad-regex.yaml": (7, "invalid regex"),
    "example-mismatch.yaml": (9, "does not match regex"),
    "two-heads.yaml": (7, "exactly one of"),
    "bad-glob.yaml": (6, "must not climb out"),
    "bad-ecosystem.yaml": (6, "unknown ecosystem 'pip'"),
    "bad-value-id.yaml": (6, "must be kebab-case"),
    "bad-dimension.yaml": (3, "must start with the category 'ci.'"),
    "empty-any.yaml": (7, "non-empty list"),
    "yaml-no-in.yaml": (7, "needs 'in: GLOB'"),
    "policy-unknown-value.yaml": (7, "names 'y', which 'detect' lacks"),
    "not-a-mapping.yaml": (1, "must be a mapping"),
    # globs (issue 11, item 6): each malformed one was accepted silently and matched nothing
    "glob-unclosed-bracket.yaml": (6, "has an unclosed '[' in '[unclosed'"),
    "glob-unbalanced-brace.yaml": (9, "has an unbalanced '{'"),
    "glob-stray-brace.yaml": (6, "has an unbalanced '}'"),
    "glob-empty-alternative.yaml": (6, "has an empty brace alternative"),
    "glob-empty-braces.yaml": (6, "has an empty brace alternative"),
    "glob-empty-segment.yaml": (6, "(alternative '/main.tf') has an empty path segment"),
    "glob-absolute.yaml": (9, "(alternative '/etc/passwd') must be a relative POSIX path"),
    "glob-climbs-in-braces.yaml": (10, "must not climb out of the repository"),
    "glob-yaml-in.yaml": (9, "has an unclosed '[' in '[a-z'"),
    "glob-too-many-stars.yaml": (6, "has more than 3 '*' in '*a*b*c*d.json'"),
    "glob-bad-range.yaml": (6, "bad character range z-a"),
    "regex-example-times-out.yaml": (9, "ran over 0.5 s on its example"),
    "exclude-beside-marker-path.yaml": (9, "marker is one file name glob, no '/'"),
    "exclude-beside-shape.yaml": (8, "'exclude_beside' takes {marker: FILE-NAME-GLOB, path: GLOB}"),
}
GLOB_FILES = sorted(name for name in EXPECTED_ERRORS if name.startswith("glob-"))


def test_every_broken_file_has_an_expectation() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED_ERRORS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_broken_rule_file_is_rejected_precisely(name: str) -> None:
    line, words = EXPECTED_ERRORS[name]
    with pytest.raises(RuleError) as info:
        load_rule_file(BROKEN / name)
    error = info.value
    assert error.path.endswith(name)
    assert words in error.reason
    assert error.line == line, str(error)
    assert str(error).startswith(f"{error.path}:{line}: ")


@pytest.mark.parametrize("name", GLOB_FILES)
def test_a_malformed_glob_stops_the_scan_with_file_line_reason(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFTSCAN_DB", raising=False)
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(BROKEN / name, rules / name)
    (tmp_path / "repo").mkdir()
    args = ["scan", "--rules", str(rules), str(tmp_path / "repo")]
    result = CliRunner().invoke(main, [*args, "--db", f"sqlite:///{tmp_path / 'd.db'}"])
    line, words = EXPECTED_ERRORS[name]
    assert result.exit_code == 2, result.output
    assert f"{rules / name}:{line}: glob " in result.stderr
    assert words in result.stderr


@pytest.mark.parametrize(
    "glob",
    ["**/*.{yml,yaml}", "{,[!.]*/}Tiltfile", "deploy{,/*}.rb", "**/[[]x", "[{]a,b[}]", "a[]]"],
)
def test_well_formed_globs_still_load(glob: str) -> None:
    compile_glob(glob)


def test_shipped_rules_load_with_unique_ids_and_dimensions() -> None:
    ruleset = load_ruleset()
    ids = [name for r in ruleset.rules for name in (r.id, *r.aliases)]
    assert len(ids) == len(set(ids))
    assert len(ruleset.dimensions) == len(set(ruleset.dimensions))
    assert {"ci.system"} <= set(ruleset.dimensions)


def test_every_content_example_matches_its_regex() -> None:
    for rule in load_ruleset().rules:
        for _value, condition in rule.detect:
            for signal in walk_signals(condition):
                if isinstance(signal, ContentSignal):
                    assert signal.regex.search(signal.example), (rule.id, signal.regex.pattern)


def test_user_rules_folder_adds_rules_and_its_errors_stop_the_load(tmp_path: Path) -> None:
    user = tmp_path / "rules" / "build"
    user.mkdir(parents=True)
    (user / "build-tool.yaml").write_text(
        "id: build-tool\ncategory: build\ndimension: build.tool\ntitle: Build tool\n"
        "detect:\n  make: {file: Makefile}\n  bazel: {file: '{WORKSPACE,MODULE.bazel}'}\n"
    )
    ruleset = load_ruleset([tmp_path / "rules"])
    assert ruleset.by_id("build-tool") is not None
    assert ruleset.digest != load_ruleset().digest
    shutil.copy(BROKEN / "two-heads.yaml", tmp_path / "rules" / "two-heads.yaml")
    with pytest.raises(RuleError, match=r"two-heads.yaml:7: a condition needs exactly one"):
        load_ruleset([tmp_path / "rules"])


def test_duplicate_rule_id_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    shutil.copy(BUILTIN_RULES_DIR / "ci" / "ci-system.yaml", tmp_path / "ci" / "ci-system.yaml")
    with pytest.raises(RuleError, match="already used by"):
        load_ruleset([tmp_path])


def test_missing_rules_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="rules folder does not exist"):
        load_ruleset([tmp_path / "nope"])


def test_digest_is_stable_and_changes_with_content(tmp_path: Path) -> None:
    assert load_ruleset().digest == load_ruleset().digest
    user = tmp_path / "r"
    user.mkdir()
    (user / "extra.yaml").write_text(
        "id: extra\ncategory: build\ndimension: build.extra\ntitle: t\ndetect:\n  a: {file: a}\n"
    )
    first = load_ruleset([user]).digest
    (user / "extra.yaml").write_text(
        "id: extra\ncategory: build\ndimension: build.extra\ntitle: t\ndetect:\n  a: {file: b}\n"
    )
    assert load_ruleset([user]).digest != first
