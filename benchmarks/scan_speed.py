"""Local scan speed and memory on a synthetic org of realistic shape.

    python benchmarks/scan_speed.py                 # 1,000 git repositories, 2 workers
    python benchmarks/scan_speed.py --repos 250,500,1000 --jobs 2
    python benchmarks/scan_speed.py --plain         # plain folders instead of git repositories

The org: mostly small services (workflows, Dockerfile, Helm chart or manifests, manifests of
their language, 20-80 source files), every 50th a large monorepo (~5,000 files), every 10th
with a vendored tree (node_modules / vendor) that must be skipped or ignored. Reports repos/s,
peak RSS of the main process and of the workers, and time per phase measured in-process on a
sample (list, match, read, parse, detect, store).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from driftscan.collectors.base import discover, open_source
from driftscan.engine import detect as detect_mod
from driftscan.engine import yamldoc
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.rules import load_ruleset
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store

WORKFLOW = """name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v{checkout}
      - uses: actions/setup-python@v5
        with: {{python-version: "3.{py}"}}
      - run: pip install -r requirements.txt && pytest
      - uses: docker/login-action@v3
        with: {{password: "${{{{ secrets.REGISTRY_TOKEN }}}}"}}
"""
DOCKERFILE = """FROM python:3.{py}-slim AS build
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
FROM python:3.{py}-slim
COPY --from=build /app /app
CMD ["python", "-m", "app"]
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  annotations:
    vault.hashicorp.com/agent-inject: "true"
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/{name}:1.0
          env:
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: http://otel:4317
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  ports: [{{port: 80}}]
"""
HELM_TEMPLATE = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ include "app.fullname" . }}}}
spec:
  {{{{- if not .Values.autoscaling.enabled }}}}
  replicas: {{{{ .Values.replicaCount }}}}
  {{{{- end }}}}
"""
PY_SOURCE = """import logging

log = logging.getLogger(__name__)


def handler(event):
    return {{'ok': {i}}}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_service(root: Path, name: str, rng: random.Random) -> None:
    py = rng.choice((9, 11, 12))
    write(root / ".github/workflows/ci.yml", WORKFLOW.format(checkout=rng.choice((3, 4)), py=py))
    write(root / "Dockerfile", DOCKERFILE.format(py=py))
    write(
        root / "requirements.txt",
        rng.choice(("sentry-sdk==2.1\n", "ddtrace\n", "prometheus-client\n")) + "fastapi\nhvac\n",
    )
    write(root / "README.md", f"# {name}\n\nDeployed with Helm. Uses Jenkins for nothing.\n")
    if rng.random() < 0.5:
        write(root / "chart/Chart.yaml", f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
        write(root / "chart/templates/deployment.yaml", HELM_TEMPLATE)
        write(root / "chart/values.yaml", "replicaCount: 2\nimage: {repository: x, tag: y}\n")
    else:
        write(root / "k8s/deployment.yaml", DEPLOYMENT.format(name=name))
    for i in range(rng.randint(20, 80)):
        write(root / f"src/{name.replace('-', '_')}/mod_{i}.py", PY_SOURCE.format(i=i))


def make_monorepo(root: Path, name: str, rng: random.Random) -> None:
    for s in range(50):
        service = root / "services" / f"svc-{s}"
        make_service(service, f"{name}-{s}", rng)
        for i in range(100):
            write(service / f"pkg/file_{i}.go", f"package pkg\n\nconst N{i} = {i}\n")


def make_vendored(root: Path) -> None:
    for i in range(200):
        write(
            root / f"node_modules/lib{i}/package.json",
            f'{{"name": "lib{i}", "dependencies": {{"dd-trace": "1"}}}}',
        )
        write(root / f"vendor/github.com/x/y{i}/Jenkinsfile", "pipeline {}\n")


def git_commit(root: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for args in (["init", "-q"], ["add", "-A", "-f"], ["commit", "-qm", "synthetic"]):
        subprocess.run(
            ["git", "-c", "init.defaultBranch=main", *args], cwd=root, env=env, check=True
        )


def build_org(target: Path, count: int, git: bool, seed: int = 7) -> None:
    rng = random.Random(seed)
    for n in range(count):
        root = target / f"repo-{n:05d}"
        if n % 50 == 49:
            make_monorepo(root, root.name, rng)
        else:
            make_service(root, root.name, rng)
        if n % 10 == 3:
            make_vendored(root)
        if git:
            git_commit(root)


def peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


class PhaseTimer:
    """Wraps the engine's phases with timers for an in-process profile of a sample."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return func(*args, **kwargs)

        return timed


