"""`driftscan report --format html` on a real SQLite history: three scans of git repositories,
one of which moves from Travis to GitHub Actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEMO_ORG, WORKFLOW, cli, git, make_git_repo


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("org")
    names = ["legacy-billing", "payments-api", "web-admin", "payments-worker"]
    repos = [make_git_repo(DEMO_ORG / name, root / name) for name in names]
    db = f"sqlite:///{root / 'history.db'}"

    def scan() -> None:
        code, out = cli("scan", *map(str, repos), "--db", db, "--quiet", "--format", "none")
        assert code == 0, out

    scan()
    legacy = repos[0]
    git(legacy, "rm", "-q", ".travis.yml")
    (legacy / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (legacy / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    git(legacy, "add", "-A")
    git(legacy, "commit", "-qm", "move to GitHub Actions")
    scan()
    scan()
    return db


def test_html_to_a_file(history: str, tmp_path: Path) -> None:
    target = tmp_path / "out.html"
    code, out = cli("report", "--format", "html", "-o", str(target), "--db", history)
    assert code == 0, out
    assert out == ""
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "scan #3" in text and "3 complete scans, #1" in text
    assert "ci.system: repositories (share) per value and scan" in text
    assert "Trends need more scans" not in text
    assert "legacy-billing" in text and "Duplicated effort" in text


def test_html_to_stdout_with_goals(history: str, tmp_path: Path) -> None:
    policy = tmp_path / "driftscan.yaml"
    policy.write_text(
        "version: 1\ngoals:\n"
        "  - {dimension: ci.system, value: travis, target: <= 0 repos, by: 2099-01-01}\n"
    )
    code, out = cli("report", "--format", "html", "--policy", str(policy), "--db", history)
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert "goals and policy targets" in out and "ci.system travis &lt;= 0 repos" in out


def test_an_older_scan_has_no_future(history: str) -> None:
    code, out = cli("report", "--format", "html", "--scan", "1", "--db", history)
    assert code == 0
    assert "scan #1" in out and "Trends need more scans" in out


def test_empty_database_and_bad_policy(history: str, tmp_path: Path) -> None:
    code, out = cli("report", "--format", "html", "--db", f"sqlite:///{tmp_path / 'e.db'}")
    assert code == 2 and "holds no scan yet" in out
    policy = tmp_path / "bad.yaml"
    policy.write_text("version: 1\ngoals: [{dimension: ci.system}]\n")
    code, out = cli("report", "--format", "html", "--policy", str(policy), "--db", history)
    assert code == 2 and "invalid policy file" in out
