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

from driftscan.engine.paths import compile_glob

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Dependency:
    ecosystem: str  # one of rules.ECOSYSTEMS
    name: str
    line: int | None


# A Scala artifact's cross-version suffix: `akka-actor_2.13` and sbt's `%%` `akka-actor` are one.
_SCALA_SUFFIX = re.compile(r"_(?:2\.1[0-3]|3)$")


def normalise(ecosystem: str, name: str) -> str:
    name = name.strip()
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name).lower()
    if ecosystem in ("npm", "composer", "nuget", "rubygems", "cargo", "pub", "cocoapods"):
        return name.lower()
    if ecosystem == "maven":
        return _SCALA_SUFFIX.sub("", name)
    if ecosystem == "swift":
        return swift_package_name(name)
    return name


def swift_package_name(url: str) -> str:
    """A Swift package's repository URL as `host/owner/repo`, lowercased: scheme, user,
    `.git` and a trailing slash dropped (`git@github.com:a/b.git` -> `github.com/a/b`)."""
    name = url.strip().lower()
    name = re.sub(r"^[a-z][a-z0-9+.-]*://", "", name)
    name = re.sub(r"^[^@/]+@", "", name)
    if ":" in name.split("/", 1)[0] and not re.match(r"^[^/:]+:\d+/", name):
        name = name.replace(":", "/", 1)  # scp-like `host:owner/repo`
    name = re.sub(r":\d+/", "/", name, count=1)  # an explicit port
    return name.rstrip("/").removesuffix(".git")


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
    """Requirement lines (requirements*.txt and pip-tools' requirements*.in). In pip-compile /
    `uv pip compile` / `uv export` output every pin carries `# via` comments naming who asked
    for it: a pin wanted only by packages pinned in the same file is resolved, not declared,
    and is left out like a lockfile entry. A `via` naming anything else (`-r requirements.in`,
    `my-app (pyproject.toml)`, the exported project's own name) makes the pin a direct one."""
    lines = text.splitlines()
    found: list[tuple[str, int]] = []
    for index, raw in enumerate(lines):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "git+", "http:", "https:", "file:", ".")):
            continue
        m = _PEP508_NAME.match(line)
        if m:
            found.append((normalise("pypi", m.group(1)), index))
    pinned = {name for name, _ in found}
    return [
        Dependency("pypi", name, index + 1)
        for name, index in found
        if not _transitive(lines, index, pinned)
    ]


def _via_sources(lines: list[str], index: int) -> list[str]:
    """The `# via` annotations of the requirement on line `index` (inline or on the lines
    below it, after any `--hash` continuation lines)."""
    sources: list[str] = []
    inline = lines[index].partition(" # via ")[2].strip()
    if inline:
        sources.append(inline)
    in_via = False
    for following in lines[index + 1 :]:
        if following.lstrip().startswith("--hash"):
            continue
        m = _VIA.match(following)
        if m is None:
            break
        if m.group("inline") is not None:
            in_via = True
            if m.group("inline"):
                sources.append(m.group("inline"))
        elif in_via:
            sources.append(m.group("item"))
    return sources


def _transitive(lines: list[str], index: int, pinned: set[str]) -> bool:
    sources = _via_sources(lines, index)
    if not sources:
        return False  # hand-written file: every line is a choice
    for source in sources:
        m = _PEP508_NAME.match(source)
        if source.startswith("-") or m is None or m.end() < len(source.rstrip()):
            return False  # `-r file`, `name (pyproject.toml)`, `pyproject.toml`: declared
        if normalise("pypi", m.group(1)) not in pinned:
            return False  # the project itself (`uv export`'s `# via my-app`)
    return True


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
    uv_dev = _table(data, "tool", "uv", "dev-dependencies")  # not constraint-/override-
    names += _pep508_names(uv_dev if isinstance(uv_dev, list) else [])
    pdm_dev = _table(data, "tool", "pdm", "dev-dependencies") or {}
    if isinstance(pdm_dev, dict):
        for group in pdm_dev.values():
            names += _pep508_names(group if isinstance(group, list) else [])
    hatch_envs = _table(data, "tool", "hatch", "envs") or {}
    if isinstance(hatch_envs, dict):
        for env in hatch_envs.values():
            for key in ("dependencies", "extra-dependencies"):
                listed = env.get(key) if isinstance(env, dict) else None
                names += _pep508_names(listed if isinstance(listed, list) else [])
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


