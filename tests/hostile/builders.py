"""Builds the hostile repositories at test time: plain folders and real git repositories.

A case's tree is data: a mapping of paths to file entries (bytes, links, FIFOs, sockets,
devices, sparse files). Git-level hostility (a crafted .git/config, hooks, corrupt objects,
crafted trees) is applied by named steps after the last commit, so the test's own git
commands never run a hostile setting.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import GIT_ENV

# Every command a scanned repository could make git (or anything else) run touches a file
# in World.markers; the suite asserts that folder stays empty.
HOOKS = (
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "post-rewrite",
    "post-index-change",
    "fsmonitor-watchman",
)


@dataclass(frozen=True)
class World:
    """The folders of one hostile session: repositories, the outside, and the markers."""

    root: Path
    repos: Path  # one folder per case and kind
    outside: Path  # beside the repositories: nothing here may ever be read
    markers: Path  # anything executed would create a file here
    token: str  # a unique tool id: seen in any output only if `outside` was read

    def touch(self, what: str) -> str:
        """A shell command that proves it ran by creating a marker file."""
        return f"touch {self.markers / what}"


@dataclass(frozen=True)
class Link:
    """A symbolic link; `target` may use {outside} and {root} (the repository root)."""

    target: str


@dataclass(frozen=True)
class Fifo:
    """A named pipe: opening it for reading blocks until a writer comes (none ever does)."""


@dataclass(frozen=True)
class Sock:
    """A listening-less UNIX socket."""


@dataclass(frozen=True)
class Device:
    """A character device (root only): 1,5 is /dev/zero, endless NUL bytes."""

    major: int = 1
    minor: int = 5


@dataclass(frozen=True)
class Sparse:
    """A file of `size` bytes that starts with `head`; the rest is a hole (costs no disk)."""

    size: int
    head: bytes = b""


Entry = bytes | Link | Fifo | Sock | Device | Sparse


def write_tree(root: Path, files: Mapping[str, Entry], world: World) -> None:
    root.mkdir(parents=True, exist_ok=True)
    made = {root}
    for rel, entry in files.items():
        path = root / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        if isinstance(entry, bytes):
            _write(path, entry)
        elif isinstance(entry, Link):
            path.symlink_to(entry.target.format(outside=world.outside, root=root))
        elif isinstance(entry, Fifo):
            os.mkfifo(path)
        elif isinstance(entry, Sock):
            _bind_socket(path)
        elif isinstance(entry, Device):
            os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(entry.major, entry.minor))
        else:
            with path.open("wb") as handle:
                handle.write(entry.head)
                handle.truncate(entry.size)


def _write(path: Path, data: bytes) -> None:
    # os.open, not Path.write_bytes: a third of the system calls, for 20,000 files
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:  # a write may be partial
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _bind_socket(path: Path) -> None:
    # AF_UNIX paths are limited to ~108 bytes: bind relative to the folder.
    here = Path.cwd()
    os.chdir(path.parent)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path.name)
        sock.close()  # the socket file stays behind: an entry no one answers
    finally:
        os.chdir(here)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    """The test's own git, with the hostile settings still absent (they are applied last)."""
    out = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        input=stdin,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.stdout.decode().strip()


def commit_all(repo: Path) -> None:
    git(repo, "init", "-q")
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "--allow-empty", "-m", "hostile")


def replace_commit(repo: Path, tree: str) -> None:
    """Point main at a new commit of a crafted tree (plumbing: git never checks names here)."""
    head = git(repo, "rev-parse", "HEAD")
    commit = git(repo, "commit-tree", tree, "-p", head, "-m", "crafted")
    git(repo, "update-ref", "refs/heads/main", commit)


def blob(repo: Path, data: bytes) -> str:
    return git(repo, "hash-object", "-w", "--stdin", stdin=data)


def raw_tree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree object written byte by byte, so names git's own commands refuse (`..`, `a/b`,
    `.git`) can exist - as they can in a repository pushed by a hostile client."""
    body = b"".join(
        mode.encode() + b" " + name.encode() + b"\0" + bytes.fromhex(oid)
        for mode, name, oid in entries
    )
    return git(repo, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", stdin=body)


def fast_import(repo: Path, files: Mapping[str, bytes]) -> None:
    """One commit of many files through a single git fast-import stream (each distinct
    content written once): a fraction of a second where `git add` takes seconds."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    marks: dict[bytes, int] = {}
    blobs: list[bytes] = []
    for data in files.values():
        if data not in marks:
            marks[data] = len(marks) + 1
            blobs.append(b"blob\nmark :%d\ndata %d\n%s\n" % (marks[data], len(data), data))
    head = b"commit refs/heads/main\ncommitter Fixture <f@example.invalid> 1767225600 +0000\n"
    changes = [b"M 100644 :%d %s\n" % (marks[d], p.encode()) for p, d in files.items()]
    stream = b"".join([*blobs, head, b"data 4\nmany\n", *changes])
    git(repo, "fast-import", "--quiet", stdin=stream)


