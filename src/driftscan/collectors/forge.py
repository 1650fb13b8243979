"""What the GitHub and GitLab collectors share: repository records, filters, rate-limit
parking, request accounting, and a RepoSource that reads through a forge API."""

from __future__ import annotations

import fnmatch
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from driftscan.collectors.local import raw_relative
from driftscan.models import FileEntry, Listing, Problem, ReadError, RepoMeta
from driftscan.pathnames import escape_name


@dataclass(frozen=True)
class RemoteRepo:
    """A repository as a forge lists it (one listing page describes many of these)."""

    forge: str  # github | gitlab
    full_name: str  # owner/name or group/subgroup/project
    url: str  # web URL: the repository's stored location
    default_branch: str | None
    head: str | None  # commit of the default branch; None for an empty repository
    archived: bool = False
    fork: bool = False
    topics: tuple[str, ...] = ()
    pushed_at: str | None = None
    visibility: str | None = None
    ident: str = ""  # the forge's own id where its API needs one (GitLab project id)

    def meta(self) -> RepoMeta:
        return RepoMeta(
            default_branch=self.default_branch,
            head=self.head,
            archived=self.archived,
            fork=self.fork,
            topics=self.topics,
            pushed_at=self.pushed_at,
            visibility=self.visibility,
        )


def _pattern_matches(pattern: str, name: str) -> bool:
    """`/regex/` or a glob, against the full name and the bare name."""
    bare = name.rsplit("/", 1)[-1]
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        rx = re.compile(pattern[1:-1])
        return bool(rx.search(name) or rx.search(bare))
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(bare, pattern)


@dataclass(frozen=True)
class RepoFilter:
    include: tuple[str, ...] = ()  # globs on the name (or /regex/); empty: every repository
    exclude: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # keep repositories with any of these topics
    include_archived: bool = False
    include_forks: bool = False

    def reason_to_skip(self, repo: RemoteRepo) -> str | None:
        if repo.archived and not self.include_archived:
            return "archived"
        if repo.fork and not self.include_forks:
            return "fork"
        if self.include and not any(_pattern_matches(p, repo.full_name) for p in self.include):
            return "not included"
        if any(_pattern_matches(p, repo.full_name) for p in self.exclude):
            return "excluded"
        if self.topics and not set(self.topics) & set(repo.topics):
            return "topic"
        return None


class Parked(Exception):
    """The rate limit needs a longer wait than allowed: stop, keep what is done, resume later."""

    def __init__(self, wait_seconds: float, reason: str) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(reason)


class RequestLog:
    """Counts API requests by kind (thread-safe) and keeps the last rate-limit reading."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.remaining: int | None = None
        self.limit: int | None = None

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def budget(self) -> str:
        if self.remaining is None:
            return "rate limit: unknown"
        return f"rate limit: {self.remaining}/{self.limit} left"


Blob = bytes | ReadError


TreeResult = tuple[Listing, dict[str, str]] | ReadError


@dataclass(frozen=True)
class BlobRef:
    oid: str
    size: int | None  # from the listing, when the forge gives it


class ForgeClient(Protocol):
    forge: str
    log: RequestLog

    def list_repos(self) -> Iterator[RemoteRepo]: ...

    def clone_url(self, repo: RemoteRepo) -> str:
        """Where `scan --clone` fetches the repository from."""
        ...

    def git_auth_header(self) -> str | None:
        """An HTTP Authorization header for git, from the same credentials as the API."""
        ...

    def tree(self, repo: RemoteRepo) -> tuple[Listing, dict[str, str]]:
        """The file listing at the repository's head, and path -> blob id."""
        ...

    def trees(self, repos: Sequence[RemoteRepo]) -> dict[str, TreeResult]:
        """Listings of several repositories, batched where the forge allows (full_name ->
        listing and path -> blob id, or the ReadError that explains why not)."""
        ...

    def read_blobs(
        self, wanted: Sequence[tuple[RemoteRepo, dict[str, BlobRef]]], max_size: int
    ) -> dict[tuple[str, str], Blob]:
        """Contents of many files of many repositories in as few requests as possible:
        (full_name, path) -> bytes, or the ReadError that explains why not."""
        ...


class ForgeSource:
    """A RepoSource over a forge API: the listing is one request, files come in batches.

    Paths are listed as text (driftscan.pathnames): a name from the forge's JSON can hold
    control characters or lone surrogates. The forge's own spelling is kept for its requests:
    `refs` hands it to the client, `fill` takes the client's answers in it."""

    def __init__(self, client: ForgeClient, repo: RemoteRepo, max_file_size: int) -> None:
        self.client = client
        self.repo = repo
        self.max_file_size = max_file_size
        self._listing: Listing | None = None
        self._oids: dict[str, str] = {}
        self._sizes: dict[str, int | None] = {}
        self._cache: dict[str, Blob] = {}
        self._forge_path: dict[str, str] = {}  # listed text -> the forge's path, where they differ

    @property
    def name(self) -> str:
        return self.repo.full_name

    @property
    def location(self) -> str:
        return self.repo.url

    def meta(self) -> RepoMeta:
        return self.repo.meta()

    def list_files(self) -> Listing:
        if self._listing is None:
            self._listing = self._adopt(*self.client.tree(self.repo))
        return self._listing

    def prefetch(self, paths: list[str]) -> None:
        todo = self.refs([p for p in paths if p not in self._cache])
        if todo:
            fetched = self.client.read_blobs([(self.repo, todo)], self.max_file_size)
            self.fill({path: blob for (_repo, path), blob in fetched.items()})

    def set_listing(self, listing: Listing, oids: dict[str, str]) -> None:
        """A listing (the forge's paths) fetched for several repositories at once by the
        scan; list_files() then gives it as text."""
        self._listing = self._adopt(listing, oids)

    def _adopt(self, listing: Listing, oids: dict[str, str]) -> Listing:
        self._forge_path = {}
        files = tuple(FileEntry(self._listed(f.path), f.size) for f in listing.files)
        problems = tuple(Problem(self._listed(p.path), p.reason) for p in listing.problems)
        self._oids = {self._listed(path): oid for path, oid in oids.items()}
        self._sizes = {f.path: f.size for f in files}
        return Listing(files, problems, listing.complete)

    def _listed(self, path: str) -> str:
        shown = escape_name(path)
        if shown != path:
            self._forge_path[shown] = path
        return shown

    def fill(self, blobs: dict[str, Blob]) -> None:
        """Contents fetched for several repositories at once by the scan (the forge's paths)."""
        self._cache.update({escape_name(p): blob for p, blob in blobs.items()})

    def _size_ok(self, path: str) -> bool:
        size = self._sizes.get(path)
        return size is None or size <= self.max_file_size

    def refs(self, paths: Sequence[str]) -> dict[str, BlobRef]:
        """Blob references of the listed paths worth fetching (within the size cap), by the
        forge's path: what the client asks the forge for."""
        return {
            self._forge_path.get(p, p): BlobRef(self._oids[p], self._sizes.get(p))
            for p in paths
            if p in self._oids and self._size_ok(p)
        }

    def read(self, path: str) -> bytes:
        raw_relative(path)  # refused like a folder's paths (a backslash is part of a name)
        if path not in self._cache:
            self.prefetch([path])
        blob = self._cache.pop(path, ReadError("not a file of this commit"))
        if isinstance(blob, ReadError):
            raise blob
        return blob

    def close(self) -> None:
        self._cache.clear()
