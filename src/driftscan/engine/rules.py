"""Rule files: load, validate with precise file:line errors, compile once.

A rule file describes one dimension (see docs/rules-format.md). Its `detect` section maps each
canonical value id to a condition built from a small signal vocabulary combined with
`any` / `all` / `not`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from driftscan.engine.manifests import normalise as normalise_dependency
from driftscan.engine.paths import GlobError, compile_glob

# Bump when detection semantics change without a rule file changing, so that stored facts
# computed by an older engine are not reused for an unchanged repository.
# 2: infra texts are redacted before hashing (new content hashes and signatures), names that
# are not plain UTF-8 are escaped, rule regexes run under the `regex` module with a budget.
# 3: dependency manifests of every ecosystem; pins (PackageVersion, dependencyManagement,
# unused catalog entries, constraints files) and via-only pip-compile pins no longer count.
ENGINE_VERSION = "3"

BUILTIN_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DIMENSION_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+$")
ECOSYSTEMS = (
    "pypi",
    "npm",
    "go",
    "maven",
    "rubygems",
    "cargo",
    "composer",
    "nuget",
    "pub",
    "hex",
    "swift",
    "cocoapods",
)
LIFECYCLES = ("experimental", "stable", "deprecated")
POLICY_KINDS = ("consensus", "allowed", "forbidden", "required", "informational")

# Seconds one rule regex may spend on one file (and on its example at load). Shipped rules take
# microseconds; a pattern that backtracks for ever (`(a|aa)+$`) is stopped and recorded.
REGEX_TIMEOUT = 0.5


class RuleError(ValueError):
    """An invalid rule file: `str()` is `path:line: reason`."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


# --- signals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRegex:
    """A regex written in a rule file. It runs under the `regex` module, whose searches take a
    time budget (`re` cannot be interrupted): a user's pattern must not hang a scan."""

    rule: str  # the rule id, named by the problem a timeout records
    compiled: regex.Pattern[str]

    @property
    def pattern(self) -> str:
        return self.compiled.pattern

    def search(self, text: str, timeout: float = REGEX_TIMEOUT) -> regex.Match[str] | None:
        """Raises TimeoutError when the search needs more than `timeout` seconds."""
        return self.compiled.search(text, timeout=timeout)


@dataclass(frozen=True)
class Beside:
    """Files at `path` (a glob) relative to a folder that holds a file named `marker` (a glob
    over one file name): `{marker: "Chart.yaml", path: "templates/**"}` is every file under a
    Helm chart's templates/ folder, wherever the chart lives."""

    marker: str
    path: str
    regex: re.Pattern[str]

    @property
    def marker_glob(self) -> str:
        """The glob that lists every marker file of a repository."""
        return f"**/{self.marker}"

    def describe(self) -> str:
        return f"{self.path} beside {self.marker}"


@dataclass(frozen=True)
class Excludes:
    """Globs a file-reading signal must not see, on top of the inactive folders; and files
    that sit at a path relative to a folder holding a marker file (`exclude_beside`)."""

    globs: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    beside: tuple[Beside, ...] = ()

    def keeps(self, path: str) -> bool:
        """By path alone; `exclude_beside` also needs the repository's marker folders."""
        return self.regex is None or self.regex.match(path) is None

    def keeps_beside(self, path: str, marker_dirs: Callable[[Beside], frozenset[str]]) -> bool:
        """False when, for some `beside`, a folder holding its marker (`""` is the root) is an
        ancestor of `path` and the rest of `path` matches its glob."""
        for beside in self.beside:
            dirs = marker_dirs(beside)
            parts = path.split("/")
            for cut in range(len(parts)):
                folder = "/".join(parts[:cut])
                if folder in dirs and beside.regex.match("/".join(parts[cut:])) is not None:
                    return False
        return True

    def describe(self) -> str:
        shown = list(self.globs) + [b.describe() for b in self.beside]
        return f" (not {', '.join(shown)})" if shown else ""


