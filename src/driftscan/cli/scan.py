"""`driftscan scan`: detect every repository of the given sources and store the scan."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftscan.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    db_option,
    fail,
    fingerprint_salt,
    get_policy,
    get_ruleset,
    handle_errors,
    open_store,
    output_option,
    parse_size,
    policy_option,
    rules_option,
    stderr_console,
)
from driftscan.cli.forge import ForgeRequest, forge_options
from driftscan.cli.logs import set_verbosity
from driftscan.cli.output import FORMATS, emit
from driftscan.collectors.git import is_git_url
from driftscan.effort_runner import record_findings
from driftscan.engine.analyse import divergence
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.lifecycle import interrupt_signals
from driftscan.models import ReadError, RepoResult, RepoStatus, ScanOutcome, ScanSummary
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store, safe_url

ProgressFn = Callable[[RepoResult, int, int], None]


@click.command("scan")
@click.argument("sources", nargs=-1, required=False, metavar="[SOURCE]...")
@forge_options
@policy_option
@db_option
@rules_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "none")),
    default="table",
    show_default=True,
    help="Report printed after the scan.",
)
@output_option
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Worker processes for local sources (0: one per CPU core).",
)
@click.option(
    "--max-file-size",
    default="1MiB",
    show_default=True,
    help="Files larger than this are skipped with a recorded problem.",
)
@click.option(
    "--no-reuse",
    is_flag=True,
    help="Detect again even where a repository's head and the rules are unchanged.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when any repository could not be scanned or was only partly read.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary line.")
@click.option("--verbose", "-v", is_flag=True, help="One line per repository on standard error.")
@handle_errors
def scan(
    sources: tuple[str, ...],
    forge: ForgeRequest,
    policy_file: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
    fmt: str,
    output: Path | None,
    jobs: int,
    max_file_size: str,
    no_reuse: bool,
    strict: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Scan repositories and store the result as a new scan.

    SOURCE is a git repository, a folder of git repositories (each one is scanned), any other
    folder (scanned as one repository), or a git URL (cloned shallow, blob-filtered, without
    checkout). Git repositories are read at their HEAD commit: what is committed, not the
    work tree. Whole GitHub organisations and GitLab groups are read through their APIs
    (no clone), with a token from the environment.

    \b
    Examples:
      driftscan scan ~/src/acme                  # every git repo in the folder
      driftscan scan fixtures/demo-org/*         # each folder is one repository
      driftscan scan https://github.com/acme/api.git --format json -o api.json
      GITHUB_TOKEN=... driftscan scan --github-org acme --exclude 'sandbox-*'
      GITLAB_TOKEN=... driftscan scan --gitlab-group acme/platform --gitlab-url https://git.acme.io
      driftscan scan --github-org acme --resume  # finish a scan parked on a rate limit
    """
    set_verbosity(quiet, verbose)  # before the forge client is built: it logs its checks
    if not sources and not forge.wanted:
        fail(
            "nothing to scan: give SOURCE paths/URLs, --github-org/--github-repo or --gitlab-group"
        )
    if sources and forge.wanted:
        fail("scan local SOURCEs and a forge in separate runs (each becomes its own scan)")
    _refuse_missing_paths(sources)
    size_cap = parse_size(max_file_size)
    ruleset = get_ruleset(rules_dirs)
    policy = get_policy(policy_file, ruleset)  # validated before any work is done
    store = open_store(db_url)
    err = stderr_console()
    salt = fingerprint_salt()
    budget: Callable[[], str] | None = None
    run: Callable[[ProgressFn | None], ScanOutcome]
    if forge.wanted:
        try:
            client, label, repo_filter = forge.build()
        except ReadError as exc:
            fail(str(exc))
            return
        budget = client.log.budget
        forge_options_ = ForgeScanOptions(
            concurrency=forge.concurrency,
            max_file_size=size_cap,
            reuse=not no_reuse,
            resume=forge.resume,
            fingerprint_salt=salt,
            clone_dir=forge.clone_folder(),
        )

        def run(progress: ProgressFn | None) -> ScanOutcome:
            try:
                return run_forge_scan(
                    client, repo_filter, store, ruleset, label, forge_options_, progress
                )
            except ReadError as exc:
                fail(str(exc), EXIT_FAILED)
                raise

    else:
        options = ScanOptions(
            jobs=jobs,
            max_file_size=size_cap,
            reuse=not no_reuse,
            fingerprint_salt=salt,
            resume=forge.resume,
        )

        def run(progress: ProgressFn | None) -> ScanOutcome:
            return run_scan(sources, store, ruleset, options, progress)

    with interrupt_signals():  # SIGTERM stops a scan as Ctrl-C does: stored, resumable
        outcome = _with_progress(run, quiet, verbose, budget)
    summary = store.load_scan(outcome.scan_id)
    outcome, summary = _mark_failed_when_nothing_scanned(store, outcome, summary)
    if not quiet:
        requests = f", {client.log.total} API requests" if forge.wanted else ""
        err.print(
            f"scanned {outcome.repos} repositories in {outcome.seconds:.1f}s "
            f"({outcome.errors} could not be scanned, {outcome.partial} partly read, "
            f"{outcome.reused} unchanged and reused"
            f"{requests}) -> scan #{outcome.scan_id} ({outcome.status}) in {safe_url(store.url)}",
            highlight=False,
            soft_wrap=True,
        )
    divergences = divergence(ruleset.rules, summary.repos)
    if outcome.status != "failed":  # a failed scan has no findings to trend
        record_findings(store, summary, ruleset, policy, divergences)
    if summary.note and not quiet:
        err.print(summary.note, style="yellow", highlight=False, soft_wrap=True)
    if fmt != "none":
        emit(summary, ruleset, fmt, output, divergences)
    if outcome.status != "complete" or (strict and (outcome.errors or outcome.partial)):
        raise SystemExit(EXIT_FAILED)
    raise SystemExit(EXIT_OK)


