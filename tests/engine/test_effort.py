"""Duplicated effort on the demo org: the copy families and version drift it was built with
(fixtures/demo-org-labels.yaml `copies:` and `drift:`) are found, decoys are not."""

from __future__ import annotations

import yaml

from driftscan.collectors.local import DirSource
from driftscan.engine.analyse import divergence
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.effort import explain_differences, find_clusters, rank, version_drift
from driftscan.engine.infra import infra_files, normalise
from driftscan.models import RepoResult
from tests.conftest import DEMO_ORG, FIXTURES

LABELS = yaml.safe_load((FIXTURES / "demo-org-labels.yaml").read_text())
KIND = {
    "helm-chart": "helm-chart",
    "github-workflow": "github-workflow",
    "dockerfile": "dockerfile",
    "jenkinsfile": "jenkinsfile",
    "deploy-script": "deploy-script",
}


def demo(compiled: CompiledRuleset) -> dict[str, RepoResult]:
    return {
        p.name: detect_repo(compiled, DirSource(p))
        for p in sorted(DEMO_ORG.iterdir())
        if p.is_dir()
    }


def test_every_built_in_copy_family_is_one_cluster(compiled: CompiledRuleset) -> None:
    results = demo(compiled)
    clusters = find_clusters({name: r.infra for name, r in results.items()})
    for family in LABELS["copies"]:
        wanted = set(family["repos"])
        matching = [
            c for c in clusters if c.kind == KIND[family["kind"]] and wanted <= set(c.repos)
        ]
        assert matching, f"{family['name']}: no {family['kind']} cluster covers {sorted(wanted)}"
    python_docker = next(
        c for c in clusters if c.kind == "dockerfile" and "payments-api" in c.repos
    )
    assert "base-images" not in python_docker.repos  # a different file that shares a base image
    maven = next(c for c in clusters if c.kind == "jenkinsfile")
    assert "legacy-billing" not in maven.repos  # a different (Ruby) pipeline


def test_differences_against_the_canonical_variant(compiled: CompiledRuleset) -> None:
    results = demo(compiled)
    clusters = find_clusters({name: r.infra for name, r in results.items()})
    workflow = next(c for c in clusters if c.kind == "github-workflow" and len(c.repos) == 8)
    texts = {f.content_hash: f.text for r in results.values() for f in r.infra}
    explained = explain_differences(workflow, texts)
    assert explained.canonical.differing == 0
    assert all(v.differing > 0 and v.sample for v in explained.variants[1:])
    assert any("python-version" in line for v in explained.variants for line in v.sample)


def test_version_drift_matches_the_labels(compiled: CompiledRuleset) -> None:
    results = demo(compiled)
    spreads = {
        (s.kind, s.tool): dict(s.versions)
        for s in version_drift({n: r.versions for n, r in results.items()})
    }
    kinds = {"github-action": "action", "base-image": "base-image"}
    for item in LABELS["drift"]:
        kind = kinds.get(item["kind"])
        if kind is None:
            continue
        found = spreads[(kind, item["tool"])]
        for version, repos in item["versions"].items():
            assert set(repos) <= set(found[str(version)]), (item["tool"], version)
    assert {"~> 4.0", "~> 5.0"} <= set(spreads[("terraform-provider", "hashicorp/aws")])


def test_ranking_explains_its_scores(compiled: CompiledRuleset, ruleset) -> None:
    results = demo(compiled)
    clusters = find_clusters({n: r.infra for n, r in results.items()})
    drift = version_drift({n: r.versions for n, r in results.items()})
    ranked = rank(clusters, drift, divergence(ruleset.rules, list(results.values())))
    assert ranked[0].score >= ranked[-1].score
    assert {i.kind for i in ranked} == {"cluster", "drift", "divergence"}
    top = ranked[0]
    repos, variants, lines = (int(x.split()[0]) for x in top.explanation.split(";")[0].split(" x "))
    assert top.score == repos * variants * lines


def test_normalisation_drops_comments_spacing_and_the_repos_own_name() -> None:
    a = normalise(
        "ci.yml", "# build\nname:   payments-api\nrun: make   payments_api\n\n", "payments-api"
    )
    b = normalise(
        "ci.yml", "name: orders-api\n# other comment\nrun: make orders_api\n", "acme/orders-api"
    )
    assert a == b == ["name: <repo>", "run: make <repo>"]


def test_small_files_are_not_effort_and_charts_are_one_unit() -> None:
    texts = {
        "Dockerfile": "FROM scratch\n",
        "chart/templates/a.yaml": "kind: A\nx: 1\ny: 2\n",
        "chart/templates/b.yaml": "kind: B\n",
        "chart/Chart.yaml": "apiVersion: v2\n",
    }
    files = infra_files(texts, texts.get, "demo")
    assert [(f.kind, f.path) for f in files] == [("helm-chart", "chart")]
