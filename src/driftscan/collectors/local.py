"""A plain folder as a repository: walked once, read only inside its root, never executed."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from driftscan.models import FileEntry, Listing, Problem, ReadError, RepoMeta
from driftscan.pathnames import escape_name, os_name

# Folders never walked: tool caches and dependency trees. Their content is not the
# repository's own configuration (CATALOGUE.md) and can be huge.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "vendor",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".terraform",
        ".gradle",
        ".idea",
        "site-packages",
    }
)
MAX_FILES = 200_000
MAX_PROBLEMS = 50


def raw_relative(path: str) -> str:
    """The real name (for os, pathlib and git) of a path listed in its escaped text form (see
    driftscan.pathnames), refused when it could leave the repository (absolute, '..', an empty
    segment, NUL). A backslash is an ordinary character of a POSIX name: the text form writes
    it `\\\\`."""
    try:
        raw = os_name(path)
    except ValueError:
        raise ReadError(f"refused path {escape_name(path)!r}: not a listed path") from None
    if not raw or raw.startswith("/") or "\0" in raw:
        raise ReadError(f"refused path {path!r}: not a relative POSIX path")
    if any(part in ("..", "") for part in raw.split("/")):
        raise ReadError(f"refused path {path!r}: it climbs out of or is not inside the repository")
    return raw


class ProblemLog:
    """Collects problems, keeping the first MAX_PROBLEMS and counting the rest."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, path: str, reason: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(path, reason))
        else:
            self.dropped += 1

    def done(self) -> tuple[Problem, ...]:
        extra = (Problem("", f"{self.dropped} more problems not listed"),) if self.dropped else ()
        return tuple(self.items) + extra


def is_readable_entry(
    path: str, kind: str | None, mode: int | str | None, problems: ProblemLog
) -> bool:
    """Whether a git tree entry is a file detection may read. Submodules and symbolic links
    are recorded as problems (never followed); `mode` is git's octal mode, as text or int."""
    octal = mode if isinstance(mode, int) else int(str(mode or "0"), 8)
    if kind == "commit" or octal == 0o160000:
        problems.add(path, "git submodule; not scanned")
        return False
    if octal == 0o120000:
        problems.add(path, "symbolic link; not followed")
        return False
    return kind == "blob"


