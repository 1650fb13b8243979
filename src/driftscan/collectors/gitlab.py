"""GitLab (gitlab.com or self-hosted) through python-gitlab: a group and all its subgroups.

Cost model: the group's project pages (REST, 100 per request: archived, fork, topics,
`empty_repo`...), then GraphQL queries for the projects' head commits, about 35 projects a
query; the file listing is the repository tree (REST, 100 entries per page); files come from
GraphQL `repository.blobs(paths:)`, many projects per query. An unchanged project costs nothing
beyond its share of the list pages and head queries.

GraphQL limits: GitLab refuses, with HTTP 200 and no `data`, a query whose complexity exceeds
250 (200 without a token), whose depth exceeds 15, or whose text exceeds 10,000 characters
(docs: GraphQL API "Limits"; app/graphql/gitlab_schema.rb, graphql_controller.rb). Every query
is sized from `query_cost`, which follows GitLab's own rules, before it is sent; a query GitLab
still refuses for its size is split and asked again; an `errors` entry is never dropped.

Faults: python-gitlab's own retry loop is switched off (it sleeps up to ten times, as long as
`Retry-After` says, with no ceiling). Here 5xx and connection errors are retried a bounded
number of times, a 429 waits `Retry-After` (or until `RateLimit-Reset`, or one 60-second rate
limit period) unless that exceeds `max_wait`, which parks the scan; every retry is logged.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabError
from gitlab.utils import EncodedId

from driftscan.collectors.forge import Blob, BlobRef, Parked, RemoteRepo, RequestLog, TreeResult
from driftscan.collectors.local import MAX_FILES, ProblemLog, is_readable_entry
from driftscan.models import FileEntry, Listing, ReadError, Unanswered

log = logging.getLogger("driftscan.forge")

PAGE_SIZE = 100  # REST pages and GraphQL connections: GitLab's maximum page size
MAX_COMPLEXITY_AUTHENTICATED = 250  # GitlabSchema::AUTHENTICATED_MAX_COMPLEXITY
MAX_COMPLEXITY_ANONYMOUS = 200  # GitlabSchema::DEFAULT_MAX_COMPLEXITY
MAX_DEPTH = 15  # GitlabSchema::DEFAULT_MAX_DEPTH (20 with a token; 15 holds for both)
MAX_QUERY_SIZE = 10_000  # GraphqlController::MAX_QUERY_SIZE, characters of query text
ATTEMPTS = 5  # per request: the first try and four retries
RATE_LIMIT_PERIOD = 60.0  # GitLab's rate limits count requests per 60-second period
CHECK_TIMEOUT = 10  # seconds: the first request says at once whether GitLab is there
LISTING_PASSES = 3  # a group listing that changes while it is read is read again

# GitLab answers these with a GraphQL error body that says what went wrong.
GRAPHQL_ERROR_STATUSES = frozenset({400, 422})
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})


# -- GraphQL queries and their cost --------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One selected field of a GraphQL query: what is sent is rendered from this, and its cost
    is computed from this, so the estimate is always of the query actually sent."""

    name: str
    args: tuple[tuple[str, str | int | tuple[str, ...]], ...] = ()
    children: tuple[Field, ...] = ()
    alias: str | None = None

    def render(self) -> str:
        head = f"{self.alias}: {self.name}" if self.alias else self.name
        if self.args:
            head += "(" + ", ".join(f"{k}: {_literal(v)}" for k, v in self.args) + ")"
        if self.children:
            head += " { " + " ".join(c.render() for c in self.children) + " }"
        return head

    def arg(self, name: str) -> str | int | tuple[str, ...] | None:
        return dict(self.args).get(name)


def _literal(value: str | int | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)  # a JSON string or number is a valid GraphQL literal


@dataclass(frozen=True)
class FieldRule:
    """How GitLab prices one field (Types::BaseField, Resolvers::BaseResolver)."""

    resolver: bool = False  # resolver fields: children + resolver_complexity (1 + ...)
    gitaly: bool = False  # calls_gitaly: one more
    per_path: bool = False  # BlobsResolver.resolver_complexity adds one per requested path
    connection: bool = False  # grows by itself x page size x complexity_multiplier (0.01)