_GO_DIRECTIVE = re.compile(r"^\s*([a-z]+)\b\s*(\(?)\s*(.*)$")
_GO_REQUIRE = re.compile(r"^([A-Za-z0-9][\w.\-~]*(?:/[\w.\-~]+)+)\s+v\S+$")
_GO_TOOL = re.compile(r"^([A-Za-z0-9][\w.\-~]*(?:/[\w.\-~]+)+)$")


def parse_go_mod(text: str) -> list[Dependency]:
    """`require` entries (single or block) that are not `// indirect`, and Go 1.24 `tool`
    directives (the tool's package path). `replace`, `exclude`, `retract` name modules
    without requiring them."""
    out = []
    block = ""  # the directive of the `( ... )` block being read
    for number, raw in enumerate(text.splitlines(), 1):
        line, _, comment = raw.partition("//")
        if block and line.strip() == ")":
            block = ""
            continue
        if block:
            directive, entry = block, line.strip()
        else:
            d = _GO_DIRECTIVE.match(line)
            if d is None:
                continue
            if d.group(2):
                block = d.group(1)
                continue
            directive, entry = d.group(1), d.group(3).strip()
        if "indirect" in comment:  # resolved by Go, not chosen by the repository
            continue
        pattern = {"require": _GO_REQUIRE, "tool": _GO_TOOL}.get(directive)
        m = pattern.match(entry) if pattern else None
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


_POM_MANAGEMENT = re.compile(
    r"<(dependencyManagement|pluginManagement)>.*?</\1>|<exclusions>.*?</exclusions>", re.S
)


def parse_pom(text: str) -> list[Dependency]:
    """`<dependency>` and `<plugin>` entries as `group:artifact` (a plugin without a group is
    org.apache.maven.plugins'). `<dependencyManagement>` and `<pluginManagement>` only pin
    versions and `<exclusions>` remove: none of them adds a dependency."""
    # Comments are blanked (not removed) so offsets, and so line numbers, stay true.
    clean = _XML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    clean = _POM_MANAGEMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), clean)
    out = []
    for pattern in (_POM_DEP, _POM_PLUGIN):
        for m in pattern.finditer(clean):
            artifact = _xml_field(m.group(1), "artifactId")
            if artifact is None:
                continue
            group = _xml_field(m.group(1), "groupId") or "org.apache.maven.plugins"
            line = clean.count("\n", 0, m.start()) + 1
            out.append(Dependency("maven", normalise("maven", f"{group}:{artifact}"), line))
    return out


_GRADLE_CONF = (
    r"(?:\w*(?:[Ii]mplementation|[Aa]pi|[Cc]ompileOnly|[Rr]untimeOnly|[Aa]nnotationProcessor)"
    r"|compile|runtime|testCompile|testRuntime|kapt\w*|ksp\w*|classpath|agent|javaagent"
    r"|developmentOnly|coreLibraryDesugaring|detektPlugins|lintChecks)"
)
_GRADLE_DEP = re.compile(
    rf"""^[ \t]*{_GRADLE_CONF}[ \t]*\(?[ \t]*(?:(?:enforced)?[Pp]latform[ \t]*\([ \t]*)?"""
    r"""(?:["']([\w.\-]+):([\w.\-]+)"""
    r"""|group[ \t]*[:=][ \t]*["']([\w.\-]+)["'][ \t]*,"""
    r"""[ \t]*name[ \t]*[:=][ \t]*["']([\w.\-]+)["'])""",
    re.M,
)
_GRADLE_PLUGIN = re.compile(
    r"""^[ \t]*(?:id[ \t]*\(?[ \t]*|apply[ \t]*\(?[ \t]*plugin[ \t]*[:=][ \t]*)"""
    r"""["']([A-Za-z][\w\-]*(?:\.[\w\-]+)+)["'][^\n]*""",
    re.M,
)
_GRADLE_PINS = re.compile(r"\b(?:pluginManagement|constraints|resolutionStrategy)[ \t]*\{")


