"""Runs a scan: discover sources, detect in parallel worker processes, stream into the store.

Results are written in small batches as they arrive, so memory stays flat however large the
org, an interrupted scan keeps everything done so far (marked `incomplete`), and a crash
leaves the scan `running`/`failed` - never looking complete.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from driftscan import __version__
from driftscan.collectors.base import SourceSpec, discover, open_source
from driftscan.collectors.git import redact_url
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.engine.rules import Ruleset
from driftscan.models import ReadError, RepoMeta, RepoResult, RepoStatus, ScanOutcome
from driftscan.pathnames import escape_name
from driftscan.store.queries import KnownHead, Store

BATCH_SIZE = 50
BATCH_SECONDS = 2.0


@dataclass(frozen=True)
class ScanOptions:
    jobs: int = 0  # 0: one worker per core
    max_file_size: int = 1 << 20
    reuse: bool = True  # reuse stored facts of repositories whose head is unchanged
    fingerprint_salt: bytes = b"driftscan"


Progress = Callable[[RepoResult, int, int], None]  # result, done, total

# Worker-process state, set once per process by _init_worker.
_worker_compiled: CompiledRuleset | None = None
_worker_options: ScanOptions | None = None


def _init_worker(compiled: CompiledRuleset, options: ScanOptions) -> None:
    global _worker_compiled, _worker_options
    _worker_compiled = compiled
    _worker_options = options


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
            source.name, source.location, RepoMeta(), RepoStatus.ERROR, error=str(exc)
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


def _results(
    tasks: Sequence[tuple[SourceSpec, str | None]], compiled: CompiledRuleset, options: ScanOptions
) -> Iterator[RepoResult]:
    todo = []
    for spec, head in tasks:
        reused = _unchanged(spec, head, options) if head and spec.kind == "git" else None
        if reused is not None:
            yield reused
        else:
            todo.append((spec, head))
    tasks = todo
    jobs = options.jobs or os.cpu_count() or 1
    if jobs <= 1 or len(tasks) < 8:
        for spec, head in tasks:
            yield scan_one(spec, head, compiled, options)
        return
    # spawn: workers start clean (no inherited locks or DB connections) on every platform.
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(compiled, options),
    ) as pool:
        pending: set[Future[RepoResult]] = set()
        queue = iter(tasks)
        limit = jobs * 8  # bounded in-flight work keeps memory flat
        for spec, head in queue:
            pending.add(pool.submit(_scan_in_worker, spec, head))
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


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
    scan_id = store.begin_scan(sources, ruleset.digest, __version__)
    tasks = [
        (spec, known[spec.location].head if spec.location in known else None) for spec in specs
    ]
    done = errors = reused = partial = 0
    batch: list[RepoResult] = []
    last_flush = time.monotonic()
    status = "failed"
    try:
        for result in _results(tasks, compiled, options):
            done += 1
            errors += result.status is RepoStatus.ERROR
            partial += result.status is not RepoStatus.ERROR and not result.complete
            reused += result.reused
            batch.append(result)
            if progress is not None:
                progress(result, done, len(tasks))
            if len(batch) >= BATCH_SIZE or time.monotonic() - last_flush > BATCH_SECONDS:
                store.record(scan_id, batch, ruleset.digest, known)
                batch, last_flush = [], time.monotonic()
        store.record(scan_id, batch, ruleset.digest, known)
        batch = []
        status = "complete"
    except KeyboardInterrupt:
        status = "incomplete"
        store.record(scan_id, batch, ruleset.digest, known)
        raise
    finally:
        store.finish_scan(scan_id, status)
    return ScanOutcome(
        scan_id, done, errors, reused, status, time.monotonic() - started, partial
    )
