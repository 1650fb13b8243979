"""Divergence per dimension: which values the org uses, how widely, and how consistently."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from driftscan.engine.rules import Rule
from driftscan.models import RepoResult, RepoStatus

CORE_CATEGORIES = ("ci", "deploy", "secrets", "monitoring")


@dataclass(frozen=True)
class ValueShare:
    value: str
    repos: int
    share: float  # of the repositories that were seen


@dataclass(frozen=True)
class Divergence:
    dimension: str
    category: str
    title: str
    seen: int  # repositories scanned successfully
    values: tuple[ValueShare, ...]  # most used first
    none: int  # seen repositories with no value for this dimension
    unknown: int  # repositories that could not be seen (errors)

    @property
    def distinct(self) -> int:
        return len(self.values)

    @property
    def dominant(self) -> ValueShare | None:
        return self.values[0] if self.values else None

    @property
    def dominant_share(self) -> float:
        return self.values[0].share if self.values else 0.0

    @property
    def entropy(self) -> float:
        """Shannon entropy of the value distribution normalised to [0, 1]: 0 when every repo
        with a value uses the same one, 1 when values are spread evenly."""
        total = sum(v.repos for v in self.values)
        if len(self.values) < 2 or total == 0:
            return 0.0
        h = -sum((v.repos / total) * math.log(v.repos / total) for v in self.values)
        return h / math.log(len(self.values))


def report_order(rule: Rule) -> tuple[int, str]:
    """The four core categories in catalogue order, then every other dimension by name."""
    rank = CORE_CATEGORIES.index(rule.category) if rule.category in CORE_CATEGORIES else 99
    return rank, rule.dimension


def divergence(rules: Sequence[Rule], repos: Sequence[RepoResult]) -> list[Divergence]:
    seen = [r for r in repos if r.status is not RepoStatus.ERROR]
    unknown = len(repos) - len(seen)
    out = []
    for rule in sorted(rules, key=report_order):
        counts: Counter[str] = Counter()
        with_value = 0
        for repo in seen:
            values = set(repo.values(rule.dimension))
            counts.update(values)
            with_value += bool(values)
        shares = tuple(
            ValueShare(value, n, n / len(seen) if seen else 0.0)
            for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        out.append(
            Divergence(
                rule.dimension,
                rule.category,
                rule.title,
                len(seen),
                shares,
                len(seen) - with_value,
                unknown,
            )
        )
    return out


def values_by_category(
    repo: RepoResult, categories: Sequence[str] = CORE_CATEGORIES
) -> dict[str, tuple[str, ...]]:
    """The values a repository has per category, for one-line-per-repo views."""
    out: dict[str, set[str]] = {c: set() for c in categories}
    for fact in repo.facts:
        if fact.category in out:
            out[fact.category].add(fact.value)
    return {c: tuple(sorted(v)) for c, v in out.items()}
