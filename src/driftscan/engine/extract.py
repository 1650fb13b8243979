"""Small pure extractors over file text: active (uncommented) text, images, actions, env names.

All of them keep line numbers exact: comments are blanked, never removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from posixpath import basename

from driftscan.engine.manifests import is_manifest
from driftscan.engine.paths import is_lockfile

_HASH_EXT = frozenset(
    [
        "yml",
        "yaml",
        "sh",
        "bash",
        "zsh",
        "py",
        "toml",
        "rb",
        "cfg",
        "conf",
        "ini",
        "env",
        "txt",
        "nomad",
        "star",
        "bzl",
        "tfvars",
        "properties",
        "mk",
        "r",
        "pl",
        "ps1",
        "nix",
        "azcli",
    ]
)
_SLASH_EXT = frozenset(
    [
        "js",
        "mjs",
        "cjs",
        "jsx",
        "ts",
        "tsx",
        "go",
        "java",
        "kt",
        "kts",
        "groovy",
        "gradle",
        "cs",
        "fs",
        "rs",
        "scala",
        "swift",
        "c",
        "cc",
        "cpp",
        "h",
        "hpp",
        "dart",
        "bicep",
        "bicepparam",
        "jenkinsfile",
        "json5",
        "jsonnet",
        "libsonnet",
        "proto",
    ]
)
_BOTH_EXT = frozenset(("tf", "tofu", "hcl", "php"))
_HASH_NAMES = frozenset(
    [
        "dockerfile",
        "containerfile",
        "procfile",
        "makefile",
        "gemfile",
        "capfile",
        "rakefile",
        "earthfile",
        "tiltfile",
        "vagrantfile",
        "brewfile",
        "pipfile",
        "justfile",
        ".env",
    ]
)
_HASH_FILES = frozenset((".gitattributes", ".gitignore", ".dockerignore", ".npmrc", "codeowners"))

_BLOCK_SLASH = re.compile(r"/\*.*?\*/", re.S)
_BLOCK_XML = re.compile(r"<!--.*?-->", re.S)


# General-purpose source code: read only when a rule needs it (gated), never fetched eagerly.
CODE_EXTENSIONS = frozenset(
    (
        "py",
        "js",
        "mjs",
        "cjs",
        "jsx",
        "ts",
        "tsx",
        "go",
        "java",
        "kt",
        "kts",
        "rb",
        "php",
        "cs",
        "rs",
        "scala",
        "swift",
        "ex",
        "exs",
        "dart",
        "fs",
        "vb",
        "groovy",
    )
)


def is_source_code(path: str) -> bool:
    """General-purpose code, never a manifest: `build.gradle.kts`, `Package.swift`, `mix.exs`,
    `project/*.scala` are read eagerly like every other dependency manifest."""
    return (
        "." in basename(path)
        and path.rsplit(".", 1)[-1] in CODE_EXTENSIONS
        and not is_manifest(path)
    )


def comment_style(path: str) -> str:
    """'#', '//', 'both', 'xml' or '' for a path, by name first, then extension."""
    name = basename(path).lower()
    stem = name.split(".", 1)[0]
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if name.startswith("jenkinsfile") or ext in _SLASH_EXT or ext == "alloy":
        return "//"
    if name in _HASH_FILES:
        return "#"
    if ext in _BOTH_EXT:
        return "both"
    if name in _HASH_NAMES or stem in _HASH_NAMES or ext in _HASH_EXT or name.startswith(".env"):
        return "#"
    if ext in ("xml", "csproj", "fsproj", "props", "html", "htm", "vue", "svg"):
        return "xml"
    return ""


def _blank(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def active_text(path: str, text: str) -> str:
    """The text with comment-only lines and block comments blanked (line numbers kept)."""
    style = comment_style(path)
    if not style:
        return text
    if style == "xml":
        return _BLOCK_XML.sub(_blank, text)
    if style in ("//", "both"):
        text = _BLOCK_SLASH.sub(_blank, text)
    prefixes: tuple[str, ...] = {"#": ("#",), "//": ("//",), "both": ("#", "//")}[style]
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith(prefixes):
            lines[i] = ""
    return "\n".join(lines)


def line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class ImageRef:
    name: str  # registry/repository without tag or digest, lowercased
    tag: str  # tag or digest, "" when none
    line: int


@dataclass(frozen=True)
class ActionRef:
    name: str  # owner/repo[/path], lowercased
    ref: str  # the part after @, "" when none
    line: int


_DOCKER_FROM = re.compile(
    r"^[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*(\S+)(?:[ \t]+AS[ \t]+(\S+))?", re.M | re.I
)
_YAML_IMAGE = re.compile(
    r"""^[ \t]*(?:-[ \t]+)?(?:image|container|imageName|repository)[ \t]*:"""
    r"""[ \t]*["']?([^\s"'#{}]+)""",
    re.M,
)
_USES = re.compile(r"""^[ \t]*(?:-[ \t]+)?uses[ \t]*:[ \t]*["']?([^\s"'#]+)""", re.M)
_ENV_NAME = re.compile(
    r"""(?:^|[\s"'\-{,$])([A-Z][A-Z0-9]*_[A-Z0-9_]*)[ \t]*["']?[ \t]*[:=]"""
    r"""|name:[ \t]*["']?([A-Z][A-Z0-9]*_[A-Z0-9_]*)""",
    re.M,
)


