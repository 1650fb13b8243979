"""GitHub's documented limits, replayed (tests/collectors/github_api.py): a scan never stores a
repository `ok` with a read GitHub did not answer, never sleeps past --max-wait, never sends a
query over the node limit, and says at once when the token or the host is wrong."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner

from driftscan.cli.main import main
from driftscan.collectors.forge import BlobRef, ForgeSource, Parked, RemoteRepo, RepoFilter
from driftscan.collectors.github import ORG_QUERY, GitHubClient, node_count
from driftscan.engine.detect import CompiledRuleset
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.models import ReadError, RepoStatus, Unanswered
from driftscan.store.queries import Store
from tests.collectors.fake_forges import ServedRepo
from tests.collectors.github_api import GITHUB, NODE_LIMIT, Fault, GitHubAPI, QueryLimits
from tests.collectors.test_forges import local_facts, stored_facts
from tests.conftest import DEMO_ORG, make_git_repo

TOKEN = "ghp_" + "LimitsTokenNeverShown" + "z" * 15
DEMO = ("payments-api", "legacy-billing", "k8s-platform", "storefront-monorepo", "base-images")
REFUSALS = ("Could not resolve", "not accessible", "access blocked")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> list[ServedRepo]:
    """40 repositories: eight of each demo repository's content under its own name."""
    root = tmp_path_factory.mktemp("limits")
    paths = {name: make_git_repo(DEMO_ORG / name, root / name) for name in DEMO}
    return [ServedRepo(f"acme/{name}-{i}", paths[name]) for name in DEMO for i in range(8)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'limits.db'}")
    s.ensure_schema()
    return s


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep of the process, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def api(org: list[ServedRepo], monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubAPI]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    server = GitHubAPI("acme", org, tokens={TOKEN})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        server.install(rs)
        yield server


def scan(store: Store, ruleset: Ruleset, max_wait: float = 60, **options: object) -> int:
    client = GitHubClient(org="acme", max_wait=max_wait)
    outcome = run_forge_scan(
        client,
        RepoFilter(),
        store,
        ruleset,
        "github:acme",
        ForgeScanOptions(**options),  # type: ignore[arg-type]
    )
    return outcome.scan_id


def assert_no_ok_with_unanswered_read(store: Store, scan_id: int) -> None:
    for repo in store.load_scan(scan_id).repos:
        unanswered = [p for p in repo.problems if "no answer" in p.reason]
        if repo.status is RepoStatus.OK and repo.complete:
            assert not unanswered, (repo.name, unanswered)


def assert_facts_equal_local(
    store: Store, scan_id: int, compiled: CompiledRuleset, org: list[ServedRepo]
) -> None:
    facts = stored_facts(store, scan_id)
    assert sorted(facts) == sorted(r.full_name for r in org)
    expected = {r.path: local_facts(compiled, r) for r in {r.path: r for r in org}.values()}
    for repo in org:
        assert facts[repo.full_name] == expected[repo.path], repo.full_name


# -- the replay enforces what GitHub documents ------------------------------------------------

DOCS_SIMPLE = (
    "query { viewer { repositories(first: 50) { edges { repository:node { name "
    "issues(first: 10) { totalCount edges { node { title bodyHTML } } } } } } } }"
)
DOCS_COMPLEX = (
    "query { viewer { repositories(first: 50) { edges { repository:node { name "
    "pullRequests(first: 20) { edges { pullRequest:node { title comments(first: 10) { edges "
    "{ comment:node { bodyHTML } } } } } } issues(first: 20) { totalCount edges { issue:node "
    "{ title bodyHTML comments(first: 10) { edges { comment:node { bodyHTML } } } } } } } } } "
    "followers(first: 10) { edges { follower:node { login } } } } }"
)


def limits(query: str, variables: dict[str, object] | None = None) -> QueryLimits:
    from graphql import OperationDefinitionNode, parse

    operation = parse(query).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    result = QueryLimits(dict(variables or {}))
    result.walk(operation.selection_set, 1)
    return result


