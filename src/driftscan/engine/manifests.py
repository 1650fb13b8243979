"""Declared dependencies from a repository's own manifests, without executing anything.

Every parser takes the manifest's text and returns (ecosystem, name, line). Names are
normalised the way each ecosystem compares them (PEP 503 for PyPI, lowercase for npm and
Composer, `group:artifact` for Maven). Lockfiles are deliberately absent: CATALOGUE.md counts
what a repository declares, not what its tools resolved.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Dependency:
    ecosystem: str  # pypi | npm | go | maven | rubygems | cargo | composer | nuget
    name: str
    line: int | None


def normalise(ecosystem: str, name: str) -> str:
    name = name.strip()
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    if ecosystem in ("npm", "composer", "nuget", "rubygems", "cargo"):
        return name.lower()
    return name


def _line_of(text: str, needle: str) -> int | None:
    pos = text.find(needle)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def _deps(ecosystem: str, text: str, names: Iterable[str]) -> list[Dependency]:
    out = []
    for raw in names:
        if not isinstance(raw, str) or not raw.strip():
            continue
        out.append(Dependency(ecosystem, normalise(ecosystem, raw), _line_of(text, raw)))
    return out


_PEP508_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _pep508_names(specs: Iterable[Any]) -> Iterator[str]:
    for spec in specs:
        if isinstance(spec, str):
            m = _PEP508_NAME.match(spec)
            if m:
                yield m.group(1)


_VIA = re.compile(r"^\s*#\s+(?:via\b\s*(?P<inline>.*)|(?P<item>\S.*))$")


def parse_requirements(text: str) -> list[Dependency]:
    """Requirement lines. In pip-compile output every pin carries `# via` comments naming who
    asked for it: a pin wanted only by other packages (no `-r`/`-c` file, no `.in`) is
    resolved, not declared, and is left out like a lockfile entry."""
    out: list[Dependency] = []
    lines = text.splitlines()
    for index, raw in enumerate(lines):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "git+", "http:", "https:", "file:", ".")):
            continue
        m = _PEP508_NAME.match(line)
        if m and not _transitive(raw, lines, index):
            out.append(Dependency("pypi", normalise("pypi", m.group(1)), index + 1))
    return out


def _transitive(raw: str, lines: list[str], index: int) -> bool:
    sources: list[str] = []
    inline = raw.partition(" # via ")[2].strip()
    if inline:
        sources.append(inline)
    in_via = False
    for following in lines[index + 1 :]:
        m = _VIA.match(following)
        if m is None:
            break
        if m.group("inline") is not None:
            in_via = True
            if m.group("inline"):
                sources.append(m.group("inline"))
        elif in_via:
            sources.append(m.group("item"))
    if not sources:
        return False  # hand-written file: every line is a choice
    return not any(
        s.startswith(("-r", "-c"))
        or s.endswith((".in", ".txt", ".toml"))
        or s.startswith("pyproject")
        for s in sources
    )


def _toml(text: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}
    return data


def _table(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_pyproject(text: str) -> list[Dependency]:
    data = _toml(text)
    names: list[str] = list(_pep508_names(_table(data, "project", "dependencies") or []))
    optional = _table(data, "project", "optional-dependencies") or {}
    if isinstance(optional, dict):
        for group in optional.values():
            names += _pep508_names(group if isinstance(group, list) else [])
    groups = _table(data, "dependency-groups") or {}
    if isinstance(groups, dict):
        for group in groups.values():
            names += _pep508_names(group if isinstance(group, list) else [])
    poetry = _table(data, "tool", "poetry") or {}
    if isinstance(poetry, dict):
        tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
        for group in (poetry.get("group") or {}).values():
            if isinstance(group, dict):
                tables.append(group.get("dependencies"))
        for table in tables:
            if isinstance(table, dict):
                names += [n for n in table if n.lower() != "python"]
    return _deps("pypi", text, names)


def parse_pipfile(text: str) -> list[Dependency]:
    data = _toml(text)
    names = []
    for key in ("packages", "dev-packages"):
        table = data.get(key)
        if isinstance(table, dict):
            names += list(table)
    return _deps("pypi", text, names)


def parse_setup_cfg(text: str) -> list[Dependency]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    specs: list[str] = []
    if parser.has_option("options", "install_requires"):
        specs += parser.get("options", "install_requires").splitlines()
    if parser.has_section("options.extras_require"):
        for _key, value in parser.items("options.extras_require"):
            specs += value.splitlines()
    return _deps("pypi", text, _pep508_names(s.strip() for s in specs))


_SETUP_PY_LIST = re.compile(
    r"(?:install_requires|tests_require|extras_require)\s*=\s*([\[{].*?[\]}])\s*[,)]", re.S
)
_QUOTED = re.compile(r"""["']([A-Za-z0-9][A-Za-z0-9._-]*)[^"']*["']""")


def parse_setup_py(text: str) -> list[Dependency]:
    """Literal requirement strings only: setup.py is code and is never executed."""
    names: list[str] = []
    for m in _SETUP_PY_LIST.finditer(text):
        body = m.group(1)
        if body.startswith("{"):  # extras: keep the values of the dict, not its keys
            body = re.sub(r"""["'][^"']*["']\s*:""", "", body)
        names += _QUOTED.findall(body)
    return _deps("pypi", text, names)


def _json_object(text: str) -> dict[str, Any] | None:
    """A manifest's top-level JSON object; None when the file is not one (broken or other)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_package_json(text: str) -> list[Dependency]:
    data = _json_object(text)
    if data is None:
        return []
    names: list[str] = []
    for key in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        table = data.get(key)
        if isinstance(table, dict):
            names += list(table)
    return [
        Dependency("npm", normalise("npm", n), _line_of(text, f'"{n}"'))
        for n in names
        if isinstance(n, str)
    ]


