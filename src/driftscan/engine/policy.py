"""The organisation's golden path: policy file, norms and findings.

A policy file (`driftscan.yaml` or `--policy FILE`) declares per dimension what is preferred,
allowed, forbidden or required, scoped by repository glob, topic or owner, with waivers that
carry a reason and an expiry date. Without a policy for a dimension, the norm is its dominant
value when that value's share reaches the threshold; below it there is "no norm", reported as
such and never guessed. Every finding has a fingerprint without line numbers, so the same drift
is recognised across scans, baselines and pull requests.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from driftscan.engine.analyse import Divergence
from driftscan.engine.detect import MAX_EVIDENCE_PER_FACT
from driftscan.engine.rules import Rule
from driftscan.models import Evidence, Finding, Outcome, RepoResult, RepoStatus


class PolicyError(ValueError):
    """An invalid policy file: `str()` is `path:line: reason`."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")


@dataclass(frozen=True)
class Scope:
    repos: tuple[str, ...] = ()  # globs on the repository name; empty: every repository
    exclude: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()

    def covers(self, repo: RepoResult, owners: Sequence[str]) -> bool:
        def matches(globs: Sequence[str]) -> bool:
            return any(name_matches(repo.name, g) for g in globs)

        if self.repos and not matches(self.repos):
            return False
        if self.exclude and matches(self.exclude):
            return False
        if self.topics and not set(self.topics) & set(repo.meta.topics):
            return False
        return not self.owners or bool(
            {o.lower() for o in self.owners} & {o.lower() for o in owners}
        )


@dataclass(frozen=True)
class DimensionPolicy:
    dimension: str
    preferred: str | None = None
    allowed: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    required: bool = False
    scope: Scope = field(default_factory=Scope)


@dataclass(frozen=True)
class Waiver:
    repo: str  # glob
    dimension: str
    value: str | None
    reason: str
    expires: date | None

    def applies(self, repo: RepoResult, dimension: str, value: str | None, today: date) -> bool:
        return (
            self.dimension == dimension
            and name_matches(repo.name, self.repo)
            and (self.value is None or self.value == value)
            and (self.expires is None or today <= self.expires)
        )


@dataclass(frozen=True)
class Goal:
    """A dated target for one value, e.g. ci.system github-actions >= 90% by 2027-06-30."""

    dimension: str
    value: str
    at_least: bool  # ">=" (grow towards the target) or "<=" (shrink towards it)
    amount: float  # a share in [0, 1] when `share`, else a number of repositories
    share: bool
    by: date | None  # None: a target the policy implies (see `policy_targets`), no date

    @property
    def text(self) -> str:
        amount = f"{self.amount:.0%}" if self.share else f"{self.amount:g} repos"
        return f"{self.dimension} {self.value} {'>=' if self.at_least else '<='} {amount}"

    @property
    def by_text(self) -> str:
        return self.by.isoformat() if self.by else "—"


