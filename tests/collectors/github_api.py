"""GitHub's GraphQL and REST APIs replayed with `responses`, enforcing what GitHub documents.

From "Rate limits and node limits for the GraphQL API" and "Rate limits for the REST API":

- every connection needs `first` or `last`, within 1..100; a call may ask for at most 500,000
  nodes (each connection's `first` times those around it). Queries are parsed with
  graphql-core; a query over a limit is refused with GitHub's error types and words
  (`MISSING_PAGINATION_BOUNDARIES`, `EXCESSIVE_PAGINATION`, `MAX_NODE_LIMIT_EXCEEDED`).
- a query costs the requests needed to fulfil its connections / 100, rounded, at least 1 point,
  out of `points` per hour; `x-ratelimit-limit/remaining/used/reset/resource` headers and the
  `rateLimit` object report it. A spent budget answers HTTP 200 (or 403: `exhausted_status`)
  with `errors[].type == "RATE_LIMITED"` and `x-ratelimit-remaining: 0` until the reset.
- REST calls count against their own hourly budget; spent: 403 (or 429) with remaining 0.
  `GET /rate_limit` is free.
- scripted faults: secondary limits (403 or 429, with or without `Retry-After`, GitHub's
  message), 502 with an HTML page, GraphQL's "Something went wrong" without data, read
  timeouts and reset connections; repositories refused after they were listed (`NOT_FOUND`,
  `FORBIDDEN`, blocked: GraphQL `errors` with `path` beside `data`, REST 404/403/451).

The server clock can be moved (`advance`) so a test can reach the reset without waiting.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import requests
import responses
from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)

from tests.collectors.fake_forges import ServedRepo

GITHUB = "https://api.github.com"
NODE_LIMIT = 500_000
TEXT_LIMIT = 512_000  # GitHub cuts Blob.text here and says so with isTruncated
PAGE_LIMIT = 100
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:1111."
)
PRIMARY_MESSAGE = "API rate limit exceeded for user ID 1."
BAD_GATEWAY = "<html><body><h1>502 Bad Gateway</h1>\n</body></html>\n"
WENT_WRONG = (
    "Something went wrong while executing your query. This may be the result of a timeout, "
    "or it could be a GitHub bug. Please include `ABCD:1234` when reporting this issue."
)
REST_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
# Connection fields of the schema parts served here (and of GitHub's documentation examples)
CONNECTIONS = frozenset(
    {"repositories", "repositoryTopics", "issues", "pullRequests", "comments", "followers"}
)
Answer = tuple[int, dict[str, str], str]


@dataclass
class Fault:
    """Scripted trouble for the next `count` matching requests, after letting `after` pass.

    kind: secondary (status 403 or 429, `retry_after` optional) | server (502, HTML) |
    went_wrong (GraphQL 200 without data) | cut (a JSON body cut short) | timeout |
    reset (connection reset)."""

    kind: str
    endpoint: str = "graphql"  # graphql | rest | any
    count: int = 1
    after: int = 0
    status: int = 403
    retry_after: int | None = None
    match: str = ""  # only requests whose body (or URL) contains this


@dataclass(frozen=True)
class Served:
    """One request as the server saw it."""

    endpoint: str  # graphql | rest | rate_limit
    status: int
    cost: int = 0
    nodes: int = 0
    error: str = ""  # GitHub's error type when the call was refused


@dataclass
class _Repo:
    """A ServedRepo's git data, read once."""

    served: ServedRepo
    head: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_path = {e["path"]: e for e in self.entries}
        self.by_sha = {e["sha"]: e for e in self.entries}

    def level(self, prefix: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.entries
            if e["path"].startswith(prefix) and "/" not in e["path"][len(prefix) :]
        ]


@cache
def _git_data(path: Path) -> tuple[str, str]:
    """(head, tree entries as JSON) of a repository built for the test session."""
    served = ServedRepo("x/y", path)
    return str(served.head), json.dumps(served.entries())


@cache
def _blob(path: Path, oid: str) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "blob", oid], cwd=path, check=True, capture_output=True
    ).stdout


