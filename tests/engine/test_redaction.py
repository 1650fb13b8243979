"""Redaction of infra files before they are normalised, hashed, signed and stored: every
credential value goes, every reference to a secret stays."""

from __future__ import annotations

import time

import pytest

from driftscan.engine.credentials import REDACTED, is_reference, redact, secret_named
from driftscan.engine.infra import infra_files

# Assembled at run time so that this file itself holds no credential-shaped literal.
GITHUB_TOKEN = "ghp_" + "Zq81vLr0TxWb5NcYd3Hk7PmAe2Fs9Ju4Gi6O"
AWS_KEY_ID = "AKIA" + "ZQ4RTY7UIO2PLKJH"
AWS_SECRET = "Rz8/vLq2Tx" + "Wb5NcYd3Hk7PmAe2Fs9Ju4Gi6Oa+"
SLACK_TOKEN = "xoxb-" + "2048301776-5120983311-q8wz4mkx3v7t"
KEY_LINES = ["MIIEpAIBAAKCAQEA3Zq81vLr0TxWb5NcYd3Hk7PmAe2Fs9Ju4Gi6Oa" + "Rz8vLq2TxWb5Nc"] * 4
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_LINES) + "\n-----END RSA PRIVATE KEY-----"
SECRET = "v4lue-" + "Qm7zX2"  # a plain password no format detector knows

