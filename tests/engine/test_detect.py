"""Detection semantics on small hand-made repositories: signals, combinators, safety nets."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftscan.collectors.local import DirSource
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.engine.rules import load_ruleset, split_key_path
from driftscan.models import RepoStatus


def rules(tmp_path: Path, body: str) -> CompiledRuleset:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "probe.yaml").write_text(
        "id: probe\ncategory: probe\ndimension: probe.value\ntitle: probe\ndetect:\n" + body
    )
    return CompiledRuleset.compile(load_ruleset([folder], include_builtin=False))


def repo(tmp_path: Path, files: dict[str, str]) -> DirSource:
    root = tmp_path / "repo"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return DirSource(root)


def found(compiled: CompiledRuleset, source: DirSource) -> dict[str, list[tuple[str, int | None]]]:
    result = detect_repo(compiled, source)
    return {f.value: [(e.path, e.line) for e in f.evidence] for f in result.facts}


def test_exclude_and_contains(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path,
        "  jenkins: {file: '**/Jenkinsfile*', exclude: ['**/*.md', '**/resources/**']}\n"
        "  secret-doc:\n"
        "    yaml: {in: '**/*.yaml', kind: Secret, contains: '^(?:data|stringData):'}\n",
    )
    source = repo(
        tmp_path,
        {
            "Jenkinsfile": "pipeline {}\n",
            "Jenkinsfile.md": "# notes\n",
            "lib/resources/Jenkinsfile.template": "x\n",
            "k8s/empty.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
            "k8s/full.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\ndata:\n  k: dg==\n",
        },
    )
    assert found(compiled, source) == {
        "jenkins": [("Jenkinsfile", 1)],
        "secret-doc": [("k8s/full.yaml", 2)],
    }


def test_key_paths_with_escaped_dots_point_at_the_key(tmp_path: Path) -> None:
    assert split_key_path(r"metadata.annotations.vault\.hashicorp\.com/role") == (
        "metadata",
        "annotations",
        "vault.hashicorp.com/role",
    )
    compiled = rules(
        tmp_path,
        "  vault:\n    yaml: {in: '**/*.yaml', key: 'spec.template.metadata.annotations.vault\\.hashicorp\\.com/role'}\n"
        "  block:\n    yaml: {in: '**/*.yaml', key: spec.template}\n",
    )
    source = repo(
        tmp_path,
        {
            "deploy.yaml": "kind: Deployment\nspec:\n  template:\n    metadata:\n      annotations:\n"
            "        vault.hashicorp.com/role: api\n"
        },
    )
    assert found(compiled, source) == {"vault": [("deploy.yaml", 6)], "block": [("deploy.yaml", 3)]}


def test_crd_schemas_are_not_configuration(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path, "  pagerduty: {yaml: {in: '**/*.yaml', key: '**.pagerdutyConfigs'}}\n"
    )
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n"
        "  versions:\n    - schema:\n        properties:\n          pagerdutyConfigs: {type: array}\n"
    )
    real = "apiVersion: monitoring.coreos.com/v1alpha1\nkind: AlertmanagerConfig\nspec:\n  receivers:\n    - pagerdutyConfigs: []\n"
    assert found(compiled, repo(tmp_path, {"crd.yaml": crd})) == {}
    assert found(compiled, repo(tmp_path, {"amc.yaml": real})) == {"pagerduty": [("amc.yaml", 5)]}


def test_top_level_lists_answer_key_questions(tmp_path: Path) -> None:
    compiled = rules(tmp_path, "  ansible: {yaml: {in: '**/*.yml', key: [hosts, tasks]}}\n")
    playbook = "- hosts: web\n  tasks:\n    - name: ping\n      ping: {}\n"
    assert found(compiled, repo(tmp_path, {"site.yml": playbook})) == {"ansible": [("site.yml", 1)]}


def test_combinators_and_evidence(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path,
        "  boto-secrets:\n    all:\n      - dependency: 'pypi:boto3'\n"
        "      - content: 'get_secret_value\\('\n        in: '**/*.py'\n        example: 'c.get_secret_value('\n"
        "  no-docker:\n    all:\n      - file: requirements.txt\n      - not: {file: Dockerfile}\n",
    )
    source = repo(
        tmp_path,
        {
            "requirements.txt": "boto3==1.34\n",
            "app/secrets.py": "import boto3\n# c.get_secret_value(x)\nvalue = client.get_secret_value(SecretId='db')\n",
        },
    )
    assert found(compiled, source) == {
        "boto-secrets": [("app/secrets.py", 3), ("requirements.txt", 1)],
        "no-docker": [("requirements.txt", 1)],
    }


def test_images_from_env_files_and_variable_defaults(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path, "  jaeger: {image: 'jaegertracing/*'}\n  grafana: {image: 'grafana/grafana'}\n"
    )
    source = repo(
        tmp_path,
        {
            ".env": "JAEGERTRACING_IMAGE=quay.io/jaegertracing/jaeger:2.19.0\n",
            "compose.yaml": "services:\n  jaeger:\n    image: ${JAEGERTRACING_IMAGE}\n"
            "  grafana:\n    image: ${REGISTRY:-docker.io}/grafana/grafana:11\n",
        },
    )
    assert found(compiled, source) == {
        "jaeger": [(".env", 1)],
        "grafana": [("compose.yaml", 5)],
    }


# -- whole-detection fuzzing: no file content can crash detection ---------------------------

NAMES = [
    ".github/workflows/ci.yml",
    "Jenkinsfile",
    "Chart.yaml",
    "templates/deploy.yaml",
    "package.json",
    "requirements.txt",
    "pyproject.toml",
    "go.mod",
    "pom.xml",
    "build.gradle",
    "Cargo.toml",
    "composer.json",
    "app.csproj",
    "Dockerfile",
    "docker-compose.yml",
    ".env",
    "main.tf",
    "serverless.yml",
    "Pulumi.prod.yaml",
    "config/deploy.yml",
    ".gitattributes",
    "setup.py",
    "setup.cfg",
    "Gemfile",
    "deploy.sh",
    "k8s/secret.yaml",
    "id_rsa",
]
FULL = CompiledRuleset.compile(load_ruleset())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(st.sampled_from(NAMES), st.binary(max_size=3000), min_size=1, max_size=8))
def test_random_file_contents_never_crash_detection(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    root = tmp_path / "fuzz"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    result = detect_repo(FULL, DirSource(root), DetectOptions(max_file_size=2048))
    assert result.status is RepoStatus.OK
    for name in list(files):
        (root / name).unlink()


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab:- {}[]|>&*!%#'\"\n kindSecret.$\t")), max_size=600
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(YAMLISH, YAMLISH)
def test_random_yaml_in_every_yaml_role_never_crashes(
    tmp_path: Path, first: str, second: str
) -> None:
    root = tmp_path / "fuzz-yaml"
    files = {
        "Chart.yaml": first,
        "k8s/all.yaml": first + "\n---\n" + second,
        ".gitlab-ci.yml": second,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert detect_repo(FULL, DirSource(root)).status is RepoStatus.OK


def test_exclude_beside_leaves_out_files_under_a_marker_folder(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path,
        "  manifests:\n"
        "    content: '^kind: ConfigMap'\n"
        "    in: '**/*.yaml'\n"
        "    example: 'kind: ConfigMap'\n"
        "    exclude_beside: {marker: 'Chart.{yaml,yml}', path: 'templates/**'}\n"
        "  any-file:\n"
        "    file: '**/*.yaml'\n"
        "    exclude_beside: [{marker: Chart.yaml, path: 'templates/**'}, {marker: '*.marker', path: '**'}]\n",
    )
    cm = "apiVersion: v1\nkind: ConfigMap\n"
    source = repo(
        tmp_path,
        {
            "charts/api/Chart.yaml": "apiVersion: v2\nname: api\n",
            "charts/api/templates/cm.yaml": cm,  # a static template of a chart
            "charts/api/templates/sub/cm.yaml": cm,
            "charts/web/Chart.yml": "apiVersion: v2\nname: web\n",
            "charts/web/templates/cm.yaml": cm,
            "charts/api/ci/cm.yaml": cm,  # beside Chart.yaml, but not under templates/
            "k8s/templates/cm.yaml": cm,  # a templates/ folder with no Chart.yaml beside it
            "k8s/cm.yaml": cm,
            "skip/x.marker": "",
            "skip/deep/cm.yaml": cm,
        },
    )
    assert found(compiled, source) == {
        "manifests": [
            ("charts/api/ci/cm.yaml", 2),
            ("k8s/cm.yaml", 2),
            ("k8s/templates/cm.yaml", 2),
            ("skip/deep/cm.yaml", 2),
        ],
        "any-file": [
            ("charts/api/Chart.yaml", 1),
            ("charts/api/ci/cm.yaml", 1),
            ("charts/web/templates/cm.yaml", 1),
            ("k8s/cm.yaml", 1),
            ("k8s/templates/cm.yaml", 1),
        ],
    }


def test_exclude_beside_at_the_root(tmp_path: Path) -> None:
    compiled = rules(
        tmp_path,
        "  manifests:\n"
        "    yaml: {in: '**/*.yaml', kind: ConfigMap, exclude_beside: {marker: Chart.yaml, path: 'templates/**'}}\n",
    )
    cm = "apiVersion: v1\nkind: ConfigMap\n"
    source = repo(
        tmp_path,
        {
            "Chart.yaml": "apiVersion: v2\nname: api\n",
            "templates/cm.yaml": cm,
            "deploy/cm.yaml": cm,
        },
    )
    assert found(compiled, source) == {"manifests": [("deploy/cm.yaml", 2)]}
