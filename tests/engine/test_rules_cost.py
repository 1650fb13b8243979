"""Cost meta-test: no shipped rule reads a repository's whole codebase ungated.

Source code (extract.is_source_code) is never fetched eagerly by forge scans: each file costs
one request when a rule reads it. A `content` signal over source code must therefore sit in an
`all:` after a cheap gate (a signal over manifests or configuration), which `all:` evaluates
first and which stops the evaluation when it does not hold.
"""

from __future__ import annotations

import re

from driftscan.engine.extract import CODE_EXTENSIONS, is_source_code
from driftscan.engine.paths import compile_glob, expand
from driftscan.engine.rules import (
    ActionSignal,
    AllOf,
    AnyOf,
    Condition,
    ContentSignal,
    DependencySignal,
    EnvSignal,
    FileSignal,
    ImageSignal,
    MetaSignal,
    Not,
    YamlSignal,
    load_ruleset,
)

CHEAP = (DependencySignal, FileSignal, YamlSignal, ImageSignal, ActionSignal, EnvSignal, MetaSignal)


def _samples(alternative: str) -> list[str]:
    """Concrete paths a brace-free glob may match: `**/` dropped, wildcards filled in, and
    a file name that is all wildcards (`*`, `*.*`) also tried as `x.<ext>` for every source
    code extension."""
    path = re.sub(r"(?:^|/)\*\*(?:/|$)", "/", alternative).strip("/") or "*"
    path = re.sub(r"\[!?(.)[^\]]*\]", r"\1", path)
    head, _, name = path.rpartition("/")
    prefix = f"{head.replace('*', 'x')}/" if head else ""
    out = [prefix + name.replace("*", "x").replace("?", "x")]
    before, star, after = name.rpartition("*")
    if star and not before.strip("*?."):  # `*`, `*.*`, `*.{ext}`; not `Dockerfile.*`
        stem = before.replace("*", "x").replace("?", "x")
        out += [f"{prefix}{stem}x.{ext}{after.replace('?', 'x')}" for ext in CODE_EXTENSIONS]
    return out


def reads_source_code(glob: str) -> bool:
    """Whether the glob can match source code files by a wildcard name (`**/*.py`). A named
    file (`**/serverless.ts`) costs one request per copy, like a manifest, and is allowed."""
    pattern = compile_glob(glob)
    return any(
        is_source_code(sample) and pattern.fullmatch(sample)
        for alternative in expand(glob)
        if re.search(r"[*?\[]", alternative.rpartition("/")[2])
        for sample in _samples(alternative)
    )


# Ungated content over code files confined to a folder that holds only that tool's
# configuration: a handful of files, not the codebase. (rule id, value, glob) -> why.
CONFINED = {
    ("ci-system", "teamcity", ".teamcity/**/*.kts"): "TeamCity's Kotlin DSL settings folder",
    ("deploy-method", "capistrano", "**/config/deploy{,/*}.rb"): "Capistrano's stage files",
    ("monitoring-stack", "appsignal", "**/config/*.exs"): "a mix project's config folder",
    ("secrets-handling", "ci-secrets", ".teamcity/**/*.{kts,xml}"): "TeamCity's settings folder",
    ("secrets-handling", "ci-secrets", "bamboo-specs/**/*.{yml,yaml,java}"): "Bamboo Specs",
    (
        "secrets-handling",
        "secret-scanning",
        "{.github/workflows/*.{yml,yaml},.gitlab-ci.yml,.circleci/config.yml,Jenkinsfile,"
        "azure-pipelines.yml,bitbucket-pipelines.yml,.buildkite/*.{yml,yaml},**/Makefile,"
        "**/*.sh,.husky/*}",
    ): "CI files, Makefiles, shell scripts and husky hooks: no general source code",
}


def _is_gate(condition: Condition) -> bool:
    if isinstance(condition, Not):
        return False
    if isinstance(condition, (AnyOf, AllOf)):
        return all(_is_gate(child) for child in condition.children)
    return isinstance(condition, CHEAP)


def ungated(condition: Condition, gated: bool = False) -> list[ContentSignal]:
    """Content signals over source code reached without a cheap gate holding first."""
    if isinstance(condition, ContentSignal):
        return [] if gated or not reads_source_code(condition.glob) else [condition]
    if isinstance(condition, Not):
        return ungated(condition.child, gated)
    if isinstance(condition, AnyOf):
        return [s for child in condition.children for s in ungated(child, gated)]
    if isinstance(condition, AllOf):
        out = []
        for child in condition.children:
            out += ungated(child, gated)
            gated = gated or _is_gate(child)
        return out
    return []


def test_glob_sampling() -> None:
    assert reads_source_code("**/*.{py,yaml}")
    assert reads_source_code("src/**/*.ts")
    assert reads_source_code("**/*")
    assert reads_source_code("app/*.*")
    assert not reads_source_code("**/sentry.{client,server}.config.{js,ts}")
    assert not reads_source_code("**/*.{yml,yaml}")
    assert not reads_source_code("**/{Dockerfile,Containerfile}{,.*}")
    assert not reads_source_code("**/build.gradle.kts")
    assert not reads_source_code("**/mix.exs")
    assert not reads_source_code("**/serverless.{ts,js}")  # named files: one request each


def test_the_check_sees_gates() -> None:
    content = ContentSignal("**/*.py", None, "x")  # type: ignore[arg-type]
    dep = DependencySignal("pypi", "sentry-sdk", re.compile("sentry-sdk"))
    assert ungated(AnyOf((dep, content))) == [content]
    assert ungated(AllOf((content, dep))) == [content]
    assert ungated(AllOf((dep, content))) == []
    assert ungated(AllOf((AnyOf((dep, FileSignal("**/x.cfg"))), content))) == []
    assert ungated(AllOf((Not(dep), content))) == [content]


def test_no_shipped_rule_reads_source_code_ungated() -> None:
    offenders = []
    for rule in load_ruleset().rules:
        for value, condition in rule.detect:
            for signal in ungated(condition):
                if (rule.id, value, signal.glob) not in CONFINED:
                    offenders.append(f"{rule.id} {value}: content in {signal.glob}")
    assert offenders == [], "gate these behind a dependency/file/yaml signal inside `all:`"
