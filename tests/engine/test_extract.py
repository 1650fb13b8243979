"""Extractors: comments blanked with lines kept; images, actions and env names found."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from wcmatch import glob as wcglob

from driftscan.engine import extract
from driftscan.engine.paths import GLOB_FLAGS, PathMatcher, is_active_path


def test_active_text_blanks_comments_per_file_type() -> None:
    yml = "a: 1\n  # - uses: DataDog/x@v1\nb: 2\n"
    assert extract.active_text("ci.yml", yml).splitlines() == ["a: 1", "", "b: 2"]
    groovy = "pipeline {\n  // sh 'deploy'\n  /* stage('x') {\n  } */\n}\n"
    assert "deploy" not in extract.active_text("Jenkinsfile", groovy)
    assert extract.active_text("Jenkinsfile", groovy).count("\n") == groovy.count("\n")
    assert "x" not in extract.active_text("main.tf", '# provider "x"\n// y\n')
    assert extract.active_text("README.unknown", "# title\n") == "# title\n"
    # an Azure CLI scratchpad is a shell script
    assert "deploy" not in extract.active_text("infra/deploy.azcli", "# az webapp deploy -n x\n")


def test_images_from_dockerfile_skip_stages_scratch_and_variables() -> None:
    text = "FROM --platform=$BUILDPLATFORM python:3.12-slim AS build\nFROM build AS test\nFROM ${BASE}\nFROM scratch\nFROM gcr.io/distroless/python3@sha256:abc\n"
    refs = extract.images("Dockerfile.prod", text)
    assert [(r.name, r.tag, r.line) for r in refs] == [
        ("python", "3.12-slim", 1),
        ("gcr.io/distroless/python3", "sha256:abc", 5),
    ]


def test_images_from_yaml_and_registry_ports() -> None:
    text = "services:\n  agent:\n    image: 'gcr.io/datadoghq/agent:7'\n  db:\n    image: localhost:5000/pg\n  x:\n    image: ${IMG}\n"
    refs = extract.images("docker-compose.yml", text)
    assert [(r.name, r.tag) for r in refs] == [
        ("gcr.io/datadoghq/agent", "7"),
        ("localhost:5000/pg", ""),
    ]


def test_actions() -> None:
    text = "steps:\n  - uses: actions/checkout@v4\n  - uses: ./.github/actions/local\n  - uses: docker://alpine:3\n  - uses: 'HashiCorp/vault-action@8a2f0e1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f'\n"
    refs = extract.actions(text)
    assert [(r.name, r.ref, r.line) for r in refs] == [
        ("actions/checkout", "v4", 2),
        ("hashicorp/vault-action", "8a2f0e1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f", 5),
    ]


def test_env_names() -> None:
    text = "env:\n  DD_SERVICE: api\n  - name: OTEL_EXPORTER_OTLP_ENDPOINT\nENV SENTRY_DSN=x\nlower_case: 1\n"
    assert [n for n, _ in extract.env_names(text)] == [
        "DD_SERVICE",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "SENTRY_DSN",
    ]


def test_inactive_paths() -> None:
    assert is_active_path("services/api/Dockerfile")
    assert is_active_path("fixtures/data.json")
    for path in (
        "examples/a/.travis.yml",
        "vendor/x/Jenkinsfile",
        "test/fixtures/k8s.yaml",
        "pkg/testdata/ci.yml",
        "web/node_modules/x/package.json",
        "third_party/y/Dockerfile",
    ):
        assert not is_active_path(path), path


def test_path_matcher_reports_every_glob_per_path() -> None:
    matcher = PathMatcher.build(
        ["**/Jenkinsfile", "Jenkinsfile", ".github/workflows/*.{yml,yaml}", "**/*.yaml"]
    )
    found = matcher.match(
        ["Jenkinsfile", "ci/Jenkinsfile", ".github/workflows/a.yaml", "README.md", "xJenkinsfile"]
    )
    assert found == {
        "**/Jenkinsfile": ("Jenkinsfile", "ci/Jenkinsfile"),
        "Jenkinsfile": ("Jenkinsfile",),
        ".github/workflows/*.{yml,yaml}": (".github/workflows/a.yaml",),
        "**/*.yaml": (".github/workflows/a.yaml",),
    }


GLOBS = [
    "**/Jenkinsfile",
    "**/*.{yml,yaml}",
    ".github/workflows/*.{yml,yaml}",
    "**/{Dockerfile,Containerfile}{,.*}",
    "**/requirements*.txt",
    "bamboo-specs/**",
    ".teamcity/*.kts",
    "**/[Dd]ockerfile",
    "**/docker-compose*.y*ml",
    "*",
    "**",
    "{a,b}/**/c?.tf",
    "[!.]*/**/Dockerfile",
    "**/test[!s]*/Jenkinsfile",
]
SEGMENTS = [
    "a",
    "b",
    "c1.tf",
    ".github",
    "workflows",
    "ci.yml",
    "x.yaml",
    "Jenkinsfile",
    "Dockerfile",
    "Dockerfile.prod",
    "dockerfile",
    "requirements-dev.txt",
    "bamboo-specs",
    "s.kts",
    ".teamcity",
    "docker-compose.override.yml",
    ".hidden",
    "README.md",
    "test",
    "testx",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map("/".join), max_size=30)
)
def test_path_matcher_agrees_with_wcmatch(paths: list[str]) -> None:
    found = PathMatcher.build(GLOBS).match(paths)
    for glob in GLOBS:
        expected = tuple(
            dict.fromkeys(p for p in paths if wcglob.globmatch(p, glob, flags=GLOB_FLAGS))
        )
        assert found.get(glob, ()) == expected, glob


def test_images_in_nomad_and_terraform() -> None:
    text = 'job "prom" {\n  task "p" {\n    config {\n      image = "prom/prometheus:v2.53.0"\n    }\n  }\n}\n'
    assert [(r.name, r.tag, r.line) for r in extract.images("jobs/prometheus.nomad", text)] == [
        ("prom/prometheus", "v2.53.0", 4)
    ]


def test_teaching_and_example_folders_are_inactive() -> None:
    for path in (
        "topics/cicd/solutions/Jenkinsfile",
        "exercises/k8s/deploy.yaml",
        "maven-resolver-demos/a/key.pem",
        "app/spring-examples/Dockerfile",
    ):
        assert not is_active_path(path), path
    assert is_active_path("storefront-demo/Dockerfile")
    for path in (
        "docs/snippets/deployment.yaml",
        "x/__snapshot__/a.yaml",
        "pkg/_testdata/k.key",
        "config/keys.example/a.key",
        "its/env/Dockerfile",
    ):
        assert not is_active_path(path), path
    assert is_active_path("apps/docs/netlify.toml")  # a documentation site's own deployment


def test_jvm_package_folders_named_like_examples_are_code() -> None:
    # Spring Initializr's default package is com.example: a real application's code and config
    for path in (
        "src/main/java/com/example/demo/SecretsConfig.java",
        "svc/src/main/kotlin/org/sample/app/Main.kt",
        "src/main/resources/com/example/mock/application.properties",
    ):
        assert is_active_path(path), path
    for path in (
        "examples/src/main/java/com/acme/App.java",  # the folder above the source root counts
        "src/main/examples/App.java",  # not a JVM source root
    ):
        assert not is_active_path(path), path


def test_images_inline_in_terraform_jsonencode() -> None:
    text = (
        'resource "aws_ecs_task_definition" "api" {\n'
        "  container_definitions = jsonencode([\n"
        '    { name = "api", image = "${var.image}" },\n'
        '    { name = "datadog-agent", image = "public.ecr.aws/datadog/agent:7" },\n'
        "  ])\n"
        '  docker_image = "not/this"\n'
        "}\n"
    )
    assert [(r.name, r.tag, r.line) for r in extract.images("infra/ecs.tf", text)] == [
        ("public.ecr.aws/datadog/agent", "7", 4)
    ]


def test_images_in_json_task_and_container_definitions() -> None:
    text = (
        '{\n  "family": "api",\n  "containerDefinitions": [\n'
        '    {"name": "app", "image": "${IMAGE}"},\n'
        '    {"name": "otel", "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"},\n'
        '    {"name": "cfn", "Image": "amazon/aws-xray-daemon"}\n'
        "  ],\n"
        '  "icon": {"image": "assets/logo.png"}, "avatar": {"image": "https://x.io/a.png"}\n'
        "}\n"
    )
    refs = extract.images("deploy/task-definition.json", text)
    assert [(r.name, r.tag, r.line) for r in refs] == [
        ("public.ecr.aws/aws-observability/aws-otel-collector", "v0.40.0", 5),
        ("amazon/aws-xray-daemon", "", 6),
    ]
    assert extract.images("ecs/container-definitions.json.tpl", text) == refs


def test_images_never_read_from_lockfiles() -> None:
    text = '{"packages": {"node_modules/x": {"image": "datadog/agent"}}}'
    assert extract.images("package-lock.json", text) == []
    assert extract.images("web/packages.lock.json", text) == []


def test_lockfiles_are_never_active() -> None:
    # a `**/*.json` or `**/*.yaml` rule must not make a scan fetch and parse resolved pins
    for path in (
        "package-lock.json",
        "web/pnpm-lock.yaml",
        "api/poetry.lock",
        "go.sum",
        "app/Gemfile.lock",
        "src/App/packages.lock.json",
        "ios/Podfile.lock",
    ):
        assert not is_active_path(path), path
    for path in ("package.json", "locks/config.yaml", "deploy/lock.yaml", "clock.json"):
        assert is_active_path(path), path