# -- git hostility, applied after the last commit ---------------------------------------------


def hostile_config(repo: Path, world: World, case: str) -> None:
    """Every setting through which a repository's own config could make git run a command."""
    hooks = repo / ".git" / "evil-hooks"
    hooks.mkdir()
    for name in HOOKS:
        for folder in (hooks, repo / ".git" / "hooks"):
            hook = folder / name
            hook.write_text(f"#!/bin/sh\n{world.touch(f'{case}-hook-{name}')}\n")
            hook.chmod(0o755)
    included = world.outside / f"{case}.gitconfig"
    included.write_text(
        f"[core]\n\tfsmonitor = {world.touch(f'{case}-included-fsmonitor')}\n"
        f"[alias]\n\tcat-file = !{world.touch(f'{case}-included-alias')}\n"
    )
    t = world.touch
    settings = (
        f"[include]\n\tpath = {included}\n"
        f"[core]\n\tfsmonitor = {t(case + '-fsmonitor')}\n\thooksPath = {hooks}\n"
        f"\tsshCommand = {t(case + '-ssh')}\n\tpager = {t(case + '-pager')}\n"
        f"\taskPass = {t(case + '-askpass')}\n\teditor = {t(case + '-editor')}\n"
        f"\talternateRefsCommand = {t(case + '-alternate-refs')}\n"
        f'[filter "x"]\n\tsmudge = {t(case + "-smudge")}\n\tclean = {t(case + "-clean")}\n'
        f"\tprocess = {t(case + '-process')}\n\trequired = true\n"
        f'[diff "x"]\n\ttextconv = {t(case + "-textconv")}\n'
        f"[diff]\n\texternal = {t(case + '-diff-external')}\n"
        f"[pager]\n\tcat-file = {t(case + '-pager-cat-file')}\n"
        f"[credential]\n\thelper = !{t(case + '-credential')}\n"
        f"[gpg]\n\tprogram = {t(case + '-gpg')}\n"
        f"[protocol]\n\tallow = always\n"
        f'[remote "origin"]\n\turl = ext::sh -c {t(case + "-ext-transport")}\n'
        f"[uploadpack]\n\tpackObjectsHook = {t(case + '-pack-objects')}\n"
    )
    config = repo / ".git" / "config"
    config.write_text(config.read_text() + settings)


