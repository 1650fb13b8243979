"""The `driftscan` command."""

from __future__ import annotations

import logging

import click

from driftscan import __version__
from driftscan.cli.check import baseline_group, check
from driftscan.cli.db import db_group
from driftscan.cli.report import report
from driftscan.cli.rules import rules_group
from driftscan.cli.scan import scan
from driftscan.cli.trend import trend_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="driftscan")
def main() -> None:
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
         scan --strict with unscannable repos; rules test failures)
      2  usage or configuration error (arguments, rule file, database)
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
