"""GitLab replayed as GitLab documents itself, on `responses` callbacks, serving real git
repositories. Unlike the permissive FakeGitLab, this server enforces GitLab's published limits
on every GraphQL query it receives, from the query text parsed with graphql-core:

- complexity (docs: GraphQL API, "Max query complexity"): 250 with a token, 200 without
  (app/graphql/gitlab_schema.rb), computed as GitLab computes it: graphql-ruby's analysis with
  Types::BaseField's field costs (1, one more for a field that calls Gitaly) and resolver
  fields priced by Resolvers::BaseResolver (children + 1, + 1 per path for BlobsResolver, and a
  connection grows by itself x min(first, last, 100) x 0.01). Over it: HTTP 200,
  `{"errors": [{"message": "Query has complexity of N, which exceeds max complexity of M"}]}`
  and no `data`;
- depth (15 without a token, 20 with one), query size (10,000 characters, summed over a
  multiplexed request: 422 "Query too large"), 100 nodes per connection page;
- fields that do not exist on a type are refused as GitLab refuses them;
- a project that is not visible answers `null` (GitLab says nothing more); a resolver that
  refuses access (BlobsResolver's authorize!) adds an `errors` entry with its `path`.

REST: group project pages and repository trees with offset pagination (`Link`, `X-Next-Page`,
`X-Total`...), optionally changing between pages; `/user` and the group for the token check;
401 for a token it does not know. Scripted faults: any status (429 with or without
`Retry-After` / `RateLimit-Reset`, 5xx), connection resets and timeouts.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import requests
import responses
from graphql import GraphQLError, parse
from graphql.language import FieldNode, OperationDefinitionNode, SelectionSetNode
from graphql.utilities import value_from_ast_untyped

from tests.collectors.fake_forges import GITLAB, ServedRepo, gitlab_project

API = f"{GITLAB}/api/v4"
MAX_PAGE_SIZE = 100
MAX_QUERY_SIZE = 10_000
COMPLEXITY = {True: 250, False: 200}  # authenticated or not
DEPTH = {True: 20, False: 15}
NOT_AVAILABLE = (
    "The resource that you are attempting to access does not exist or you don't have "
    "permission to perform this action"
)


@dataclass(frozen=True)
class Price:
    """What GitLab charges for a field, as its Ruby declares it."""

    resolver: bool = False  # field with a resolver: a proc over children and arguments
    gitaly: bool = False  # calls_gitaly: true / calls_gitaly!
    per_path: bool = False  # BlobsResolver.resolver_complexity: super + paths.size
    connection: bool = False  # connection type: multiplied by page size x 0.01


ONE = Price()

# The part of GitLab's schema the collector may touch: type -> field -> (type, price).
SCHEMA: dict[str, dict[str, tuple[str, Price]]] = {
    "Query": {"project": ("Project", Price(resolver=True))},  # Resolvers::ProjectResolver
    "Project": {
        "id": ("ID", ONE),
        "name": ("String", ONE),
        "fullPath": ("ID", ONE),
        "repository": ("Repository", ONE),
    },
    "Repository": {
        "rootRef": ("String", Price(gitaly=True)),
        "empty": ("Boolean", Price(gitaly=True)),
        "exists": ("Boolean", Price(gitaly=True)),
        "tree": ("Tree", Price(resolver=True, gitaly=True)),  # Resolvers::TreeResolver
        "blobs": (
            "RepositoryBlobConnection",
            Price(resolver=True, gitaly=True, per_path=True, connection=True),
        ),
    },
    "Tree": {"lastCommit": ("Commit", Price(resolver=True, gitaly=True))},
    "Commit": {"id": ("ID", ONE), "sha": ("String", ONE), "title": ("String", ONE)},
    "RepositoryBlobConnection": {
        "nodes": ("RepositoryBlob", ONE),
        "pageInfo": ("PageInfo", ONE),
    },
    "PageInfo": {"hasNextPage": ("Boolean", ONE), "endCursor": ("String", ONE)},
    "RepositoryBlob": {
        "id": ("ID", ONE),
        "oid": ("String", ONE),
        "name": ("String", ONE),
        "path": ("String", ONE),
        "size": ("BigInt", ONE),
        "rawSize": ("BigInt", ONE),
        "rawBlob": ("String", ONE),
        "rawTextBlob": ("String", ONE),
    },
}


class Refused(Exception):
    """A query GitLab refuses before running it (message as GitLab words it)."""


@dataclass
class Fault:
    """Scripted trouble: the next `count` matching requests (after letting `after` through)
    answer with `status` and `headers`, or raise `error` (a connection reset, a timeout)."""

    kind: str = "any"  # any | rest | graphql | projects | tree | check
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    count: int = 1
    after: int = 0
    error: Callable[[], Exception] | None = None
    body: str = ""
    url_contains: str = ""  # only requests for this URL part (one project's tree, say)


def reset() -> Exception:
    return requests.exceptions.ConnectionError(
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
    )


def read_timeout() -> Exception:
    return requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")


@cache
def _head(path: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


@cache
def _entries(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(ServedRepo("x/y", path).entries())


@cache
def _blob(path: Path, oid: str) -> bytes:
    return ServedRepo("x/y", path).blob(oid)


class GitLabAPI:
    """One GitLab instance holding `group` and its subgroups' projects."""

    def __init__(
        self,
        group: str,
        repos: list[ServedRepo],
        *,
        tokens: tuple[str, ...] | None = None,  # known tokens; None: any token is valid
        complexity: int | None = None,  # override the documented limit (a stricter server)
    ) -> None:
        self.group = group
        self.projects = {r.full_name: r for r in repos}
        self.ids = {r.full_name: i + 1 for i, r in enumerate(repos)}
        self.tokens = tokens
        self.complexity = complexity
        self.faults: list[Fault] = []
        self.hidden: set[str] = set()  # listed, but GraphQL answers null (access lost)
        self.blob_denied: set[str] = set()  # BlobsResolver refuses: an error with a path
        self.deleted: set[str] = set()
        self.after_page: dict[int, Callable[[], None]] = {}  # projects page -> change
        self.calls: Counter[str] = Counter()
        self.complexities: list[int] = []  # of every query GitLab accepted
        self.links = True  # send Link headers on REST pages

    def install(self, rs: responses.RequestsMock) -> None:
        rs.add_callback(responses.GET, re.compile(rf"{API}/user$"), self._user)
        rs.add_callback(
            responses.GET, re.compile(rf"{API}/groups/[^/?]+/projects(\?.*)?$"), self._projects
        )
        rs.add_callback(responses.GET, re.compile(rf"{API}/groups/[^/?]+(\?.*)?$"), self._group)
        rs.add_callback(
            responses.GET, re.compile(rf"{API}/projects/\d+/repository/tree.*"), self._tree
        )
        rs.add_callback(responses.POST, f"{GITLAB}/api/graphql", self._graphql)

    # -- plumbing -----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": "1990",
            "RateLimit-Reset": str(int(time.time()) + 60),
        }

    def _authenticated(self, request: Any) -> bool | None:
        """True/False for a known token or none; None for a token GitLab does not know."""
        token = request.headers.get("PRIVATE-TOKEN") or request.headers.get("JOB-TOKEN")
        if not token:
            return False
        return True if self.tokens is None or token in self.tokens else None

    def _fault(
        self, kinds: tuple[str, ...], url: str = ""
    ) -> tuple[int, dict[str, str], str] | None:
        for fault in self.faults:
            if fault.count <= 0 or fault.kind not in ("any", *kinds):
                continue
            if fault.url_contains not in url:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.count -= 1
            self.calls["fault"] += 1
            if fault.error is not None:
                raise fault.error()
            body = fault.body or json.dumps({"message": f"{fault.status} trouble"})
            return fault.status, {"Content-Type": "application/json", **fault.headers}, body
        return None

    def _rest(self, kind: str, url: str = "") -> tuple[int, dict[str, str], str] | None:
        """Count a REST request; a scripted fault's answer when one is due."""
        self.calls["rest"] += 1
        self.calls[kind] += 1
        return self._fault(("rest", kind), url)

    def _unauthorized(self) -> tuple[int, dict[str, str], str]:
        return 401, self._headers(), json.dumps({"message": "401 Unauthorized"})

    @staticmethod
    def _page(url: str) -> tuple[int, int]:
        query = parse_qs(urlparse(url).query)
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["20"])[0]), MAX_PAGE_SIZE)
        return page, per_page

    def _paged(self, url: str, items: list[Any]) -> tuple[int, dict[str, str], str]:
        """Offset pagination exactly as GitLab sends it."""
        page, per_page = self._page(url)
        total = len(items)
        pages = max(1, -(-total // per_page))
        headers = {
            **self._headers(),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Next-Page": str(page + 1) if page < pages else "",
        }
        links = []
        base = re.sub(r"([?&])page=\d+&?", r"\1", url).rstrip("?&")
        joiner = "&" if "?" in base else "?"
        if page < pages:
            links.append(f'<{base}{joiner}page={page + 1}>; rel="next"')
        links.append(f'<{base}{joiner}page=1>; rel="first"')
        links.append(f'<{base}{joiner}page={pages}>; rel="last"')
        if self.links:  # some proxies drop Link; X-Next-Page then says the same
            headers["Link"] = ", ".join(links)
        chunk = items[(page - 1) * per_page : page * per_page]
        return 200, headers, json.dumps(chunk)

    # -- REST ---------------------------------------------------------------------------

    def _user(self, request: Any) -> tuple[int, dict[str, str], str]:
        faulted = self._rest("check")
        if faulted:
            return faulted
        if self._authenticated(request) is not True:
            return self._unauthorized()
        return 200, self._headers(), json.dumps({"id": 7, "username": "scanner"})

    def _group_of(self, url: str) -> str:
        match = re.search(r"/groups/([^/?]+)", url)
        assert match is not None
        return unquote(match.group(1))

    def _refused(self, request: Any, kind: str) -> tuple[int, dict[str, str], str] | None:
        """A group request's scripted fault, 401 or 404 (another group), when one is due."""
        faulted = self._rest(kind)
        if faulted:
            return faulted
        if self._authenticated(request) is None:
            return self._unauthorized()
        if self._group_of(request.url) != self.group:
            return 404, self._headers(), json.dumps({"message": "404 Group Not Found"})
        return None

    def _group(self, request: Any) -> tuple[int, dict[str, str], str]:
        refused = self._refused(request, "check")
        if refused:
            return refused
        return 200, self._headers(), json.dumps({"id": 1, "full_path": self.group})

    def _listed(self) -> list[ServedRepo]:
        return [
            r
            for name, r in sorted(self.projects.items(), key=lambda kv: self.ids[kv[0]])
            if name not in self.deleted and name.startswith(self.group + "/")
        ]

    def _projects(self, request: Any) -> tuple[int, dict[str, str], str]:
        refused = self._refused(request, "projects")
        if refused:
            return refused
        items = [gitlab_project(r, self.ids[r.full_name], "private") for r in self._listed()]
        answer = self._paged(request.url, items)
        change = self.after_page.pop(self._page(request.url)[0], None)
        if change is not None:
            change()
        return answer

    def _tree(self, request: Any) -> tuple[int, dict[str, str], str]:
        faulted = self._rest("tree", request.url)
        if faulted:
            return faulted
        if self._authenticated(request) is None:
            return self._unauthorized()
        match = re.search(r"/projects/(\d+)/", request.url)
        assert match is not None
        repo = next(
            (r for n, r in self.projects.items() if self.ids[n] == int(match.group(1))), None
        )
        if repo is None or repo.full_name in self.deleted:
            return 404, self._headers(), json.dumps({"message": "404 Project Not Found"})
        ref = parse_qs(urlparse(request.url).query).get("ref", [""])[0]
        if repo.path is None or ref not in ("", "main", _head(repo.path)):
            return 404, self._headers(), json.dumps({"message": "404 Tree Not Found"})
        entries = [
            {
                "id": e["sha"],
                "name": e["path"].rsplit("/", 1)[-1],
                "type": e["type"],
                "path": e["path"],
                "mode": e["mode"],
            }
            for e in _entries(repo.path)
        ]
        return self._paged(request.url, entries)

    # -- GraphQL ------------------------------------------------------------------------

    def _graphql(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.calls["graphql"] += 1
        faulted = self._fault(("graphql",))
        if faulted:
            return faulted
        authenticated = self._authenticated(request)
        if authenticated is None:
            return 401, self._headers(), json.dumps({"errors": [{"message": "Invalid token"}]})
        body = json.loads(request.body)
        queries = body if isinstance(body, list) else [body]  # Apollo-style multiplex
        if sum(len(q.get("query") or "") for q in queries) > MAX_QUERY_SIZE:
            return 422, self._headers(), json.dumps({"errors": [{"message": "Query too large"}]})
        limit = self.complexity or COMPLEXITY[authenticated]
        answers = [self._one(q, authenticated, limit) for q in queries]
        if isinstance(body, list):
            total = sum(cost for _, cost in answers)
            if total > limit:  # the multiplex as a whole is held to the same limit
                refused = {"errors": [{"message": _too_complex(total, limit)}]}
                return 200, self._headers(), json.dumps([refused for _ in answers])
            return 200, self._headers(), json.dumps([a for a, _ in answers])
        return 200, self._headers(), json.dumps(answers[0][0])

    def _one(self, body: dict[str, Any], authenticated: bool, limit: int) -> tuple[Any, int]:
        try:
            operation = _operation(body.get("query") or "")
            variables = body.get("variables") or {}
            depth = _depth(operation.selection_set)
            if depth > DEPTH[authenticated]:
                raise Refused(
                    f"Query has depth of {depth}, which exceeds max depth of {DEPTH[authenticated]}"
                )
            cost = complexity(operation.selection_set, "Query", variables)
            if cost > limit:
                raise Refused(_too_complex(cost, limit))
        except Refused as exc:
            self.calls["refused"] += 1
            return {"errors": [{"message": str(exc)}]}, 0
        self.complexities.append(cost)
        kind = "heads" if "lastCommit" in (body.get("query") or "") else "blobs"
        self.calls[f"graphql-{kind}"] += 1
        errors: list[dict[str, Any]] = []
        data = self._select(operation.selection_set, "Query", None, variables, [], errors)
        answer: dict[str, Any] = {"data": data}
        if errors:
            answer["errors"] = errors
        return answer, cost

    def _select(
        self,
        selection: SelectionSetNode,
        type_name: str,
        obj: Any,
        variables: dict[str, Any],
        path: list[str | int],
        errors: list[dict[str, Any]],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for node in _fields(selection):
            key = node.alias.value if node.alias else node.name.value
            child_type, _ = SCHEMA[type_name][node.name.value]
            args = {
                a.name.value: value_from_ast_untyped(a.value, variables)
                for a in node.arguments or ()
            }
            try:
                value = self._resolve(type_name, node.name.value, obj, args)
            except GraphQLError as exc:
                errors.append({"message": exc.message, "path": [*path, key]})
                out[key] = None
                continue
            if node.selection_set is None or value is None:
                out[key] = value
            elif isinstance(value, list):
                out[key] = [
                    self._select(
                        node.selection_set, child_type, v, variables, [*path, key, i], errors
                    )
                    for i, v in enumerate(value)
                ]
            else:
                out[key] = self._select(
                    node.selection_set, child_type, value, variables, [*path, key], errors
                )
        return out

    def _resolve(self, type_name: str, name: str, obj: Any, args: dict[str, Any]) -> Any:
        if type_name == "Query":
            repo = self.projects.get(str(args.get("fullPath")))
            visible = repo is not None and repo.full_name not in self.hidden | self.deleted
            return repo if visible else None
        if type_name == "Project":
            repo = obj
            return {
                "id": f"gid://gitlab/Project/{self.ids[repo.full_name]}",
                "name": repo.full_name.rsplit("/", 1)[-1],
                "fullPath": repo.full_name,
                "repository": repo,
            }[name]
        if type_name == "Repository":
            return self._repository(obj, name, args)
        if type_name == "Tree":
            return {"sha": _head(obj.path), "id": f"gid://gitlab/Commit/{_head(obj.path)}"}
        if isinstance(obj, dict):
            return obj.get(name)
        raise AssertionError((type_name, name))

    def _repository(self, repo: ServedRepo, name: str, args: dict[str, Any]) -> Any:
        if name == "rootRef":
            return "main" if repo.path else None
        if name in ("empty", "exists"):
            return (repo.path is None) if name == "empty" else True
        if name == "tree":
            return repo if repo.path else None
        # blobs: BlobsResolver authorizes, then reads the paths at ref (missing ones omitted)
        if repo.full_name in self.blob_denied:
            raise GraphQLError(NOT_AVAILABLE)
        if repo.path is None:
            return {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
        entries = {e["path"]: e for e in _entries(repo.path) if e["type"] == "blob"}
        nodes = []
        for wanted in args.get("paths") or []:
            entry = entries.get(wanted)
            if entry is None:
                continue
            content = _blob(repo.path, entry["sha"])
            binary = b"\0" in content[:8000]
            nodes.append(
                {
                    "id": f"gid://gitlab/Blob/{entry['sha']}",
                    "oid": entry["sha"],
                    "name": wanted.rsplit("/", 1)[-1],
                    "path": wanted,
                    "size": str(len(content)),  # BigInt: a string on the wire
                    "rawSize": str(len(content)),
                    "rawBlob": content.decode("utf-8", "replace"),
                    "rawTextBlob": None if binary else content.decode("utf-8", "replace"),
                }
            )
        page = min(int(args.get("first") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)
        return {
            "nodes": nodes[:page],
            "pageInfo": {"hasNextPage": len(nodes) > page, "endCursor": str(page)},
        }


def _too_complex(cost: int, limit: int) -> str:
    return f"Query has complexity of {cost}, which exceeds max complexity of {limit}"


def _operation(text: str) -> OperationDefinitionNode:
    try:
        document = parse(text)
    except GraphQLError as exc:
        raise Refused(exc.message) from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or len(document.definitions) != 1:
        raise Refused("this replay serves documents of exactly one operation")
    return operations[0]


def _fields(selection: SelectionSetNode) -> list[FieldNode]:
    """The fields of a selection set, one per response key (graphql-ruby merges repeats)."""
    out: dict[str, FieldNode] = {}
    for node in selection.selections:
        if not isinstance(node, FieldNode):
            raise Refused("this replay does not serve fragments")
        out.setdefault(node.alias.value if node.alias else node.name.value, node)
    return list(out.values())


def _depth(selection: SelectionSetNode | None) -> int:
    if selection is None:
        return 0
    return max((1 + _depth(n.selection_set) for n in _fields(selection)), default=0)


def complexity(selection: SelectionSetNode, type_name: str, variables: dict[str, Any]) -> int:
    """GitLab's complexity of a selection on `type_name` (see the module docstring)."""
    total = 0
    for node in _fields(selection):
        fields = SCHEMA.get(type_name, {})
        if node.name.value not in fields:
            raise Refused(f"Field '{node.name.value}' doesn't exist on type '{type_name}'")
        child_type, price = fields[node.name.value]
        children = (
            complexity(node.selection_set, child_type, variables) if node.selection_set else 0
        )
        if not price.resolver:
            total += 1 + int(price.gitaly) + children
            continue
        args = {
            a.name.value: value_from_ast_untyped(a.value, variables) for a in node.arguments or ()
        }
        cost: float = children + 1 + int(price.gitaly)
        if price.per_path:
            cost += len(args.get("paths") or [])
        if price.connection:
            limit = min(v for v in (args.get("first"), args.get("last"), MAX_PAGE_SIZE) if v)
            cost += cost * (limit * 0.01)
        total += int(cost)
    return total


def query_complexity(text: str, variables: dict[str, Any] | None = None) -> int:
    """The complexity this server (GitLab's rules) gives a query text."""
    return complexity(_operation(text).selection_set, "Query", variables or {})
