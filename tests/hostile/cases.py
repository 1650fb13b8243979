"""The hostile repositories, as data: what each one holds and what its scan must record.

Every case also carries an ordinary Jenkinsfile, so each one must still end with a real
result (`jenkins` among its CI systems) besides the precise problem its hostile part earns.
Expected problems map a path to text its recorded reason must contain; the set of problem
paths must match exactly, so a hostile entry can neither be dropped silently nor be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.hostile.builders import Device, Entry, Fifo, Link, Sock, Sparse

WF = ".github/workflows"
JOBS = b"on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"
BASE: dict[str, Entry] = {"Jenkinsfile": b"pipeline { agent any }\n"}
MAX = "1048576-byte cap"  # the default --max-file-size
LFS = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)
OUT = "symbolic link to a target outside the repository; not followed"
GIT_LINK = "symbolic link; not followed"
LFS_REASON = "Git LFS pointer to a 12345-byte object stored outside the repository"
SPECIAL = "not a regular file (FIFO, socket or device); never opened"


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # dir | git | url (a git repository given as a file:// URL: cloned bare)
    files: Mapping[str, Entry]
    steps: tuple[str, ...] = ()  # git-level hostility from builders.STEPS, in order
    status: str = "ok"
    ci: tuple[str, ...] = ("jenkins",)  # the ci.system values the scan must find
    problems: Mapping[str, str] = field(default_factory=dict)
    error: str = ""  # text the repository's recorded error must contain
    complete: bool = True


def both(id: str, files: Mapping[str, Entry], **expect: object) -> tuple[Case, Case]:
    """The same tree as a plain folder and committed in a git repository."""
    return (
        Case(f"{id}-dir", "dir", {**BASE, **files}, **expect),  # type: ignore[arg-type]
        Case(f"{id}-git", "git", {**BASE, **files}, **expect),  # type: ignore[arg-type]
    )


def laughs(levels: int = 9) -> bytes:
    """Billion laughs: 9 aliases of 9 aliases ... of a 9-item list (9**9 items expanded)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: *a{levels - 1}")
    return "\n".join(lines).encode() + b"\n"


DEEP_FLOW = JOBS + b"deep: " + b"[" * 10_000 + b"]" * 10_000 + b"\n"
DEEP_BLOCK = JOBS + b"deep:\n  " + b"- " * 10_000 + b"x\n"
DEEP_MAP = JOBS + b"deep: " + b"{a: " * 10_000 + b"1" + b"}" * 10_000 + b"\n"
YAML_TAG_MARKER = "/tmp/driftscan-hostile-yaml-tag"  # created only if a YAML tag ran
TAGS = JOBS + (
    f"x: !!python/object/apply:os.system ['touch {YAML_TAG_MARKER}']\n".encode()
    + b"y: !!python/object/new:subprocess.check_output [['id']]\n"
    b"z: !Ref Custom\nw: !!binary aGVsbG8=\nv: !<tag:evil.example,2026:x> {a: 1}\n"
)
LONG_LINE = JOBS + b"x: '" + b"ab(c" * 250_000 + b"'\n"  # one line of 1 MB, under the cap
UTF16 = JOBS.decode().encode("utf-16")
LATIN1 = "name: café\n".encode("latin-1") + JOBS


DEEP = "/".join(f"level{i}" for i in range(1, 13))  # a 12-level monorepo
# Empty files: writing 20,000 one-byte files costs seconds of disk allocation, empty ones not.
MANY: dict[str, Entry] = {f"d{i // 100:03d}/f{i:05d}.txt": b"" for i in range(20_000)}
MANY[f"{WF}/ci.yml"] = JOBS

SYMLINKS: dict[str, Entry] = {
    f"{WF}/abs.yml": Link("{outside}/.github/workflows/ci.yml"),
    f"{WF}/rel.yml": Link("../../../../outside/.github/workflows/ci.yml"),
    "ext": Link("{outside}"),
    "ext-rel": Link("../../outside"),
    "Jenkinsfile.loop-a": Link("Jenkinsfile.loop-b"),
    "Jenkinsfile.loop-b": Link("Jenkinsfile.loop-a"),
    f"{WF}/zero.yml": Link("/dev/zero"),
    f"{WF}/environ.yml": Link("/proc/self/environ"),
    f"{WF}/dangling.yml": Link("no-such-file.yml"),
    f"{WF}/inside.yml": Link("../../ci/real.yml"),  # inside the root: a plain folder follows it
    "ci/real.yml": JOBS,
}
SYMLINK_PATHS = [p for p, e in SYMLINKS.items() if isinstance(e, Link)]

