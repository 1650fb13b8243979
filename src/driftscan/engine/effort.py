"""Duplicated infrastructure effort: version drift, near-duplicate clusters, divergent tools,
ranked by an effort score that says why it is high. Pure: inputs are scan results.

- **Drift**: one tool used at several versions (action refs, base images, Terraform and its
  providers, Helm charts, CI runtimes). Score = repositories x distinct versions.
- **Clusters**: infra files copied between repositories and drifting (MinHash + LSH find the
  candidates without comparing every pair; a networkx graph joins them into clusters).
  Score = repositories x variants x lines: every copy and every variant is a place where the
  same change must be made again.
- **Divergence**: several tools doing one job. Score = repositories off the dominant value x
  distinct values.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from driftscan.engine.analyse import Divergence
from driftscan.engine.infra import MINHASH_SCHEME, NUM_PERM
from driftscan.models import InfraFile, VersionUse

if TYPE_CHECKING:
    from datasketch import MinHash

SIMILARITY = 0.5  # estimated Jaccard of normalised line sets for two files to be copies

ABSORBERS = {
    "github-workflow": "a reusable workflow (`on: workflow_call`) or an org workflow template",
    "dockerfile": "a shared base image maintained by the platform team",
    "compose": "a shared compose file pulled in with `include:`",
    "jenkinsfile": "a Jenkins shared library step",
    "gitlab-ci": "a GitLab CI/CD component or `include:` template",
    "deploy-script": "one deploy tool or pipeline step owned by the platform team",
    "helm-chart": "a library chart (or one shared application chart)",
    "terraform-module": "a shared Terraform module",
}


JOBS = {
    "ci": "CI systems",
    "deploy": "deployment methods",
    "secrets": "ways of handling secrets",
    "monitoring": "monitoring tools",
}


@dataclass(frozen=True)
class VersionSpread:
    kind: str
    tool: str
    versions: tuple[tuple[str, tuple[str, ...]], ...]  # version -> repositories, most used first

    @property
    def repos(self) -> int:
        return len({r for _v, repos in self.versions for r in repos})

    @property
    def score(self) -> int:
        return self.repos * len(self.versions)


def version_drift(
    uses: Mapping[str, Sequence[VersionUse]], min_versions: int = 2
) -> list[VersionSpread]:
    """Tools seen at `min_versions` or more versions across repositories (repo -> uses)."""
    by_tool: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for repo, repo_uses in uses.items():
        for use in repo_uses:
            by_tool[(use.kind, use.tool)][use.version].add(repo)
    out = []
    for (kind, tool), versions in by_tool.items():
        if len(versions) < min_versions or len({r for rs in versions.values() for r in rs}) < 2:
            continue
        ordered = sorted(versions.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out.append(VersionSpread(kind, tool, tuple((v, tuple(sorted(rs))) for v, rs in ordered)))
    return sorted(out, key=lambda s: (-s.score, s.kind, s.tool))


@dataclass(frozen=True)
class Copy:
    repo: str
    path: str


@dataclass(frozen=True)
class Variant:
    content_hash: str
    copies: tuple[Copy, ...]
    lines: int
    differing: int = 0  # lines added or removed against the canonical variant
    sample: tuple[str, ...] = ()  # a few of those lines, `+`/`-` prefixed


@dataclass(frozen=True)
class Cluster:
    kind: str
    variants: tuple[Variant, ...]  # the canonical (most copied, most central) first

    @property
    def canonical(self) -> Variant:
        return self.variants[0]

    @property
    def repos(self) -> tuple[str, ...]:
        return tuple(sorted({c.repo for v in self.variants for c in v.copies}))

    @property
    def copies(self) -> int:
        return sum(len(v.copies) for v in self.variants)

    @property
    def lines(self) -> int:
        return self.canonical.lines

    @property
    def score(self) -> int:
        return len(self.repos) * len(self.variants) * self.lines

    @property
    def absorber(self) -> str:
        return ABSORBERS.get(self.kind, "one shared template")


def _minhash(signature: bytes) -> MinHash:
    from datasketch import MinHash  # on first use: datasketch brings scipy (~0.4 s)

    values = np.frombuffer(signature, dtype=np.uint32)
    return MinHash(num_perm=NUM_PERM, hashvalues=values, scheme=MINHASH_SCHEME)


def find_clusters(
    files: Mapping[str, Sequence[InfraFile]], similarity: float = SIMILARITY
) -> list[Cluster]:
    """Near-duplicate infra files across repositories (repo -> files). Identical texts are one
    node; LSH proposes similar nodes and the MinHash estimate confirms them; a union-find
    (networkx) joins confirmed pairs. Candidates already joined are not compared again, so a
    family of thousands of copies costs about one comparison per member, not one per pair.
    Sets spanning two or more repositories are clusters."""
    by_kind: dict[str, dict[str, list[tuple[str, InfraFile]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for repo, repo_files in files.items():
        for f in repo_files:
            by_kind[f.kind][f.content_hash].append((repo, f))
    from datasketch import MinHashLSH
    from networkx.utils import UnionFind  # clustering only: kept out of start-up

    clusters = []
    for kind, contents in by_kind.items():
        hashes = {h: _minhash(items[0][1].minhash) for h, items in contents.items()}
        lsh = MinHashLSH(threshold=similarity, num_perm=NUM_PERM)
        for content_hash, minhash in hashes.items():
            lsh.insert(content_hash, minhash)
        sets = UnionFind(hashes)
        for content_hash, minhash in hashes.items():
            for other in lsh.query(minhash):
                if (
                    sets[other] != sets[content_hash]
                    and minhash.jaccard(hashes[other]) >= similarity
                ):
                    sets.union(content_hash, other)
        for members in sets.to_sets():
            repos = {repo for h in members for repo, _f in contents[h]}
            if len(repos) < 2:
                continue
            canonical = _canonical(members, contents, hashes)
            ordered = [
                canonical,
                *sorted(
                    (h for h in members if h != canonical), key=lambda h: (-len(contents[h]), h)
                ),
            ]
            variants = tuple(
                Variant(
                    h,
                    tuple(
                        sorted(
                            (Copy(repo, f.path) for repo, f in contents[h]),
                            key=lambda c: (c.repo, c.path),
                        )
                    ),
                    contents[h][0][1].lines,
                )
                for h in ordered
            )
            clusters.append(Cluster(kind, variants))
    return sorted(clusters, key=lambda c: (-c.score, c.kind, c.canonical.content_hash))


CENTRALITY_SAMPLE = 24  # members each candidate is compared with when picking the canonical one


def _canonical(
    members: set[str],
    contents: Mapping[str, list[tuple[str, InfraFile]]],
    hashes: Mapping[str, MinHash],
) -> str:
    """The most copied variant; among equals, the one most similar to the others (a bounded,
    deterministic sample of them), so the canonical variant sits in the middle of the family."""
    ordered = sorted(members)
    most = max(len(contents[h]) for h in ordered)
    candidates = [h for h in ordered if len(contents[h]) == most][:CENTRALITY_SAMPLE]
    sample = ordered[:: max(1, len(ordered) // CENTRALITY_SAMPLE)][:CENTRALITY_SAMPLE]
    return max(
        candidates, key=lambda h: (sum(hashes[h].jaccard(hashes[o]) for o in sample if o != h), h)
    )


def explain_differences(cluster: Cluster, texts: Mapping[str, str], sample: int = 4) -> Cluster:
    """Each variant's differing lines against the canonical one (texts: content hash -> text)."""
    base = texts.get(cluster.canonical.content_hash, "").splitlines()
    variants = [cluster.canonical]
    for variant in cluster.variants[1:]:
        other = texts.get(variant.content_hash, "").splitlines()
        changed = [
            line
            for line in difflib.unified_diff(base, other, lineterm="", n=0)
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        ]
        variants.append(
            Variant(
                variant.content_hash,
                variant.copies,
                variant.lines,
                len(changed),
                tuple(changed[:sample]),
            )
        )
    return Cluster(cluster.kind, tuple(variants))


