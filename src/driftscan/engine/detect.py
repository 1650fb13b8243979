"""Detection: one repository's listing + the compiled ruleset -> facts with evidence.

The listing is matched once against the union of every glob the rules (and the fixed
extractors) need; only matched files are read, each read and parsed at most once.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import regex

from driftscan.engine import credentials, extract, infra, manifests
from driftscan.engine.codeowners import CODEOWNERS_PATHS, parse_owners
from driftscan.engine.paths import PathMatcher, is_active_path
from driftscan.engine.rules import (
    REGEX_TIMEOUT,
    ActionSignal,
    AllOf,
    AnyOf,
    Beside,
    Condition,
    ContentSignal,
    CredentialSignal,
    DependencySignal,
    EnvSignal,
    Excludes,
    FileSignal,
    ImageSignal,
    MetaSignal,
    Not,
    Rule,
    RuleRegex,
    Ruleset,
    YamlSignal,
    walk_signals,
)
from driftscan.engine.yamldoc import Document, Node, find_path, parse_documents
from driftscan.models import (
    Evidence,
    Fact,
    FileEntry,
    Listing,
    Problem,
    ReadError,
    RepoMeta,
    RepoResult,
    RepoSource,
    RepoStatus,
    Unanswered,
    VersionUse,
)

DEFAULT_MAX_FILE_SIZE = 1 << 20
MAX_EVIDENCE_PER_FACT = 20

# Files the fixed extractors read, whatever the rules say.
YAML_GLOB = "**/*.{yml,yaml}"
IMAGE_GLOBS = (
    YAML_GLOB,
    "**/{.env,.env.*,*.env}",
    "**/*.{nomad,hcl,tf,tofu}",
    "**/*.{json,json.tpl,json.tftpl,json.j2,tftpl}",
    "**/{Dockerfile,Containerfile,dockerfile,containerfile}{,.*}",
    "**/*.{Dockerfile,dockerfile,Containerfile}",
)
ACTION_GLOBS = (".github/workflows/*.{yml,yaml}", "**/action.{yml,yaml}")
ENV_GLOBS = (
    YAML_GLOB,
    "**/{Dockerfile,Containerfile}{,.*}",
    "**/{.env,env}.{example,sample,template,dist,tmpl,defaults}",
    "**/*.env.{example,sample,template,dist}",
    "**/{Jenkinsfile{,.*,-*,_*},.drone.star,.cirrus.star}",
)


# Files the duplicated-effort analysis looks at (see engine/infra.py), whatever the rules say.
INFRA_GLOBS = (
    ".github/workflows/*.{yml,yaml}",
    "**/{Dockerfile,Containerfile,dockerfile}{,.*,-*}",
    "**/*.{Dockerfile,dockerfile}",
    "**/{docker-compose,compose}*.{yml,yaml}",
    "**/{Jenkinsfile,*.jenkinsfile}{,.*,-*,_*}",
    ".gitlab-ci.yml",
    "**/deploy{,[-_.]*}",
    "**/templates/*.{yaml,yml,tpl}",
    "**/*.{tf,tofu}",
    "**/Chart.yaml",
)


@dataclass(frozen=True)
class DetectOptions:
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    # Keys the fingerprints of found credentials; one salt per installation or org keeps
    # fingerprints comparable across repositories and scans without being reversible.
    fingerprint_salt: bytes = b"driftscan"
    # Versions and infra files feed `report effort`; a per-change check does not need them.
    effort: bool = True


@dataclass(frozen=True)
class CompiledRuleset:
    """A ruleset plus the one path matcher built from every glob it needs."""

    ruleset: Ruleset
    matcher: PathMatcher
    needs: frozenset[str]  # which fixed extractors the rules use

    @classmethod
    def compile(cls, ruleset: Ruleset) -> CompiledRuleset:
        globs: list[str] = []
        needs: set[str] = set()
        for rule in ruleset.rules:
            for _value, condition in rule.detect:
                for signal in walk_signals(condition):
                    if isinstance(
                        signal, (FileSignal, ContentSignal, YamlSignal, CredentialSignal)
                    ):
                        globs.append(signal.glob)
                        globs.extend(b.marker_glob for b in signal.exclude.beside)
                    elif isinstance(signal, DependencySignal):
                        needs.add("dependency")
                    elif isinstance(signal, ImageSignal):
                        needs.add("image")
                    elif isinstance(signal, ActionSignal):
                        needs.add("action")
                    elif isinstance(signal, EnvSignal):
                        needs.add("env")
        fixed = {
            "dependency": manifests.MANIFEST_GLOBS,
            "image": IMAGE_GLOBS,
            "action": ACTION_GLOBS,
            "env": ENV_GLOBS,
        }
        for need in sorted(needs):
            globs.extend(fixed[need])
        globs.extend(CODEOWNERS_PATHS)
        globs.extend(INFRA_GLOBS)
        return cls(ruleset, PathMatcher.build(globs), frozenset(needs))


T = TypeVar("T")


class RepoContext:
    """Lazy, cached access to one repository's matched files. Records every problem once."""

    def __init__(
        self,
        matched: Mapping[str, tuple[str, ...]],
        sizes: Mapping[str, int | None],
        read: Callable[[str], bytes],
        meta: RepoMeta,
        max_file_size: int,
        fingerprint_salt: bytes = b"driftscan",
        prefetch: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.fingerprint_salt = fingerprint_salt
        self.matched = matched
        self.sizes = sizes
        self._read = read
        self._prefetch = prefetch
        self.meta = meta
        self.max_file_size = max_file_size
        self.problems: dict[str, Problem] = {}
        self.unanswered = False  # a read got no answer: the repository was not fully seen
        self._text: dict[str, str | None] = {}
        self._active: dict[str, str | None] = {}
        self._docs: dict[str, list[Document]] = {}
        self._cache: dict[str, object] = {}
        self._markers: dict[str, frozenset[str]] = {}

    def paths(self, glob: str) -> tuple[str, ...]:
        return self.matched.get(glob, ())

    def marker_dirs(self, beside: Beside) -> frozenset[str]:
        """Folders holding a marker file of `exclude_beside` (`""` is the root)."""
        dirs = self._markers.get(beside.marker_glob)
        if dirs is None:
            dirs = frozenset(p.rpartition("/")[0] for p in self.paths(beside.marker_glob))
            self._markers[beside.marker_glob] = dirs
        return dirs

    def kept(self, exclude: Excludes, paths: Sequence[str]) -> list[str]:
        """`paths` without those a signal's `exclude` / `exclude_beside` leaves out."""
        return [
            p
            for p in paths
            if exclude.keeps(p)
            and (not exclude.beside or exclude.keeps_beside(p, self.marker_dirs))
        ]

    def paths_any(self, globs: tuple[str, ...]) -> Sequence[str]:
        return self.reading(list(dict.fromkeys(p for g in globs for p in self.paths(g))))

    def reading(self, paths: Sequence[str]) -> Sequence[str]:
        """Announce that these files are about to be read, so a source can fetch the ones not
        yet loaded in one batch (a pipelined `cat-file`, one API call) instead of one by one."""
        if self._prefetch is not None:
            todo = [p for p in paths if p not in self._text]
            if len(todo) > 1:
                # On failure each file's own read records the precise problem.
                with contextlib.suppress(ReadError):
                    self._prefetch(todo)
        return paths

    def _problem(self, path: str, reason: str) -> None:
        self.problems.setdefault(path, Problem(path, reason))

    def text(self, path: str) -> str | None:
        if path in self._text:
            return self._text[path]
        self._text[path] = text = self._load(path)
        return text

    def _load(self, path: str) -> str | None:
        size = self.sizes.get(path)
        if size is not None and size > self.max_file_size:
            self._problem(path, f"skipped: {size} bytes exceeds the {self.max_file_size}-byte cap")
            return None
        try:
            data = self._read(path)
        except Unanswered as exc:
            self.unanswered = True
            self._problem(path, f"not read (no answer): {exc}")
            return None
        except ReadError as exc:
            self._problem(path, f"not read: {exc}")
            return None
        if len(data) > self.max_file_size:
            self._problem(
                path, f"skipped: {len(data)} bytes exceeds the {self.max_file_size}-byte cap"
            )
            return None
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            # Windows tools write UTF-16 with a byte-order mark: text, though full of NULs
            try:
                return data.decode("utf-16")
            except UnicodeDecodeError as exc:
                self._problem(path, f"not valid UTF-16 at byte {exc.start}; not read")
                return None
        if b"\0" in data[:8192]:
            self._problem(path, "skipped: binary file (NUL byte)")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self._problem(
                path, f"not valid UTF-8 at byte {exc.start}; read with replacement characters"
            )
            return data.decode("utf-8", errors="replace")

    def active(self, path: str) -> str | None:
        if path not in self._active:
            text = self.text(path)
            self._active[path] = None if text is None else extract.active_text(path, text)
        return self._active[path]

    def docs(self, path: str) -> list[Document]:
        if path not in self._docs:
            text = self.text(path)
            self._docs[path] = [] if text is None else parse_documents(text)
        return self._docs[path]

    def cached(self, key: str, build: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]  # type: ignore[return-value]

    def dependencies(self) -> list[tuple[manifests.Dependency, str]]:
        def build() -> list[tuple[manifests.Dependency, str]]:
            self.paths_any(manifests.MANIFEST_GLOBS)  # announced: fetched in one batch
            return manifests.collect(self.paths, self.text)

        return self.cached("dependency", build)

    def images(self) -> list[tuple[extract.ImageRef, str]]:
        def build() -> list[tuple[extract.ImageRef, str]]:
            out = []
            for path in self.paths_any(IMAGE_GLOBS):
                text = self.active(path)
                if text is not None and (
                    "image" in text.lower() or "FROM" in text.upper() or "docker://" in text
                ):  # `uses: docker://owner/image` names an image without the word
                    out += [(ref, path) for ref in extract.images(path, text)]
            return out

        return self.cached("image", build)

    def actions(self) -> list[tuple[extract.ActionRef, str]]:
        def build() -> list[tuple[extract.ActionRef, str]]:
            out = []
            for path in self.paths_any(ACTION_GLOBS):
                text = self.active(path)
                if text is not None:
                    out += [(ref, path) for ref in extract.actions(text)]
            return out

        return self.cached("action", build)

    def env(self) -> list[tuple[str, int, str]]:
        def build() -> list[tuple[str, int, str]]:
            out = []
            for path in self.paths_any(ENV_GLOBS):
                text = self.active(path)
                if text is not None:
                    out += [(name, line, path) for name, line in extract.env_names(text)]
            return out

        return self.cached("env", build)


Found = tuple[Evidence, ...] | None  # None: condition not met; a tuple: met, with evidence

# After this many timeouts in one repository a rule regex is not run on its other files (each
# gets a recorded problem instead): a hostile repository of many files that make one user
# pattern backtrack costs seconds, not hours.
REGEX_STRIKES = 3


class BudgetedRegex:
    """One rule regex on one file. Its searches share the file's budget (REGEX_TIMEOUT); when
    the budget runs out the file gets a recorded problem, the search counts as no match, and
    detection goes on with the next file and rule."""

    def __init__(self, rule_regex: RuleRegex, path: str, ctx: RepoContext) -> None:
        self.rule_regex = rule_regex
        self.path = path
        self.ctx = ctx
        self.deadline = time.monotonic() + REGEX_TIMEOUT
        self.gave_up = False

    def search(self, text: str) -> regex.Match[str] | None:
        if self.gave_up:
            return None
        strikes: dict[tuple[str, str], int] = self.ctx.cached("regex-strikes", dict)
        key = (self.rule_regex.rule, self.rule_regex.pattern)
        if strikes.get(key, 0) >= REGEX_STRIKES:
            self._give_up(
                f"rule {key[0]} regex not run on {self.path}: it timed out on "
                f"{REGEX_STRIKES} files of this repository"
            )
            return None
        try:
            # At least a sliver: a budget spent on earlier scalars of the file still answers
            # quick searches, and a slow one raises at once.
            return self.rule_regex.search(text, max(self.deadline - time.monotonic(), 0.001))
        except TimeoutError:
            strikes[key] = strikes.get(key, 0) + 1
            self._give_up(f"rule {key[0]} regex timed out after {REGEX_TIMEOUT:g} s on {self.path}")
            return None

    def _give_up(self, reason: str) -> None:
        self.gave_up = True
        # Keyed by reason too: the file may already carry another problem (e.g. not UTF-8).
        self.ctx.problems.setdefault(f"{self.path}\n{reason}", Problem(self.path, reason))


def evaluate(condition: Condition, ctx: RepoContext) -> Found:
    if isinstance(condition, AnyOf):
        evidence: list[Evidence] = []
        met = False
        for child in condition.children:
            found = evaluate(child, ctx)
            if found is not None:
                met = True
                evidence.extend(found)
        return tuple(evidence) if met else None
    if isinstance(condition, AllOf):
        evidence = []
        for child in condition.children:
            found = evaluate(child, ctx)
            if found is None:
                return None
            evidence.extend(found)
        return tuple(evidence)
    if isinstance(condition, Not):
        return None if evaluate(condition.child, ctx) is not None else ()
    evidence = _signal(condition, ctx)
    return tuple(evidence) if evidence else None


def _signal(signal: Condition, ctx: RepoContext) -> list[Evidence]:
    if isinstance(signal, FileSignal):
        # The file itself is the proof; line 1 gives every consumer (SARIF, editors) a place.
        return [
            Evidence(p, 1, signal.describe())
            for p in ctx.kept(signal.exclude, ctx.paths(signal.glob))
        ]
    if isinstance(signal, ContentSignal):
        out = []
        for path in ctx.reading(ctx.kept(signal.exclude, ctx.paths(signal.glob))):
            text = ctx.active(path)
            m = BudgetedRegex(signal.regex, path, ctx).search(text) if text is not None else None
            if m is not None and text is not None:
                out.append(Evidence(path, extract.line_at(text, m.start()), signal.describe()))
        return out
    if isinstance(signal, YamlSignal):
        return _yaml(signal, ctx)
    if isinstance(signal, DependencySignal):
        return [
            Evidence(path, dep.line, signal.describe())
            for dep, path in ctx.dependencies()
            if (signal.ecosystem is None or signal.ecosystem == dep.ecosystem)
            and signal.regex.match(dep.name)
        ]
    if isinstance(signal, ImageSignal):
        return [
            Evidence(path, ref.line, signal.describe())
            for ref, path in ctx.images()
            if signal.regex.match(ref.name) or signal.regex.match(ref.name.split("/", 1)[-1])
        ]
    if isinstance(signal, ActionSignal):
        return [
            Evidence(path, ref.line, signal.describe())
            for ref, path in ctx.actions()
            if signal.regex.match(ref.name)
        ]
    if isinstance(signal, EnvSignal):
        return [
            Evidence(path, line, signal.describe())
            for name, line, path in ctx.env()
            if name.startswith(signal.prefix)
        ]
    if isinstance(signal, CredentialSignal):
        return _credentials(signal, ctx)
    if isinstance(signal, MetaSignal):
        return _meta(signal, ctx.meta)
    raise TypeError(f"not a signal: {signal!r}")  # pragma: no cover - rules.py builds only these


def _yaml(signal: YamlSignal, ctx: RepoContext) -> list[Evidence]:
    out = []
    kind_rx = _kind_regex(signal.kinds)
    for path in ctx.reading(ctx.kept(signal.exclude, ctx.paths(signal.glob))):
        text = ctx.text(path)
        if text is None:
            continue
        # Cheap text pre-filters: most YAML files cannot match, so most are never parsed.
        if kind_rx is not None and kind_rx.search(text) is None:
            continue
        if signal.keys and signal.keys[0][-1] not in ("*", "**") and signal.keys[0][-1] not in text:
            continue
        if (
            signal.contains is not None
            and BudgetedRegex(signal.contains, path, ctx).search(text) is None
        ):
            continue
        matches = None if signal.matches is None else BudgetedRegex(signal.matches, path, ctx)
        for doc in ctx.docs(path):
            line = _yaml_doc_line(signal, doc, matches)
            if line is not None:
                out.append(Evidence(path, line, signal.describe()))
    return out


@functools.cache
def _kind_regex(kinds: frozenset[str]) -> re.Pattern[str] | None:
    """`kind: X` as text: a file without it cannot hold such a resource (and is not parsed)."""
    if not kinds:
        return None
    names = "|".join(re.escape(k) for k in sorted(kinds))
    return re.compile(rf"""^[ \t-]*["']?kind["']?[ \t]*:[ \t]*["']?(?:{names})\b""", re.M)


def _yaml_doc_line(signal: YamlSignal, doc: Document, matches: BudgetedRegex | None) -> int | None:
    root = doc.root
    if not root.is_mapping:
        # A top-level list (Ansible playbooks, some CI files) can answer key questions only.
        if signal.kinds or signal.api_version is not None or not root.items:
            return None
    elif root.scalar("kind") == "CustomResourceDefinition" and (
        "CustomResourceDefinition" not in signal.kinds
    ):
        return None  # a CRD is a schema: its field names describe config, they are not config
    line = root.line
    if signal.kinds:
        kind = root.get("kind")
        if kind is None or kind.text not in signal.kinds:
            return None
        line = kind.line
    if signal.api_version is not None:
        api = root.scalar("apiVersion")
        if api is None or signal.api_version.match(api) is None:
            return None
    for index, key in enumerate(signal.keys):
        nodes = find_path(root, key)
        if index == 0 and matches is not None:
            nodes = [n for n in nodes if _scalar_matches(n, matches)]
        if not nodes:
            return None
        if index == 0:
            line = nodes[0].line
    return line


def _scalar_matches(node: Node, matches: BudgetedRegex) -> bool:
    return node.text is not None and matches.search(node.text) is not None


def _credentials(signal: CredentialSignal, ctx: RepoContext) -> list[Evidence]:
    """Type, line and fingerprint only: the value never leaves the credentials module.
    Raw text on purpose: a commented-out key is still a leaked key."""
    out = []
    for path in ctx.reading(ctx.kept(signal.exclude, ctx.paths(signal.glob))):
        text = ctx.text(path)
        if text is None:
            continue
        for found in credentials.file_credentials(path, text, ctx.fingerprint_salt):
            out.append(Evidence(path, found.line, found.detail))
    return out


def _meta(signal: MetaSignal, meta: RepoMeta) -> list[Evidence]:
    values: dict[str, object] = {
        "archived": meta.archived,
        "fork": meta.fork,
        "visibility": meta.visibility,
        "default_branch": meta.default_branch,
    }
    met = (
        signal.value in meta.topics
        if signal.key == "topic"
        else values.get(signal.key) == signal.value
    )
    return [Evidence("(metadata)", None, signal.describe())] if met else []


def _tidy(evidence: tuple[Evidence, ...]) -> tuple[Evidence, ...]:
    unique = dict.fromkeys(evidence)
    ordered = sorted(unique, key=lambda e: (e.path, e.line or 0, e.signal))
    return tuple(ordered[:MAX_EVIDENCE_PER_FACT])


def detect_facts(rules: tuple[Rule, ...], ctx: RepoContext) -> tuple[Fact, ...]:
    facts = []
    for rule in rules:
        for value, condition in rule.detect:
            found = evaluate(condition, ctx)
            if found:
                facts.append(Fact(rule.category, rule.dimension, value, _tidy(found)))
    return tuple(facts)


def detect_repo(
    compiled: CompiledRuleset, source: RepoSource, options: DetectOptions | None = None
) -> RepoResult:
    """Detect every rule's values in one repository. Listing failures become an error result;
    file-level failures become recorded problems and detection goes on."""
    options = options or DetectOptions()
    try:
        meta = source.meta()
        listing = source.list_files()
    except ReadError as exc:
        return RepoResult(
            source.name,
            source.location,
            RepoMeta(),
            RepoStatus.ERROR,
            error=str(exc),
            unanswered=isinstance(exc, Unanswered),
        )
    if not listing.files:
        return RepoResult(
            source.name,
            source.location,
            meta,
            RepoStatus.EMPTY,
            problems=listing.problems,
            complete=listing.complete,
        )
    # CODEOWNERS counts wherever the forges read it (docs/ included), unlike configuration.
    active: list[FileEntry] = [
        f for f in listing.files if is_active_path(f.path) or f.path in CODEOWNERS_PATHS
    ]
    matched = compiled.matcher.match([f.path for f in active])
    sizes = {f.path: f.size for f in active}
    ctx = RepoContext(
        matched,
        sizes,
        source.read,
        meta,
        options.max_file_size,
        options.fingerprint_salt,
        source.prefetch,
    )
    facts = detect_facts(compiled.ruleset.rules, ctx)
    owners = _owners(ctx)
    versions = _versions(ctx) if options.effort else ()
    infra_files = (
        infra.infra_files(ctx.reading(ctx.paths_any(INFRA_GLOBS)), ctx.text, source.name)
        if options.effort
        else ()
    )
    return RepoResult(
        source.name,
        source.location,
        meta,
        RepoStatus.OK,
        facts=facts,
        problems=listing.problems + tuple(ctx.problems.values()),
        # after every read: a read that got no answer anywhere leaves the repository unseen
        complete=listing.complete and not ctx.unanswered,
        unanswered=ctx.unanswered,
        owners=owners,
        versions=versions,
        infra=infra_files,
    )


def _versions(ctx: RepoContext) -> tuple[VersionUse, ...]:
    out = [
        VersionUse("action", ref.name, ref.ref or "(default branch)", path, ref.line)
        for ref, path in ctx.actions()
    ]
    out += [
        VersionUse("base-image", ref.name, ref.tag or "latest", path, ref.line)
        for ref, path in ctx.images()
        if extract.is_dockerfile(path)
    ]
    for path in ctx.paths_any(("**/*.{tf,tofu}",)):
        text = ctx.text(path)
        if text is not None and ("required_version" in text or "required_providers" in text):
            out += infra.terraform_versions(path, text)
    for path in ctx.paths("**/Chart.yaml"):
        if infra.is_chart_file(path):
            out += infra.helm_versions(path, ctx.docs(path))
    for path in ctx.paths_any((".github/workflows/*.{yml,yaml}",)):
        text = ctx.text(path)
        if text is not None and "setup-" in text:
            out += infra.runtime_versions(path, ctx.docs(path))
    return tuple(dict.fromkeys(out))


def _owners(ctx: RepoContext) -> tuple[str, ...]:
    for path in CODEOWNERS_PATHS:
        if ctx.paths(path):
            text = ctx.text(path)
            return parse_owners(text) if text is not None else ()
    return ()


def matched_paths(compiled: CompiledRuleset, listing: Listing) -> list[str]:
    """Every active path some rule may read, for sources that fetch files in bulk."""
    active = [f.path for f in listing.files if is_active_path(f.path)]
    return sorted({p for paths in compiled.matcher.match(active).values() for p in paths})