class GitHubAPI:
    def __init__(
        self,
        org: str,
        repos: list[ServedRepo],
        *,
        points: int = 5000,
        rest_limit: int = 5000,
        tokens: set[str] | None = None,
        exhausted_status: int = 200,
        page_size: int = PAGE_LIMIT,
    ) -> None:
        self.org = org
        self.repos = {r.full_name: self._load(r) for r in repos}
        self.points = points
        self.rest_limit = rest_limit
        self.tokens = tokens  # None: any token is accepted
        self.exhausted_status = exhausted_status
        self.page_size = page_size
        self.offset = 0.0  # the server clock runs this far ahead of the real one
        self.window = int(time.time())
        self.used: Counter[str] = Counter()  # graphql points / rest requests this window
        self.faults: list[Fault] = []
        self.refused: dict[str, str] = {}  # full name -> NOT_FOUND | FORBIDDEN | BLOCKED
        self.hidden: set[str] = set()  # listed as null nodes with an error (SAML, say)
        self.rate_limiting = True  # False: GitHub Enterprise Server with limits disabled
        self.log: list[Served] = []

    @staticmethod
    def _load(repo: ServedRepo) -> _Repo:
        if repo.path is None:
            return _Repo(repo, None)
        head, entries = _git_data(repo.path)
        return _Repo(repo, head, json.loads(entries))

    # -- clock and budgets ------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.offset

    @property
    def reset_at(self) -> int:
        return self.window + 3600

    def advance(self, seconds: float) -> None:
        """Move the server clock; past the reset, every budget is whole again."""
        self.offset += seconds
        if self.now() >= self.reset_at:
            self.window, self.used = int(self.now()), Counter()

    def _limit(self, resource: str) -> int:
        return self.points if resource == "graphql" else self.rest_limit

    def _headers(self, resource: str) -> dict[str, str]:
        limit = self._limit(resource)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - self.used[resource])),
            "x-ratelimit-used": str(self.used[resource]),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-resource": resource,
        }

    # -- plumbing ---------------------------------------------------------------------------

    def install(self, rs: responses.RequestsMock) -> None:
        host = r"https://api\.github\.com(:443)?"
        rs.add_callback(responses.POST, re.compile(rf"{host}/graphql"), self._graphql)
        rs.add_callback(responses.GET, re.compile(rf"{host}/rate_limit"), self._rate_limit)
        rs.add_callback(
            responses.GET, re.compile(rf"{host}/repos/[^/]+/[^/]+/git/trees/\w+.*"), self._tree
        )
        rs.add_callback(
            responses.GET, re.compile(rf"{host}/repos/[^/]+/[^/]+/git/blobs/\w+$"), self._rest_blob
        )

    def _answer(self, served: Served, status: int, headers: dict[str, str], body: Any) -> Answer:
        self.log.append(served)
        return status, headers, body if isinstance(body, str) else json.dumps(body)

    def _unauthorized(self, request: Any, endpoint: str) -> Answer | None:
        header = request.headers.get("Authorization") or ""
        token = header.split(" ", 1)[1] if " " in header else ""
        if not token and endpoint == "graphql":
            message = "This endpoint requires you to be authenticated."
        elif token and self.tokens is not None and token not in self.tokens:
            message = "Bad credentials"
        else:
            return None
        body = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return self._answer(Served(endpoint, 401), 401, headers, body)

    def _fault(self, endpoint: str, request: Any) -> Answer | None:
        text = f"{request.url} {request.body or ''}"
        for fault in self.faults:
            if fault.count <= 0 or fault.endpoint not in ("any", endpoint):
                continue
            if fault.match not in text:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.count -= 1
            return self._faulty(fault, endpoint)
        return None

    def _faulty(self, fault: Fault, endpoint: str) -> Answer:
        resource = "graphql" if endpoint == "graphql" else "core"
        if fault.kind == "timeout":
            self.log.append(Served(endpoint, 0, error="timeout"))
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")
        if fault.kind == "reset":
            self.log.append(Served(endpoint, 0, error="reset"))
            raise requests.exceptions.ConnectionError(
                "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
            )
        if fault.kind == "server":
            headers = {"Content-Type": "text/html"}
            return self._answer(Served(endpoint, 502, error="server"), 502, headers, BAD_GATEWAY)
        if fault.kind == "cut":
            served = Served(endpoint, 200, error="cut")
            return self._answer(served, 200, self._headers(resource), '{"data": {"r0": {"f')
        if fault.kind == "went_wrong":
            body = {"data": None, "errors": [{"message": WENT_WRONG}]}
            served = Served(endpoint, 200, error="went_wrong")
            return self._answer(served, 200, self._headers(resource), body)
        headers = self._headers(resource)
        if fault.retry_after is not None:
            headers["retry-after"] = str(fault.retry_after)
        body: dict[str, Any] = {
            "message": SECONDARY_MESSAGE,
            "documentation_url": REST_DOCS + "#about-secondary-rate-limits",
        }
        if fault.status == 200:  # GraphQL's form: an error beside no data
            body = {"errors": [{"type": "RATE_LIMITED", "message": SECONDARY_MESSAGE}]}
        served = Served(endpoint, fault.status, error="secondary")
        return self._answer(served, fault.status, headers, body)

    # -- REST -------------------------------------------------------------------------------

    def _rate_limit(self, request: Any) -> Answer:
        if not self.rate_limiting:  # said before the token is looked at: proves nothing
            body = {"message": "Rate limiting is not enabled.", "documentation_url": REST_DOCS}
            headers = {"Content-Type": "application/json; charset=utf-8"}
            return self._answer(Served("rate_limit", 404), 404, headers, body)
        refused = self._unauthorized(request, "rate_limit")
        if refused:
            return refused

        def resource(name: str) -> dict[str, int]:
            limit = self._limit(name)
            return {
                "limit": limit,
                "used": self.used[name],
                "remaining": max(0, limit - self.used[name]),
                "reset": self.reset_at,
            }

        body = {
            "resources": {"core": resource("core"), "graphql": resource("graphql")},
            "rate": resource("core"),
        }
        return self._answer(Served("rate_limit", 200), 200, self._headers("core"), body)

    def _tree(self, request: Any) -> Answer:
        refused = self._unauthorized(request, "rest")
        if refused:
            return refused
        faulty = self._fault("rest", request)
        if faulty:
            return faulty
        if self.used["core"] >= self.rest_limit:
            body = {"message": PRIMARY_MESSAGE, "documentation_url": REST_DOCS}
            status = self.exhausted_status if self.exhausted_status != 200 else 403
            return self._answer(
                Served("rest", status, error="RATE_LIMITED"), status, self._headers("core"), body
            )
        self.used["core"] += 1
        m = re.search(r"/repos/([^/]+/[^/]+)/git/trees/(\w+)", request.url)
        assert m is not None
        full_name, sha = m.groups()
        repo = self.repos.get(full_name)
        why = self.refused.get(full_name) or ("NOT_FOUND" if repo is None else "")
        status, message = {
            "NOT_FOUND": (404, "Not Found"),
            "FORBIDDEN": (403, "Resource not accessible by integration"),
            "BLOCKED": (451, "Repository access blocked"),
        }.get(why, (200, ""))
        if repo is not None and repo.head is None and status == 200:
            status, message = 409, "Git Repository is empty."
        if status != 200:
            body = {"message": message, "documentation_url": "https://docs.github.com/rest"}
            return self._answer(Served("rest", status), status, self._headers("core"), body)
        assert repo is not None
        if "recursive=1" in request.url:
            tree = repo.entries
        else:
            prefix = "" if sha == repo.head else repo.by_sha[sha]["path"] + "/"
            tree = [{**e, "path": e["path"][len(prefix) :]} for e in repo.level(prefix)]
        body = {"sha": sha, "url": request.url, "tree": tree, "truncated": False}
        return self._answer(Served("rest", 200), 200, self._headers("core"), body)

    def _rest_blob(self, request: Any) -> Answer:
        """GET /repos/{owner}/{repo}/git/blobs/{sha}: the whole blob, base64 (up to 100 MB)."""
        refused = self._unauthorized(request, "rest") or self._fault("rest", request)
        if refused:
            return refused
        self.used["core"] += 1
        m = re.search(r"/repos/([^/]+/[^/]+)/git/blobs/(\w+)$", request.url)
        assert m is not None
        full_name, sha = m.groups()
        repo = self.repos.get(full_name)
        if repo is None or full_name in self.refused or sha not in repo.by_sha:
            body = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
            return self._answer(Served("rest", 404), 404, self._headers("core"), body)
        assert repo.served.path is not None
        data = _blob(repo.served.path, sha)
        body = {"sha": sha, "size": len(data), "encoding": "base64"}
        body["content"] = base64.encodebytes(data).decode()  # GitHub wraps it at 60 columns
        return self._answer(Served("rest", 200), 200, self._headers("core"), body)

    # -- GraphQL ----------------------------------------------------------------------------

    def _graphql(self, request: Any) -> Answer:
        refused = self._unauthorized(request, "graphql")
        if refused:
            return refused
        faulty = self._fault("graphql", request)
        if faulty:
            return faulty
        body = json.loads(request.body)
        variables = body.get("variables") or {}
        try:
            document = parse(body["query"])
        except GraphQLSyntaxError as exc:
            answer = {"errors": [{"message": f"Parse error on {exc.message}"}]}
            return self._answer(
                Served("graphql", 200, error="PARSE"), 200, self._headers("graphql"), answer
            )
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        limits = QueryLimits(variables)
        limits.walk(operation.selection_set, 1)
        if limits.error is not None:
            served = Served("graphql", 200, nodes=limits.nodes, error=limits.error["type"])
            return self._answer(served, 200, self._headers("graphql"), {"errors": [limits.error]})
        cost = limits.cost
        if self.used["graphql"] + cost > self.points:
            headers = {**self._headers("graphql"), "x-ratelimit-remaining": "0"}
            error = {
                "type": "RATE_LIMITED",
                "code": "graphql_rate_limit",
                "message": PRIMARY_MESSAGE,
            }
            served = Served("graphql", self.exhausted_status, cost, limits.nodes, "RATE_LIMITED")
            return self._answer(served, self.exhausted_status, headers, {"errors": [error]})
        self.used["graphql"] += cost
        run = _Execution(self, variables, cost)
        data = run.selection("Query", None, operation.selection_set, [])
        answer: dict[str, Any] = {"data": data}
        if run.errors:
            answer["errors"] = run.errors
        served = Served("graphql", 200, cost, limits.nodes)
        return self._answer(served, 200, self._headers("graphql"), answer)

    def total(self, endpoint: str | None = None) -> int:
        """Requests served (a refused one included), for one endpoint or all but the free
        `/rate_limit`."""
        return sum(
            1
            for s in self.log
            if s.endpoint == endpoint or (endpoint is None and s.endpoint != "rate_limit")
        )


