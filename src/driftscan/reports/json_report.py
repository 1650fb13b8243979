"""The machine contract: `driftscan/report/v1` (docs/report-schema.json). Additions only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from driftscan import __version__
from driftscan.engine.analyse import Divergence
from driftscan.models import RepoResult, ScanSummary

SCHEMA_ID = "driftscan/report/v1"


def repo_dict(repo: RepoResult) -> dict[str, Any]:
    return {
        "name": repo.name,
        "location": repo.location,
        "head": repo.meta.head,
        "default_branch": repo.meta.default_branch,
        "status": repo.status.value,
        "error": repo.error,
        "reused": repo.reused,
        "complete": repo.complete,
        "owners": list(repo.owners),
        "archived": repo.meta.archived,
        "fork": repo.meta.fork,
        "topics": list(repo.meta.topics),
        "visibility": repo.meta.visibility,
        "pushed_at": repo.meta.pushed_at,
        "facts": [
            {
                "category": f.category,
                "dimension": f.dimension,
                "value": f.value,
                "evidence": [
                    {"path": e.path, "line": e.line, "signal": e.signal} for e in f.evidence
                ],
            }
            for f in sorted(repo.facts, key=lambda f: (f.dimension, f.value))
        ],
        "problems": [{"path": p.path, "reason": p.reason} for p in repo.problems],
    }


def divergence_dict(d: Divergence) -> dict[str, Any]:
    return {
        "dimension": d.dimension,
        "category": d.category,
        "title": d.title,
        "repos_seen": d.seen,
        "repos_unknown": d.unknown,
        "distinct": d.distinct,
        "values": [
            {"value": v.value, "repos": v.repos, "share": round(v.share, 4)} for v in d.values
        ],
        "none": {"repos": d.none, "share": round(d.none / d.seen, 4) if d.seen else 0.0},
        "dominant": d.dominant.value if d.dominant else None,
        "dominant_share": round(d.dominant_share, 4),
        "entropy": round(d.entropy, 4),
    }


def report_dict(scan: ScanSummary, divergences: Sequence[Divergence]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "driftscan", "version": __version__},
        "scan": {
            "id": scan.id,
            "started_at": scan.started_at,
            "finished_at": scan.finished_at,
            "status": scan.status,
            "ruleset_digest": scan.ruleset_digest,
            "sources": list(scan.sources),
            "note": scan.note,
            "repos_failed": scan.failed,
            "repos_partial": scan.partial,
        },
        "repos": [repo_dict(r) for r in scan.repos],
        "dimensions": [divergence_dict(d) for d in divergences],
    }


def render(scan: ScanSummary, divergences: Sequence[Divergence]) -> str:
    return json.dumps(report_dict(scan, divergences), indent=2, ensure_ascii=False) + "\n"
