"""`driftscan scan`: detect every repository of the given sources and store the scan."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftscan.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    db_option,
    fingerprint_salt,
    get_ruleset,
    handle_errors,
    open_store,
    parse_size,
    rules_option,
    stderr_console,
)
from driftscan.cli.output import FORMATS, emit
from driftscan.models import RepoResult
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import safe_url


@click.command("scan")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
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
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Worker processes (0: one per CPU core).",
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
@click.option("--strict", is_flag=True, help="Exit 1 when any repository could not be scanned.")
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary line.")
@click.option("--verbose", "-v", is_flag=True, help="One line per repository on standard error.")
@handle_errors
def scan(
    sources: tuple[str, ...],
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
    work tree.

    \b
    Examples:
      driftscan scan ~/src/acme                  # every git repo in the folder
      driftscan scan fixtures/demo-org/*         # each folder is one repository
      driftscan scan https://github.com/acme/api.git --format json -o api.json
      driftscan scan ~/src/acme --db postgresql+psycopg://driftscan@db/driftscan
    """
    size_cap = parse_size(max_file_size)
    ruleset = get_ruleset(rules_dirs)
    store = open_store(db_url)
    err = stderr_console()
    options = ScanOptions(
        jobs=jobs, max_file_size=size_cap, reuse=not no_reuse, fingerprint_salt=fingerprint_salt()
    )
    show_bar = not quiet and sys.stderr.isatty()

    def log_line(result: RepoResult, done: int, total: int) -> None:
        state = "reused" if result.reused else result.status.value
        detail = f": {result.error}" if result.error else ""
        err.print(
            f"[{done}/{total}] {result.name} {state}{detail}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    if show_bar:
        with Progress(
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def on_result(result: RepoResult, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=result.name)
                if verbose:
                    log_line(result, done, total)

            outcome = run_scan(sources, store, ruleset, options, on_result)
    else:
        outcome = run_scan(
            sources, store, ruleset, options, log_line if verbose and not quiet else None
        )
    if not quiet:
        err.print(
            f"scanned {outcome.repos} repositories in {outcome.seconds:.1f}s "
            f"({outcome.errors} could not be scanned, {outcome.reused} unchanged and reused) "
            f"-> scan #{outcome.scan_id} in {safe_url(store.url)}",
            highlight=False,
            soft_wrap=True,
        )
    if fmt != "none":
        emit(store.load_scan(outcome.scan_id), ruleset, fmt, output)
    if strict and outcome.errors:
        raise SystemExit(EXIT_FAILED)
    raise SystemExit(EXIT_OK)
