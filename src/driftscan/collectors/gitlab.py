"""GitLab (gitlab.com or self-hosted) through python-gitlab: a group and all its subgroups.

Cost model: the group's project pages (100 per request, REST: archived, fork, topics...) plus
one GraphQL query per page for the projects' head commits; the file listing is the repository
tree (REST, 100 entries per page); files come from GraphQL `repository.blobs(paths:)`, many
projects per query. An unchanged project costs nothing beyond its share of the list pages.

Rate limits: 5xx and connection errors are retried by python-gitlab (bounded); 429 is handled
here so that a wait longer than `max_wait` parks the scan instead of sleeping.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import gitlab
import requests
from gitlab.exceptions import GitlabError, GitlabHttpError

from driftscan.collectors.forge import Blob, BlobRef, Parked, RemoteRepo, RequestLog, TreeResult
from driftscan.collectors.local import MAX_FILES, ProblemLog, is_readable_entry
from driftscan.models import FileEntry, Listing, ReadError

PAGE_SIZE = 100
PROJECTS_PER_BLOB_QUERY = 20
FILES_PER_BLOB_QUERY = 100

T = TypeVar("T")


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
    ) -> None:
        self.group = group
        self.concurrency = concurrency
        self.url = url.rstrip("/")
        self.clone_base: str | None = None
        self.max_wait = max_wait
        self.log = RequestLog()
        token = token or os.environ.get("GITLAB_TOKEN")
        self._token = token
        job_token = None if token else os.environ.get("CI_JOB_TOKEN")
        self.gl = gitlab.Gitlab(
            self.url,
            private_token=token or None,
            job_token=job_token or None,
            timeout=timeout,
            per_page=PAGE_SIZE,
            retry_transient_errors=True,  # 5xx and connection errors, bounded by python-gitlab
        )
        self._last_headers: dict[str, str] = {}
        self.gl.session.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Read every answer's rate-limit headers (python-gitlab hides them). A 429 whose wait
        exceeds --max-wait parks the scan here, before python-gitlab would sleep through it."""
        self._last_headers = dict(response.headers)
        self.log.count("graphql" if response.url.endswith("/api/graphql") else "rest")
        if response.status_code == 429:
            wait = self._retry_after()
            if wait > self.max_wait:
                raise Parked(wait, f"GitLab rate limit (429), {wait:.0f}s to wait")
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining and remaining.isdigit():
            self.log.remaining = int(remaining)
            limit = response.headers.get("RateLimit-Limit", "")
            self.log.limit = int(limit) if limit.isdigit() else None

    # -- requests -------------------------------------------------------------------------

    def _call(self, func: Callable[[], T]) -> T:
        """Run python-gitlab calls (requests are counted by the response hook)."""
        try:
            return func()
        except GitlabHttpError as exc:
            raise ReadError(f"GitLab {exc.response_code}: {_message(exc)}") from None
        except GitlabError as exc:
            raise ReadError(f"GitLab: {_message(exc)}") from None
        except requests.RequestException as exc:
            raise ReadError(f"GitLab request failed: {type(exc).__name__}") from None

    def _retry_after(self) -> float:
        headers = {k.lower(): v for k, v in self._last_headers.items()}
        value = headers.get("retry-after")
        if value and str(value).isdigit():
            return float(value)
        reset = headers.get("ratelimit-reset")
        if reset and str(reset).isdigit():
            return max(1.0, float(reset) - time.time())
        return 30.0

    def clone_url(self, repo: RemoteRepo) -> str:
        base = (self.clone_base or self.url).rstrip("/")
        return f"{base}/{repo.full_name}.git"

    def git_auth_header(self) -> str | None:
        if not self._token:
            return None
        basic = base64.b64encode(f"oauth2:{self._token}".encode()).decode()
        return f"Authorization: Basic {basic}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """GitLab's GraphQL endpoint through python-gitlab's own HTTP session (auth, retries)."""
        answer = self._call(
            lambda: self.gl.http_post(
                f"{self.url}/api/graphql", post_data={"query": query, "variables": variables or {}}
            ),
        )
        return answer if isinstance(answer, dict) else {}

    # -- listing --------------------------------------------------------------------------

    def list_repos(self) -> Iterator[RemoteRepo]:
        group = self.gl.groups.get(self.group, lazy=True)
        # python-gitlab follows the pagination links; projects are taken a page at a time so
        # that one GraphQL query can fetch that page's head commits.
        projects = self._call(
            lambda: group.projects.list(
                include_subgroups=True,
                with_shared=False,
                per_page=PAGE_SIZE,
                iterator=True,
                order_by="id",
                sort="asc",
            )
        )
        page: list[Any] = []
        for project in _safely(self, projects):
            page.append(project)
            if len(page) == PAGE_SIZE:
                yield from self._remotes(page)
                page = []
        if page:
            yield from self._remotes(page)

    def _remotes(self, projects: list[Any]) -> Iterator[RemoteRepo]:
        heads = self._heads([p.path_with_namespace for p in projects])
        for project in projects:
            attrs = project.attributes
            full_name = attrs["path_with_namespace"]
            yield RemoteRepo(
                forge="gitlab",
                full_name=full_name,
                url=attrs.get("web_url") or f"{self.url}/{full_name}",
                default_branch=attrs.get("default_branch"),
                head=heads.get(full_name),
                archived=bool(attrs.get("archived")),
                fork=bool(attrs.get("forked_from_project")),
                topics=tuple(attrs.get("topics") or attrs.get("tag_list") or ()),
                pushed_at=attrs.get("last_activity_at"),
                visibility=attrs.get("visibility"),
                ident=str(attrs["id"]),
            )

    def _heads(self, full_paths: Sequence[str]) -> dict[str, str]:
        """Head commits of up to a page of projects in one GraphQL query."""
        head = "fullPath repository { tree { lastCommit { sha } } }"
        parts = [
            f"p{i}: project(fullPath: {json.dumps(path)}) {{ {head} }}"
            for i, path in enumerate(full_paths)
        ]
        answer = self.graphql("query { " + " ".join(parts) + " }")
        data = answer.get("data") or {}
        heads = {}
        for i, path in enumerate(full_paths):
            node = data.get(f"p{i}") or {}
            commit = ((node.get("repository") or {}).get("tree") or {}).get("lastCommit") or {}
            if commit.get("sha"):
                heads[path] = commit["sha"]
        return heads

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
        head = repo.head
        if head is None:
            return Listing(()), {}
        project = self.gl.projects.get(repo.ident, lazy=True)
        problems = ProblemLog()
        files: list[FileEntry] = []
        oids: dict[str, str] = {}
        complete = True
        entries = self._call(
            lambda: project.repository_tree(
                recursive=True, ref=head, per_page=PAGE_SIZE, iterator=True
            )
        )
        for entry in _safely(self, entries):
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
        out: dict[tuple[str, str], Blob] = {}
        batch: list[tuple[RemoteRepo, list[str]]] = []
        count = 0
        for repo, refs in wanted:
            paths = list(refs)
            for start in range(0, len(paths), FILES_PER_BLOB_QUERY):
                part = paths[start : start + FILES_PER_BLOB_QUERY]
                if batch and (
                    len(batch) >= PROJECTS_PER_BLOB_QUERY
                    or count + len(part) > FILES_PER_BLOB_QUERY
                ):
                    out.update(self._blob_query(batch, max_size))
                    batch, count = [], 0
                batch.append((repo, part))
                count += len(part)
        if batch:
            out.update(self._blob_query(batch, max_size))
        return out

    def _blob_query(
        self, batch: list[tuple[RemoteRepo, list[str]]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        parts = []
        for i, (repo, paths) in enumerate(batch):
            parts.append(
                f"p{i}: project(fullPath: {json.dumps(repo.full_name)}) {{ repository {{ "
                f"blobs(ref: {json.dumps(repo.head)}, paths: {json.dumps(paths)}) "
                "{ nodes { path rawTextBlob size } } } }"
            )
        answer = self.graphql("query { " + " ".join(parts) + " }")
        data = answer.get("data") or {}
        out: dict[tuple[str, str], Blob] = {}
        for i, (repo, paths) in enumerate(batch):
            nodes = (((data.get(f"p{i}") or {}).get("repository") or {}).get("blobs") or {}).get(
                "nodes"
            ) or []
            found = {n.get("path"): n for n in nodes if n}
            for path in paths:
                node = found.get(path)
                if node is None:
                    message = "; ".join(str(e.get("message")) for e in answer.get("errors") or [])
                    out[(repo.full_name, path)] = ReadError(message or "not returned by GitLab")
                elif int(node.get("size") or 0) > max_size:
                    out[(repo.full_name, path)] = ReadError(
                        f"{node.get('size')} bytes exceeds the {max_size}-byte cap"
                    )
                elif node.get("rawTextBlob") is None:
                    out[(repo.full_name, path)] = ReadError("binary file (GitLab)")
                else:
                    out[(repo.full_name, path)] = str(node["rawTextBlob"]).encode("utf-8")
        return out


def _safely(client: GitLabClient, items: Any) -> Iterator[Any]:
    """Iterate a python-gitlab list whose later pages are fetched lazily, mapping errors."""
    iterator = iter(items)
    while True:
        try:
            item = client._call(lambda: next(iterator))
        except StopIteration:
            return
        yield item


def _message(exc: GitlabError) -> str:
    return str(getattr(exc, "error_message", "") or exc).splitlines()[0][:300]
