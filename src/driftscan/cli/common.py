"""What every command shares: the database option, the console, error handling, exit codes."""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from platformdirs import user_data_path
from rich.console import Console

from driftscan.engine.policy import Policy, PolicyError, load_policy
from driftscan.engine.rules import RuleError, Ruleset, load_ruleset
from driftscan.store.queries import Store, StoreError

EXIT_OK = 0
EXIT_FAILED = 1  # the job ran but did not succeed (see each command)
EXIT_USAGE = 2  # bad arguments, rule file, policy or database
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
    err.print(message, highlight=False, markup=False, soft_wrap=True)
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
        except KeyboardInterrupt:
            stderr_console().print("interrupted", style="yellow")
            raise SystemExit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def open_store(db_url: str | None, create: bool = True) -> Store:
    store = Store(db_url or default_db_url())
    if create:
        store.ensure_schema()
    return store


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
