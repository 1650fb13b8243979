"""Credentials: found by detect-secrets' detectors, reported by type and line, never by value."""

from __future__ import annotations

import base64

from driftscan.engine.credentials import (
    file_credentials,
    find_credentials,
    is_env_file,
    is_literal_secret,
    is_template,
)

# Assembled at run time so that this file itself holds no credential-shaped literal.
AWS_KEY = "AKIA" + "Q3EGRJ7ZNY5LM2WP"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
KEY_BODY = "\n".join(["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"] * 5)


def test_finds_cloud_keys_tokens_and_private_keys_by_type_and_line() -> None:
    text = f"region: eu\naws_access_key_id: {AWS_KEY}\ntoken={GITHUB_TOKEN}\n-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
    found = list(find_credentials(text, b"salt"))
    assert [(c.kind, c.line) for c in found] == [
        ("AWS Access Key", 2),
        ("GitHub Token", 3),
        ("Private Key", 4),
    ]
    for cred in found:
        assert AWS_KEY not in repr(cred) and GITHUB_TOKEN not in repr(cred)
        assert len(cred.fingerprint) == 16


def test_fingerprints_are_salted_and_stable() -> None:
    text = f"key: {AWS_KEY}\n"
    (a,) = find_credentials(text, b"one")
    (b,) = find_credentials(text, b"one")
    (c,) = find_credentials(text, b"two")
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_documentation_examples_and_placeholders_are_not_credentials() -> None:
    text = (
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "key: AKIAXXXXXXXXXXXXXXXX\n"
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n"
        'PEM_HEADER = "-----BEGIN PRIVATE KEY-----"\n'
        "password: hunter2\n"
        "https://user:pass@example.com\n"
    )
    assert list(find_credentials(text, b"s")) == []


def test_text_without_candidates_is_cheap_and_empty() -> None:
    assert list(find_credentials("plain: yaml\n" * 10_000, b"s")) == []


RANDOM_HEX = "cc139335228526cabba4bb52dc522323a0c86db5c611dd2879364bb1ecd46"


def test_random_secrets_under_secret_names_in_env_and_config_files() -> None:
    env = f"DEBUG=1\nSECRET={RANDOM_HEX}\nAPP_SECRET_TOKEN={RANDOM_HEX[::-1]}\nPASSWORD=changeme\nAPI_KEY=abcdefghijklmnopqrstuvwxyz123456\n"
    assert [(c.kind, c.line) for c in find_credentials(env, b"s", env_file=True)] == [
        ("Secret in env file", 2),
        ("Secret in env file", 3),
    ]
    yml = f"development:\n  secret_key_base: {RANDOM_HEX}\nproduction:\n  secret_key_base: <%= ENV['SECRET_KEY_BASE'] %>\n"
    assert [c.line for c in find_credentials(yml, b"s", config_file=True)] == [2]
    exs = f'config :app, AppWeb.Endpoint,\n  secret_key_base: "{RANDOM_HEX}",\n  live_view: [signing_salt: "x"]\n'
    assert [c.line for c in find_credentials(exs, b"s", config_file=True)] == [2]
    sealed = f"kind: SealedSecret\nspec:\n  encryptedData:\n    password: {RANDOM_HEX}\n"
    assert list(find_credentials(sealed, b"s", config_file=True)) == []
    assert list(find_credentials(yml, b"s")) == []  # the keyword checks need a file kind


# -- framework files: placeholder (none) vs real vs a dev/test-only default ---------------


HEX32 = "8e6b1c0f4d2a97a3" + "c5e1f06b3d9a7c42"
STRIPE_TEST = "sk_" + "test_51OqLm2Hc8dKLm2Qp9Rz4Tv7Xw1YaB3cD"


def judged(path: str, text: str) -> list[tuple[str, int, str | None]]:
    return [(c.kind, c.line, c.environment) for c in file_credentials(path, text, b"s")]


