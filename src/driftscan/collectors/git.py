"""Git repositories: committed content at HEAD, read through git plumbing, never executed.

Files are listed with `git ls-tree` and read with one long-lived `git cat-file --batch`, so a
scan sees exactly the commit it records (not a dirty work tree), symlinks are never followed
(their blobs are link text) and no checkout, filter, hook or fsmonitor ever runs. Every git
call gets a scrubbed environment and `-c` overrides, so neither the scanned repository's
`.git/config` nor the user's global config can make git run a command.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Concatenate, ParamSpec, TypeVar

from driftscan.collectors.local import (
    MAX_FILES,
    SKIPPED_DIRS,
    ProblemLog,
    is_readable_entry,
    raw_relative,
    refuse_lfs_pointer,
)
from driftscan.models import FileEntry, Listing, Problem, ReadError, RepoMeta, Unanswered
from driftscan.pathnames import escape_bytes, escape_name

GIT_TIMEOUT = 120  # seconds for any one git command
TREE_BATCH = 500  # requests per write: ~20 KB, well inside a pipe buffer (no deadlock)
PREFETCH_FILES = 4096
PREFETCH_BYTES = 64 << 20
CLONE_TIMEOUT = 600

SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.untrackedCache=false",
    "core.pager=cat",
    "core.askPass=",
    "credential.helper=",
    "safe.directory=*",
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.http.allow=always",
    "protocol.ssh.allow=always",
    "protocol.git.allow=always",
    "protocol.file.allow=always",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "filter.lfs.smudge=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
    "uploadpack.packObjectsHook=",
    "gc.auto=0",
    "maintenance.auto=false",
)
# Bare (never checked out: no filter, hook or attribute runs), shallow, one branch, no hooks.
CLONE_ARGS = ("clone", "--bare", "--depth=1", "--no-tags", "--single-branch", "--template=")
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
ALLOWED_URL = re.compile(r"^(?:https?://|ssh://|git://|file://|[\w.-]+@[\w.-]+:)")


def safe_env() -> dict[str, str]:
    """Only what git needs: no global/system config, no prompts, no pager, no LFS smudge."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C",
        "LC_ALL": "C",
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_PAGER": "cat",
    }
    if "SSH_AUTH_SOCK" in os.environ:  # lets ssh:// clones use the user's agent, nothing more
        env["SSH_AUTH_SOCK"] = os.environ["SSH_AUTH_SOCK"]
    return env


def git_command(*args: str, git_dir: Path | None = None) -> list[str]:
    cmd = ["git", "--no-pager", "--no-replace-objects"]
    for item in SAFE_CONFIG:
        cmd += ["-c", item]
    if git_dir is not None:
        cmd += ["--git-dir", str(git_dir)]
    return cmd + list(args)