def _blank_braced(clean: str, starts: re.Pattern[str]) -> str:
    """Each `name {` block matched by `starts`, up to its balanced `}`, blanked (lines kept)."""
    chars = list(clean)
    for m in starts.finditer(clean):
        depth, i = 0, m.end() - 1
        while i < len(clean):
            if clean[i] == "{":
                depth += 1
            elif clean[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        for j in range(m.start(), min(i + 1, len(clean))):
            if chars[j] != "\n":
                chars[j] = " "
    return "".join(chars)


def _gradle_clean(text: str) -> str:
    return _blank_braced(_blank_comments(text, "//", block=True), _GRADLE_PINS)


def _plugin_marker(plugin_id: str) -> str:
    """A Gradle plugin id as the Maven coordinates of its marker artifact."""
    return f"{plugin_id}:{plugin_id}.gradle.plugin"


def parse_gradle(text: str) -> list[Dependency]:
    """Groovy and Kotlin DSL: `implementation 'g:a:v'`, `implementation("g:a:v")`,
    `implementation(group = "g", name = "a")`, `api group: 'g', name: 'a'` for every standard
    configuration (variants like `debugImplementation`, `testFixturesApi`, `kapt`, `ksp`
    included), platforms/BOMs, and applied plugins (`id("x.y")`, `apply plugin: 'x.y'`) as
    their marker `x.y:x.y.gradle.plugin`. Not `constraints {}`, `resolutionStrategy {}`,
    `pluginManagement {}` (pins), nor `id(...) ... apply false` (a version, not applied)."""
    clean = _gradle_clean(text)
    out = []
    for m in _GRADLE_DEP.finditer(clean):
        group, artifact = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        name = normalise("maven", f"{group}:{artifact}")
        out.append(Dependency("maven", name, _offset_line(clean, m.start())))
    for m in _GRADLE_PLUGIN.finditer(clean):
        if re.search(r"\bapply[ \t]*\(?[ \t]*false\b", m.group(0)):
            continue
        out.append(Dependency("maven", _plugin_marker(m.group(1)), _offset_line(clean, m.start())))
    return out


# Gradle version catalogs: `gradle/<name>.versions.toml` is read through the `<name>.` accessor
# (`libs.versions.toml` -> `libs.sentry.android`). An entry no build script refers to only
# pins a version, so a catalog library counts where a Gradle script uses it.
CATALOG_GLOB = "**/gradle/*.versions.toml"
_ACCESSOR_TAIL = ("get", "asprovider", "ornull")


def _alias_key(alias: str) -> str:
    return ".".join(p for p in re.split(r"[-_.]", alias.lower()) if p)


def parse_catalog(text: str) -> dict[str, list[str]]:
    """Catalog alias keys (`libraries`: `sentry.android`; `bundles.x`; `plugins.x`) -> the
    Maven names they stand for."""
    data = _toml(text)
    found: dict[str, list[str]] = {}
    libraries = data.get("libraries")
    for alias, spec in (libraries if isinstance(libraries, dict) else {}).items():
        module = None
        if isinstance(spec, str):
            module = ":".join(spec.split(":")[:2])
        elif isinstance(spec, dict):
            if isinstance(spec.get("module"), str):
                module = spec["module"]
            elif isinstance(spec.get("group"), str) and isinstance(spec.get("name"), str):
                module = f"{spec['group']}:{spec['name']}"
        if module and module.count(":") == 1:
            found[_alias_key(alias)] = [normalise("maven", module)]
    bundles = data.get("bundles")
    for alias, members in (bundles if isinstance(bundles, dict) else {}).items():
        if isinstance(members, list):
            names = [n for a in members if isinstance(a, str) for n in found.get(_alias_key(a), [])]
            found[f"bundles.{_alias_key(alias)}"] = names
    plugins = data.get("plugins")
    for alias, spec in (plugins if isinstance(plugins, dict) else {}).items():
        plugin_id = spec.split(":")[0] if isinstance(spec, str) else None
        if isinstance(spec, dict) and isinstance(spec.get("id"), str):
            plugin_id = spec["id"]
        if plugin_id:
            found[f"plugins.{_alias_key(alias)}"] = [_plugin_marker(plugin_id)]
    return found


def _catalog_references(accessor: str, text: str) -> Iterator[tuple[str, int, str]]:
    """(alias key, line, the line's text) of each `accessor.a.b` or `findLibrary("a-b")`."""
    clean = _gradle_clean(text)
    chain = re.compile(rf"\b{re.escape(accessor)}\.([A-Za-z][\w.]*)")
    for m in chain.finditer(clean):
        parts = m.group(1).lower().rstrip(".").split(".")
        while len(parts) > 1 and parts[-1] in _ACCESSOR_TAIL:
            parts.pop()
        line_end = clean.find("\n", m.end())
        line_text = clean[clean.rfind("\n", 0, m.start()) + 1 : None if line_end < 0 else line_end]
        yield ".".join(parts), _offset_line(clean, m.start()), line_text
    finder = re.compile(r"\bfind(Library|Bundle|Plugin)[ \t]*\([ \t]*\"([^\"]+)\"")
    for m in finder.finditer(clean):
        prefix = {"Library": "", "Bundle": "bundles.", "Plugin": "plugins."}[m.group(1)]
        yield prefix + _alias_key(m.group(2)), _offset_line(clean, m.start()), ""


def catalog_dependencies(
    catalogs: dict[str, str], scripts: dict[str, str]
) -> list[tuple[Dependency, str]]:
    """Catalog entries some Gradle script refers to, at the referring script's line.
    `catalogs` maps catalog paths to text, `scripts` Gradle script paths to text."""
    out: list[tuple[Dependency, str]] = []
    for catalog_path, catalog_text in catalogs.items():
        accessor = catalog_path.rsplit("/", 1)[-1].removesuffix(".versions.toml")
        entries = parse_catalog(catalog_text)
        if not entries:
            continue
        for script_path, script_text in scripts.items():
            for key, line, line_text in _catalog_references(accessor, script_text):
                if key.startswith("versions."):
                    continue
                if key.startswith("plugins.") and re.search(
                    r"\bapply[ \t]*\(?[ \t]*false\b", line_text
                ):
                    continue
                for name in entries.get(key, []):
                    out.append((Dependency("maven", name, line), script_path))
    return out


_CARGO_KINDS = ("dependencies", "dev-dependencies", "build-dependencies")


def parse_cargo(text: str) -> list[Dependency]:
    """[dependencies], [dev-dependencies], [build-dependencies], their `[target.'cfg(..)']`
    forms and [workspace.dependencies]; a renamed dependency (`x = { package = "sentry" }`)
    counts under its crate name. Never [patch] / [replace] (overrides) or Cargo.lock."""
    data = _toml(text)
    tables = [data.get(k) for k in _CARGO_KINDS]
    tables.append(_table(data, "workspace", "dependencies"))
    targets = data.get("target")
    for target in (targets or {}).values() if isinstance(targets, dict) else ():
        if isinstance(target, dict):
            tables += [target.get(k) for k in _CARGO_KINDS]
    out: list[Dependency] = []
    for table in tables:
        if not isinstance(table, dict):
            continue
        for key, spec in table.items():
            crate = spec.get("package") if isinstance(spec, dict) else None
            name = crate if isinstance(crate, str) and crate else key
            out.append(Dependency("cargo", normalise("cargo", name), _line_of(text, key)))
    return out


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
    r"""<(?:Global)?PackageReference\s+(?:[^>]*?\s)?Include\s*=\s*["']([^"']+)["']""", re.I
)