def test_placeholders_references_and_stock_defaults_are_not_literal_secrets() -> None:
    for value in (
        "",
        "changeme",
        "change-me-to-a-long-random-string",
        "<your-key>",
        "<YourStrong@Passw0rd>",
        "yourStrong(!)Password",
        "xxxxxxxxxxxx",
        "${DB_PASSWORD}",
        "%(DB_PASSWORD)s",
        "{{ .Values.password }}",
        "dummy-secret-value",
        "example-api-key",
        "ENC(nrmZtkF7T0kjG/VodDvBw93Ct8EgjCA+)",
        "@db.password@",
        "password",
        "postgres",
        "1234",
        "aaaaaaaaaaaa",
        "12345678",  # digits only: a port, a timeout, an id
        "dev-secret-key",  # words only: a reminder, not a key
        "https://login.microsoftonline.com/common",  # a TokenEndpoint
        "/run/secrets/jwt-signing-key",  # a path
        "some words 1234",  # a sentence
        # JHipster's generated base64-secret: "my-secret-key-which-should-be-changed-in-..."
        base64.b64encode(b"my-secret-key-which-should-be-changed-in-production\n").decode(),
    ):
        assert not is_literal_secret(value), value
    for value in ("Bi11ing-Pr0d#77", "q8#h2vL!t6Wz@p0nR4", HEX32, "orders-dev-Pw42"):
        assert is_literal_secret(value), value


def test_rails_key_files() -> None:
    assert judged("config/master.key", HEX32 + "\n") == [("Rails master key", 1, None)]
    assert judged("config/credentials/production.key", HEX32) == [("Rails master key", 1, None)]
    assert judged("config/credentials/development.key", HEX32) == [
        ("Rails master key", 1, "development")
    ]
    assert judged("config/credentials/test.key", HEX32) == [("Rails master key", 1, "test")]
    assert judged("config/master.key", "see README\n") == []
    # a committed master.key is the key wherever it sits (a nested app, a Docker context)
    assert judged("apps/shop/master.key", HEX32) == [("Rails master key", 1, None)]
    assert judged("lib/session.key", HEX32) == []  # not a Rails key name
    assert judged("docker/master.key", HEX32 + "\nsecond line\n") == []  # not the key alone


def test_rails_secrets_yml_sections() -> None:
    text = (
        f"development:\n  secret_key_base: {RANDOM_HEX}\n"
        f"test:\n  secret_key_base: {RANDOM_HEX[::-1]}\n"
        "production:\n  secret_key_base: <%= ENV['SECRET_KEY_BASE'] %>\n"
        f"staging:\n  secret_key_base: {RANDOM_HEX[1:]}\n"
    )
    assert judged("config/secrets.yml", text) == [
        ("Rails secret_key_base", 2, "development"),
        ("Rails secret_key_base", 4, "test"),
        ("Rails secret_key_base", 8, None),
    ]


def test_django_settings() -> None:
    insecure = 'SECRET_KEY = "django-insecure-7r$k!q2w@9e#x1z&v5m^b8n0c3p*l6j4h+g-f=d(s)a"\n'
    assert judged("shop/settings.py", insecure) == [("Django development key", 1, "development")]
    fallback = 'SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "q8#h2vL!t6Wz@p0nR4$xK9m")\n'
    assert judged("shop/settings/production.py", fallback) == [("Django secret key", 1, None)]
    either = "SECRET_KEY = os.getenv('SECRET_KEY') or 'q8#h2vL!t6Wz@p0nR4'\n"
    assert judged("app/settings.py", either) == [("Django secret key", 1, None)]
    assert judged("shop/settings/test.py", "SECRET_KEY = 'q8#h2vL!t6Wz@p0nR4'\n") == [
        ("Django secret key", 1, "test")
    ]
    for text in (
        'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]\n',
        'SECRET_KEY = env("DJANGO_SECRET_KEY")\n',
        "SECRET_KEY = config('SECRET_KEY')\n",
        "SECRET_KEY = 'change-me'\n",
        "SECRET_KEY = ''\n",
        "    SECRET_KEY = 'q8#h2vL!t6Wz@p0nR4'\n",  # inside a function or class: not the setting
    ):
        assert judged("shop/settings.py", text) == [], text
    assert judged("shop/views.py", insecure) == []  # only settings files are Django settings


def test_spring_configuration() -> None:
    yml = (
        "spring:\n  datasource:\n    password: Bi11ing-Pr0d#77\n"
        "    username: billing\njwt:\n  secret: ${JWT_SECRET}\n"
        "mail:\n  password: ENC(nrmZtkF7T0kjG/VodDvBw93Ct8EgjCA+)\n"
        "app:\n  secret-file: /run/secrets/jwt-signing-key\n"
    )
    assert judged("src/main/resources/application.yml", yml) == [
        ("Spring configuration secret", 3, None)
    ]
    props = "spring.datasource.password=orders-dev-Pw42\n#jwt.secret=Old-Pr0d-Pw!99\n"
    assert judged("src/main/resources/application-dev.properties", props) == [
        ("Spring configuration secret", 1, "dev")
    ]
    assert judged("src/main/resources/application-local.yml", yml) == [
        ("Spring configuration secret", 3, "local")
    ]
    assert judged("src/main/resources/application-prod.yml", yml)[0][2] is None