def _refuse_missing_paths(sources: tuple[str, ...]) -> None:
    """When no SOURCE exists there is nothing to scan: a usage error, and no scan is stored.
    (A missing path among others is recorded on its own repository and the scan goes on.)"""
    missing = [s for s in sources if not is_git_url(s) and not Path(s).expanduser().exists()]
    if sources and len(missing) == len(sources):
        fail(f"no such path: {', '.join(missing)}")


def _mark_failed_when_nothing_scanned(
    store: Store, outcome: ScanOutcome, summary: ScanSummary
) -> tuple[ScanOutcome, ScanSummary]:
    """A scan that found no repository, or could read none of them, is `failed` (exit 1) -
    never a "complete" scan that reports, baselines and checks would take for the newest.
    Judged by every repository the scan holds: a resumed one holds earlier runs' too."""
    if outcome.status != "complete":
        return outcome, summary
    if not summary.repos:
        reason = "failed: no repository was found in the given sources"
    elif all(r.status is RepoStatus.ERROR for r in summary.repos):
        reason = f"failed: none of the {len(summary.repos)} repositories could be scanned"
    else:
        return outcome, summary
    store.finish_scan(outcome.scan_id, "failed", note=reason)
    return replace(outcome, status="failed"), replace(summary, status="failed", note=reason)


def _with_progress(
    run: Callable[[ProgressFn | None], ScanOutcome],
    quiet: bool,
    verbose: bool,
    budget: Callable[[], str] | None,
) -> ScanOutcome:
    err = stderr_console()

    def log_line(result: RepoResult, done: int, total: int) -> None:
        state = "reused" if result.reused else result.status.value
        detail = f": {result.error}" if result.error else ""
        err.print(
            f"[{done}/{total}] {result.name} {state}{detail}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    if quiet or not sys.stderr.isatty():
        return run(log_line if verbose and not quiet else None)
    with Progress(
        TextColumn("[bold]scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),  # a repository name, never markup
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def on_result(result: RepoResult, done: int, total: int) -> None:
            extra = f" · {budget()}" if budget is not None else ""
            bar.update(task, completed=done, total=total, description=result.name + extra)
            if verbose:
                log_line(result, done, total)

        return run(on_result)
