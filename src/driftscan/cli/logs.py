"""What the command shows of driftscan's own log records, and the masking of secrets in them.

The forge clients log each retry and wait on `driftscan.forge` as it happens; a scan that
waits on a slow or unreachable host must say so at once, one line each, on standard error.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import click

LOGGER = "driftscan"  # the parent of driftscan.forge and every other driftscan logger
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN")
MASK = "***"
_MIN_SECRET = 4  # a shorter "token" would mask ordinary letters all over a message

# Header values and URL credentials, wherever a library or a message quotes them.
_HEADER = re.compile(
    r"(?P<name>\b(?:authorization|private-token|job-token)\b['\"]?\s*[:=]\s*['\"]?"
    r"(?:(?:bearer|token|basic)\s+)?)(?P<value>[^\s'\",;)}]+)",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """The text with every token of the environment, every Authorization / PRIVATE-TOKEN /
    JOB-TOKEN header value and every user:password@ of a URL replaced by ***."""
    for name in TOKEN_VARIABLES:
        value = os.environ.get(name, "").strip()
        if len(value) >= _MIN_SECRET:
            text = text.replace(value, MASK)
    text = _HEADER.sub(lambda m: m.group("name") + MASK, text)
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + MASK + "@", text)


class SecretMask(logging.Filter):
    """Rewrites a record's message with its secrets masked, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_secrets(record.getMessage())
        record.args = None
        return True


class StderrLines(logging.Handler):
    """One line per record on the current standard error (looked up at each record: click's
    test runner and redirections swap sys.stderr after this handler is made)."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.addFilter(SecretMask())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
            prefix = "warning: " if record.levelno >= logging.WARNING else ""
            click.echo(prefix + text, err=True)
        except Exception:  # logging must never fail the command
            self.handleError(record)


_active: list[StderrLines] = []


@contextmanager
def log_to_stderr() -> Iterator[StderrLines]:
    """driftscan's warnings on standard error while a command runs; the logger's level and
    handlers are restored afterwards (in-process callers such as tests keep theirs)."""
    logger = logging.getLogger(LOGGER)
    handler = StderrLines()
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    _active.append(handler)
    try:
        yield handler
    finally:
        _active.remove(handler)
        logger.removeHandler(handler)
        logger.setLevel(previous)


def set_verbosity(quiet: bool, verbose: bool) -> None:
    """--quiet: no log lines; --verbose: info lines too (the default shows warnings)."""
    if not _active:
        return
    handler = _active[-1]
    if quiet:
        handler.setLevel(logging.CRITICAL + 1)
    elif verbose:
        handler.setLevel(logging.INFO)
        logger = logging.getLogger(LOGGER)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