NO_EXCLUDES = Excludes()


@dataclass(frozen=True)
class FileSignal:
    glob: str
    exclude: Excludes = NO_EXCLUDES

    def describe(self) -> str:
        return f"file {self.glob}{self.exclude.describe()}"


@dataclass(frozen=True)
class ContentSignal:
    glob: str
    regex: RuleRegex
    example: str
    exclude: Excludes = NO_EXCLUDES

    def describe(self) -> str:
        return f"content /{self.regex.pattern}/ in {self.glob}{self.exclude.describe()}"


@dataclass(frozen=True)
class YamlSignal:
    glob: str
    keys: tuple[tuple[str, ...], ...] = ()  # every key path must exist in one document
    kinds: frozenset[str] = frozenset()
    api_version: re.Pattern[str] | None = None
    matches: RuleRegex | None = None  # scalar at the first key path must match
    contains: RuleRegex | None = None  # the file's text must match before it is parsed
    exclude: Excludes = NO_EXCLUDES
    api_glob: str = ""  # apiVersion as written in the rule, for descriptions

    def describe(self) -> str:
        parts = []
        if self.api_version is not None:
            parts.append(f"apiVersion={self.api_glob}")
        if self.kinds:
            parts.append("kind=" + "|".join(sorted(self.kinds)))
        if self.keys:
            parts.append("keys=" + ",".join(".".join(k) for k in self.keys))
        if self.matches is not None:
            parts.append(f"matches /{self.matches.pattern}/")
        if self.contains is not None:
            parts.append(f"contains /{self.contains.pattern}/")
        return f"yaml {' '.join(parts)} in {self.glob}{self.exclude.describe()}"


@dataclass(frozen=True)
class DependencySignal:
    ecosystem: str | None
    name: str  # glob over normalised names
    regex: re.Pattern[str]

    def describe(self) -> str:
        return f"dependency {self.ecosystem or '*'}:{self.name}"


@dataclass(frozen=True)
class EnvSignal:
    prefix: str

    def describe(self) -> str:
        return f"env {self.prefix}*"


@dataclass(frozen=True)
class ImageSignal:
    pattern: str
    regex: re.Pattern[str]

    def describe(self) -> str:
        return f"image {self.pattern}"


@dataclass(frozen=True)
class ActionSignal:
    pattern: str
    regex: re.Pattern[str]

    def describe(self) -> str:
        return f"action {self.pattern}"


@dataclass(frozen=True)
class CredentialSignal:
    glob: str
    exclude: Excludes = NO_EXCLUDES

    def describe(self) -> str:
        return f"credential in {self.glob}{self.exclude.describe()}"


@dataclass(frozen=True)
class MetaSignal:
    key: str
    value: str | bool

    def describe(self) -> str:
        return f"meta {self.key}={self.value}"


Signal = (
    FileSignal
    | ContentSignal
    | YamlSignal
    | DependencySignal
    | EnvSignal
    | ImageSignal
    | ActionSignal
    | CredentialSignal
    | MetaSignal
)


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    child: Condition


Condition = AnyOf | AllOf | Not | Signal


@dataclass(frozen=True)
class Policy:
    kind: str = "consensus"
    min_share: float = 0.5
    allowed: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    dimension: str
    title: str
    detect: tuple[tuple[str, Condition], ...]
    lifecycle: str = "stable"
    aliases: tuple[str, ...] = ()
    description: str = ""
    policy: Policy = field(default_factory=Policy)
    message: str = ""
    remediation: str = ""
    source: str = ""  # the file it was loaded from

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.detect)


