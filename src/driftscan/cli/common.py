"""What every command shares: the database option, the console, error handling, exit codes."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from platformdirs import user_data_path
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from driftscan.cli.logs import mask_secrets
from driftscan.engine.policy import Policy, PolicyError, load_policy
from driftscan.engine.rules import RuleError, Ruleset, load_ruleset
from driftscan.models import ScanSummary
from driftscan.store.queries import Store, StoreError

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran but did not succeed (see each command)
EXIT_USAGE = 2  # bad arguments, rule file, policy or database
EXIT_INTERNAL = 3  # an unexpected error (a bug): one line, the traceback only with --debug
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def default_db_url() -> str:
    env = os.environ.get("DRIFTSCAN_DB")
    if env:
        return env
    return f"sqlite:///{user_data_path('driftscan', appauthor=False) / 'driftscan.db'}"


def fingerprint_salt() -> bytes:
    """The key for credential fingerprints: $DRIFTSCAN_FINGERPRINT_SALT (share it between
    machines that write to one database), else a random one kept in the user data folder."""
    env = os.environ.get("DRIFTSCAN_FINGERPRINT_SALT")
    if env:
        return env.encode()
    path = user_data_path("driftscan", appauthor=False) / "fingerprint-salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_hex(32).encode())
    return path.read_bytes().strip()


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: $DRIFTSCAN_DB, else a SQLite file in the user "
        "data folder). PostgreSQL: postgresql+psycopg://user@host/db",
    )(func)


def policy_option(func: F) -> F:
    return click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Org policy file (default: ./driftscan.yaml when present). See docs/effort.md.",
    )(func)


def get_policy(policy_file: Path | None, ruleset: Ruleset) -> Policy | None:
    path = policy_file or (Path("driftscan.yaml") if Path("driftscan.yaml").is_file() else None)
    return load_policy(path, ruleset.rules) if path is not None else None


def output_option(func: F) -> F:
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write the report to this file instead of standard output.",
    )(func)


def rules_option(func: F) -> F:
    return click.option(
        "--rules",
        "rules_dirs",
        multiple=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Add a folder of rule files (repeatable). See docs/rules-format.md.",
    )(func)


def _width(is_tty: bool) -> int | None:
    """A terminal's own width; in logs $COLUMNS, else 100 (rich would pick 80)."""
    return None if is_tty or os.environ.get("COLUMNS") else 100


def stdout_console() -> Console:
    # rich honours NO_COLOR and TERM=dumb itself.
    return Console(soft_wrap=False, width=_width(sys.stdout.isatty()))


def write_table(output: Path | None, render: Callable[[Console], None]) -> None:
    """A rich rendering to the terminal, or to `output` as plain 120-column text."""
    if output is None:
        render(stdout_console())
        return
    with output.open("w", encoding="utf-8") as handle:
        render(Console(file=handle, width=120, no_color=True))


def write_text(output: Path | None, text: str) -> None:
    """A rendered report to standard output or to `output`."""
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def stderr_console() -> Console:
    return Console(stderr=True, width=_width(sys.stderr.isatty()))


def fail(message: str, code: int = EXIT_USAGE) -> None:
    err = stderr_console()
    err.print("error:", style="bold red", end=" ")
    err.print(mask_secrets(message), highlight=False, markup=False, soft_wrap=True)
    raise SystemExit(code)


def handle_errors(func: F) -> F:
    """Turn the expected failures into one clear line and a documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RuleError as exc:
            fail(f"invalid rule file: {exc}")
        except StoreError as exc:
            fail(str(exc))
        except PolicyError as exc:
            fail(f"invalid policy file: {exc}")
        except (SQLAlchemyError, sqlite3.Error) as exc:
            fail(database_error(exc))
        except OSError as exc:
            if exc.filename is None:
                raise  # not about a file the user named: the last-resort handler shows it
            fail(f"{exc.filename}: {exc.strerror or exc}")
        except KeyboardInterrupt as exc:
            # A stopped scan says which scan and how to finish it; SIGTERM exits 143.
            message = str(exc) or "interrupted"
            stderr_console().print(message, style="yellow", markup=False, soft_wrap=True)
            raise SystemExit(getattr(exc, "exit_code", EXIT_INTERRUPTED)) from None

    return wrapper  # type: ignore[return-value]


def database_error(exc: Exception) -> str:
    """One line for a database failure the store did not describe itself: the driver's own
    reason, without the SQL statement and parameters SQLAlchemy appends."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    reason = lines[0] if lines else type(cause).__name__
    hint = ""
    if "readonly" in reason or "read-only" in reason:
        hint = " (the file, or the folder holding it, cannot be written)"
    elif "not a database" in reason or "malformed" in reason:
        hint = " (not a driftscan SQLite database, or a damaged one)"
    return f"database error: {reason[:300]}{hint}"


def check_db_url(url: str, given_as: str = "--db") -> None:
    """Refuse a SQLite URL without a file (sqlite:/// or :memory:): every scan would vanish
    when the command ends."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # the store says "cannot open database" with the reason
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        fail(
            f"{given_as} {url!r} names no database file, so nothing would be kept: give a path, "
            "e.g. sqlite:///driftscan.db (or sqlite:////absolute/path/driftscan.db)"
        )


def open_store(db_url: str | None, create: bool = True) -> Store:
    url = db_url or default_db_url()
    check_db_url(url, "--db" if db_url else "$DRIFTSCAN_DB")
    store = Store(url)
    if create:
        store.ensure_schema()
    return store


def load_report_scan(store: Store, scan_id: int | None) -> ScanSummary:
    """The scan a report asked for, else the newest complete one: a failed, interrupted or
    running scan is never taken for "the newest" by report, baseline export or check."""
    if scan_id is None:
        scan_id = store.latest_scan_id()
        if scan_id is None:
            newest = store.scans(limit=1)
            if not newest:
                raise StoreError("the database holds no scan yet: run `driftscan scan` first")
            raise StoreError(
                f"the database holds no complete scan (the newest, #{newest[0].id}, is "
                f"{newest[0].status}): run `driftscan scan` again, or name a scan with --scan ID"
            )
    return store.load_scan(scan_id)


def get_ruleset(rules_dirs: Sequence[Path]) -> Ruleset:
    return load_ruleset(list(rules_dirs))


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """'1MiB', '512k', '2000000' -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size like 1MiB, 512k or 200000")
    number = float(m.group(1))
    unit = (m.group(2) or "b").lower()[0]
    return int(number * {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit])