def profile_phases(org: Path, sample: int, max_file_size: int) -> dict[str, float]:
    timer = PhaseTimer()
    compiled = CompiledRuleset.compile(load_ruleset())
    original_parse = yamldoc.parse_documents
    original_match = compiled.matcher.match
    detect_mod.parse_documents = timer.wrap("parse", original_parse)  # type: ignore[assignment]
    object.__setattr__(compiled.matcher, "match", timer.wrap("match", original_match))
    results = []
    try:
        for spec in discover([str(org)])[:sample]:
            source = open_source(spec, max_file_size)
            with timer.phase("list"):
                source.list_files()
            listing = source.list_files()
            source.list_files = lambda listing=listing: listing  # type: ignore[method-assign]
            source.read = timer.wrap("read", source.read)  # type: ignore[method-assign]
            with timer.phase("total-detect"):
                results.append(detect_repo(compiled, source))
            source.close()
        store = Store("sqlite://")
        store.ensure_schema()
        scan_id = store.begin_scan([str(org)], "bench", "bench")
        with timer.phase("store"):
            store.record(scan_id, results, "bench")
    finally:
        detect_mod.parse_documents = original_parse  # type: ignore[assignment]
    seconds = dict(timer.seconds)
    seconds["detect"] = (
        seconds.pop("total-detect")
        - seconds.get("read", 0)
        - seconds.get("parse", 0)
        - seconds.get("match", 0)
    )
    return {k: v / max(1, len(results)) * 1000 for k, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", default="1000", help="comma-separated org sizes (default 1000)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="plain folders, not git repositories")
    parser.add_argument("--keep", type=Path, default=None, help="build the org here and keep it")
    parser.add_argument("--sample", type=int, default=200, help="repos profiled per phase")
    args = parser.parse_args()
    ruleset = load_ruleset()
    values = sum(len(r.detect) for r in ruleset.rules)
    kind = "plain folders" if args.plain else "git repositories"
    print(
        f"driftscan scan speed · {len(ruleset.rules)} rules · {values} values · "
        f"jobs={args.jobs} · {kind}"
    )
    for size in (int(s) for s in args.repos.split(",")):
        workdir = Path(tempfile.mkdtemp(prefix="driftscan-bench-"))
        org = (args.keep / f"org-{size}") if args.keep else workdir / "org"
        if not org.exists():
            t0 = time.perf_counter()
            build_org(org, size, git=not args.plain)
            print(f"  built {size} repositories in {time.perf_counter() - t0:.1f}s")
        targets = [str(p) for p in sorted(org.iterdir())] if args.plain else [str(org)]
        store = Store(f"sqlite:///{workdir / 'bench.db'}")
        store.ensure_schema()
        t0 = time.perf_counter()
        outcome = run_scan(targets, store, ruleset, ScanOptions(jobs=args.jobs, reuse=False))
        seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        rescan = run_scan(targets, store, ruleset, ScanOptions(jobs=args.jobs, reuse=True))
        rescan_seconds = time.perf_counter() - t1
        print(
            f"  {size:>6} repos: full scan {seconds:.1f}s = {outcome.repos / seconds:.0f} repos/s "
            f"({outcome.errors} errors); unchanged rescan {rescan_seconds:.1f}s "
            f"({rescan.reused} reused); "
            f"peak RSS main {peak_rss_mib(resource.RUSAGE_SELF):.0f} MiB, "
            f"largest worker {peak_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB; "
            f"db {(workdir / 'bench.db').stat().st_size / 1e6:.1f} MB"
        )
        phases = profile_phases(org, min(args.sample, size), 1 << 20)
        print(
            "  per repo (ms, in-process sample): "
            + ", ".join(f"{k} {v:.2f}" for k, v in sorted(phases.items()))
        )
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
