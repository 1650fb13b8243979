"""Score detection against hand-labelled public repositories (benchmarks/realworld/repos.yaml).

    python benchmarks/realworld/score.py --mirrors /path/to/checkouts [--labels F ...] [--details]

`--mirrors` is a folder holding a git repository (bare or work tree) per labelled repo, as
`owner+name/repo`, `owner+name`, `owner/name` or `name`; each is scanned at the labelled commit
(committed content only, like every driftscan scan). Nothing from those repositories is kept in
this project: only their names, commits and labels are. Prints precision and recall per
category over (repository, value) pairs, and with --details every miss and false positive with
its evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftscan.collectors.git import GitSource, find_git_dir
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.rules import load_ruleset
from driftscan.models import RepoResult

LABELS = Path(__file__).with_name("repos.yaml")
CATEGORIES = ("ci", "deploy", "secrets", "monitoring")


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def locate(mirrors: Path, repo: str) -> Path | None:
    owner, name = repo.split("/", 1)
    for candidate in (
        mirrors / f"{owner}+{name}" / "repo",
        mirrors / f"{owner}+{name}",
        mirrors / owner / name,
        mirrors / name,
    ):
        if candidate.is_dir() and find_git_dir(candidate) is not None:
            return candidate
    return None


def evidence_of(result: RepoResult, value: str) -> str:
    for fact in result.facts:
        if fact.value == value:
            return ", ".join(f"{e.path}:{e.line or ''}" for e in fact.evidence[:3])
    return ""


def score(
    mirrors: Path, labels: list[Path] | None = None, only_ids: set[str] | None = None
) -> tuple[dict[str, Tally], list[str]]:
    """Tallies per category; with `only_ids`, values outside it are neither expected nor
    counted (a set labelled against an older catalogue knows nothing of newer ids)."""
    entries: list[dict[str, Any]] = [
        entry for path in labels or [LABELS] for entry in yaml.safe_load(path.read_text())
    ]
    compiled = CompiledRuleset.compile(load_ruleset())
    tallies = {c: Tally() for c in CATEGORIES}
    skipped = []
    for entry in entries:
        path = locate(mirrors, entry["repo"])
        if path is None:
            skipped.append(f"{entry['repo']}: no checkout under {mirrors}")
            continue
        git_dir = find_git_dir(path)
        assert git_dir is not None
        source = GitSource(path, git_dir, entry["repo"], revision=entry["commit"])
        try:
            result = detect_repo(compiled, source)
        finally:
            source.close()
        if result.error:
            skipped.append(f"{entry['repo']}: {result.error}")
            continue
        by_category: dict[str, set[str]] = defaultdict(set)
        for fact in result.facts:
            by_category[fact.category].add(fact.value)
        for category in CATEGORIES:
            expected = set(entry["labels"].get(category) or [])
            got = by_category[category]
            if only_ids is not None:
                expected &= only_ids
                got = got & only_ids
            tally = tallies[category]
            tally.tp += len(expected & got)
            for value in sorted(got - expected):
                tally.fp += 1
                tally.false_positives.append(
                    f"{entry['repo']}: {value} ({evidence_of(result, value)})"
                )
            for value in sorted(expected - got):
                tally.fn += 1
                hint = (entry.get("evidence") or {}).get(value, "")
                tally.misses.append(f"{entry['repo']}: {value} (labelled from {hint})")
    return tallies, skipped


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument(
        "--labels",
        type=Path,
        action="append",
        help="repos.yaml (tuning set, the default), holdout.yaml or widened.yaml; repeatable",
    )
    parser.add_argument(
        "--only-ids",
        type=Path,
        help="score only these value ids (one per line): catalogue-v1.txt for sets labelled before"
        " issue 12",
    )
    parser.add_argument("--details", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    only_ids = None
    if args.only_ids:
        lines = args.only_ids.read_text().splitlines()
        only_ids = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    tallies, skipped = score(args.mirrors, args.labels, only_ids)
    if args.json:
        print(
            json.dumps(
                {
                    c: {
                        "precision": t.precision,
                        "recall": t.recall,
                        "tp": t.tp,
                        "fp": t.fp,
                        "fn": t.fn,
                        "f1": t.f1,
                    }
                    for c, t in tallies.items()
                },
                indent=2,
            )
        )
        return 0
    print(
        f"{'category':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}"
    )
    for category, t in tallies.items():
        print(
            f"{category:<12} {t.precision:>9.3f} {t.recall:>7.3f} {t.f1:>6.3f}"
            f" {t.tp:>4} {t.fp:>4} {t.fn:>4}"
        )
    for line in skipped:
        print(f"skipped: {line}")
    if args.details:
        for category, t in tallies.items():
            for line in t.false_positives:
                print(f"FP {category}: {line}")
            for line in t.misses:
                print(f"FN {category}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
