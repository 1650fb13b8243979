"""The `driftscan` command."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import click

from driftscan import __version__
from driftscan.cli.check import baseline_group, check
from driftscan.cli.common import EXIT_INTERNAL, stderr_console
from driftscan.cli.db import db_group
from driftscan.cli.logs import log_to_stderr, mask_secrets
from driftscan.cli.report import report
from driftscan.cli.rules import rules_group
from driftscan.cli.scan import scan
from driftscan.cli.trend import trend_command


class DriftscanGroup(click.Group):
    """The main group: driftscan's warnings on standard error while a command runs, and a
    last-resort handler so that a bug is one line, never a traceback (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        with log_to_stderr():
            try:
                return super().invoke(ctx)
            except (click.ClickException, click.exceptions.Exit, click.Abort):
                raise  # click's own usage errors and exits print themselves
            except Exception as exc:
                if ctx.params.get("debug"):
                    raise
                _internal_error(exc)


def _internal_error(exc: Exception) -> NoReturn:
    lines = str(exc).strip().splitlines()
    message = mask_secrets(lines[0][:300]) if lines else "(no message)"
    err = stderr_console()
    err.print("error:", style="bold red", end=" ")
    err.print(
        f"internal error {type(exc).__name__}: {message} (run with --debug for the traceback)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    raise SystemExit(EXIT_INTERNAL)


@click.group(
    cls=DriftscanGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="driftscan")
@click.option(
    "--debug",
    is_flag=True,
    envvar="DRIFTSCAN_DEBUG",
    help="Let an unexpected error end with its Python traceback (for bug reports).",
)
def main(debug: bool) -> None:
    """Find where your organisation's repositories diverge - CI, deployment, secrets,
    monitoring - and where teams solve the same infrastructure problem again and again.

    \b
    Quick start:
      driftscan scan ~/src/acme          # scan a folder of git checkouts, store, report
      driftscan report --format json     # the newest scan, for machines
      driftscan rules list               # what is detected

    \b
    Exit codes:
      0  success
      1  the job ran but failed its goal (scan parked on a rate limit: rerun with --resume;
         every source of a scan failed or none held a repository; scan --strict with
         unscannable repos; check: new findings; rules test failures)
      2  usage or configuration error (arguments, rule file, policy, database, a path that
         does not exist; check --require-norm without a norm)
      3  internal error: a bug, shown as one line (run with --debug for the traceback)
      130 interrupted (a scan keeps what it stored, marked incomplete)
    """


# PyGithub and urllib3 log every retry at INFO/WARNING; driftscan reports outcomes itself.
for _noisy in ("github", "urllib3", "gitlab"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

main.add_command(scan)
main.add_command(check)
main.add_command(baseline_group)
main.add_command(report)
main.add_command(trend_command)
main.add_command(rules_group)
main.add_command(db_group)
