"""Issue 11, item 8: every expected failure is one precise line and exit 2; anything else is one
line "internal error ..." and exit 3; a traceback only with --debug."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

from driftscan.cli.main import main
from driftscan.store.queries import Store
from tests.conftest import DEMO_ORG

REPO = str(DEMO_ORG / "checkout-api")


def run(*args: str) -> tuple[int, str]:
    """In-process: exit code and stderr; fails if anything but a documented exit escaped."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stderr


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(autouse=True)
def _quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTSCAN_DB", raising=False)
    monkeypatch.setenv("DRIFTSCAN_FINGERPRINT_SALT", "test-salt")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "d.db"
    code, err = run("scan", REPO, "--db", f"sqlite:///{path}", "--format", "none", "--quiet")
    assert code == 0, err
    return path


def test_a_read_only_database_is_one_line(db: Path) -> None:
    # mode=ro: SQLite refuses every write as a read-only file does (also when run as root).
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    code, err = run("scan", REPO, "--db", url, "--format", "none", "--quiet")
    assert code == 2
    assert "readonly database" in one_line(err)


def test_a_database_error_the_store_did_not_describe_is_one_line(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's own net under the store's messages: the driver's reason, never the SQL."""

    def locked(*_args: object, **_kwargs: object) -> None:
        raise OperationalError(
            "SELECT scan.id FROM scan WHERE secret = ?",
            ("parameter-value",),
            sqlite3.OperationalError("database is locked"),
        )

    monkeypatch.setattr(Store, "load_scan", locked)
    code, err = run("report", "--db", f"sqlite:///{db}", "--scan", "1")
    assert code == 2
    assert one_line(err) == "error: database error: database is locked"


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    code, err = run("report", "--db", f"sqlite:///{path}")
    assert code == 2
    assert "file is not a database" in one_line(err)


def test_a_waiver_date_that_does_not_exist_names_file_line_and_value(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "version: 1\nwaivers:\n  - repo: checkout-api\n    dimension: ci.system\n"
        "    reason: migrating\n    expires: 2027-13-45\n"
    )
    code, err = run("scan", REPO, "--db", f"sqlite:///{tmp_path / 'x.db'}", "--policy", str(policy))
    assert code == 2
    assert one_line(err) == (
        f"error: invalid policy file: {policy}:6: '2027-13-45' is not a date "
        "(month must be in 1..12); dates are like 2027-03-31"
    )


def test_a_goal_date_that_does_not_exist(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "# reviewed 2026-99-99 in a comment: not parsed, not blamed\nversion: 1\ngoals:\n"
        "  - {dimension: ci.system, value: github-actions, target: '>= 90%', by: 2027-02-30}\n"
    )
    code, err = run("check", str(tmp_path), "--policy", str(policy))
    assert code == 2
    assert f"{policy}:4: '2027-02-30' is not a date (day is out of range for month)" in one_line(
        err
    )


def test_a_binary_policy_file_is_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_bytes(b"version: 1\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    code, err = run("check", str(tmp_path), "--policy", str(policy))
    assert code == 2
    assert one_line(err) == (
        f"error: invalid policy file: {policy}:2: not a UTF-8 text file (byte 0x89 at offset 11)"
    )
    policy.write_bytes(b"version: 1\nwaivers: [\x00]\n")  # UTF-8, but a control character
    code, err = run("check", str(tmp_path), "--policy", str(policy))
    assert code == 2
    assert "unacceptable character #x0000" in one_line(err)


def test_a_malformed_github_app_key_is_one_line_and_begins_no_scan(tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64 at all\n-----END RSA PRIVATE KEY-----\n"
    )
    db = tmp_path / "k.db"
    code, err = run(
        "scan",
        "--github-org",
        "acme",
        "--github-app-id",
        "1",
        "--github-app-key",
        str(key),
        "--github-url",
        "http://127.0.0.1:9",
        "--db",
        f"sqlite:///{db}",
    )
    assert code in (1, 2)
    assert "key" in one_line(err)
    if db.exists():
        assert sqlite3.connect(db).execute("SELECT status FROM scan").fetchall() == []


def test_db_upgrade_of_a_database_from_a_newer_driftscan_is_one_line(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    code, err = run("db", "upgrade", "--db", f"sqlite:///{db}")
    assert code == 2
    assert "9999_from_the_future" in one_line(err)


def test_an_output_file_that_cannot_be_written_is_one_line(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "report.json"
    code, err = run("report", "--db", f"sqlite:///{db}", "--format", "json", "-o", str(target))
    assert code == 2
    assert one_line(err) == f"error: {target}: No such file or directory"


# -- the last resort: a bug is one line (exit 3); --debug shows the traceback ---------------------

_FAULT = (
    "import sys, driftscan.cli.rules as r\n"
    "def boom(*a, **k):\n"
    "    raise KeyError('GITHUB_TOKEN=' + __import__('os').environ['GITHUB_TOKEN'])\n"
    "r.get_ruleset = boom\n"
    "from driftscan.cli.main import main\n"
    "main(prog_name='driftscan')\n"
)


def _entry_point(*args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess, with a bug planted in `rules list`."""
    return subprocess.run(
        [sys.executable, "-c", _FAULT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "GITHUB_TOKEN": "ghp_sekret_value_123"},
        check=False,
    )


def test_an_internal_error_is_one_line_with_exit_3() -> None:
    proc = _entry_point("rules", "list")
    assert proc.returncode == 3
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        "error: internal error KeyError: 'GITHUB_TOKEN=***' (run with --debug for the traceback)"
    )


def test_debug_shows_the_traceback() -> None:
    proc = _entry_point("--debug", "rules", "list")
    assert proc.returncode == 1  # Python's own exit for an uncaught exception
    assert "Traceback (most recent call last)" in proc.stderr
    assert "KeyError" in proc.stderr
