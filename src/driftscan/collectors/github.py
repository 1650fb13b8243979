"""GitHub (and GitHub Enterprise) through PyGithub: whole organisations in few requests.

Cost model, per repository: organisation pages list 100 repositories with their head commit
per GraphQL query (0.01); listings are aliased GraphQL tree reads across repositories (a deep
monorepo: one REST `git/trees?recursive=1` call); the files rules need come from aliased
GraphQL `object(oid:)` reads, many repositories per query (~0.19 requests per repository in
all). An unchanged repository (same head, same ruleset) costs nothing beyond its listing page.

Limits, as GitHub documents them ("Rate limits and node limits for the GraphQL API", "Rate
limits for the REST API"): every query stays under the 500,000-node limit (checked before it is
sent); a primary limit (403/429, or HTTP 200 with a `RATE_LIMITED` GraphQL error, and
`x-ratelimit-remaining: 0`) waits until `x-ratelimit-reset`; a secondary limit waits
`Retry-After`, else until the reset when the budget is spent, else one minute and then
exponentially longer. Every wait is logged as it starts ("driftscan.forge") and no single or
cumulative wait of one request exceeds `max_wait`: beyond it the collector raises `Parked` and
the scan stops, resumable. 5xx answers, timeouts and reset connections are retried a few times
with a short backoff; what still has no answer is `Unanswered`, never "absent". PyGithub's own
retries (`GithubRetry` sleeps `Retry-After` whatever its length) are switched off.

GraphQL `errors` are never dropped: a repository that GitHub says is gone, forbidden or blocked
is that repository's error with GitHub's words; any other error leaves what was asked unanswered.
Tokens come from the environment or a GitHub App; they never reach logs, errors or the store.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jwt
import requests
from github import Auth, Github, GithubException, GithubIntegration

from driftscan.collectors.forge import Blob, BlobRef, Parked, RemoteRepo, RequestLog, TreeResult
from driftscan.collectors.local import MAX_FILES, ProblemLog, is_readable_entry
from driftscan.models import FileEntry, Listing, ReadError, Unanswered

log = logging.getLogger("driftscan.forge")

DEFAULT_API_URL = "https://api.github.com"
PAGE_SIZE = 100
MAX_OBJECTS_PER_QUERY = 150  # aliased blob reads per GraphQL query
MAX_BYTES_PER_QUERY = 4 << 20  # expected blob bytes per query (from tree sizes)
MAX_SUBTREE_CALLS = 200  # walking a truncated tree: beyond this the listing is partial
TREE_DEPTH = 4  # folder levels per GraphQL tree read
TREES_PER_QUERY = 20  # (repository, folder) reads per GraphQL query
GRAPHQL_FOLDER_LIMIT = 40  # a repository with more deep folders than this uses one REST call
_ENTRY = "name type mode size oid"

MAX_BLOB_SPLITS = 2  # a file query GitHub did not answer is retried in halves, twice at most
NODE_LIMIT = 500_000  # GitHub refuses a GraphQL call that could return more nodes
LIMIT_RETRIES = 4  # retries of one request on a rate limit ("a specific number of retries")
SERVER_RETRIES = 3  # retries of one request after a 5xx, a timeout or a reset connection
SECONDARY_WAIT = 60.0  # GitHub: without Retry-After or a spent budget, wait at least a minute
SERVER_BACKOFF = 1.0  # first wait after a 5xx or a network error; doubles each retry
# GraphQL error types by which GitHub says a repository itself cannot be read
REPOSITORY_REFUSALS = frozenset({"NOT_FOUND", "FORBIDDEN"})


def _tree_selection(depth: int) -> str:
    if depth == 1:
        return f"entries {{ {_ENTRY} }}"
    return f"entries {{ {_ENTRY} object {{ ... on Tree {{ {_tree_selection(depth - 1)} }} }} }}"


TREE_SELECTION = _tree_selection(TREE_DEPTH)
TREE_FRAGMENT = f"... on Tree {{ {TREE_SELECTION} }}"

_REPO_FIELDS = """
  nameWithOwner url isArchived isFork visibility pushedAt
  defaultBranchRef { name target { oid } }
  repositoryTopics(first: 25) { nodes { topic { name } } }
