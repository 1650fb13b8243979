"""One hostile org per session: every case built once, scanned once through `run_scan` and
once through the `driftscan scan` command, among ordinary repositories."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from driftscan.engine.rules import Ruleset
from driftscan.models import RepoResult, ScanOutcome
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store
from tests.conftest import DEMO_ORG, ROOT, make_git_repo
from tests.hostile.builders import (
    STEPS,
    World,
    build_outside,
    commit_all,
    fast_import,
    write_tree,
)
from tests.hostile.cases import CASES, Case

# Ordinary repositories scanned before and after the hostile ones: their facts must come out
# exactly as in a scan without any hostile neighbour.
NORMAL_GIT = ("payments-api", "legacy-billing")
NORMAL_DIR = ("k8s-platform", "engineering-handbook")
SCAN_SECONDS = 90  # a hang (a FIFO opened, a bomb expanded) fails instead of blocking CI


class Hung(BaseException):
    """Not an Exception: the runner's per-repository `except Exception` must not absorb it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """SIGALRM interrupts even a blocking open() of a FIFO (PEP 475 runs the handler). It
    fires again every second, so that a `finally` that blocks too (waiting for a hung git
    process to exit) is interrupted in turn and the test fails instead of hanging."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the session builds and scans: in memory (/dev/shm) when there is one - creating
    20,000 files takes ~10 s on a busy disk and 0.4 s there - else pytest's temporary folder."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("hostile")
        return
    root = Path(tempfile.mkdtemp(prefix="driftscan-hostile-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def subfolder(parent: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


@pytest.fixture(scope="session")
def world(scratch: Path) -> World:
    root = subfolder(scratch, "world-")
    made = World(
        root, root / "repos", root / "outside", root / "markers", f"marker-{uuid.uuid4().hex}"
    )
    for folder in (made.repos, made.markers):
        folder.mkdir()
    build_outside(made)
    return made


def build_case(case: Case, world: World) -> Path:
    path = world.repos / case.id
    plain = {p: e for p, e in case.files.items() if isinstance(e, bytes)}
    if case.kind == "dir":
        write_tree(path, case.files, world)
        return path
    if len(plain) > 1_000:  # the committed tree is what git scans: no work tree needed
        fast_import(path, plain)
    else:
        write_tree(path, case.files, world)
        commit_all(path)
    for step in case.steps:
        path = STEPS[step](path, world, case.id) or path
    return path


def target(case: Case, path: Path) -> str:
    """What the scan is given: the folder, or for `url` cases a file:// URL (cloned)."""
    return path.as_uri() if case.kind == "url" else str(path)


@dataclass(frozen=True)
class Org:
    """The built repositories, in the order they are given to the scan."""

    world: World
    hostile: dict[str, str]  # case id -> what the scan is given: a path, or a file:// URL
    normal: tuple[Path, ...]

    @property
    def targets(self) -> list[str]:
        half = len(self.normal) // 2
        normal = [str(p) for p in self.normal]
        return [*normal[:half], *self.hostile.values(), *normal[half:]]


@pytest.fixture(scope="session")
def org(world: World) -> Org:
    normal = [make_git_repo(DEMO_ORG / name, world.root / "normal" / name) for name in NORMAL_GIT]
    normal += [DEMO_ORG / name for name in NORMAL_DIR]
    hostile = {case.id: target(case, build_case(case, world)) for case in CASES}
    return Org(world, hostile, (normal[0], normal[2], normal[1], normal[3]))


def facts(result: RepoResult) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((f.dimension, f.value) for f in result.facts))


@dataclass(frozen=True)
class ApiScan:
    outcome: ScanOutcome
    results: dict[str, RepoResult]  # by repository name (the folder's name)
    store: Store
    db: Path


@pytest.fixture(scope="session")
def baseline(org: Org, ruleset: Ruleset, scratch: Path) -> ApiScan:
    """The ordinary repositories scanned alone."""
    return scan_in([str(p) for p in org.normal], ruleset, subfolder(scratch, "baseline-"))


@pytest.fixture(scope="session")
def api_scan(org: Org, ruleset: Ruleset, scratch: Path) -> ApiScan:
    """Everything through run_scan in this process (jobs=1, so a hang is interruptible)."""
    return scan_in(org.targets, ruleset, subfolder(scratch, "api-"))


def scan_in(
    targets: list[str], ruleset: Ruleset, folder: Path, seconds: float = SCAN_SECONDS
) -> ApiScan:
    """run_scan into a new SQLite database in `folder`, bounded in time."""
    db = folder / "scans.db"
    store = Store(f"sqlite:///{db}")
    store.ensure_schema()
    with deadline(seconds):
        outcome = run_scan(targets, store, ruleset, ScanOptions(jobs=1, reuse=False))
    results = {r.name: r for r in store.load_scan(outcome.scan_id).repos}
    return ApiScan(outcome, results, store, db)


@dataclass(frozen=True)
class CliScan:
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    db: Path


@pytest.fixture(scope="session")
def cli_scan(org: Org, scratch: Path) -> CliScan:
    """Everything through `python -m driftscan scan` in its own process, two workers."""
    work = subfolder(scratch, "cli-")
    db, out = work / "scans.db", work / "report.json"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "PYTHONPATH": str(ROOT / "src"),
        "LANG": "C.UTF-8",
    }
    command = [sys.executable, "-m", "driftscan", "scan", *org.targets]
    command += ["--db", f"sqlite:///{db}", "--format", "json", "-o", str(out), "-j", "2"]
    # A session of its own: on a hang, the command and its worker processes die together.
    proc = subprocess.Popen(
        command,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=SCAN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise Hung(
            f"driftscan scan still running after {SCAN_SECONDS}s: {stderr[-2000:]}"
        ) from None
    report = json.loads(out.read_text()) if out.exists() else {}
    return CliScan(proc.returncode, stdout, stderr, report, db)
