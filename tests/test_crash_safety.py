"""Crash safety of `driftscan scan` in real processes: kill -9, SIGTERM and Ctrl-C at random
(seeded) moments of a parallel scan of 64 git repositories, and `--resume`.

Each scan runs in its own process group, as a shell runs a job, so that every process it
started can be found afterwards (and, on failure, cleaned up) by that group.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from driftscan.collectors.forge import RepoFilter
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.lifecycle import ScanInterrupted
from driftscan.models import RepoStatus
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store, _process_space
from driftscan.store.tables import ScanRow
from tests.conftest import DEMO_ORG, cli, make_git_repo
from tests.test_forge_invariant import MemoryForge

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

ORG_SIZE = 64
SALT = "crash-safety"
HANG_MARKER = "DRIFTSCAN_TEST_HANG"
# Loaded by every Python process of a scan (PYTHONPATH): a worker given the named repository
# says so in a file, then sleeps for ten minutes, like a clone that hangs.
SITECUSTOMIZE = f"""
import os
if os.environ.get("{HANG_MARKER}"):
    import time
    import driftscan.runner as runner

    _scan_one = runner.scan_one

    def scan_one(spec, *args):
        name, signal_file = os.environ["{HANG_MARKER}"].split(os.pathsep)
        if spec.location.endswith(name):
            open(signal_file, "w").close()
            time.sleep(600)
        return _scan_one(spec, *args)

    runner.scan_one = scan_one
"""


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 git repositories: the demo org's folders, each committed twice or thrice."""
    root = tmp_path_factory.mktemp("org")
    folders = sorted(p for p in DEMO_ORG.iterdir() if p.is_dir())
    for i in range(ORG_SIZE):
        folder = folders[i % len(folders)]
        make_git_repo(folder, root / f"r{i:02d}-{folder.name}")
    return root


@pytest.fixture(scope="module")
def reference(org: Path, ruleset: Ruleset, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The facts of an uninterrupted scan of the same org."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}")
    store.ensure_schema()
    outcome = run_scan(
        [str(org)], store, ruleset, ScanOptions(jobs=1, fingerprint_salt=SALT.encode())
    )
    assert outcome.status == "complete" and outcome.repos == ORG_SIZE
    return facts_of(store, outcome.scan_id)


def facts_of(store: Store, scan_id: int) -> dict[str, tuple[object, ...]]:
    return {
        r.name: (r.status, r.complete, tuple(sorted(r.facts, key=repr)))
        for r in store.load_scan(scan_id).repos
    }