def truncate_blob(repo: Path, world: World, case: str) -> None:
    """Corrupt the loose object of the workflow's blob: zlib data cut in half."""
    obj = _loose(repo, git(repo, "rev-parse", "HEAD:.github/workflows/ci.yml"))
    data = obj.read_bytes()
    obj.chmod(0o644)
    obj.write_bytes(data[: len(data) // 2])


def delete_blob(repo: Path, world: World, case: str) -> None:
    _loose(repo, git(repo, "rev-parse", "HEAD:.github/workflows/ci.yml")).unlink()


def delete_root_tree(repo: Path, world: World, case: str) -> None:
    _loose(repo, git(repo, "rev-parse", "HEAD^{tree}")).unlink()


def _loose(repo: Path, oid: str) -> Path:
    return repo / ".git" / "objects" / oid[:2] / oid[2:]


def head_to_missing_branch(repo: Path, world: World, case: str) -> None:
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/no-such-branch\n")


def gitlink_submodule(repo: Path, world: World, case: str) -> None:
    """A .gitmodules naming a repository outside, and a gitlink entry for it in the tree."""
    outside_repo = world.outside / "repo"
    sha = git(outside_repo, "rev-parse", "HEAD")
    (repo / ".gitmodules").write_text(
        f'[submodule "libs/shared"]\n\tpath = libs/shared\n\turl = {outside_repo.as_uri()}\n'
        f"\tupdate = !{world.touch(case + '-submodule-update')}\n"
    )
    git(repo, "add", ".gitmodules")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},libs/shared")
    git(repo, "commit", "-q", "-m", "submodule")


def crafted_names(repo: Path, world: World, case: str) -> None:
    """A root tree whose entries git's porcelain would refuse: `..`, `.git`, a slash."""
    wf = git(repo, "rev-parse", "HEAD:.github/workflows")
    jenkins = git(repo, "rev-parse", "HEAD:Jenkinsfile")
    evil = blob(repo, _outside_workflow(world))
    climbing = raw_tree(repo, [("100644", "evil.yml", evil)])
    evil_wf = raw_tree(repo, [("100644", "evil.yml", evil)])
    dot_git = raw_tree(repo, [("100644", "config", evil), ("100644", "HEAD", evil)])
    github = raw_tree(repo, [("40000", "workflows", wf)])
    root_entries = [
        ("40000", "..", climbing),
        ("100644", "../evil.yml", evil),
        ("40000", ".git", dot_git),
        ("40000", ".github", github),
        ("40000", ".github/workflows", evil_wf),
        ("100644", "Jenkinsfile", jenkins),
    ]
    replace_commit(repo, raw_tree(repo, sorted(root_entries, key=_tree_order)))


def _tree_order(entry: tuple[str, str, str]) -> bytes:
    mode, name, _oid = entry
    return name.encode() + (b"/" if mode == "40000" else b"")


def shallow_clone(repo: Path, world: World, case: str) -> None:
    """Replace the repository with a depth-1 clone of itself (a `.git/shallow` file)."""
    full = repo.with_name(repo.name + "-full")
    repo.rename(full)
    git(full.parent, "clone", "-q", "--depth=1", full.as_uri(), str(repo))
    shutil.rmtree(full)


def make_bare(repo: Path, world: World, case: str) -> None:
    """Replace the work tree with a bare repository of the same commit."""
    full = repo.with_name(repo.name + "-work")
    repo.rename(full)
    git(full.parent, "clone", "-q", "--bare", str(full), str(repo))
    shutil.rmtree(full)


def no_commits(repo: Path, world: World, case: str) -> None:
    shutil.rmtree(repo / ".git")
    git(repo, "init", "-q")


def gitdir_outside(repo: Path, world: World, case: str) -> None:
    """A `.git` file naming the git directory of a repository outside the root."""
    shutil.rmtree(repo / ".git")
    (repo / ".git").write_text(f"gitdir: {world.outside / 'repo' / '.git'}\n")


def linked_worktree(repo: Path, world: World, case: str) -> None:
    """Move the repository aside and check its branch out again here as a linked work tree."""
    main = repo.with_name(repo.name + "-main")
    repo.rename(main)
    git(main, "branch", "-q", "tree")
    git(main, "worktree", "add", "-q", str(repo), "tree")


def submodule_checkout(repo: Path, world: World, case: str) -> Path:
    """Check the repository out as a submodule of another: its .git file names the parent's
    .git/modules/<name>, whose core.worktree names it back. The submodule is what is scanned."""
    parent = repo.with_name(f"{case}-parent")
    parent.mkdir()
    git(parent, "init", "-q")
    git(parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", repo.as_uri(), case)
    git(parent, "commit", "-q", "-m", "submodule")
    return parent / case


def borrow_alternates(repo: Path, world: World, case: str) -> None:
    """Borrow the outside repository's objects (clone --shared) and commit a tree naming its
    workflow's blob: followed, the alternates would leak the outside workflow into the scan."""
    outside = world.outside / "repo"
    (repo / ".git" / "objects" / "info" / "alternates").write_text(f"{outside}/.git/objects\n")
    borrowed = git(outside, "rev-parse", "HEAD:.github")
    jenkins = git(repo, "rev-parse", "HEAD:Jenkinsfile")
    root = [("40000", ".github", borrowed), ("100644", "Jenkinsfile", jenkins)]
    replace_commit(repo, raw_tree(repo, root))


def common_dir_outside(repo: Path, world: World, case: str) -> None:
    """A main git directory whose `commondir` names the outside repository's: git would take
    refs and objects from there."""
    (repo / ".git" / "commondir").write_text(f"{world.outside / 'repo' / '.git'}\n")


def objects_link_outside(repo: Path, world: World, case: str) -> None:
    """`.git/objects` a link to the outside repository's objects, main at its commit."""
    outside = world.outside / "repo"
    shutil.rmtree(repo / ".git" / "objects")
    (repo / ".git" / "objects").symlink_to(outside / ".git" / "objects")
    git(repo, "update-ref", "refs/heads/main", git(outside, "rev-parse", "HEAD"))


def _outside_workflow(world: World) -> bytes:
    return (
        "on: push\njobs:\n  leak:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - uses: {world.token}/tool@v1\n"
    ).encode()


# A step may move the repository: it then returns the path to scan.
STEPS: dict[str, Callable[[Path, World, str], Path | None]] = {
    "hostile-config": hostile_config,
    "truncate-blob": truncate_blob,
    "delete-blob": delete_blob,
    "delete-root-tree": delete_root_tree,
    "head-to-missing-branch": head_to_missing_branch,
    "submodule": gitlink_submodule,
    "crafted-names": crafted_names,
    "shallow": shallow_clone,
    "bare": make_bare,
    "no-commits": no_commits,
    "gitdir-outside": gitdir_outside,
    "linked-worktree": linked_worktree,
    "submodule-checkout": submodule_checkout,
    "borrow-alternates": borrow_alternates,
    "common-dir-outside": common_dir_outside,
    "objects-link-outside": objects_link_outside,
}


def build_outside(world: World) -> None:
    """What lies beside the repositories: a workflow and a git repository whose tool id is
    the session's token. Any fact, version or output holding the token was read from here."""
    files: dict[str, Entry] = {
        ".github/workflows/ci.yml": _outside_workflow(world),
        "Jenkinsfile": f"pipeline {{ agent {{ label '{world.token}' }} }}\n".encode(),
        "Dockerfile": f"FROM {world.token}/base:1\n".encode(),
    }
    write_tree(world.outside, files, world)
    write_tree(world.outside / "repo", files, world)
    commit_all(world.outside / "repo")
