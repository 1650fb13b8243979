"""Markdown (GitHub-flavoured) of the same report: for job summaries, wikis and PR comments."""

from __future__ import annotations

from collections.abc import Sequence

from driftscan.engine.analyse import CORE_CATEGORIES, Divergence, values_by_category
from driftscan.models import RepoStatus, ScanSummary


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(scan: ScanSummary, divergences: Sequence[Divergence]) -> str:
    lines = [
        f"# driftscan report — scan #{scan.id}",
        "",
        f"Status **{scan.status}** · started {scan.started_at} · {len(scan.repos)} repositories"
        + (f" ({scan.failed} could not be scanned)" if scan.failed else "")
        + (f" ({scan.partial} partly read)" if scan.partial else "")
        + f" · ruleset `{scan.ruleset_digest[:8]}`",
        "",
    ]
    for d in divergences:
        lines += [
            f"## {d.title} (`{d.dimension}`)",
            "",
            "| value | repos | share |",
            "|---|--:|--:|",
        ]
        lines += [f"| {v.value} | {v.repos} | {v.share:.0%} |" for v in d.values]
        if d.seen:
            lines.append(f"| *(none)* | {d.none} | {d.none / d.seen:.0%} |")
        if d.unknown:
            lines.append(f"| *(unknown)* | {d.unknown} | |")
        dominant = (
            f"dominant `{d.dominant.value}` {d.dominant_share:.0%}"
            if d.dominant
            else "no value seen"
        )
        lines += ["", f"{d.distinct} distinct · {dominant} · entropy {d.entropy:.2f}", ""]
    lines += [
        "## Repositories",
        "",
        "| repository | " + " | ".join(CORE_CATEGORIES) + " | notes |",
        "|---|" + "---|" * len(CORE_CATEGORIES) + "---|",
    ]
    for repo in scan.repos:
        columns = values_by_category(repo)
        note = (
            f"error: {repo.error}"
            if repo.status is RepoStatus.ERROR
            else (f"{len(repo.problems)} problem(s)" if repo.problems else "")
        )
        cells = [", ".join(columns[c]) or "—" for c in CORE_CATEGORIES]
        lines.append("| " + " | ".join(_cell(c) for c in [repo.name, *cells, note]) + " |")
    return "\n".join(lines) + "\n"
