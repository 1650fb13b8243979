"""API cost of scanning a GitHub organisation: requests per repository, full and unchanged.

    python benchmarks/forge_cost.py                  # 1,000 repositories
    python benchmarks/forge_cost.py --repos 3000

The organisation is simulated with `responses` (no network): GitHub's GraphQL and REST
answers, shaped like the real ones, served from in-memory repositories of realistic shape
(services with workflows, Dockerfile, Helm chart or manifests, manifests of their language;
every 50th a deep monorepo). PyGithub does the talking, exactly as against github.com.
Reports requests per repository (GraphQL queries and REST calls together) for a full scan and
for an unchanged rescan, what a 10,000-repository organisation would cost, and the time.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import responses

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.collectors.fake_forges import GITLAB, FakeGitHub, FakeGitLab, ServedRepo

from driftscan.collectors.forge import RepoFilter
from driftscan.collectors.github import GitHubClient
from driftscan.collectors.gitlab import GitLabClient
from driftscan.engine.rules import load_ruleset
from driftscan.forge_runner import run_forge_scan
from driftscan.store.queries import Store

WORKFLOW = """on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make test
        env: {TOKEN: '${{ secrets.TOKEN }}'}
"""


class MemoryRepo(ServedRepo):
    """A repository held in memory: entries and blobs without git processes."""

    def __init__(self, full_name: str, files: dict[str, bytes]) -> None:
        super().__init__(full_name, Path("memory"))
        self.files = files
        self.blobs = {hashlib.sha1(data).hexdigest(): data for data in files.values()}
        self._head = hashlib.sha1(full_name.encode()).hexdigest()
        self._entries = self._build()

    @property
    def head(self) -> str | None:
        return self._head

    def _build(self) -> list[dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for path, data in self.files.items():
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                oid = hashlib.sha1(f"{self.full_name}:{folder}".encode()).hexdigest()
                entries.setdefault(
                    folder, {"path": folder, "mode": "040000", "type": "tree", "sha": oid}
                )
            entries[path] = {
                "path": path,
                "mode": "100644",
                "type": "blob",
                "sha": hashlib.sha1(data).hexdigest(),
                "size": len(data),
            }
        return sorted(entries.values(), key=lambda e: e["path"])

    def entries(self) -> list[dict[str, Any]]:
        return self._entries

    def blob(self, oid: str) -> bytes:
        return self.blobs[oid]


def service(rng: random.Random, name: str, prefix: str = "") -> dict[str, bytes]:
    files = {
        f"{prefix}.github/workflows/ci.yml": WORKFLOW.encode(),
        f"{prefix}Dockerfile": f"FROM python:3.{rng.choice((10, 12))}-slim\nCOPY . /app\n".encode(),
        f"{prefix}requirements.txt": rng.choice(
            (b"sentry-sdk\n", b"ddtrace\n", b"prometheus-client\n")
        ),
        f"{prefix}README.md": f"# {name}\n".encode(),
    }
    if rng.random() < 0.5:
        files[f"{prefix}chart/Chart.yaml"] = (
            f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n".encode()
        )
        files[f"{prefix}chart/templates/deployment.yaml"] = (
            b"kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        )
    else:
        files[f"{prefix}k8s/deployment.yaml"] = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n".encode()
        )
    for i in range(rng.randint(10, 40)):
        files[f"{prefix}src/{name.replace('-', '_')}/mod_{i}.py"] = f"VALUE = {i}\n".encode()
    return files


def build(count: int) -> list[ServedRepo]:
    rng = random.Random(3)
    repos: list[ServedRepo] = []
    for n in range(count):
        name = f"svc-{n:05d}"
        if n % 50 == 49:
            files: dict[str, bytes] = {}
            for s in range(30):
                files.update(service(rng, f"{name}-{s}", f"services/team-{s % 5}/svc-{s}/deploy/"))
        else:
            files = service(rng, name)
        repos.append(MemoryRepo(f"acme/{name}", files))
    return repos


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", type=int, default=1000)
    args = parser.parse_args()
    repos = build(args.repos)
    ruleset = load_ruleset()
    fake = FakeGitHub("acme", repos, page_size=100)
    with (
        tempfile.TemporaryDirectory() as tmp,
        responses.RequestsMock(assert_all_requests_are_fired=False) as rs,
    ):
        fake.install(rs)
        store = Store(f"sqlite:///{Path(tmp) / 'forge.db'}")
        store.ensure_schema()
        client = GitHubClient(org="acme", token="ghp_benchmark", max_wait=60)
        t0 = time.perf_counter()
        full = run_forge_scan(client, RepoFilter(), store, ruleset, "github:acme")
        full_seconds = time.perf_counter() - t0
        full_calls = dict(fake.calls)
        t1 = time.perf_counter()
        rescan = run_forge_scan(
            GitHubClient(org="acme", token="ghp_benchmark", max_wait=60),
            RepoFilter(),
            store,
            ruleset,
            "github:acme",
        )
        rescan_seconds = time.perf_counter() - t1
    rest, graphql = full_calls.get("rest", 0), full_calls.get("graphql", 0)
    total_full = rest + graphql
    total_rescan = fake.calls.get("rest", 0) + fake.calls.get("graphql", 0) - total_full
    per_repo = total_full / full.repos
    print(f"GitHub org of {args.repos} repositories ({full.errors} errors, status {full.status})")
    print(
        f"  full scan:       {total_full} requests = {per_repo:.3f}/repo "
        f"(GraphQL {graphql} with {full_calls.get('graphql-tree', 0)} aliased tree reads; "
        f"REST {rest}) "
        f"in {full_seconds:.1f}s"
    )
    print(
        f"  unchanged rescan: {total_rescan} requests = {total_rescan / rescan.repos:.4f}/repo "
        f"({rescan.reused} reused) in {rescan_seconds:.1f}s"
    )
    projected = per_repo * 10_000
    gitlab_cost(repos, ruleset)
    print(
        f"  GitHub, 10,000 repositories: ~{projected:.0f} requests for a full scan "
        f"(GraphQL points ~{graphql / full.repos * 10_000:.0f}, "
        f"REST ~{rest / full.repos * 10_000:.0f}); "
        f"an unchanged rescan ~{total_rescan / rescan.repos * 10_000:.0f}"
    )


def gitlab_cost(repos: list[ServedRepo], ruleset: Any) -> None:
    fake = FakeGitLab(
        "acme", [MemoryRepo(r.full_name, r.files) for r in repos if isinstance(r, MemoryRepo)]
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        responses.RequestsMock(assert_all_requests_are_fired=False) as rs,
    ):
        fake.install(rs)
        store = Store(f"sqlite:///{Path(tmp) / 'gitlab.db'}")
        store.ensure_schema()
        t0 = time.perf_counter()
        full = run_forge_scan(
            GitLabClient(group="acme", url=GITLAB, token="glpat-x"),
            RepoFilter(),
            store,
            ruleset,
            "gitlab:acme",
        )
        seconds = time.perf_counter() - t0
        calls = fake.calls["rest"] + fake.calls["graphql"]
        run_forge_scan(
            GitLabClient(group="acme", url=GITLAB, token="glpat-x"),
            RepoFilter(),
            store,
            ruleset,
            "gitlab:acme",
        )
        rescan = fake.calls["rest"] + fake.calls["graphql"] - calls
    print(
        f"  GitLab full scan: {calls} requests = {calls / full.repos:.3f}/repo "
        f"(REST {fake.calls['rest']}, GraphQL {fake.calls['graphql']}) in {seconds:.1f}s; "
        f"unchanged rescan {rescan / full.repos:.4f}/repo"
    )


if __name__ == "__main__":
    main()
