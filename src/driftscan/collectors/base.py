"""From what the user typed to repository sources: folders, git repositories and git URLs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from driftscan.collectors.git import ClonedSource, GitSource, find_git_dir, is_git_url, redact_url
from driftscan.collectors.local import DirSource
from driftscan.models import Listing, ReadError, RepoMeta, RepoSource
from driftscan.pathnames import escape_name, os_name


@dataclass(frozen=True)
class SourceSpec:
    """A picklable description of one repository to scan (sent to worker processes).

    Folder locations, names and git_dir are text (driftscan.pathnames): what is stored and
    shown, and what reuse compares with stored locations; open_source maps them back to the
    real names. A `url` location is the URL to clone, as given."""

    kind: str  # dir | git | url | missing
    location: str
    name: str
    git_dir: str = ""
    reason: str = ""  # why a `missing` spec could not be opened


def discover(targets: Sequence[str]) -> list[SourceSpec]:
    """Expand targets: a git repository is one repo; a folder holding git repositories is
    each of them; any other folder is one repo; a git URL is cloned; a missing path is kept
    as an error so that the scan records it instead of stopping."""
    specs: list[SourceSpec] = []
    for target in targets:
        if is_git_url(target):
            shown = redact_url(target)
            name = shown.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
            specs.append(SourceSpec("url", target, escape_name(name)))
            continue
        path = Path(target).expanduser()
        if not path.exists():
            specs.append(_missing(path, "no such path"))
            continue
        if not path.is_dir():
            specs.append(_missing(path, "not a folder"))
            continue
        path = path.resolve()
        git_dir = find_git_dir(path)
        if git_dir is not None:
            specs.append(_git_spec(path, git_dir))
            continue
        children = []
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()):
            child_git = find_git_dir(child)
            if child_git is not None and not child.name.startswith("."):
                children.append(_git_spec(child, child_git))
        specs.extend(
            children or [SourceSpec("dir", escape_name(str(path)), escape_name(path.name))]
        )
    unique: dict[str, SourceSpec] = {}
    for spec in specs:
        unique.setdefault(spec.location, spec)
    return list(unique.values())


def _git_spec(path: Path, git_dir: Path) -> SourceSpec:
    name = escape_name(path.name.removesuffix(".git"))
    return SourceSpec("git", escape_name(str(path)), name, escape_name(str(git_dir)))


def _missing(path: Path, reason: str) -> SourceSpec:
    return SourceSpec("missing", escape_name(str(path)), escape_name(path.name), reason=reason)


class MissingSource:
    """A target that could not be opened: every call reports the precise reason."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def location(self) -> str:
        return self.spec.location

    def meta(self) -> RepoMeta:
        raise ReadError(f"{self.spec.location}: {self.spec.reason}")

    def list_files(self) -> Listing:
        raise ReadError(f"{self.spec.location}: {self.spec.reason}")

    def read(self, path: str) -> bytes:
        raise ReadError(self.spec.reason)

    def prefetch(self, paths: list[str]) -> None:
        """Nothing to fetch."""

    def close(self) -> None:
        """Nothing to release."""


def open_source(spec: SourceSpec, max_file_size: int) -> RepoSource:
    if spec.kind == "git":
        return GitSource(
            Path(os_name(spec.location)),
            Path(os_name(spec.git_dir)),
            spec.name,
            max_file_size=max_file_size,
        )
    if spec.kind == "dir":
        return DirSource(Path(os_name(spec.location)), spec.name, max_file_size)
    if spec.kind == "url":
        try:
            return ClonedSource(spec.location, max_file_size, spec.name)
        except ReadError as exc:
            return MissingSource(
                SourceSpec(
                    "missing", escape_name(redact_url(spec.location)), spec.name, reason=str(exc)
                )
            )
    return MissingSource(spec)