REDACTED_CASES = {
    "github token anywhere": (f"run: ./release --quiet {GITHUB_TOKEN}", GITHUB_TOKEN),
    "aws key id": (f"  AWS_ACCESS_KEY_ID: {AWS_KEY_ID}", AWS_KEY_ID),
    "aws secret unquoted": (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    "aws secret quoted": (f'aws_secret_access_key = "{AWS_SECRET}"', AWS_SECRET),
    "slack token": (f"SLACK: {SLACK_TOKEN}", SLACK_TOKEN),
    "yaml password": (f"  password: {SECRET}", SECRET),
    "yaml camelCase": (f"  dbPassword: '{SECRET}'", SECRET),
    "yaml trailing comment": (f"  api_key: {SECRET} # prod", SECRET),
    "yaml flow mapping": (f"auth: {{user: bob, password: {SECRET}}}", SECRET),
    "json": (f'{{"client_secret": "{SECRET}", "id": 3}}', SECRET),
    "ruby hash": (f"'access_key' => '{SECRET}'", SECRET),
    "compose list": (f"      - POSTGRES_PASSWORD={SECRET} with spaces", "spaces"),
    "dockerfile ENV": (f"ENV DB_PASSWORD={SECRET}", SECRET),
    "dockerfile ENV old form": (f"ENV DB_PASSWORD {SECRET}", SECRET),
    "dockerfile ARG": (f"ARG NPM_TOKEN={SECRET}", SECRET),
    "shell export": (f'export REGISTRY_PASS="{SECRET}"', SECRET),
    "query string": (f"curl https://api.example.com/x?access_token={SECRET}&page=2", SECRET),
    "long flag": (f"./tool --registry-password {SECRET} --verbose", SECRET),
    "long flag =": (f"./tool --token={SECRET}", SECRET),
    "docker login -p": (f"docker login -u ci -p {SECRET} registry.example.com", SECRET),
    "podman login -p=": (f"podman login --username ci -p={SECRET} quay.io", SECRET),
    "echo to --password-stdin": (f"echo '{SECRET}' | docker login -u ci --password-stdin", SECRET),
    "mysql -p": (f"mysqldump -uroot -p{SECRET} app > dump.sql", SECRET),
    "sshpass": (f"sshpass -p {SECRET} ssh deploy@host", SECRET),
    "curl -u": (f"curl -u ci:{SECRET} https://example.com", SECRET),
    "kubectl --from-literal": (
        f"kubectl create secret generic x --from-literal=db={SECRET}",
        SECRET,
    ),
    "netrc by script": (f"echo 'machine github.com login ci password {SECRET}' > ~/.netrc", SECRET),
    "npm config set": (f"npm config set //registry.npmjs.org/:_authToken {SECRET}", SECRET),
    "aws configure set": (f"aws configure set aws_secret_access_key {SECRET}", SECRET),
    "openssl pass:": (f"openssl rsa -in k.pem -passin pass:{SECRET}", SECRET),
    "basic-auth url": (f"git clone https://ci:{SECRET}@git.example.com/a/b.git", SECRET),
    "url with empty user": (f"REDIS_URL=redis://:{SECRET}@cache:6379/0", SECRET),
    "token as url user": (f"pip install git+https://{SECRET}x9k2m4n6p8@host/r.git", SECRET),
    "bearer header": (f'curl -H "Authorization: Bearer {SECRET}" https://x', SECRET),
    "private-token header": (f"curl --header 'PRIVATE-TOKEN: {SECRET}' https://x", SECRET),
    "npmrc auth token": (f'echo "//registry.npmjs.org/:_authToken={SECRET}" > .npmrc', SECRET),
    "helm --set": (f"helm upgrade app ./chart --set auth.password={SECRET}", SECRET),
    "shell default": (f"  DB_PASSWORD: ${{DB_PASSWORD:-{SECRET}}}", SECRET),
    "template with literal": (f'  password: {{{{ .Values.pw | default "{SECRET}" }}}}', SECRET),
    "k8s env name/value": (f"- name: DB_PASSWORD\n  value: {SECRET}", SECRET),
    "k8s env value/name": (f"- value: {SECRET}\n  name: API_TOKEN", SECRET),
    "ecs env on one line": (f'{{ name = "DB_PASSWORD", value = "{SECRET}" }}', SECRET),
    "yaml block scalar": (f"ssh_private_key: |\n  {SECRET}\n  more\nnext: 1", SECRET),
    "yaml plain scalar below": (f"token:\n  {SECRET}\nnext: 1", SECRET),
    "yaml list under secret": (f"passwords:\n  - {SECRET}\n", SECRET),
    "gitlab expanded variable": (
        f"variables:\n  DEPLOY_TOKEN:\n    value: {SECRET}\n    description: deploy\n",
        SECRET,
    ),
    "workflow input default": (f"inputs:\n  api_key:\n    default: '{SECRET}'\n", SECRET),
    "pem block": (f"key: |\n  {PEM.replace(chr(10), chr(10) + '  ')}\n", KEY_LINES[0]),
    "pem in heredoc": (f"cat > ~/.ssh/id_rsa <<EOF\n{PEM}\nEOF\n", KEY_LINES[0]),
    "pem without end": (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_LINES[0]}\n", KEY_LINES[0]),
    "pem without end, short last line": (
        f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_LINES[0]}\n" + "Gi6Oa" + "Rz8vLq==\nfi\n",
        "Gi6Oa" + "Rz8vLq==",
    ),
    "pem one line": (f'KEY="{PEM.replace(chr(10), chr(92) + "n")}"', KEY_LINES[0]),
    "terraform default": (
        f'variable "db_password" {{\n  type = string\n  default = "{SECRET}"\n}}',
        SECRET,
    ),
    "terraform sensitive": (
        f'variable "conn" {{\n  sensitive = true\n  default = {{ a = "{SECRET}" }}\n}}',
        SECRET,
    ),
    "terraform heredoc default": (
        f'variable "api_token" {{\n  default = <<EOT\n{SECRET}\nEOT\n}}\noutput "x" {{}}',
        SECRET,
    ),
    "terraform attribute": (f'  master_password = "{SECRET}"', SECRET),
    "kubernetes secret data": (
        f"apiVersion: v1\nkind: Secret\ndata:\n  url: {SECRET}\n  conf: |\n    {SECRET}z\n",
        SECRET,
    ),
    "kubernetes secret stringData flow": (
        f"kind: Secret\nstringData: {{dsn: {SECRET}}}\n",
        SECRET,
    ),
}


@pytest.mark.parametrize("case", sorted(REDACTED_CASES))
def test_credential_values_are_redacted(case: str) -> None:
    text, secret = REDACTED_CASES[case]
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


