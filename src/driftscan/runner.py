"""Runs a scan: discover sources, detect in parallel worker processes, stream into the store.

Results are written in small batches as they arrive, so memory stays flat however large the
org. Nothing is left looking alive or complete when it is not:
- SIGINT and SIGTERM stop the scan cleanly: what finished is stored, the scan is `incomplete`
  and `--resume` finishes it; workers ignore both signals (the scan process handles them).
- Workers die with the scan process, even a `kill -9` of it (PR_SET_PDEATHSIG on Linux, and a
  watchdog thread everywhere), so none is left running or holding the caller's pipes.
- Any other failure marks the scan `failed` with a one-line reason; a process that dies
  without a word leaves a lease that lapses, shown as `interrupted` (store/queries.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from driftscan import __version__
from driftscan.collectors.base import SourceSpec, discover, open_source
from driftscan.collectors.git import redact_url
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.engine.rules import Ruleset
from driftscan.lifecycle import (
    interrupt_signals,
    stop_failed,
    stop_interrupted,
    unanswered_note,
)
from driftscan.models import ReadError, RepoMeta, RepoResult, RepoStatus, ScanOutcome, Unanswered
from driftscan.pathnames import escape_name
from driftscan.store.queries import KnownHead, Store, StoreError

BATCH_SIZE = 50
BATCH_SECONDS = 2.0


@dataclass(frozen=True)
class ScanOptions:
    jobs: int = 0  # 0: one worker per core
    max_file_size: int = 1 << 20
    reuse: bool = True  # reuse stored facts of repositories whose head is unchanged
    fingerprint_salt: bytes = b"driftscan"
    resume: bool = False  # finish the last stopped scan of the same sources


Progress = Callable[[RepoResult, int, int], None]  # result, done, total

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCHDOG_SECONDS = 0.5


# Worker-process state, set once per process by _init_worker.
_worker_compiled: CompiledRuleset | None = None
_worker_options: ScanOptions | None = None


def _init_worker(compiled: CompiledRuleset, options: ScanOptions, parent: int) -> None:
    global _worker_compiled, _worker_options
    # Ctrl-C reaches the whole process group. Only the scan process acts on it (and on
    # SIGTERM): a worker stopped mid-answer made the parent print an UnpicklingError.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with(parent)
    _worker_compiled = compiled
    _worker_options = options


def _die_with(parent: int) -> None:
    """A worker never outlives the scan process, however that ends (`kill -9` included):
    the Linux kernel kills it when its parent dies, and a watchdog thread exits it once its
    parent changed (any platform, or a kernel without prctl)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the watchdog still works
            pass
    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCHDOG_SECONDS)
    os._exit(1)


def scan_one(
    spec: SourceSpec, previous_head: str | None, compiled: CompiledRuleset, options: ScanOptions
) -> RepoResult:
    """Detect one repository. Never raises: every failure becomes an error result."""
    source = open_source(spec, options.max_file_size)
    try:
        if previous_head is not None:
            meta = source.meta()
            if meta.head == previous_head:
                return RepoResult(source.name, source.location, meta, RepoStatus.OK, reused=True)
        return detect_repo(
            compiled, source, DetectOptions(options.max_file_size, options.fingerprint_salt)
        )
    except ReadError as exc:
        return RepoResult(
            source.name,
            source.location,
            RepoMeta(),
            RepoStatus.ERROR,
            error=str(exc),
            unanswered=isinstance(exc, Unanswered),
        )
    except Exception as exc:  # a bug must cost one repository, not the scan
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return RepoResult(
            source.name,
            source.location,
            RepoMeta(),
            RepoStatus.ERROR,
            error=f"internal error {type(exc).__name__} at {Path(where.filename).name}:"
            f"{where.lineno}: {exc}",
        )
    finally:
        source.close()


def _scan_in_worker(spec: SourceSpec, previous_head: str | None) -> RepoResult:
    assert _worker_compiled is not None and _worker_options is not None
    return scan_one(spec, previous_head, _worker_compiled, _worker_options)


def _unchanged(spec: SourceSpec, previous_head: str, options: ScanOptions) -> RepoResult | None:
    """A reused result when a local git repository's HEAD is still the stored one. Reading
    HEAD costs a few file reads, so an unchanged org is checked without any worker."""
    source = open_source(spec, options.max_file_size)
    try:
        meta = source.meta()
    except ReadError:
        return None  # let the worker record the precise error
    finally:
        source.close()
    if meta.head != previous_head:
        return None
    return RepoResult(source.name, source.location, meta, RepoStatus.OK, reused=True)


def _reused(
    tasks: Sequence[tuple[SourceSpec, str | None]], options: ScanOptions, todo: list[Task]
) -> Iterator[RepoResult]:
    """Results of the repositories whose HEAD is unchanged; the rest go to `todo`."""
    for spec, head in tasks:
        reused = _unchanged(spec, head, options) if head and spec.kind == "git" else None
        if reused is not None:
            yield reused
        else:
            todo.append((spec, head))