CASES: tuple[Case, ...] = (
    # -- symbolic links ---------------------------------------------------------------------
    Case(
        "symlinks-dir",
        "dir",
        {**BASE, **SYMLINKS},
        ci=("github-actions", "jenkins"),  # through inside.yml only
        problems={
            f"{WF}/abs.yml": OUT,
            f"{WF}/rel.yml": OUT,
            "ext": OUT,
            "ext-rel": OUT,
            "Jenkinsfile.loop-a": "symbolic link loop; not followed",
            "Jenkinsfile.loop-b": "symbolic link loop; not followed",
            f"{WF}/zero.yml": OUT,
            f"{WF}/environ.yml": OUT,
            f"{WF}/dangling.yml": "broken symbolic link; not followed",
        },
    ),
    Case(
        "symlinks-git",
        "git",
        {**BASE, **SYMLINKS},
        problems=dict.fromkeys(SYMLINK_PATHS, GIT_LINK),  # git stores links as blobs
    ),
    Case(
        "symlinked-workflows-dir",
        "dir",
        {**BASE, ".github": Link("{outside}/.github")},
        problems={".github": OUT},
    ),
    Case(
        "symlinked-workflows-git",
        "git",
        {**BASE, ".github": Link("../../outside/.github")},
        problems={".github": GIT_LINK},
    ),
    # -- entries that are not files: opening them would block or never end -------------------
    Case(
        "special-files-dir",
        "dir",
        {
            **BASE,
            f"{WF}/ci.yml": Fifo(),
            "Jenkinsfile.fifo": Fifo(),
            "Jenkinsfile.sock": Sock(),
            f"{WF}/device.yml": Device(1, 5),
            f"{WF}/to-fifo.yml": Link("../../Jenkinsfile.fifo"),
        },
        problems={
            f"{WF}/ci.yml": SPECIAL,
            "Jenkinsfile.fifo": SPECIAL,
            "Jenkinsfile.sock": SPECIAL,
            f"{WF}/device.yml": SPECIAL,
            f"{WF}/to-fifo.yml": "symbolic link to a FIFO, socket or device; never opened",
        },
    ),
    # -- YAML that attacks the parser ---------------------------------------------------------
    *both("billion-laughs", {f"{WF}/ci.yml": laughs()}, ci=("github-actions", "jenkins")),
    *both("deep-flow", {f"{WF}/ci.yml": DEEP_FLOW}, ci=("github-actions", "jenkins")),
    *both("deep-block", {f"{WF}/ci.yml": DEEP_BLOCK}, ci=("github-actions", "jenkins")),
    *both("deep-map", {f"{WF}/ci.yml": DEEP_MAP}, ci=("github-actions", "jenkins")),
    *both("yaml-tags", {f"{WF}/ci.yml": TAGS}, ci=("github-actions", "jenkins")),
    # Read the same way as any file; one kind is enough for a ~1 s parse.
    Case("long-line", "dir", {**BASE, f"{WF}/ci.yml": LONG_LINE}, ci=("github-actions", "jenkins")),
    Case(
        "huge-file-dir",
        "dir",
        {**BASE, f"{WF}/ci.yml": Sparse(50 << 20, JOBS)},
        problems={f"{WF}/ci.yml": f"skipped: {50 << 20} bytes exceeds the {MAX}"},
    ),
    Case(
        "huge-file-git",
        "git",
        {**BASE, f"{WF}/ci.yml": Sparse(50 << 20, JOBS)},
        problems={f"{WF}/ci.yml": f"{50 << 20} bytes exceeds the {MAX}"},
    ),
    *both(
        "binary-yaml",
        {f"{WF}/ci.yml": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))},
        problems={f"{WF}/ci.yml": "skipped: binary file (NUL byte)"},
    ),
    *both(
        "utf16-bom",  # Windows tools write UTF-16 with a byte-order mark: read as text
        {f"{WF}/ci.yml": UTF16},
        ci=("github-actions", "jenkins"),
    ),
    *both(
        "latin1",
        {f"{WF}/ci.yml": LATIN1},
        ci=("github-actions", "jenkins"),
        problems={f"{WF}/ci.yml": "not valid UTF-8 at byte 9; read with replacement characters"},
    ),
    *both(
        "only-nuls",
        {f"{WF}/ci.yml": b"\0" * 4096},
        problems={f"{WF}/ci.yml": "skipped: binary file (NUL byte)"},
    ),
    *both("crlf", {f"{WF}/ci.yml": JOBS.replace(b"\n", b"\r\n")}, ci=("github-actions", "jenkins")),
    *both("empty-file", {f"{WF}/ci.yml": b""}),
    *both(
        "lfs-pointer",
        {f"{WF}/ci.yml": LFS, "Dockerfile": LFS},
        problems={
            f"{WF}/ci.yml": f"not read: {LFS_REASON}",  # not parsed as YAML
            "Dockerfile": f"not read: {LFS_REASON}",
        },
    ),
    # -- git: configuration, objects and references --------------------------------------------
    Case(
        "hostile-config",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS, ".gitattributes": b"* filter=x diff=x\n"},
        steps=("hostile-config",),
        ci=("github-actions", "jenkins"),
    ),
    Case(
        "hostile-config-url",  # the clone path: git runs in (upload-pack) and on the repository
        "url",
        {**BASE, f"{WF}/ci.yml": JOBS, ".gitattributes": b"* filter=x diff=x\n"},
        steps=("hostile-config",),
        ci=("github-actions", "jenkins"),
    ),
    Case(
        "submodule",
        "git",
        {**BASE},
        steps=("submodule",),
        problems={"libs/shared": "git submodule; not scanned"},
    ),
    Case(
        "corrupt-blob",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("truncate-blob",),
        problems={f"{WF}/ci.yml": "not read: git cannot read this object: fatal: unable to stream"},
    ),
    Case(
        "missing-blob",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("delete-blob",),
        problems={f"{WF}/ci.yml": "not read: blob is missing from the object store"},
    ),
    Case(
        "missing-tree",
        "git",
        {**BASE},
        steps=("delete-root-tree",),
        status="error",
        ci=(),
        error="is missing from the object store",
    ),
    Case(
        "shallow",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("shallow",),
        ci=("github-actions", "jenkins"),
    ),
    Case(
        "bare",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("bare",),
        ci=("github-actions", "jenkins"),
    ),
    Case("no-commits", "git", {**BASE}, steps=("no-commits",), status="empty", ci=()),
    Case(
        "head-to-missing-branch",
        "git",
        {**BASE},
        steps=("head-to-missing-branch",),
        status="empty",
        ci=(),
        problems={"": "HEAD names branch 'no-such-branch', which has no commit; other branches"},
        complete=False,
    ),
    Case(
        "gitdir-outside",
        "git",
        {**BASE},
        steps=("gitdir-outside",),
        status="error",
        ci=(),
        error="outside the repository, which does not name it back; not followed",
    ),
    Case(
        "dot-git-link-outside",  # a folder whose .git is a link to another repository's
        "dir",
        {**BASE, ".git": Link("{outside}/repo/.git")},
        status="error",
        ci=(),
        error="outside the repository, which does not name it back; not followed",
    ),
    Case(
        "alternates-outside",
        "git",
        {**BASE},
        steps=("borrow-alternates",),
        status="error",
        ci=(),
        error="objects/info/alternates borrows objects from",
    ),
    Case(
        "commondir-outside",
        "git",
        {**BASE},
        steps=("common-dir-outside",),
        status="error",
        ci=(),
        error="its commondir names the git directory",
    ),
    Case(
        "objects-link-outside",
        "git",
        {**BASE},
        steps=("objects-link-outside",),
        status="error",
        ci=(),
        error="its objects folder links to",
    ),
    Case(
        "linked-worktree",  # `git worktree add`: a .git file whose git dir names it back
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("linked-worktree",),
        ci=("github-actions", "jenkins"),
    ),
    Case(
        "submodule-checkout",  # a .git file naming the parent's .git/modules/<name>
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("submodule-checkout",),
        ci=("github-actions", "jenkins"),
    ),
    # -- tree entries no checkout could hold: `..`, `.git`, names with a slash ----------------
    Case(
        "crafted-names",
        "git",
        {**BASE, f"{WF}/ci.yml": JOBS},
        steps=("crafted-names",),
        ci=("github-actions", "jenkins"),
        problems={
            "..": "refused tree entry '..': not a file name",
            "../evil.yml": "refused tree entry '../evil.yml': not a file name",
            ".git": "refused tree entry '.git': not a file name",
            ".github/workflows": "refused tree entry '.github/workflows': not a file name",
        },
    ),
    # -- sizes ----------------------------------------------------------------------------------
    *both(
        "deep-monorepo",
        {
            f"{DEEP}/Jenkinsfile": b"pipeline {}\n",
            f"{DEEP}/Dockerfile": b"FROM python:3.12\n",
            f"{DEEP}/.github/workflows/ci.yml": JOBS,  # GitHub reads only the root's workflows
        },
    ),
    *both("many-files", MANY, ci=("github-actions", "jenkins")),
)