def test_phoenix_config() -> None:
    exs = f'config :app, AppWeb.Endpoint,\n  secret_key_base: "{RANDOM_HEX}",\n  live_view: [signing_salt: "Qm7xK2pL"]\n'
    assert judged("config/dev.exs", exs) == [("Phoenix secret_key_base", 2, "dev")]
    assert judged("config/test.exs", exs) == [("Phoenix secret_key_base", 2, "test")]
    assert judged("config/prod.exs", exs) == [("Phoenix secret_key_base", 2, None)]
    salt_only = 'config :app, AppWeb.Endpoint,\n  live_view: [signing_salt: "Qm7xK2pL"]\n'
    assert judged("config/config.exs", salt_only) == []
    runtime = (
        'config :app, AppWeb.Endpoint,\n  secret_key_base: System.get_env("SECRET_KEY_BASE")\n'
    )
    assert judged("config/runtime.exs", runtime) == []


def test_dotnet_appsettings() -> None:
    text = (
        '{\n  "ConnectionStrings": {\n'
        '    "Db": "Server=db;Database=shop;User Id=sa;Password=Sh0p!Prod#2024;",\n'
        '    "Local": "Server=(localdb)\\\\mssqllocaldb;Trusted_Connection=True",\n'
        '    "Docker": "Server=sql;User Id=sa;Password=<YourStrong@Passw0rd>"\n  },\n'
        '  "Jwt": { "Secret": "" },\n  "SendGrid": { "ApiKey": "your-sendgrid-api-key" },\n'
        '  "Payments": { "ApiKey": "pay-9f2Kq71xLm" }\n}\n'
    )
    assert judged("Api/appsettings.json", text) == [
        (".NET connection string password", 3, None),
        (".NET appsettings secret", 9, None),
    ]
    assert {c[2] for c in judged("Api/appsettings.Development.json", text)} == {"development"}


def test_cloud_parameter_files() -> None:
    arm = (
        '{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",\n'
        '  "parameters": {\n    "adminPassword": {"value": "Vm-Adm1n!x7Qr2"},\n'
        '    "sqlPassword": {"reference": {"keyVault": {"id": "/x"}, "secretName": "sql"}},\n'
        '    "apiKey": {"value": ""}\n  }\n}\n'
    )
    assert judged("infra/main.parameters.json", arm) == [("ARM parameter secret", 4, None)]
    cfn = (
        '[\n  {"ParameterKey": "Env", "ParameterValue": "prod"},\n'
        '  {"ParameterKey": "DBPassword", "ParameterValue": "Rds-M4ster!kq91"},\n'
        '  {"ParameterKey": "ApiToken", "ParameterValue": "CHANGE_ME"}\n]\n'
    )
    assert judged("cfn/params.json", cfn) == [("CloudFormation parameter secret", 3, None)]
    tfvars = 'region = "eu-west-1"\ndb_password = "Tf!Pr0d-Rds-2208"\napi_token = ""\n'
    assert judged("prod.tfvars", tfvars) == [("Terraform variable secret", 2, None)]
    bicep = (
        "using './main.bicep'\nparam adminPassword = 'Bicep-Adm1n!42'\n"
        "param sqlPassword = az.getSecret('sub', 'rg', 'kv', 'sql')\n"
    )
    assert judged("main.bicepparam", bicep) == [("Bicep parameter secret", 2, None)]


def test_kubernetes_secret_data_is_decoded_and_never_kept() -> None:
    encoded = base64.b64encode(AWS_KEY.encode()).decode()
    example = base64.b64encode(b"AKIAIOSFODNN7EXAMPLE").decode()
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws\ndata:\n"
        f"  AWS_ACCESS_KEY_ID: {encoded}\n  OTHER: {example}\n"
        f"  LOG_LEVEL: {base64.b64encode(b'info').decode()}\n"
    )
    found = list(file_credentials("k8s/secret.yaml", text, b"s"))
    assert [(c.kind, c.line) for c in found] == [("AWS Access Key in Secret data", 6)]
    assert AWS_KEY not in repr(found) and encoded not in repr(found)
    # the same key in clear has the same fingerprint: one leak, wherever it sits
    (clear,) = find_credentials(f"key: {AWS_KEY}\n", b"s")
    assert found[0].fingerprint == clear.fingerprint
    configmap = text.replace("kind: Secret", "kind: ConfigMap")
    assert list(file_credentials("k8s/secret.yaml", configmap, b"s")) == []


