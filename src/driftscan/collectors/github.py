"""GitHub (and GitHub Enterprise) through PyGithub: whole organisations in few requests.

Cost model, per repository: organisation pages list 100 repositories with their head commit
per GraphQL query (0.01); the file listing is one REST `git/trees?recursive=1` call; the files
rules need come from aliased GraphQL `object(expression:)` reads, many repositories per query.
An unchanged repository (same head, same ruleset) costs nothing beyond its listing page.

Rate limits: PyGithub's `GithubRetry` handles 403 primary/secondary limits (waiting for the
reset or `Retry-After`), 429 and 5xx with bounded exponential backoff; a wait longer than
`max_wait` raises, and driftscan parks the scan instead of sleeping for an hour. Tokens come
from the environment or a GitHub App; they never reach logs, errors or the store.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubException import RateLimitExceededExceedsMaxWait
from github.GithubRetry import GithubRetry

from driftscan.collectors.forge import Blob, BlobRef, Parked, RemoteRepo, RequestLog, TreeResult
from driftscan.collectors.local import MAX_FILES, ProblemLog, is_readable_entry
from driftscan.models import FileEntry, Listing, ReadError

DEFAULT_API_URL = "https://api.github.com"
PAGE_SIZE = 100
MAX_OBJECTS_PER_QUERY = 150  # aliased blob reads per GraphQL query
MAX_BYTES_PER_QUERY = 4 << 20  # expected blob bytes per query (from tree sizes)
MAX_SUBTREE_CALLS = 200  # walking a truncated tree: beyond this the listing is partial
TREE_DEPTH = 4  # folder levels per GraphQL tree read
TREES_PER_QUERY = 20  # (repository, folder) reads per GraphQL query
GRAPHQL_FOLDER_LIMIT = 40  # a repository with more deep folders than this uses one REST call
_ENTRY = "name type mode size oid"


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
        retry = GithubRetry(
            total=6,
            backoff_factor=2.0,
            status_forcelist=[429, *range(500, 600)],  # GithubRetry adds 403 itself
            max_rate_limit_wait=max_wait,
        )
        auth = self._auth(token, app)
        self._auth_obj = auth
        self.gh = Github(
            auth=auth,
            base_url=self.base_url,
            retry=retry,
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
            app_auth = Auth.AppAuth(app.app_id, key)
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
                finally:
                    self.log.count("rest")
            return app_auth.get_installation_auth(installation)
        token = token or token_from_env()
        return Auth.Token(token) if token else None

    # -- requests -------------------------------------------------------------------------

    def _call(self, kind: str, verb: str, url: str, **kwargs: Any) -> Any:
        """One request through PyGithub's requester (auth, retries, rate-limit waits)."""
        self.log.count(kind)
        try:
            headers, data = self.requester.requestJsonAndCheck(verb, url, **kwargs)
        except RateLimitExceededExceedsMaxWait as exc:
            raise Parked(
                float(getattr(exc, "wait", 0) or 0), f"GitHub rate limit: {_reason(exc)}"
            ) from None
        except GithubException as exc:
            raise ReadError(f"GitHub {exc.status}: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise ReadError(f"GitHub request failed: {type(exc).__name__}") from None
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.log.remaining = int(remaining)
            limit = headers.get("x-ratelimit-limit", "")
            self.log.limit = int(limit) if limit.isdigit() else None
        return data

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole GraphQL answer: `data` and any partial `errors` (never raised here)."""
        answer = self._call(
            "graphql",
            "POST",
            self.requester.graphql_url,
            input={"query": query, "variables": variables or {}},
        )
        return answer if isinstance(answer, dict) else {}

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
                page = org["repositories"]
                for node in page["nodes"] or []:
                    if node:
                        yield self._remote(node)
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
            except ReadError as exc:  # retries exhausted: these repositories try REST, alone
                answer = {"errors": [{"message": str(exc)}]}
            data = answer.get("data") or {}
            for i, (repo, prefix, _expr) in enumerate(batch):
                walk = walks.get(repo.full_name)
                if walk is None:  # already switched to REST or failed
                    continue
                node = (data.get(f"t{i}") or {}).get("object")
                if node is None:
                    walk.failed = _errors(answer, f"t{i}") or "tree not returned by GitHub"
                    continue
                for sub_prefix, oid in walk.add(prefix, node.get("entries") or []):
                    pending.append((repo, sub_prefix, oid))
                if walk.deep_folders > GRAPHQL_FOLDER_LIMIT:
                    walk.failed = "rest"  # cheaper as one recursive REST tree
        for full_name, walk in walks.items():
            repo = next(r for r in repos if r.full_name == full_name)
            if walk.failed:
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
        self, chunk: list[tuple[RemoteRepo, str, str]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        by_repo: dict[str, list[tuple[int, str, str]]] = {}
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
        answer = self.graphql("query { " + " ".join(parts) + " }")
        data = answer.get("data") or {}
        out: dict[tuple[str, str], Blob] = {}
        for key, where in aliases.items():
            r_alias, f_alias = key.split(".")
            node = (data.get(r_alias) or {}).get(f_alias)
            if not node:
                out[where] = ReadError(
                    _errors(answer, r_alias, f_alias) or "not returned by GitHub"
                )
            elif node.get("isBinary"):
                out[where] = ReadError("binary file (GitHub)")
            elif node.get("isTruncated") or (node.get("byteSize") or 0) > max_size:
                out[where] = ReadError(
                    f"{node.get('byteSize')} bytes exceeds the {max_size}-byte cap"
                )
            else:
                out[where] = str(node.get("text") or "").encode("utf-8")
        return out


class _Walk:
    """One repository's tree being read through GraphQL, folder level by folder level."""

    def __init__(self) -> None:
        self.files: list[FileEntry] = []
        self.oids: dict[str, str] = {}
        self.problems = ProblemLog()
        self.deep_folders = 0
        self.failed = ""

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


def _reason(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message") or exc.message or exc.status)
