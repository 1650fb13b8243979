"""Dependency parsers: real manifest shapes, names normalised, lines right, nothing executed."""

from __future__ import annotations

import pytest

from driftscan.engine import manifests as m


def names(deps: list[m.Dependency]) -> list[str]:
    return sorted(d.name for d in deps)


def test_requirements() -> None:
    text = "# infra\nSentry_SDK[flask]==2.1 ; python_version>'3.8'\n-r base.txt\n-e .\nddtrace>=2 # apm\ngit+https://x/y.git\nprometheus-client\n"
    deps = m.parse_requirements(text)
    assert names(deps) == ["ddtrace", "prometheus-client", "sentry-sdk"]
    assert {d.name: d.line for d in deps}["ddtrace"] == 5


def test_pyproject_pep621_poetry_and_groups() -> None:
    text = """
[project]
dependencies = ["opentelemetry-sdk>=1.20", "hvac"]
[project.optional-dependencies]
apm = ["ddtrace"]
[dependency-groups]
dev = ["pytest"]
[tool.poetry.dependencies]
python = "^3.11"
sentry-sdk = "^2"
[tool.poetry.group.ops.dependencies]
newrelic = "*"
"""
    assert names(m.parse_pyproject(text)) == [
        "ddtrace",
        "hvac",
        "newrelic",
        "opentelemetry-sdk",
        "pytest",
        "sentry-sdk",
    ]


def test_invalid_toml_yields_nothing() -> None:
    assert m.parse_pyproject("[project\ndependencies = [") == []
    assert m.parse_cargo("not = [toml") == []


def test_setup_cfg_and_setup_py_are_read_not_run() -> None:
    cfg = "[options]\ninstall_requires =\n    requests>=2\n    hvac\n[options.extras_require]\napm = ddtrace\n"
    assert names(m.parse_setup_cfg(cfg)) == ["ddtrace", "hvac", "requests"]
    py = "import os\nos.system('rm -rf /')\nsetup(install_requires=['sentry-sdk>=1', \"boto3\"], extras_require={'otel': ['opentelemetry-api']})\n"
    assert names(m.parse_setup_py(py)) == ["boto3", "opentelemetry-api", "sentry-sdk"]


def test_package_json() -> None:
    text = '{\n  "name": "web",\n  "dependencies": {"@Sentry/Node": "^7"},\n  "devDependencies": {"prom-client": "15"}\n}\n'
    deps = m.parse_package_json(text)
    assert names(deps) == ["@sentry/node", "prom-client"]
    assert {d.name: d.line for d in deps}["prom-client"] == 4
    assert m.parse_package_json("[1, 2]") == []
    assert m.parse_package_json("{not json") == []


def test_go_mod() -> None:
    text = "module github.com/acme/api\n\ngo 1.22\n\nrequire (\n\tgithub.com/getsentry/sentry-go v0.27.0\n\tgo.opentelemetry.io/otel v1.24.0 // indirect\n)\nrequire github.com/prometheus/client_golang v1.19.0\nreplace github.com/x/y => ../y\n"
    deps = m.parse_go_mod(text)
    # `// indirect` requirements are resolved by Go, not chosen by the repository.
    assert names(deps) == ["github.com/getsentry/sentry-go", "github.com/prometheus/client_golang"]


def test_gemfile_and_gemspec() -> None:
    assert names(
        m.parse_gemfile("source 'x'\ngem 'sentry-ruby', '~> 5'\n  gem \"newrelic_rpm\"\n")
    ) == ["newrelic_rpm", "sentry-ruby"]
    assert names(m.parse_gemfile("s.add_runtime_dependency 'ddtrace', '>= 1'\n")) == ["ddtrace"]


def test_pom_ignores_comments_and_keeps_lines() -> None:
    text = """<project>
  <dependencies>
    <!-- <dependency><groupId>com.datadoghq</groupId><artifactId>dd-java-agent</artifactId></dependency> -->
    <dependency>
      <groupId>io.sentry</groupId>
      <artifactId>sentry-spring-boot-starter</artifactId>
    </dependency>
  </dependencies>
</project>
"""
    deps = m.parse_pom(text)
    assert [(d.name, d.line) for d in deps] == [("io.sentry:sentry-spring-boot-starter", 4)]


def test_gradle_groovy_and_kotlin() -> None:
    text = 'dependencies {\n  implementation \'io.micrometer:micrometer-registry-prometheus:1.12.0\'\n  testImplementation("io.opentelemetry:opentelemetry-api:1.3")\n  implementation(platform("io.sentry:sentry-bom:7.0.0"))\n}\n'
    assert names(m.parse_gradle(text)) == [
        "io.micrometer:micrometer-registry-prometheus",
        "io.opentelemetry:opentelemetry-api",
        "io.sentry:sentry-bom",
    ]


@pytest.mark.parametrize(
    ("parser", "text", "expected"),
    [
        (
            m.parse_cargo,
            '[dependencies]\nsentry = "0.32"\n[target.x.dependencies]\nopentelemetry = "0.2"\n',
            ["opentelemetry", "sentry"],
        ),
        (
            m.parse_composer,
            '{"require": {"php": ">=8", "sentry/sentry-laravel": "^4"}}',
            ["sentry/sentry-laravel"],
        ),
        (
            m.parse_csproj,
            '<ItemGroup><PackageReference Include="Sentry.AspNetCore" Version="4" /></ItemGroup>',
            ["sentry.aspnetcore"],
        ),
        (
            m.parse_pipfile,
            '[packages]\nhvac = "*"\n[dev-packages]\npytest = "*"\n',
            ["hvac", "pytest"],
        ),
    ],
)
def test_other_ecosystems(parser, text: str, expected: list[str]) -> None:
    assert names(parser(text)) == expected
