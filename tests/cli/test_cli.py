"""The command line as a user meets it: scans, reports, rules, database, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from driftscan.cli.main import main
from driftscan.store.queries import Store
from tests.conftest import DEMO_ORG, ROOT

SCHEMA = json.loads((ROOT / "docs" / "report-schema.json").read_text())
DEMO_REPOS = sorted(str(p) for p in DEMO_ORG.iterdir() if p.is_dir())


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'd.db'}"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_scan_demo_org_json_validates_and_every_scan_is_kept(db: str) -> None:
    code, out, err = run("scan", *DEMO_REPOS, "--db", db, "--format", "json", "--jobs", "2")
    assert code == 0, err
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    assert report["schema"] == "driftscan/report/v1"
    assert len(report["repos"]) == len(DEMO_REPOS)
    assert {r["name"] for r in report["repos"]} == {Path(p).name for p in DEMO_REPOS}
    dims = {d["dimension"]: d for d in report["dimensions"]}
    assert dims["ci.system"]["distinct"] >= 4  # real divergence in the demo
    assert "scanned" in err and f"scan #{report['scan']['id']}" in err
    code, out, _ = run("scan", *DEMO_REPOS, "--db", db, "--format", "none", "--quiet")
    assert (code, out) == (0, "")
    code, out, _ = run("report", "--db", db, "--format", "json")
    assert json.loads(out)["scan"]["id"] == report["scan"]["id"] + 1
    code, out, _ = run(
        "report", "--db", db, "--scan", str(report["scan"]["id"]), "--format", "json"
    )
    assert json.loads(out)["repos"] == report["repos"]


def test_table_and_markdown_reports(db: str, tmp_path: Path) -> None:
    code, out, _ = run("scan", *DEMO_REPOS[:6], "--db", db, "--quiet")
    assert code == 0
    assert "CI system that builds the repository" in out and "Repositories" in out
    assert "github-actions" in out
    code, out, _ = run("report", "--db", db, "--format", "markdown")
    assert out.startswith("# driftscan report") and "| repository |" in out
    target = tmp_path / "r.txt"
    code, out, _ = run("report", "--db", db, "-o", str(target))
    assert (code, out) == (0, "") and "Repositories" in target.read_text()


def test_strict_fails_when_a_repository_cannot_be_scanned(db: str, tmp_path: Path) -> None:
    code, out, _ = run(
        "scan", DEMO_REPOS[0], str(tmp_path / "nope"), "--db", db, "--format", "json"
    )
    assert code == 0
    assert any(r["status"] == "error" for r in json.loads(out)["repos"])
    code, _, _ = run(
        "scan", DEMO_REPOS[0], str(tmp_path / "nope"), "--db", db, "--strict", "--format", "none"
    )
    assert code == 1
    # only paths that do not exist: a usage error (exit 2), see tests/cli/test_honest_edges.py


def test_invalid_rule_folder_is_a_usage_error(db: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "oops.yaml").write_text(
        "id: oops\ncategory: x\ndimension: x.y\ntitle: t\ndetect:\n  a: {file: ''}\n"
    )
    code, _, err = run("scan", DEMO_REPOS[0], "--db", db, "--rules", str(rules))
    assert code == 2
    assert "oops.yaml:6: 'file' needs a glob string" in err


def test_report_without_scans_and_unknown_scan(db: str) -> None:
    code, _, err = run("report", "--db", db)
    assert code == 2 and "no scan yet" in err
    run("scan", DEMO_REPOS[0], "--db", db, "--quiet", "--format", "none")
    code, _, err = run("report", "--db", db, "--scan", "999")
    assert code == 2 and "no scan with id 999" in err


def test_bad_database_url_is_a_usage_error_without_password() -> None:
    code, _, err = run("report", "--db", "postgresql+nosuchdriver://u:hunter2@h/d")
    assert code == 2 and "hunter2" not in err and "cannot open database" in err


def test_rules_list_explain_and_test() -> None:
    code, out, _ = run("rules", "list", "--format", "json")
    assert code == 0 and any(r["id"] == "ci-system" for r in json.loads(out))
    code, out, _ = run("rules", "explain", "ci-system")
    assert code == 0 and "github-actions" in out and "yaml keys=jobs" in out
    code, _, err = run("rules", "explain", "nope")
    assert code == 2 and "no rule" in err


def test_rules_test_reports_failing_user_cases(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "build-tool.yaml").write_text(
        "id: build-tool\ncategory: build\ndimension: build.tool\ntitle: Build tool\n"
        "detect:\n  make: {file: Makefile}\n"
    )
    case = tmp_path / "fx" / "build-tool"
    (case / "make").mkdir(parents=True)
    (case / "make" / "Makefile").write_text("all:\n")
    (case / "near-miss-make").mkdir()
    (case / "near-miss-make" / "Makefile.md").write_text("# make\n")
    (case / "expected.yaml").write_text(
        "cases:\n  make: {expect: [make]}\n  near-miss-make: {expect: [], near_miss: [make]}\n"
    )
    code, out, _ = run("rules", "test", str(tmp_path / "fx"), "--rules", str(rules))
    assert code == 0, out
    assert "2 passed, 0 failed" in out
    (case / "expected.yaml").write_text(
        "cases:\n  make: {expect: [], why: a Makefile alone is not a build}\n"
        "  near-miss-make: {expect: []}\n"
    )
    code, out, _ = run("rules", "test", str(tmp_path / "fx"), "--rules", str(rules))
    assert code == 1
    assert "detected but not expected: make" in out and "no near-miss case for 'make'" in out
    assert "why: a Makefile alone is not a build" in out  # a failing case says what it guards


def test_db_upgrade_and_status(db: str) -> None:
    head = Store(db).head_revision()
    code, out, _ = run("db", "upgrade", "--db", db)
    assert code == 0 and f"-> {head}" in out
    code, out, _ = run("db", "upgrade", "--db", db)
    assert f"already at revision {head}" in out
    code, out, _ = run("db", "status", "--db", db)
    assert "up to date" in out


def test_db_prune_and_vacuum(db: str) -> None:
    repos = [str(p) for p in sorted(DEMO_ORG.iterdir())[:3]]
    for _ in range(3):
        assert run("scan", *repos, "--db", db, "--quiet")[0] == 0
    code, out, _ = run("db", "prune", "--keep", "1", "--dry-run", "--db", db)
    assert code == 0 and out.startswith("would delete 2 scan(s), kept 1")
    code, out, _ = run("db", "prune", "--keep", "1", "--db", db)
    assert code == 0 and out.startswith("deleted 2 scan(s), kept 1")
    assert "0 fact set(s)" in out  # unchanged repositories: the kept scan shares every set
    code, out, _ = run("db", "vacuum", "--db", db)
    assert code == 0 and " MiB -> " in out
    code, _, err = run("db", "prune", "--keep", "soon", "--db", db)
    assert code == 2 and "number of scans (e.g. 52) or of days" in err
    code, out, _ = run("report", "--format", "json", "--db", db)
    assert code == 0 and json.loads(out)["scan"]["id"] == 3


def test_installed_console_script_and_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "DRIFTSCAN_DB": f"sqlite:///{tmp_path / 'x.db'}", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "driftscan", "--version"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and out.stdout.startswith("driftscan, version")
    out = subprocess.run(
        [sys.executable, "-m", "driftscan", "scan", DEMO_REPOS[0], "--format", "markdown"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout + out.stderr  # no colour outside a terminal / with NO_COLOR


def test_report_effort_in_every_format(db: str, tmp_path: Path) -> None:
    code, _, err = run("scan", *DEMO_REPOS, "--db", db, "--quiet", "--format", "none")
    assert code == 0, err
    code, out, _ = run("report", "effort", "--db", db, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "driftscan/effort/v1"
    kinds = {c["kind"] for c in data["clusters"]}
    assert {"github-workflow", "dockerfile", "helm-chart", "jenkinsfile", "deploy-script"} <= kinds
    assert any(d["tool"] == "actions/checkout" for d in data["drift"])
    assert data["ranked"][0]["score"] >= data["ranked"][-1]["score"]
    code, out, _ = run("report", "effort", "--db", db, "--format", "markdown", "--top", "3")
    assert out.startswith("# Duplicated infrastructure effort") and out.count("\n| 1 |") == 1
    code, out, _ = run("report", "effort", "--db", db, "--format", "csv")
    assert out.splitlines()[0] == "rank,kind,title,score,repos,explanation"
    code, out, _ = run("report", "effort", "--db", db)
    assert "Top sources of duplicated effort" in out and "Copied infrastructure files" in out
    code, out, _ = run("report", "--db", db, "--format", "json")  # the plain report still works
    assert json.loads(out)["schema"] == "driftscan/report/v1"


def test_policy_findings_are_stored_and_bad_policies_are_usage_errors(
    db: str, tmp_path: Path
) -> None:
    policy = tmp_path / "driftscan.yaml"
    policy.write_text(
        "version: 1\ndimensions:\n  ci.system:\n    preferred: github-actions\n    forbidden: [travis]\n"
        "waivers:\n  - {repo: legacy-billing, dimension: ci.system, value: travis, reason: sunset, expires: 2099-01-01}\n"
    )
    code, _, err = run(
        "scan", *DEMO_REPOS, "--db", db, "--quiet", "--format", "none", "--policy", str(policy)
    )
    assert code == 0, err
    code, out, _ = run("report", "effort", "--db", db, "--format", "json", "--policy", str(policy))
    data = json.loads(out)
    travis = [f for f in data["findings"] if f["value"] == "travis"]
    assert travis and travis[0]["kind"] == "forbidden" and travis[0]["waiver"] == "sunset"
    ci = next(d for d in data["divergence"] if d["dimension"] == "ci.system")
    assert ci["golden_path"] == "github-actions (policy)" and ci["waived"] == 1
    policy.write_text("dimensions:\n  ci.system:\n    forbidden: [travis-ci]\n")
    code, _, err = run("scan", DEMO_REPOS[0], "--db", db, "--policy", str(policy))
    assert code == 2 and "driftscan.yaml:3: 'travis-ci' is not a value of ci.system" in err
