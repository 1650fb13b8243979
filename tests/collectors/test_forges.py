"""GitHub and GitLab scans replayed with `responses`: same facts as a local scan of the same
repositories, request budgets, filters, rate limits, parking and resume, partial errors."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from driftscan.collectors.forge import RepoFilter
from driftscan.collectors.git import GitSource
from driftscan.collectors.github import AppCredentials, GitHubClient
from driftscan.collectors.gitlab import GitLabClient
from driftscan.engine.detect import CompiledRuleset, detect_repo
from driftscan.engine.rules import Ruleset
from driftscan.forge_runner import ForgeScanOptions, run_forge_scan
from driftscan.models import RepoStatus
from driftscan.store.queries import Store
from tests.collectors.fake_forges import GITLAB, FakeGitHub, FakeGitLab, RateLimit, ServedRepo
from tests.conftest import DEMO_ORG, make_git_repo

NAMES = (
    "payments-api",
    "legacy-billing",
    "k8s-platform",
    "storefront-monorepo",
    "engineering-handbook",
)
TOKEN = "ghp_" + "T0kenThatMustNeverBeStored" + "x" * 10


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> list[ServedRepo]:
    root = tmp_path_factory.mktemp("served")
    repos = [
        ServedRepo(f"acme/{name}", make_git_repo(DEMO_ORG / name, root / name)) for name in NAMES
    ]
    archived = make_git_repo(DEMO_ORG / "base-images", root / "old")
    repos.append(ServedRepo("acme/old-images", archived, archived=True))
    repos.append(ServedRepo("acme/forked-lib", archived, fork=True))
    repos.append(ServedRepo("acme/new-empty", None))
    return repos


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'forge.db'}")
    s.ensure_schema()
    return s


def local_facts(compiled: CompiledRuleset, repo: ServedRepo) -> set[tuple[str, str]]:
    assert repo.path is not None
    source = GitSource(repo.path, repo.path / ".git")
    try:
        return {(f.dimension, f.value) for f in detect_repo(compiled, source).facts}
    finally:
        source.close()


def stored_facts(store: Store, scan_id: int) -> dict[str, set[tuple[str, str]]]:
    return {
        r.name: {(f.dimension, f.value) for f in r.facts} for r in store.load_scan(scan_id).repos
    }


def github(monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> GitHubClient:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    return GitHubClient(org="acme", max_wait=60, **kwargs)  # type: ignore[arg-type]


def test_github_org_scan_equals_local_scan_within_the_request_budget(
    served: list[ServedRepo],
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeGitHub("acme", served, page_size=3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(github(monkeypatch), RepoFilter(), store, ruleset, "github:acme")
        auth = {c.request.headers.get("Authorization") for c in rs.calls}
    assert outcome.status == "complete" and outcome.errors == 0
    facts = stored_facts(store, outcome.scan_id)
    scanned = [r for r in served if not (r.archived or r.fork)]
    assert sorted(facts) == sorted(r.full_name for r in scanned)
    for repo in scanned:
        expected = local_facts(compiled, repo) if repo.path else set()
        assert facts[repo.full_name] == expected, repo.full_name
    scan = store.load_scan(outcome.scan_id)
    assert scan.note == "skipped by filters: 1 archived, 1 fork"
    payments = next(r for r in scan.repos if r.name == "acme/payments-api")
    assert (
        payments.owners
        and payments.meta.visibility == "private"
        and payments.location == "https://github.com/acme/payments-api"
    )
    assert next(r for r in scan.repos if r.name == "acme/new-empty").status is RepoStatus.EMPTY
    # 3 listing pages, then GraphQL only: the chunk's trees (4 folder levels per read, 20
    # reads per query), its blob batch, and code read on demand. No REST call at all.
    assert fake.calls["rest"] == 0
    assert fake.calls["graphql"] - 3 <= 6
    assert (fake.calls["graphql"] - 3) / len(scanned) <= 1.5
    assert auth == {f"token {TOKEN}"}
    assert TOKEN.encode() not in Path(store.url.removeprefix("sqlite:///")).read_bytes()


def test_unchanged_rescan_costs_only_the_listing_pages(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGitHub("acme", served, page_size=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        first = run_forge_scan(github(monkeypatch), RepoFilter(), store, ruleset, "github:acme")
        before = sum(fake.calls.values())
        second = run_forge_scan(github(monkeypatch), RepoFilter(), store, ruleset, "github:acme")
    assert sum(fake.calls.values()) - before == 1  # one listing page, nothing per repository
    assert second.reused == first.repos - 1  # all but the empty repository
    assert stored_facts(store, first.scan_id) == stored_facts(store, second.scan_id)


def test_filters_by_name_topic_archived_and_forks(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGitHub("acme", served, page_size=100)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        repo_filter = RepoFilter(
            include=("*-*",), exclude=("/^k8s/",), include_archived=True, include_forks=True
        )
        outcome = run_forge_scan(
            github(monkeypatch), repo_filter, store, ruleset, "github:acme filtered"
        )
    names = {r.name for r in store.load_scan(outcome.scan_id).repos}
    assert names == {
        "acme/payments-api",
        "acme/legacy-billing",
        "acme/storefront-monorepo",
        "acme/engineering-handbook",
        "acme/old-images",
        "acme/forked-lib",
        "acme/new-empty",
    }


def test_deep_repository_uses_rest_and_a_truncated_tree_is_walked(
    served: list[ServedRepo],
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Force the REST path (as for a monorepo with many deep folders), whose answer is truncated.
    monkeypatch.setattr("driftscan.collectors.github.GRAPHQL_FOLDER_LIMIT", -1)
    fake = FakeGitHub("acme", served, page_size=100, truncate=("acme/storefront-monorepo",))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(
            github(monkeypatch),
            RepoFilter(include=("storefront-*",)),
            store,
            ruleset,
            "github:acme",
        )
    repo = next(r for r in served if r.full_name == "acme/storefront-monorepo")
    assert stored_facts(store, outcome.scan_id)["acme/storefront-monorepo"] == local_facts(
        compiled, repo
    )
    assert fake.calls["rest"] > 5  # the recursive call, then one per folder


def test_transient_errors_and_secondary_limits_are_retried(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)  # the waits are recorded, not slept
    fake = FakeGitHub("acme", served, page_size=100)
    fake.trouble = [
        RateLimit(502, kind="graphql"),
        RateLimit(429, kind="graphql", after=1),  # no Retry-After: bounded exponential backoff
        RateLimit(
            403,
            kind="graphql",
            after=2,
            headers={"Retry-After": "0"},
            body={
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            },
        ),
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(
            github(monkeypatch),
            RepoFilter(include=("payments-*", "legacy-*")),
            store,
            ruleset,
            "github:acme",
        )
    assert (outcome.status, outcome.errors, outcome.repos) == ("complete", 0, 2)
    assert sleeps == [1.0, 60.0, 0.0]  # 5xx backoff, GitHub's minute for a bare 429, Retry-After


def test_primary_rate_limit_parks_the_scan_and_resume_finishes_it(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGitHub("acme", served, page_size=100)
    reset = str(int(time.time()) + 3600)
    fake.trouble = [
        RateLimit(
            403,
            count=10,
            kind="graphql",
            headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
            body={
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
            },
        )
    ]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        # the listing page goes through; the first blob batch hits the exhausted budget
        fake.trouble[0].count = 0
        client = github(monkeypatch)
        listing = list(client.list_repos())
        assert len(listing) == len(served)
        fake.trouble[0].count = 10
        parked = run_forge_scan(client, RepoFilter(), store, ruleset, "github:acme")
        assert parked.status == "incomplete"
        scan = store.load_scan(parked.scan_id)
        assert scan.status == "incomplete" and "--resume" in (scan.note or "")
        fake.trouble.clear()
        resumed = run_forge_scan(
            github(monkeypatch),
            RepoFilter(),
            store,
            ruleset,
            "github:acme",
            ForgeScanOptions(resume=True),
        )
    assert resumed.scan_id == parked.scan_id and resumed.status == "complete"
    final = store.load_scan(parked.scan_id)
    assert len(final.repos) == len({r.name for r in final.repos}) == len(served) - 2


def test_missing_repositories_and_graphql_partial_errors_are_recorded(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGitHub("acme", served, page_size=100)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    client = GitHubClient(repos=("acme/payments-api", "acme/gone"), max_wait=60)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(
            client, RepoFilter(), store, ruleset, "github:acme/payments-api,acme/gone"
        )
    repos = {r.name: r for r in store.load_scan(outcome.scan_id).repos}
    assert repos["acme/gone"].status is RepoStatus.ERROR
    assert "Could not resolve to a Repository" in (repos["acme/gone"].error or "")
    assert repos["acme/payments-api"].values("ci.system") == ("github-actions",)


def test_unknown_organisation_is_a_clear_error(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGitHub("acme", served)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        client = GitHubClient(org="nope", max_wait=60)
        with pytest.raises(Exception, match="Could not resolve to an Organization"):
            run_forge_scan(client, RepoFilter(), store, ruleset, "github:nope")
    assert store.scans()[0].status == "failed"


def test_github_app_authentication(
    served: list[ServedRepo],
    store: Store,
    ruleset: Ruleset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    fake = FakeGitHub("acme", served, page_size=100)
    installation_token = "ghs_" + "InstallationTokenValue0123456789abcd"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        rs.add(
            responses.GET,
            "https://api.github.com:443/orgs/acme/installation",
            json={"id": 4242, "account": {"login": "acme"}, "app_id": 7},
        )
        rs.add(
            responses.POST,
            "https://api.github.com:443/app/installations/4242/access_tokens",
            json={
                "token": installation_token,
                "expires_at": "2099-01-01T00:00:00Z",
                "permissions": {"contents": "read"},
            },
            status=201,
        )
        client = GitHubClient(org="acme", app=AppCredentials("7", key_file), max_wait=60)
        outcome = run_forge_scan(
            client, RepoFilter(include=("payments-*",)), store, ruleset, "github:acme"
        )
        graphql_auth = {
            c.request.headers.get("Authorization") for c in rs.calls if "graphql" in c.request.url
        }
    assert outcome.status == "complete" and outcome.repos == 1
    assert graphql_auth == {f"token {installation_token}"}


# -- GitLab ---------------------------------------------------------------------------------


def gitlab_repos(served: list[ServedRepo]) -> list[ServedRepo]:
    return [
        ServedRepo(
            r.full_name.replace(
                "acme/", "acme/platform/sub/" if "k8s" in r.full_name else "acme/platform/"
            ),
            r.path,
            r.archived,
            r.fork,
            r.topics,
        )
        for r in served
    ]


def test_gitlab_group_scan_equals_local_scan(
    served: list[ServedRepo],
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-" + "NeverStoreMe0123456789")
    repos = gitlab_repos(served)
    fake = FakeGitLab("acme/platform", repos, page_size=3)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        client = GitLabClient(group="acme/platform", url=GITLAB, max_wait=60)
        outcome = run_forge_scan(client, RepoFilter(), store, ruleset, "gitlab:acme/platform")
        tokens = {c.request.headers.get("PRIVATE-TOKEN") for c in rs.calls}
        before = sum(fake.calls.values())
        rescan = run_forge_scan(
            GitLabClient(group="acme/platform", url=GITLAB),
            RepoFilter(),
            store,
            ruleset,
            "gitlab:acme/platform",
        )
        rescan_calls = sum(fake.calls.values()) - before
    assert outcome.status == "complete" and outcome.errors == 0
    facts = stored_facts(store, outcome.scan_id)
    for repo in repos:
        if repo.archived or repo.fork:
            assert repo.full_name not in facts
        else:
            assert facts[repo.full_name] == (local_facts(compiled, repo) if repo.path else set()), (
                repo.full_name
            )
    assert tokens == {"glpat-NeverStoreMe0123456789"}
    # rescan: the token check + 3 project pages (this server caps per_page at 3) + one head
    # query per 35 projects, nothing per project
    assert rescan.reused == outcome.repos - 1 and rescan_calls == 1 + 3 + 1


def test_gitlab_rate_limit_waits_or_parks(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-x")
    repos = gitlab_repos(served)
    fake = FakeGitLab("acme/platform", repos)
    fake.trouble = [RateLimit(429, kind="rest", headers={"Retry-After": "0"})]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        ok = run_forge_scan(
            GitLabClient(group="acme/platform", url=GITLAB, max_wait=60),
            RepoFilter(),
            store,
            ruleset,
            "gitlab:g",
        )
        assert ok.status == "complete"
        fake.trouble = [RateLimit(429, count=50, kind="graphql", headers={"Retry-After": "3600"})]
        parked = run_forge_scan(
            GitLabClient(group="acme/platform", url=GITLAB, max_wait=60),
            RepoFilter(),
            store,
            ruleset,
            "gitlab:h",
            ForgeScanOptions(reuse=False),
        )
    assert parked.status == "incomplete"
    assert "3600s" in (store.load_scan(parked.scan_id).note or "")


def test_clone_mode_equals_api_mode_and_reuses_its_cache(
    served: list[ServedRepo],
    store: Store,
    ruleset: Ruleset,
    compiled: CompiledRuleset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A git "server" laid out like github.com/<owner>/<name>.git, serving the same repositories.
    server = tmp_path / "server" / "acme"
    server.mkdir(parents=True)
    for repo in served:
        if repo.path is not None:
            git_config = ["config", "uploadpack.allowFilter", "true"]
            subprocess.run(["git", *git_config], cwd=repo.path, check=True)
            subprocess.run(
                ["git", "config", "uploadpack.allowAnySHA1InWant", "true"],
                cwd=repo.path,
                check=True,
            )
            (server / f"{repo.full_name.split('/')[1]}.git").symlink_to(repo.path)
    fake = FakeGitHub("acme", served, page_size=100)
    cache = tmp_path / "clones"
    options = ForgeScanOptions(clone_dir=cache, reuse=False)
    repo_filter = RepoFilter(include=("payments-*", "k8s-*"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        client = GitHubClient(org="acme", max_wait=60, clone_base=f"file://{tmp_path / 'server'}")
        first = run_forge_scan(client, repo_filter, store, ruleset, "github:acme", options)
        second = run_forge_scan(client, repo_filter, store, ruleset, "github:acme", options)
    assert first.status == second.status == "complete" and first.errors == 0
    for repo in served:
        if repo.full_name in ("acme/payments-api", "acme/k8s-platform"):
            assert stored_facts(store, first.scan_id)[repo.full_name] == local_facts(compiled, repo)
            assert stored_facts(store, second.scan_id)[repo.full_name] == local_facts(
                compiled, repo
            )
    assert (cache / "local" / "acme" / "payments-api.git" / "HEAD").is_file()
    assert fake.calls["rest"] == 0  # no file API at all in clone mode


def test_connection_failures_and_451_cost_one_repository_not_the_scan(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)  # retry backoffs, not slept
    fake = FakeGitHub("acme", served, page_size=100)
    fake.unavailable.add("acme/legacy-billing")
    fake.drop_graphql_after = 1  # the listing page goes through; trees and blobs cannot connect
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(
            github(monkeypatch),
            RepoFilter(include=("payments-*", "legacy-*")),
            store,
            ruleset,
            "github:acme",
        )
    repos = {r.name: r for r in store.load_scan(outcome.scan_id).repos}
    # files that got no answer: stored with their reasons, the scan is not complete
    assert outcome.status == "incomplete" and outcome.partial == 1
    # the tree query failed: each repository fell back to its REST tree, one 451 among them
    assert repos["acme/legacy-billing"].status is RepoStatus.ERROR
    assert "451" in (repos["acme/legacy-billing"].error or "")
    assert repos["acme/payments-api"].status is RepoStatus.OK
    # its files could not be fetched: every one is a recorded problem, not a crash
    assert any("GitHub request failed" in p.reason for p in repos["acme/payments-api"].problems)


def test_gitlab_job_token_inside_gitlab_ci(
    served: list[ServedRepo], store: Store, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token-value")
    monkeypatch.setenv("CI_SERVER_URL", GITLAB)
    fake = FakeGitLab("acme/platform", gitlab_repos(served))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        fake.install(rs)
        outcome = run_forge_scan(
            GitLabClient(group="acme/platform", url=GITLAB),
            RepoFilter(include=("payments-*",)),
            store,
            ruleset,
            "gitlab:acme/platform",
        )
        headers = {
            (c.request.headers.get("JOB-TOKEN"), c.request.headers.get("PRIVATE-TOKEN"))
            for c in rs.calls
        }
    assert outcome.status == "complete" and outcome.repos == 1
    assert headers == {("job-token-value", None)}