def test_replay_counts_nodes_and_points_as_github_documents() -> None:
    # the documentation's own examples: 550 and 22,060 nodes; 5,101 requests -> 51 points
    assert limits(DOCS_SIMPLE).nodes == node_count(DOCS_SIMPLE) == 550
    assert limits(DOCS_COMPLEX).nodes == node_count(DOCS_COMPLEX) == 22_060
    points = limits(
        "query { viewer { login repositories(first: 100) { edges { node { id issues(first: 50)"
        " { edges { node { id labels(first: 60) { edges { node { id name } } } } } } } } } } }"
    )
    assert (points.requests, points.cost) == (5_101, 51)
    org_page = limits(ORG_QUERY, {"org": "acme", "cursor": None})
    assert org_page.nodes == node_count(ORG_QUERY, {"org": "acme"}) == 2_600
    assert org_page.cost == 1  # 101 requests / 100, rounded


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("query { viewer { repositories { nodes { name } } } }", "MISSING_PAGINATION_BOUNDARIES"),
        (
            "query { viewer { repositories(first: 101) { nodes { name } } } }",
            "EXCESSIVE_PAGINATION",
        ),
        (
            "query { viewer { repositories(first: 100) { nodes { issues(first: 100) { nodes { "
            "comments(first: 100) { nodes { id } } } } } } } }",
            "MAX_NODE_LIMIT_EXCEEDED",
        ),
    ],
)
def test_replay_refuses_queries_over_githubs_limits(api: GitHubAPI, query: str, kind: str) -> None:
    answer = requests.post(
        f"{GITHUB}/graphql", json={"query": query}, headers={"Authorization": f"bearer {TOKEN}"}
    ).json()
    assert "data" not in answer and answer["errors"][0]["type"] == kind
    assert api.used["graphql"] == 0  # a refused query costs no points


# -- the collector never sends a query over the node limit -----------------------------------


def test_a_query_over_the_node_limit_is_never_sent(api: GitHubAPI) -> None:
    client = GitHubClient(org="acme", max_wait=60)
    huge = (
        'query { organization(login: "acme") { repositories(first: 100) { nodes { '
        "issues(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } } }"
    )
    assert node_count(huge) > NODE_LIMIT
    with pytest.raises(Unanswered, match="not sent"):
        client.graphql(huge)
    assert api.total("graphql") == 0


# -- the primary limit spent mid-scan ---------------------------------------------------------


def test_primary_limit_spent_mid_scan_parks_and_resume_equals_a_local_scan(
    org: list[ServedRepo],
    api: GitHubAPI,
    compiled: CompiledRuleset,
    tmp_path: Path,
    sleeps: list[float],
) -> None:
    api.points = 16  # the scan needs 19 points, 15 to its first chunk: runs out in the second
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    command = ["scan", "--github-org", "acme", "--db", db, "--format", "none", "--max-wait", "60"]
    parked = CliRunner().invoke(main, command)
    assert parked.exit_code == 1, parked.output
    assert "parked" in parked.stderr and "--resume" in parked.stderr
    assert sleeps == []  # the reset is an hour away: parked at once, no sleep at all
    store = Store(db)
    first = store.scans()[0]
    assert first.status == "incomplete"
    stored = store.load_scan(first.id).repos
    assert 0 < len(stored) < len(org)  # it did run out mid-scan
    assert all(r.status is RepoStatus.OK and r.complete for r in stored)
    assert_no_ok_with_unanswered_read(store, first.id)
    for repo in stored:  # what is stored is right, not merely marked ok
        served = next(s for s in org if s.full_name == repo.name)
        assert {(f.dimension, f.value) for f in repo.facts} == local_facts(compiled, served)
    before = api.total()
    api.advance(3600)  # after the reset
    api.points = 5000
    done = CliRunner().invoke(main, [*command, "--resume"])
    assert done.exit_code == 0, done.output
    assert Store(db).scans()[0].id == first.id
    assert_facts_equal_local(Store(db), first.id, compiled, org)
    # requests per repository over the whole scan (parked part, refusals and resume included)
    print(f"requests per repository: {api.total() / len(org):.2f} ({before} before parking)")
    assert api.total() / len(org) <= 0.6  # 19 queries (0.48/repo) uninterrupted, here +3
    assert TOKEN not in parked.output + done.output


