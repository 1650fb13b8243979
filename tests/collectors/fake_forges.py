"""GitHub and GitLab replayed with `responses`, serving real git repositories built from fixture
folders. Payloads have the shapes the real APIs return (GraphQL `data`/`errors`, REST trees with
`truncated`, GitLab project lists and tree pages, rate-limit headers); the clients under test
are PyGithub and python-gitlab themselves."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import responses

GITHUB = "https://api.github.com"
GITLAB = "https://gitlab.example.com"


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


def aliased_blocks(query: str, field: str) -> list[tuple[str, str, str]]:
    """(alias, arguments, body) of every `alias: field(arguments) { body }` at any depth,
    with balanced braces (bodies contain nested selections)."""
    out = []
    for m in re.finditer(rf"(\w+): {field}\(([^)]*)\) \{{", query):
        depth, i = 1, m.end()
        while depth and i < len(query):
            depth += {"{": 1, "}": -1}.get(query[i], 0)
            i += 1
        out.append((m.group(1), m.group(2), query[m.end() : i - 1]))
    return out


def _arg(arguments: str, name: str) -> str:
    m = re.search(rf'{name}: ("(?:[^"\\]|\\.)*")', arguments)
    assert m is not None, (arguments, name)
    return str(json.loads(m.group(1)))


@dataclass
class ServedRepo:
    """A real git repository served through a fake forge."""

    full_name: str
    path: Path | None  # None: an empty repository
    archived: bool = False
    fork: bool = False
    topics: tuple[str, ...] = ()

    @property
    def head(self) -> str | None:
        return _git(self.path, "rev-parse", "HEAD").decode().strip() if self.path else None

    def entries(self) -> list[dict[str, Any]]:
        """`git ls-tree -r -l -t HEAD` as GitHub tree entries (trees included)."""
        assert self.path is not None
        out = []
        for record in _git(self.path, "ls-tree", "-r", "-t", "-l", "-z", "HEAD").split(b"\0"):
            if not record:
                continue
            info, _, path = record.partition(b"\t")
            mode, kind, sha, size = info.decode().split()
            entry: dict[str, Any] = {"path": path.decode(), "mode": mode, "type": kind, "sha": sha}
            if kind == "blob":
                entry["size"] = int(size)
            out.append(entry)
        return out

    def blob(self, oid: str) -> bytes:
        assert self.path is not None
        return _git(self.path, "cat-file", "blob", oid)


@dataclass
class RateLimit:
    """Scripted trouble: the next `count` matching requests answer with `status`."""

    status: int
    count: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    kind: str = "any"  # any | graphql | rest
    after: int = 0  # let this many matching requests through first


class FakeGitHub:
    def __init__(
        self, org: str, repos: list[ServedRepo], page_size: int = 2, truncate: tuple[str, ...] = ()
    ) -> None:
        self.org = org
        self.repos = {r.full_name: r for r in repos}
        self.page_size = page_size
        self.truncate = set(truncate)
        self.calls: Counter[str] = Counter()
        self.trouble: list[RateLimit] = []
        self.remaining = 4999
        self.unavailable: set[str] = set()  # repositories whose REST tree answers 451
        self.drop_graphql_after: int | None = None  # then every GraphQL request fails to connect
        self.unavailable: set[str] = set()  # repositories whose REST tree answers 451

    def install(self, rs: responses.RequestsMock) -> None:
        rs.add_callback(
            responses.POST, re.compile(r"https://api\.github\.com(:443)?/graphql"), self._graphql
        )
        rs.add_callback(
            responses.GET,
            re.compile(r"https://api\.github\.com(:443)?/repos/([^/]+/[^/]+)/git/trees/(\w+).*"),
            self._tree,
        )
        # the token check before a CLI scan: free, as on GitHub
        rs.add(
            responses.GET,
            re.compile(r"https://api\.github\.com(:443)?/rate_limit"),
            json={"resources": {"graphql": {"limit": 5000, "remaining": 5000, "reset": 0}}},
        )

    def _headers(self) -> dict[str, str]:
        self.remaining -= 1
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "Content-Type": "application/json",
        }

    def _troubled(self, kind: str) -> tuple[int, dict[str, str], str] | None:
        for trouble in self.trouble:
            if trouble.count > 0 and trouble.kind in ("any", kind):
                if trouble.after > 0:
                    trouble.after -= 1
                    continue
                trouble.count -= 1
                headers = {"Content-Type": "application/json", **trouble.headers}
                return trouble.status, headers, json.dumps(trouble.body or {"message": "trouble"})
        return None

    def _graphql(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["graphql"] += 1
        if self.drop_graphql_after is not None and self.calls["graphql"] > self.drop_graphql_after:
            raise requests.exceptions.ConnectionError("connection reset by peer")
        troubled = self._troubled("graphql")
        if troubled:
            return troubled
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        if "organization(login:" in query:
            return 200, self._headers(), json.dumps(self._org_page(variables))
        return 200, self._headers(), json.dumps(self._aliases(query))

    def _node(self, repo: ServedRepo) -> dict[str, Any]:
        head = repo.head
        return {
            "nameWithOwner": repo.full_name,
            "url": f"https://github.com/{repo.full_name}",
            "isArchived": repo.archived,
            "isFork": repo.fork,
            "visibility": "PRIVATE",
            "pushedAt": "2026-11-01T10:00:00Z",
            "defaultBranchRef": {"name": "main", "target": {"oid": head}} if head else None,
            "repositoryTopics": {"nodes": [{"topic": {"name": t}} for t in repo.topics]},
        }

    def _org_page(self, variables: dict[str, Any]) -> dict[str, Any]:
        if variables["org"] != self.org:
            return {
                "data": {"organization": None},
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "path": ["organization"],
                        "message": f"Could not resolve to an Organization with the login of '{variables['org']}'.",
                    }
                ],
            }
        names = sorted(self.repos)
        start = int(variables.get("cursor") or 0)
        page = names[start : start + self.page_size]
        end = start + len(page)
        return {
            "data": {
                "organization": {
                    "repositories": {
                        "pageInfo": {"hasNextPage": end < len(names), "endCursor": str(end)},
                        "nodes": [self._node(self.repos[n]) for n in page],
                    }
                }
            }
        }

    def _aliases(self, query: str) -> dict[str, Any]:
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, arguments, body in aliased_blocks(query, "repository"):
            owner, name = _arg(arguments, "owner"), _arg(arguments, "name")
            repo = self.repos.get(f"{owner}/{name}")
            if repo is None:
                data[alias] = None
                errors.append(
                    {
                        "type": "NOT_FOUND",
                        "path": [alias],
                        "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                    }
                )
                continue
            if "object(expression:" in body:
                self.calls["graphql-tree"] += 1
                expression = _arg(body[body.index("object(") :], "expression")
                data[alias] = {
                    "object": self._tree_object(repo, expression, body.count("entries {"))
                }
                continue
            if "object(oid:" not in body:
                data[alias] = self._node(repo)
                continue
            files = {}
            for f in re.finditer(r'(f\d+): object\(oid: "(\w+)"\)', body):
                try:
                    text = repo.blob(f.group(2))
                except subprocess.CalledProcessError:
                    files[f.group(1)] = None
                    continue
                binary = b"\0" in text[:8000]
                files[f.group(1)] = {
                    "text": None if binary else text.decode("utf-8", "replace"),
                    "isBinary": binary,
                    "isTruncated": False,
                    "byteSize": len(text),
                }
            data[alias] = files
        answer: dict[str, Any] = {"data": data}
        if errors:
            answer["errors"] = errors
        return answer

    def _tree_object(self, repo: ServedRepo, expression: str, depth: int) -> dict[str, Any] | None:
        """A GraphQL Tree: `<commit>:` is the root, anything else a folder's tree id."""
        if repo.path is None:
            return None
        entries = repo.entries()
        if expression.endswith(":"):
            prefix = ""
        else:
            prefix = next(
                (
                    e["path"] + "/"
                    for e in entries
                    if e["type"] == "tree" and e["sha"] == expression
                ),
                None,
            )
            if prefix is None:
                return None
        return {"entries": self._level(entries, prefix, depth)}

    def _level(
        self, entries: list[dict[str, Any]], prefix: str, depth: int
    ) -> list[dict[str, Any]]:
        level = []
        for entry in entries:
            rest = entry["path"][len(prefix) :] if entry["path"].startswith(prefix) else ""
            if not rest or "/" in rest:
                continue
            item: dict[str, Any] = {
                "name": rest,
                "type": entry["type"],
                "mode": int(entry["mode"], 8),
                "size": entry.get("size", 0),
                "oid": entry["sha"],
            }
            if entry["type"] == "tree":
                item["object"] = (
                    {"entries": self._level(entries, entry["path"] + "/", depth - 1)}
                    if depth > 1
                    else {}
                )
            level.append(item)
        return level

    def _tree(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["rest"] += 1
        troubled = self._troubled("rest")
        if troubled:
            return troubled
        m = re.search(r"/repos/([^/]+/[^/]+)/git/trees/(\w+)", request.url)
        assert m is not None
        full_name, sha = m.groups()
        repo = self.repos.get(full_name)
        if full_name in self.unavailable:
            body = {"message": "Repository access blocked", "block": {"reason": "dmca"}}
            return 451, self._headers(), json.dumps(body)
        if repo is None:
            return (
                404,
                self._headers(),
                json.dumps(
                    {
                        "message": "Not Found",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "404",
                    }
                ),
            )
        if repo.path is None:
            return (
                409,
                self._headers(),
                json.dumps(
                    {
                        "message": "Git Repository is empty.",
                        "documentation_url": "https://docs.github.com/rest",
                        "status": "409",
                    }
                ),
            )
        entries = repo.entries()
        recursive = "recursive=1" in request.url
        if recursive:
            truncated = full_name in self.truncate
            tree = entries[: len(entries) // 3] if truncated else entries
            return (
                200,
                self._headers(),
                json.dumps({"sha": sha, "url": request.url, "tree": tree, "truncated": truncated}),
            )
        # One level of the tree named by sha (root: the commit), as GitHub walks it.
        prefix = "" if sha == repo.head else self._tree_prefix(entries, sha)
        level = []
        for entry in entries:
            rest = entry["path"][len(prefix) :] if entry["path"].startswith(prefix) else None
            if rest and "/" not in rest:
                level.append({**entry, "path": rest})
        return (
            200,
            self._headers(),
            json.dumps({"sha": sha, "url": request.url, "tree": level, "truncated": False}),
        )

    @staticmethod
    def _tree_prefix(entries: list[dict[str, Any]], sha: str) -> str:
        for entry in entries:
            if entry["type"] == "tree" and entry["sha"] == sha:
                return entry["path"] + "/"
        raise AssertionError(f"unknown tree {sha}")


class FakeGitLab:
    def __init__(self, group: str, repos: list[ServedRepo], page_size: int = 100) -> None:
        self.group = group
        self.repos = repos
        self.ids = {r.full_name: i + 1 for i, r in enumerate(repos)}
        self.page_size = page_size
        self.calls: Counter[str] = Counter()
        self.trouble: list[RateLimit] = []

    def install(self, rs: responses.RequestsMock) -> None:
        rs.add_callback(
            responses.GET, re.compile(rf"{GITLAB}/api/v4/groups/[^/]+/projects.*"), self._projects
        )
        rs.add_callback(
            responses.GET,
            re.compile(rf"{GITLAB}/api/v4/projects/(\d+)/repository/tree.*"),
            self._tree,
        )
        rs.add_callback(responses.POST, f"{GITLAB}/api/graphql", self._graphql)
        # the token check the collector makes first: /user with a token, else the group
        rs.add_callback(responses.GET, re.compile(rf"{GITLAB}/api/v4/user$"), self._check)
        rs.add_callback(
            responses.GET, re.compile(rf"{GITLAB}/api/v4/groups/[^/?]+(\?.*)?$"), self._check
        )

    def _check(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["rest"] += 1
        return 200, self._headers(), json.dumps({"id": 1, "username": "scanner"})

    def _troubled(self, kind: str) -> tuple[int, dict[str, str], str] | None:
        for trouble in self.trouble:
            if trouble.count > 0 and trouble.kind in ("any", kind):
                if trouble.after > 0:
                    trouble.after -= 1
                    continue
                trouble.count -= 1
                return (
                    trouble.status,
                    {"Content-Type": "application/json", **trouble.headers},
                    json.dumps(trouble.body or {"message": "429 Too Many Requests"}),
                )
        return None

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": "1990",
        }

    def _projects(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["rest"] += 1
        troubled = self._troubled("rest")
        if troubled:
            return troubled
        page, per_page = self._page(request.url)
        chunk = self.repos[(page - 1) * per_page : page * per_page]
        projects = [gitlab_project(r, self.ids[r.full_name], "internal") for r in chunk]
        return 200, self._paged(request.url, page, per_page, len(self.repos)), json.dumps(projects)

    def _tree(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["rest"] += 1
        troubled = self._troubled("rest")
        if troubled:
            return troubled
        project_id = int(re.search(r"/projects/(\d+)/", request.url).group(1))  # type: ignore[union-attr]
        repo = next(r for r in self.repos if self.ids[r.full_name] == project_id)
        page, per_page = self._page(request.url)
        entries = [
            {
                "id": e["sha"],
                "name": e["path"].rsplit("/", 1)[-1],
                "type": e["type"],
                "path": e["path"],
                "mode": e["mode"],
            }
            for e in (repo.entries() if repo.path else [])
        ]
        return (
            200,
            self._paged(request.url, page, per_page, len(entries)),
            json.dumps(entries[(page - 1) * per_page : page * per_page]),
        )

    def _page(self, url: str) -> tuple[int, int]:
        """GitLab honours per_page up to its own maximum (here `page_size`)."""
        m = re.search(r"[?&]page=(\d+)", url)
        per = re.search(r"[?&]per_page=(\d+)", url)
        return (int(m.group(1)) if m else 1), min(int(per.group(1)) if per else 20, self.page_size)

    def _paged(self, url: str, page: int, per_page: int, total: int) -> dict[str, str]:
        """Pagination headers as GitLab sends them (offset pagination)."""
        headers = {
            **self._headers(),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
        }
        if page * per_page < total:
            base = re.sub(r"([?&])page=\d+", r"\g<1>page=" + str(page + 1), url)
            if base == url:
                base = url + ("&" if "?" in url else "?") + f"page={page + 1}"
            headers["X-Next-Page"] = str(page + 1)
            headers["Link"] = f'<{base}>; rel="next"'
        return headers

    def _graphql(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["graphql"] += 1
        troubled = self._troubled("graphql")
        if troubled:
            return troubled
        query = json.loads(request.body)["query"]
        data: dict[str, Any] = {}
        by_name = {r.full_name: r for r in self.repos}
        for alias, arguments, body in aliased_blocks(query, "project"):
            path = _arg(arguments, "fullPath")
            repo = by_name.get(path)
            if repo is None:
                data[alias] = None
                continue
            if "lastCommit" in body:
                head = repo.head
                data[alias] = {
                    "fullPath": path,
                    "repository": {"tree": {"lastCommit": {"sha": head}} if head else None},
                }
                continue
            paths = json.loads(re.search(r"paths: (\[.*?\])", body).group(1))  # type: ignore[union-attr]
            entries = {e["path"]: e for e in repo.entries()}
            nodes = []
            for p in paths:
                if p in entries:
                    content = repo.blob(entries[p]["sha"])
                    binary = b"\0" in content[:8000]
                    nodes.append(
                        {
                            "path": p,
                            "rawTextBlob": None if binary else content.decode("utf-8", "replace"),
                            "size": str(len(content)),
                        }
                    )
            data[alias] = {"repository": {"blobs": {"nodes": nodes}}}
        return 200, self._headers(), json.dumps({"data": data})


def gitlab_project(repo: ServedRepo, ident: int, visibility: str) -> dict[str, Any]:
    """A project as GitLab's REST listing shows it."""
    return {
        "id": ident,
        "name": repo.full_name.rsplit("/", 1)[-1],
        "path_with_namespace": repo.full_name,
        "web_url": f"{GITLAB}/{repo.full_name}",
        "default_branch": "main" if repo.path else None,
        "empty_repo": repo.path is None,
        "archived": repo.archived,
        "visibility": visibility,
        "topics": list(repo.topics),
        "last_activity_at": "2026-11-01T10:00:00.000Z",
        **({"forked_from_project": {"id": 999}} if repo.fork else {}),
    }