def parse_csproj(text: str) -> list[Dependency]:
    """`PackageReference Include` / `GlobalPackageReference Include` in project files and
    Directory.Build.props / Directory.Packages.props. `PackageVersion` (central package
    management) only pins a version and `PackageReference Update` changes a reference made
    elsewhere: neither adds a dependency."""
    clean = _XML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return [
        Dependency("nuget", normalise("nuget", m.group(1)), clean.count("\n", 0, m.start()) + 1)
        for m in _CSPROJ.finditer(clean)
    ]


_STRING = (
    r'"""[\s\S]*?"""'
    r"|'''[\s\S]*?'''"
    r'|"(?:\\.|[^"\\\n])*"'
    r"|'(?:\\.|[^'\\\n])*'"
)
_COMMENTS = {
    ("//", True): re.compile(rf"({_STRING})|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)"),
    ("//", False): re.compile(rf"({_STRING})|//[^\n]*"),
    ("#", False): re.compile(rf"({_STRING})|#[^\n]*"),
}


def _blank_comments(text: str, line: str, block: bool) -> str:
    """Comments replaced by spaces, strings respected (a `//` inside `"https://..."` is text),
    newlines kept so that offsets and line numbers stay true. `line` is the line-comment
    marker (`//` or `#`); `block` adds `/* ... */`."""

    def blank(m: re.Match[str]) -> str:
        return m.group(0) if m.group(1) is not None else re.sub(r"[^\n]", " ", m.group(0))

    return _COMMENTS[(line, block)].sub(blank, text)