def test_stripe_test_keys_are_test_credentials_once() -> None:
    env = f"STRIPE_SECRET_KEY={STRIPE_TEST}\nSTRIPE_LIVE=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx\n"
    assert judged(".env", env) == [("Stripe test key", 1, "test")]


def test_detail_carries_the_environment_and_never_the_value() -> None:
    (dev,) = file_credentials("config/credentials/development.key", HEX32, b"s")
    assert dev.detail == f"credential Rails master key env:development fp:{dev.fingerprint}"
    (real,) = file_credentials("config/master.key", HEX32, b"s")
    assert real.detail == f"credential Rails master key fp:{real.fingerprint}"
    assert HEX32 not in dev.detail + real.detail


def test_env_file_and_template_names() -> None:
    for path in (
        ".env",
        ".env.production",
        ".env-staging",
        "deploy/app.env",
        ".envrc",
        ".flaskenv",
    ):
        assert is_env_file(path), path
    for path in (
        ".env.example",
        ".env-example",
        ".env_sample",
        "app.tmpl.env",
        ".sample.env",
        "config/application-secret-samples.yml",
    ):
        assert is_template(path), path
    assert not is_template("config/default.json") and not is_template("config/production.yml")
    secret = f"export API_TOKEN={RANDOM_HEX}\n"
    assert judged(".envrc", secret) == [("Secret in env file", 1, None)]
    assert judged("compose/app.tmpl.env", secret) == []


def test_framework_checks_stay_linear_on_hostile_files() -> None:
    import time

    hostile = (
        ("application.yml", "password: a" + " " * 200_000 + "x\n"),
        ("application.properties", "password=a" + " " * 200_000 + "x\n"),
        ("appsettings.json", '"' * 200_000),
        ("config/dev.exs", 'secret_key_base: "' * 50_000),
        ("application.yml", "password: Ab1!zzyyqq\n" * 50_000),
    )
    for path, text in hostile:
        start = time.process_time()
        found = list(file_credentials(path, text, b"s"))
        assert time.process_time() - start < 2.0, path
        assert len(found) <= 100


# Assembled at run time, as above.
OAUTH_HEX = "3f1a9c0b7e2d4f6a" + "8b1c3e5d7f9a0b2c4d6e8f10"
JWK_D = (
    "X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH" + "-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFA"
)
JWK_N = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"


def test_composer_auth_tokens_and_passwords() -> None:
    auth = (
        '{\n  "github-oauth": {\n    "github.com": "' + OAUTH_HEX + '"\n  },\n'
        '  "http-basic": {\n    "repo.packagist.com": {\n      "username": "acme",\n'
        '      "password": "Zk3p9QmL2xVt"\n    }\n  },\n'
        '  "bitbucket-oauth": {"bitbucket.org": {"consumer-key": "k", "consumer-secret": "Qw8e7R6t5Y4u3"}}\n}\n'
    )
    assert judged("auth.json", auth) == [
        ("Composer auth token", 3, None),
        ("Composer auth token", 8, None),
        ("Composer auth token", 11, None),
    ]
    ci = 'env:\n  COMPOSER_AUTH: \'{"github-oauth": {"github.com": "' + OAUTH_HEX + "\"}}'\n"
    assert judged(".github/workflows/ci.yml", ci) == [("Composer auth token", 2, None)]
    escaped = (
        'export COMPOSER_AUTH="{\\"bearer\\": {\\"repo.acme.io\\": \\"' + OAUTH_HEX + '\\"}}"\n'
    )
    assert judged("scripts/install.sh", escaped) == [("Composer auth token", 1, None)]
    placeholders = (
        '{"github-oauth": {"github.com": "<token>"}, "gitlab-token": {"gitlab.com": "${GITLAB_TOKEN}"},'
        ' "http-basic": {"repo.acme.io": {"username": "u", "password": "%env(REPO_PASSWORD)%"}},'
        ' "bearer": {"repo.acme.io": "%COMPOSER_BEARER%"}}'
    )
    assert judged(".composer-auth.json", placeholders) == []
    referenced = 'COMPOSER_AUTH: \'{"github-oauth": {"github.com": "${{ secrets.GH_TOKEN }}"}}\'\n'
    assert judged(".github/workflows/ci.yml", referenced) == []
    # a translation file named auth.json is no Composer auth
    assert judged("lang/en/auth.json", '{"password": "Zk3p9QmL2xVt"}') == []
    # a prefixed GitHub token is reported once, by the format detector
    assert [
        k
        for k, _l, _e in judged(
            "auth.json", '{"github-oauth": {"github.com": "' + GITHUB_TOKEN + '"}}'
        )
    ] == ["GitHub Token"]