# The fields these queries select whose price is not GitLab's default of one plus children.
FIELD_RULES = {
    "project": FieldRule(resolver=True),  # Resolvers::ProjectResolver
    "rootRef": FieldRule(gitaly=True),  # Types::RepositoryType, calls_gitaly: true
    "empty": FieldRule(gitaly=True),  # Types::RepositoryType, calls_gitaly: true
    "tree": FieldRule(resolver=True, gitaly=True),  # Resolvers::TreeResolver
    "lastCommit": FieldRule(resolver=True, gitaly=True),  # Resolvers::LastCommitResolver
    "blobs": FieldRule(resolver=True, gitaly=True, per_path=True, connection=True),
}
PLAIN = FieldRule()


def field_cost(field: Field) -> int:
    """GitLab's complexity of one field and everything under it (graphql-ruby's legacy
    analysis with GitLab's field and resolver complexities)."""
    children = sum(field_cost(c) for c in field.children)
    rule = FIELD_RULES.get(field.name, PLAIN)
    if not rule.resolver:
        return 1 + int(rule.gitaly) + children
    cost: float = children + 1 + int(rule.gitaly)
    paths = field.arg("paths")
    if rule.per_path and isinstance(paths, tuple):
        cost += len(paths)
    if rule.connection:
        sizes = [v for v in (field.arg("first"), field.arg("last")) if isinstance(v, int)]
        cost += cost * (min([*sizes, PAGE_SIZE]) * 0.01)
    return int(cost)


def query_cost(fields: Sequence[Field]) -> int:
    """The complexity GitLab computes for `query { <fields> }`: what every query is sized by."""
    return sum(field_cost(f) for f in fields)


def query_depth(fields: Sequence[Field]) -> int:
    return max((1 + query_depth(f.children) for f in fields), default=0)


def query_text(fields: Sequence[Field]) -> str:
    return "query { " + " ".join(f.render() for f in fields) + " }"


def head_field(alias: str, full_path: str) -> Field:
    """A project's head commit: the last commit of its default branch's tree."""
    sha = Field("lastCommit", children=(Field("sha"),))
    repository = Field("repository", children=(Field("tree", children=(sha,)),))
    return Field("project", (("fullPath", full_path),), (repository,), alias)


def blob_field(alias: str, full_path: str, ref: str, paths: Sequence[str]) -> Field:
    """Files of one project at `ref`; `first` is the number of paths, which prices the
    connection by what it can return rather than by a full page."""
    nodes = Field("nodes", children=(Field("path"), Field("rawTextBlob"), Field("size")))
    blobs = Field("blobs", (("ref", ref), ("paths", tuple(paths)), ("first", len(paths))), (nodes,))
    repository = Field("repository", children=(blobs,))
    return Field("project", (("fullPath", full_path),), (repository,), alias)


@dataclass(frozen=True)
class Limits:
    complexity: int
    size: int = MAX_QUERY_SIZE
    depth: int = MAX_DEPTH

    def fit(self, fields: Sequence[Field]) -> bool:
        return (
            query_cost(fields) <= self.complexity
            and len(query_text(fields)) <= self.size
            and query_depth(fields) <= self.depth
        )


def pack(fields: Sequence[Field], limits: Limits) -> list[list[Field]]:
    """Aliases gathered into as few queries as GitLab's limits allow, in order."""
    batches: list[list[Field]] = []
    batch: list[Field] = []
    cost = size = 0
    for field in fields:
        field_size = len(field.render()) + 1
        more = field_cost(field)
        if batch and (
            cost + more > limits.complexity or len("query {  }") + size + field_size > limits.size
        ):
            batches.append(batch)
            batch, cost, size = [], 0, 0
        batch.append(field)
        cost += more
        size += field_size
    if batch:
        batches.append(batch)
    return batches


# An alias's answer: its data, the precise reason it has none, or None when GitLab answered
# null (it does not show that project: deleted, moved or no access).
Answer = dict[str, Any] | ReadError | None

_REFUSED_FOR_SIZE = re.compile(r"complexity|too large|depth", re.IGNORECASE)