def _offset_line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# ---------------------------------------------------------------- Dart / Flutter (pub)

_YAML_KEY = re.compile(r"^( *)([A-Za-z0-9_][\w.-]*|\"[^\"]+\"|'[^']+')[ \t]*:")


def parse_pubspec(text: str) -> list[Dependency]:
    """pubspec.yaml `dependencies` and `dev_dependencies` (children one level down); not
    `dependency_overrides` (pins) and never pubspec.lock."""
    out: list[Dependency] = []
    section = False
    child_indent: int | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _YAML_KEY.match(line)
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            section = m is not None and m.group(2) in ("dependencies", "dev_dependencies")
            child_indent = None
            continue
        if not section or m is None:
            continue
        if child_indent is None:
            child_indent = indent
        if indent == child_indent:
            name = m.group(2).strip("\"'")
            out.append(Dependency("pub", normalise("pub", name), number))
    return out


# ---------------------------------------------------------------- Elixir (hex)

_MIX_DEPS_FN = re.compile(r"^[ \t]*defp?[ \t]+deps\b.*?(?=^[ \t]*defp?[ \t]|\Z)", re.M | re.S)
_MIX_DEP = re.compile(
    r"\{\s*:([a-z_][a-z0-9_]*)\s*,\s*(?:\"\s*(?:~>|>=|<=|==|!=|>|<|\d)"
    r"|(?:git|github|path|in_umbrella|only|optional|override|runtime|app|hex|organization"
    r"|repo|sparse|manager|compile|env|targets|branch|tag|ref|submodules|system_env|depth)\s*:)"
)


def parse_mix_exs(text: str) -> list[Dependency]:
    """mix.exs dependency tuples `{:name, "~> 1.0"}` / `{:name, git: ...}` (with `only:` and
    other options), read inside `defp deps` when there is one. Never mix.lock."""
    clean = _blank_comments(text, "#", block=False)
    bodies = [(m.start(), m.group(0)) for m in _MIX_DEPS_FN.finditer(clean)] or [(0, clean)]
    out = []
    for start, body in bodies:
        for m in _MIX_DEP.finditer(body):
            line = _offset_line(clean, start + m.start())
            out.append(Dependency("hex", m.group(1), line))
    return out


# ------------------------------------------------- Swift PM, Xcode, Carthage, CocoaPods

_SWIFT_PACKAGE = re.compile(
    r"\.package\s*\(\s*(?:name\s*:\s*\"[^\"]*\"\s*,\s*)?url\s*:\s*\"([^\"]+)\""
)


def parse_package_swift(text: str) -> list[Dependency]:
    """Package.swift `.package(url: "...")` (also with a leading `name:`); `.package(path:)`
    is local code. The name is the repository URL without scheme and `.git`, lowercased.
    Never Package.resolved."""
    clean = _blank_comments(text, "//", block=True)
    return [
        Dependency("swift", swift_package_name(m.group(1)), _offset_line(clean, m.start()))
        for m in _SWIFT_PACKAGE.finditer(clean)
    ]


_PBX_PACKAGE = re.compile(r"^\s*repositoryURL\s*=\s*\"?([^\";\s]+)\"?\s*;", re.M)


def parse_pbxproj(text: str) -> list[Dependency]:
    """Swift packages an Xcode project adds (XCRemoteSwiftPackageReference `repositoryURL`)."""
    return [
        Dependency("swift", swift_package_name(m.group(1)), _offset_line(text, m.start(1)))
        for m in _PBX_PACKAGE.finditer(text)
    ]


_CARTHAGE = re.compile(r"""^[ \t]*(github|git)[ \t]+"([^"]+)"(?=[^\n]*$)""", re.M)