@pytest.mark.parametrize("status", [200, 403])
def test_rate_limited_graphql_answer_parks_in_either_form(
    api: GitHubAPI, store: Store, ruleset: Ruleset, sleeps: list[float], status: int
) -> None:
    api.exhausted_status = status  # documented: HTTP 200; observed as 403 too
    api.points = 2  # the listing page, then one more query
    scan_id = scan(store, ruleset)
    loaded = store.load_scan(scan_id)
    assert loaded.status == "incomplete" and "primary rate limit" in (loaded.note or "")
    assert sleeps == []
    assert_no_ok_with_unanswered_read(store, scan_id)


def test_a_primary_limit_within_max_wait_is_waited_for_then_continues(
    org: list[ServedRepo],
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.points = 15  # of the 19 the scan needs
    api.window = int(time.time()) - 3600 + 30  # the budget resets in 30 s

    def sleep(seconds: float) -> None:  # time passes on the server as the client waits
        sleeps.append(seconds)
        api.advance(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    scan_id = scan(store, ruleset, max_wait=120)
    assert store.load_scan(scan_id).status == "complete"
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 32  # until x-ratelimit-reset, plus a second
    assert_facts_equal_local(store, scan_id, compiled, org)


@pytest.mark.parametrize("status", [403, 429])
def test_rest_primary_limit_parks(
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    monkeypatch.setattr("driftscan.collectors.github.GRAPHQL_FOLDER_LIMIT", -1)  # REST trees
    api.exhausted_status, api.rest_limit = status, 3
    scan_id = scan(store, ruleset)
    loaded = store.load_scan(scan_id)
    assert loaded.status == "incomplete" and "primary rate limit (core)" in (loaded.note or "")
    assert sleeps == [] and loaded.repos == ()
    assert [s.status for s in api.log if s.endpoint == "rest"] == [200, 200, 200, status]


# -- repositories refused between listing and reading -----------------------------------------


@pytest.mark.parametrize(
    ("why", "reason"),
    [
        ("NOT_FOUND", "Could not resolve to a Repository with the name 'acme/k8s-platform-3'."),
        ("FORBIDDEN", "Resource not accessible by integration"),
        ("BLOCKED", "Repository access blocked"),
    ],
)
def test_a_repository_refused_after_listing_is_an_error_with_githubs_reason(
    org: list[ServedRepo],
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    why: str,
    reason: str,
) -> None:
    api.refused["acme/k8s-platform-3"] = why  # still listed by the organisation
    scan_id = scan(store, ruleset)
    repos = {r.name: r for r in store.load_scan(scan_id).repos}
    assert store.load_scan(scan_id).status == "complete"
    refused = repos.pop("acme/k8s-platform-3")
    assert (refused.status, refused.error) == (RepoStatus.ERROR, reason)
    for name, repo in repos.items():
        served = next(s for s in org if s.full_name == name)
        assert repo.status is RepoStatus.OK and repo.complete
        assert {(f.dimension, f.value) for f in repo.facts} == local_facts(compiled, served)


def test_a_repository_the_listing_cannot_show_is_recorded_not_dropped(
    api: GitHubAPI, store: Store, ruleset: Ruleset
) -> None:
    api.hidden.add("acme/legacy-billing-2")  # a null node with an error on its path
    scan_id = scan(store, ruleset)
    repos = store.load_scan(scan_id).repos
    assert len(repos) == 40
    unlisted = [r for r in repos if r.status is RepoStatus.ERROR]
    assert len(unlisted) == 1 and "SAML enforcement" in (unlisted[0].error or "")


# -- secondary limits --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 429, 200])
def test_retry_after_3600_parks_at_once_with_max_wait_60(
    api: GitHubAPI, store: Store, ruleset: Ruleset, sleeps: list[float], status: int
) -> None:
    api.faults = [Fault("secondary", status=status, retry_after=3600, count=5, after=1)]
    scan_id = scan(store, ruleset, max_wait=60)
    loaded = store.load_scan(scan_id)
    assert loaded.status == "incomplete" and "next wait 3600s" in (loaded.note or "")
    assert sleeps == []
    assert_no_ok_with_unanswered_read(store, scan_id)


def test_429_without_retry_after_waits_a_minute_then_longer_then_parks(
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    api.faults = [Fault("secondary", status=429, count=2, after=1)]
    with caplog.at_level(logging.WARNING, logger="driftscan.forge"):
        scan_id = scan(store, ruleset, max_wait=600)
    assert store.load_scan(scan_id).status == "complete"
    assert sleeps == [60.0, 120.0]  # GitHub: at least a minute, then exponentially longer
    assert [r.getMessage() for r in caplog.records] == [
        "GitHub secondary rate limit (429), waiting 60 s (retry 1/4)",
        "GitHub secondary rate limit (429), waiting 120 s (retry 2/4)",
    ]
    sleeps.clear()
    api.faults = [Fault("secondary", status=429, count=50)]
    parked = scan(store, ruleset, max_wait=60, reuse=False)
    assert store.load_scan(parked).status == "incomplete"
    assert sleeps == [60.0]  # the next wait (120 s) would pass --max-wait: parked instead
    assert TOKEN not in caplog.text


def test_each_wait_is_shown_as_it_happens_on_the_command_line(
    api: GitHubAPI, tmp_path: Path, sleeps: list[float]
) -> None:
    api.faults = [Fault("secondary", status=429, after=1)]
    db = f"sqlite:///{tmp_path / 'waits.db'}"
    result = CliRunner().invoke(
        main, ["scan", "--github-org", "acme", "--db", db, "--format", "none"]
    )
    assert result.exit_code == 0, result.output
    assert "GitHub secondary rate limit (429), waiting 60 s (retry 1/4)" in result.stderr
    assert sleeps == [60.0] and TOKEN not in result.output


def test_persistent_secondary_limit_parks_after_bounded_retries(
    api: GitHubAPI, store: Store, ruleset: Ruleset, sleeps: list[float]
) -> None:
    api.faults = [Fault("secondary", retry_after=1, count=50, after=1)]
    scan_id = scan(store, ruleset, max_wait=600)
    assert store.load_scan(scan_id).status == "incomplete"
    assert sleeps == [1.0] * 4


def test_pyGithub_never_sleeps_a_retry_after_on_its_own(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through real urllib3 (no `responses`): a 403 with Retry-After: 3600 from a local
    server. GithubRetry would sleep the hour inside urllib3; the client must park instead."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps({"message": "You have exceeded a secondary rate limit."}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "3600")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        client = GitHubClient(
            org="acme", base_url=f"http://127.0.0.1:{server.server_port}", max_wait=60
        )
        with pytest.raises(Parked, match="secondary rate limit"):
            client.graphql("query { viewer { login } }")
    finally:
        server.shutdown()
        server.server_close()
    assert sleeps == []


# -- 5xx, timeouts, resets: retried, then unanswered (never absent) ---------------------------


def test_server_errors_timeouts_and_resets_are_retried_with_backoff(
    org: list[ServedRepo],
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    sleeps: list[float],
) -> None:
    api.faults = [
        Fault("server", after=1),
        Fault("timeout", after=1),
        Fault("reset", after=1),
    ]
    scan_id = scan(store, ruleset)
    assert store.load_scan(scan_id).status == "complete"
    assert sleeps == [1.0, 2.0, 4.0]
    assert_facts_equal_local(store, scan_id, compiled, org)


@pytest.mark.parametrize("kind", ["server", "went_wrong", "timeout", "cut"])
def test_file_reads_left_unanswered_leave_repositories_incomplete_and_not_reused(
    org: list[ServedRepo],
    api: GitHubAPI,
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    sleeps: list[float],
    kind: str,
) -> None:
    api.faults = [Fault(kind, count=1000, match="object(oid:")]  # every file read fails
    first = scan(store, ruleset)
    repos = store.load_scan(first).repos
    assert repos and all(not r.complete for r in repos if r.status is RepoStatus.OK)
    assert_no_ok_with_unanswered_read(store, first)
    assert all(s <= 60 for s in sleeps)
    api.faults = []
    second = scan(store, ruleset)
    assert store.load_scan(second).repos and all(
        not r.reused for r in store.load_scan(second).repos
    )
    assert_facts_equal_local(store, second, compiled, org)


def test_a_file_github_did_not_return_is_unanswered_not_absent(
    api: GitHubAPI, org: list[ServedRepo]
) -> None:
    client = GitHubClient(org="acme", max_wait=60)
    repo = next(r for r in client.list_repos() if r.full_name == org[0].full_name)
    blobs = client.read_blobs([(repo, {"nope.yml": BlobRef("0" * 40, 10)})], 1 << 20)
    assert isinstance(blobs[(repo.full_name, "nope.yml")], Unanswered)


# -- the token check ---------------------------------------------------------------------------


def test_a_rejected_token_is_one_line_before_any_scan(
    api: GitHubAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "WrongTokenValue" + "q" * 21)
    db = f"sqlite:///{tmp_path / 'token.db'}"
    result = CliRunner().invoke(main, ["scan", "--github-org", "acme", "--db", db])
    assert result.exit_code != 0
    assert "GitHub token rejected (401): Bad credentials" in result.stderr
    assert "Traceback" not in result.output and "WrongTokenValue" not in result.output
    assert [s.endpoint for s in api.log] == ["rate_limit"]  # one cheap call, nothing else
    assert Store(db).scans() == []


@pytest.mark.parametrize("good", [True, False])
def test_token_check_on_an_enterprise_server_without_rate_limits(
    api: GitHubAPI, monkeypatch: pytest.MonkeyPatch, good: bool
) -> None:
    from driftscan.models import ReadError

    api.rate_limiting = False  # GET /rate_limit: 404 "Rate limiting is not enabled."
    if not good:
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "Wrong" + "w" * 31)
    client = GitHubClient(org="acme", max_wait=60)
    if good:
        client.check_access()
    else:
        with pytest.raises(ReadError, match=r"^GitHub token rejected \(401\): Bad credentials$"):
            client.check_access()
    assert [s.endpoint for s in api.log] == ["rate_limit", "graphql"]


def test_no_token_is_one_line_without_any_request(
    api: GitHubAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.delenv("GH_TOKEN", raising=False)
    db = f"sqlite:///{tmp_path / 'anonymous.db'}"
    result = CliRunner().invoke(main, ["scan", "--github-org", "acme", "--db", db])
    assert result.exit_code != 0 and "no GitHub token" in result.stderr
    assert api.log == [] and Store(db).scans() == []


def test_an_unreachable_host_fails_fast_with_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    db = f"sqlite:///{tmp_path / 'host.db'}"
    started = time.monotonic()
    result = CliRunner().invoke(
        main, ["scan", "--github-org", "acme", "--github-url", "http://127.0.0.1:9", "--db", db]
    )
    assert result.exit_code != 0
    assert "cannot reach http://127.0.0.1:9: Connection refused" in result.stderr
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 10
    assert Store(db).scans() == []


@pytest.mark.parametrize(
    "content",
    [b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n", b"\xff\xfe\0"],
)
def test_a_malformed_app_key_is_one_line(tmp_path: Path, content: bytes) -> None:
    key = tmp_path / "app.pem"
    key.write_bytes(content)
    db = f"sqlite:///{tmp_path / 'app.db'}"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            "--github-org",
            "acme",
            "--github-app-id",
            "7",
            "--github-app-key",
            str(key),
            "--github-app-installation",
            "42",
            "--db",
            db,
        ],
    )
    assert result.exit_code != 0
    assert f"GitHub App key {key} is not a valid PEM private key" in result.stderr
    assert "Traceback" not in result.output
    assert Store(db).scans() == []


def test_a_file_whose_graphql_text_github_truncated_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub cuts Blob.text at 512,000 bytes (isTruncated): a file under --max-file-size is
    then read whole through the REST blob API, as a local scan reads it, and is not recorded
    as over a cap it is not over."""
    big = b"on: push\n" + b"# a long generated workflow\n" * 25_000  # ~700 KB
    (tmp_path / "src/.github/workflows").mkdir(parents=True)
    (tmp_path / "src/.github/workflows/big.yml").write_bytes(big)
    served = ServedRepo("acme/big", make_git_repo(tmp_path / "src", tmp_path / "big"))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    server = GitHubAPI("acme", [served], tokens={TOKEN})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        server.install(rs)
        client = GitHubClient(org="acme", max_wait=60)
        [remote] = list(client.list_repos())
        source = ForgeSource(client, remote, 1 << 20)
        [entry] = source.list_files().files
        assert source.read(entry.path) == big


def test_an_organisation_page_without_its_repositories_says_what_github_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GitHub can answer the organisation but not its repository connection (an error on that
    path, the field null): GitHub's words, never a TypeError, and never an empty listing."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    client = GitHubClient(org="acme", max_wait=60)
    answer = {
        "data": {"organization": {"repositories": None}},
        "errors": [{"path": ["organization", "repositories"], "message": "Timeout on lookup"}],
    }
    monkeypatch.setattr(client, "graphql", lambda *_args: answer)
    with pytest.raises(Unanswered, match="Timeout on lookup"):
        list(client.list_repos())


def test_a_token_with_a_stray_newline_is_never_quoted_in_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """requests refuses a header value with a newline by quoting the value: the token. The
    collector's message says what is wrong without it (the CLI's mask only knows tokens from
    the environment, and a message can be stored)."""
    token = TOKEN + "\n"
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        client = GitHubClient(org="acme", token=token, max_wait=60)
        with pytest.raises(ReadError) as caught:
            client.check_access()
    assert TOKEN not in str(caught.value) and "header" in str(caught.value)


def _files_of_first_repo(
    org: list[ServedRepo], n: int
) -> tuple[GitHubClient, RemoteRepo, dict[str, BlobRef]]:
    """A client, the first repository as listed, and blob references of its first n files."""
    client = GitHubClient(org="acme", max_wait=60)
    repo = next(r for r in client.list_repos() if r.full_name == org[0].full_name)
    listing, oids = client.tree(repo)
    return client, repo, {f.path: BlobRef(oids[f.path], f.size) for f in listing.files[:n]}


def test_a_file_query_github_gives_up_on_is_split_not_left_unread(
    api: GitHubAPI, org: list[ServedRepo], sleeps: list[float]
) -> None:
    client, repo, refs = _files_of_first_repo(org, 6)
    first = next(iter(refs.values())).oid
    # every attempt at the query holding the first file fails (1 + 3 retries): a heavy query
    api.faults = [Fault("server", status=502, count=4, match=first)]
    blobs = client.read_blobs([(repo, refs)], 1 << 20)
    assert all(isinstance(blobs[(repo.full_name, p)], bytes) for p in refs)


def test_a_forge_that_answers_no_file_query_costs_a_bounded_number_of_splits(
    api: GitHubAPI, org: list[ServedRepo], sleeps: list[float]
) -> None:
    client, repo, refs = _files_of_first_repo(org, 8)
    api.faults = [Fault("server", status=502, count=10_000)]
    before = len(api.log)
    blobs = client.read_blobs([(repo, refs)], 1 << 20)
    assert all(isinstance(blobs[(repo.full_name, p)], Unanswered) for p in refs)
    assert len(api.log) - before == 7 * 4  # 1 + 2 + 4 queries, each tried 4 times