Task = tuple[SourceSpec, "str | None"]


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread for a moment. A worker spawned meanwhile
    inherits the mask through exec and so never sees them, even before its initializer runs:
    a Ctrl-C to the process group while a worker starts up would otherwise print that
    worker's traceback. Here they are only deferred: delivered when the mask is restored."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX: workers rely on the initializer
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Workers:
    """Worker processes (spawn: they start clean, without inherited locks or database
    connections) with bounded in-flight work, stopped for good when a scan ends early."""

    def __init__(self, jobs: int, compiled: CompiledRuleset, options: ScanOptions) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(compiled, options, os.getpid()),
        )
        self._limit = jobs * 8  # bounded in-flight work keeps memory flat
        self._pending: set[Future[RepoResult]] = set()
        self._ready: list[Future[RepoResult]] = []

    def results(self, tasks: Iterable[Task]) -> Iterator[RepoResult]:
        for spec, head in tasks:
            with _signals_deferred():  # a submit may spawn a worker
                future = self._pool.submit(_scan_in_worker, spec, head)
            self._pending.add(future)
            if len(self._pending) >= self._limit:
                yield from self._collect()
        while self._pending or self._ready:
            yield from self._collect()

    def _collect(self) -> Iterator[RepoResult]:
        if not self._ready:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            self._ready.extend(done)
        while self._ready:
            yield self._ready.pop().result()

    def finished(self) -> list[RepoResult]:
        """Results that arrived but were not taken yet (kept when the scan is interrupted)."""
        done = [f for f in (*self._ready, *self._pending) if f.done() and not f.cancelled()]
        self._ready, self._pending = [], set()
        return [f.result() for f in done if f.exception() is None]

    def close(self, abort: bool) -> None:
        if not abort:
            self._pool.shutdown(wait=True)
            return
        # Cancel what has not started and kill the workers now: a shutdown that waits would
        # finish every queued repository first (minutes on a large org) after a Ctrl-C.
        processes = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        for process in processes:
            process.join(timeout=5)


class _Recorder:
    """Results into the store in batches; counts what was stored, as it was stored."""

    def __init__(
        self, store: Store, scan_id: int, digest: str, known: dict[str, KnownHead]
    ) -> None:
        self.store, self.scan_id, self.digest, self.known = store, scan_id, digest, known
        self.batch: list[RepoResult] = []
        self.last_flush = time.monotonic()
        self.done = self.stored = self.errors = self.reused = self.partial = 0
        self.unanswered: list[RepoResult] = []  # stored, but git gave no answer for part

    def take(self, result: RepoResult) -> None:
        self.done += 1
        self.batch.append(result)

    def flush(self, force: bool = False) -> None:
        due = len(self.batch) >= BATCH_SIZE or time.monotonic() - self.last_flush > BATCH_SECONDS
        if not (force or due):
            return
        # Cleared only once written: a batch cut short by an interrupt is written again
        # (the store replaces a repository's row in a scan, so that is harmless).
        stored = self.store.record(self.scan_id, self.batch, self.digest, self.known)
        self.batch, self.last_flush = [], time.monotonic()
        for result in stored:
            self.stored += 1
            self.errors += result.status is RepoStatus.ERROR
            self.partial += result.status is not RepoStatus.ERROR and not result.complete
            self.reused += result.reused
            if result.unanswered:
                self.unanswered.append(result)


def run_scan(
    targets: Sequence[str],
    store: Store,
    ruleset: Ruleset,
    options: ScanOptions | None = None,
    progress: Progress | None = None,
    specs: Sequence[SourceSpec] | None = None,
) -> ScanOutcome:
    options = options or ScanOptions()
    started = time.monotonic()
    specs = list(specs) if specs is not None else discover(targets)
    compiled = CompiledRuleset.compile(ruleset)
    known: dict[str, KnownHead] = store.known_heads(ruleset.digest) if options.reuse else {}
    # A typed folder name may hold any bytes: store its text form (pathnames), like locations.
    sources = [escape_name(redact_url(t)) for t in targets]
    with interrupt_signals():
        resumed = store.resumable_scan(sources, ruleset.digest) if options.resume else None
        scan_id, finished = resumed or (
            store.begin_scan(sources, ruleset.digest, __version__),
            set(),
        )
        tasks = [
            (spec, known[spec.location].head if spec.location in known else None)
            for spec in specs
            if spec.location not in finished
        ]
        recorder = _Recorder(store, scan_id, ruleset.digest, known)
        status = _scan(tasks, compiled, options, recorder, progress)
    return ScanOutcome(
        scan_id,
        recorder.done,
        recorder.errors,
        recorder.reused,
        status,
        time.monotonic() - started,
        recorder.partial,
    )


def _scan(
    tasks: list[Task],
    compiled: CompiledRuleset,
    options: ScanOptions,
    recorder: _Recorder,
    progress: Progress | None,
) -> str:
    """Run the tasks into the scan and finish it; every way out leaves a true status."""
    store, scan_id = recorder.store, recorder.scan_id
    workers: _Workers | None = None
    completed = False

    def take(result: RepoResult) -> None:
        recorder.take(result)
        if progress is not None:
            progress(result, recorder.done, len(tasks))
        recorder.flush()

    try:
        todo: list[Task] = []
        for result in _reused(tasks, options, todo):
            take(result)
        jobs = options.jobs or os.cpu_count() or 1
        if jobs > 1 and len(todo) >= 8:
            workers = _Workers(jobs, compiled, options)
            for result in workers.results(todo):
                take(result)
        else:
            for spec, head in todo:
                take(scan_one(spec, head, compiled, options))
        recorder.flush(force=True)
        completed = True
    except KeyboardInterrupt as exc:
        if workers is not None:  # stop them first: nothing may arrive after the harvest
            workers.close(abort=True)
            recorder.batch += workers.finished()
            workers = None
        with suppress(StoreError):  # what cannot be stored now is read again on --resume
            recorder.flush(force=True)
        raise stop_interrupted(store, scan_id, exc, recorder.stored, len(tasks)) from None
    except Exception as exc:
        stop_failed(store, scan_id, exc)
        raise
    finally:
        if workers is not None:
            workers.close(abort=not completed)
    if recorder.unanswered:  # a git that hung on a repository: what it holds is unknown
        store.finish_scan(scan_id, "incomplete", unanswered_note(recorder.unanswered, "git"))
        return "incomplete"
    store.finish_scan(scan_id, "complete")
    return "complete"
