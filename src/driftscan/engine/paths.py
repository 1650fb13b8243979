"""Path globs: validated one by one, matched against a repository's listing in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

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
    "external",
    "example",
    "examples",
    "_examples",
    "sample",
    "samples",
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


def is_active_path(path: str) -> bool:
    """False when any folder of `path` marks it as a copy, an example or test data."""
    parts = path.split("/")[:-1]
    if not parts:
        return True
    lowered = [p.lower() for p in parts]
    if any(p in _INACTIVE_DIR_SET for p in lowered):
        return False
    return not any(pair in _INACTIVE_PAIR_SET for pair in pairwise(lowered))


class GlobError(ValueError):
    """A glob that cannot be compiled; the message says why."""


def glob_regexes(pattern: str) -> list[str]:
    """Translate one glob into anchored regex sources (one per brace alternative)."""
    if not pattern or pattern.startswith("/") or "\\" in pattern:
        raise GlobError(f"glob {pattern!r} must be a relative POSIX path pattern")
    if ".." in pattern.split("/"):
        raise GlobError(f"glob {pattern!r} must not climb out of the repository with '..'")
    try:
        include, _exclude = wcglob.translate(pattern, flags=GLOB_FLAGS)
    except Exception as exc:  # wcmatch raises several types for bad patterns
        raise GlobError(f"glob {pattern!r} is invalid: {exc}") from exc
    return list(include)


def compile_glob(pattern: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{rx})" for rx in glob_regexes(pattern)))


@dataclass(frozen=True)
class PathMatcher:
    """Matches many globs against many paths with one union regex as a pre-filter.

    Most paths in a repository match no rule at all; the union regex rejects them in a single
    C-level pass, and only the few survivors are tested glob by glob.
    """

    globs: tuple[str, ...]
    compiled: tuple[re.Pattern[str], ...]
    union: re.Pattern[str] | None

    @classmethod
    def build(cls, globs: Iterable[str]) -> PathMatcher:
        unique = tuple(dict.fromkeys(globs))
        compiled = tuple(compile_glob(g) for g in unique)
        union = re.compile("|".join(f"(?:{c.pattern})" for c in compiled)) if compiled else None
        return cls(unique, compiled, union)

    def match(self, paths: Sequence[str]) -> Mapping[str, tuple[str, ...]]:
        """Return glob -> matching paths (in listing order) for every glob that matched."""
        found: dict[str, list[str]] = {}
        if self.union is None:
            return {}
        union_match = self.union.match
        for path in paths:
            if union_match(path) is None:
                continue
            for pattern, rx in zip(self.globs, self.compiled, strict=True):
                if rx.match(path) is not None:
                    found.setdefault(pattern, []).append(path)
        return {g: tuple(ps) for g, ps in found.items()}