class QueryLimits:
    """GitHub's node count and point cost of a parsed query, and the first limit it breaks."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables
        self.nodes = 0
        self.requests = 0  # requests needed to fulfil every connection (the point formula)
        self.error: dict[str, Any] | None = None

    @property
    def cost(self) -> int:
        return max(1, round(self.requests / 100))

    def walk(self, selections: SelectionSetNode | None, parents: int) -> None:
        for node in selections.selections if selections else ():
            if isinstance(node, InlineFragmentNode):
                self.walk(node.selection_set, parents)
            elif isinstance(node, FieldNode):
                self._field(node, parents)

    def _field(self, node: FieldNode, parents: int) -> None:
        args = {
            a.name.value: value_from_ast_untyped(a.value, self.variables)
            for a in node.arguments or ()
        }
        size = args.get("first", args.get("last"))
        name = node.name.value
        if size is None:
            if name in CONNECTIONS:
                self._refuse(
                    "MISSING_PAGINATION_BOUNDARIES",
                    f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.",
                )
            self.walk(node.selection_set, parents)
            return
        if not 1 <= int(size) <= PAGE_LIMIT:
            which = "first" if "first" in args else "last"
            self._refuse(
                "EXCESSIVE_PAGINATION",
                f"Requesting {size} records on the `{name}` connection exceeds the `{which}` "
                f"limit of {PAGE_LIMIT} records.",
            )
        self.requests += parents
        self.nodes += parents * int(size)
        if self.nodes > NODE_LIMIT:
            self._refuse(
                "MAX_NODE_LIMIT_EXCEEDED",
                f"By the time this query traverses to the {name} connection, it is requesting "
                f"up to {self.nodes:,} possible nodes which exceeds the maximum limit of "
                f"{NODE_LIMIT:,}.",
            )
        self.walk(node.selection_set, parents * int(size))

    def _refuse(self, kind: str, message: str) -> None:
        if self.error is None:
            self.error = {"type": kind, "message": message}


class _Execution:
    """Resolves the part of GitHub's schema driftscan reads, alias by alias, with per-path
    errors beside the data as GitHub returns them."""

    def __init__(self, api: GitHubAPI, variables: dict[str, Any], cost: int) -> None:
        self.api = api
        self.variables = variables
        self.cost = cost
        self.errors: list[dict[str, Any]] = []

    def selection(
        self, typename: str, obj: Any, selections: SelectionSetNode | None, path: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in selections.selections if selections else ():
            if isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else typename
                if condition == typename:
                    out.update(self.selection(typename, obj, node.selection_set, path))
            elif isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                args = {
                    a.name.value: value_from_ast_untyped(a.value, self.variables)
                    for a in node.arguments or ()
                }
                value = self.resolve(typename, obj, node.name.value, args, [*path, key])
                out[key] = self.complete(value, node.selection_set, [*path, key])
        return out

    def complete(self, value: Any, selections: SelectionSetNode | None, path: list[str]) -> Any:
        if isinstance(value, list):
            return [self.complete(v, selections, path) for v in value]
        if isinstance(value, Typed):
            return self.selection(value.typename, value.obj, selections, path)
        if isinstance(value, dict):  # an object without fragments: its fields as they are
            return self.selection("Object", value, selections, path)
        return value

    def error(self, path: list[str], kind: str, message: str) -> None:
        self.errors.append({"type": kind, "path": path, "locations": [], "message": message})

    def resolve(
        self, typename: str, obj: Any, name: str, args: dict[str, Any], path: list[str]
    ) -> Any:
        method = getattr(self, f"_{typename}_{name}", None)
        if method is not None:
            return method(obj, args, path)
        if isinstance(obj, dict):
            return obj.get(name)
        raise AssertionError(f"field {typename}.{name} is not served")

    # Query
    def _Query_organization(self, _obj: Any, args: dict[str, Any], path: list[str]) -> Any:
        if args["login"] != self.api.org:
            self.error(
                path,
                "NOT_FOUND",
                f"Could not resolve to an Organization with the login of '{args['login']}'.",
            )
            return None
        return Typed("Organization", None)

    def _Query_repository(self, _obj: Any, args: dict[str, Any], path: list[str]) -> Any:
        full_name = f"{args['owner']}/{args['name']}"
        repo = self.api.repos.get(full_name)
        why = self.api.refused.get(full_name) or ("NOT_FOUND" if repo is None else "")
        if why == "NOT_FOUND":
            message = f"Could not resolve to a Repository with the name '{full_name}'."
            self.error(path, "NOT_FOUND", message)
            return None
        if why == "FORBIDDEN":
            self.error(path, "FORBIDDEN", "Resource not accessible by integration")
            return None
        if why == "BLOCKED":
            self.error(path, "FORBIDDEN", "Repository access blocked")
            return None
        return Typed("Repository", repo)

    def _Query_rateLimit(self, _obj: Any, _args: dict[str, Any], _path: list[str]) -> Any:
        limit = self.api.points
        reset = datetime.fromtimestamp(self.api.reset_at, timezone.utc)
        return {
            "limit": limit,
            "cost": self.cost,
            "used": self.api.used["graphql"],
            "remaining": max(0, limit - self.api.used["graphql"]),
            "resetAt": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def _Query_viewer(self, _obj: Any, _args: dict[str, Any], _path: list[str]) -> Any:
        return {"login": "driftscan-test"}

    # Organization and connections
    def _Organization_repositories(self, _obj: Any, args: dict[str, Any], path: list[str]) -> Any:
        names = sorted(self.api.repos)
        start = int(args.get("after") or 0)
        size = min(int(args["first"]), self.api.page_size)
        page = names[start : start + size]
        end = start + len(page)
        nodes: list[Typed | None] = []
        for index, name in enumerate(page):
            if name in self.api.hidden:
                message = (
                    "Resource protected by organization SAML enforcement. You must grant your "
                    "Personal Access token access to this organization."
                )
                self.error([*path, "nodes", str(index)], "FORBIDDEN", message)
                nodes.append(None)
            else:
                nodes.append(Typed("Repository", self.api.repos[name]))
        return {
            "totalCount": len(names),
            "pageInfo": {"hasNextPage": end < len(names), "endCursor": str(end)},
            "nodes": nodes,
        }

    # Repository
    def _Repository_nameWithOwner(self, repo: _Repo, *_: Any) -> str:
        return repo.served.full_name

    def _Repository_url(self, repo: _Repo, *_: Any) -> str:
        return f"https://github.com/{repo.served.full_name}"

    def _Repository_isArchived(self, repo: _Repo, *_: Any) -> bool:
        return repo.served.archived

    def _Repository_isFork(self, repo: _Repo, *_: Any) -> bool:
        return repo.served.fork

    def _Repository_visibility(self, _repo: _Repo, *_: Any) -> str:
        return "PRIVATE"

    def _Repository_pushedAt(self, _repo: _Repo, *_: Any) -> str:
        return "2026-11-01T10:00:00Z"

    def _Repository_defaultBranchRef(self, repo: _Repo, *_: Any) -> Any:
        if repo.head is None:
            return None
        return {"name": "main", "target": Typed("Commit", repo.head)}

    def _Commit_oid(self, head: str, *_: Any) -> str:
        return head

    def _Repository_repositoryTopics(self, repo: _Repo, args: dict[str, Any], _p: list[str]) -> Any:
        topics = repo.served.topics[: int(args["first"])]
        return {"nodes": [{"topic": {"name": t}} for t in topics]}

    def _Repository_object(self, repo: _Repo, args: dict[str, Any], _path: list[str]) -> Any:
        if repo.head is None:
            return None
        if "oid" in args:
            entry = repo.by_sha.get(args["oid"])
            return None if entry is None else self._object(repo, entry)
        expression = str(args["expression"])
        if expression == f"{repo.head}:":
            return Typed("Tree", (repo, ""))
        if expression.startswith(f"{repo.head}:"):
            entry = repo.by_path.get(expression.split(":", 1)[1])
        else:
            entry = repo.by_sha.get(expression)
        return None if entry is None else self._object(repo, entry)

    @staticmethod
    def _object(repo: _Repo, entry: dict[str, Any]) -> Typed:
        if entry["type"] == "tree":
            return Typed("Tree", (repo, entry["path"] + "/"))
        return Typed("Blob", (repo, entry["sha"]))

    def _Tree_entries(self, tree: tuple[_Repo, str], *_: Any) -> list[Typed]:
        repo, prefix = tree
        return [Typed("TreeEntry", (repo, entry)) for entry in repo.level(prefix)]

    def _TreeEntry_name(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> str:
        return str(item[1]["path"].rsplit("/", 1)[-1])

    def _TreeEntry_type(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> str:
        return str(item[1]["type"])

    def _TreeEntry_mode(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> int:
        return int(item[1]["mode"], 8)

    def _TreeEntry_size(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> int:
        return int(item[1].get("size") or 0)

    def _TreeEntry_oid(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> str:
        return str(item[1]["sha"])

    def _TreeEntry_object(self, item: tuple[_Repo, dict[str, Any]], *_: Any) -> Typed:
        return self._object(*item)

    def _blob_bytes(self, blob: tuple[_Repo, str]) -> bytes:
        repo, oid = blob
        assert repo.served.path is not None
        return _blob(repo.served.path, oid)

    def _Blob_isBinary(self, blob: tuple[_Repo, str], *_: Any) -> bool:
        return b"\0" in self._blob_bytes(blob)[:8000]

    def _Blob_text(self, blob: tuple[_Repo, str], *_: Any) -> str | None:
        data = self._blob_bytes(blob)
        text = data[:TEXT_LIMIT].decode("utf-8", "replace")
        return None if b"\0" in data[:8000] else text

    def _Blob_isTruncated(self, blob: tuple[_Repo, str], *_: Any) -> bool:
        return len(self._blob_bytes(blob)) > TEXT_LIMIT

    def _Blob_byteSize(self, blob: tuple[_Repo, str], *_: Any) -> int:
        return len(self._blob_bytes(blob))

    def _Blob_oid(self, blob: tuple[_Repo, str], *_: Any) -> str:
        return blob[1]


@dataclass(frozen=True)
class Typed:
    """A value of a GraphQL object type (so inline fragments `... on Tree` can match)."""

    typename: str
    obj: Any
