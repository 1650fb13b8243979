"""Clustering cost of the duplicated-effort analysis on a large synthetic organisation.

    python benchmarks/effort_scale.py               # 10,000 repositories
    python benchmarks/effort_scale.py --repos 2000

Each repository gets ~5 infra files (workflow, Dockerfile, compose, deploy script, Helm chart)
drawn from a few dozen templates per kind, with the edits real copies get (versions bumped,
steps added or dropped, names changed) and a share of one-off files. Reports the time to
normalise and sign the files (done at scan time), the clustering time, the clusters found and
the peak memory. Targets: clustering < 60 s and < 1 GiB for 10,000 repositories.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from driftscan.engine.effort import find_clusters
from driftscan.engine.infra import infra_files
from driftscan.models import InfraFile

KINDS = {
    "ci.yml": ".github/workflows/ci.yml",
    "Dockerfile": "Dockerfile",
    "compose": "docker-compose.yml",
    "deploy": "deploy.sh",
    "chart": "chart/templates/deployment.yaml",
}


WORDS = [
    "build",
    "test",
    "lint",
    "deploy",
    "push",
    "pull",
    "cache",
    "restore",
    "login",
    "scan",
    "sign",
    "publish",
    "notify",
    "migrate",
    "seed",
]


def template(kind: str, rng: random.Random) -> list[str]:
    """A family's own vocabulary (numbers would be folded away by the signature)."""
    words = rng.sample(WORDS, 6)
    tag = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
    body = [f"name: {kind}-{tag}"]
    for _ in range(rng.randint(12, 60)):
        a, b, c = rng.choice(words), rng.choice(words), rng.choice(WORDS)
        body.append(f"{a}-{tag}: run {b} --{c} {rng.choice(words)}-{tag}")
    return body


def mutate(lines: list[str], name: str, rng: random.Random) -> str:
    out = [line.replace("task", f"{name}-task") if rng.random() < 0.1 else line for line in lines]
    for _ in range(rng.randint(0, 3)):
        out.insert(rng.randrange(len(out)), f"extra: {rng.random():.6f}")
    if rng.random() < 0.3 and len(out) > 5:
        del out[rng.randrange(len(out))]
    return "\n".join(out) + "\n"


def build(count: int, seed: int = 11) -> dict[str, tuple[InfraFile, ...]]:
    rng = random.Random(seed)
    templates = {k: [template(k, rng) for _ in range(30)] for k in KINDS}
    org = {}
    for n in range(count):
        name = f"svc-{n:05d}"
        texts = {}
        for kind, path in KINDS.items():
            if rng.random() < 0.15:
                continue  # not every repository has every kind
            # a one-off file for one in five, else a copy of a family's template
            lines = template(kind, rng) if rng.random() < 0.2 else rng.choice(templates[kind])
            texts[path] = mutate(lines, name, rng)
        org[name] = infra_files(texts, texts.get, name)
    return org


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    org = build(args.repos)
    files = sum(len(f) for f in org.values())
    signing = time.perf_counter() - t0
    t1 = time.perf_counter()
    clusters = find_clusters(org)
    clustering = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.repos} repositories, {files} infra files")
    print(
        f"  normalise + MinHash (scan time, all files): {signing:.1f}s = "
        f"{signing / files * 1000:.2f} ms/file"
    )
    print(
        f"  clustering: {clustering:.1f}s, {len(clusters)} clusters, "
        f"largest {max((len(c.repos) for c in clusters), default=0)} repos"
    )
    print(f"  peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
