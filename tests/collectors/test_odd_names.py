"""Names that are not plain UTF-8 text - undecodable bytes, control characters, backslashes,
rich markup - in files, folders and repository folders: listed and stored as escaped text
(driftscan.pathnames), read back by their real bytes, printed literally, and never able to
cost another repository its result (issue 11, item 3)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from rich.console import Console
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from driftscan.collectors.base import discover, open_source
from driftscan.collectors.forge import BlobRef, ForgeSource, RemoteRepo, RepoFilter, RequestLog
from driftscan.collectors.git import GitSource
from driftscan.collectors.github import GitHubClient
from driftscan.collectors.gitlab import GitLabClient
from driftscan.collectors.local import DirSource, IndexSource
from driftscan.engine.check import CheckResult, LocatedFinding
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import run_forge_scan
from driftscan.models import (
    Evidence,
    FileEntry,
    Finding,
    Listing,
    Outcome,
    ReadError,
    RepoResult,
    RepoStatus,
)
from driftscan.pathnames import escape_bytes, os_name, unescape_bytes
from driftscan.reports.check import render_markdown, render_sarif, render_table
from driftscan.reports.console import repos_table
from driftscan.store.queries import Store
from driftscan.store.tables import EvidenceRow, RepoRow, ScanRow
from tests.collectors.fake_forges import GITLAB, FakeGitHub, FakeGitLab, ServedRepo
from tests.conftest import WORKFLOW, cli, git, make_git_repo
from tests.store.conftest import db_url  # noqa: F401  (the SQLite + PostgreSQL fixture)

# The reproduction: a workflow whose name holds the byte 0xff.
ODD_WORKFLOW = b".github/workflows/a-\xff.yml"
ODD_TEXT = ".github/workflows/a-\\xff.yml"
ODD_CONTENT = b"on: push\njobs: {b: {runs-on: x}}\n"
# (real name, text it is listed and stored as)
NAMES = [
    (b".github/workflows/a-\xff.yml", ".github/workflows/a-\\xff.yml"),
    (b".github/workflows/\x1b[31mred.yml", ".github/workflows/\\x1b[31mred.yml"),
    (b".github/workflows/[bold]b.yml", ".github/workflows/[bold]b.yml"),
    (b".github/workflows/back\\slash.yml", ".github/workflows/back\\\\slash.yml"),
    (b".github/workflows/new\nline.yml", ".github/workflows/new\\x0aline.yml"),
    (b".github/workflows/caf\xc3\xa9.yml", ".github/workflows/caf\u00e9.yml"),
    (b"svc-\xfe/Dockerfile", "svc-\\xfe/Dockerfile"),
]


def write(root: Path, rel: bytes, data: bytes) -> None:
    """Create a file by its raw name: the test needs names str paths cannot spell."""
    target = root / os.fsdecode(rel)  # surrogateescape: pathlib hands the OS the raw bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def odd_tree(root: Path) -> Path:
    for index, (raw, _text) in enumerate(NAMES):
        write(root, raw, b"# file %d\n" % index + ODD_CONTENT)
    return root


def listed_and_read(source: DirSource | GitSource) -> dict[str, bytes]:
    try:
        return {f.path: source.read(f.path) for f in source.list_files().files}
    finally:
        source.close()


def expected_files() -> dict[str, bytes]:
    return {text: b"# file %d\n" % i + ODD_CONTENT for i, (_raw, text) in enumerate(NAMES)}


def test_a_folder_lists_odd_names_as_text_and_reads_their_bytes(tmp_path: Path) -> None:
    assert listed_and_read(DirSource(odd_tree(tmp_path / "odd"))) == expected_files()


def test_a_git_tree_lists_odd_names_as_text_and_reads_their_bytes(tmp_path: Path) -> None:
    repo = make_git_repo(odd_tree(tmp_path / "odd-src"), tmp_path / "odd")
    assert listed_and_read(GitSource(repo, repo / ".git")) == expected_files()


def test_staged_files_list_odd_names_as_text(tmp_path: Path) -> None:
    """`check` before a commit: paths from `git ls-files -z`, as the OS spells them."""
    root = odd_tree(tmp_path / "odd")
    staged = [os.fsdecode(raw) for raw, _text in NAMES]
    assert listed_and_read(IndexSource(root, staged)) == expected_files()


@pytest.mark.parametrize("kind", ["folder", "git"])
def test_an_escaped_climb_out_of_the_repository_is_refused(tmp_path: Path, kind: str) -> None:
    """`\\x2e\\x2e` decodes to `..`: the escape must not become a way out of the root."""
    (tmp_path / "secret.yml").write_bytes(b"outside\n")
    root = odd_tree(tmp_path / "repo-src")
    if kind == "git":
        root = make_git_repo(root, tmp_path / "repo")
    source = DirSource(root) if kind == "folder" else GitSource(root, root / ".git")
    source.list_files()
    try:
        for path in ("\\x2e\\x2e/secret.yml", "\\x2fetc/passwd", "a\\x00b", "stray\\"):
            with pytest.raises(ReadError, match="refused path"):
                source.read(path)
    finally:
        source.close()


def test_a_repository_folder_with_an_odd_name_is_named_as_text_and_reopened(
    tmp_path: Path,
) -> None:
    org = tmp_path / "org"
    repo_dir = Path(os.fsdecode(os.fsencode(org) + b"/caf\xe9"))
    make_git_repo(odd_tree(tmp_path / "src"), repo_dir)
    [spec] = discover([str(org)])
    assert spec.name == "caf\\xe9"
    assert spec.location == escape_bytes(os.fsencode(repo_dir))
    assert os_name(spec.location) == str(repo_dir)
    source = open_source(spec, 1 << 20)
    assert source.name == "caf\\xe9" and source.location == spec.location
    assert listed_and_read(source) == expected_files()  # type: ignore[arg-type]


# -- the acceptance: through the CLI, among 40 normal repositories, on both stores --


@pytest.fixture(scope="module")
def odd_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """40 ordinary git repositories, one committing `a-\\xff.yml` and one in a folder named
    `caf\\xe9` (in the middle of the order, so a failure would cost the ones after it), and
    the issue's reproduction as a plain folder `odd`."""
    root = tmp_path_factory.mktemp("odd-names")
    org = root / "org"
    for i in range(40):
        src = root / "src" / f"svc-{i:02d}"
        (src / ".github" / "workflows").mkdir(parents=True)
        (src / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
        make_git_repo(src, org / f"svc-{i:02d}")
    committed = root / "src" / "odd-git"
    write(committed, ODD_WORKFLOW, ODD_CONTENT)
    make_git_repo(committed, org / "odd-git")
    cafe = Path(os.fsdecode(os.fsencode(org) + b"/caf\xe9"))
    write(root / "src" / "cafe", ODD_WORKFLOW, ODD_CONTENT)
    make_git_repo(root / "src" / "cafe", cafe)
    plain = root / "odd"
    write(plain, ODD_WORKFLOW, ODD_CONTENT)
    yield org, plain


def _stored(url: str) -> tuple[dict[str, RepoResult], set[str], dict[str, str], list[str]]:
    """The newest scan's repositories by name, then straight from the tables: every stored
    evidence path of an `a-` workflow, repository name -> location, the first scan's sources."""
    store = Store(url)
    try:
        repos = {r.name: r for r in store.load_scan().repos}
    finally:
        store.engine.dispose()
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            paths = set(
                session.scalars(select(EvidenceRow.path).where(EvidenceRow.path.like("%/a-%")))
            )
            rows = session.execute(select(RepoRow.name, RepoRow.location))
            locations = {name: location for name, location in rows}  # noqa: C416 (a Result has keys())
            sources = session.scalars(select(ScanRow.sources).order_by(ScanRow.id)).first()
    finally:
        engine.dispose()
    return repos, paths, locations, list(sources or [])


@pytest.mark.usefixtures("db_url")
def test_odd_names_cost_no_repository_on_either_store(
    odd_org: tuple[Path, Path],
    db_url: str,  # noqa: F811
) -> None:
    org, plain = odd_org
    code, out = cli("scan", str(org), str(plain), "--db", db_url, "--jobs", "2", "--format", "none")
    assert code == 0, out
    assert "Traceback" not in out
    repos, stored_paths, locations, sources = _stored(db_url)
    assert len(repos) == 43  # 40 + odd-git + caf\xe9 + the plain folder
    errors = {name: r.error for name, r in repos.items() if r.error}
    assert all(r.status is RepoStatus.OK and r.complete for r in repos.values()), (out, errors)
    for name in ("odd-git", "caf\\xe9", "odd"):
        [fact] = [f for f in repos[name].facts if f.dimension == "ci.system"]
        assert fact.value == "github-actions"
        assert [e.path for e in fact.evidence] == [ODD_TEXT]
    for name in (f"svc-{i:02d}" for i in range(40)):
        assert repos[name].values("ci.system") == ("github-actions",)
    # What the database holds decodes to the real bytes: the location, the path, the sources.
    assert unescape_bytes(locations["caf\\xe9"]) == os.fsencode(org) + b"/caf\xe9"
    assert {unescape_bytes(path) for path in stored_paths} == {ODD_WORKFLOW}
    assert [unescape_bytes(s) for s in sources] == [os.fsencode(org), os.fsencode(plain)]

    # Reuse reopens each repository from its stored location: caf\xe9 is found unchanged.
    code, out = cli("scan", str(org), "--db", db_url, "--jobs", "2", "--format", "none")
    assert code == 0, out
    store = Store(db_url)
    try:
        again = {r.name: r for r in store.load_scan().repos}
    finally:
        store.engine.dispose()
    assert again["caf\\xe9"].reused and again["odd-git"].reused
    assert again["caf\\xe9"].values("ci.system") == ("github-actions",)


def test_the_reproduction_prints_the_name_escaped_and_no_traceback(
    odd_org: tuple[Path, Path], tmp_path: Path
) -> None:
    _org, plain = odd_org
    db = f"sqlite:///{tmp_path / 'one.db'}"
    code, out = cli("scan", str(plain), "--db", db, "--format", "json")
    assert code == 0, out
    assert "Traceback" not in out
    assert ODD_TEXT.replace("\\", "\\\\") in out  # JSON spells a backslash as \\


def test_a_target_typed_with_odd_bytes_is_stored_as_text(
    odd_org: tuple[Path, Path], tmp_path: Path
) -> None:
    """The folder given on the command line is recorded as the scan's source: as text."""
    org, _plain = odd_org
    cafe = os.fsdecode(os.fsencode(org) + b"/caf\xe9")
    db = f"sqlite:///{tmp_path / 'typed.db'}"
    code, out = cli("scan", cafe, "--db", db, "--format", "none")
    assert code == 0, out
    repos, _paths, locations, sources = _stored(db)
    assert sources == [escape_bytes(os.fsencode(cafe))]
    assert repos["caf\\xe9"].values("ci.system") == ("github-actions",)
    assert unescape_bytes(locations["caf\\xe9"]) == os.fsencode(cafe)


# -- forges: JSON names are Unicode, but may hold control characters ----------------------

# Valid UTF-8, so a forge can serve them; each must be listed, stored and shown escaped.
FORGE_NAMES = [
    (b".github/workflows/\x1b[31mci.yml", ".github/workflows/\\x1b[31mci.yml"),
    (b".github/workflows/tab\tbell\x07.yml", ".github/workflows/tab\\x09bell\\x07.yml"),
]


@pytest.fixture(scope="module")
def forge_repos(tmp_path_factory: pytest.TempPathFactory) -> list[ServedRepo]:
    root = tmp_path_factory.mktemp("forge-names")
    odd = root / "odd-src"
    for raw, _text in FORGE_NAMES:
        write(odd, raw, ODD_CONTENT)
    plain = root / "plain-src"
    write(plain, b".github/workflows/ci.yml", WORKFLOW.encode())
    return [
        ServedRepo("acme/odd", make_git_repo(odd, root / "odd")),
        ServedRepo("acme/plain", make_git_repo(plain, root / "plain")),
    ]


def _forge_scan(kind: str, repos: list[ServedRepo], store: Store, ruleset: Ruleset) -> int:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        if kind == "github":
            FakeGitHub("acme", repos).install(rs)
            client: GitHubClient | GitLabClient = GitHubClient(org="acme", max_wait=60)
        else:
            FakeGitLab("acme", repos).install(rs)
            client = GitLabClient(group="acme", url=GITLAB, max_wait=60)
        outcome = run_forge_scan(client, RepoFilter(), store, ruleset, f"{kind}:acme")
    assert outcome.status == "complete" and outcome.errors == 0
    return outcome.scan_id


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_forge_paths_with_control_characters_are_stored_escaped_and_read(
    kind: str,
    forge_repos: list[ServedRepo],
    ruleset: Ruleset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-" + "x" * 20)
    store = Store(f"sqlite:///{tmp_path / 'forge.db'}")
    store.ensure_schema()
    scan_id = _forge_scan(kind, forge_repos, store, ruleset)
    repos = {r.name: r for r in store.load_scan(scan_id).repos}
    store.engine.dispose()
    [fact] = [f for f in repos["acme/odd"].facts if f.dimension == "ci.system"]
    # Both files were read (GitLab asks for blobs by the forge's own path): both are evidence.
    assert sorted(e.path for e in fact.evidence) == sorted(text for _raw, text in FORGE_NAMES)
    assert repos["acme/plain"].values("ci.system") == ("github-actions",)


# -- reports: an escaped control sequence or rich markup in a name prints literally ---------


def _located(path: str) -> LocatedFinding:
    finding = Finding(
        rule_id="ci-system",
        dimension="ci.system",
        repo="[red]shop",
        location="/src/[red]shop",
        value="jenkins",
        outcome=Outcome.FAIL,
        kind="forbidden",
        severity="high",
        message="[red]shop builds with jenkins",
        remediation="",
        fingerprint="fp",
    )
    return LocatedFinding(finding, Evidence(path, 3), True)


HOSTILE = [escape_bytes(b"ci/\x1b[31mred`.yml"), escape_bytes(b"ci/[bold]b\xff.yml")]


def _printed(render: object) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, color_system=None, force_terminal=False)
    render(console)  # type: ignore[operator]
    return buffer.getvalue()


def test_the_check_table_prints_odd_names_literally() -> None:
    result = CheckResult(tuple(_located(p) for p in HOSTILE))
    out = _printed(lambda console: render_table(console, result, "high"))
    assert "\x1b" not in out
    assert "ci/\\x1b[31mred`.yml:3" in out
    assert "ci/[bold]b\\xff.yml:3" in out
    assert "[red]shop builds with jenkins" in out


def test_the_scan_table_prints_a_repository_named_like_markup_literally() -> None:
    from driftscan.models import RepoMeta, ScanSummary

    repo = RepoResult("[bold]caf\\xe9", "/org/x", RepoMeta(), RepoStatus.OK)
    scan = ScanSummary(1, "2026-01-01", None, "complete", "digest", repos=(repo,))
    out = _printed(lambda console: console.print(repos_table(scan)))
    assert "[bold]caf\\xe9" in out


def test_check_markdown_and_sarif_keep_odd_names() -> None:
    result = CheckResult(tuple(_located(p) for p in HOSTILE))
    text = render_markdown(result, "high")
    assert "\x1b" not in text
    # A backtick in the name cannot end the code span: the fence is longer than it.
    assert "``ci/\\x1b[31mred`.yml:3``" in text
    assert "`ci/[bold]b\\xff.yml:3`" in text
    sarif = render_sarif(result, {})
    # SARIF wants a URI: the real bytes, percent-encoded.
    assert '"uri": "ci/%1B%5B31mred%60.yml"' in sarif
    assert '"uri": "ci/%5Bbold%5Db%FF.yml"' in sarif


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_check_prints_a_hostile_workflow_name_escaped(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a pull request adds `\\x1b[31m[bold]ci.yml`, which the policy forbids."""
    repo = make_git_repo(None, tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    write(repo, b".github/workflows/\x1b[31m[bold]ci.yml", WORKFLOW.encode())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "add a workflow")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndimensions:\n  ci.system:\n    forbidden: [github-actions]\n")
    monkeypatch.setenv("COLUMNS", "300")
    code, out = cli(
        "check",
        str(repo),
        "--base",
        base,
        "--policy",
        str(policy),
        "--format",
        fmt,
        "--db",
        f"sqlite:///{tmp_path / 'none.db'}",
    )
    assert code == 1, out  # a new finding: the check fails, and says where
    assert "\x1b" not in out
    assert ".github/workflows/\\x1b[31m[bold]ci.yml" in out


def test_the_progress_bar_shows_a_repository_named_like_markup_literally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from driftscan.cli import scan as scan_command
    from driftscan.models import RepoMeta

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system=None)
    monkeypatch.setattr(scan_command, "stderr_console", lambda: console)
    monkeypatch.setattr(scan_command.sys.stderr, "isatty", lambda: True)
    result = RepoResult("[bold]caf\\xe9", "/org/x", RepoMeta(), RepoStatus.OK)

    def run(progress: object) -> None:
        progress(result, 1, 1)  # type: ignore[operator]

    scan_command._with_progress(run, quiet=False, verbose=False, budget=None)  # type: ignore[arg-type]
    assert "[bold]caf\\xe9" in buffer.getvalue()


def test_resume_finds_a_scan_of_odd_names_and_skips_what_it_stored(
    tmp_path: Path, ruleset: Ruleset
) -> None:
    """--resume matches the stored sources and locations with what discovery gives again:
    both are text, so an interrupted scan of `org-\\xff/caf\\xe9` is found and finished."""
    from driftscan.lifecycle import ScanInterrupted
    from driftscan.runner import ScanOptions, run_scan

    org = Path(os.fsdecode(os.fsencode(tmp_path) + b"/org-\xff"))
    for name in (b"caf\xe9", b"svc-1", b"svc-2"):
        write(tmp_path / "src" / os.fsdecode(name), ODD_WORKFLOW, ODD_CONTENT)
        make_git_repo(tmp_path / "src" / os.fsdecode(name), org / os.fsdecode(name))
    store = Store(f"sqlite:///{tmp_path / 'resume.db'}")
    store.ensure_schema()

    def stop_after_first(result: RepoResult, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(ScanInterrupted):
        run_scan([str(org)], store, ruleset, ScanOptions(jobs=1), stop_after_first)
    first = store.load_scan(store.scans()[0].id)  # the newest, complete or not
    assert [r.name for r in first.repos] == ["caf\\xe9"]
    outcome = run_scan([str(org)], store, ruleset, ScanOptions(jobs=1, resume=True))
    assert outcome.scan_id == first.id and outcome.status == "complete"
    assert outcome.repos == 2  # caf\xe9 was stored before the interruption: not read again
    finished = store.load_scan(first.id)
    assert sorted(r.name for r in finished.repos) == ["caf\\xe9", "svc-1", "svc-2"]
    store.engine.dispose()


def test_a_hand_written_head_cannot_put_a_control_sequence_in_the_branch(tmp_path: Path) -> None:
    repo = make_git_repo(odd_tree(tmp_path / "src"), tmp_path / "repo")
    (repo / ".git" / "HEAD").write_bytes(b"ref: refs/heads/\x1b[31mmain\n")
    source = GitSource(repo, repo / ".git")
    try:
        assert source.meta().default_branch == "\\x1b[31mmain"
    finally:
        source.close()


def test_the_effort_tables_print_names_from_repositories_literally() -> None:
    from driftscan.engine.effort import Cluster, Copy, EffortItem, Variant, VersionSpread
    from driftscan.models import RepoMeta, ScanSummary
    from driftscan.reports.effort import EffortReport
    from driftscan.reports.effort import render_table as render_effort

    names = ("[bold]a", "[red]b")
    repos = tuple(RepoResult(n, f"/org/{n}", RepoMeta(), RepoStatus.OK) for n in names)
    copies = tuple(Copy(n, escape_bytes(b"ci/[bold]\xff.yml")) for n in names)
    report = EffortReport(
        scan=ScanSummary(1, "2026-01-01", None, "complete", "digest", repos=repos),
        ranked=(EffortItem("cluster", "[bold]copied ci/[bold]\\xff.yml", 4, "why", 2),),
        divergences=(),
        drift=(VersionSpread("image", "[blink]base", (("[i]1", names),)),),
        clusters=(Cluster("github-workflow", (Variant("h", copies, 3),)),),
        owners=dict.fromkeys(names, ("@[bold]team",)),
    )
    out = _printed(lambda console: render_effort(console, report))
    for text in (
        "[bold]a:ci/[bold]\\xff.yml",
        "[bold]a, [red]b",
        "@[bold]team",
        "[blink]base",
        "[i]1 (2)",
        "[bold]copied ci/[bold]\\xff.yml",
    ):
        assert text in out, text


class _OneFileForge:
    """A forge whose repository holds one file, named `raw` (as its JSON spells it)."""

    forge = "github"

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.log = RequestLog()

    def tree(self, repo: RemoteRepo) -> tuple[Listing, dict[str, str]]:
        return Listing((FileEntry(self.raw, 9),)), {self.raw: "0" * 40}

    def read_blobs(
        self, wanted: list[tuple[RemoteRepo, dict[str, BlobRef]]], max_size: int
    ) -> dict[tuple[str, str], bytes]:
        return {(repo.full_name, path): b"on: push\n" for repo, refs in wanted for path in refs}


@pytest.mark.parametrize(
    ("raw", "text"),
    [("ci\\deploy.yml", "ci\\\\deploy.yml"), ("\x1b[31m\\x.yml", "\\x1b[31m\\\\x.yml")],
)
def test_a_forge_file_whose_name_holds_a_backslash_is_read_like_a_local_one(
    raw: str, text: str
) -> None:
    """A backslash is an ordinary character of a POSIX name: a folder or a git tree reads such
    a file, so a forge scan of the same repository must too (not refuse it as a path)."""
    repo = RemoteRepo("github", "acme/x", "https://github.com/acme/x", "main", "c0ffee")
    source = ForgeSource(_OneFileForge(raw), repo, 1 << 20)  # type: ignore[arg-type]
    assert [f.path for f in source.list_files().files] == [text]
    assert source.read(text) == b"on: push\n"


def test_a_forge_path_that_climbs_out_is_still_refused() -> None:
    repo = RemoteRepo("github", "acme/x", "https://github.com/acme/x", "main", "c0ffee")
    source = ForgeSource(_OneFileForge("../x.yml"), repo, 1 << 20)  # type: ignore[arg-type]
    source.list_files()
    with pytest.raises(ReadError, match="climbs out"):
        source.read("../x.yml")
