"""What one repository contributes to the duplicated-effort analysis, taken while detecting:

- **versions**: the same tool at some version or configuration (GitHub action refs, Dockerfile
  base images, Terraform required_version and provider constraints, Helm chart apiVersion and
  dependencies, language runtimes set up in CI);
- **infra files**: workflows, Dockerfiles, compose files, Jenkinsfiles, GitLab CI, deploy
  scripts, Helm templates and Terraform, normalised (comments, blank lines, spacing and the
  repository's own name removed) with a MinHash signature, so copies can be clustered across
  thousands of repositories without comparing every pair. Credential values are replaced
  first (credentials.redact): the stored text, its hash and its MinHash never derive from one.

Pure: it reads through the detection context, which read each file at most once anyway.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from posixpath import basename, dirname

import numpy as np

from driftscan.engine import credentials, extract
from driftscan.engine.yamldoc import Document, find_path
from driftscan.models import InfraFile, VersionUse

NUM_PERM = 64
MINHASH_SCHEME = "affine32"  # stored signatures are uint32: say so when they are read back
SHINGLE = 1  # normalised lines per shingle: a set of lines survives small edits best
MAX_INFRA_FILES = 200  # per repository
MAX_INFRA_BYTES = 64 << 10  # per file: larger ones are generated, not hand-copied


def infra_kind(path: str) -> str | None:
    name = basename(path)
    lower = name.lower()
    if path.startswith(".github/workflows/") and lower.endswith((".yml", ".yaml")):
        return "github-workflow"
    if extract.is_dockerfile(path):
        return "dockerfile"
    if re.match(r"^(?:docker-)?compose[\w.-]*\.ya?ml$", lower):
        return "compose"
    if lower.startswith("jenkinsfile") or lower.endswith(".jenkinsfile"):
        return "jenkinsfile"
    if name == ".gitlab-ci.yml":
        return "gitlab-ci"
    if re.match(r"^deploy(?:[-_.][\w.-]*)?$", lower) and not lower.endswith(
        (".md", ".yml", ".yaml", ".json")
    ):
        return "deploy-script"
    if "/templates/" in f"/{path}" and lower.endswith((".yaml", ".yml", ".tpl")):
        return "helm-template"
    if lower.endswith((".tf", ".tofu")):
        return "terraform"
    return None


_SPACES = re.compile(r"[ \t]+")


def normalise(path: str, text: str, repo_name: str) -> list[str]:
    """Comment-free, blank-free lines with spacing folded and the repository's own name (in
    its usual spellings) replaced, so that copies differing only by repo name are identical."""
    active = extract.active_text(path, text)
    names = {repo_name.rsplit("/", 1)[-1]}
    names |= {n.replace("-", "_") for n in names} | {n.replace("-", "") for n in names}
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True) if len(n) > 2) or "(?!)"
    )
    lines = []
    for raw in active.split("\n"):
        line = _SPACES.sub(" ", raw.strip())
        if line:
            lines.append(pattern.sub("<repo>", line))
    return lines


_DIGITS = re.compile(r"\d+")


def signature(lines: list[str]) -> bytes:
    """MinHash of the lines with numbers folded: a copy that bumped a version or a port is
    still a copy (the version itself is reported as drift; the diff keeps the numbers)."""
    from datasketch import MinHash  # imported on first use: it brings scipy (~0.4 s)

    folded = [_DIGITS.sub("0", line) for line in lines]
    shingles = [
        "\n".join(folded[i : i + SHINGLE]) for i in range(max(1, len(folded) - SHINGLE + 1))
    ]
    minhash = MinHash(num_perm=NUM_PERM, scheme=MINHASH_SCHEME)
    minhash.update_batch([s.encode() for s in shingles])
    return np.asarray(minhash.hashvalues, dtype=np.uint32).tobytes()


# Units made of several files: a Helm chart is its templates, a Terraform module its .tf files.
_GROUPED = {"helm-template": "helm-chart", "terraform": "terraform-module"}


def _unit(kind: str, path: str) -> str:
    if kind == "helm-template":
        prefixed = f"/{path}"
        return prefixed[1 : prefixed.rfind("/templates/")] or "."
    return dirname(path) or "."


def infra_files(
    paths: Iterable[str], text_of: Callable[[str], str | None], repo_name: str
) -> tuple[InfraFile, ...]:
    """The repository's infra units, normalised: single files, and Helm charts and Terraform
    modules as one unit each (their files concatenated in name order)."""
    singles: list[tuple[str, str, list[str]]] = []
    grouped: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    for path in paths:
        kind = infra_kind(path)
        if kind is None:
            continue
        text = text_of(path)
        if text is None or len(text) > MAX_INFRA_BYTES:
            continue
        # Before anything is derived from it: the text, its hash and its MinHash are stored.
        lines = normalise(path, credentials.redact(text), repo_name)
        if kind in _GROUPED:
            grouped.setdefault((_GROUPED[kind], _unit(kind, path)), []).append(
                (basename(path), lines)
            )
        elif len(lines) >= 3:  # smaller is not copied effort
            singles.append((kind, path, lines))
    for (kind, unit), members in sorted(grouped.items()):
        lines = [f"# {name}\n" + "\n".join(body) for name, body in sorted(members)]
        singles.append((kind, unit, "\n".join(lines).split("\n")))
    out = []
    for kind, path, lines in singles[:MAX_INFRA_FILES]:
        body = "\n".join(lines)
        digest = hashlib.sha256(f"{kind}\n{body}".encode()).hexdigest()
        out.append(InfraFile(kind, path, digest, len(lines), body, signature(lines)))
    return tuple(out)


# -- versions -------------------------------------------------------------------------------

_TF_REQUIRED = re.compile(r'^[ \t]*required_version[ \t]*=[ \t]*"([^"]+)"', re.M)
_TF_PROVIDER = re.compile(
    r'(?P<name>[\w-]+)[ \t]*=[ \t]*\{[^{}]*?source[ \t]*=[ \t]*"(?P<source>[^"]+)"'
    r'[^{}]*?version[ \t]*=[ \t]*"(?P<version>[^"]+)"',
    re.S,
)
_RUNTIME_KEYS = {
    "actions/setup-python": "python-version",
    "actions/setup-node": "node-version",
    "actions/setup-go": "go-version",
    "actions/setup-java": "java-version",
    "ruby/setup-ruby": "ruby-version",
    "actions/setup-dotnet": "dotnet-version",
}


def terraform_versions(path: str, text: str) -> list[VersionUse]:
    out = [
        VersionUse(
            "terraform", "terraform", m.group(1).strip(), path, extract.line_at(text, m.start(1))
        )
        for m in _TF_REQUIRED.finditer(text)
    ]
    for m in _TF_PROVIDER.finditer(text):
        out.append(
            VersionUse(
                "terraform-provider",
                m.group("source").lower(),
                m.group("version").strip(),
                path,
                extract.line_at(text, m.start("version")),
            )
        )
    return out


def helm_versions(path: str, docs: list[Document]) -> list[VersionUse]:
    out = []
    for doc in docs:
        root = doc.root
        api = root.get("apiVersion")
        if api is not None and api.text:
            out.append(VersionUse("helm-api", "chart", api.text, path, api.line))
        for dep in find_path(root, ("dependencies",)):
            for item in dep.items or (dep,):
                name, version = item.scalar("name"), item.get("version")
                if name and version is not None and version.text:
                    out.append(
                        VersionUse("helm-dependency", name, version.text, path, version.line)
                    )
    return out


def runtime_versions(path: str, docs: list[Document]) -> list[VersionUse]:
    """Runtimes a workflow sets up: `uses: actions/setup-python` + `with.python-version`."""
    out = []
    for doc in docs:
        for step in find_path(doc.root, ("jobs", "*", "steps")):
            uses = step.scalar("uses") or ""
            action = uses.split("@", 1)[0].lower()
            key = _RUNTIME_KEYS.get(action)
            if key is None:
                continue
            for value in find_path(step, ("with", key)):
                versions = [i.text for i in value.items] if value.items else [value.text]
                for version in versions:
                    if version and "${{" not in version:
                        tool = action.split("setup-", 1)[-1]
                        out.append(VersionUse("runtime", tool, version, path, value.line))
    return out


def is_chart_file(path: str) -> bool:
    return basename(path) == "Chart.yaml" and "templates" not in dirname(path).split("/")