def parse_cartfile(text: str) -> list[Dependency]:
    """Cartfile `github "owner/repo"` / `git "url"`, named like Swift packages. Never
    Cartfile.resolved."""
    clean = _blank_comments(text, "#", block=False)
    out = []
    for m in _CARTHAGE.finditer(clean):
        url = f"github.com/{m.group(2)}" if m.group(1) == "github" else m.group(2)
        out.append(Dependency("swift", swift_package_name(url), _offset_line(clean, m.start())))
    return out


_POD = re.compile(
    r"""^[ \t]*(?:pod|\w+\.dependency)[ \t]*\(?[ \t]*["']([^"'/\s]+)(?:/[^"']*)?["']""", re.M
)


def parse_podfile(text: str) -> list[Dependency]:
    """Podfile `pod 'Name'` and a podspec's `s.dependency 'Name'`; a subspec
    (`Sentry/HybridSDK`) counts as its pod. Never Podfile.lock."""
    clean = _blank_comments(text, "#", block=False)
    return [
        Dependency("cocoapods", normalise("cocoapods", m.group(1)), _offset_line(clean, m.start()))
        for m in _POD.finditer(clean)
    ]


# ---------------------------------------------------------------- Scala (sbt)

_SBT_MODULE = re.compile(r"\"([\w.\-]+)\"\s*%{1,3}\s*\"([\w.\-]+)\"")
_SBT_PINS = re.compile(r"\b(?:dependencyOverrides|excludeDependencies)\s*(?:\+\+=|\+=|:=)")


def _blank_pins(clean: str) -> str:
    """`dependencyOverrides` / `excludeDependencies` settings blanked: they pin or drop
    modules, they do not add them. The setting runs to its balanced `Seq(...)` or line end."""
    chars = list(clean)
    for m in _SBT_PINS.finditer(clean):
        i, depth = m.end(), 0
        while i < len(clean):
            ch = clean[i]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth < 0:
                    break
            elif ch == "\n" and depth == 0 and clean[m.end() : i].strip():
                break
            i += 1
        for j in range(m.start(), i):
            if chars[j] != "\n":
                chars[j] = " "
    return "".join(chars)


def parse_sbt(text: str) -> list[Dependency]:
    """sbt modules `"group" % "artifact"` / `%%` / `%%%` (libraryDependencies, Seq(...),
    vals in project/*.scala, addSbtPlugin) as Maven `group:artifact`; dependencyOverrides and
    excludeDependencies are pins."""
    clean = _blank_pins(_blank_comments(text, "//", block=True))
    return [
        Dependency(
            "maven",
            normalise("maven", f"{m.group(1)}:{m.group(2)}"),
            _offset_line(clean, m.start()),
        )
        for m in _SBT_MODULE.finditer(clean)
    ]


# ---------------------------------------------------------------- NuGet paket

_PAKET = re.compile(r"^[ \t]*nuget[ \t]+([A-Za-z0-9_][\w.\-]*)", re.M)


def parse_paket(text: str) -> list[Dependency]:
    """paket.dependencies `nuget Name [version]` lines (in any `group`). Never paket.lock."""
    clean = _blank_comments(text, "//", block=False)
    clean = re.sub(r"(?m)^[ \t]*#.*$", lambda m: " " * len(m.group(0)), clean)
    return [
        Dependency("nuget", normalise("nuget", m.group(1)), _offset_line(clean, m.start()))
        for m in _PAKET.finditer(clean)
    ]


# ---------------------------------------------------------------- NuGet .nuspec

_NUSPEC = re.compile(r"""<dependency\s+(?:[^>]*?\s)?id\s*=\s*["']([^"']+)["']""", re.I)


def _nuget_ids(text: str, element: re.Pattern[str]) -> list[Dependency]:
    """The package ids an XML element names, outside XML comments."""
    clean = _XML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return [
        Dependency("nuget", normalise("nuget", m.group(1)), _offset_line(clean, m.start()))
        for m in element.finditer(clean)
    ]


def parse_nuspec(text: str) -> list[Dependency]:
    """A package's .nuspec `<dependency id="..." />` entries (in any dependency group)."""
    return _nuget_ids(text, _NUSPEC)