@dataclass(frozen=True)
class Ruleset:
    rules: tuple[Rule, ...]
    digest: str

    def by_id(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id or rule_id in rule.aliases:
                return rule
        return None

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(r.dimension for r in self.rules)


def split_key_path(path: str) -> tuple[str, ...]:
    """'metadata.annotations.vault\\.hashicorp\\.com/role' -> 3 keys: a backslash escapes a
    dot that belongs to the key name (annotations and labels are full of them)."""
    parts = re.split(r"(?<!\\)\.", path)
    return tuple(part.replace("\\.", ".") for part in parts)


def walk_signals(condition: Condition) -> Iterable[Signal]:
    if isinstance(condition, (AnyOf, AllOf)):
        for child in condition.children:
            yield from walk_signals(child)
    elif isinstance(condition, Not):
        yield from walk_signals(condition.child)
    else:
        yield condition


# --- loading -------------------------------------------------------------------------------

_TOP_KEYS = {
    "id",
    "category",
    "dimension",
    "title",
    "description",
    "lifecycle",
    "aliases",
    "detect",
    "policy",
    "message",
    "remediation",
}
_REQUIRED_TOP = ("id", "category", "dimension", "title", "detect")
_SIGNAL_KEYS = (
    "file",
    "content",
    "yaml",
    "dependency",
    "env",
    "image",
    "action",
    "credential",
    "meta",
)
_COMBINATORS = ("any", "all", "not")


class _Loader:
    """Validates one parsed rule file; every error names the file and line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rule_id = ""  # set once read: the regexes of the rule carry it

    def fail(self, line: int | None, reason: str) -> RuleError:
        return RuleError(self.path, line, reason)

    @staticmethod
    def key_line(node: CommentedMap, key: str) -> int | None:
        try:
            return int(node.lc.key(key)[0]) + 1
        except (KeyError, AttributeError, TypeError):
            return _Loader.node_line(node)

    @staticmethod
    def item_line(node: CommentedSeq, index: int) -> int | None:
        try:
            return int(node.lc.item(index)[0]) + 1
        except (KeyError, AttributeError, TypeError, IndexError):
            return _Loader.node_line(node)

    @staticmethod
    def node_line(node: Any) -> int | None:
        lc = getattr(node, "lc", None)
        return int(lc.line) + 1 if lc is not None and lc.line is not None else None

    def string(self, node: CommentedMap, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = node.get(key)
        line = self.key_line(node, key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line, f"'{key}' must be a non-empty string")
        if pattern is not None and not pattern.match(value):
            raise self.fail(line, f"'{key}' {value!r} must match {pattern.pattern}")
        return value

    def rule(self, data: Any, expected_category: str | None) -> Rule:
        if not isinstance(data, CommentedMap):
            raise self.fail(1, "a rule file must be a mapping with id, category, dimension, detect")
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail(
                    self.key_line(data, key),
                    f"unknown key {key!r} (expected one of {', '.join(sorted(_TOP_KEYS))})",
                )
        for key in _REQUIRED_TOP:
            if key not in data:
                raise self.fail(1, f"missing required key '{key}'")
        rule_id = self.string(data, "id", ID_RE)
        self.rule_id = rule_id
        stem = Path(self.path).stem
        if stem != rule_id:
            raise self.fail(
                self.key_line(data, "id"), f"id {rule_id!r} must equal the file name {stem!r}"
            )
        category = self.string(data, "category", ID_RE)
        if expected_category is not None and category != expected_category:
            raise self.fail(
                self.key_line(data, "category"),
                f"category {category!r} must equal the folder name {expected_category!r}",
            )
        dimension = self.string(data, "dimension", DIMENSION_RE)
        if not dimension.startswith(category + "."):
            raise self.fail(
                self.key_line(data, "dimension"),
                f"dimension {dimension!r} must start with the category '{category}.'",
            )
        lifecycle = data.get("lifecycle", "stable")
        if lifecycle not in LIFECYCLES:
            raise self.fail(
                self.key_line(data, "lifecycle"),
                f"lifecycle {lifecycle!r} must be one of {', '.join(LIFECYCLES)}",
            )
        aliases = self.id_list(data, "aliases")
        detect_node = data["detect"]
        if not isinstance(detect_node, CommentedMap) or not detect_node:
            raise self.fail(self.key_line(data, "detect"), "'detect' must map value ids to signals")
        detect = []
        for value, cond in detect_node.items():
            line = self.key_line(detect_node, value)
            if not isinstance(value, str) or not ID_RE.match(value):
                raise self.fail(
                    line, f"value id {value!r} must be kebab-case like 'github-actions'"
                )
            detect.append((value, self.condition(cond, line)))
        values = [v for v, _ in detect]
        policy = self.policy(data, values)
        return Rule(
            id=rule_id,
            category=category,
            dimension=dimension,
            title=self.string(data, "title"),
            description=str(data.get("description", "")),
            lifecycle=str(lifecycle),
            aliases=tuple(aliases),
            detect=tuple(detect),
            policy=policy,
            message=str(data.get("message", "")),
            remediation=str(data.get("remediation", "")),
            source=self.path,
        )

    def id_list(self, node: CommentedMap, key: str) -> list[str]:
        value = node.get(key, [])
        line = self.key_line(node, key)
        if not isinstance(value, list) or not all(
            isinstance(v, str) and ID_RE.match(v) for v in value
        ):
            raise self.fail(line, f"'{key}' must be a list of kebab-case ids")
        return [str(v) for v in value]

    def policy(self, data: CommentedMap, values: Sequence[str]) -> Policy:
        node = data.get("policy")
        if node is None:
            return Policy()
        line = self.key_line(data, "policy")
        if not isinstance(node, CommentedMap):
            raise self.fail(line, "'policy' must be a mapping such as {kind: consensus}")
        unknown = set(node) - {"kind", "min_share", "allowed", "forbidden"}
        if unknown:
            raise self.fail(line, f"unknown policy key(s): {', '.join(sorted(unknown))}")
        kind = node.get("kind", "consensus")
        if kind not in POLICY_KINDS:
            raise self.fail(line, f"policy kind {kind!r} must be one of {', '.join(POLICY_KINDS)}")
        min_share = node.get("min_share", 0.5)
        if not isinstance(min_share, (int, float)) or not 0 < float(min_share) <= 1:
            raise self.fail(line, "policy min_share must be a number in (0, 1]")
        lists = {}
        for key in ("allowed", "forbidden"):
            ids = self.id_list(node, key)
            for value in ids:
                if value not in values:
                    raise self.fail(line, f"policy {key} names {value!r}, which 'detect' lacks")
            lists[key] = tuple(ids)
        return Policy(str(kind), float(min_share), lists["allowed"], lists["forbidden"])

    def condition(self, node: Any, line: int | None) -> Condition:
        if isinstance(node, CommentedSeq):  # a bare list means `any`
            return AnyOf(self.children(node))
        if not isinstance(node, CommentedMap):
            raise self.fail(line, "a condition must be a mapping like {file: GLOB} or {any: [...]}")
        line = self.node_line(node) or line
        heads = [k for k in node if k in _COMBINATORS or k in _SIGNAL_KEYS]
        if len(heads) != 1:
            found = ", ".join(map(str, node)) or "nothing"
            raise self.fail(
                line,
                "a condition needs exactly one of "
                f"{', '.join(_COMBINATORS + _SIGNAL_KEYS)}; found {found}",
            )
        head = heads[0]
        body = node[head]
        body_line = self.key_line(node, head)
        if head in ("any", "all"):
            if not isinstance(body, CommentedSeq) or not body:
                raise self.fail(body_line, f"'{head}' takes a non-empty list of conditions")
            extra = set(node) - {head}
            if extra:
                raise self.fail(body_line, f"unexpected key(s) beside '{head}': {sorted(extra)}")
            children = self.children(body)
            return AnyOf(children) if head == "any" else AllOf(children)
        if head == "not":
            return Not(self.condition(body, body_line))
        return self.signal(head, node, body_line)

    def children(self, seq: CommentedSeq) -> tuple[Condition, ...]:
        return tuple(self.condition(item, self.item_line(seq, i)) for i, item in enumerate(seq))

    def glob(self, value: Any, line: int | None, what: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(line, f"{what} needs a glob string")
        try:
            compile_glob(value)
        except GlobError as exc:
            raise self.fail(line, str(exc)) from None
        return value

    def regex(self, value: Any, line: int | None, flags: int = 0) -> RuleRegex:
        if not isinstance(value, str) or not value:
            raise self.fail(line, "a regex must be a non-empty string")
        try:
            compiled = regex.compile(value, flags | regex.MULTILINE)
        except (regex.error, ValueError) as exc:  # ValueError: conflicting inline flags
            raise self.fail(line, f"invalid regex {value!r}: {exc}") from None
        return RuleRegex(self.rule_id, compiled)

    def example_matches(self, pattern: RuleRegex, example: str, line: int | None) -> bool:
        try:
            return pattern.search(example) is not None
        except TimeoutError:
            raise self.fail(
                line,
                f"regex {pattern.pattern!r} ran over {REGEX_TIMEOUT:g} s on its example "
                "(catastrophic backtracking); rewrite it so that it cannot try so many ways",
            ) from None

    def allowed_keys(self, node: CommentedMap, keys: set[str], line: int | None) -> None:
        extra = set(node) - keys
        if extra:
            raise self.fail(line, f"unexpected key(s) {sorted(extra)}; allowed: {sorted(keys)}")

    def signal(self, head: str, node: CommentedMap, line: int | None) -> Signal:
        body = node[head]
        if head == "file":
            self.allowed_keys(node, {"file", "exclude", "exclude_beside"}, line)
            return FileSignal(self.glob(body, line, "'file'"), self.excludes(node, line))
        if head == "credential":
            self.allowed_keys(node, {"credential", "exclude", "exclude_beside"}, line)
            return CredentialSignal(
                self.glob(body, line, "'credential'"), self.excludes(node, line)
            )
        if head == "content":
            self.allowed_keys(
                node,
                {"content", "in", "example", "ignore_case", "exclude", "exclude_beside"},
                line,
            )
            if "in" not in node:
                raise self.fail(line, "'content' needs 'in: GLOB' naming the files to search")
            if "example" not in node:
                raise self.fail(line, "'content' needs an 'example' string that the regex matches")
            flags = regex.IGNORECASE if node.get("ignore_case") else 0
            pattern = self.regex(body, line, flags)
            example = node["example"]
            example_line = self.key_line(node, "example")
            if not isinstance(example, str) or not self.example_matches(
                pattern, example, example_line
            ):
                raise self.fail(example_line, f"example {example!r} does not match regex {body!r}")
            return ContentSignal(
                self.glob(node["in"], self.key_line(node, "in"), "'in'"),
                pattern,
                example,
                self.excludes(node, line),
            )
        if head == "yaml":
            return self.yaml_signal(body, line)
        if head == "dependency":
            self.allowed_keys(node, {"dependency"}, line)
            if not isinstance(body, str) or not body:
                raise self.fail(line, "'dependency' takes 'ECOSYSTEM:NAME' or 'NAME' (a glob)")
            eco, sep, name = body.partition(":")
            if not sep:
                eco, name = "", body
            elif eco not in ECOSYSTEMS:
                raise self.fail(line, f"unknown ecosystem {eco!r}; known: {', '.join(ECOSYSTEMS)}")
            if eco and "[" not in name:  # compared as the ecosystem compares its names
                name = normalise_dependency(eco, name)
            return DependencySignal(eco or None, name, _name_regex(name))
        if head == "env":
            self.allowed_keys(node, {"env"}, line)
            if not isinstance(body, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", body):
                raise self.fail(line, "'env' takes an upper-case variable prefix like DD_")
            return EnvSignal(body)
        if head in ("image", "action"):
            self.allowed_keys(node, {head}, line)
            if not isinstance(body, str) or not body:
                raise self.fail(line, f"'{head}' takes a name glob like 'datadog/agent'")
            name_rx = _name_regex(body.lower())
            return ImageSignal(body, name_rx) if head == "image" else ActionSignal(body, name_rx)
        # meta
        self.allowed_keys(node, {"meta"}, line)
        if not isinstance(body, CommentedMap) or len(body) != 1:
            raise self.fail(line, "'meta' takes one key, e.g. {meta: {archived: true}}")
        ((key, value),) = body.items()
        if key not in ("archived", "fork", "topic", "visibility", "default_branch"):
            raise self.fail(line, f"unknown meta key {key!r}")
        if not isinstance(value, (str, bool)):
            raise self.fail(line, "a meta value must be a string or a boolean")
        return MetaSignal(str(key), value)

    def excludes(self, node: CommentedMap, line: int | None) -> Excludes:
        raw = node.get("exclude")
        beside = self.excludes_beside(node, line)
        if raw is None:
            return Excludes(beside=beside) if beside else NO_EXCLUDES
        globs = [raw] if isinstance(raw, str) else raw
        line = self.key_line(node, "exclude")
        if not isinstance(globs, list) or not globs:
            raise self.fail(line, "'exclude' takes a glob or a list of globs")
        for index, glob in enumerate(globs):
            where = self.item_line(globs, index) if isinstance(globs, CommentedSeq) else line
            self.glob(glob, where, "'exclude'")
        regex = re.compile("|".join(f"(?:{compile_glob(g).pattern})" for g in globs))
        return Excludes(tuple(globs), regex, beside)

    def excludes_beside(self, node: CommentedMap, line: int | None) -> tuple[Beside, ...]:
        raw = node.get("exclude_beside")
        if raw is None:
            return ()
        line = self.key_line(node, "exclude_beside")
        items = [raw] if isinstance(raw, CommentedMap) else raw
        shape = "'exclude_beside' takes {marker: FILE-NAME-GLOB, path: GLOB} or a list of them"
        if not isinstance(items, list) or not items:
            raise self.fail(line, shape)
        out = []
        for item in items:
            if not isinstance(item, CommentedMap) or set(item) != {"marker", "path"}:
                raise self.fail(line, shape)
            marker, path = item["marker"], item["path"]
            marker_line = self.key_line(item, "marker")
            if not isinstance(marker, str) or "/" in marker or "**" in marker:
                raise self.fail(
                    marker_line, "'exclude_beside' marker is one file name glob, no '/'"
                )
            self.glob(marker, marker_line, "'exclude_beside' marker")
            self.glob(path, self.key_line(item, "path"), "'exclude_beside' path")
            out.append(Beside(marker, path, compile_glob(path)))
        return tuple(out)

    def yaml_signal(self, body: Any, line: int | None) -> YamlSignal:
        if not isinstance(body, CommentedMap):
            raise self.fail(line, "'yaml' takes a mapping: {in: GLOB, key: a.b | kind: K}")
        self.allowed_keys(
            body,
            {"in", "key", "kind", "apiVersion", "matches", "contains", "exclude", "exclude_beside"},
            line,
        )
        if "in" not in body:
            raise self.fail(line, "'yaml' needs 'in: GLOB' naming the files to parse")
        keys_raw = body.get("key", [])
        keys_list = [keys_raw] if isinstance(keys_raw, str) else keys_raw
        if not isinstance(keys_list, list) or not all(isinstance(k, str) for k in keys_list):
            raise self.fail(line, "'key' must be a dotted key path or a list of them")
        keys = tuple(split_key_path(k) for k in keys_list)
        kinds_raw = body.get("kind", [])
        kinds_list = [kinds_raw] if isinstance(kinds_raw, str) else kinds_raw
        if not isinstance(kinds_list, list) or not all(isinstance(k, str) for k in kinds_list):
            raise self.fail(line, "'kind' must be a Kubernetes kind or a list of kinds")
        api = body.get("apiVersion")
        api_rx = _name_regex(api) if isinstance(api, str) else None
        if api is not None and api_rx is None:
            raise self.fail(line, "'apiVersion' must be a glob string like 'bitnami.com/*'")
        if not keys and not kinds_list and api_rx is None:
            raise self.fail(line, "'yaml' needs at least one of key, kind, apiVersion")
        matches = self.regex(body["matches"], line) if "matches" in body else None
        contains = self.regex(body["contains"], line) if "contains" in body else None
        if matches is not None and not keys:
            raise self.fail(line, "'matches' applies to the first 'key'; add a key")
        return YamlSignal(
            glob=self.glob(body["in"], self.key_line(body, "in"), "'in'"),
            keys=keys,
            kinds=frozenset(kinds_list),
            api_version=api_rx,
            matches=matches,
            contains=contains,
            exclude=self.excludes(body, line),
            api_glob=api if isinstance(api, str) else "",
        )


def _name_regex(glob: str) -> re.Pattern[str]:
    """A name glob (dependency, image, action, apiVersion) as a regex. No time budget needed:
    since Python 3.9 `fnmatch.translate` emulates atomic groups between stars (bpo-40480), so
    these cannot backtrack catastrophically, unlike a rule's own regexes."""
    return re.compile(fnmatch.translate(glob))


def _to_plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    return node


def load_rule_file(path: Path, expected_category: str | None = None) -> tuple[Rule, Any]:
    """Load one rule file; returns the rule and its plain data (for the digest)."""
    shown = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(shown, None, f"cannot read rule file: {exc}") from None
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(raw)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(shown, line, f"invalid YAML: {problem}") from None
    rule = _Loader(shown).rule(data, expected_category)
    return rule, _to_plain(data)


def rule_files(directory: Path) -> list[tuple[Path, str | None]]:
    """`<category>/<id>.yaml` files of a rules folder, or `<id>.yaml` directly inside it."""
    found: list[tuple[Path, str | None]] = []
    for path in sorted(directory.rglob("*.y*ml")):
        if path.suffix not in (".yaml", ".yml"):
            continue
        relative = path.relative_to(directory)
        category = relative.parts[0] if len(relative.parts) == 2 else None
        if len(relative.parts) > 2:
            continue
        found.append((path, category))
    return found


def load_ruleset(extra_dirs: Sequence[Path] = (), include_builtin: bool = True) -> Ruleset:
    """Load the shipped rules plus user folders; the first invalid file stops with RuleError."""
    dirs = ([BUILTIN_RULES_DIR] if include_builtin else []) + list(extra_dirs)
    rules: list[Rule] = []
    plain: list[Any] = []
    seen: dict[str, str] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise RuleError(str(directory), None, "rules folder does not exist")
        for path, category in rule_files(directory):
            rule, data = load_rule_file(path, category)
            for name in (rule.id, *rule.aliases):
                if name in seen:
                    raise RuleError(
                        str(path), 1, f"rule id or alias {name!r} is already used by {seen[name]}"
                    )
                seen[name] = str(path)
            rules.append(rule)
            plain.append(data)
    dims: dict[str, str] = {}
    for rule in rules:
        if rule.dimension in dims:
            raise RuleError(
                rule.source,
                1,
                f"dimension {rule.dimension!r} is already detected by {dims[rule.dimension]}",
            )
        dims[rule.dimension] = rule.id
    order = sorted(range(len(rules)), key=lambda i: rules[i].id)
    digest_src = json.dumps(
        {"engine": ENGINE_VERSION, "rules": [plain[i] for i in order]}, sort_keys=True, default=str
    )
    digest = hashlib.sha256(digest_src.encode()).hexdigest()[:16]
    return Ruleset(tuple(rules[i] for i in order), digest)