@dataclass(frozen=True)
class Policy:
    source: str = ""
    min_share: float | None = None  # overrides each rule's own norm threshold
    dimensions: tuple[DimensionPolicy, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    owners: tuple[tuple[str, str], ...] = ()  # repository glob -> team
    goals: tuple[Goal, ...] = ()

    def for_dimension(self, dimension: str) -> DimensionPolicy | None:
        return next((d for d in self.dimensions if d.dimension == dimension), None)

    def with_waivers(self, waivers: Sequence[Waiver]) -> Policy:
        return replace(self, waivers=self.waivers + tuple(waivers))

    def owners_of(self, repo: RepoResult) -> tuple[str, ...]:
        """CODEOWNERS first; the policy's owners map where a repository has none."""
        return owners_of(repo.name, repo.owners, self.owners)


def owners_of(
    name: str, codeowners: Sequence[str], owner_map: Sequence[tuple[str, str]]
) -> tuple[str, ...]:
    """A repository's teams: its CODEOWNERS, else the owners map's teams whose glob matches
    its full or bare name."""
    if codeowners:
        return tuple(codeowners)
    return tuple(team for glob, team in owner_map if name_matches(name, glob))


def name_matches(name: str, glob: str) -> bool:
    """A repository glob matches the full name (org/repo) or the bare one (repo)."""
    bare = name.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(bare, glob)


def policy_targets(policy: Policy) -> tuple[Goal, ...]:
    """What the policy's rules imply, as undated goals: each forbidden value down to 0
    repositories, the preferred value up to every repository. Trends show how long the org
    takes to converge on them at its current pace. Dimensions scoped to some repositories
    are left out (an org-wide count cannot measure them), and so is any value an explicit
    goal already covers."""
    explicit = {(g.dimension, g.value) for g in policy.goals}
    targets: list[Goal] = []
    for dim in policy.dimensions:
        if dim.scope != Scope():
            continue
        targets += [Goal(dim.dimension, v, False, 0.0, False, None) for v in dim.forbidden]
        if dim.preferred:
            targets.append(Goal(dim.dimension, dim.preferred, True, 1.0, True, None))
    return tuple(t for t in targets if (t.dimension, t.value) not in explicit)


# -- loading --------------------------------------------------------------------------------

_TOP = {"version", "norms", "owners", "dimensions", "waivers", "goals"}
_GOAL_KEYS = {"dimension", "value", "target", "by"}
_TARGET = re.compile(r"^\s*(>=|<=)\s*(\d+(?:\.\d+)?)\s*(%|repos?)?\s*$")
_DIMENSION_KEYS = {"preferred", "allowed", "forbidden", "required", "scope"}
_SCOPE_KEYS = {"repos", "exclude", "topics", "owners"}
_WAIVER_KEYS = {"repo", "dimension", "value", "reason", "expires"}


def _line(node: Any, key: Any = None) -> int | None:
    try:
        if key is not None:
            return int(node.lc.key(key)[0]) + 1
        return int(node.lc.line) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def load_policy(path: Path, rules: Sequence[Rule], repo_file: bool = False) -> Policy:
    """Parse and validate a policy file against the loaded rules; errors name file and line.
    A repository's own `.driftscan.yaml` (`repo_file`) may carry waivers only, and a waiver
    there without `repo` covers that repository."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(shown, None, f"cannot read policy file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise PolicyError(
            shown,
            line,
            f"not a UTF-8 text file (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
        ) from None
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyError(
            shown,
            mark.line + 1 if mark else None,
            "invalid YAML: " + " ".join(str(getattr(exc, "problem", None) or exc).split()),
        ) from None
    except ValueError as exc:  # the YAML loader builds dates itself: 2027-13-45 ends here
        raise _bad_date(shown, text, exc) from None
    if data is None:
        return Policy(source=shown)
    if not isinstance(data, CommentedMap):
        raise PolicyError(
            shown, 1, "a policy file is a mapping (version, norms, owners, dimensions, waivers)"
        )

    def fail(node: Any, key: Any, reason: str) -> PolicyError:
        return PolicyError(shown, _line(node, key), reason)

    allowed_top = {"version", "waivers"} if repo_file else _TOP
    for key in data:
        if repo_file and key in _TOP and key not in allowed_top:
            raise fail(
                data, key, f"a repository's .driftscan.yaml carries waivers only, not {key!r}"
            )
        if key not in allowed_top:
            raise fail(
                data, key, f"unknown key {key!r} (expected one of {', '.join(sorted(_TOP))})"
            )
    if data.get("version", 1) != 1:
        raise fail(data, "version", "only policy version 1 is understood")
    values = {r.dimension: set(r.values) for r in rules}
    min_share = None
    norms = data.get("norms") or CommentedMap()
    if not isinstance(norms, CommentedMap) or set(norms) - {"min_share"}:
        raise fail(data, "norms", "'norms' takes only min_share")
    if "min_share" in norms:
        min_share = norms["min_share"]
        if not isinstance(min_share, (int, float)) or not 0 < float(min_share) <= 1:
            raise fail(norms, "min_share", "min_share must be a number in (0, 1]")
        min_share = float(min_share)
    owners = data.get("owners") or CommentedMap()
    if not isinstance(owners, CommentedMap) or not all(isinstance(v, str) for v in owners.values()):
        raise fail(
            data,
            "owners",
            "'owners' maps repository globs to a team, e.g. 'payments-*': '@acme/payments'",
        )
    dimensions = []
    dims = data.get("dimensions") or CommentedMap()
    if not isinstance(dims, CommentedMap):
        raise fail(data, "dimensions", "'dimensions' maps dimension names to their policy")
    for name, spec in dims.items():
        if name not in values:
            raise fail(
                dims, name, f"unknown dimension {name!r}; known: {', '.join(sorted(values))}"
            )
        if not isinstance(spec, CommentedMap):
            raise fail(
                dims,
                name,
                "a dimension policy is a mapping (preferred, allowed, forbidden, required, scope)",
            )
        for key in spec:
            if key not in _DIMENSION_KEYS:
                raise fail(
                    spec,
                    key,
                    f"unknown key {key!r} (expected one of {', '.join(sorted(_DIMENSION_KEYS))})",
                )

        def ids(key: str, spec: CommentedMap = spec, name: str = name) -> tuple[str, ...]:
            raw = spec.get(key, [])
            items = [raw] if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise fail(spec, key, f"'{key}' takes a value id or a list of them")
            for item in items:
                if item not in values[name]:
                    raise fail(
                        spec,
                        key,
                        f"{item!r} is not a value of {name} (see `driftscan rules explain`)",
                    )
            return tuple(items)

        preferred = ids("preferred")
        if len(preferred) > 1:
            raise fail(spec, "preferred", "'preferred' takes one value id")
        allowed, forbidden = ids("allowed"), ids("forbidden")
        clash = set(allowed) & set(forbidden)
        if clash:
            raise fail(spec, "forbidden", f"{sorted(clash)} both allowed and forbidden")
        required = spec.get("required", False)
        if not isinstance(required, bool):
            raise fail(spec, "required", "'required' is true or false")
        dimensions.append(
            DimensionPolicy(
                name,
                preferred[0] if preferred else None,
                allowed,
                forbidden,
                required,
                _scope(spec, fail),
            )
        )
    waivers = []
    raw_waivers = data.get("waivers") or CommentedSeq()
    if not isinstance(raw_waivers, CommentedSeq):
        raise fail(data, "waivers", "'waivers' is a list")
    for item in raw_waivers:
        if not isinstance(item, CommentedMap):
            raise PolicyError(
                shown, _line(raw_waivers), "each waiver is a mapping with repo, dimension, reason"
            )
        for key in item:
            if key not in _WAIVER_KEYS:
                raise fail(item, key, f"unknown waiver key {key!r}")
        if repo_file:
            item.setdefault("repo", "*")
        for key in ("repo", "dimension", "reason"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise PolicyError(
                    shown, _line(item), f"a waiver needs '{key}' (a non-empty string)"
                )
        if item["dimension"] not in values:
            raise fail(item, "dimension", f"unknown dimension {item['dimension']!r}")
        expires = item.get("expires")
        if expires is not None and not isinstance(expires, date):
            raise fail(item, "expires", "'expires' is a date like 2027-03-31")
        waivers.append(
            Waiver(item["repo"], item["dimension"], item.get("value"), item["reason"], expires)
        )
    return Policy(
        shown,
        min_share,
        tuple(dimensions),
        tuple(waivers),
        tuple((str(k), str(v)) for k, v in owners.items()),
        _goals(data, values, fail),
    )


_DATE_LIKE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _bad_date(shown: str, text: str, exc: ValueError) -> PolicyError:
    """The line and text of the first date-shaped value that is no date (2027-13-45)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue  # a comment is never parsed
        for match in _DATE_LIKE.finditer(line):
            try:
                date(*(int(part) for part in match.groups()))
            except ValueError as reason:
                return PolicyError(
                    shown,
                    number,
                    f"{match.group(0)!r} is not a date ({reason}); dates are like 2027-03-31",
                )
    return PolicyError(shown, None, f"invalid value: {exc}")


def _goals(
    data: CommentedMap,
    values: dict[str, set[str]],
    fail: Callable[[Any, Any, str], PolicyError],
) -> tuple[Goal, ...]:
    raw = data.get("goals") or CommentedSeq()
    if not isinstance(raw, CommentedSeq):
        raise fail(data, "goals", "'goals' is a list")
    goals = []
    for item in raw:
        if not isinstance(item, CommentedMap):
            raise fail(data, "goals", "each goal is a mapping with dimension, value, target, by")
        for key in item:
            if key not in _GOAL_KEYS:
                raise fail(item, key, f"unknown goal key {key!r}")
        missing = sorted(_GOAL_KEYS - set(item))
        if missing:
            raise fail(item, None, f"a goal needs {', '.join(missing)}")
        dimension, value = item["dimension"], item["value"]
        if dimension not in values:
            raise fail(item, "dimension", f"unknown dimension {dimension!r}")
        if value not in values[dimension]:
            raise fail(item, "value", f"{value!r} is not a value of {dimension}")
        match = _TARGET.match(str(item["target"]))
        if match is None:
            raise fail(item, "target", "a target is like '>= 90%' or '<= 0 repos'")
        share = match.group(3) == "%"
        amount = float(match.group(2)) / 100 if share else float(match.group(2))
        if share and amount > 1:
            raise fail(item, "target", "a share target is at most 100%")
        if not isinstance(item["by"], date):
            raise fail(item, "by", "'by' is a date like 2027-06-30")
        goals.append(Goal(dimension, value, match.group(1) == ">=", amount, share, item["by"]))
    return tuple(goals)


def _scope(spec: CommentedMap, fail: Callable[[Any, Any, str], PolicyError]) -> Scope:
    node = spec.get("scope")
    if node is None:
        return Scope()
    if not isinstance(node, CommentedMap):
        raise fail(spec, "scope", "'scope' is a mapping: repos, exclude, topics, owners")
    parts: dict[str, tuple[str, ...]] = {}
    for key in node:
        if key not in _SCOPE_KEYS:
            raise fail(node, key, f"unknown scope key {key!r}")
        raw = node[key]
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise fail(node, key, f"scope '{key}' takes a string or a list of strings")
        parts[key] = tuple(items)
    return Scope(**parts)


# -- evaluation -----------------------------------------------------------------------------


# A credential's evidence text (credentials.Credential.detail) names the environment of a
# framework's development/test-only default: `credential KIND env:NAME fp:HEX`.
_DEV_DEFAULT = re.compile(r"^credential .+? env:(?P<env>\S+) fp:[0-9a-f]+$")


def dev_default_environments(
    evidence: Sequence[Evidence], limit: int = MAX_EVIDENCE_PER_FACT
) -> tuple[str, ...]:
    """The environments (sorted, unique) when every piece of evidence is a credential tagged
    as a development/test-only default; () when any is not (a real credential), when there is
    none, or when the list may have been cut at `limit` (what was cut could be real)."""
    if not evidence or len(evidence) >= limit:
        return ()
    found = [_DEV_DEFAULT.match(e.signal) for e in evidence]
    if not all(found):
        return ()
    return tuple(sorted({m.group("env") for m in found if m is not None}))


def fingerprint(dimension: str, kind: str, value: str, location: str) -> str:
    """Stable across scans and line moves: what drifts, how, and where (not on which line)."""
    return hashlib.sha256(f"{dimension}|{kind}|{value}|{location}".encode()).hexdigest()[:16]


def evaluate(
    rules: Sequence[Rule],
    repos: Sequence[RepoResult],
    divergences: Sequence[Divergence],
    policy: Policy | None = None,
    today: date | None = None,
) -> list[Finding]:
    """Findings per repository and dimension: policy where declared, the org norm elsewhere."""
    policy = policy or Policy()
    today = today or date.today()
    by_dimension = {d.dimension: d for d in divergences}
    out: list[Finding] = []
    for rule in rules:
        declared = policy.for_dimension(rule.dimension)
        norm = _norm(rule, by_dimension.get(rule.dimension), policy)
        for repo in repos:
            out += _repo_findings(rule, repo, declared, norm, policy, today)
    return out


def _norm(rule: Rule, div: Divergence | None, policy: Policy) -> str | None:
    threshold = policy.min_share if policy.min_share is not None else rule.policy.min_share
    if div is None or div.dominant is None or div.dominant_share < threshold:
        return None
    return div.dominant.value


def _repo_findings(
    rule: Rule,
    repo: RepoResult,
    declared: DimensionPolicy | None,
    norm: str | None,
    policy: Policy,
    today: date,
) -> list[Finding]:
    # A value seen only in credentials that are dev/test-only defaults: low, environments named.
    dev_only = {
        fact.value: envs
        for fact in repo.facts
        if fact.dimension == rule.dimension and (envs := dev_default_environments(fact.evidence))
    }

    def finding(outcome: Outcome, kind: str, value: str, severity: str, message: str) -> Finding:
        if outcome is Outcome.FAIL and value in dev_only:
            envs = ", ".join(dev_only[value])
            severity = "low"
            message += f" (only development/test defaults, environment: {envs})"
        waiver = next(
            (w for w in policy.waivers if w.applies(repo, rule.dimension, value or None, today)),
            None,
        )
        return Finding(
            rule_id=rule.id,
            dimension=rule.dimension,
            repo=repo.name,
            location=repo.location,
            value=value,
            outcome=outcome,
            kind=kind,
            severity=severity,
            message=message,
            remediation=rule.remediation.strip(),
            fingerprint=fingerprint(rule.dimension, kind, value, repo.location),
            waiver=waiver.reason if waiver is not None and outcome is Outcome.FAIL else None,
        )

    if repo.status is RepoStatus.ERROR:
        return [
            finding(
                Outcome.UNKNOWN,
                "unknown",
                "",
                "info",
                f"{repo.name} could not be scanned: {repo.error}",
            )
        ]
    values = set(repo.values(rule.dimension))
    if declared is not None:
        if not declared.scope.covers(repo, policy.owners_of(repo)):
            return [
                finding(
                    Outcome.NOT_APPLICABLE,
                    "out-of-scope",
                    "",
                    "info",
                    f"{repo.name} is outside the policy's scope",
                )
            ]
        found = []
        for value in sorted(values & set(declared.forbidden)):
            found.append(
                finding(
                    Outcome.FAIL,
                    "forbidden",
                    value,
                    "high",
                    f"{repo.name} uses {value}, which the policy forbids for {rule.dimension}",
                )
            )
        if declared.allowed:
            for value in sorted(values - set(declared.allowed) - set(declared.forbidden)):
                found.append(
                    finding(
                        Outcome.FAIL,
                        "not-allowed",
                        value,
                        "medium",
                        f"{repo.name} uses {value}; allowed for {rule.dimension}: "
                        + ", ".join(declared.allowed),
                    )
                )
        if declared.required and not values:
            found.append(
                finding(
                    Outcome.FAIL,
                    "missing",
                    "",
                    "medium",
                    f"{repo.name} has no {rule.dimension}, which the policy requires",
                )
            )
        if declared.preferred and values and declared.preferred not in values and not found:
            found.append(
                finding(
                    Outcome.FAIL,
                    "not-preferred",
                    ",".join(sorted(values)),
                    "low",
                    f"{repo.name} uses {', '.join(sorted(values))}; "
                    f"the preferred {rule.dimension} is {declared.preferred}",
                )
            )
        return found or [
            finding(
                Outcome.PASS,
                "policy",
                "",
                "info",
                f"{repo.name} follows the policy for {rule.dimension}",
            )
        ]
    if norm is None:
        return [
            finding(
                Outcome.NOT_APPLICABLE,
                "no-norm",
                "",
                "info",
                f"no norm for {rule.dimension}: no value is used widely enough",
            )
        ]
    if not values:
        return [
            finding(
                Outcome.NOT_APPLICABLE, "none", "", "info", f"{repo.name} has no {rule.dimension}"
            )
        ]
    # One finding per value off the norm: a pull request adding Datadog next to the org's
    # OpenTelemetry is new drift even though the norm is still used.
    found = (
        [finding(Outcome.PASS, "norm", norm, "info", f"{repo.name} follows the org norm {norm}")]
        if norm in values
        else []
    )
    also = " too" if norm in values else ""
    for value in sorted(values - {norm}):
        found.append(
            finding(
                Outcome.FAIL,
                "off-norm",
                value,
                "low",
                f"{repo.name} uses {value}{also} for {rule.dimension}; most of the org uses {norm}",
            )
        )
    return found