KEPT = [
    "password: ${{ secrets.DOCKER_PASSWORD }}",
    'password: "${{ secrets.DOCKER_PASSWORD }}"',
    "token: $CI_JOB_TOKEN",
    "API_KEY: ${API_KEY}",
    "docker login -u $USER -p $REGISTRY_PASSWORD registry.example.com",
    'curl -H "Authorization: Bearer ${{ secrets.API_TOKEN }}" https://x',
    "password: ((registry-password))",
    "password:\n  from_secret: docker_password",
    "  password: {{ .Values.db.password | b64enc | quote }}",
    "secrets: inherit",
    "secretName: db-credentials",
    "POSTGRES_PASSWORD_FILE: /run/secrets/db_password",
    "password = var.db_password",
    "DOCKER_CREDS = credentials('docker-hub')",
    "git clone https://${GH_USER}:${GH_TOKEN}@github.com/a/b.git",
    "ssh://git@github.com/a/b.git",
    "- name: DB_HOST\n  value: db.internal",
    'variable "region" {\n  default = "eu-west-1"\n}',
    "kind: ConfigMap\ndata:\n  level: debug",
    "author: someone\nkeyword: bypass\nmkdir -p build",
    "- uses: actions/cache@v4\n  with:\n    key: ${{ runner.os }}-pip",
]


@pytest.mark.parametrize("text", KEPT)
def test_references_and_ordinary_values_are_kept(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_stable_and_idempotent() -> None:
    text = "\n".join(t for t, _secret in REDACTED_CASES.values())
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("dbPassword", True),
        ("x-api-key", True),
        ("_authToken", True),
        ("Authorization", True),
        ("client_secret", True),
        ("npmtoken", True),
        ("password_file", False),
        ("secretName", False),
        ("secretKeyRef", False),
        ("from_secret", False),
        ("password-stdin", False),
        ("author", False),
        ("bypass", False),
        ("key", False),
        ("cache_key", False),
        ("tokenizer", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_named(name) is secret


def test_references() -> None:
    assert is_reference("${{ secrets.X }}") and is_reference("$A:$B") and is_reference("((x))")
    assert not is_reference("$A:literal") and not is_reference('{{ .V | default "x" }}')


def test_stored_text_hash_and_signature_derive_from_no_value() -> None:
    """Two copies differing only in their secrets are one content: same text, hash and MinHash,
    none holding the value."""
    workflow = (
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: docker login -u ci -p {secret} ghcr.io\n"
        "      - run: make release\n        env:\n          API_TOKEN: {token}\n"
    )
    one = workflow.format(secret=SECRET, token=GITHUB_TOKEN)
    two = workflow.format(secret="an0ther-pass", token="t0ken-" + "x" * 12)
    (a,) = infra_files([".github/workflows/ci.yml"], {".github/workflows/ci.yml": one}.get, "r1")
    (b,) = infra_files([".github/workflows/ci.yml"], {".github/workflows/ci.yml": two}.get, "r2")
    assert (a.text, a.content_hash, a.minhash) == (b.text, b.content_hash, b.minhash)
    assert SECRET not in a.text and GITHUB_TOKEN not in a.text and REDACTED in a.text
    assert "make release" in a.text  # the rest of the file is still there to be compared


HOSTILE_UNITS = ["pass", "a.", "eyJ", "{password: a, ", "token=", "password: ${A:-", "a.a://x"]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
@pytest.mark.parametrize("width", [64 << 10, 2040])
def test_hostile_files_are_redacted_in_linear_time(unit: str, width: int) -> None:
    """Repetitions that make a backtracking regex quadratic (one 64 KiB line took 19 s before
    lines were capped and keys matched possessively); a file is at most 64 KiB."""
    line = (unit * (width // len(unit) + 1))[:width]
    text = "\n".join([line] * ((64 << 10) // width))
    started = time.process_time()
    redact(text)
    assert time.process_time() - started < 0.5  # <= 0.05 s capped; 1.5 s to minutes when not


def test_private_key_headers_without_an_end_cost_one_pass() -> None:
    text = "-----BEGIN RSA PRIVATE KEY-----\n" * 2000 + "\n".join(KEY_LINES)
    assert KEY_LINES[0] not in redact(text)