@dataclass(frozen=True)
class EffortItem:
    """One ranked source of duplicated effort, with the arithmetic behind its score."""

    kind: str  # cluster | drift | divergence
    title: str
    score: int
    explanation: str
    repos: int


def rank(
    clusters: Sequence[Cluster], drift: Sequence[VersionSpread], divergences: Sequence[Divergence]
) -> list[EffortItem]:
    items = [
        EffortItem(
            "cluster",
            f"{c.kind} copied into {len(c.repos)} repositories "
            f"({c.copies} copies, {len(c.variants)} variants)",
            c.score,
            f"{len(c.repos)} repos x {len(c.variants)} variants x {c.lines} lines; "
            f"absorb with {c.absorber}",
            len(c.repos),
        )
        for c in clusters
    ]
    items += [
        EffortItem(
            "drift",
            f"{s.tool} at {len(s.versions)} versions ({s.kind})",
            s.score,
            f"{s.repos} repos x {len(s.versions)} versions: "
            + ", ".join(f"{v} ({len(r)})" for v, r in s.versions[:5]),
            s.repos,
        )
        for s in drift
    ]
    for d in divergences:
        if d.distinct < 2 or d.dominant is None:
            continue
        off_norm = d.seen - d.none - d.dominant.repos
        if off_norm <= 0:
            continue
        items.append(
            EffortItem(
                "divergence",
                f"{d.distinct} {JOBS.get(d.category, 'values')} in use ({d.dimension})",
                off_norm * d.distinct,
                f"{off_norm} repos off the dominant {d.dominant.value} x {d.distinct} values: "
                + ", ".join(f"{v.value} ({v.repos})" for v in d.values[:6]),
                off_norm,
            )
        )
    return sorted(items, key=lambda i: (-i.score, i.kind, i.title))