def test_json_web_keys_with_private_material() -> None:
    private = (
        '{"kty": "RSA", "kid": "sig-1",\n "n": "'
        + JWK_N
        + '", "e": "AQAB",\n "d": "'
        + JWK_D
        + '"}'
    )
    assert judged("config/keys/signing.jwk", private) == [("JSON Web Key", 3, None)]
    jwks = '{"keys": [\n' + private + "\n]}"
    assert judged("secrets/jwks.json", jwks) == [("JSON Web Key", 4, None)]
    public = '{"keys": [{"kty": "RSA", "kid": "sig-1", "n": "' + JWK_N + '", "e": "AQAB"}]}'
    assert judged("public/.well-known/jwks.json", public) == []
    assert judged("keys/dev.jwk", '{"kty": "EC", "crv": "P-256", "d": "..."}') == []


def test_passwords_in_connection_urls() -> None:
    text = (
        "production:\n"
        "  url: postgres://app:Hq7vR2mKx9Lp@db.prod.acme.internal:5432/app\n"
        "  cache: redis://:${REDIS_PASSWORD}@cache:6379/0\n"
        "  local: mongodb://root:Dev12345pw@localhost:27017\n"
        "  doc: postgres://user:password@localhost/db\n"
        "  docs: https://user:S3cretPass1@example.com\n"
        "  # old: postgres://app:Hq7vR2mKx9Lp@db.prod.acme.internal\n"
        "  stock: postgres://postgres:postgres@db:5432/app\n"
        "  compose: amqp://guest:Rabbit123pw@rabbitmq:5672\n"
        "  hint: mysql://<user>:<password>@<host>/db\n"
    )
    assert judged("deploy/config.yml", text) == [
        ("Password in connection URL", 2, None),
        ("Password in connection URL", 4, "development"),
        ("Password in connection URL", 9, "development"),
    ]
    srv = '{"Mongo": "mongodb+srv://orders:Zq81mXpL0vQ2@cluster0.ab1cd.mongodb.net/orders"}'
    assert judged("src/Orders/appsettings.json", srv) == [("Password in connection URL", 1, None)]
    assert judged(".env", "DATABASE_URL=mysql://app:Hq7vR2mKx9Lp@mysql:3306/app\n") == [
        ("Password in connection URL", 1, "development")
    ]
    # CI throwaway service passwords are not configuration credentials
    ci = "env:\n  DATABASE_URL: postgres://app:Hq7vR2mKx9Lp@db.acme.io/app\n"
    assert judged(".github/workflows/ci.yml", ci) == []
    for path in (
        ".gitlab-ci.yml",
        "bitbucket-pipelines.yml",
        "azure-pipelines.pr.yml",
        ".travis.yml",
    ):
        assert judged(path, ci) == []
    assert judged("README.md", "postgres://app:Hq7vR2mKx9Lp@db.acme.io/app\n") == []
    templated = (
        "description: use the format 'sms://[USER]:[SECRET1]@[PROVIDER]'\n"
        "DATABASE_URL: mysql://$$cap_db_user:$$cap_db_pass1@srv-captain--db/app\n"
        "CACHE_URL: redis://app:pre$REDIS_PASS1@cache.acme.io:6379\n"
    )
    assert judged("apps/template.yml", templated) == []


def test_environment_files_in_configuration_folders_tag_their_credentials() -> None:
    text = f"aws_access_key_id: {AWS_KEY}\n"
    assert judged("config/settings/test.yml", text) == [("AWS Access Key", 1, "test")]
    assert judged("config/development.json", '{"key": "' + AWS_KEY + '"}') == [
        ("AWS Access Key", 1, "development")
    ]
    assert judged("config/settings/production.yml", text) == [("AWS Access Key", 1, None)]
    assert judged("config/settings.yml", text) == [("AWS Access Key", 1, None)]
    assert judged("deploy/test.yml", text) == [("AWS Access Key", 1, None)]  # not a config folder