# `image = "..."` in HCL, also inline (`jsonencode([{ name = "dd", image = "datadog/agent:7" }])`)
# and as the JSON of a heredoc; not `docker_image =` or `source_image =`.
_HCL_IMAGE = re.compile(r'(?:^|(?<=[\s{,(]))"?image"?[ \t]*[=:][ \t]*"([^"$\s{}]+)"', re.M)
# JSON: ECS task definitions (`"image"`), CloudFormation container definitions (`"Image"`)
_JSON_IMAGE = re.compile(r'"[Ii]mage"[ \t]*:[ \t]*"([^"$\s{}\\]+)"')
_JSON_IMAGE_FILES = (".json", ".json.tpl", ".json.tftpl", ".json.j2", ".tftpl")
_NOT_IMAGE = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|ico|bmp|tiff?)$|://|^[./@]|^[^a-z]*$", re.I)
_VAR_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]*)\}")
_ENV_IMAGE = re.compile(
    r"""^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*IMAGE[A-Z0-9_]*[ \t]*=[ \t]*["']?([^\s"'#$]+)""",
    re.M,
)


def is_env_file(path: str) -> bool:
    name = basename(path)
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def is_dockerfile(path: str) -> bool:
    name = basename(path).lower()
    return name.startswith(("dockerfile", "containerfile")) or name.endswith(
        (".dockerfile", ".containerfile")
    )


def split_image(ref: str) -> tuple[str, str]:
    """'ghcr.io/acme/api:1.2@sha256:..' -> ('ghcr.io/acme/api', '1.2@sha256:..')."""
    name, at, digest = ref.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    if at:
        tag = f"{tag}@{digest}" if tag else digest
    return name.lower(), tag


def images(path: str, text: str) -> list[ImageRef]:
    """Container images named by a Dockerfile's FROM, an `image:` key of YAML, an `image =`
    of HCL (Terraform, Nomad) or an `"image"`/`"Image"` key of JSON (ECS task definitions,
    CloudFormation container definitions, their Terraform templates)."""
    out: list[ImageRef] = []
    if is_dockerfile(path):
        stages: set[str] = set()
        for m in _DOCKER_FROM.finditer(text):
            ref = m.group(1)
            if m.group(2):
                stages.add(m.group(2).lower())
            if ref.lower() in stages or ref.lower() == "scratch" or "$" in ref:
                continue
            name, tag = split_image(ref)
            out.append(ImageRef(name, tag, line_at(text, m.start(1))))
        return out
    if path.endswith((".nomad", ".hcl", ".tf", ".tofu")):  # Nomad jobs, ECS/k8s via Terraform
        for m in _HCL_IMAGE.finditer(text):
            name, tag = split_image(m.group(1))
            out.append(ImageRef(name, tag, line_at(text, m.start(1))))
        return out
    if path.endswith(_JSON_IMAGE_FILES):  # ECS task / container definitions, CloudFormation
        if is_lockfile(path):  # scans never read one (paths.is_active_path); callers might
            return out
        for m in _JSON_IMAGE.finditer(text):
            if _NOT_IMAGE.search(m.group(1)):
                continue
            name, tag = split_image(m.group(1))
            if name and not name.endswith(":"):
                out.append(ImageRef(name, tag, line_at(text, m.start(1))))
        return out
    if is_env_file(path):  # compose files often take their images from .env variables
        for m in _ENV_IMAGE.finditer(text):
            name, tag = split_image(m.group(1))
            if "/" in name or tag:
                out.append(ImageRef(name, tag, line_at(text, m.start(1))))
        return out
    # `${REGISTRY:-docker.io}/grafana/grafana` -> its default; lines stay where they were.
    text = _VAR_DEFAULT.sub(r"\1", text)
    for m in _YAML_IMAGE.finditer(text):
        ref = m.group(1)
        if "$" in ref or "://" in ref or ref.startswith(("./", "/", "@")) or ref.endswith(":"):
            continue
        name, tag = split_image(ref.removeprefix("docker://"))
        if name:
            out.append(ImageRef(name, tag, line_at(text, m.start(1))))
    for m in _USES.finditer(text):
        if m.group(1).startswith("docker://"):
            name, tag = split_image(m.group(1).removeprefix("docker://"))
            out.append(ImageRef(name, tag, line_at(text, m.start(1))))
    return out


def actions(text: str) -> list[ActionRef]:
    """GitHub Actions `uses:` references (local `./` actions and docker:// images excluded)."""
    out = []
    for m in _USES.finditer(text):
        ref = m.group(1)
        if ref.startswith(("./", "docker://")):
            continue
        name, _, version = ref.partition("@")
        out.append(ActionRef(name.lower(), version, line_at(text, m.start(1))))
    return out


def env_names(text: str) -> list[tuple[str, int]]:
    """Upper-case variable names being set or declared (`NAME=`, `NAME:`, `- name: NAME`)."""
    out = []
    for m in _ENV_NAME.finditer(text):
        name = m.group(1) or m.group(2)
        start = m.start(1) if m.group(1) else m.start(2)
        out.append((name, line_at(text, start)))
    return out
