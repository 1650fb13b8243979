"""`driftscan scan --github-org / --gitlab-group` from the command line, replayed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from driftscan.cli.main import main
from tests.collectors.fake_forges import GITLAB, FakeGitHub, FakeGitLab, RateLimit, ServedRepo
from tests.conftest import DEMO_ORG, make_git_repo

TOKEN = "ghp_" + "CliTokenNeverPrinted" + "y" * 16


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> list[ServedRepo]:
    root = tmp_path_factory.mktemp("cli-served")
    return [
        ServedRepo(f"acme/{name}", make_git_repo(DEMO_ORG / name, root / name))
        for name in ("payments-api", "cart-service", "legacy-billing")
    ]


def test_scan_github_org_json_and_park_then_resume(
    served: list[ServedRepo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    fake = FakeGitHub("acme", served, page_size=100)
    runner = CliRunner()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        fake.trouble = [
            RateLimit(
                403,
                count=20,
                kind="graphql",
                after=1,
                headers={
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time()) + 7200),
                },
                body={"message": "API rate limit exceeded for user ID 1."},
            )
        ]
        parked = runner.invoke(
            main,
            ["scan", "--github-org", "acme", "--db", db, "--format", "none", "--max-wait", "30"],
        )
        assert parked.exit_code == 1, parked.output
        assert "parked" in parked.stderr and "--resume" in parked.stderr
        fake.trouble.clear()
        done = runner.invoke(
            main, ["scan", "--github-org", "acme", "--db", db, "--format", "json", "--resume"]
        )
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["scan"]["status"] == "complete" and report["scan"]["id"] == 1
    assert sorted(r["name"] for r in report["repos"]) == [
        "acme/cart-service",
        "acme/legacy-billing",
        "acme/payments-api",
    ]
    assert TOKEN not in parked.output + done.output
    assert "API requests" in done.stderr


def test_scan_gitlab_group(
    served: list[ServedRepo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-cli")
    fake = FakeGitLab("acme", [ServedRepo(r.full_name, r.path) for r in served])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        result = CliRunner().invoke(
            main,
            [
                "scan",
                "--gitlab-group",
                "acme",
                "--gitlab-url",
                GITLAB,
                "--db",
                f"sqlite:///{tmp_path / 'gl.db'}",
                "--format",
                "json",
            ],
        )
    assert result.exit_code == 0, result.stderr
    repos = {r["name"]: r for r in json.loads(result.stdout)["repos"]}
    assert repos["acme/payments-api"]["location"] == f"{GITLAB}/acme/payments-api"
    assert {
        f["value"] for f in repos["acme/cart-service"]["facts"] if f["dimension"] == "ci.system"
    } == {"github-actions"}


def test_forge_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'u.db'}"
    result = runner.invoke(main, ["scan", "--db", db])
    assert result.exit_code == 2 and "nothing to scan" in result.stderr
    result = runner.invoke(main, ["scan", str(tmp_path), "--github-org", "acme", "--db", db])
    assert result.exit_code == 2 and "separate runs" in result.stderr
    result = runner.invoke(
        main, ["scan", "--github-org", "acme", "--github-app-id", "7", "--db", db]
    )
    assert result.exit_code == 2 and "--github-app-key" in result.stderr
