"""`driftscan report effort`: where teams solve the same infrastructure problem separately.

Rendering only: the analysis is engine/effort.py. One screen of ranked sources first, then
divergence, version drift and clusters; terminal (rich), Markdown, JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftscan.engine.analyse import Divergence
from driftscan.engine.effort import Cluster, EffortItem, VersionSpread
from driftscan.engine.policy import Policy
from driftscan.models import Finding, Outcome, ScanSummary

EFFORT_SCHEMA = "driftscan/effort/v1"


@dataclass(frozen=True)
class EffortReport:
    scan: ScanSummary
    ranked: Sequence[EffortItem]
    divergences: Sequence[Divergence]
    drift: Sequence[VersionSpread]
    clusters: Sequence[Cluster]
    owners: dict[str, tuple[str, ...]]  # repository -> owners (CODEOWNERS, else the policy's map)
    findings: Sequence[Finding] = ()
    policy: Policy | None = None
    # content hashes of variants shown without differing lines: their text is not stored
    unexplained: frozenset[str] = frozenset()

    @property
    def note(self) -> str | None:
        """Why some variants have no differing lines, when some have none."""
        if not self.unexplained:
            return None
        return (
            f"{len(self.unexplained)} variant(s) shown without differing lines: their text was "
            "removed when the database was upgraded (stored texts could hold credentials) and "
            "comes back, redacted, when a repository carrying it is scanned again"
        )

    def golden_path(self, dimension: str) -> str:
        """What the policy prefers, or the org norm, or "no norm"."""
        declared = self.policy.for_dimension(dimension) if self.policy else None
        if declared is not None and declared.preferred:
            return f"{declared.preferred} (policy)"
        norms = {f.value for f in self.findings if f.dimension == dimension and f.kind == "norm"}
        if norms:
            return f"{sorted(norms)[0]} (norm)"
        if any(f.dimension == dimension and f.kind == "no-norm" for f in self.findings):
            return "no norm"
        return "policy" if declared is not None else "—"

    def teams_by_value(self, dimension: str) -> list[tuple[str, tuple[str, ...]]]:
        """Which teams use which value: several teams on several values is the same problem
        solved separately."""
        teams: dict[str, set[str]] = {}
        for repo in self.scan.repos:
            owners = [o for o in self.owners.get(repo.name, ()) if o.startswith("@")] or [
                "(no owner)"
            ]
            for value in repo.values(dimension):
                teams.setdefault(value, set()).update(owners)
        return sorted(
            ((v, tuple(sorted(t))) for v, t in teams.items()), key=lambda vt: (-len(vt[1]), vt[0])
        )

    def off_path(self, dimension: str) -> tuple[int, int]:
        """Repositories failing the policy or norm, and how many of those are waived."""
        failing = [
            f for f in self.findings if f.dimension == dimension and f.outcome is Outcome.FAIL
        ]
        repos = {f.repo for f in failing}
        waived = {f.repo for f in failing if f.waiver}
        return len(repos), len(waived)


def _teams(report: EffortReport, repos: Sequence[str]) -> str:
    teams = sorted({o for r in repos for o in report.owners.get(r, ()) if o.startswith("@")})
    return ", ".join(teams[:4]) + (f" +{len(teams) - 4}" if len(teams) > 4 else "")


def render_table(console: Console, report: EffortReport, top: int = 10) -> None:
    scan = report.scan
    console.print(
        Text(
            f"Duplicated infrastructure effort · scan #{scan.id} · {len(scan.repos)} repositories",
            style="bold",
        )
    )
    summary = Table(
        title="Top sources of duplicated effort",
        title_justify="left",
        show_edge=False,
        expand=False,
    )
    summary.add_column("#", justify="right")
    summary.add_column("what", overflow="fold", ratio=3)
    summary.add_column("score", justify="right")
    summary.add_column("why the score", overflow="fold", ratio=4)
    for i, item in enumerate(report.ranked[:top], 1):
        summary.add_row(
            str(i), Text(item.title), str(item.score), Text(item.explanation, style="dim")
        )
    console.print(summary)
    console.print()
    div = Table(title="Divergence per dimension", title_justify="left", show_edge=False)
    div.add_column("dimension", no_wrap=True)
    div.add_column("values", justify="right")
    div.add_column("dominant", no_wrap=True)
    div.add_column("entropy", justify="right")
    div.add_column("golden path", overflow="fold")
    div.add_column("off path (waived)", justify="right")
    for d in report.divergences:
        dominant = f"{d.dominant.value} {d.dominant_share:.0%}" if d.dominant else "—"
        off, waived = report.off_path(d.dimension)
        div.add_row(
            d.dimension,
            str(d.distinct),
            dominant,
            f"{d.entropy:.2f}",
            report.golden_path(d.dimension),
            f"{off} ({waived})",
        )
    console.print(div)
    console.print()
    teams = Table(title="Teams per approach", title_justify="left", show_edge=False)
    for column in ("dimension", "value", "teams"):
        teams.add_column(column, overflow="fold")
    for d in report.divergences:
        for value, owners in report.teams_by_value(d.dimension)[:4]:
            shown = ", ".join(owners[:6]) + (f" +{len(owners) - 6}" if len(owners) > 6 else "")
            teams.add_row(d.dimension, Text(value), Text(shown))  # literal: never rich markup
    console.print(teams)
    console.print()
    drift = Table(title="Version drift", title_justify="left", show_edge=False)
    for column in ("tool", "kind", "versions (repositories)"):
        drift.add_column(column, overflow="fold")
    for spread in report.drift[:top]:
        versions = ", ".join(f"{v} ({len(r)})" for v, r in spread.versions[:6])
        drift.add_row(Text(spread.tool), spread.kind, Text(versions))  # as written in files
    console.print(drift)
    console.print()
    clusters = Table(title="Copied infrastructure files", title_justify="left", show_edge=False)
    for column in (
        "kind",
        "copies / variants",
        "canonical",
        "repositories",
        "teams",
        "absorb with",
    ):
        clusters.add_column(column, overflow="fold")
    for cluster in report.clusters[:top]:
        canonical = cluster.canonical.copies[0]
        clusters.add_row(
            cluster.kind,
            f"{cluster.copies} / {len(cluster.variants)}",
            # names of files and repositories print literally, never as rich markup
            Text(f"{canonical.repo}:{canonical.path}"),
            Text(", ".join(cluster.repos)),
            Text(_teams(report, cluster.repos)),
            cluster.absorber,
        )
    console.print(clusters)
    if report.note:
        console.print(Text(report.note, style="dim"))


def as_dict(report: EffortReport) -> dict[str, Any]:
    return {
        "schema": EFFORT_SCHEMA,
        "scan": {
            "id": report.scan.id,
            "status": report.scan.status,
            "repos": len(report.scan.repos),
        },
        "ranked": [
            {
                "kind": i.kind,
                "title": i.title,
                "score": i.score,
                "explanation": i.explanation,
                "repos": i.repos,
            }
            for i in report.ranked
        ],
        "divergence": [
            {
                "dimension": d.dimension,
                "distinct": d.distinct,
                "dominant": d.dominant.value if d.dominant else None,
                "dominant_share": round(d.dominant_share, 4),
                "entropy": round(d.entropy, 4),
                "none": d.none,
                "values": {v.value: v.repos for v in d.values},
                "golden_path": report.golden_path(d.dimension),
                "teams": {v: list(t) for v, t in report.teams_by_value(d.dimension)},
                "off_path": report.off_path(d.dimension)[0],
                "waived": report.off_path(d.dimension)[1],
            }
            for d in report.divergences
        ],
        "findings": [
            {
                "dimension": f.dimension,
                "repo": f.repo,
                "value": f.value,
                "outcome": f.outcome.value,
                "kind": f.kind,
                "severity": f.severity,
                "message": f.message,
                "fingerprint": f.fingerprint,
                "waiver": f.waiver,
            }
            for f in report.findings
            if f.outcome is Outcome.FAIL
        ],
        "drift": [
            {"kind": s.kind, "tool": s.tool, "versions": {v: list(r) for v, r in s.versions}}
            for s in report.drift
        ],
        "clusters": [
            {
                "kind": c.kind,
                "score": c.score,
                "repos": list(c.repos),
                "copies": c.copies,
                "absorber": c.absorber,
                "teams": [t for t in _teams(report, c.repos).split(", ") if t],
                "variants": [
                    {
                        "content_hash": v.content_hash,
                        "lines": v.lines,
                        # null: not known, the text is not stored (see "notes")
                        "differing_lines": (
                            None if v.content_hash in report.unexplained else v.differing
                        ),
                        "sample": list(v.sample),
                        "copies": [{"repo": c2.repo, "path": c2.path} for c2 in v.copies],
                    }
                    for v in c.variants
                ],
            }
            for c in report.clusters
        ],
        "notes": [report.note] if report.note else [],
    }


def render_json(report: EffortReport) -> str:
    return json.dumps(as_dict(report), indent=2) + "\n"


def render_markdown(report: EffortReport, top: int = 10) -> str:
    lines = [
        f"# Duplicated infrastructure effort — scan #{report.scan.id}",
        "",
        "| # | what | score | why |",
        "|--:|---|--:|---|",
    ]
    for i, item in enumerate(report.ranked[:top], 1):
        lines.append(f"| {i} | {item.title} | {item.score} | {item.explanation} |")
    lines += ["", "## Version drift", "", "| tool | kind | versions |", "|---|---|---|"]
    for s in report.drift[:top]:
        lines.append(
            f"| {s.tool} | {s.kind} | "
            + ", ".join(f"{v} ({len(r)})" for v, r in s.versions[:6])
            + " |"
        )
    lines += [
        "",
        "## Copied infrastructure files",
        "",
        "| kind | copies / variants | repositories | absorb with |",
        "|---|--:|---|---|",
    ]
    for c in report.clusters[:top]:
        lines.append(
            f"| {c.kind} | {c.copies} / {len(c.variants)} | {', '.join(c.repos)} | {c.absorber} |"
        )
    if report.note:
        lines += ["", f"> {report.note}"]
    return "\n".join(lines) + "\n"


def render_csv(report: EffortReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "kind", "title", "score", "repos", "explanation"])
    for i, item in enumerate(report.ranked, 1):
        writer.writerow([i, item.kind, item.title, item.score, item.repos, item.explanation])
    return out.getvalue()