"""
ORG_QUERY = (
    "query($org: String!, $cursor: String) { organization(login: $org) { "
    f"repositories(first: {PAGE_SIZE}, after: $cursor, "
    "orderBy: {field: NAME, direction: ASC}) { "
    f"pageInfo {{ hasNextPage endCursor }} nodes {{ {_REPO_FIELDS} }} }} }} }}"
)
BLOB_FIELDS = "... on Blob { text isBinary isTruncated byteSize }"


def _repository(alias: str, full_name: str, body: str) -> str:
    owner, _, name = full_name.partition("/")
    return f"{alias}: repository(owner: {json.dumps(owner)}, name: {json.dumps(name)}) {{ {body} }}"


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App: its id, the path of its private key file, and optionally the
    installation (found from the organisation when omitted)."""

    app_id: str
    private_key_file: Path
    installation_id: int | None = None


def token_from_env() -> str | None:
    return os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or None


class GitHubClient:
    forge = "github"

    def __init__(
        self,
        *,
        org: str | None = None,
        repos: Sequence[str] = (),
        token: str | None = None,
        app: AppCredentials | None = None,
        base_url: str | None = None,
        max_wait: float = 900.0,
        timeout: int = 30,
        clone_base: str | None = None,
    ) -> None:
        self.org = org
        self.clone_base = clone_base
        self.repo_names = tuple(repos)
        self.base_url = (base_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip(
            "/"
        )
        self.log = RequestLog()
        self.max_wait = max_wait
        auth = self._auth(token, app)
        self._auth_obj = auth
        self.gh = Github(
            auth=auth,
            base_url=self.base_url,
            # no urllib3 retries: GithubRetry would sleep any Retry-After (an hour) whatever
            # max_wait says, and hide each wait; _call paces every retry itself
            retry=0,
            per_page=PAGE_SIZE,
            timeout=timeout,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        self.requester = self.gh.requester

    def _auth(self, token: str | None, app: AppCredentials | None) -> Auth.Auth | None:
        if app is not None:
            try:
                key = app.private_key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ReadError(
                    f"cannot read GitHub App key {app.private_key_file}: {exc.strerror}"
                ) from None
            except UnicodeDecodeError:  # a binary file
                key = ""
            not_a_key = ReadError(
                f"GitHub App key {app.private_key_file} is not a valid PEM private key"
            )
            if not key.strip():
                raise not_a_key
            app_auth = Auth.AppAuth(app.app_id, key)
            try:  # a bad key fails here in one line, not as a traceback mid-scan
                app_auth.create_jwt()
            except (jwt.PyJWTError, ValueError, TypeError):
                raise not_a_key from None
            installation = app.installation_id
            if installation is None:
                if not self.org:
                    raise ReadError(
                        "a GitHub App needs --github-app-installation without --github-org"
                    )
                integration = GithubIntegration(auth=app_auth, base_url=self.base_url)
                try:
                    installation = integration.get_org_installation(self.org).id
                except GithubException as exc:
                    raise ReadError(
                        f"GitHub App has no installation on {self.org}: {_reason(exc)}"
                    ) from None
                except requests.RequestException as exc:
                    raise ReadError(
                        f"cannot reach {self.base_url}: {_network_reason(exc)}"
                    ) from None
                finally:
                    self.log.count("rest")
            return app_auth.get_installation_auth(installation)
        token = token or token_from_env()
        return Auth.Token(token) if token else None

    # -- requests -------------------------------------------------------------------------

    def check_access(self) -> None:
        """One free call before anything else (`GET /rate_limit` counts against no limit): a
        rejected token, an App that cannot get a token or a host that does not answer is one
        precise ReadError at once, before the scan is begun."""
        if self._auth_obj is None:  # GitHub's GraphQL API answers no anonymous call
            raise ReadError("no GitHub token: set GITHUB_TOKEN (or GH_TOKEN) or use a GitHub App")
        url = f"{self.base_url}/rate_limit"
        self.log.count("check")
        try:
            _headers, data = self.requester.requestJsonAndCheck("GET", url)
        except GithubException as exc:
            if exc.status == 401:
                raise ReadError(f"GitHub token rejected (401): {_reason(exc)}") from None
            if exc.status == 404 and "not enabled" in _reason(exc):
                # GitHub Enterprise Server without rate limits has no /rate_limit: the
                # smallest GraphQL query checks the token instead (no limit to spend)
                self.graphql("query { rateLimit { remaining } }")
                return
            raise ReadError(f"GitHub {exc.status} from {url}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise ReadError(f"cannot reach {self.base_url}: {_network_reason(exc)}") from None
        graphql = ((data or {}).get("resources") or {}).get("graphql") or {}
        if isinstance(graphql.get("remaining"), int):
            self.log.remaining, self.log.limit = graphql["remaining"], graphql.get("limit")

    def _call(
        self,
        kind: str,
        verb: str,
        url: str,
        inspect: Callable[[dict[str, str], Any], _Trouble | None] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request, retried and paced here: rate limits wait as GitHub asks or park,
        5xx/timeouts are retried briefly and then Unanswered, other refusals are ReadErrors.
        `inspect` finds trouble inside a 200 answer (GraphQL's RATE_LIMITED)."""
        pacer = _Pacer(self.max_wait)
        while True:
            self.log.count(kind)
            trouble: _Trouble | None
            try:
                headers, data = self.requester.requestJsonAndCheck(verb, url, **kwargs)
            except GithubException as exc:
                trouble = _http_trouble(exc.status, _lower(exc.headers), exc.data)
            except requests.RequestException as exc:
                trouble = _Trouble("server", None, _network_failure(url, exc))
            except ValueError:  # a body cut short: PyGithub's JSON parse fails
                trouble = _Trouble("server", None, "GitHub answered with malformed JSON")
            else:
                self._note_budget(headers)
                trouble = inspect(_lower(headers), data) if inspect is not None else None
                if trouble is None:
                    return data
            pacer.wait(trouble)  # sleeps, or raises Parked / Unanswered

    def _note_budget(self, headers: Mapping[str, str]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.log.remaining = int(remaining)
            limit = headers.get("x-ratelimit-limit", "")
            self.log.limit = int(limit) if limit.isdigit() else None

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The GraphQL answer (`data` with any per-alias `errors`). A query over GitHub's node
        limit is never sent; a query GitHub answered without data (refused, failed, rate
        limited beyond max_wait) raises Unanswered or Parked."""
        nodes = node_count(query, variables)
        if nodes > NODE_LIMIT:
            raise Unanswered(f"query not sent: {nodes:,} nodes exceed GitHub's {NODE_LIMIT:,}")
        answer = self._call(
            "graphql",
            "POST",
            self.requester.graphql_url,
            inspect=_graphql_trouble,
            input={"query": query, "variables": variables or {}},
        )
        if not isinstance(answer, dict):
            raise Unanswered("GitHub GraphQL answered with no JSON object")
        if answer.get("data") is None:
            raise Unanswered(f"GitHub GraphQL: {_errors(answer) or 'no data returned'}")
        return answer

    # -- listing --------------------------------------------------------------------------

    def list_repos(self) -> Iterator[RemoteRepo]:
        if self.org:
            cursor: str | None = None
            while True:
                answer = self.graphql(ORG_QUERY, {"org": self.org, "cursor": cursor})
                org = (answer.get("data") or {}).get("organization")
                if org is None:
                    raise ReadError(
                        f"GitHub organisation {self.org!r}: {_errors(answer) or 'not found'}"
                    )
                page = org.get("repositories")
                if not page:  # the organisation, but not its repositories: no listing at all
                    why = _errors(answer, "organization", "repositories") or _errors(answer)
                    raise Unanswered(
                        f"GitHub organisation {self.org!r}: repositories not returned: "
                        f"{why or 'no reason given'}"
                    )
                for index, node in enumerate(page["nodes"] or []):
                    if node:
                        yield self._remote(node)
                    else:  # listed but unreadable (an error says why): recorded, not dropped
                        yield self._unlisted(cursor, index, answer)
                if not page["pageInfo"]["hasNextPage"]:
                    break
                cursor = page["pageInfo"]["endCursor"]
        for start in range(0, len(self.repo_names), PAGE_SIZE):
            chunk = self.repo_names[start : start + PAGE_SIZE]
            parts = [_repository(f"r{i}", name, _REPO_FIELDS) for i, name in enumerate(chunk)]
            answer = self.graphql("query { " + " ".join(parts) + " }")
            data = answer.get("data") or {}
            for i, full_name in enumerate(chunk):
                node = data.get(f"r{i}")
                if node:
                    yield self._remote(node)
                else:
                    yield RemoteRepo(
                        "github",
                        full_name,
                        f"{self._web_url()}/{full_name}",
                        None,
                        None,
                        ident="missing:" + (_errors(answer, f"r{i}") or "not found or no access"),
                    )

    def _unlisted(self, cursor: str | None, index: int, answer: dict[str, Any]) -> RemoteRepo:
        where = f"page after {cursor}" if cursor else "first page"
        reason = _errors(answer, "organization", "repositories", "nodes", str(index))
        name = f"{self.org}/(unlisted: {where}, entry {index})"
        return RemoteRepo(
            "github",
            name,
            f"{self._web_url()}/{name}",
            None,
            None,
            ident="missing:" + (reason or _errors(answer) or "GitHub returned no repository"),
        )

    def clone_url(self, repo: RemoteRepo) -> str:
        base = (self.clone_base or self._web_url()).rstrip("/")
        return f"{base}/{repo.full_name}.git"

    def git_auth_header(self) -> str | None:
        token = getattr(self._auth_obj, "token", None)
        if not token:
            return None
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return f"Authorization: Basic {basic}"

    def _web_url(self) -> str:
        if self.base_url == DEFAULT_API_URL:
            return "https://github.com"
        return self.base_url.removesuffix("/api/v3")

    def _remote(self, node: dict[str, Any]) -> RemoteRepo:
        branch = node.get("defaultBranchRef") or {}
        target = branch.get("target") or {}
        topics = tuple(
            t["topic"]["name"] for t in (node.get("repositoryTopics") or {}).get("nodes") or [] if t
        )
        return RemoteRepo(
            forge="github",
            full_name=node["nameWithOwner"],
            url=node["url"],
            default_branch=branch.get("name"),
            head=target.get("oid"),
            archived=bool(node.get("isArchived")),
            fork=bool(node.get("isFork")),
            topics=topics,
            pushed_at=node.get("pushedAt"),
            visibility=(node.get("visibility") or "").lower() or None,
        )

    # -- files ----------------------------------------------------------------------------

    def trees(self, repos: Sequence[RemoteRepo]) -> dict[str, TreeResult]:
        """Listings through GraphQL, TREE_DEPTH folder levels and TREES_PER_QUERY folders per
        query across repositories: a typical chunk of services costs a query or two instead of
        one REST call each. Deep monorepos switch to the REST recursive tree (one call)."""
        out: dict[str, TreeResult] = {}
        walks: dict[str, _Walk] = {}
        pending: list[tuple[RemoteRepo, str, str]] = []
        for repo in repos:
            if repo.ident.startswith("missing:"):
                out[repo.full_name] = ReadError(repo.ident.removeprefix("missing:"))
            elif repo.head is None:
                out[repo.full_name] = (Listing(()), {})
            else:
                walks[repo.full_name] = _Walk()
                pending.append((repo, "", f"{repo.head}:"))
        while pending:
            batch, pending = pending[:TREES_PER_QUERY], pending[TREES_PER_QUERY:]
            query = " ".join(
                _repository(
                    f"t{i}",
                    repo.full_name,
                    f"object(expression: {json.dumps(expr)}) {{ {TREE_FRAGMENT} }}",
                )
                for i, (repo, _prefix, expr) in enumerate(batch)
            )
            try:
                answer = self.graphql("query { " + query + " }")
            except ReadError as exc:  # no answer after retries: these repositories try REST
                answer = {"data": {}, "errors": [{"message": str(exc)}]}
            data = answer.get("data") or {}
            for i, (repo, prefix, _expr) in enumerate(batch):
                walk = walks.get(repo.full_name)
                if walk is None or walk.rest or walk.refused is not None:
                    continue  # already switched to REST, or refused
                refused = _refusal(answer, f"t{i}")
                if refused is not None:  # gone, forbidden or blocked since it was listed
                    walk.refused = refused
                    continue
                node = (data.get(f"t{i}") or {}).get("object")
                if node is None:  # unexplained: one REST call gives the precise answer
                    walk.rest = True
                    continue
                for sub_prefix, oid in walk.add(prefix, node.get("entries") or []):
                    pending.append((repo, sub_prefix, oid))
                if walk.deep_folders > GRAPHQL_FOLDER_LIMIT:
                    walk.rest = True  # cheaper as one recursive REST tree
        for full_name, walk in walks.items():
            repo = next(r for r in repos if r.full_name == full_name)
            if walk.refused is not None:
                out[full_name] = walk.refused
            elif walk.rest:
                try:
                    out[full_name] = self.tree(repo)
                except ReadError as exc:
                    out[full_name] = exc
            else:
                out[full_name] = walk.result()
        return out

    def tree(self, repo: RemoteRepo) -> tuple[Listing, dict[str, str]]:
        if repo.ident.startswith("missing:"):
            raise ReadError(repo.ident.removeprefix("missing:"))
        if repo.head is None:
            return Listing(()), {}
        url = f"{self.base_url}/repos/{repo.full_name}/git/trees/{repo.head}"
        try:
            data = self._call("rest", "GET", url, parameters={"recursive": "1"})
        except ReadError as exc:
            if str(exc).startswith("GitHub 409"):  # "Git Repository is empty."
                return Listing(()), {}
            raise
        problems = ProblemLog()
        entries = list(data.get("tree") or [])
        complete = True
        if data.get("truncated"):
            entries, complete = self._walk(repo, problems)
        files: list[FileEntry] = []
        oids: dict[str, str] = {}
        for entry in entries:
            path = entry.get("path", "")
            if is_readable_entry(path, entry.get("type"), entry.get("mode"), problems):
                oids[path] = entry["sha"]
                files.append(FileEntry(path, entry.get("size")))
        if len(files) > MAX_FILES:
            files, complete = files[:MAX_FILES], False
            problems.add("", f"listing stopped at {MAX_FILES} files")
        files.sort(key=lambda f: f.path)
        return Listing(tuple(files), problems.done(), complete), oids

    def _walk(self, repo: RemoteRepo, problems: ProblemLog) -> tuple[list[dict[str, Any]], bool]:
        """A tree GitHub truncated: walked folder by folder, within MAX_SUBTREE_CALLS."""
        entries: list[dict[str, Any]] = []
        queue: list[tuple[str, str]] = [("", repo.head or "")]
        calls = 0
        while queue:
            if calls >= MAX_SUBTREE_CALLS:
                problems.add("", f"tree too large: listed {calls} folders, the rest is unknown")
                return entries, False
            prefix, sha = queue.pop(0)
            data = self._call(
                "rest", "GET", f"{self.base_url}/repos/{repo.full_name}/git/trees/{sha}"
            )
            calls += 1
            for entry in data.get("tree") or []:
                path = f"{prefix}{entry['path']}"
                if entry.get("type") == "tree":
                    queue.append((f"{path}/", entry["sha"]))
                else:
                    entries.append({**entry, "path": path})
        return entries, True

    def read_blobs(
        self, wanted: Sequence[tuple[RemoteRepo, dict[str, BlobRef]]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        out: dict[tuple[str, str], Blob] = {}
        chunk: list[tuple[RemoteRepo, str, str]] = []
        chunk_bytes = 0
        for repo, refs in wanted:
            for path, ref in refs.items():
                size = ref.size or 0
                if chunk and (
                    len(chunk) >= MAX_OBJECTS_PER_QUERY or chunk_bytes + size > MAX_BYTES_PER_QUERY
                ):
                    out.update(self._blob_query(chunk, max_size))
                    chunk, chunk_bytes = [], 0
                chunk.append((repo, path, ref.oid))
                chunk_bytes += size
        if chunk:
            out.update(self._blob_query(chunk, max_size))
        return out

    def _blob_query(
        self, chunk: list[tuple[RemoteRepo, str, str]], max_size: int, splits: int = 0
    ) -> dict[tuple[str, str], Blob]:
        by_repo: dict[str, list[tuple[int, str, str]]] = {}
        oids = {(repo.full_name, path): oid for repo, path, oid in chunk}
        for index, (repo, path, oid) in enumerate(chunk):
            by_repo.setdefault(repo.full_name, []).append((index, path, oid))
        parts = []
        aliases: dict[str, tuple[str, str]] = {}
        for r, (full_name, files) in enumerate(by_repo.items()):
            fields = []
            for index, path, oid in files:
                alias = f"f{index}"
                aliases[f"r{r}.{alias}"] = (full_name, path)
                # by blob id: the same content at the same commit, no path resolution needed
                fields.append(f"{alias}: object(oid: {json.dumps(oid)}) {{ {BLOB_FIELDS} }}")
            parts.append(_repository(f"r{r}", full_name, " ".join(fields)))
        try:
            answer = self.graphql("query { " + " ".join(parts) + " }")
        except ReadError as exc:  # Parked passes: the scan stops, nothing is stored half-read
            if len(chunk) > 1 and splits < MAX_BLOB_SPLITS:
                # GitHub gives up on heavy queries ("couldn't respond in time", 502): halves
                # may pass. Bounded, so that a forge that is down costs few more requests.
                log.warning("GitHub gave no answer for %d files (%s); splitting", len(chunk), exc)
                half = len(chunk) // 2
                return {
                    **self._blob_query(chunk[:half], max_size, splits + 1),
                    **self._blob_query(chunk[half:], max_size, splits + 1),
                }
            return {where: Unanswered(str(exc)) for where in aliases.values()}
        data = answer.get("data") or {}
        out: dict[tuple[str, str], Blob] = {}
        for key, where in aliases.items():
            r_alias, f_alias = key.split(".")
            node = (data.get(r_alias) or {}).get(f_alias)
            if not node:
                # Whatever GitHub said (a repository gone since its tree was read included),
                # the file is unseen: the repository is recorded incomplete and read again.
                out[where] = Unanswered(
                    _errors(answer, r_alias, f_alias)
                    or _errors(answer, r_alias)
                    or "not returned by GitHub"
                )
            elif node.get("isBinary"):
                out[where] = ReadError("binary file (GitHub)")
            elif (node.get("byteSize") or 0) > max_size:
                out[where] = ReadError(
                    f"{node.get('byteSize')} bytes exceeds the {max_size}-byte cap"
                )
            elif node.get("isTruncated"):  # GitHub cuts Blob.text at 512,000 bytes
                out[where] = self._rest_blob(where[0], oids[where])
            elif node.get("text") is None:
                out[where] = Unanswered("GitHub returned no text for this file")
            else:
                out[where] = str(node["text"]).encode("utf-8")
        return out

    def _rest_blob(self, full_name: str, oid: str) -> Blob:
        """A file whose GraphQL text GitHub truncated, whole from the REST blob API (which
        serves blobs up to 100 MB). Anything short of its bytes leaves the file unseen."""
        url = f"{self.base_url}/repos/{full_name}/git/blobs/{oid}"
        try:
            data = self._call("rest", "GET", url)
        except ReadError as exc:  # Parked passes: the scan stops, nothing is stored half-read
            return exc if isinstance(exc, Unanswered) else Unanswered(str(exc))
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str) or data.get("encoding") != "base64":
            return Unanswered("GitHub returned no base64 content for this file")
        try:
            return base64.b64decode(content)
        except ValueError:
            return Unanswered("GitHub returned malformed base64 content for this file")


class _Walk:
    """One repository's tree being read through GraphQL, folder level by folder level."""

    def __init__(self) -> None:
        self.files: list[FileEntry] = []
        self.oids: dict[str, str] = {}
        self.problems = ProblemLog()
        self.deep_folders = 0
        self.rest = False  # read as one recursive REST tree instead (unexplained gap, deep tree)
        self.refused: ReadError | None = None  # GitHub's reason the repository is unreadable

    def add(self, prefix: str, entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Record entries (nested up to TREE_DEPTH); return folders still to read."""
        todo: list[tuple[str, str]] = []
        stack = [(prefix, entries)]
        while stack:
            base, level = stack.pop()
            for entry in level:
                path = f"{base}{entry.get('name', '')}"
                kind, mode = entry.get("type"), int(entry.get("mode") or 0)
                if kind == "tree":
                    children = (entry.get("object") or {}).get("entries")
                    if children is None:
                        todo.append((f"{path}/", str(entry.get("oid"))))
                        self.deep_folders += 1
                    else:
                        stack.append((f"{path}/", children))
                elif is_readable_entry(path, kind, mode, self.problems) and (
                    len(self.files) < MAX_FILES
                ):
                    self.oids[path] = str(entry.get("oid"))
                    self.files.append(FileEntry(path, entry.get("size")))
        return todo

    def result(self) -> tuple[Listing, dict[str, str]]:
        complete = len(self.files) < MAX_FILES
        if not complete:
            self.problems.add("", f"listing stopped at {MAX_FILES} files")
        files = tuple(sorted(self.files, key=lambda f: f.path))
        return Listing(files, self.problems.done(), complete), self.oids


def _errors(answer: dict[str, Any], *path: str) -> str:
    """Messages of GraphQL errors whose path starts with `path` (all errors when empty)."""
    messages = []
    for error in answer.get("errors") or []:
        where = [str(p) for p in error.get("path") or []]
        if where[: len(path)] == list(path):
            messages.append(str(error.get("message", "error")))
    return "; ".join(messages)


def _refusal(answer: dict[str, Any], alias: str) -> ReadError | None:
    """GitHub's own reason a repository cannot be read (gone, forbidden, blocked), from the
    errors on its alias; None when there is none (or only another kind of error)."""
    for error in answer.get("errors") or []:
        where = [str(p) for p in error.get("path") or []]
        message = str(error.get("message", ""))
        if where[:1] == [alias] and (
            error.get("type") in REPOSITORY_REFUSALS or "access blocked" in message.lower()
        ):
            return ReadError(message or str(error.get("type")))
    return None


def _reason(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "")
    if not message or message.lstrip().startswith("<") or len(message) > 300:
        return _phrase(exc.status)  # an HTML error page says nothing a person can use
    return message


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


@dataclass(frozen=True)
class _Trouble:
    """Why a request must be tried again: `limit` (primary) and `secondary` are rate limits
    (waited for or parked), `server` a 5xx, a timeout or a reset connection."""

    kind: str
    wait: float | None  # what GitHub asked for; None: the documented default applies
    reason: str  # safe to store and show: no token, no URL query


def _seconds(value: str | None) -> float | None:
    return float(value) if value is not None and value.strip().isdigit() else None


def _limit_trouble(status: int, headers: Mapping[str, str], message: str) -> _Trouble | None:
    """A rate limit, as GitHub documents the forms: primary when `x-ratelimit-remaining` is 0
    (wait until `x-ratelimit-reset`); secondary by its message, a 429 or a Retry-After."""
    retry_after = _seconds(headers.get("retry-after"))
    reset = _seconds(headers.get("x-ratelimit-reset"))
    until_reset = None if reset is None else max(0.0, reset - time.time()) + 1.0
    resource = headers.get("x-ratelimit-resource", "")
    where = f" ({resource})" if resource else ""
    if headers.get("x-ratelimit-remaining") == "0":
        wait = retry_after if retry_after is not None else until_reset
        return _Trouble("limit", wait, f"GitHub primary rate limit{where} spent ({status})")
    text = message.lower()
    if status == 429 or retry_after is not None or "secondary rate limit" in text:
        return _Trouble("secondary", retry_after, f"GitHub secondary rate limit ({status})")
    if "rate limit" in text:
        return _Trouble("limit", until_reset, f"GitHub rate limit ({status}): {message}")
    return None


def _http_trouble(status: int, headers: Mapping[str, str], data: Any) -> _Trouble:
    """An HTTP error answer: a rate limit or a 5xx to retry, else the precise ReadError."""
    body = data if isinstance(data, dict) else {}
    message = str(body.get("message") or "") or _errors(body)
    if status in (403, 429):
        trouble = _limit_trouble(status, headers, message)
        if trouble is not None:
            return trouble
    if status >= 500:
        return _Trouble("server", None, f"GitHub {status} {_phrase(status)}")
    text = message if message and not message.lstrip().startswith("<") else _phrase(status)
    if status == 401:
        raise ReadError(f"GitHub token rejected (401): {text}")
    raise ReadError(f"GitHub {status}: {text}")


# GraphQL answers without data that a later try may well get: GitHub's timeout and failure
_TRANSIENT_GRAPHQL = ("something went wrong", "couldn't respond to your request in time")


def _graphql_trouble(headers: Mapping[str, str], answer: Any) -> _Trouble | None:
    """Trouble inside an HTTP 200 GraphQL answer: RATE_LIMITED (the primary limit, which
    GitHub reports with status 200), a secondary limit, or a transient failure."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not errors:
        return None
    message = _errors(answer)
    if any(e.get("type") == "RATE_LIMITED" for e in errors if isinstance(e, dict)):
        trouble = _limit_trouble(200, headers, message)
        return trouble or _Trouble("secondary", None, f"GitHub GraphQL rate limited: {message}")
    if "secondary rate limit" in message.lower():
        return _Trouble("secondary", _seconds(headers.get("retry-after")), message)
    if answer.get("data") is None and any(t in message.lower() for t in _TRANSIENT_GRAPHQL):
        return _Trouble("server", None, f"GitHub GraphQL: {message}")
    return None


class _Pacer:
    """The retries of one request: each wait is what GitHub asked for (or its documented
    default), logged as it starts; a wait that would take the request past max_wait parks."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self.waited = 0.0
        self.tries: Counter[str] = Counter()

    def wait(self, trouble: _Trouble) -> None:
        self.tries[trouble.kind] += 1
        n = self.tries[trouble.kind]
        server = trouble.kind == "server"
        limit = SERVER_RETRIES if server else LIMIT_RETRIES
        if trouble.wait is not None:
            seconds = trouble.wait
        elif server:
            seconds = SERVER_BACKOFF * 2 ** (n - 1)
        else:  # secondary limit without Retry-After: a minute, then exponentially longer
            seconds = SECONDARY_WAIT * 2 ** (n - 1)
        if n > limit or self.waited + seconds > self.max_wait:
            why = (
                f"after {limit} retries"
                if n > limit
                else f"a {seconds:.0f} s wait would pass --max-wait {self.max_wait:.0f} s"
            )
            if server:
                raise Unanswered(f"{trouble.reason}; no answer ({why})")
            raise Parked(seconds, f"{trouble.reason}; {why}")
        log.warning("%s, waiting %.0f s (retry %d/%d)", trouble.reason, seconds, n, limit)
        time.sleep(seconds)
        self.waited += seconds


def _network_reason(exc: BaseException) -> str:
    """A short reason for a failed connection: the innermost cause's own words, without the
    adapter's wrapping ("HTTPSConnectionPool(...): Max retries exceeded ...")."""
    if isinstance(exc, requests.exceptions.InvalidHeader):  # its message quotes the value
        return "a request header was refused: is there a newline or space in the token?"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time (read timeout)"
    seen: set[int] = set()
    inner: BaseException = exc
    while id(inner) not in seen:
        seen.add(id(inner))
        nested = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if nested is None and inner.args and isinstance(inner.args[0], BaseException):
            nested = inner.args[0]
        if not isinstance(nested, BaseException):
            break
        inner = nested
    text = str(inner).rsplit("): ", 1)[-1].strip() or type(inner).__name__
    return re.sub(r"^\[Errno -?\d+\] ", "", text)[:200]


def _network_failure(url: str, exc: requests.RequestException) -> str:
    host = re.sub(r"^(https?://[^/]+).*$", r"\1", url)
    return f"GitHub request failed: cannot reach {host}: {_network_reason(exc)}"


# Strings are skipped (they may hold braces); braces inside argument lists are input objects.
_NODE_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}()]|\b(?:first|last)\s*:\s*(\$?\w+)')


def node_count(query: str, variables: Mapping[str, Any] | None = None) -> int:
    """The most nodes a query can return, as GitHub counts them: each connection's `first`/
    `last` times those of the connections around it, summed."""
    variables = variables or {}
    stack, pending, parens, total = [1], 1, 0, 0
    for m in _NODE_TOKENS.finditer(query):
        token = m.group(0)
        if token == "(":
            parens += 1
        elif token == ")":
            parens -= 1
        elif parens or token.startswith('"'):
            if m.group(1) is not None:
                value = m.group(1)
                size = int(variables.get(value[1:], 100) if value.startswith("$") else value)
                total += stack[-1] * size
                pending = size
        elif token == "{":
            stack.append(stack[-1] * pending)
            pending = 1
        elif token == "}" and len(stack) > 1:
            stack.pop()
    return total