class GitLabClient:
    forge = "gitlab"

    def __init__(
        self,
        *,
        group: str,
        url: str = "https://gitlab.com",
        token: str | None = None,
        max_wait: float = 900.0,
        timeout: int = 30,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.group = group
        self.concurrency = concurrency
        self.url = url.rstrip("/")
        self.clone_base: str | None = None
        self.max_wait = max_wait
        self.timeout = timeout
        self.log = RequestLog()
        self._sleep = sleep
        token = _usable_token(token or os.environ.get("GITLAB_TOKEN"), "GitLab token")
        self._token = token
        job_token = None if token else _usable_token(os.environ.get("CI_JOB_TOKEN"), "job token")
        self._credential = "token" if token else "job token" if job_token else None
        self.limits = Limits(
            MAX_COMPLEXITY_AUTHENTICATED if self._credential else MAX_COMPLEXITY_ANONYMOUS
        )
        self.gl = gitlab.Gitlab(
            self.url,
            private_token=token or None,
            job_token=job_token or None,
            timeout=timeout,
            per_page=PAGE_SIZE,
            retry_transient_errors=False,  # retried here, bounded by attempts and max_wait
        )
        self._local = threading.local()
        self._unseen: dict[str, ReadError] = {}  # projects whose head could not be learned
        self._checked = False
        self.gl.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep each thread's last answer (python-gitlab's errors drop the headers a 429
        needs) and count requests and the rate-limit budget."""
        self._local.response = response
        self.log.count("graphql" if response.url.endswith("/api/graphql") else "rest")
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining and remaining.isdigit():
            self.log.remaining = int(remaining)
            limit = response.headers.get("RateLimit-Limit", "")
            self.log.limit = int(limit) if limit.isdigit() else None

    # -- requests -------------------------------------------------------------------------

    def _http(
        self,
        verb: str,
        path: str,
        *,
        query_data: dict[str, Any] | None = None,
        post_data: dict[str, Any] | None = None,
        keep: frozenset[int] = frozenset(),
        check: bool = False,
    ) -> requests.Response:
        """One request, retried here only: 5xx and connection errors up to ATTEMPTS times with
        backoff, 429 after the wait GitLab asks for. A wait beyond `max_wait` (one, or all of
        this request's together), or a 429 that outlasts the retries, parks the scan; other
        faults give up as Unanswered. `keep`: statuses whose answer the caller reads.
        `check`: the first request, which reports an unreachable host at once."""
        waited = 0.0
        for attempt in range(1, ATTEMPTS + 1):
            self._local.response = None
            limited = False  # this try was refused by a rate limit (429)
            try:
                return self.gl.http_request(
                    verb,
                    path,
                    query_data=query_data or {},
                    post_data=post_data,
                    timeout=CHECK_TIMEOUT if check else None,
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                    max_retries=0,
                )
            except GitlabError as exc:
                status = int(getattr(exc, "response_code", 0) or 0)
                answer: requests.Response | None = self._local.response
                if status in keep and answer is not None:
                    return answer
                reason, wait = self._judge(status, _message(exc), answer, attempt)
                limited = status == 429
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = _describe(exc, CHECK_TIMEOUT if check else self.timeout)
                if check:
                    raise ReadError(f"cannot reach {self.url}: {reason}") from None
                wait = _backoff(attempt)
            except requests.RequestException as exc:
                reason, wait = f"GitLab request failed: {type(exc).__name__}", _backoff(attempt)
            if attempt == ATTEMPTS:
                why = f"{'still limited' if limited else 'no answer'} after {ATTEMPTS} attempts"
            elif waited + wait > self.max_wait:
                why = "a retry would wait past --max-wait"
            else:
                why = ""
            if why and limited:  # a rate limit is never "no answer": the scan parks
                raise Parked(wait, f"{reason}; {why}")
            if why:
                raise Unanswered(f"{reason}; {why}")
            log.warning("%s, retry %d/%d in %.0f s", reason, attempt, ATTEMPTS - 1, wait)
            self._sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _judge(
        self, status: int, message: str, answer: requests.Response | None, attempt: int
    ) -> tuple[str, float]:
        """A failed status: (reason, wait) when worth retrying, else the precise error."""
        if status == 429:
            wait = _rate_limit_wait(answer.headers if answer is not None else {})
            if wait > self.max_wait:
                raise Parked(wait, f"GitLab rate limit (429), {wait:.0f}s to wait")
            return "GitLab 429 (rate limit)", wait
        if status in RETRYABLE_STATUSES:
            return f"GitLab {status}", _backoff(attempt)
        if status == 401:
            who = self._credential or "anonymous access"
            raise ReadError(f"GitLab {who} rejected (401): {message}")
        raise ReadError(f"GitLab {status}: {message}" if status else f"GitLab: {message}")

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise Unanswered(
                f"GitLab {response.status_code} answered with something that is not JSON"
            ) from None

    def check_access(self) -> None:
        """One cheap request before anything else, so that a bad token or a host that does not
        answer gives one precise line at once."""
        if self._checked:  # once per client, whoever asks first (the CLI or the listing)
            return
        if self._token:
            self._http("get", "/user", check=True)
        else:  # a job token cannot read /user; the group itself says as much
            self._http(
                "get",
                f"/groups/{EncodedId(self.group)}",
                query_data={"with_projects": "false"},
                check=True,
            )
        self._checked = True

    def _pages(self, path: str, query: dict[str, Any]) -> Iterator[tuple[list[Any], str | None]]:
        """A REST listing page by page (Link rel=next, else X-Next-Page), with X-Total."""
        url, params = path, {**query, "per_page": PAGE_SIZE, "page": 1}
        while True:
            response = self._http("get", url, query_data=params)
            items = self._json(response)
            if not isinstance(items, list):
                raise Unanswered(f"GitLab answered {path} with something that is not a list")
            yield items, response.headers.get("X-Total")
            following = response.links.get("next", {}).get("url")
            next_page = response.headers.get("X-Next-Page", "")
            if following:
                url, params = following, {}
            elif next_page.isdigit():
                url, params = path, {**query, "per_page": PAGE_SIZE, "page": int(next_page)}
            else:
                return

    def clone_url(self, repo: RemoteRepo) -> str:
        base = (self.clone_base or self.url).rstrip("/")
        return f"{base}/{repo.full_name}.git"

    def git_auth_header(self) -> str | None:
        if not self._token:
            return None
        basic = base64.b64encode(f"oauth2:{self._token}".encode()).decode()
        return f"Authorization: Basic {basic}"

    # -- GraphQL --------------------------------------------------------------------------

    def ask(self, fields: Sequence[Field]) -> dict[str, Answer]:
        """Every alias of `fields` answered: its data, or why not. Queries are packed within
        GitLab's limits; a refusal for size splits the query; errors are never dropped."""
        out: dict[str, Answer] = {}
        for batch in pack(fields, self.limits):
            out.update(self._ask(batch))
        return out

    def _ask(self, fields: list[Field]) -> dict[str, Answer]:
        if not self.limits.fit(fields):
            if len(fields) > 1:
                half = len(fields) // 2
                return {**self._ask(fields[:half]), **self._ask(fields[half:])}
            alone = Unanswered(
                f"one project's query exceeds GitLab's limits (complexity "
                f"{query_cost(fields)} of {self.limits.complexity})"
            )
            return {str(fields[0].alias): alone}
        try:
            answer = self._post_graphql(query_text(fields))
        except ReadError as exc:  # retries exhausted, or a precise refusal of every alias
            return {str(f.alias): exc for f in fields}
        errors = [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        data = answer.get("data")
        whole = [e for e in errors if not e.get("path")]
        if whole or not isinstance(data, dict):
            message = "; ".join(_error_text(e) for e in whole or errors) or "no data"
            if len(fields) > 1 and _REFUSED_FOR_SIZE.search(message):
                log.warning(
                    "GitLab refused a query of %d projects (%s); splitting it", len(fields), message
                )
                half = len(fields) // 2
                return {**self._ask(fields[:half]), **self._ask(fields[half:])}
            failed = Unanswered(f"GitLab GraphQL: {message}")
            return {str(f.alias): failed for f in fields}
        return _by_alias(fields, data, errors)

    def _post_graphql(self, text: str) -> dict[str, Any]:
        response = self._http(
            "post",
            f"{self.url}/api/graphql",
            post_data={"query": text},
            keep=GRAPHQL_ERROR_STATUSES,
        )
        answer = self._json(response)
        if not isinstance(answer, dict):
            raise Unanswered("GitLab GraphQL answered with something that is not an object")
        return answer

    # -- listing --------------------------------------------------------------------------

    def list_repos(self) -> Iterator[RemoteRepo]:
        self.check_access()
        projects = self._list_projects()
        fields = [head_field(f"p{i}", p["path_with_namespace"]) for i, p in enumerate(projects)]
        answers = self.ask(fields)
        for i, project in enumerate(projects):
            yield self._remote(project, answers.get(f"p{i}", Unanswered("no answer")))

    def _list_projects(self) -> list[dict[str, Any]]:
        """Every project of the group and its subgroups. Offset pages shift when a project is
        added or removed mid-listing (one could be skipped): when X-Total changes between
        pages the listing is read again, and a listing that never settles keeps every project
        seen (one gone since then fails precisely when it is read)."""
        path = f"/groups/{EncodedId(self.group)}/projects"
        query = {
            "include_subgroups": "true",
            "with_shared": "false",
            "order_by": "id",
            "sort": "asc",
        }
        seen: dict[int, dict[str, Any]] = {}
        for attempt in range(1, LISTING_PASSES + 1):
            projects: dict[int, dict[str, Any]] = {}
            totals: set[str | None] = set()
            for items, total in self._pages(path, query):
                totals.add(total)
                for item in items:
                    if isinstance(item, dict) and "id" in item:
                        projects.setdefault(int(item["id"]), item)
            if len(totals) <= 1:
                return list(projects.values())
            seen.update(projects)
            log.warning(
                "GitLab group %s changed while it was listed (X-Total %s); listing it again "
                "(%d/%d)",
                self.group,
                "/".join(sorted(t or "?" for t in totals)),
                attempt,
                LISTING_PASSES,
            )
        return list(seen.values())

    def _remote(self, project: dict[str, Any], answer: Answer) -> RemoteRepo:
        full_name = str(project["path_with_namespace"])
        head = self._head(full_name, project, answer)
        return RemoteRepo(
            forge="gitlab",
            full_name=full_name,
            url=project.get("web_url") or f"{self.url}/{full_name}",
            default_branch=project.get("default_branch"),
            head=head,
            archived=bool(project.get("archived")),
            fork=bool(project.get("forked_from_project")),
            topics=tuple(project.get("topics") or project.get("tag_list") or ()),
            pushed_at=project.get("last_activity_at"),
            visibility=project.get("visibility"),
            ident=str(project["id"]),
        )

    def _head(self, full_name: str, project: dict[str, Any], answer: Answer) -> str | None:
        """The head commit; None only when GitLab positively says the repository is empty.
        Otherwise the reason is kept and `tree` raises it: never stored as `empty`."""
        self._unseen.pop(full_name, None)
        if isinstance(answer, ReadError):
            self._unseen[full_name] = answer
            return None
        if answer is None:
            self._unseen[full_name] = ReadError(
                f"GitLab project {full_name} was listed but is no longer readable (deleted, "
                "moved or access lost): GraphQL answered null"
            )
            return None
        commit = ((answer.get("repository") or {}).get("tree") or {}).get("lastCommit") or {}
        sha = commit.get("sha")
        if isinstance(sha, str) and sha:
            return sha
        if project.get("empty_repo") is True:
            return None
        self._unseen[full_name] = Unanswered(
            "GitLab gave no head commit for a repository it does not list as empty"
        )
        return None

    # -- files ----------------------------------------------------------------------------

    def trees(self, repos: Sequence[RemoteRepo]) -> dict[str, TreeResult]:
        """GitLab has no batched tree query: one paginated REST listing per project, a few
        projects at a time."""

        def one(repo: RemoteRepo) -> TreeResult:
            try:
                return self.tree(repo)
            except ReadError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return dict(zip((r.full_name for r in repos), pool.map(one, repos), strict=True))

    def tree(self, repo: RemoteRepo) -> tuple[Listing, dict[str, str]]:
        unseen = self._unseen.get(repo.full_name)
        if unseen is not None:
            raise unseen
        head = repo.head
        if head is None:  # GitLab said the repository is empty (`empty_repo`)
            return Listing(()), {}
        problems = ProblemLog()
        files: list[FileEntry] = []
        oids: dict[str, str] = {}
        complete = True
        query = {"recursive": "true", "ref": head}
        for entries, _total in self._pages(f"/projects/{repo.ident}/repository/tree", query):
            for entry in entries:
                path = entry.get("path", "")
                if is_readable_entry(path, entry.get("type"), entry.get("mode"), problems):
                    oids[path] = entry["id"]
                    files.append(FileEntry(path, None))
            if len(files) >= MAX_FILES:
                problems.add("", f"listing stopped at {MAX_FILES} files")
                complete = False
                break
        files.sort(key=lambda f: f.path)
        return Listing(tuple(files), problems.done(), complete), oids

    def read_blobs(
        self, wanted: Sequence[tuple[RemoteRepo, dict[str, BlobRef]]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        """Every wanted file's bytes or the reason it has none, packed into as few queries
        as GitLab's limits allow."""
        out: dict[tuple[str, str], Blob] = {}
        fields: list[Field] = []
        asked: dict[str, tuple[RemoteRepo, Sequence[str]]] = {}
        for repo, refs in wanted:
            if repo.head is None:
                continue
            for paths, fits in self._path_chunks(repo, list(refs)):
                if not fits:  # a path so long that it alone exceeds GitLab's query size
                    too_long = Unanswered("this path alone exceeds GitLab's GraphQL query size")
                    out.update({(repo.full_name, p): too_long for p in paths})
                    continue
                alias = f"p{len(fields)}"
                fields.append(blob_field(alias, repo.full_name, repo.head, paths))
                asked[alias] = (repo, paths)
        for alias, answer in self.ask(fields).items():
            owner, chunk = asked[alias]
            out.update(_blobs(owner, chunk, answer, max_size))
        return out

    def _path_chunks(self, repo: RemoteRepo, paths: list[str]) -> Iterator[tuple[list[str], bool]]:
        """The paths in groups that each fit one query on their own (at most a page), and
        whether the group fits at all."""
        assert repo.head is not None
        start = 0
        while start < len(paths):
            n = min(PAGE_SIZE, len(paths) - start)
            while n > 1 and not self.limits.fit(
                [blob_field("p0", repo.full_name, repo.head, paths[start : start + n])]
            ):
                n = max(1, n * 3 // 4)
            chunk = paths[start : start + n]
            yield chunk, self.limits.fit([blob_field("p0", repo.full_name, repo.head, chunk)])
            start += n


def _by_alias(
    fields: Sequence[Field], data: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Answer]:
    """Per-alias answers: an error whose path starts at an alias is that alias's precise
    reason; an alias GitLab answered with null (a project it does not show) says so."""
    reasons: dict[str, list[str]] = {}
    for error in errors:
        reasons.setdefault(str(error["path"][0]), []).append(_error_text(error))
    out: dict[str, Answer] = {}
    for field in fields:
        alias = str(field.alias)
        node = data.get(alias)
        if alias in reasons:
            out[alias] = ReadError("GitLab: " + "; ".join(reasons[alias]))
        elif isinstance(node, dict):
            out[alias] = node
        else:
            out[alias] = None
    return out


def _blobs(
    repo: RemoteRepo, paths: Sequence[str], answer: Answer, max_size: int
) -> dict[tuple[str, str], Blob]:
    """One alias's files. Anything short of GitLab's content is Unanswered (the file is
    unseen, the repository incomplete), except what GitLab positively says about a file."""
    name = repo.full_name
    if isinstance(answer, ReadError):
        failed = answer if isinstance(answer, Unanswered) else Unanswered(str(answer))
        return {(name, p): failed for p in paths}
    if answer is None:
        gone = Unanswered(f"GitLab project {name} is no longer readable (GraphQL answered null)")
        return {(name, p): gone for p in paths}
    blobs = (answer.get("repository") or {}).get("blobs") or {}
    nodes = [n for n in blobs.get("nodes") or [] if isinstance(n, dict)]
    found = {n.get("path"): n for n in nodes}
    out: dict[tuple[str, str], Blob] = {}
    for path in paths:
        node = found.get(path)
        if node is None:
            out[(name, path)] = Unanswered("GitLab did not return this file")
        elif int(node.get("size") or 0) > max_size:
            out[(name, path)] = ReadError(
                f"{node.get('size')} bytes exceeds the {max_size}-byte cap"
            )
        elif node.get("rawTextBlob") is None:
            out[(name, path)] = ReadError("binary file (GitLab)")
        else:
            out[(name, path)] = str(node["rawTextBlob"]).encode("utf-8")
    return out


def _rate_limit_wait(headers: Any) -> float:
    """Retry-After (seconds or an HTTP date), else until RateLimit-Reset (Unix time), else
    one rate-limit period."""
    value = str(headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    reset = str(headers.get("RateLimit-Reset") or "").strip()
    if reset.isdigit():
        return max(1.0, float(reset) - time.time())
    return RATE_LIMIT_PERIOD


def _backoff(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 30))


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _usable_token(token: str | None, what: str) -> str | None:
    """The token without surrounding white space (a secret file's final newline); a token with
    white space or control characters inside cannot be sent as a header and is refused at once
    (an HTTP library would fail later, quoting the header, token and all)."""
    token = (token or "").strip()
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ReadError(f"the {what} contains spaces or control characters; check how it is set")
    return token or None


def _describe(exc: requests.RequestException, timeout: float) -> str:
    """A short reason for a connection fault (never the request's headers or body)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout:.0f} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:.0f} s (read timeout)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip().lower()
    if "reset" in text.lower():
        return "connection reset"
    return f"connection failed ({type(exc).__name__})"


def _error_text(error: dict[str, Any]) -> str:
    return str(error.get("message") or "error")[:300]


def _message(exc: GitlabError) -> str:
    return str(getattr(exc, "error_message", "") or exc).splitlines()[0][:300]
