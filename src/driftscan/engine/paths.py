"""Path globs: validated one by one, matched against a repository's listing in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import bracex
from wcmatch import glob as wcglob

# `**` crosses folders, `{a,b}` alternates, `*` also matches dot-files; case-sensitive
# everywhere so a scan means the same on Linux and macOS.
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | wcglob.CASE

# Folders whose content is never this repository's active configuration (CATALOGUE.md,
# "What counts"): copies of other projects, examples and test data.
INACTIVE_DIRS: tuple[str, ...] = (
    "node_modules",
    "bower_components",
    "vendor",
    "vendors",
    "third_party",
    "third-party",
    "thirdparty",
    "example",
    "examples",
    "_examples",
    "sample",
    "samples",
    "__snapshot__",
    "__snapshots__",
    "_testdata",
    "mock",
    "mocks",
    "__mocks__",
    "e2e",
    "integration-tests",
    "its",  # Maven's integration-test projects
    "exercises",  # teaching material: answers, not this repository's setup
    "solutions",
    "testdata",
    "test-data",
    "test_data",
    "__fixtures__",
    "site-packages",
    ".venv",
    "venv",
    ".tox",
    ".terraform",
    ".git",
)
# Folder pairs: fixtures are inactive only under a test folder (a top-level `fixtures/` can be
# a project's real data).
INACTIVE_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (parent, child)
    for parent in ("test", "tests", "spec", "__tests__", "integration-tests", "e2e")
    for child in ("fixtures", "fixture", "data", "resources", "testcases", "cases")
)

_INACTIVE_DIR_SET = frozenset(INACTIVE_DIRS)
_INACTIVE_PAIR_SET = frozenset(INACTIVE_PAIRS)


# Only at the root: `apps/docs/` in a monorepo is usually a documentation site with its own
# real deployment, while `docs/` at the root is the repository's documentation.
_DOCS_ROOTS = frozenset(("docs", "doc", "documentation"))
_INACTIVE_SUFFIXES = (
    "-examples",
    "_examples",
    "-samples",
    "_samples",
    "-demos",
    "_demos",
    ".example",
    ".sample",
)


# Below a JVM source root the folders are a package name: `src/main/java/com/example/` is the
# Spring Initializr default package of a real application, not a folder of examples.
_JVM_SOURCE_ROOTS = frozenset(("java", "kotlin", "scala", "groovy", "resources"))


def _package_start(lowered: list[str]) -> int:
    """Index of the first package folder under `src/main/<language>/`, else len(lowered)."""
    for i in range(len(lowered) - 2):
        if lowered[i] == "src" and lowered[i + 1] == "main" and lowered[i + 2] in _JVM_SOURCE_ROOTS:
            return i + 3
    return len(lowered)


# What a package manager resolved, never what the repository declares (CATALOGUE.md: "never
# from lockfiles"): no signal reads them, so a scan never fetches or parses a multi-megabyte
# package-lock.json or pnpm-lock.yaml for a rule whose glob is `**/*.json` or `**/*.yaml`.
LOCKFILES = frozenset(
    (
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lock",
        "composer.lock",
        "gemfile.lock",
        "poetry.lock",
        "pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "cargo.lock",
        "go.sum",
        "mix.lock",
        "pubspec.lock",
        "podfile.lock",
        "package.resolved",
        "gradle.lockfile",
        "packages.lock.json",
    )
)


def is_lockfile(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name in LOCKFILES or name.endswith(".lock.json")


def is_active_path(path: str) -> bool:
    """False for a lockfile, and when any folder of `path` marks it as a copy, an example or
    test data."""
    if is_lockfile(path):
        return False
    parts = path.split("/")[:-1]
    if not parts:
        return True
    lowered = [p.lower() for p in parts]
    folders = lowered[: _package_start(lowered)]
    if any(p in _INACTIVE_DIR_SET or p.endswith(_INACTIVE_SUFFIXES) for p in folders):
        return False
    if lowered[0] in _DOCS_ROOTS:  # a repository's own documentation shows config, it is not config
        return False
    return not any(pair in _INACTIVE_PAIR_SET for pair in pairwise(lowered))


class GlobError(ValueError):
    """A glob that cannot be compiled; the message says why."""


# Each `*` in a segment and each `**` segment multiplies the ways a regex can try to match a
# path that does not match (measured: `**/*a*a*a*a*a*a*a*b` spends 0.6 s on one 40-character
# name). The shipped rules use at most 2 of each; these caps keep a user's globs in that range.
MAX_STARS_PER_SEGMENT = 3
MAX_GLOBSTARS = 3


def _check(pattern: str) -> None:
    """Reject what would otherwise match nothing, or something else than meant, silently."""
    if not pattern or "\\" in pattern:
        raise GlobError(f"glob {pattern!r} must be a relative POSIX path pattern")
    if "{}" in pattern or ",," in pattern:
        raise GlobError(f"glob {pattern!r} has an empty brace alternative ('{{}}' or ',,')")
    alternatives = expand(pattern)
    if not alternatives:
        raise GlobError(f"glob {pattern!r} expands to nothing (every brace alternative is empty)")
    for alternative in alternatives:
        _check_alternative(pattern, alternative)
    try:
        wcglob.translate(pattern, flags=GLOB_FLAGS)  # the reference implementation's verdict
    except Exception as exc:  # wcmatch raises several types for bad patterns
        raise GlobError(f"glob {pattern!r} is invalid: {exc}") from exc


def _check_alternative(pattern: str, alternative: str) -> None:
    """One brace-free alternative of `pattern`: named in the message when it differs."""
    shown = f"glob {pattern!r}" + (
        f" (alternative {alternative!r})" if alternative != pattern else ""
    )
    if not alternative:
        raise GlobError(f"{shown} has an empty alternative, which matches no file")
    # An alternative written with a leading '/' is absolute; one that only starts with '/'
    # after an empty alternative (`{,infra}/main.tf`) is reported as an empty segment below.
    if alternative.startswith("/") and (pattern.startswith("/") or re.search(r"[{,]/", pattern)):
        raise GlobError(f"{shown} must be a relative POSIX path pattern, not an absolute path")
    segments = alternative.split("/")
    if ".." in segments:
        raise GlobError(f"{shown} must not climb out of the repository with '..'")
    if "" in segments:
        raise GlobError(
            f"{shown} has an empty path segment ('//', a leading or trailing '/', or an empty "
            "brace alternative beside a '/'), which no listed path has"
        )
    if "." in segments:
        raise GlobError(f"{shown} has a '.' path segment, which no listed path has")
    if segments.count("**") > MAX_GLOBSTARS:
        raise GlobError(f"{shown} has more than {MAX_GLOBSTARS} '**' segments")
    for segment in segments:
        _check_segment(shown, segment)
    try:
        re.compile(_brace_free_regex(alternative))
    except re.error as exc:  # e.g. a reversed range [z-a]
        raise GlobError(f"{shown} is invalid: {exc}") from None


def _check_segment(shown: str, segment: str) -> None:
    """Classes and braces as `_segment_regex` reads them: an unclosed `[` or a brace bracex
    could not pair would otherwise be taken as a literal character, silently."""
    if segment != "**" and segment.count("*") > MAX_STARS_PER_SEGMENT:
        raise GlobError(f"{shown} has more than {MAX_STARS_PER_SEGMENT} '*' in {segment!r}")
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "[":
            if "]" not in segment[i + 2 :]:
                raise GlobError(
                    f"{shown} has an unclosed '[' in {segment!r} (write [[] for a literal '[')"
                )
            i = segment.index("]", i + 2)
        elif ch in "{}":
            raise GlobError(
                f"{shown} has an unbalanced {ch!r}: braces need a matching pair and a ',' "
                "between alternatives (write [{] or [}] for a literal brace)"
            )
        i += 1


def expand(pattern: str) -> list[str]:
    """Brace alternatives of a glob: '*.{yml,yaml}' -> ['*.yml', '*.yaml']."""
    try:
        return list(dict.fromkeys(bracex.expand(pattern, limit=1000)))
    except Exception as exc:  # bracex raises on runaway expansions
        raise GlobError(f"glob {pattern!r} expands too far: {exc}") from exc


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and "]" in segment[i + 2 :]:
            end = segment.index("]", i + 2)
            body = segment[i + 1 : end]
            if body.startswith(("!", "^")):  # a negated class never matches the separator
                body = "^/" + body[1:]
            # `[[]` is the documented literal '[': escaped, `re` does not warn of a nested set
            out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _brace_free_regex(pattern: str) -> str:
    """Anchored regex of a brace-free glob. Paths of a listing never hold '.' or '..'
    segments, so none of the guards a general glob engine needs are paid for here."""
    parts = pattern.split("/")
    out: list[str] = []
    for index, segment in enumerate(parts):
        last = index == len(parts) - 1
        if segment == "**":
            out.append("(?:[^/]+/)*[^/]+" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(segment) + ("" if last else "/"))
    return "^" + "".join(out) + "$"


def glob_regexes(pattern: str) -> list[str]:
    """Anchored regex sources of a glob, one per brace alternative."""
    _check(pattern)
    return [_brace_free_regex(alt) for alt in expand(pattern)]


def compile_glob(pattern: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{rx})" for rx in glob_regexes(pattern)))


_WILD = re.compile(r"[*?\[]")


def _bucket(alternative: str) -> tuple[str, str]:
    """Where a brace-free glob is indexed: by exact base name, by extension, by a literal
    prefix of the base name, or (rarely) tested against every path."""
    base = alternative.rsplit("/", 1)[-1]
    if not _WILD.search(base):
        return "name", base
    if "." in base:
        ext = base.rsplit(".", 1)[1]
        if ext and not _WILD.search(ext):
            return "ext", ext
    prefix = _WILD.split(base, maxsplit=1)[0]
    if len(prefix) >= PREFIX_LEN:
        return "prefix", prefix[:PREFIX_LEN]
    return "any", ""


PREFIX_LEN = 3
Candidate = tuple[re.Pattern[str], tuple[str, ...]]  # a regex and the globs it stands for


@dataclass(frozen=True)
class Bucket:
    """Candidates sharing an index key, behind one union regex that rejects most paths in a
    single C-level call (Python's `re` tries alternatives without a per-call overhead)."""

    union: re.Pattern[str]
    candidates: tuple[Candidate, ...]

    @classmethod
    def of(cls, candidates: tuple[Candidate, ...]) -> Bucket:
        union = re.compile("|".join(f"(?:{rx.pattern})" for rx, _ in candidates))
        return cls(union, candidates)


@dataclass(frozen=True)
class PathMatcher:
    """Matches many globs against every path of a listing in one pass.

    Each glob is split into brace-free alternatives and indexed by what its last segment
    pins down (exact base name, extension, literal prefix); the rest share one bucket. A path
    is tested only against its own buckets, each first through its union regex.
    """

    globs: tuple[str, ...]
    by_name: Mapping[str, Bucket]
    by_ext: Mapping[str, Bucket]
    by_prefix: Mapping[str, Bucket]
    anywhere: Bucket | None

    @classmethod
    def build(cls, globs: Iterable[str]) -> PathMatcher:
        unique = tuple(dict.fromkeys(globs))
        owners: dict[str, list[str]] = {}
        buckets: dict[tuple[str, str], list[str]] = {}
        for glob in unique:
            _check(glob)
            for alternative in expand(glob):
                regex = _brace_free_regex(alternative)
                if regex not in owners:
                    owners[regex] = []
                    buckets.setdefault(_bucket(alternative), []).append(regex)
                if glob not in owners[regex]:
                    owners[regex].append(glob)
        compiled = {rx: (re.compile(rx), tuple(globs_)) for rx, globs_ in owners.items()}
        index: dict[str, dict[str, Bucket]] = {"name": {}, "ext": {}, "prefix": {}}
        anywhere: Bucket | None = None
        for (kind, key), regexes in buckets.items():
            bucket = Bucket.of(tuple(compiled[rx] for rx in regexes))
            if kind == "any":
                anywhere = bucket
            else:
                index[kind][key] = bucket
        return cls(unique, index["name"], index["ext"], index["prefix"], anywhere)

    def match(self, paths: Sequence[str]) -> Mapping[str, tuple[str, ...]]:
        """Return glob -> matching paths (in listing order) for every glob that matched."""
        found: dict[str, dict[str, None]] = {}
        by_name, by_ext, by_prefix = self.by_name, self.by_ext, self.by_prefix
        for path in paths:
            base = path.rpartition("/")[2]
            dot = base.rfind(".")
            for bucket in (
                by_name.get(base),
                by_ext.get(base[dot + 1 :]) if dot >= 0 else None,
                by_prefix.get(base[:PREFIX_LEN]),
                self.anywhere,
            ):
                if bucket is None or bucket.union.match(path) is None:
                    continue
                for regex, owners in bucket.candidates:
                    if regex.match(path) is not None:
                        for glob in owners:
                            found.setdefault(glob, {})[path] = None
        return {g: tuple(ps) for g, ps in found.items()}
