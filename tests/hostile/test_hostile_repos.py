"""Hostile repositories scanned among ordinary ones, through `run_scan` and `driftscan scan`.

Each case of cases.CASES must end with a real result or a precise recorded reason; the
ordinary repositories keep exactly the facts they have when scanned alone; nothing outside a
repository's root is read; nothing from a repository runs; nothing hangs or prints a
traceback.
"""

from __future__ import annotations

import contextlib
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftscan.collectors import git as git_collector
from driftscan.collectors import local
from driftscan.engine.rules import Ruleset
from driftscan.models import RepoResult
from tests.hostile.cases import CASES, YAML_TAG_MARKER, Case
from tests.hostile.conftest import ApiScan, CliScan, Org, facts, scan_in

ENTRIES = ("run_scan", "cli")


@dataclass(frozen=True)
class Seen:
    """One repository's outcome, as the store returns it or as the JSON report prints it."""

    status: str
    complete: bool
    error: str
    ci: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]
    problems: dict[str, str]


def from_result(result: RepoResult) -> Seen:
    return Seen(
        result.status.value,
        result.complete,
        result.error or "",
        result.values("ci.system"),
        facts(result),
        {p.path: p.reason for p in result.problems},
    )


def from_report(repo: dict[str, Any]) -> Seen:
    pairs = tuple(sorted((f["dimension"], f["value"]) for f in repo["facts"]))
    return Seen(
        repo["status"],
        repo["complete"],
        repo["error"] or "",
        tuple(value for dimension, value in pairs if dimension == "ci.system"),
        pairs,
        {p["path"]: p["reason"] for p in repo["problems"]},
    )


def seen(entry: str, api_scan: ApiScan, cli_scan: CliScan) -> dict[str, Seen]:
    if entry == "run_scan":
        return {name: from_result(r) for name, r in api_scan.results.items()}
    return {repo["name"]: from_report(repo) for repo in cli_scan.report["repos"]}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_repository_ends_with_a_result_or_a_precise_reason(
    case: Case, entry: str, api_scan: ApiScan, cli_scan: CliScan
) -> None:
    got = seen(entry, api_scan, cli_scan)[case.id]
    assert (got.status, got.complete) == (case.status, case.complete), got.error
    assert case.error in got.error and bool(got.error) == bool(case.error)
    assert got.ci == case.ci
    assert set(got.problems) == set(case.problems), got.problems
    for path, reason in case.problems.items():
        assert reason in got.problems[path]


@pytest.mark.parametrize("entry", ENTRIES)
def test_ordinary_repositories_keep_every_fact(
    entry: str, org: Org, baseline: ApiScan, api_scan: ApiScan, cli_scan: CliScan
) -> None:
    alone = {name: from_result(r) for name, r in baseline.results.items()}
    among_hostile = seen(entry, api_scan, cli_scan)
    assert len(alone) == len(org.normal)
    for name, expected in alone.items():
        assert among_hostile[name] == expected, name


def test_the_scan_completes_and_records_every_repository(
    org: Org, api_scan: ApiScan, cli_scan: CliScan
) -> None:
    names = set(org.hostile) | {p.name for p in org.normal}
    assert api_scan.outcome.status == "complete"
    assert set(api_scan.results) == names
    assert cli_scan.report["scan"]["status"] == "complete"
    assert {r["name"] for r in cli_scan.report["repos"]} == names
    errors = sum(case.status == "error" for case in CASES)
    assert api_scan.outcome.errors == errors
    assert cli_scan.report["scan"]["repos_failed"] == errors


def test_the_command_exits_cleanly_without_a_traceback(cli_scan: CliScan) -> None:
    assert cli_scan.returncode == 0, cli_scan.stderr
    assert "Traceback" not in cli_scan.stderr + cli_scan.stdout
    assert f"scanned {len(CASES) + 4} repositories" in cli_scan.stderr


def database_text(db: Path) -> str:
    """Every value of every table, zlib-compressed ones decompressed, as one text."""
    parts: list[str] = []
    with sqlite3.connect(db) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                parts.extend(_text(value) for value in row)
    return "\n".join(parts)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):  # infra texts were stored compressed
            value = zlib.decompress(value)
        return value.decode("utf-8", "replace")
    return str(value)


def test_nothing_outside_a_repository_root_is_read(
    org: Org, api_scan: ApiScan, cli_scan: CliScan
) -> None:
    token = org.world.token
    for db in (api_scan.db, cli_scan.db):
        assert token not in database_text(db)
    assert token not in cli_scan.stdout + cli_scan.stderr
    assert token not in (cli_scan.db.parent / "report.json").read_text()


def test_the_outside_marker_is_found_when_the_outside_is_scanned(
    org: Org, ruleset: Ruleset, tmp_path: Path
) -> None:
    """The check above can fail: scanned as a repository, the outside yields the token."""
    scan = scan_in([str(org.world.outside)], ruleset, tmp_path)
    assert org.world.token in database_text(scan.db)


def test_nothing_from_a_repository_runs(org: Org, api_scan: ApiScan, cli_scan: CliScan) -> None:
    assert sorted(p.name for p in org.world.markers.iterdir()) == []
    assert not Path(YAML_TAG_MARKER).exists()


@pytest.mark.parametrize("case_id", ["many-files-dir", "many-files-git"])
def test_a_huge_listing_is_bounded_and_says_so(
    case_id: str,
    org: Org,
    ruleset: Ruleset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "MAX_FILES", 5_000)
    monkeypatch.setattr(git_collector, "MAX_FILES", 5_000)
    scan = scan_in([org.hostile[case_id]], ruleset, tmp_path, seconds=30)
    got = from_result(scan.results[case_id])
    assert (got.status, got.complete) == ("ok", False)
    assert got.problems[""] == "listing stopped at 5000 files"
    assert scan.outcome.status == "complete"
