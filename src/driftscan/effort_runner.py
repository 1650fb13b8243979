"""Assemble the duplicated-effort report of a stored scan (store -> engine -> report data)."""

from __future__ import annotations

from collections.abc import Sequence

from driftscan.engine.analyse import Divergence, divergence
from driftscan.engine.effort import (
    Cluster,
    explain_differences,
    find_clusters,
    rank,
    version_drift,
)
from driftscan.engine.policy import Policy, evaluate
from driftscan.engine.rules import Ruleset
from driftscan.models import Finding, ScanSummary
from driftscan.reports.effort import EffortReport
from driftscan.store.queries import Store

EXPLAINED_CLUSTERS = 50  # differing lines are computed for the clusters a report can show


def record_findings(
    store: Store,
    scan: ScanSummary,
    ruleset: Ruleset,
    policy: Policy | None,
    divergences: Sequence[Divergence] | None = None,
) -> list[Finding]:
    """Measure every repository against the policy (or the org norm) and store the findings.
    `divergences`: the scan's, when the caller has them already."""
    if divergences is None:
        divergences = divergence(ruleset.rules, scan.repos)
    findings = evaluate(ruleset.rules, scan.repos, divergences, policy)
    store.record_findings(scan.id, findings)
    return findings


def build_effort_report(
    store: Store, scan: ScanSummary, ruleset: Ruleset, policy: Policy | None = None
) -> EffortReport:
    material = store.effort_material(scan)
    names = {r.location: r.name for r in scan.repos}
    versions = {names[loc]: m[0] for loc, m in material.items() if loc in names}
    infra = {names[loc]: m[1] for loc, m in material.items() if loc in names}
    clusters = find_clusters(infra)
    shown = clusters[:EXPLAINED_CLUSTERS]
    texts = store.infra_texts([v.content_hash for c in shown for v in c.variants])
    explained = [_explain(c, texts) for c in shown]
    clusters = [c for c, _missing in explained] + clusters[EXPLAINED_CLUSTERS:]
    drift = version_drift(versions)
    divergences = divergence(ruleset.rules, scan.repos)
    # A view, computed in memory: only `scan` records findings, so a report against another
    # policy never rewrites the history that trends and "fixed since" are counted from.
    findings = evaluate(ruleset.rules, scan.repos, divergences, policy)
    owners = {r.name: (policy.owners_of(r) if policy else r.owners) for r in scan.repos}
    return EffortReport(
        scan=scan,
        ranked=rank(clusters, drift, divergences),
        divergences=divergences,
        drift=drift,
        clusters=clusters,
        owners=owners,
        findings=findings,
        policy=policy,
        unexplained=frozenset(h for _c, missing in explained for h in missing),
    )


def _explain(cluster: Cluster, texts: dict[str, str]) -> tuple[Cluster, tuple[str, ...]]:
    """The cluster with each variant's differing lines, and the variants left without them:
    those whose text, or the canonical one's, is not stored (migration 0009 purged texts that
    could hold credentials; each returns, redacted, when a repository carrying it is scanned
    again). Diffing against a missing text would call every line different."""
    canonical = cluster.canonical.content_hash
    missing = tuple(
        v.content_hash
        for v in cluster.variants[1:]
        if canonical not in texts or v.content_hash not in texts
    )
    diffed = explain_differences(cluster, texts)
    if not missing:
        return diffed, ()
    variants = tuple(
        original if original.content_hash in missing else computed
        for original, computed in zip(cluster.variants, diffed.variants, strict=True)
    )
    return Cluster(cluster.kind, variants), missing