# ---------------------------------------------------------------- NuGet packages.config

_PACKAGES_CONFIG = re.compile(r"""<package\s+(?:[^>]*?\s)?id\s*=\s*["']([^"']+)["']""", re.I)


def parse_packages_config(text: str) -> list[Dependency]:
    """packages.config `<package id="..." version="..." />` (the pre-PackageReference form)."""
    return _nuget_ids(text, _PACKAGES_CONFIG)


Parser = Callable[[str], list[Dependency]]

# Manifest globs and their parsers. Only these files are read for `dependency` signals.
MANIFESTS: dict[str, Parser] = {
    "**/requirements*.txt": parse_requirements,
    "**/requirements/*.txt": parse_requirements,
    "**/requirements*.in": parse_requirements,
    "**/requirements/*.in": parse_requirements,
    "**/pyproject.toml": parse_pyproject,
    "**/Pipfile": parse_pipfile,
    "**/setup.cfg": parse_setup_cfg,
    "**/setup.py": parse_setup_py,
    "**/package.json": parse_package_json,
    "**/go.mod": parse_go_mod,
    "**/Gemfile": parse_gemfile,
    "**/*.gemspec": parse_gemfile,
    "**/pom.xml": parse_pom,
    "**/*.gradle": parse_gradle,
    "**/*.gradle.kts": parse_gradle,
    "**/Cargo.toml": parse_cargo,
    "**/composer.json": parse_composer,
    "**/*.csproj": parse_csproj,
    "**/*.fsproj": parse_csproj,
    "**/*.vbproj": parse_csproj,
    "**/Directory.Packages.props": parse_csproj,
    "**/Directory.Build.{props,targets}": parse_csproj,
    "**/paket.dependencies": parse_paket,
    "**/*.nuspec": parse_nuspec,
    "**/packages.config": parse_packages_config,
    "**/pubspec.yaml": parse_pubspec,
    "**/mix.exs": parse_mix_exs,
    "**/Package.swift": parse_package_swift,
    "**/Package@swift-*.swift": parse_package_swift,
    "**/*.xcodeproj/project.pbxproj": parse_pbxproj,
    "**/Cartfile": parse_cartfile,
    "**/Podfile": parse_podfile,
    "**/*.podspec": parse_podfile,
    "**/build.sbt": parse_sbt,
    "**/project/*.scala": parse_sbt,
    "**/project/*.sbt": parse_sbt,
}

# A requirements file named as a constraints file or as a lock / freeze of an environment
# pins what was resolved (`requirements/constraints.txt`, `requirements-lock.txt`).
_PIN_FILE = re.compile(
    r"(?:^|/|[-_.])(?:constraints?|lock(?:ed|file)?|freeze|frozen)(?:[-_.][^/]*)?\.(?:txt|in)$"
)

# Every file `collect` reads: the manifests and the Gradle version catalogs.
MANIFEST_GLOBS: tuple[str, ...] = (*MANIFESTS, CATALOG_GLOB)
_MANIFEST_PATH = re.compile("|".join(f"(?:{compile_glob(g).pattern})" for g in MANIFEST_GLOBS))


def collect(
    paths: Callable[[str], Iterable[str]], text: Callable[[str], str | None]
) -> list[tuple[Dependency, str]]:
    """Every declared dependency of a repository, with its manifest path: `paths(glob)` lists
    a glob's files, `text(path)` reads one (None when unreadable)."""
    out: list[tuple[Dependency, str]] = []
    scripts: dict[str, str] = {}
    for glob, parser in MANIFESTS.items():
        for path in paths(glob):
            if parser is parse_requirements and _PIN_FILE.search(path):
                continue
            body = text(path)
            if body is None:
                continue
            out += [(dep, path) for dep in parser(body)]
            if parser is parse_gradle:
                scripts[path] = body
    catalogs = {p: t for p in paths(CATALOG_GLOB) if (t := text(p)) is not None}
    if catalogs and scripts:
        out += catalog_dependencies(catalogs, scripts)
    return out


def is_manifest(path: str) -> bool:
    """A path some manifest parser reads (`build.gradle.kts`, `Package.swift`, `mix.exs` are
    manifests even though their extensions are those of source code)."""
    return _MANIFEST_PATH.fullmatch(path) is not None
