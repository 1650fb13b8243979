"""Scans a GitHub organisation or GitLab group through its API.

1. List every repository with its head commit (one request per 100 repositories).
2. Unchanged repositories (same head, same ruleset) reuse their stored facts: no request.
3. The rest go in chunks: listings fetched concurrently (bounded), then the files their rules
   need for the whole chunk in as few batched reads as the forge allows, then detection.
4. Results stream into the store. When a rate limit would need a longer wait than allowed,
   the scan parks: what is done is stored, the scan is marked `incomplete` with a note, and
   `driftscan scan ... --resume` finishes it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from driftscan import __version__
from driftscan.collectors.forge import ForgeClient, ForgeSource, Parked, RemoteRepo, RepoFilter
from driftscan.collectors.git import CachedClone
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo, matched_paths
from driftscan.engine.extract import is_source_code
from driftscan.engine.rules import Ruleset
from driftscan.lifecycle import (
    stop_failed,
    stop_interrupted,
    unanswered_note,
    unanswered_reason,
)
from driftscan.models import (
    Listing,
    ReadError,
    RepoResult,
    RepoStatus,
    ScanOutcome,
    Unanswered,
)
from driftscan.store.queries import KnownHead, Store

CHUNK = 25


@dataclass(frozen=True)
class ForgeScanOptions:
    concurrency: int = 4  # parallel listing requests; GitHub asks for modest concurrency
    max_file_size: int = 1 << 20
    reuse: bool = True
    resume: bool = False
    fingerprint_salt: bytes = b"driftscan"
    clone_dir: Path | None = None  # `--clone`: shallow blob-less clones kept here across scans


Progress = Callable[[RepoResult, int, int], None]


def _eager(paths: Sequence[str]) -> list[str]:
    """Files fetched up front for a chunk. Source code (read only when a rule's dependency
    gate opens) is fetched on demand, so that a large codebase costs nothing it does not use."""
    return [p for p in paths if not is_source_code(p)]


def run_forge_scan(
    client: ForgeClient,
    repo_filter: RepoFilter,
    store: Store,
    ruleset: Ruleset,
    label: str,
    options: ForgeScanOptions | None = None,
    progress: Progress | None = None,
) -> ScanOutcome:
    options = options or ForgeScanOptions()
    started = time.monotonic()
    compiled = CompiledRuleset.compile(ruleset)
    detect_options = DetectOptions(options.max_file_size, options.fingerprint_salt)
    sources = [label]
    # Read before a scan is begun or taken over: a failure here leaves no scan `running`.
    known: dict[str, KnownHead] = store.known_heads(ruleset.digest) if options.reuse else {}
    resumed = store.resumable_scan(sources, ruleset.digest) if options.resume else None
    scan_id, done_locations = resumed or (
        store.begin_scan(sources, ruleset.digest, __version__),
        set(),
    )
    skipped: Counter[str] = Counter()
    done = errors = reused = partial = 0
    total = 0
    unanswered: list[RepoResult] = []  # repositories a request for got no answer

    def emit(batch: list[RepoResult]) -> None:
        nonlocal done, errors, reused, partial
        # counted as stored: a result the database refused is stored (and counted) as an error
        for result in store.record(scan_id, batch, ruleset.digest, known):
            done += 1
            errors += result.status is RepoStatus.ERROR
            partial += result.status is not RepoStatus.ERROR and not result.complete
            reused += result.reused
            if result.unanswered:
                unanswered.append(result)
            if progress is not None:
                progress(result, done, total)

    try:
        repos: list[RemoteRepo] = []
        for repo in client.list_repos():
            reason = repo_filter.reason_to_skip(repo)
            if reason is not None:
                skipped[reason] += 1
            elif repo.url not in done_locations:
                repos.append(repo)
        total = len(repos)
        quick: list[RepoResult] = []
        todo: list[RemoteRepo] = []
        for repo in repos:
            previous = known.get(repo.url)
            if previous is not None and repo.head is not None and previous.head == repo.head:
                quick.append(
                    RepoResult(repo.full_name, repo.url, repo.meta(), RepoStatus.OK, reused=True)
                )
            else:
                todo.append(repo)
        if quick:
            emit(quick)
        with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start : start + CHUNK]
                if options.clone_dir is not None:
                    emit(
                        _clone_chunk(
                            client, chunk, compiled, detect_options, pool, options.clone_dir
                        )
                    )
                else:
                    results = _scan_chunk(client, chunk, compiled, detect_options)
                    emit(results)
                    if all(r.unanswered for r in results):
                        raise _Silent(unanswered_reason(results[0]))
    except (Parked, _Silent) as stop:
        if isinstance(stop, Parked):
            at = time.strftime("%H:%M UTC", time.gmtime(time.time() + stop.wait_seconds))
            why = f"parked: {stop} (next wait {stop.wait_seconds:.0f}s, over --max-wait)"
            when = f"After {at}, run"
        else:
            why = f"stopped: {client.forge} gave no answer for a whole chunk ({stop})"
            when = "Once it answers again, run"
        note = (
            f"{why}; {done} of {total} repositories stored. {when} the same command with "
            "--resume to finish this scan."
        )
        store.finish_scan(scan_id, "incomplete", note)
        return ScanOutcome(
            scan_id, done, errors, reused, "incomplete", time.monotonic() - started, partial
        )
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM (lifecycle.interrupt_signals)
        raise stop_interrupted(store, scan_id, exc, done, total) from None
    except ReadError as exc:  # the organisation or group itself could not be listed
        store.finish_scan(scan_id, "failed", str(exc))
        raise
    except Exception as exc:  # anything else: `failed` with a one-line reason, never `running`
        stop_failed(store, scan_id, exc)
        raise
    notes: list[str] = []
    if unanswered:
        notes.append(unanswered_note(unanswered, client.forge))
    if skipped:
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items()))
        notes.append(f"skipped by filters: {parts}")
    status = "incomplete" if unanswered else "complete"
    store.finish_scan(scan_id, status, "; ".join(notes) or None)
    return ScanOutcome(scan_id, done, errors, reused, status, time.monotonic() - started, partial)


class _Silent(Exception):
    """A whole chunk of repositories got no answer: the forge is down or unreachable, and
    going on would only record every remaining repository as unread, slowly."""


def _scan_chunk(
    client: ForgeClient,
    chunk: list[RemoteRepo],
    compiled: CompiledRuleset,
    options: DetectOptions,
) -> list[RepoResult]:
    sources = [ForgeSource(client, repo, options.max_file_size) for repo in chunk]
    trees = client.trees(chunk)
    listings: list[Listing | ReadError] = []
    for source in sources:
        # a repository the forge left out of its answer is unseen, not a known failure
        tree = trees.get(source.repo.full_name, Unanswered("no listing returned"))
        if isinstance(tree, ReadError):
            listings.append(tree)
        else:
            source.set_listing(*tree)
            listings.append(source.list_files())  # paths as text (pathnames), as detection sees
    wanted = []
    for source, listing in zip(sources, listings, strict=True):
        if isinstance(listing, Listing) and listing.files:
            refs = source.refs(_eager(matched_paths(compiled, listing)))
            if refs:
                wanted.append((source.repo, refs))
    if wanted:
        try:
            blobs = client.read_blobs(wanted, options.max_file_size)
        except ReadError:  # retries exhausted: each repository reads its files on demand
            blobs = {}
        by_repo: dict[str, dict[str, bytes | ReadError]] = {}
        for (full_name, path), blob in blobs.items():
            by_repo.setdefault(full_name, {})[path] = blob
        for source in sources:
            source.fill(by_repo.get(source.repo.full_name, {}))
    results = []
    for source, listing in zip(sources, listings, strict=True):
        if isinstance(listing, ReadError):
            results.append(
                RepoResult(
                    source.name,
                    source.location,
                    source.meta(),
                    RepoStatus.ERROR,
                    error=str(listing),
                    unanswered=isinstance(listing, Unanswered),
                )
            )
            continue
        try:
            results.append(detect_repo(compiled, source, options))
        finally:
            source.close()
    return results


def _clone_chunk(
    client: ForgeClient,
    chunk: list[RemoteRepo],
    compiled: CompiledRuleset,
    options: DetectOptions,
    pool: ThreadPoolExecutor,
    clone_dir: Path,
) -> list[RepoResult]:
    header = client.git_auth_header()

    def scan(repo: RemoteRepo) -> RepoResult:
        url = client.clone_url(repo)
        host = urlparse(url).netloc.rsplit("@", 1)[-1] or "local"
        try:
            source = CachedClone(
                url,
                clone_dir / host / f"{repo.full_name}.git",
                repo.full_name,
                repo.url,
                repo.head,
                options.max_file_size,
                header,
            )
        except ReadError as exc:
            return RepoResult(
                repo.full_name, repo.url, repo.meta(), RepoStatus.ERROR, error=str(exc)
            )
        try:
            listing = source.list_files()
            source.prefetch(_eager(matched_paths(compiled, listing)))
            result = detect_repo(compiled, source, options)
        except ReadError as exc:
            return RepoResult(
                repo.full_name, repo.url, repo.meta(), RepoStatus.ERROR, error=str(exc)
            )
        finally:
            source.close()
        return replace(result, meta=repo.meta())  # the forge knows topics, archived, ...

    return list(pool.map(scan, chunk))
