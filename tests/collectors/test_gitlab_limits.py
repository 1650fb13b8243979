"""GitLab scans against a replay that enforces GitLab's documented limits (tests/collectors/
gitlab_api.py): query complexity, size and depth, per-alias errors, pagination that changes
under the listing, rate limits, 5xx, resets and timeouts. A scan ends with the same facts as a
local scan, or with precise errors and never a wrong `ok` or `empty`."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from driftscan.collectors.forge import BlobRef, Parked, RemoteRepo, RepoFilter
from driftscan.collectors.git import GitSource
from driftscan.collectors.gitlab import (
    MAX_COMPLEXITY_AUTHENTICATED,
    MAX_QUERY_SIZE,
    GitLabClient,
    blob_field,
    head_field,
    query_cost,
    query_text,
)
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.models import ReadError, RepoResult, RepoStatus, Unanswered
from driftscan.store.queries import Store
from tests.collectors.fake_forges import GITLAB, ServedRepo
from tests.collectors.gitlab_api import Fault, GitLabAPI, query_complexity, read_timeout, reset
from tests.conftest import DEMO_ORG, make_git_repo

GROUP = "acme/platform"
TOKEN = "glpat-" + "NeverLogMe0123456789"
SOURCES = ("payments-api", "legacy-billing", "k8s-platform", "storefront-monorepo", "base-images")

Facts = set[tuple[str, str]]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gitlab-sources")
    return {name: make_git_repo(DEMO_ORG / name, root / name) for name in SOURCES}


@pytest.fixture(scope="module")
def local(sources: dict[str, Path], compiled: CompiledRuleset) -> dict[Path, Facts]:
    """Facts of a local scan of each distinct repository."""
    out = {}
    for path in sources.values():
        source = GitSource(path, path / ".git")
        try:
            out[path] = {(f.dimension, f.value) for f in detect_repo(compiled, source).facts}
        finally:
            source.close()
    return out


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'gitlab.db'}")
    s.ensure_schema()
    return s


def group(sources: dict[str, Path], n: int) -> list[ServedRepo]:
    """`n` projects over the distinct repositories, spread across subgroups."""
    paths = list(sources.values())
    return [
        ServedRepo(f"{GROUP}/team-{i % 7}/svc-{i:04d}", paths[i % len(paths)]) for i in range(n)
    ]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(sleep: Sleeps | None = None, max_wait: float = 60, **kwargs: object) -> GitLabClient:
    return GitLabClient(
        group=GROUP,
        url=GITLAB,
        token=TOKEN,
        max_wait=max_wait,
        sleep=sleep or Sleeps(),
        **kwargs,  # type: ignore[arg-type]
    )


def scan(
    api: GitLabAPI, store: Store, ruleset: Ruleset, gl: GitLabClient | None = None
) -> tuple[str, dict[str, RepoResult]]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        outcome = run_forge_scan(
            gl or client(),
            RepoFilter(),
            store,
            ruleset,
            f"gitlab:{GROUP}",
            ForgeScanOptions(reuse=False),
        )
    return outcome.status, {r.name: r for r in store.load_scan(outcome.scan_id).repos}


def facts(result: RepoResult) -> Facts:
    return {(f.dimension, f.value) for f in result.facts}


@pytest.fixture(autouse=True)
def python_gitlab_never_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-gitlab's own retry loop sleeps as long as Retry-After says, ten times: every wait
    must be the collector's, bounded by --max-wait."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"python-gitlab slept {seconds}s")

    monkeypatch.setattr("gitlab.utils.time.sleep", refuse)


# -- complexity --------------------------------------------------------------------------


def test_query_cost_is_gitlabs_complexity_for_every_query_the_collector_builds() -> None:
    paths = tuple(f".github/workflows/w{i}.yml" for i in range(100))
    queries = [
        [head_field("p0", "acme/platform/api")],
        [head_field(f"p{i}", f"acme/platform/svc-{i}") for i in range(35)],
        [blob_field("p0", "acme/a", "c0ffee", paths[:1])],
        [blob_field("p0", "acme/a", "c0ffee", paths[:7])],
        [blob_field("p0", "acme/a", "c0ffee", paths)],
        [blob_field(f"p{i}", f"acme/{i}", "c0ffee", paths[:10]) for i in range(5)],
    ]
    for fields in queries:
        assert query_cost(fields) == query_complexity(query_text(fields))
    # by hand from GitLab's Ruby: sha 1, lastCommit 1+1+gitaly, tree 3+1+gitaly,
    # repository 1+5, project 6+1
    assert query_cost([head_field("p0", "a/b")]) == 7
    # nodes{path rawTextBlob size} 4; blobs (4+1+100 paths+gitaly) x (1 + 100 x 0.01) = 212;
    # repository 213; project 214: one page of paths fits one authenticated query, two do not
    assert query_cost([blob_field("p0", "a/b", "c", paths)]) == 214
    # the query the collector used to send for a page of projects: 100 aliases, refused
    assert query_complexity(query_text([head_field(f"p{i}", "a/b") for i in range(100)])) == 700


def test_a_thousand_projects_scan_like_a_local_scan_within_gitlabs_limits(
    sources: dict[str, Path],
    local: dict[Path, Facts],
    store: Store,
    ruleset: Ruleset,
) -> None:
    repos = group(sources, 1000)
    api = GitLabAPI(GROUP, repos, tokens=(TOKEN,))
    started = time.monotonic()
    status, results = scan(api, store, ruleset)
    seconds = time.monotonic() - started
    assert status == "complete"
    assert len(results) == 1000
    for repo in repos:
        result = results[repo.full_name]
        assert result.status is RepoStatus.OK and result.complete, (repo.full_name, result.error)
        assert facts(result) == local[repo.path], repo.full_name  # type: ignore[index]
    assert max(api.complexities) <= MAX_COMPLEXITY_AUTHENTICATED
    assert api.calls["fault"] == 0
    calls = api.calls
    total = calls["rest"] + calls["graphql"]
    print(
        f"\n1,000 GitLab projects: {total} requests = {total / 1000:.3f}/project "
        f"(check {calls['check']}, project pages {calls['projects']}, "
        f"head queries {calls['graphql-heads']}, tree pages {calls['tree']}, "
        f"blob queries {calls['graphql-blobs']}); largest complexity "
        f"{max(api.complexities)}; {seconds:.1f}s"
    )
    # project pages: 10; heads: 35 projects per query (7 points each, 250 at most); trees: one
    # page per project here; files: as many projects per query as 250 points allow
    assert calls["projects"] == 10 and calls["graphql-heads"] == 29
    assert calls["tree"] == 1000 and calls["check"] == 1
    assert total <= 1.4 * 1000


def test_queries_are_packed_to_the_limit_and_never_refused(sources: dict[str, Path]) -> None:
    repos = group(sources, 100)
    api = GitLabAPI(GROUP, repos)
    gl = client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        listed = list(gl.list_repos())
        wanted = [(r, {f"file-{i}.yml": BlobRef("x", None) for i in range(100)}) for r in listed]
        gl.read_blobs(wanted[:3], 1 << 20)
    assert [r.full_name for r in listed] == [r.full_name for r in repos]
    # 7 points a project: 35 + 35 + 30 in three queries; a full page of paths (214 points)
    # is one project per query
    assert api.calls["graphql-heads"] == 3 and api.calls["graphql-blobs"] == 3
    assert api.calls["refused"] == 0 and max(api.complexities) == 245
    # a query that cannot fit GitLab's limits is never sent (a 10,000-character name)
    before = api.calls["graphql"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        answer = gl.ask([head_field("p0", "g/" + "x" * 10_000)])
    assert isinstance(answer["p0"], Unanswered) and "exceeds GitLab's limits" in str(answer["p0"])
    assert api.calls["graphql"] == before


def test_a_stricter_gitlab_refusing_for_complexity_gets_the_query_split_not_dropped(
    sources: dict[str, Path],
    local: dict[Path, Facts],
    store: Store,
    ruleset: Ruleset,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repos = group(sources, 60)
    # an instance configured below the documented limit: the estimate is no longer enough
    api = GitLabAPI(GROUP, repos, complexity=60)
    with caplog.at_level(logging.WARNING, logger="driftscan.forge"):
        status, results = scan(api, store, ruleset)
    assert status == "complete"
    for repo in repos:
        assert facts(results[repo.full_name]) == local[repo.path]  # type: ignore[index]
    assert max(api.complexities) <= 60
    assert any("splitting it" in r.getMessage() for r in caplog.records)


def test_a_gitlab_that_refuses_everything_gives_precise_errors_never_ok_or_empty(
    sources: dict[str, Path], store: Store, ruleset: Ruleset
) -> None:
    api = GitLabAPI(GROUP, group(sources, 40), complexity=3)  # even one project is refused
    status, results = scan(api, store, ruleset)
    # a whole chunk (25) without an answer stops the scan, resumably: not 40 slow failures
    assert status == "incomplete" and len(results) == 25
    for result in results.values():
        assert result.status is RepoStatus.ERROR and not result.facts
        assert "exceeds max complexity of 3" in (result.error or "")


# -- per-alias errors, empty repositories -------------------------------------------------


def test_per_alias_errors_stay_on_their_repository(
    sources: dict[str, Path],
    local: dict[Path, Facts],
    store: Store,
    ruleset: Ruleset,
    tmp_path: Path,
) -> None:
    repos = group(sources, 12)
    empty = ServedRepo(f"{GROUP}/new-empty", None)
    api = GitLabAPI(GROUP, [*repos, empty])
    api.hidden.add(repos[3].full_name)  # listed, then GraphQL answers null
    api.blob_denied.add(repos[5].full_name)  # BlobsResolver refuses: an error with a path
    _, results = scan(api, store, ruleset)
    gone = results[repos[3].full_name]
    assert gone.status is RepoStatus.ERROR
    assert "no longer readable" in (gone.error or "")
    denied = results[repos[5].full_name]
    assert not denied.complete  # its files are unseen: never reused, --resume reads it again
    assert any("don't have permission" in p.reason for p in denied.problems)
    assert results[empty.full_name].status is RepoStatus.EMPTY
    for i, repo in enumerate(repos):
        if i not in (3, 5):
            assert results[repo.full_name].status is RepoStatus.OK
            assert facts(results[repo.full_name]) == local[repo.path]  # type: ignore[index]


def test_a_repository_is_empty_only_when_gitlab_says_so(sources: dict[str, Path]) -> None:
    repos = group(sources, 2)
    api = GitLabAPI(GROUP, repos)
    gl = client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        first = gl._head("a", {"empty_repo": True}, {"repository": {"tree": None}})
        assert first is None and "a" not in gl._unseen  # GitLab: no commits
        second = gl._head("b", {"empty_repo": False}, {"repository": {"tree": None}})
        assert second is None and isinstance(gl._unseen["b"], Unanswered)
        unlisted = RemoteRepo("gitlab", "b", "u", None, None, ident="2")
        with pytest.raises(Unanswered):
            gl.tree(unlisted)


# -- pagination ----------------------------------------------------------------------------


def test_a_listing_that_changes_between_pages_is_read_again_and_misses_nothing(
    sources: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    repos = group(sources, 250)
    api = GitLabAPI(GROUP, repos)
    # after page 1 is served, a project of page 1 is deleted: offset pages shift by one
    api.after_page[1] = lambda: api.deleted.add(repos[10].full_name)
    with (
        responses.RequestsMock(assert_all_requests_are_fired=False) as rs,
        caplog.at_level(logging.WARNING, logger="driftscan.forge"),
    ):
        api.install(rs)
        listed = [r.full_name for r in client().list_repos()]
    expected = [r.full_name for r in repos if r.full_name != repos[10].full_name]
    assert listed == expected
    assert api.calls["projects"] == 3 + 3
    assert any("changed while it was listed" in r.getMessage() for r in caplog.records)


def test_pages_follow_x_next_page_when_there_is_no_link_header(sources: dict[str, Path]) -> None:
    repos = group(sources, 230)
    api = GitLabAPI(GROUP, repos)
    api.links = False
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        listed = [r.full_name for r in client().list_repos()]
    assert listed == [r.full_name for r in repos] and api.calls["projects"] == 3


# -- the replay itself refuses what GitLab refuses -------------------------------------------


def test_the_replay_answers_as_gitlab_documents(sources: dict[str, Path]) -> None:
    repos = group(sources, 3)
    api = GitLabAPI(GROUP, repos)
    api.hidden.add(repos[1].full_name)
    api.blob_denied.add(repos[2].full_name)
    url = f"{GITLAB}/api/graphql"
    token = {"PRIVATE-TOKEN": TOKEN}

    def post(body: Any, headers: dict[str, str] = token) -> requests.Response:
        return requests.post(url, json=body, headers=headers, timeout=5)

    heads = query_text([head_field(f"p{i}", r.full_name) for i, r in enumerate(repos)])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        many = query_text([head_field(f"p{i}", "a/b") for i in range(36)])  # 252 points
        refused = post({"query": many})
        assert refused.status_code == 200
        assert refused.json() == {
            "errors": [
                {"message": "Query has complexity of 252, which exceeds max complexity of 250"}
            ]
        }
        assert (
            "200"
            in post(
                {"query": query_text([head_field(f"p{i}", "a/b") for i in range(29)])}, {}
            ).json()["errors"][0]["message"]
        )  # 203 points without a token
        large = post({"query": "query { " + " " * MAX_QUERY_SIZE + "}"})
        assert (
            large.status_code == 422 and large.json()["errors"][0]["message"] == "Query too large"
        )
        unknown = post({"query": 'query { project(fullPath: "a/b") { secrets } }'})
        assert (
            unknown.json()["errors"][0]["message"]
            == "Field 'secrets' doesn't exist on type 'Project'"
        )
        half = query_text([head_field(f"p{i}", "a/b") for i in range(18)])  # 126 points each
        both = post([{"query": half}, {"query": half}])  # a multiplex is held to one limit
        assert [a["errors"][0]["message"] for a in both.json()] == [
            "Query has complexity of 252, which exceeds max complexity of 250"
        ] * 2
        answer = post({"query": heads}).json()
        assert answer["data"]["p1"] is None and "errors" not in answer  # GitLab: null, no word
        assert answer["data"]["p0"]["repository"]["tree"]["lastCommit"]["sha"]
        files = query_text([blob_field("p0", repos[2].full_name, "main", ["Dockerfile"])])
        denied = post({"query": files}).json()
        assert denied["data"]["p0"]["repository"]["blobs"] is None
        assert denied["errors"][0]["path"] == ["p0", "repository", "blobs"]
        api.tokens = (TOKEN,)
        stranger = post({"query": heads}, {"PRIVATE-TOKEN": "glpat-unknown"})
        assert stranger.status_code == 401
        assert stranger.json() == {"errors": [{"message": "Invalid token"}]}


# -- rate limits, faults, the token check ----------------------------------------------------


def test_429_without_retry_after_parks_when_the_wait_exceeds_max_wait(
    sources: dict[str, Path], store: Store, ruleset: Ruleset
) -> None:
    api = GitLabAPI(GROUP, group(sources, 5))
    api.faults = [Fault("graphql", 429, count=100)]  # no Retry-After, no RateLimit-Reset
    sleeps = Sleeps()
    status, _ = scan(api, store, ruleset, client(sleeps, max_wait=10))
    assert status == "incomplete"
    assert sleeps.waits == []  # parked at once: one 60 s rate-limit period > --max-wait 10
    assert "60s" in (store.load_scan(1).note or "")


def test_429_waits_as_gitlab_asks_and_every_retry_is_reported(
    sources: dict[str, Path],
    local: dict[Path, Facts],
    store: Store,
    ruleset: Ruleset,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repos = group(sources, 5)
    api = GitLabAPI(GROUP, repos)
    api.faults = [
        Fault("projects", 429, {"Retry-After": "7"}),
        Fault("graphql", 429, {"RateLimit-Reset": str(int(time.time()) + 20)}),
        Fault("tree", 429),  # no header at all: one rate-limit period
    ]
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="driftscan.forge"):
        status, results = scan(api, store, ruleset, client(sleeps, max_wait=120))
    assert status == "complete"
    assert sleeps.waits[0] == 7 and 15 <= sleeps.waits[1] <= 20 and sleeps.waits[2] == 60
    for repo in repos:
        assert facts(results[repo.full_name]) == local[repo.path]  # type: ignore[index]
    messages = [r.getMessage() for r in caplog.records]
    assert "GitLab 429 (rate limit), retry 1/4 in 7 s" in messages
    assert not any(TOKEN in m for m in messages)


def test_5xx_resets_and_timeouts_are_retried_bounded_then_unanswered(
    sources: dict[str, Path],
    local: dict[Path, Facts],
    store: Store,
    ruleset: Ruleset,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repos = group(sources, 6)
    api = GitLabAPI(GROUP, repos)
    api.faults = [
        Fault("graphql", 502, count=2),
        Fault("projects", error=reset),
        # the third project's tree never answers (trees are read concurrently: by its URL)
        Fault(
            "tree",
            error=read_timeout,
            count=5,
            url_contains=f"/projects/{api.ids[repos[2].full_name]}/",
        ),
    ]
    sleeps = Sleeps()
    with caplog.at_level(logging.WARNING, logger="driftscan.forge"):
        _, results = scan(api, store, ruleset, client(sleeps))
    unanswered = [r for r in results.values() if r.status is RepoStatus.ERROR]
    assert len(unanswered) == 1
    assert "no answer within 30 s (read timeout); no answer after 5 attempts" in (
        unanswered[0].error or ""
    )
    for result in results.values():
        if result is not unanswered[0]:
            assert result.status is RepoStatus.OK
    messages = [r.getMessage() for r in caplog.records]
    assert "GitLab 502, retry 1/4 in 1 s" in messages
    assert "connection reset, retry 1/4 in 1 s" in messages
    assert sum(sleeps.waits) <= 60  # bounded by --max-wait


def test_a_bad_token_or_an_unreachable_host_fails_at_once_with_one_line(
    sources: dict[str, Path], store: Store, ruleset: Ruleset
) -> None:
    api = GitLabAPI(GROUP, group(sources, 3), tokens=("glpat-other",))
    with pytest.raises(ReadError, match=r"^GitLab token rejected \(401\): 401 Unauthorized$"):
        scan(api, store, ruleset)
    assert api.calls["check"] == api.calls["rest"] == 1 and api.calls["graphql"] == 0
    api = GitLabAPI(GROUP, group(sources, 3))
    api.faults = [Fault("check", error=reset, count=100)]
    with pytest.raises(ReadError, match=r"^cannot reach https://gitlab\.example\.com: "):
        scan(api, store, ruleset)
    assert api.calls["check"] == 1  # no retries before saying so


@pytest.mark.parametrize(
    ("max_wait", "waits"),
    [(20, [7, 7]), (120, [7, 7, 7, 7])],  # the wait passes --max-wait; the retries run out
)
def test_429_that_keeps_coming_parks_the_scan_rather_than_leaving_files_unanswered(
    sources: dict[str, Path], max_wait: float, waits: list[float]
) -> None:
    """A rate limit is never "no answer": when GitLab keeps refusing with 429 (each wait
    within --max-wait), the scan parks, as GitHub's does, instead of marking files unread."""
    api = GitLabAPI(GROUP, group(sources, 3))
    api.faults = [Fault("projects", 429, {"Retry-After": "7"}, count=100)]
    sleeps = Sleeps()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        with pytest.raises(Parked, match="rate limit"):
            list(client(sleeps, max_wait=max_wait).list_repos())
    assert sleeps.waits == waits


def test_a_token_with_a_final_newline_works_and_one_with_a_line_break_inside_is_refused(
    sources: dict[str, Path],
) -> None:
    api = GitLabAPI(GROUP, group(sources, 1), tokens={TOKEN})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        api.install(rs)
        GitLabClient(group=GROUP, url=GITLAB, token=TOKEN + "\n").check_access()
        with pytest.raises(ReadError) as caught:
            GitLabClient(group=GROUP, url=GITLAB, token="glpat-Secret\nSecret")
    assert "contains spaces or control characters" in str(caught.value)
    assert "Secret" not in str(caught.value)