def test_json_web_keys_embedded_in_other_files() -> None:
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: auth\ndata:\n  jwks.json: |\n"
        '    {"keys": [{"kty": "EC", "crv": "P-256", "x": "' + JWK_N[:43] + '",\n'
        '      "d": "' + JWK_D[:43] + '"}]}\n'
    )
    assert judged("deploy/auth-configmap.yaml", configmap) == [("JSON Web Key", 8, None)]
    env = 'JWKS="{\\"keys\\":[{\\"kty\\":\\"RSA\\",\\"d\\":\\"' + JWK_D + '\\"}]}"\n'
    assert judged("deploy/auth.env", env) == [("JSON Web Key", 1, None)]
    public = 'jwks.json: |\n  {"keys": [{"kty": "RSA", "n": "' + JWK_N + '", "e": "AQAB"}]}\n'
    assert judged("deploy/public-configmap.yaml", public) == []


def test_composer_json_config_auth() -> None:
    manifest = (
        '{\n  "name": "acme/shop",\n  "config": {\n    "sort-packages": true,\n'
        '    "github-oauth": {"github.com": "' + OAUTH_HEX + '"}\n  }\n}\n'
    )
    assert judged("composer.json", manifest) == [("Composer auth token", 5, None)]
    assert judged("composer.json", '{"config": {"sort-packages": true}}') == []


def test_env_files_named_for_a_dev_stage_tag_their_credentials() -> None:
    line = f"UPLOADER_ID={AWS_KEY}\n"
    assert judged(".env.test", line) == [("AWS Access Key", 1, "test")]
    assert judged("api/.env.development", line) == [("AWS Access Key", 1, "development")]
    assert judged("deploy/local.env", line) == [("AWS Access Key", 1, "local")]
    assert judged(".env.production", line) == [("AWS Access Key", 1, None)]
    assert judged(".env", line) == [("AWS Access Key", 1, None)]


def test_private_key_in_a_json_string_on_one_line() -> None:
    body = "\\n".join(KEY_BODY.split("\n"))
    service_account = (
        '{\n  "type": "service_account",\n  "project_id": "acme-prod",\n'
        '  "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + body
        + '\\n-----END PRIVATE KEY-----\\n",\n'
        '  "client_email": "deployer@acme-prod.iam.gserviceaccount.com"\n}\n'
    )
    assert judged("deploy/gcp-key.json", service_account) == [("Private Key", 4, None)]
    placeholder = (
        '{"private_key": "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"}'
    )
    assert judged("deploy/gcp-key.json", placeholder) == []
    code = 'PEM = "-----BEGIN PRIVATE KEY-----\\n" + body + "\\n-----END PRIVATE KEY-----"\n'
    assert judged("deploy/build.sh", code) == []


def test_java_properties_files() -> None:
    signing = "storePassword=Upl0ad-Store-2024\nkeyPassword=Upl0ad-Key-2024\nkeyAlias=upload\nstoreFile=/home/ci/upload-keystore.jks\n"
    assert judged("android/key.properties", signing) == [
        ("Secret in properties file", 1, None),
        ("Secret in properties file", 2, None),
    ]
    placeholders = (
        "storePassword=<password-from-previous-step>\nkeyPassword=${KEY_PASSWORD}\n"
        "# signing.password=Upl0ad-Store-2024\nsigning.keyId=24875D73\n"
    )
    assert judged("android/key.properties", placeholders) == []
    messages = "login.password=Password\nlogin.password.hint=At least 8 characters, 1 digit\n"
    assert judged("src/main/resources/messages.properties", messages) == []
    # Spring's own files are read once, by the Spring check
    assert [
        k
        for k, _l, _e in judged(
            "src/main/resources/application.properties", "db.password=Upl0ad-Store-2024\n"
        )
    ] == ["Spring configuration secret"]


def test_a_file_name_under_a_secret_name_is_no_credential() -> None:
    # appsettings `"SecretsSetup": "setup_secrets.ps1"`, `"SigningKeyFile": "jwt-signing.pem"`
    for value in ("setup_secrets.ps1", "jwt-signing.pem", "client_secret_2024.json", "keys.env"):
        assert not is_literal_secret(value), value
    for value in ("Kq7vLm2Rt9xWp4Zs", "s3cr3t.Passw0rd", "x9.f00-Bar!"):
        assert is_literal_secret(value), value