_GO_REQUIRE = re.compile(r"^\s*(?:require\s+)?([A-Za-z0-9][\w.\-~]*(?:/[\w.\-~]+)+)\s+v\S+")


def parse_go_mod(text: str) -> list[Dependency]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line, _, comment = raw.partition("//")
        if "indirect" in comment:  # resolved by Go, not chosen by the repository
            continue
        if line.lstrip().startswith(("module", "replace", "exclude", "retract")):
            continue
        m = _GO_REQUIRE.match(line)
        if m:
            out.append(Dependency("go", m.group(1), number))
    return out


_GEM = re.compile(
    r"""^\s*(?:gem|\w+\.add_(?:runtime_|development_)?dependency)\s*\(?\s*["']([^"']+)["']"""
)


def parse_gemfile(text: str) -> list[Dependency]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        m = _GEM.match(raw)
        if m:
            out.append(Dependency("rubygems", normalise("rubygems", m.group(1)), number))
    return out


_POM_DEP = re.compile(r"<dependency>(.*?)</dependency>", re.S)
_POM_PLUGIN = re.compile(r"<plugin>(.*?)</plugin>", re.S)
_XML_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _xml_field(body: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}>\s*([^<\s]+)\s*</{tag}>", body)
    return m.group(1) if m else None


def parse_pom(text: str) -> list[Dependency]:
    # Comments are blanked (not removed) so offsets, and so line numbers, stay true.
    clean = _XML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    out = []
    for pattern in (_POM_DEP, _POM_PLUGIN):
        for m in pattern.finditer(clean):
            artifact = _xml_field(m.group(1), "artifactId")
            if artifact is None:
                continue
            group = _xml_field(m.group(1), "groupId") or "org.apache.maven.plugins"
            line = clean.count("\n", 0, m.start()) + 1
            out.append(Dependency("maven", f"{group}:{artifact}", line))
    return out


_GRADLE_DEP = re.compile(
    r"""^\s*(?:implementation|api|compile|compileOnly|runtimeOnly|runtime|testImplementation|"""
    r"""testRuntimeOnly|annotationProcessor|kapt|ksp|classpath|agent|javaagent)\b"""
    r"""\s*\(?\s*(?:platform\s*\(\s*)?["']([\w.\-]+):([\w.\-]+)"""
)


def parse_gradle(text: str) -> list[Dependency]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        m = _GRADLE_DEP.match(raw)
        if m:
            out.append(Dependency("maven", f"{m.group(1)}:{m.group(2)}", number))
    return out


def parse_cargo(text: str) -> list[Dependency]:
    data = _toml(text)
    names: list[str] = []
    tables = [data.get(k) for k in ("dependencies", "dev-dependencies", "build-dependencies")]
    tables.append(_table(data, "workspace", "dependencies"))
    for target in (data.get("target") or {}).values():
        if isinstance(target, dict):
            tables += [target.get("dependencies"), target.get("dev-dependencies")]
    for table in tables:
        if isinstance(table, dict):
            names += list(table)
    return _deps("cargo", text, names)


def parse_composer(text: str) -> list[Dependency]:
    data = _json_object(text)
    if data is None:
        return []
    names: list[str] = []
    for key in ("require", "require-dev"):
        table = data.get(key)
        if isinstance(table, dict):
            names += [n for n in table if "/" in n]
    return _deps("composer", text, names)


_CSPROJ = re.compile(
    r"""<Package(?:Reference|Version)\s+(?:[^>]*?\s)?Include\s*=\s*["']([^"']+)["']""", re.I
)


def parse_csproj(text: str) -> list[Dependency]:
    clean = _XML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return [
        Dependency("nuget", normalise("nuget", m.group(1)), clean.count("\n", 0, m.start()) + 1)
        for m in _CSPROJ.finditer(clean)
    ]


Parser = Callable[[str], list[Dependency]]

# Manifest globs and their parsers. Only these files are read for `dependency` signals.
MANIFESTS: dict[str, Parser] = {
    "**/requirements*.txt": parse_requirements,
    "**/requirements/*.txt": parse_requirements,
    "**/pyproject.toml": parse_pyproject,
    "**/Pipfile": parse_pipfile,
    "**/setup.cfg": parse_setup_cfg,
    "**/setup.py": parse_setup_py,
    "**/package.json": parse_package_json,
    "**/go.mod": parse_go_mod,
    "**/Gemfile": parse_gemfile,
    "**/*.gemspec": parse_gemfile,
    "**/pom.xml": parse_pom,
    "**/build.gradle": parse_gradle,
    "**/build.gradle.kts": parse_gradle,
    "**/Cargo.toml": parse_cargo,
    "**/composer.json": parse_composer,
    "**/*.csproj": parse_csproj,
    "**/*.fsproj": parse_csproj,
    "**/Directory.Packages.props": parse_csproj,
}