def run_git(
    *args: str,
    git_dir: Path | None = None,
    timeout: int = GIT_TIMEOUT,
    extra_env: dict[str, str] | None = None,
) -> bytes:
    """Run one git plumbing command; raise ReadError with git's own message on failure."""
    try:
        proc = subprocess.run(
            git_command(*args, git_dir=git_dir),
            capture_output=True,
            env={**safe_env(), **(extra_env or {})},
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ReadError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise ReadError(f"git {args[0]} timed out after {timeout}s") from None
    if proc.returncode != 0:
        raise ReadError(f"git {args[0]} failed: {_last_line(proc.stderr) or proc.returncode}")
    return proc.stdout


def _last_line(err: bytes) -> str:
    """git's last message line as safe text: it may quote a path of any bytes (pathnames)."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return escape_bytes(lines[-1]) if lines else ""


def find_git_dir(path: Path) -> Path | None:
    """The git directory of a work tree (`path/.git`) or of a bare repository, else None."""
    dot_git = path / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():  # a linked work tree or submodule: `gitdir: <path>`
        text = os.fsdecode(dot_git.read_bytes().strip())  # the path's own bytes, not U+FFFD
        if text.startswith("gitdir:"):
            target = Path(text.removeprefix("gitdir:").strip())
            return (path / target).resolve() if not target.is_absolute() else target
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir():
        return path
    return None


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _bounded(
    method: Callable[Concatenate[GitSource, _P], _T],
) -> Callable[Concatenate[GitSource, _P], _T]:
    """One exchange with the batch process, bounded in time (GitSource._answer_within)."""

    def bounded(self: GitSource, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._answer_within():
            return method(self, *args, **kwargs)
        raise AssertionError("unreachable: _answer_within re-raises")  # pragma: no cover

    return bounded


def _metadata_bytes(path: Path) -> bytes:
    """A git metadata file (HEAD, a ref, packed-refs, config); OSError for anything but a
    regular file: a FIFO would block for ever, a device never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _metadata(path: Path) -> str:
    return _metadata_bytes(path).decode("utf-8", "replace")


class GitSource:
    """A local git repository (work tree or bare) read at HEAD."""

    def __init__(
        self,
        path: Path,
        git_dir: Path,
        name: str | None = None,
        location: str = "",
        max_file_size: int = 1 << 20,
        revision: str = "HEAD",
    ) -> None:
        self.max_file_size = max_file_size
        self.revision = revision  # what is scanned: HEAD, or any commit-ish (a PR's base)
        self.path = path.resolve()
        self.git_dir = git_dir
        # name and location are text (driftscan.pathnames); path and git_dir are real names
        self._name = name or escape_name(self.path.name.removesuffix(".git"))
        self._location = location or escape_name(str(self.path))
        self._oids: dict[str, str] = {}
        self._missing: set[str] = set()
        self._cache: dict[str, bytes | ReadError] = {}
        self._batch: subprocess.Popen[bytes] | None = None
        self._meta: RepoMeta | None = None
        self._stalled = ""  # why git exchanges stopped (git hung), once one timed out

    @property
    def name(self) -> str:
        return self._name

    @property
    def location(self) -> str:
        return self._location

    def meta(self) -> RepoMeta:
        if self._meta is None:
            if not _owned_git_dir(self.path, self.git_dir):
                raise ReadError(
                    f"its .git file names the git directory {escape_name(str(self.git_dir))} "
                    "outside the repository, which does not name it back; not followed"
                )
            borrowed = _borrowed(self.git_dir.resolve())
            if borrowed:
                raise ReadError(borrowed)
            head, branch = self._head()
            # A hand-written .git/HEAD can name any "branch": shown as text (pathnames).
            shown = escape_name(branch) if branch is not None else None
            self._meta = RepoMeta(default_branch=shown, head=head)
        return self._meta

    @contextlib.contextmanager
    def _answer_within(self) -> Iterator[None]:
        """git blocks for ever on a FIFO where it expects a file (.git/config, a ref, an
        object): past GIT_TIMEOUT seconds the batch process is killed, the read is unanswered,
        and so is every later one, so that one repository cannot stall a scan."""
        if self._stalled:
            raise Unanswered(self._stalled)
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            if self._batch is not None:
                self._batch.kill()

        timer = threading.Timer(GIT_TIMEOUT, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except ReadError:
            if not fired.is_set():
                raise
        finally:
            timer.cancel()
        if fired.is_set():
            self._stalled = f"git gave no answer within {GIT_TIMEOUT}s; stopped reading"
            self.close()
            raise Unanswered(self._stalled)

    @_bounded
    def _head(self) -> tuple[str | None, str | None]:
        head, branch = self._head_from_files()
        if head is not None and self.revision == "HEAD":
            return head, branch
        name = "HEAD" if self.revision == "HEAD" else f"{self.revision}^{{commit}}"
        header = self._request(name)
        if header is None:
            if self.revision != "HEAD":
                raise ReadError(f"revision {self.revision!r} is not a commit of this repository")
            return None, branch  # an unborn branch: no commit yet
        oid, kind, size = header
        self._skip(size)
        return (oid if kind == "commit" else None), branch

    def _head_from_files(self) -> tuple[str | None, str | None]:
        """HEAD from `HEAD`, the loose ref or packed-refs: no process for the common case.
        Anything unusual (symbolic chains, reftable, linked work trees) returns None."""
        try:
            text = _metadata(self.git_dir / "HEAD").strip()
        except OSError:
            return None, None
        if _SHA.match(text):
            return text, None  # detached HEAD
        if not text.startswith("ref: refs/heads/"):
            return None, None
        ref = text.removeprefix("ref: ")
        branch = ref.removeprefix("refs/heads/")
        if ".." in ref.split("/"):
            return None, branch
        try:
            loose = _metadata(self.git_dir / ref).strip()
            if _SHA.match(loose):
                return loose, branch
        except OSError:
            pass
        try:
            packed = _metadata(self.git_dir / "packed-refs")
        except OSError:
            return None, branch
        for line in packed.splitlines():
            sha, _, name = line.partition(" ")
            if name == ref and _SHA.match(sha):
                return sha, branch
        return None, branch

    def list_files(self) -> Listing:
        head = self.meta().head
        if head is None:
            return self._unborn()
        files: list[FileEntry] = []
        problems = ProblemLog()
        # The tree is walked through the same `cat-file --batch` process that reads blobs:
        # one git process per repository instead of two (`ls-tree` would be the second).
        hash_bytes = len(head) // 2
        level: list[tuple[str, str]] = [("", f"{head}^{{tree}}")]
        while level:
            next_level: list[tuple[str, str]] = []
            for start in range(0, len(level), TREE_BATCH):
                chunk = level[start : start + TREE_BATCH]
                trees = self._trees([name for _prefix, name in chunk], hash_bytes)
                for (prefix, _name), entries in zip(chunk, trees, strict=True):
                    for mode, name, oid in entries:
                        path = f"{prefix}{name}"
                        if _refused_name(name):  # only plumbing can write these; never read
                            problems.add(path, f"refused tree entry {name!r}: not a file name")
                        elif mode == "40000":
                            if name not in SKIPPED_DIRS:  # dependency trees are never config
                                next_level.append((f"{path}/", oid))
                        elif is_readable_entry(path, "blob", mode, problems):
                            self._oids[path] = oid
                            files.append(FileEntry(path, self.size_hint(oid)))
                if len(files) >= MAX_FILES:
                    problems.add("", f"listing stopped at {MAX_FILES} files")
                    return Listing(tuple(sorted(files, key=_by_path)), problems.done(), False)
            level = next_level
        files.sort(key=_by_path)
        return Listing(tuple(files), problems.done())

    def _unborn(self) -> Listing:
        """No commit at HEAD: an empty repository, unless other branches have commits (HEAD
        naming a missing branch), which would otherwise be skipped without a word."""
        refs = run_git(
            "for-each-ref", "--count=1", "refs/heads", git_dir=self.git_dir, timeout=GIT_TIMEOUT
        )
        if not refs.strip():
            return Listing(())
        branch = self.meta().default_branch
        reason = f"HEAD names branch {branch!r}, which has no commit; other branches not scanned"
        return Listing((), (Problem("", reason),), complete=False)

    @_bounded
    def _trees(self, names: list[str], hash_bytes: int) -> list[list[tuple[str, str, str]]]:
        """Entries (mode, name, oid) of several trees, asked in one write and read in order:
        one pipe round trip per folder level instead of one per folder."""
        proc = self._process()
        stdin, stdout = _pipes(proc)
        try:
            stdin.write(b"".join(name.encode() + b"\n" for name in names))
            stdin.flush()
        except OSError:
            raise ReadError(
                f"git cannot read this repository: {self._death_reason(proc)}"
            ) from None
        out = []
        for name in names:
            header = stdout.readline().split()
            if not header:
                raise ReadError(f"git cannot read this repository: {self._death_reason(proc)}")
            if len(header) != 3:
                raise ReadError(f"tree {name} is missing from the object store")
            kind, size = header[1].decode(), int(header[2])
            data = self._object(size)
            if kind != "tree":
                raise ReadError(f"{name} is a {kind}, not a tree")
            out.append(_parse_tree(data, hash_bytes))
        return out

    def size_hint(self, oid: str) -> int | None:
        """Size of a blob when the listing did not carry it."""
        return None

    @_bounded
    def prefetch(self, paths: list[str]) -> None:
        """Read the files detection is about to ask for in pipelined batches: one pipe round
        trip per TREE_BATCH files instead of one per file. Bounded in files and bytes; whatever
        is left out is read on demand. Blobs a partial clone lacks are never asked for."""
        wanted = [p for p in paths if p in self._oids and self._oids[p] not in self._missing][
            :PREFETCH_FILES
        ]
        budget = PREFETCH_BYTES
        for start in range(0, len(wanted), TREE_BATCH):
            chunk = wanted[start : start + TREE_BATCH]
            proc = self._process()
            stdin, stdout = _pipes(proc)
            try:
                stdin.write(b"".join(self._oids[p].encode() + b"\n" for p in chunk))
                stdin.flush()
            except OSError:
                raise ReadError(
                    f"git cannot read this repository: {self._death_reason(proc)}"
                ) from None
            for path in chunk:
                header = stdout.readline().split()
                if not header:
                    raise ReadError(f"git cannot read this repository: {self._death_reason(proc)}")
                if len(header) != 3:
                    self._cache[path] = ReadError("blob is missing from the object store")
                    continue
                size = int(header[2])
                if size > self.max_file_size:
                    self._skip(size)
                    self._cache[path] = ReadError(
                        f"{size} bytes exceeds the {self.max_file_size}-byte cap"
                    )
                elif size > budget:
                    self._skip(size)  # over the prefetch budget: read on demand instead
                else:
                    try:
                        self._cache[path] = self._object(size)
                    except ReadError as exc:
                        self._cache[path] = exc
                        return  # git died: the rest is read on demand by a new process
                    budget -= size

    # -- reading blobs through one `git cat-file --batch` process ---------------------------

    def _process(self) -> subprocess.Popen[bytes]:
        if self._batch is None or self._batch.poll() is not None:
            try:
                self._batch = subprocess.Popen(
                    git_command("cat-file", "--batch", git_dir=self.git_dir),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,  # read only once the process has died
                    env=safe_env(),
                )
            except FileNotFoundError:
                raise ReadError("git is not installed or not on PATH") from None
        return self._batch

    def _request(self, name: str) -> tuple[str, str, int] | None:
        proc = self._process()
        stdin, stdout = _pipes(proc)
        try:
            stdin.write(os.fsencode(name) + b"\n")  # a revision as typed, whatever its bytes
            stdin.flush()
            raw = stdout.readline()
        except OSError:  # BrokenPipeError included: the process is gone
            raw = b""
        if not raw:
            raise ReadError(f"git cannot read this repository: {self._death_reason(proc)}")
        header = raw.decode("utf-8", "replace").split()
        if len(header) != 3:
            return None  # "<name> missing"
        return header[0], header[1], int(header[2])

    @staticmethod
    def _death_reason(proc: subprocess.Popen[bytes]) -> str:
        try:
            proc.wait(timeout=5)
            err = proc.stderr.read() if proc.stderr else b""
        except (OSError, subprocess.TimeoutExpired):
            err = b""
        return _last_line(err) or f"git exited with {proc.returncode}"

    def _object(self, size: int) -> bytes:
        """The object whose header was just read, from the same process (a new one would never
        answer). Short means git died mid-object (a corrupt object): say so on this object and
        drop the process, so that its death is not blamed on the next file."""
        if self._batch is None:
            raise ReadError("git cat-file is not running")
        _stdin, stdout = _pipes(self._batch)
        data = stdout.read(size)
        stdout.read(1)  # the newline after every object
        if len(data) == size:
            return data
        proc, self._batch = self._batch, None
        reason = self._death_reason(proc)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        raise ReadError(f"git cannot read this object: {reason}")

    def _skip(self, size: int) -> None:
        """Drain an object we do not want (and its trailing newline) in bounded chunks."""
        if self._batch is None:
            return
        _stdin, stdout = _pipes(self._batch)
        remaining = size + 1
        while remaining > 0:
            chunk = stdout.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def read(self, path: str) -> bytes:
        raw_relative(path)  # refused like a folder's paths; blobs are then found by listed text
        cached = self._cache.pop(path, None)  # each file is read once: free it as it goes
        if isinstance(cached, ReadError):
            raise cached
        if cached is not None:
            return refuse_lfs_pointer(cached)
        return refuse_lfs_pointer(self._blob(path))

    @_bounded
    def _blob(self, path: str) -> bytes:
        oid = self._oids.get(path)
        if oid is None:
            raise ReadError("not a file of this commit")
        header = self._request(oid)
        if header is None:
            raise ReadError("blob is missing from the object store")
        _oid, kind, size = header
        if size > self.max_file_size:
            self._skip(size)
            raise ReadError(f"{size} bytes exceeds the {self.max_file_size}-byte cap")
        data = self._object(size)
        if kind != "blob":
            raise ReadError(f"object is a {kind}, not a file")
        return data

    def close(self) -> None:
        if self._batch is not None:
            for pipe in (self._batch.stdin, self._batch.stdout, self._batch.stderr):
                if pipe is not None:
                    # BrokenPipeError from a process that already died
                    with contextlib.suppress(OSError):
                        pipe.close()
            # cat-file exits at end of input; a blocking wait avoids Popen's polling sleeps.
            self._batch.wait()
            self._batch = None


def _parse_tree(data: bytes, hash_bytes: int) -> list[tuple[str, str, str]]:
    """A raw tree object: repeated `<mode> <name>NUL<binary oid>`."""
    entries = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        end = nul + 1 + hash_bytes
        name = escape_bytes(data[space + 1 : nul])  # lossless text (pathnames): any bytes
        entries.append((data[pos:space].decode(), name, data[nul + 1 : end].hex()))
        pos = end
    return entries


def _refused_name(name: str) -> bool:
    """Tree entry names git's own commands never write (git fsck rejects them): they could
    climb out of the root, pose as a nested path, or pose as git's own folder."""
    return name in ("", ".", "..") or "/" in name or name.lower() == ".git"


def _owned_git_dir(work_tree: Path, git_dir: Path) -> bool:
    """Whether git_dir belongs to work_tree: inside it, or the git directory of a linked work
    tree (its `gitdir` file) or of a submodule (its `core.worktree`) that names it back. A
    `.git` file naming any other repository's git directory would scan files outside the root."""
    resolved = git_dir.resolve()
    if resolved.is_relative_to(work_tree):
        return True
    with contextlib.suppress(OSError):
        back = Path(os.fsdecode(_metadata_bytes(resolved / "gitdir").strip()))
        if back.is_absolute() and back.resolve() == (work_tree / ".git").resolve():
            return True
    with contextlib.suppress(OSError):
        config = _metadata_bytes(resolved / "config")
        for match in _WORKTREE.finditer(config):
            if (resolved / os.fsdecode(match.group(1))).resolve() == work_tree:
                return True
    return False


_WORKTREE = re.compile(rb"^[ \t]*worktree[ \t]*=[ \t]*(.+?)[ \t]*$", re.M)


def _borrowed(git_dir: Path) -> str:
    """Why git would take this repository's objects from another one, or "". git itself never
    writes a `commondir` into a main git directory nor links its objects folder elsewhere;
    `objects/info/alternates` (clone --shared/--reference) does borrow from another repository,
    and reading those objects would be reading outside the root."""
    common = git_dir
    with contextlib.suppress(OSError):  # a linked work tree's git dir: `../..`, its main one
        common = (git_dir / os.fsdecode(_metadata_bytes(git_dir / "commondir").strip())).resolve()
    if not git_dir.is_relative_to(common):
        return (
            f"its commondir names the git directory {escape_name(str(common))}, outside the "
            "repository; not read"
        )
    objects = (common / "objects").resolve()
    if not objects.is_relative_to(common):
        return (
            f"its objects folder links to {escape_name(str(objects))}, outside the repository; "
            "not read"
        )
    with contextlib.suppress(OSError):
        for line in _metadata_bytes(objects / "info" / "alternates").splitlines():
            if line.strip() and not line.startswith(b"#"):
                where = (objects / os.fsdecode(line.strip())).resolve()
                if not where.is_relative_to(common):
                    shown = escape_name(str(where))
                    return (
                        f"objects/info/alternates borrows objects from {shown}, outside the "
                        "repository; not read (a clone made with --shared or --reference: "
                        "clone with --dissociate, or `git repack -a -d` and remove the "
                        "alternates file, to scan it)"
                    )
    return ""


def _by_path(entry: FileEntry) -> str:
    return entry.path


def _pipes(proc: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if proc.stdin is None or proc.stdout is None:  # pragma: no cover - always piped above
        raise ReadError("git cat-file has no pipes")
    return proc.stdin, proc.stdout


def redact_url(url: str) -> str:
    """Drop any user:password@ from a URL before it is shown or stored."""
    return re.sub(r"^([a-z+]+://)[^/@]*@", r"\1", url)


class ClonedSource(GitSource):
    """A remote repository cloned shallow and blob-filtered into a temporary folder.

    `--no-checkout` means no file is ever written out, so no filter, hook or attribute of the
    scanned repository takes effect; blobs larger than the size cap are not even downloaded.
    """

    def __init__(self, url: str, max_file_size: int = 1 << 20, name: str | None = None) -> None:
        if not ALLOWED_URL.match(url):
            raise ReadError(
                f"refused URL {redact_url(url)!r}: use https://, ssh://, git:// or file://"
            )
        self.url = url
        self.tmp = Path(tempfile.mkdtemp(prefix="driftscan-clone-"))
        shown = redact_url(url)
        repo_name = name or shown.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        super().__init__(
            self.tmp,
            self.tmp,
            escape_name(repo_name.removesuffix(".git")),
            escape_name(shown),
            max_file_size,
        )
        self._cloned = False

    def _ensure_clone(self) -> None:
        if self._cloned:
            return
        try:
            run_git(
                *CLONE_ARGS,
                f"--filter=blob:limit={self.max_file_size}",
                "--",
                self.url,
                str(self.tmp),
                timeout=CLONE_TIMEOUT,
            )
        except ReadError as exc:
            raise ReadError(str(exc).replace(self.url, redact_url(self.url))) from None
        self._cloned = True
        missing = run_git("rev-list", "--objects", "--missing=print", "HEAD", git_dir=self.tmp)
        self._missing = {
            line[1:].decode() for line in missing.splitlines() if line.startswith(b"?")
        }

    def meta(self) -> RepoMeta:
        self._ensure_clone()
        return super().meta()

    def size_hint(self, oid: str) -> int | None:
        # A blob the filter left out is larger than the cap: say so without fetching it.
        return self.max_file_size + 1 if oid in self._missing else None

    def list_files(self) -> Listing:
        self._ensure_clone()
        return super().list_files()

    def read(self, path: str) -> bytes:
        if self._oids.get(path) in self._missing:  # reading it would make git download it
            raise ReadError(f"larger than the {self.max_file_size}-byte cap; not downloaded")
        return super().read(path)

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def is_git_url(text: str) -> bool:
    return bool(ALLOWED_URL.match(text)) and not Path(text).exists()


def auth_env(header: str | None) -> dict[str, str]:
    """An HTTP header for git through the environment (GIT_CONFIG_*): never on a command line
    that `ps` would show, never in a URL that could be stored or printed."""
    if not header:
        return {}
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": header,
    }


class CachedClone(GitSource):
    """A remote repository kept in a clone cache and reused across scans (`scan --clone`).

    The clone is bare, shallow and blob-less (`--filter=blob:none`): trees arrive at once,
    file contents only for the paths detection asks for, fetched by blob id in one request.
    A later scan fetches just the new head into the same folder. No checkout, so no filter,
    hook or attribute of the repository ever runs.
    """

    def __init__(
        self,
        url: str,
        cache_dir: Path,
        name: str,
        location: str,
        head: str | None,
        max_file_size: int = 1 << 20,
        auth_header: str | None = None,
    ) -> None:
        if not ALLOWED_URL.match(url):
            raise ReadError(
                f"refused URL {redact_url(url)!r}: use https://, ssh://, git:// or file://"
            )
        self.url = url
        self._env = auth_env(auth_header)
        super().__init__(cache_dir, cache_dir, name, location, max_file_size, head or "HEAD")
        self._ready = False
        self._present: set[str] = set()  # blob ids fetched into the cache by this source

    def _ensure(self) -> None:
        if self._ready:
            return
        existed = (self.git_dir / "HEAD").is_file()
        try:
            if not existed:
                self.git_dir.parent.mkdir(parents=True, exist_ok=True)
                run_git(
                    *CLONE_ARGS,
                    "--filter=blob:none",
                    "--",
                    self.url,
                    str(self.git_dir),
                    timeout=CLONE_TIMEOUT,
                    extra_env=self._env,
                )
            if existed or self.revision != "HEAD":  # bring the wanted commit into the cache
                run_git(
                    "fetch",
                    "--depth=1",
                    "--no-tags",
                    "--filter=blob:none",
                    "--recurse-submodules=no",
                    "origin",
                    self.revision,
                    git_dir=self.git_dir,
                    timeout=CLONE_TIMEOUT,
                    extra_env=self._env,
                )
        except ReadError as exc:
            raise ReadError(str(exc).replace(self.url, redact_url(self.url))) from None
        self._ready = True

    def meta(self) -> RepoMeta:
        self._ensure()
        return super().meta()

    def list_files(self) -> Listing:
        self._ensure()
        return super().list_files()

    def prefetch(self, paths: list[str]) -> None:
        """Download the blobs of these paths in one fetch (by id), then read them locally."""
        self._ensure()
        wanted = sorted({self._oids[p] for p in paths if p in self._oids} - self._present)
        for start in range(0, len(wanted), TREE_BATCH):
            run_git(
                "-c",
                "fetch.negotiationAlgorithm=noop",
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--recurse-submodules=no",
                "--filter=blob:none",
                "origin",
                *wanted[start : start + TREE_BATCH],
                git_dir=self.git_dir,
                timeout=CLONE_TIMEOUT,
                extra_env=self._env,
            )
        self._present.update(wanted)
        super().prefetch(paths)

    def read(self, path: str) -> bytes:
        if self._oids.get(path) not in self._present:
            self.prefetch([path])
        return super().read(path)
