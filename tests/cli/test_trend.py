"""`driftscan trend` on a real SQLite history: three scans of git repos that change."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEMO_ORG, WORKFLOW, cli, git, make_git_repo


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three scans: legacy-billing moves off Travis to GitHub Actions, then drops its .env."""
    root = tmp_path_factory.mktemp("org")
    names = ["legacy-billing", "payments-api", "web-admin"]
    repos = [make_git_repo(DEMO_ORG / name, root / name) for name in names]
    db = f"sqlite:///{root / 'history.db'}"
    legacy = repos[0]
    policy = root / "driftscan.yaml"
    policy.write_text("version: 1\ndimensions:\n  ci.system:\n    forbidden: [travis]\n")

    def scan() -> None:
        code, out = cli("scan", *map(str, repos), "--db", db, "--quiet", "--policy", str(policy))
        assert code == 0, out

    scan()
    for travis in legacy.rglob(".travis.yml"):
        git(legacy, "rm", "-q", str(travis.relative_to(legacy)))
    (legacy / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (legacy / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    git(legacy, "add", "-A")
    git(legacy, "commit", "-qm", "move to GitHub Actions")
    scan()
    scan()  # unchanged: the same facts, shared
    return db


def series(doc: dict, value: str) -> list[int]:
    return next(s["repos"] for s in doc["series"] if s["value"] == value)


def test_json_follows_the_migration(history: str) -> None:
    code, out = cli("trend", "-d", "ci.system", "--format", "json", "--db", history)
    assert code == 0, out
    doc = json.loads(out)
    assert doc["schema"] == "driftscan/trend/v1" and len(doc["buckets"]) == 3
    assert series(doc, "travis")[0] - series(doc, "travis")[-1] == 1
    assert series(doc, "github-actions")[-1] - series(doc, "github-actions")[0] == 1
    assert {s["dimension"] for s in doc["series"]} == {"ci.system"}


def test_csv_markdown_and_table(history: str, tmp_path: Path) -> None:
    code, out = cli("trend", "-d", "ci.system", "--format", "csv", "--db", history)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {r["bucket"] for r in rows} == {"#1", "#2", "#3"}
    assert all(0 <= float(r["share"]) <= 1 and int(r["seen"]) == 3 for r in rows)
    code, out = cli("trend", "--format", "markdown", "--last", "2", "--db", history)
    assert code == 0 and out.startswith("### driftscan trend: #2 → #3 (by scan)")
    assert "| `ci.system` | `github-actions` |" in out
    target = tmp_path / "trend.txt"
    code, out = cli("trend", "-d", "ci.system", "--by", "month", "-o", str(target), "--db", history)
    text = target.read_text()
    assert code == 0 and "1 point(s) by month" in text and "github-actions" in text


def test_unknown_dimension_and_empty_database(tmp_path: Path, history: str) -> None:
    code, out = cli("trend", "-d", "ci.sytem", "--db", history)
    assert code == 2 and "unknown dimension ci.sytem" in out
    code, out = cli("trend", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 0 and "nothing to chart" in out
    code, out = cli("trend", "--since", "2999-01-01", "--format", "json", "--db", history)
    assert code == 0 and json.loads(out)["buckets"] == []


def test_history_is_shared_not_rewritten(history: str, tmp_path: Path) -> None:
    """An unchanged rescan adds scan rows, not fact rows."""
    from sqlalchemy import create_engine, func, select

    from driftscan.store.tables import FactRow, FactSetRow

    copy = tmp_path / "copy.db"
    shutil.copy(history.removeprefix("sqlite:///"), copy)
    engine = create_engine(f"sqlite:///{copy}")
    with engine.connect() as conn:
        facts_before = conn.scalar(select(func.count()).select_from(FactRow))
        sets_before = conn.scalar(select(func.count()).select_from(FactSetRow))
    engine.dispose()
    repos = [
        str(p) for p in Path(history.removeprefix("sqlite:///")).parent.iterdir() if p.is_dir()
    ]
    code, out = cli("scan", *repos, "--db", f"sqlite:///{copy}", "--quiet")
    assert code == 0, out
    engine = create_engine(f"sqlite:///{copy}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FactRow)) == facts_before
        assert conn.scalar(select(func.count()).select_from(FactSetRow)) == sets_before
    engine.dispose()


def test_findings_new_and_fixed(history: str) -> None:
    code, out = cli("trend", "--findings", "-d", "ci.system", "--format", "json", "--db", history)
    assert code == 0, out
    doc = json.loads(out)
    assert series(doc, "forbidden") == [1, 0, 0]
    assert doc["changes"]["since"] == "#1" and doc["changes"]["new"] == []
    [fixed] = doc["changes"]["fixed"]
    assert (fixed["repo"], fixed["kind"], fixed["value"]) == (
        "legacy-billing",
        "forbidden",
        "travis",
    )
    code, out = cli("trend", "--findings", "--format", "json", "--db", history)
    every = json.loads(out)
    open_ = every["changes"]["open"]  # every failing finding of the last point, with its age
    assert len(open_) == sum(s["repos"][-1] for s in every["series"]) > 0
    assert all(o["first_seen"].endswith("Z") and o["days"] >= 0 for o in open_)
    code, out = cli("trend", "--findings", "--last", "2", "--db", history)
    assert code == 0 and "0 fixed since #2" in out and "finding kind" in out
    code, out = cli("trend", "--findings", "--format", "markdown", "--db", history)
    assert "| dimension | finding kind | trend | first | last | change | per repo |" in out
    assert "**1 fixed since #1**" in out and "`legacy-billing` ci.system forbidden `travis`" in out


def test_goals_from_the_policy(history: str, tmp_path: Path) -> None:
    policy = tmp_path / "driftscan.yaml"
    policy.write_text(
        "version: 1\ngoals:\n"
        "  - {dimension: ci.system, value: travis, target: <= 0 repos, by: 2099-01-01}\n"
        "  - {dimension: deploy.method, value: helm, target: '>= 100%', by: 2099-01-01}\n"
    )
    args = ("trend", "-d", "ci.system", "--policy", str(policy), "--db", history)
    code, out = cli(*args, "--format", "json")
    assert code == 0, out
    [travis] = json.loads(out)["goals"]  # the deploy goal is outside -d ci.system
    assert (travis["goal"], travis["met"], travis["current"]) == (
        "ci.system travis <= 0 repos",
        True,
        0.0,
    )
    code, out = cli(*args)
    assert code == 0 and "goals" in out and "met" in out
    policy.write_text("version: 1\ngoals: [{dimension: ci.system}]\n")
    code, out = cli(*args)
    assert code == 2 and "a goal needs" in out


def test_a_team_and_a_repository_have_their_own_trends(history: str) -> None:
    def doc(*args: str) -> dict:
        code, out = cli("trend", "-d", "ci.system", "--format", "json", "--db", history, *args)
        assert code == 0, out
        return json.loads(out)

    legacy = doc("--repo", "legacy-*")
    assert legacy["scope"] == "repos legacy-* (1 repository)"
    assert [b["seen"] for b in legacy["buckets"]] == [1, 1, 1]
    assert series(legacy, "travis") == [1, 0, 0]
    assert series(legacy, "github-actions") == [0, 1, 1]
    web = doc("--team", "ACME/web")  # `@` and case do not matter
    assert web["scope"] == "team ACME/web (1 repository)"
    assert [(s["value"], s["repos"]) for s in web["series"]] == [("circleci", [1, 1, 1])]
    code, out = cli("trend", "--team", "@acme/web", "--repo", "legacy-*", "--db", history)
    assert code == 2 and "matches team @acme/web; repos legacy-*" in out  # both must hold


def test_the_whole_org_as_a_subset_matches_the_stored_counts(history: str) -> None:
    """The per-scan counts written at scan end and the subset path agree."""
    args = ("trend", "--format", "json", "--db", history)
    whole = json.loads(cli(*args)[1])
    subset = json.loads(cli(*args, "--repo", "*")[1])
    assert subset["buckets"] == whole["buckets"]
    assert subset["series"] == whole["series"]
    findings = json.loads(cli(*args, "--findings")[1])
    subset_findings = json.loads(cli(*args, "--findings", "--repo", "*")[1])
    assert subset_findings["series"] == findings["series"]
    assert subset_findings["changes"] == findings["changes"]


def test_a_team_s_findings_and_an_unknown_team(history: str) -> None:
    code, out = cli(
        "trend", "--findings", "--team", "@acme/web", "--format", "json", "--db", history
    )
    assert code == 0, out
    doc = json.loads(out)
    assert all(sum(s["repos"]) == 0 for s in doc["series"] if s["value"] == "forbidden")
    assert doc["changes"]["fixed"] == []  # legacy-billing's fix is not the web team's
    code, out = cli("trend", "--team", "@acme/nobody", "--db", history)
    assert code == 2 and "no repository of scan #3 matches team @acme/nobody" in out
    assert "@acme/web (1)" in out
    policy = Path(history.removeprefix("sqlite:///")).parent / "owners.yaml"
    policy.write_text("version: 1\nowners:\n  'legacy-*': '@acme/ledger'\n")
    args = ("trend", "--team", "@acme/ledger", "--format", "json", "--db", history)
    code, out = cli(*args, "--policy", str(policy))  # no CODEOWNERS: the owners map decides
    assert code == 0 and json.loads(out)["scope"] == "team @acme/ledger (1 repository)"
    policy.write_text("version: 1\nowners:\n  'web-*': '@acme/ledger'\n")
    code, out = cli(*args, "--policy", str(policy))  # web-admin's CODEOWNERS win over the map
    assert code == 2 and "matches team @acme/ledger" in out


def test_time_to_converge_on_the_policy(history: str, tmp_path: Path) -> None:
    """Forbidden values head for 0 and the preferred one for every repository: the trend says
    when, at the pace so far, without any dated goal."""
    policy = tmp_path / "driftscan.yaml"
    policy.write_text(
        "version: 1\ndimensions:\n"
        "  ci.system: {preferred: github-actions, forbidden: [travis, jenkins]}\n"
    )
    args = ("trend", "-d", "ci.system", "--policy", str(policy), "--db", history)
    code, out = cli(*args, "--format", "json")
    assert code == 0, out
    targets = {g["goal"]: g for g in json.loads(out)["goals"]}
    assert set(targets) == {
        "ci.system travis <= 0 repos",
        "ci.system jenkins <= 0 repos",
        "ci.system github-actions >= 100%",
    }
    assert all(g["source"] == "policy" and g["by"] is None for g in targets.values())
    assert targets["ci.system travis <= 0 repos"]["met"] is True
    preferred = targets["ci.system github-actions >= 100%"]
    assert preferred["met"] is False and preferred["current"] < 1
    code, out = cli(*args)
    assert code == 0 and "goals and policy targets" in out and "converged" in out
    # github-actions rose between the scans; jenkins held steady, so it is not converging
    assert "converging (est." in out and "not converging" in out
    assert preferred["projected"] is not None
    assert targets["ci.system jenkins <= 0 repos"]["projected"] is None