class DirSource:
    """A folder on disk, walked with os.scandir. Symlinks are followed only to regular files
    that resolve inside the root; FIFOs, sockets and devices are never opened."""

    def __init__(self, root: Path, name: str | None = None, max_file_size: int = 1 << 20) -> None:
        self.root = root.resolve()
        self._name = name or escape_name(self.root.name)  # name: already text (pathnames)
        self.max_file_size = max_file_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def location(self) -> str:
        return escape_name(str(self.root))

    def meta(self) -> RepoMeta:
        return RepoMeta()

    def close(self) -> None:
        """Nothing to release; present for the RepoSource protocol."""

    def prefetch(self, paths: list[str]) -> None:
        """Local files need no prefetch."""

    def list_files(self) -> Listing:
        if not self.root.is_dir():
            raise ReadError(f"{self.location} is not a folder")
        files: list[FileEntry] = []
        problems = ProblemLog()
        complete = True
        # (real relative folder for os calls, its text form for the listing and problems)
        stack = [("", "")]
        while stack:
            rel_dir, shown_dir = stack.pop()
            try:
                entries = sorted(os.scandir(self.root / rel_dir), key=lambda e: e.name)
            except OSError as exc:
                problems.add(shown_dir, f"folder not listed: {exc.strerror or exc}")
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                shown = f"{shown_dir}/{escape_name(entry.name)}" if rel_dir else escape_name(rel)
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    problems.add(shown, f"not listed: {exc.strerror or exc}")
                    continue
                if stat.S_ISLNK(info.st_mode):
                    self._symlink(rel, shown, files, problems)
                elif stat.S_ISDIR(info.st_mode):
                    if entry.name not in SKIPPED_DIRS:
                        stack.append((rel, shown))
                elif stat.S_ISREG(info.st_mode):
                    files.append(FileEntry(shown, info.st_size))
                else:
                    problems.add(shown, "not a regular file (FIFO, socket or device); never opened")
                if len(files) >= MAX_FILES:
                    complete = False
                    problems.add("", f"listing stopped at {MAX_FILES} files")
                    stack.clear()
                    break
        files.sort(key=lambda f: f.path)
        return Listing(tuple(files), problems.done(), complete)

    def _symlink(self, rel: str, shown: str, files: list[FileEntry], problems: ProblemLog) -> None:
        target = self._inside(rel)
        if target is None:
            where = "loop" if _is_loop(self.root / rel) else "to a target outside the repository"
            problems.add(shown, f"symbolic link {where}; not followed")
            return
        try:
            info = target.stat()
        except OSError:
            problems.add(shown, "broken symbolic link; not followed")
            return
        if stat.S_ISREG(info.st_mode):
            files.append(FileEntry(shown, info.st_size))
        elif not stat.S_ISDIR(info.st_mode):
            problems.add(shown, "symbolic link to a FIFO, socket or device; never opened")
        # A link to a folder inside the root is not walked: its files are listed where they are.

    def _inside(self, rel: str) -> Path | None:
        try:
            resolved = (self.root / rel).resolve(strict=False)
        except (OSError, RuntimeError):  # RuntimeError: symlink loop on older Pythons
            return None
        return resolved if resolved.is_relative_to(self.root) else None

    def read(self, path: str) -> bytes:
        target = self._inside(raw_relative(path))
        if target is None:
            raise ReadError("resolves outside the repository; not read")
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ReadError("symbolic link; not followed") from None
            raise ReadError(exc.strerror or str(exc)) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ReadError("not a regular file; not read")
            if info.st_size > self.max_file_size:
                raise ReadError(f"{info.st_size} bytes exceeds the {self.max_file_size}-byte cap")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return refuse_lfs_pointer(handle.read(self.max_file_size + 1))
        finally:
            os.close(fd)


def _is_loop(path: Path) -> bool:
    """A chain of links that never ends (a -> b -> a): following it fails with ELOOP."""
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


# Git LFS keeps a file's content elsewhere and commits a pointer of under 1024 bytes that
# starts with this line (git-lfs spec v1; "hawser" is its pre-release name).
_LFS_VERSION = (
    b"version https://git-lfs.github.com/spec/v1",
    b"version https://hawser.github.com/spec/v1",
)
_LFS_SIZE = re.compile(rb"^size ([0-9]{1,20})$", re.M)


def refuse_lfs_pointer(data: bytes) -> bytes:
    """The data, unless it is a Git LFS pointer: its three lines of metadata are not the file
    (a workflow, a Dockerfile) and must not be parsed as if they were."""
    if len(data) < 1024 and data.startswith(_LFS_VERSION):
        size = _LFS_SIZE.search(data)
        what = f"a {int(size.group(1))}-byte object" if size else "an object"
        raise ReadError(f"Git LFS pointer to {what} stored outside the repository")
    return data


class IndexSource(DirSource):
    """The files git tracks or has staged (`git ls-files`), read from the work tree: what a
    pre-commit hook is about to commit, without untracked or ignored files such as a local
    `.env`. The listing comes from git; reading keeps DirSource's safety checks."""

    def __init__(
        self, root: Path, paths: list[str], name: str | None = None, max_file_size: int = 1 << 20
    ) -> None:
        super().__init__(root, name, max_file_size)
        self._paths = paths

    def list_files(self) -> Listing:
        files: list[FileEntry] = []
        problems = ProblemLog()
        for path in sorted(self._paths):
            try:
                info = (self.root / path).lstat()
            except OSError:
                continue  # staged for deletion
            if stat.S_ISREG(info.st_mode):
                files.append(FileEntry(escape_name(path), info.st_size))
            elif stat.S_ISLNK(info.st_mode):
                problems.add(escape_name(path), "symbolic link; not followed")
        return Listing(tuple(files), problems.done())