class Scan:
    """`python -m driftscan scan ... -v` in a new session; standard error read by a thread,
    so that its end (every process holding the pipe gone) can be awaited with a timeout."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftscan", "scan", *args, "--format", "none", "-v"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._results: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if line.startswith("["):
                self._results.put(line)

    def wait_for_results(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(count):
            self._results.get(timeout=max(0.1, deadline - time.monotonic()))

    def end(self, timeout: float = 60) -> tuple[int, str]:
        """Exit code and standard error, once no process holds the pipe any more."""
        self._reader.join(timeout)
        assert not self._reader.is_alive(), "a process outlived the scan, holding its stderr"
        return self.proc.wait(timeout), "".join(self.lines)

    def group(self) -> list[str]:
        """The live processes of the scan's process group (zombies are dead)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
            if int(pgrp) == self.proc.pid and state not in "ZX":
                found.append(f"{entry.name} {cmdline[:120].decode(errors='replace')}")
        return found

    def survivors(self, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while (left := self.group()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def cleanup(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def scans() -> Iterator[list[Scan]]:
    started: list[Scan] = []
    yield started
    for scan in started:  # never leave a process behind, even when a test failed
        scan.cleanup()


def scan_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DRIFTSCAN_FINGERPRINT_SALT": SALT,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "COLUMNS": "300",
        **extra,
    }


def hanging_env(tmp_path: Path, org: Path, index: int, stuck: Path) -> dict[str, str]:
    """A scan environment in which the worker given the index-th repository (by name) says
    so in `stuck`, then hangs for ten minutes: the scan cannot finish before it is stopped."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    slow = sorted(p.name for p in org.iterdir())[index]
    return scan_env(
        tmp_path,
        PYTHONPATH=os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        **{HANG_MARKER: f"{slow}{os.pathsep}{stuck}"},
    )


def test_kill_9_at_random_moments_then_resume_equals_an_uninterrupted_scan(
    org: Path, reference: dict, tmp_path: Path, scans: list[Scan]
) -> None:
    db = f"sqlite:///{tmp_path / 'scans.db'}"
    env = scan_env(tmp_path)
    rng = random.Random(11)
    remaining, scan_id = ORG_SIZE, None
    for round_ in range(3):
        resume = ["--resume"] if round_ else []
        scan = Scan(str(org), "--db", db, "--jobs", "2", *resume, env=env)
        scans.append(scan)
        scan.wait_for_results(rng.randint(1, remaining // 2))
        scan.proc.kill()
        code, err = scan.end(timeout=15)
        assert code == -signal.SIGKILL
        assert scan.survivors() == [], "a worker outlived the killed scan"
        store = Store(db)
        shown = store.scans()
        assert len(shown) == 1 and shown[0].status == "interrupted", err
        assert scan_id in (None, shown[0].id)  # every --resume continues the same scan
        scan_id = shown[0].id
        done = {r.name for r in store.load_scan(scan_id).repos if r.status is RepoStatus.OK}
        remaining = ORG_SIZE - len(done)
        store.engine.dispose()
    final = Scan(str(org), "--db", db, "--jobs", "2", "--resume", env=env)
    scans.append(final)
    code, err = final.end(timeout=300)
    assert code == 0, err
    store = Store(db)
    assert [(s.id, s.status) for s in store.scans()] == [(scan_id, "complete")]
    assert facts_of(store, scan_id) == reference


def test_a_worker_stuck_in_a_repository_dies_with_the_killed_scan(
    org: Path, tmp_path: Path, scans: list[Scan]
) -> None:
    stuck = tmp_path / "stuck"
    env = hanging_env(tmp_path, org, 5, stuck)
    scan = Scan(str(org), "--db", f"sqlite:///{tmp_path / 'scans.db'}", "--jobs", "2", env=env)
    scans.append(scan)
    deadline = time.monotonic() + 120
    while not stuck.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stuck.exists(), "".join(scan.lines)
    scan.proc.kill()
    scan.end(timeout=15)  # nothing holds the caller's pipe any more
    assert scan.survivors() == []


@pytest.mark.parametrize(
    ("signum", "whole_group", "exit_code"),
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["SIGTERM", "SIGINT-to-the-group"],
)
def test_sigterm_and_ctrl_c_end_cleanly_with_one_line(
    org: Path,
    tmp_path: Path,
    scans: list[Scan],
    signum: signal.Signals,
    whole_group: bool,
    exit_code: int,
) -> None:
    db = f"sqlite:///{tmp_path / 'scans.db'}"
    # one late repository hangs, so the scan is still running when the signal comes (a scan
    # of 64 repositories can otherwise end before the test has read 30 progress lines)
    env = hanging_env(tmp_path, org, ORG_SIZE - 4, tmp_path / "stuck")
    scan = Scan(str(org), "--db", db, "--jobs", "2", env=env)
    scans.append(scan)
    scan.wait_for_results(random.Random(int(signum)).randint(5, 30))
    assert scan.proc.poll() is None  # still running: the signal stops a live scan
    # Ctrl-C in a terminal reaches every process of the foreground group: workers too.
    (os.killpg if whole_group else os.kill)(scan.proc.pid, signum)
    code, err = scan.end(timeout=60)
    assert code == exit_code, err
    assert "Traceback" not in err and "Error" not in err, err
    after = err.rstrip("\n").split("\n")
    while after and after[0].startswith("["):  # the -v progress lines
        after.pop(0)
    name = signal.Signals(signum).name
    assert len(after) == 1, err
    assert after[0].startswith(f"scan #1 interrupted by {name}; rerun with --resume"), err
    assert scan.survivors() == []
    store = Store(db)
    (shown,) = store.scans()
    assert shown.status == "incomplete"
    assert (shown.note or "").startswith(f"interrupted by {name}; rerun with --resume")
    stored = len(store.load_scan(shown.id).repos)
    assert f"({stored} of {ORG_SIZE} repositories stored)" in after[0]


def test_resume_is_refused_while_another_live_process_owns_the_scan(
    org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ruleset: Ruleset
) -> None:
    monkeypatch.setenv("DRIFTSCAN_FINGERPRINT_SALT", SALT)
    sources = [str(p) for p in sorted(org.iterdir())[:3]]
    db = f"sqlite:///{tmp_path / 'scans.db'}"
    store = Store(db)
    store.ensure_schema()
    scan_id = store.begin_scan(sources, ruleset.digest, "0")  # resumable: same rules
    store._beats.pop(scan_id).stop()  # the scan belongs to the process started below
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with store.engine.begin() as conn:
            conn.execute(
                update(ScanRow)
                .where(ScanRow.id == scan_id)
                .values(
                    owner=f"{_process_space()}:{live.pid}:token",
                    heartbeat_at=datetime.utcnow(),
                )
            )
        args = ("scan", *sources, "--resume", "--db", db, "--jobs", "1", "--format", "none")
        code, out = cli(*args)
        assert code == 2, out
        assert re.fullmatch(
            rf"error: scan #{scan_id} is still running in process {live.pid} on "
            rf"{re.escape(socket.gethostname())} \(heartbeat \d+s ago\): let it finish, or "
            r"stop it and run --resume again",
            out.strip(),
        ), out
    finally:
        live.kill()
        live.wait()
    code, out = cli(*args, "-q")  # its owner is dead now: the scan is taken over, finished
    assert code == 0, out
    assert [(s.id, s.status) for s in store.scans()] == [(scan_id, "complete")]
    assert len(store.load_scan(scan_id).repos) == 3


class StoppingForge(MemoryForge):
    """An in-memory forge whose third repository's blobs meet a signal or a bug."""

    def __init__(self, trouble: BaseException) -> None:
        super().__init__(names=[f"r{i}" for i in range(60)])
        self.trouble = trouble

    def read_blobs(self, wanted, max_size):  # type: ignore[no-untyped-def]
        if any(repo.full_name == "org/r30" for repo, _ in wanted):
            raise self.trouble
        return super().read_blobs(wanted, max_size)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_forge_scan_stopped_by_a_signal_is_incomplete_and_resumable(
    tmp_path: Path, ruleset: Ruleset, signum: signal.Signals
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'scans.db'}")
    store.ensure_schema()
    with pytest.raises(ScanInterrupted) as stopped:
        run_forge_scan(StoppingForge(ScanInterrupted(signum)), RepoFilter(), store, ruleset, "m")
    name = signal.Signals(signum).name
    assert stopped.value.exit_code == 128 + signum
    assert str(stopped.value) == (
        f"scan #1 interrupted by {name}; rerun with --resume to finish "
        "(25 of 60 repositories stored)"
    )
    (shown,) = store.scans()
    assert (shown.status, shown.note) == ("incomplete", str(stopped.value)[len("scan #1 ") :])
    resumed = run_forge_scan(
        MemoryForge([f"r{i}" for i in range(60)]),
        RepoFilter(),
        store,
        ruleset,
        "m",
        ForgeScanOptions(resume=True),
    )
    assert (resumed.scan_id, resumed.status, resumed.repos) == (1, "complete", 35)


def test_a_forge_scan_stopped_by_a_bug_is_failed_with_its_reason(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'scans.db'}")
    store.ensure_schema()
    with pytest.raises(ZeroDivisionError):
        run_forge_scan(StoppingForge(ZeroDivisionError("boom")), RepoFilter(), store, ruleset, "m")
    (shown,) = store.scans()
    assert (shown.status, shown.note) == (
        "failed",
        "failed: internal error ZeroDivisionError: boom",
    )
