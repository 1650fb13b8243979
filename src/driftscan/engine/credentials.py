"""Plaintext credentials, found with detect-secrets' plugins and reported without their value.

Only the high-confidence, format-specific plugins are used (cloud keys, private keys, service
tokens); entropy and keyword plugins drown real repositories in false positives. The plugins'
own regexes are joined into one pre-filter so a file without a candidate costs one C-level
search. `analyze_string` is called instead of `analyze_line` because the latter may try to
*verify* a secret over the network. A found value is reduced at once to a salted fingerprint:
it is never returned, stored or printed.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import hmac
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

PLUGINS: tuple[RegexBasedDetector, ...] = (
    AWSKeyDetector(),
    AzureStorageKeyDetector(),
    DiscordBotTokenDetector(),
    GitHubTokenDetector(),
    GitLabTokenDetector(),
    MailchimpDetector(),
    NpmDetector(),
    OpenAIDetector(),
    PrivateKeyDetector(),
    PypiTokenDetector(),
    SendGridDetector(),
    SlackDetector(),
    SquareOAuthDetector(),
    StripeDetector(),
)
_PREFILTER = re.compile(
    "|".join(f"(?:{rx.pattern})" for plugin in PLUGINS for rx in plugin.denylist),
    re.IGNORECASE,
)
# Documentation examples and obvious placeholders are not credentials.
_PLACEHOLDER = re.compile(r"EXAMPLE|X{8,}|0{12,}|(?:1234567890){2}|abcdefghij|your[_-]?", re.I)
_PEM_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY( BLOCK)?-----")
MAX_LINE = 4096  # longer lines are minified bundles or data, not hand-written config


@dataclass(frozen=True)
class Credential:
    kind: str  # the detector's name for it, e.g. "AWS Access Key"
    line: int
    fingerprint: str  # salted, truncated HMAC of the value: comparable, not reversible
    # A framework's development/test-only default (config/dev.exs, a django-insecure key,
    # appsettings.Development.json, a Stripe test key): the environment it serves. None: a
    # credential of any or every environment.
    environment: str | None = None

    @property
    def detail(self) -> str:
        """The evidence text: kind, environment tag (`env:NAME`, read back by the policy to
        lower the severity of dev defaults) and fingerprint; never the value."""
        env = f" env:{self.environment}" if self.environment else ""
        return f"credential {self.kind}{env} fp:{self.fingerprint}"


def fingerprint(value: str, salt: bytes) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()[:16]


def find_credentials(
    text: str, salt: bytes, env_file: bool = False, config_file: bool = False
) -> Iterator[Credential]:
    """Every credential in `text`; env and configuration files add the secret-named-key
    checks (a random value under a secret's name)."""
    if env_file:
        yield from env_file_secrets(text, salt)
    elif config_file:
        yield from config_file_secrets(text, salt)
    if "k_test_" in text:
        yield from stripe_test_keys(text, salt)
    if _PREFILTER.search(text) is None:
        return
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if len(line) > MAX_LINE or _PREFILTER.search(line) is None:
            continue
        for plugin in PLUGINS:
            # The plugins' own patterns, matched whole: `analyze_string` would return only a
            # capture group (for GitHub tokens just "ghp") and never the full token.
            for pattern in plugin.denylist:
                for match in pattern.finditer(line):
                    yield from _credential(plugin, match.group(0), lines, index, salt)


def _credential(
    plugin: RegexBasedDetector, value: str, lines: list[str], index: int, salt: bytes
) -> Iterator[Credential]:
    if _PLACEHOLDER.search(value):
        return
    if isinstance(plugin, PrivateKeyDetector):
        block = _pem_block(lines, index)
        if block is None:  # a key in a JSON string (a GCP service-account key), on one line
            block = _inline_pem_block(lines[index])
        if block is None:  # a header without a key body: a docstring, a regex, a constant
            return
        value = block
    yield Credential(plugin.secret_type, index + 1, fingerprint(value, salt))


_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")
_PEM_HEADER_LINE = re.compile(r"^[A-Za-z-]+:")  # Proc-Type:, DEK-Info: of encrypted keys
_CODE_QUOTING = re.compile(r"""^[\s"'`+,]+|(?:\\n|[\s"'`+,;)])+$""")


_INLINE_PEM = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?P<body>(?:\\r)?\\n[A-Za-z0-9+/=\\rn:,\- ]*?)"
    r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----"
)


def _inline_pem_block(line: str) -> str | None:
    """A key block written on one line with escaped newlines ("-----BEGIN ...-----\\nMII...
    \\n-----END ...-----\\n"), as JSON and many config strings hold it; None unless what
    lies between the markers is base64 key material."""
    match = _INLINE_PEM.search(line)
    if match is None:
        return None
    body = []
    for part in re.split(r"(?:\\r)?\\n", match.group("body")):
        if not part or _PEM_HEADER_LINE.match(part):
            continue
        if not _BASE64_LINE.match(part):
            return None
        body.append(part)
    joined = "".join(body)
    return joined if len(joined) >= 64 else None


def _pem_block(lines: list[str], start: int) -> str | None:
    """The whole key block (so the fingerprint identifies the key, not its header), or None
    when what sits between the markers is not key material: "..." in documentation, or code
    that builds a PEM string at run time."""
    for end in range(start + 1, min(len(lines), start + 200)):
        if _PEM_END.search(lines[end]):
            body = []
            for raw in lines[start + 1 : end]:
                line = _CODE_QUOTING.sub("", raw)  # a key pasted into a string literal counts
                if not line or _PEM_HEADER_LINE.match(line):
                    continue
                if not _BASE64_LINE.match(line):
                    return None
                body.append(line)
            joined = "".join(body)
            return joined if len(joined) >= 64 else None
    return None


# Env files: a secret-named variable with a random-looking value. The detect-secrets format
# detectors cannot see these (a Rails SECRET_KEY_BASE is just hex), its keyword and entropy
# plugins are far too noisy on code; restricted to env files and to values that look random,
# they are precise.
_ENV_SECRET = re.compile(
    r"""^[ \t]*(?:export[ \t]+)?(?P<name>(?=[A-Za-z_])[A-Za-z0-9_]*"""
    r"""(?:SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|ACCESS_KEY|AUTH_KEY|KEY_BASE)"""
    r"""[A-Za-z0-9_]*)[ \t]*=[ \t]*"""
    r"""["']?(?P<value>[A-Za-z0-9+/=_.\-]{20,})["']?[ \t]*$""",
    re.I | re.M,
)
ENV_SECRET_ENTROPY = 3.5  # bits per character: random hex is ~3.9, English words ~3.0-3.3


# Configuration files (YAML, Elixir/Ruby config, JSON, TOML, properties): a secret-named key
# whose value is a long random string, e.g. a committed Rails/Phoenix `secret_key_base`.
_CONFIG_SECRET = re.compile(
    r"""^[ \t]*["']?(?P<name>(?=[A-Za-z_])[A-Za-z0-9_]*(?:secret_key_base|secret_key|"""
    r"""client_secret|api_?key|access_key|private_key|auth_token|signing_key|encryption_key|"""
    r"""_secret|_token|password))["']?[ \t]*(?::|=>?)[ \t]*"""
    r"""["']?(?P<value>[A-Za-z0-9+/=_\-]{32,})["']?[ \t]*,?[ \t]*$""",
    re.I | re.M,
)
CONFIG_SUFFIXES = (
    ".yml",
    ".yaml",
    ".exs",
    ".json",
    ".toml",
    ".properties",
    ".ini",
    ".cfg",
    ".conf",
)


_CIPHERTEXT = re.compile(r"SealedSecret|encryptedData:|^sops:|ENC\[|\$ANSIBLE_VAULT", re.M)


def config_file_secrets(text: str, salt: bytes) -> Iterator[Credential]:
    if _CIPHERTEXT.search(text):  # encrypted secrets are the opposite of plaintext ones
        return
    for m in _CONFIG_SECRET.finditer(text):
        found = _random_value(m.group("value"))
        if found:
            line = text.count("\n", 0, m.start("value")) + 1
            yield Credential("Secret in configuration", line, fingerprint(m.group("value"), salt))


def _random_value(value: str) -> bool:
    return (
        not _PLACEHOLDER.search(value)
        and not _STRIPE_TEST.fullmatch(value)  # reported as a Stripe test key
        and re.search(r"\d", value) is not None
        and re.search(r"[A-Za-z]", value) is not None
        and shannon_entropy(value) >= ENV_SECRET_ENTROPY
    )


def env_file_secrets(text: str, salt: bytes) -> Iterator[Credential]:
    for m in _ENV_SECRET.finditer(text):
        value = m.group("value")
        if not _random_value(value):
            continue
        line = text.count("\n", 0, m.start("value")) + 1
        yield Credential("Secret in env file", line, fingerprint(value, salt))


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


# -- where frameworks keep credentials -----------------------------------------------------
# Each framework has files where a committed literal is a credential: Rails key files and
# config/secrets.yml, Django settings, Spring application*.yml|properties, Phoenix
# config/*.exs, .NET appsettings*.json, cloud parameter files (ARM, CloudFormation, tfvars)
# and the base64 data of Kubernetes Secrets. A literal is judged: a documented placeholder
# is no credential; a default the framework generates for development or test only (its
# config/dev.exs, a `django-insecure-` key, appsettings.Development.json) is a credential
# tagged with that environment; anything else is a credential of every environment.

# What a framework file says instead of a value: placeholders, references, stock defaults.
_LITERAL_PLACEHOLDER = re.compile(
    r"change[_ .-]?(?:me|it|this)|replace[_ .-]?(?:me|this|with)|fill[_ .-]?(?:me|in)|\byour"
    r"|<[^>]*>|\$\{|\$\(|%\(|\{\{|#\{|<%|x{3,}|\*{3,}|\.\.\.|example|sample|dummy|placeholder"
    r"|\bfake|\btodo\b|\btbd\b|insert[_ .-]|put[_ .-]|not[_ .-]?(?:a[_ .-]?)?(?:real[_ .-]?)?secret"
    r"|should[_ .-]?be[_ .-]?changed|must[_ .-]?be[_ .-]?changed"
    r"|^(?:secret|secrets|password|passwd|pass|admin|root|guest|test|default|none|null|nil"
    r"|sa|postgres|mysql|redis|user|changeit|qwerty|letmein|token|key|apikey|api[_-]key)$",
    re.I,
)
# Values that only point elsewhere: Spring/Jasypt ciphertext, Maven filtering tokens, secret
# references, URLs and file paths (a TokenEndpoint, a secret-file).
_INDIRECT = re.compile(
    r"^(?:ENC\(|\{cipher\}|@[\w.-]+@$|vault:|op://|ENC\[|[A-Za-z][\w+.-]*://|/|~/|\.{1,2}/"
    r"|[A-Za-z]:\\"
    # a file name: `"SecretsSetup": "setup_secrets.ps1"`, `"JwtKeyFile": "jwt-signing.pem"`
    r"|[\w.-]+\.(?:ps1|psm1|sh|bash|py|rb|js|ts|json|ya?ml|xml|txt|pem|key|crt|cer|der|pfx|p12"
    r"|jks|keystore|env|config|conf|ini|toml|sql|csv|md)$)"
)
# A credential has some variety: a digit or a symbol. Word-only values (dev-secret-key,
# acme-identity, supersecretpassword) are names or reminders, and digit-only ones are
# ports, timeouts and ids.
_VARIETY = re.compile(r"[0-9]|[^\w\s.-]")
MIN_LITERAL = 8  # shorter literals are stock defaults (sa, root, 1234) or flags


def is_literal_secret(value: str) -> bool:
    """Whether a value written under a secret's name is a credential: not empty, not a
    placeholder (changeme, <your-key>, xxx, ${VAR}, %(VAR)s, dummy/example values), not a
    reference, URL, path or ciphertext, not a stock default; at least 8 characters without
    spaces, with a digit or a symbol, and not digits only."""
    value = value.strip().strip("\"'")
    if _decoded_placeholder(value):
        return False
    return (
        len(value) >= MIN_LITERAL
        and len(set(value)) >= 4
        and not value.isdigit()
        and not any(c.isspace() for c in value)
        and _VARIETY.search(value) is not None
        and _INDIRECT.match(value) is None
        and _LITERAL_PLACEHOLDER.search(value) is None
    )


_BASE64_VALUE = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}$")


def _decoded_placeholder(value: str) -> bool:
    """A base64 value that decodes to a placeholder sentence: JHipster's generated
    `base64-secret` is "my-secret-key-which-should-be-changed-in-production...". The decoded
    text is only looked at here."""
    if _BASE64_VALUE.match(value) is None:
        return False
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return False
    text = decoded.strip()
    return text.isprintable() and _LITERAL_PLACEHOLDER.search(text) is not None


_DEV_ENVIRONMENTS = frozenset(
    {"dev", "development", "local", "test", "testing", "ci", "e2e", "localdev", "docker"}
)


def _dev_environment(name: str) -> str | None:
    """`name` (a profile, stage or file stem) when it names a development/test environment:
    dev, development, local, test, or one of them with a suffix (dev-docker, test_h2)."""
    lowered = name.lower()
    head = re.split(r"[-_.]", lowered, maxsplit=1)[0]
    return lowered if head in _DEV_ENVIRONMENTS else None


def _line_of(text: str, offset: int) -> int:
    """1-based line of `offset`: a bisection over the text's newlines, found once per text
    (a file with thousands of hits must not be re-counted from its start for each)."""
    return bisect.bisect_right(_newlines(text), offset - 1) + 1


@functools.lru_cache(maxsize=4)
def _newlines(text: str) -> list[int]:
    return [m.start() for m in re.finditer("\n", text)]


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


# Rails: master.key and config/credentials/<env>.key hold the key itself (32 hex). A
# master.key counts wherever it sits (apps nested in a monorepo, a key copied next to a
# Dockerfile): what identifies it is the name and a content of 32 hex characters alone.
_RAILS_KEY_PATH = re.compile(r"(?:^|/)(?:master|config/credentials/(?P<env>[\w-]+))\.key$")
_RAILS_KEY = re.compile(r"\A[ \t\r\n]*(?P<value>[0-9a-f]{32})[ \t\r\n]*\Z")


def _rails_key(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _RAILS_KEY_PATH.search(path)
    key = _RAILS_KEY.match(text)
    if match is None or key is None:
        return
    env = _dev_environment(match.group("env")) if match.group("env") else None
    yield Credential("Rails master key", 1, fingerprint(key.group("value"), salt), env)


# Rails config/secrets.yml (Rails < 5.2): secret_key_base per environment section.
_RAILS_SECRETS_PATH = re.compile(r"(?:^|/)config/secrets\.ya?ml$")
_TOP_SECTION = re.compile(r"^(?P<name>[A-Za-z_][\w-]*):[ \t]*(?:#.*)?$", re.M)


def _rails_secrets(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if _RAILS_SECRETS_PATH.search(path) is None:
        return
    sections = [(m.start(), m.group("name")) for m in _TOP_SECTION.finditer(text)]
    for m in _CONFIG_SECRET.finditer(text):
        if not _random_value(m.group("value")):
            continue
        section = next((n for start, n in reversed(sections) if start < m.start()), "")
        yield Credential(
            "Rails secret_key_base",
            _line_of(text, m.start("value")),
            fingerprint(m.group("value"), salt),
            _dev_environment(section),
        )


# Django: settings.py, settings/*.py, local_settings.py, settings_<env>.py, <env>_settings.py.
_DJANGO_PATH = re.compile(
    r"(?:^|/)(?:(?:local_)?settings|settings_(?P<suffix>\w+)|(?P<prefix>\w+)_settings)\.py$"
    r"|(?:^|/)settings/(?P<module>\w+)\.py$"
)
# SECRET_KEY = "literal", or the literal default of an environment lookup:
# os.environ.get("SECRET_KEY", "..."), os.getenv(...), env("SECRET_KEY", default="..."),
# config("SECRET_KEY", default="...") (decouple), env.str(...), os.getenv("X") or "...".
_DJANGO_SECRET = re.compile(
    r"""^SECRET_KEY(?:[ \t]*:[ \t]*str)?[ \t]*=[ \t]*"""
    r"""(?:(?:os\.environ\.get|os\.getenv|env(?:\.str)?|config|getenv)\("""
    r"""[ \t]*["'][\w-]+["'][ \t]*(?:,[ \t]*(?:default[ \t]*=[ \t]*)?|\)[ \t]+or[ \t]+))?"""
    r"""[rbu]?(?P<quote>["'])(?P<value>[^"'\n]*)(?P=quote)""",
    re.M,
)


def _django(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _DJANGO_PATH.search(path)
    if match is None or "SECRET_KEY" not in text:
        return
    stem = match.group("suffix") or match.group("prefix") or match.group("module") or ""
    for m in _DJANGO_SECRET.finditer(text):
        value = m.group("value")
        if not is_literal_secret(value):
            continue
        insecure = value.startswith("django-insecure-")
        env = "development" if insecure else _dev_environment(stem)
        kind = "Django development key" if insecure else "Django secret key"
        yield Credential(kind, _line_of(text, m.start("value")), fingerprint(value, salt), env)


# Spring: application*.yml|yaml|properties, bootstrap*.yml|properties.
_SPRING_PATH = re.compile(
    r"(?:^|/)(?:application|bootstrap)(?:-(?P<profile>[\w.-]+))?\.(?:ya?ml|properties)$"
)
# Values are taken whole (greedy, linear) and trimmed in Python: a lazy value before optional
# trailing blanks would backtrack quadratically on a long run of spaces.
_YAML_PAIR = re.compile(
    r"""^[ \t]*(?:-[ \t]+)?(?P<key>[\w.\[\]-]+)[ \t]*:[ \t]+(?P<value>[^\n]*)""", re.M
)
_PROPERTY = re.compile(r"""^[ \t]*(?P<key>[\w.\[\]-]+)[ \t]*[=:](?P<value>[^\n]*)""", re.M)
_YAML_COMMENT = re.compile(r"[ \t]#")


def _spring(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _SPRING_PATH.search(path)
    if match is None:
        return
    env = _dev_environment(match.group("profile") or "")
    properties = path.endswith(".properties")
    for m in (_PROPERTY if properties else _YAML_PAIR).finditer(text):
        if m.group(0).lstrip().startswith(("#", "!")):
            continue
        key = m.group("key").rsplit(".", 1)[-1]
        if not secret_named(key):
            continue
        raw = m.group("value")
        if not properties:
            comment = _YAML_COMMENT.search(raw)
            raw = raw[: comment.start()] if comment else raw
        value = raw.strip().strip("\"'")
        if is_literal_secret(value):
            yield Credential(
                "Spring configuration secret",
                _line_of(text, m.start("value")),
                fingerprint(value, salt),
                env,
            )


# Other Java properties files: Android/Flutter signing (android/key.properties storePassword,
# keyPassword), Gradle publishing (gradle.properties signing.password, ossrhPassword), tool
# settings (liquibase.properties, sonar-project.properties). Spring's are read above.
_PROPERTIES_PATH = re.compile(r"\.properties$")
# Resource bundles hold UI text, not settings: `config_ja.properties`, `Messages_pt_BR.properties`
# translate a field labelled "Credentials" or "Password" (Jenkins plugins ship hundreds).
_RESOURCE_BUNDLE = re.compile(
    r"(?:_[a-z]{2,3}(?:_[A-Z]{2}|_[A-Z][a-z]{3})?|(?:^|/)[Mm]essages\w*)\.properties$"
)


def _java_properties(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if _SPRING_PATH.search(path) or _PROPERTIES_PATH.search(path) is None:
        return
    if _RESOURCE_BUNDLE.search(path):
        return
    for m in _PROPERTY.finditer(text):
        if m.group(0).lstrip().startswith(("#", "!")):
            continue
        if not secret_named(m.group("key").rsplit(".", 1)[-1]):
            continue
        value = m.group("value").strip().strip("\"'")
        if "\\u" in value:  # \uXXXX escapes: translated text, never a credential
            continue
        if is_literal_secret(value):
            yield Credential(
                "Secret in properties file",
                _line_of(text, m.start("value")),
                fingerprint(value, salt),
            )


# Phoenix: config/*.exs. Only secret_key_base: a signing_salt is not a secret (Phoenix
# maintainers: "the secret_key_base is enough as a secret"), and every generated app commits
# one in config/config.exs.
_PHOENIX_PATH = re.compile(r"(?:^|/)config/(?P<env>[\w-]+)\.exs$")
_PHOENIX_SECRET = re.compile(
    r"""\bsecret_key_base[ \t]*(?::|=>|,)[ \t]*["'](?P<value>[^"'\n]*)["']"""
)


def _phoenix(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _PHOENIX_PATH.search(path)
    if match is None or "secret_key_base" not in text:
        return
    env = _dev_environment(match.group("env"))
    for m in _PHOENIX_SECRET.finditer(text):
        value = m.group("value")
        if is_literal_secret(value):
            yield Credential(
                "Phoenix secret_key_base",
                _line_of(text, m.start("value")),
                fingerprint(value, salt),
                env,
            )


# .NET: appsettings*.json. Connection strings' Password=/Pwd=, and secret-named keys.
_DOTNET_PATH = re.compile(r"(?:^|/)appsettings(?:\.(?P<env>[\w-]+))?\.json$", re.I)
_JSON_PAIR = re.compile(r'"(?P<key>[^"\n]{1,200})"[ \t]*:[ \t]*"(?P<value>(?:[^"\\\n]|\\.)*)"')
_CONNECTION_PASSWORD = re.compile(
    r"(?:^|;)[ \t]*(?:Password|Pwd)[ \t]*=[ \t]*(?P<value>[^;]*)", re.I
)


def _dotnet(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _DOTNET_PATH.search(path)
    if match is None:
        return
    env = _dev_environment(match.group("env") or "")
    for m in _JSON_PAIR.finditer(text):
        value = m.group("value")
        password = _CONNECTION_PASSWORD.search(value)
        if password is not None:
            secret = password.group("value").strip().strip("'")
            kind, offset = (
                ".NET connection string password",
                m.start("value") + password.start("value"),
            )
        elif secret_named(m.group("key")):
            secret, kind, offset = value, ".NET appsettings secret", m.start("value")
        else:
            continue
        if is_literal_secret(secret):
            yield Credential(kind, _line_of(text, offset), fingerprint(secret, salt), env)


# Cloud parameter files: ARM/Bicep deployment parameters, CloudFormation parameter lists,
# Terraform variable values.
_ARM_PATH = re.compile(r"(?:^|/)[^/]*parameters[^/]*\.json$", re.I)


def _arm_parameters(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if _ARM_PATH.search(path) is None or "deploymentParameters" not in text:
        return
    try:
        data = json.loads(text)
    except ValueError:
        return
    parameters = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(parameters, dict):
        return
    for name, spec in parameters.items():
        if not (isinstance(spec, dict) and secret_named(name)):
            continue
        value = spec.get("value")  # a `reference` to a Key Vault secret has no value
        if isinstance(value, str) and is_literal_secret(value):
            at = text.find(f'"{name}"')
            yield Credential(
                "ARM parameter secret",
                _line_of(text, max(at, 0)),
                fingerprint(value, salt),
            )


def _cloudformation_parameters(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if not path.endswith(".json") or '"ParameterKey"' not in text:
        return
    try:
        data = json.loads(text)
    except ValueError:
        return
    items = data.get("Parameters") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return
    pos = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        name, value = item.get("ParameterKey"), item.get("ParameterValue")
        if not isinstance(name, str):
            continue
        at = text.find(f'"{name}"', pos)
        pos = max(pos, at)
        if secret_named(name) and isinstance(value, str) and is_literal_secret(value):
            yield Credential(
                "CloudFormation parameter secret",
                _line_of(text, max(at, 0)),
                fingerprint(value, salt),
            )


_BICEPPARAM = re.compile(
    r"""^[ \t]*param[ \t]+(?P<key>[A-Za-z_]\w*)[ \t]*=[ \t]*'(?P<value>(?:[^'\\\n]|\\.)*)'""",
    re.M,
)


def _bicepparam(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    """Bicep parameter files: `param adminPassword = 'literal'` (getSecret() and
    readEnvironmentVariable() are not literals)."""
    if not path.endswith(".bicepparam"):
        return
    for m in _BICEPPARAM.finditer(text):
        value = m.group("value")
        if secret_named(m.group("key")) and is_literal_secret(value):
            yield Credential(
                "Bicep parameter secret",
                _line_of(text, m.start("value")),
                fingerprint(value, salt),
            )


_TFVARS_PAIR = re.compile(
    r"""^[ \t]*(?P<key>[A-Za-z_][\w-]*)[ \t]*=[ \t]*"""
    r""""(?P<value>(?:[^"\\\n]|\\.)*)"[ \t]*(?:#.*)?$""",
    re.M,
)


def _tfvars(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if not path.endswith((".tfvars", ".tfvars.json")):
        return
    pairs = _JSON_PAIR if path.endswith(".json") else _TFVARS_PAIR
    for m in pairs.finditer(text):
        value = m.group("value")
        if secret_named(m.group("key")) and is_literal_secret(value):
            yield Credential(
                "Terraform variable secret",
                _line_of(text, m.start("value")),
                fingerprint(value, salt),
            )


def _secret_literal(value: str) -> bool:
    """A literal credential that is not a reference either (%COMPOSER_TOKEN%, $TOKEN,
    Symfony's %env(NAME)%)."""
    return (
        is_literal_secret(value)
        and not is_reference(value)
        and _PARAMETER.fullmatch(value.strip()) is None
    )


_PARAMETER = re.compile(r"%[^%\s]+%")


# Composer authentication (auth.json, .composer-auth.json, composer.json `config`, the
# COMPOSER_AUTH variable): per host, a token (github-oauth, gitlab-oauth, gitlab-token,
# bearer), a username and password (http-basic) or an OAuth consumer (bitbucket-oauth).
_COMPOSER_AUTH_KEYS = (
    "github-oauth",
    "gitlab-oauth",
    "gitlab-token",
    "bitbucket-oauth",
    "http-basic",
    "bearer",
    "forgejo-token",
)
_COMPOSER_SECRET_FIELDS = frozenset({"password", "token", "consumer-secret"})
_COMPOSER_AUTH_FILE = re.compile(r"(?:^|/)(?:auth|\.composer-auth)\.json$")
_COMPOSER_AUTH_VARIABLE = re.compile(r"\bCOMPOSER_AUTH\b[\"']?[ \t]*[:=][ \t]*[\"']?")


def _composer_values(auth: object) -> Iterator[str]:
    """The secret strings of a Composer auth mapping."""
    if not isinstance(auth, dict):
        return
    for kind in _COMPOSER_AUTH_KEYS:
        hosts = auth.get(kind)
        if not isinstance(hosts, dict):
            continue
        for entry in hosts.values():
            if isinstance(entry, str) and kind not in ("http-basic", "bitbucket-oauth"):
                yield entry  # a token written directly under its host
            elif isinstance(entry, dict):
                for field, value in entry.items():
                    if field in _COMPOSER_SECRET_FIELDS and isinstance(value, str):
                        yield value


def _composer_objects(path: str, text: str) -> Iterator[object]:
    """Composer auth mappings: a whole auth file, composer.json's `config`, or the JSON
    value of a COMPOSER_AUTH variable (quoted or escaped in YAML, env files, scripts)."""
    if _COMPOSER_AUTH_FILE.search(path) or _basename(path) == "composer.json":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            yield data.get("config") if _basename(path) == "composer.json" else data
    if "COMPOSER_AUTH" not in text:
        return
    for m in _COMPOSER_AUTH_VARIABLE.finditer(text):
        if text[m.end() : m.end() + 1] != "{":
            continue
        raw = text[m.end() : _closing(text, m.end(), min(len(text), m.end() + 20_000))]
        for candidate in (raw, raw.replace('\\"', '"')):
            try:
                yield json.loads(candidate)
                break
            except ValueError:
                continue


def _composer_auth(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    if not any(key in text for key in _COMPOSER_AUTH_KEYS):
        return
    found = {
        value: text.find(value)
        for auth in _composer_objects(path, text)
        for value in _composer_values(auth)
        # a token of a known format (ghp_, glpat-) is the format detector's finding
        if not _PREFILTER.search(value) and _secret_literal(value)
    }
    for value, at in sorted(found.items(), key=lambda item: item[1]):
        yield Credential(
            "Composer auth token", _line_of(text, max(at, 0)), fingerprint(value, salt)
        )


# JSON Web Keys: a JWK (or a JWKS's `keys`) holding `d` carries the private key (RSA private
# exponent, EC/OKP private key, or for kty "oct" the symmetric key `k`); a public JWK has
# only n/e or x/y.
_JWK_PATH = re.compile(r"\.(?:jwks?|json)$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]{16,}={0,2}$")


def _jwk_private(node: object) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _jwk_private(item)
    elif isinstance(node, dict):
        kty = node.get("kty")
        if isinstance(kty, str):
            secret = node.get("k") if kty == "oct" else node.get("d")
            if (
                isinstance(secret, str)
                and _BASE64URL.match(secret)
                and not _PLACEHOLDER.search(secret)
            ):
                yield secret
            return
        for value in node.values():
            yield from _jwk_private(value)


def _jwk(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    """A JWK file or JSON document holding a private key; a JWK embedded in other text (a
    YAML block, an env value, escaped in a string) by its `"d"` member next to `"kty"`."""
    if '"kty"' not in text and '\\"kty\\"' not in text:
        return
    if _JWK_PATH.search(path):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if data is not None:
            for secret in _jwk_private(data):
                at = text.find(secret)
                yield Credential(
                    "JSON Web Key", _line_of(text, max(at, 0)), fingerprint(secret, salt)
                )
            return
    for m in _JWK_MEMBER.finditer(text):
        secret = m.group("value")
        if not _PLACEHOLDER.search(secret):
            yield Credential(
                "JSON Web Key", _line_of(text, m.start("value")), fingerprint(secret, salt)
            )


_JWK_MEMBER = re.compile(r'\\?"d\\?"[ \t]*:[ \t]*\\?"(?P<value>[A-Za-z0-9_-]{32,})\\?"')


# Connection URLs with a password: scheme://user:password@host (the pattern redaction uses).
# A password counts as a credential literal does (no placeholder, reference or stock
# default); on a local host (localhost, a loopback address, a one-word compose service name)
# it is a development default.
_URL_COMMENT = re.compile(r"^[ \t]*(?:#|//|;|<!--)")
_URL_HOST = re.compile(r"[^\s/:?#\"'`<>,;\])}]*")
# A password written as [SECRET], or holding a $name / $$name / ${ / $( interpolation
# (shell, compose, app-template variables).
_URL_PLACEHOLDER = re.compile(r"^\[[^\]]*\]$|\$[$A-Za-z_{(]")
_HOST_PLACEHOLDER = re.compile(
    r"example|\byour|<|x{3,}|sample|dummy|placeholder|^(?:host|hostname|server|domain)$", re.I
)
_LOCAL_HOST = re.compile(
    r"^(?:localhost|127(?:\.\d+){3}|0\.0\.0\.0|\[::1\]|host\.docker\.internal"
    r"|[\w-]+\.(?:local|localhost|test)|[A-Za-z][\w-]*)$",
    re.I,
)


def url_credentials(text: str, salt: bytes) -> Iterator[Credential]:
    if "://" not in text:
        return
    for line_no, line in enumerate(text.split("\n"), 1):
        if "@" not in line or "://" not in line or len(line) > MAX_LINE or _URL_COMMENT.match(line):
            continue
        for m in _URL_USERINFO.finditer(line):
            _user, sep, password = m.group("userinfo").partition(":")
            if not sep or _URL_PLACEHOLDER.search(password) or not _secret_literal(password):
                continue
            host_match = _URL_HOST.match(line, m.end())
            host = host_match.group(0) if host_match else ""
            if not host or _HOST_PLACEHOLDER.search(host):
                continue  # user:p4ss@<host>, @example.com: documentation
            env = "development" if _LOCAL_HOST.match(host) else None
            yield Credential(
                "Password in connection URL", line_no, fingerprint(password, salt), env
            )


# Compose files: a secret-named variable of a service's `environment:` (`KEY: value` or
# `- KEY=value`) holding a real-looking literal. Stock passwords (postgres, secret, example)
# and anything shorter than 12 characters or without both letters and digits are the
# throwaway defaults of a local stack, not credentials; `docker-compose.dev.yml`-style names
# tag what they hold with that environment.
_COMPOSE_PATH = re.compile(
    r"(?:^|/)(?:docker-)?compose(?:[-_.](?P<stage>[\w-]+))?(?:\.[\w-]+)*\.ya?ml$"
)
_COMPOSE_ENV = re.compile(
    r"""^[ \t]*(?:-[ \t]+["']?(?P<lkey>[A-Za-z_][\w.-]*)=(?P<lvalue>[^\n]*?)["']?|"""
    r"""(?P<key>[A-Za-z_][\w.-]*)[ \t]*:[ \t]+(?P<value>[^\n]*))[ \t]*$""",
    re.M,
)
MIN_COMPOSE_SECRET = 12


def _compose(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    match = _COMPOSE_PATH.search(path)
    if match is None:
        return
    env = _dev_environment(match.group("stage") or "")
    for m in _COMPOSE_ENV.finditer(text):
        if m.group(0).lstrip().startswith("#"):
            continue
        key = m.group("lkey") or m.group("key")
        raw = m.group("lvalue") if m.group("lkey") else m.group("value")
        comment = _YAML_COMMENT.search(raw)
        value = (raw[: comment.start()] if comment else raw).strip().strip("\"'")
        if (
            not secret_named(key)
            or len(value) < MIN_COMPOSE_SECRET
            or not re.search(r"\d", value)
            or not re.search(r"[A-Za-z]", value)
            or not is_literal_secret(value)
        ):
            continue
        start = m.start("lvalue") if m.group("lkey") else m.start("value")
        yield Credential(
            "Secret in compose environment", _line_of(text, start), fingerprint(value, salt), env
        )


_FRAMEWORKS = (
    (_RAILS_KEY_PATH, _rails_key),
    (_RAILS_SECRETS_PATH, _rails_secrets),
    (_DJANGO_PATH, _django),
    (_SPRING_PATH, _spring),
    (_PHOENIX_PATH, _phoenix),
    (_DOTNET_PATH, _dotnet),
    (_PROPERTIES_PATH, _java_properties),
    (_COMPOSE_PATH, _compose),
)


def framework_file(path: str) -> bool:
    """Whether a framework check reads this file (it then replaces the generic
    secret-named-key check of configuration files)."""
    return any(rx.search(path) for rx, _check in _FRAMEWORKS)


def framework_credentials(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    for rx, check in _FRAMEWORKS:
        if rx.search(path):
            yield from check(path, text, salt)
    yield from _arm_parameters(path, text, salt)
    yield from _cloudformation_parameters(path, text, salt)
    yield from _tfvars(path, text, salt)
    yield from _bicepparam(path, text, salt)
    yield from _composer_auth(path, text, salt)
    yield from _jwk(path, text, salt)


# Stripe test-mode keys: a real key of Stripe's test mode, harmless to money but still a
# credential of the account; the live-key detector above does not see them.
_STRIPE_TEST = re.compile(r"(?<![A-Za-z0-9])[rs]k_test_[0-9a-zA-Z]{24,}(?![A-Za-z0-9])")


def stripe_test_keys(text: str, salt: bytes) -> Iterator[Credential]:
    for m in _STRIPE_TEST.finditer(text):
        value = m.group(0)
        if _PLACEHOLDER.search(value) or len(set(value[8:])) < 8:
            continue
        yield Credential(
            "Stripe test key", _line_of(text, m.start()), fingerprint(value, salt), "test"
        )


# Kubernetes Secret `data:` is base64: decoded, each value goes through the detectors above.
# The decoded text lives only inside this function.
_DATA_BLOCK = re.compile(r"^(?P<indent>[ \t]*)data:[ \t]*$")
_DATA_ENTRY = re.compile(
    r"""^[ \t]*["']?[\w.-]+["']?[ \t]*:[ \t]*["']?(?P<value>[A-Za-z0-9+/]{16,}={0,2})["']?[ \t]*$"""
)


def secret_data_credentials(text: str, salt: bytes) -> Iterator[Credential]:
    lines = text.split("\n")
    for i, indent, entries, _opened in _secret_data_walk(lines, _DATA_BLOCK):
        entry = _DATA_ENTRY.match(lines[i]) if indent == entries else None
        if entry is not None:
            for found in _decoded_credentials(entry.group("value"), salt):
                yield replace(found, kind=f"{found.kind} in Secret data", line=i + 1)


def _decoded_credentials(value: str, salt: bytes) -> Iterator[Credential]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return
    yield from find_credentials(decoded, salt)


# -- which checks a file gets -------------------------------------------------------------

# Throwaway secrets of test pipelines and local compose stacks are not what the
# configuration check is for; format-specific detectors still read these files.
# CI configuration: its database URLs serve throwaway test services.
_CI_PATH = re.compile(
    r"(?:^|/)(?:\.ci|ci|\.github|\.gitlab|\.circleci|\.buildkite|\.woodpecker)/"
    r"|(?:^|/)(?:\.gitlab-ci|\.travis|\.drone|\.woodpecker|bitbucket-pipelines"
    r"|azure-pipelines[\w.-]*)\.ya?ml$"
)
# Configuration that holds connection URLs: YAML (compose, Dapr components, Helm values),
# JSON (appsettings), TOML, properties, ini-style files; env files are added by name.
URL_SUFFIXES = (
    ".yml",
    ".yaml",
    ".json",
    ".toml",
    ".properties",
    ".ini",
    ".cfg",
    ".conf",
    ".config",
)
_CI_OR_COMPOSE = re.compile(
    r"(?:^|/)(?:\.ci|ci|\.github|\.circleci|\.buildkite)/|compose[^/]*\.ya?ml$"
)
# Templates: a template word as the suffix (config.yml.example, .env.defaults) or as a
# dot/dash/underscore-separated part of the name (app.tmpl.env, .env-example, .env_sample).
_TEMPLATE_SUFFIX = re.compile(r"\.(?:example|sample|template|tmpl|dist|defaults?|skel)$", re.I)
_TEMPLATE_PART = re.compile(
    r"(?:^|[._-])(?:examples?|samples?|templates?|tmpl|tpl|dist)(?:[._-]|$)", re.I
)


def is_template(path: str) -> bool:
    return _TEMPLATE_SUFFIX.search(path) is not None or (
        _TEMPLATE_PART.search(_basename(path)) is not None
    )


def is_env_file(path: str) -> bool:
    """.env, .env.<stage>, .env-<stage>, <name>.env, direnv's .envrc, Flask's .flaskenv."""
    name = _basename(path)
    return (
        name in (".env", ".envrc", ".flaskenv")
        or name.startswith((".env.", ".env-"))
        or name.endswith(".env")
    )


MAX_PER_FILE = 100  # a fact keeps 20 pieces of evidence; more from one file is a data dump


# Per-environment configuration files named for the environment in a configuration folder:
# the config gem's config/settings/test.yml, node-config's config/development.json,
# config/environments/local.yaml. What they hold serves that environment only.
_ENVIRONMENT_FILE = re.compile(
    r"(?:^|/)(?:config|configs|configuration|settings|environments)/(?:[\w-]+/)?"
    r"(?P<env>[\w-]+)\.(?:ya?ml|json|toml|ini|conf|properties)$"
)


# Env files named for their stage: .env.test, .env-development, test.env.
_ENV_FILE_STAGE = re.compile(r"^(?:\.env[.-](?P<suffix>[\w-]+)|(?P<prefix>[\w-]+)\.env)$")


def _file_environment(path: str) -> str | None:
    match = _ENVIRONMENT_FILE.search(path)
    if match:
        return _dev_environment(match.group("env"))
    stage = _ENV_FILE_STAGE.match(_basename(path))
    if stage:
        return _dev_environment(stage.group("suffix") or stage.group("prefix"))
    return None


def file_credentials(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    """The credentials of one file (at most MAX_PER_FILE): the format detectors everywhere;
    the secret-named-key checks chosen by what the file is (env, framework, configuration).
    A file of a development/test environment tags what it holds with that environment."""
    found = itertools.islice(_file_credentials(path, text, salt), MAX_PER_FILE)
    env = _file_environment(path)
    if env is None:
        return found
    return (c if c.environment else replace(c, environment=env) for c in found)


def _file_credentials(path: str, text: str, salt: bytes) -> Iterator[Credential]:
    template = is_template(path)
    framework = not template and framework_file(path)
    env_file = is_env_file(path) and not template
    config_file = (
        path.endswith(CONFIG_SUFFIXES)
        and not template
        and not framework
        and _CI_OR_COMPOSE.search(path) is None
    )
    yield from find_credentials(text, salt, env_file, config_file)
    if not template:
        yield from framework_credentials(path, text, salt)
        if (env_file or path.endswith(URL_SUFFIXES)) and _CI_PATH.search(path) is None:
            yield from url_credentials(text, salt)
    if "Secret" in text and _K8S_SECRET.search(text):
        yield from secret_data_credentials(text, salt)


# -- redaction ------------------------------------------------------------------------------
# Infra files are kept, normalised, for duplicate detection. Before that, every credential
# value is replaced by REDACTED: what the detectors above find, every value written under a
# secret's name (key, variable, flag, header, Kubernetes Secret data, Terraform variable), the
# password of a URL, and whole private-key blocks. A value that only *refers* to a secret
# (`${{ secrets.X }}`, `$VAR`, `${VAR}`, `((var))`, `{{ .Values.x }}`, `from_secret`) is kept:
# it says how the repository handles secrets, which is what copies have in common. Redacting
# too much costs a little clustering precision; too little stores a secret, so doubt redacts.

REDACTED = "«redacted»"

# The reporting detectors (minus private keys, redacted as whole blocks below) plus formats
# too noisy to report but harmless to blank out.
_REDACT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    rx
    for plugin in (*PLUGINS, JwtTokenDetector(), TwilioKeyDetector())
    if not isinstance(plugin, PrivateKeyDetector)
    for rx in plugin.denylist
)
# Patterns that do not start with a literal make the regex engine try every position; a
# word they cannot match without (in the lowered text) skips them cheaply. A pattern that a
# newer detect-secrets spells differently simply has no gate and always runs.
_PATTERN_GATES = {
    r"[0-9a-z]{32}-us[0-9]{1,2}": "-us",
    r"xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+": "xox",
    r"https://hooks\.slack\.com/services/T[a-zA-Z0-9_]+/B[a-zA-Z0-9_]+/[a-zA-Z0-9_]+": "slack",
    r"(?:r|s)k_live_[0-9a-zA-Z]{24}": "k_live_",
    r"aws.{0,20}?(?:key|pwd|pw|password|pass|token).{0,20}?[\'\"]([0-9a-zA-Z/+]{40})[\'\"]": "aws",
}
# A private key runs from its header to the next end marker; without one, over the key
# lines that follow the header.
_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|Private-MAC:[^\n]*")
# Those key lines: full ones, then the last, shorter one (a few base64 characters, padding).
_KEY_LINES = re.compile(
    r"[^\n]*+(?:\n[ \t\"']*+[A-Za-z0-9+/=:\\ -]{16,}+[\"',\\n]*+)*+"
    r"(?:\n[ \t\"']*+[A-Za-z0-9+/]{1,15}+=*+[\"',\\n]*+(?=\n|$))?+"
)
# Longer lines are minified or generated, and every regex below stays linear on shorter ones:
# the whole line is redacted rather than searched.
MAX_REDACT_LINE = 2048
# Lines worth a closer look: a secret-ish word, a URL, a login. Matched against the lowered
# text: an IGNORECASE alternation is five times slower, and this runs on every line.
_LINE_TRIGGER = re.compile(
    r"pass|pw|secret|token|key|auth|cred|://|login|mysql|mariadb|literal|-u\b|--user|name|value"
)

# -- names

_WORD = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "pw",
        "secret",
        "secrets",
        "token",
        "tokens",
        "credential",
        "credentials",
        "creds",
        "auth",
        "authorization",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("auth", "key"),
        ("key", "base"),
        ("deploy", "key"),
        ("ssh", "key"),
        ("license", "key"),
        ("client", "secret"),
    }
)
# A secret-named key ending in one of these names a place or a kind, not a value
# (password_file, secretName, secretKeyRef, passwordVariable, --password-stdin, auth_type).
_NAMING_WORDS = frozenset(
    {
        "file",
        "path",
        "dir",
        "ref",
        "name",
        "names",
        "env",
        "url",
        "uri",
        "type",
        "method",
        "mode",
        "arn",
        "mount",
        "enabled",
        "required",
        "stdin",
        "length",
        "size",
        "ttl",
        "variable",
        "var",
        "header",
        "provider",
        "version",
        "kind",
    }
)


def secret_named(name: str) -> bool:
    """Whether a key, variable or flag name says its value is a secret: DB_PASSWORD, apiKey,
    x-api-key, --registry-token, _authToken; not author, bypass, password_file or secretName."""
    words = [w.lower() for w in _WORD.split(name) if w]
    if not words or words[0] == "from" or (len(words) > 1 and words[-1] in _NAMING_WORDS):
        return False  # from_secret: names a stored secret
    if any(
        w in _SECRET_WORDS or w.endswith(("password", "passwd", "secret", "token")) for w in words
    ):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


# -- values

# What a value may consist of and still only *refer* to a secret. Template expressions with a
# quoted literal inside (`{{ .Values.x | default "s3cret" }}`) are not references.
_REFERENCE = re.compile(
    r"\$\{\{[^'\"}]*\}\}"  # ${{ secrets.X }} (GitHub, Gitea, Forgejo)
    r"|\{\{[^'\"}]*\}\}"  # {{ .Values.password }} (Helm, Jinja, Go templates)
    r"|\$\{[A-Za-z_][\w.\[\]-]*\}"  # ${VAR}, ${var.name}
    r"|\$\{[A-Za-z_]\w*:?[-=+?]«redacted»\}"  # ${VAR:-default}, its default redacted
    r"|\$\d|\$[A-Za-z_]\w*"  # $VAR, $1
    r"|\$\([A-Za-z_]\w*\)"  # $(VAR) (Azure Pipelines, Make, Kubernetes env)
    r"|\(\([\w.-]+\)\)"  # ((var)) (Concourse)
    r"|%[A-Za-z_]\w*%"  # %VAR% (cmd)
    r"|\b(?:var|local|data|module|each|self)\.[\w.\[\]-]+"  # Terraform
    r"|\bcredentials\(\s*['\"][\w.-]+['\"]\s*\)"  # Jenkins credentials('id')
    r"|^\*[\w-]+$"  # a YAML alias
)
_FILLER = re.compile(r"[\s\"'`:/@.,;=+|(){}\[\]$_-]*")
# The default of a shell expansion is a literal: ${DB_PASSWORD:-postgres}.
_DEFAULTED = re.compile(r"(\$\{[A-Za-z_]\w*+:?[-=+?])([^}$]*+)\}")
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Bot|Digest|Negotiate|OAuth|Key)[ \t]+", re.I)
_KEYWORDS = frozenset(
    {"", "true", "false", "yes", "no", "on", "off", "null", "none", "~", "inherit", REDACTED}
)


def is_reference(value: str) -> bool:
    """Whether a value only refers to a secret kept elsewhere (and so may be kept)."""
    rest, count = _REFERENCE.subn("", value.strip())
    return count > 0 and _FILLER.fullmatch(rest) is not None


def _redacted(value: str) -> str:
    """The value as it may be stored: itself when it is a reference or a keyword, else
    REDACTED (an auth scheme in front, `Bearer ...`, is kept)."""
    scheme = _AUTH_SCHEME.match(value)
    prefix, body = (value[: scheme.end()], value[scheme.end() :]) if scheme else ("", value)
    if body.strip().strip("\"'").lower() in _KEYWORDS:
        return value
    body = _DEFAULTED.sub(lambda m: f"{m.group(1)}{REDACTED}}}", body)
    return prefix + (body if is_reference(body) else REDACTED)


# -- lines

# `key: value`, `key=value`, `"key": "value"`, `'key' => 'value'`: any key (possessive, so a
# long word cannot make it backtrack); `secret_named` decides.
_KEY_SEP = re.compile(
    r"""(?<![\w.$])(?<![\w.]-)(?P<quote>["']?)(?P<key>(?=[A-Za-z_])[\w.-]*+)"""
    r"""(?P=quote)[ \t]*(?P<sep>=>|:=|=(?!=)|:(?=[ \t"']|$))"""
)
# Space-separated flags: --password VALUE, -token VALUE.
_FLAG = re.compile(r"(?<![\w-])--?(?P<key>(?=[A-Za-z])[\w-]*+)[ \t]+(?=[^\s<>|&;-])")
# Dockerfile's old `ENV NAME value` form.
_ENV_SPACE = re.compile(r"^[ \t]*(?:ENV|ARG)[ \t]+(?P<key>[A-Za-z_][\w.-]*)[ \t]+(?=[^\s=])", re.I)
_LOGIN = re.compile(
    r"\b(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane|regctl|cf|az)\b[^|;&]*\blogin\b"
)
# Values that follow a flag or word of a command rather than a secret-named key: `-p` of a
# login or of mysql, sshpass, curl's user:password, the echo piped to --password-stdin,
# kubectl's --from-literal and openssl's pass:.
_COMMAND_VALUES: tuple[tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str]], ...] = (
    # (words one of which the lowered line holds: a cheap gate; the command; its value)
    (("login",), _LOGIN, re.compile(r"(?<!\S)-p(?:=|[ \t]+)(?=\S)")),
    (
        ("mysql", "mariadb"),
        re.compile(r"\b(?:mysql|mariadb)\w*\b"),
        re.compile(r"(?<!\S)-p(?=[^\s-])"),
    ),
    (("sshpass",), re.compile(r"\bsshpass\b"), re.compile(r"(?<!\S)-p[ \t]*(?=\S)")),
    (
        ("curl", "wget", "http"),
        re.compile(r"\b(?:curl|wget|http)\b"),
        re.compile(r"(?<!\S)(?:-u|--user)(?:=|[ \t]+)(?=\S+:)"),
    ),
    (
        ("-stdin",),
        re.compile(r"-stdin\b"),
        re.compile(r"\b(?:echo|printf)(?:[ \t]+-[a-zA-Z]+)*[ \t]+(?=\S)"),
    ),
    (("--from-literal",), re.compile(r"--from-literal"), re.compile(r"--from-literal[= ][\w.-]+=")),
    (("pass:",), re.compile(r"\bpass:"), re.compile(r"(?<![\w-])pass:(?=\S)")),
    # a .netrc written by a script: `machine host login ci password x`
    (("machine",), re.compile(r"\bmachine\b"), re.compile(r"\b(?:password|passwd)[ \t]+(?=\S)")),
    # `npm config set //registry/:_authToken x`, `aws configure set aws_secret_access_key x`
    (
        ("config",),
        re.compile(r"\bconfig(?:ure)?[ \t]+set\b"),
        re.compile(
            r"\bconfig(?:ure)?[ \t]+set[ \t]+\S*(?:pass|secret|token|auth|key)\S*[ \t]+(?=\S)", re.I
        ),
    ),
)
_COMMAND_GATE = re.compile("|".join(re.escape(w) for g in _COMMAND_VALUES for w in g[0]))
# A secret-named key, flag or variable holds one of these: a line without any is skipped.
_SECRETISH = re.compile("pass|pw|secret|token|key|auth|cred")
_URL_USERINFO = re.compile(
    r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*+://)(?P<userinfo>[^\s/@\"'`<>]++)@"
)
_ENV_NAME = re.compile(
    r"""(?<![\w.-])["']?name["']?[ \t]*[:=][ \t]*["']?(?P<name>[A-Za-z_][\w.-]*)"""
)
_ENV_VALUE = re.compile(r"""(?<![\w.-])["']?value["']?[ \t]*(?P<sep>:(?=[ \t"']|$)|=)""")
_BLOCK_SCALAR = re.compile(r"^[|>][-+0-9]*$")
_LINE_START = re.compile(r"""^[ \t]*(?:-[ \t]+|export[ \t]+|ENV[ \t]+|ARG[ \t]+|set[ \t]+)*$""")
_SHELL_END = re.compile(r"[ \t]+(?:#|&&|\|\||;|\\$)")
_OPENERS = (("${{", "}}"), ("{{", "}}"), ("${", "}"), ("$(", ")"), ("((", "))"))


_QUOTED = {'"': re.compile(r'"(?:[^"\\\n]|\\.)*+'), "'": re.compile(r"'[^'\n]*+")}


def _quoted_end(text: str, start: int) -> int:
    """Index of the quote that closes the one at `start` (or of the line's end)."""
    match = _QUOTED[text[start]].match(text, start)
    return match.end() if match else start + 1


def _scan(line: str, start: int, stops: str) -> int:
    """End of an unquoted value: the first stop character outside ${{ }}, {{ }}, ${ }, $( )
    and (( )), whose contents may hold spaces."""
    i = start
    while i < len(line):
        for opener, closer in _OPENERS:
            if line.startswith(opener, i):
                close = line.find(closer, i + len(opener))
                if close != -1:
                    i = close + len(closer)
                    break
        else:
            if line[i] in stops:
                break
            i += 1
    return i


def _value_span(line: str, key_start: int, start: int, sep: str) -> tuple[int, int]:
    """Where the value after a key and separator lies (empty span: no value on the line)."""
    while start < len(line) and line[start] in " \t":
        start += 1
    if start < len(line) and line[start] in "\"'":
        return start + 1, _quoted_end(line, start)
    before = line[:key_start]
    stops = before[-1] if before[-1:] in ("'", '"') else ""  # inside a quoted string
    if before.count("{") > before.count("}") or before.count("[") > before.count("]"):
        stops += ",}]"  # inside a flow mapping or list
    if sep.startswith(":") and sep != ":=":
        end = _scan(line, start, stops)  # YAML: the rest of the line
        comment = line.find(" #", start, end)
        end = comment if comment != -1 else end
    elif _LINE_START.match(before):  # NAME=value opening a line: a dotenv/compose value
        end = _scan(line, start, stops)
        shell = _SHELL_END.search(line, start, end)
        end = shell.start() if shell else end
    else:
        end = _scan(line, start, stops + " \t\"'`;&|,<>)")
    return start, len(line[:end].rstrip())


def _replace(line: str, start: int, end: int) -> str:
    value = line[start:end]
    kept = _redacted(value)
    return line if kept == value else line[:start] + kept + line[end:]


# What a line says about the lines after it.
_NO_FOLLOW = 0
_BLOCK = 1  # a secret's block scalar (`password: |`): every deeper line is its value
_SCALAR = 2  # a secret with nothing after the colon: deeper plain lines are its value


def _redact_pairs(line: str) -> tuple[str, int, int]:
    """Secret-named keys' values on one line; and whether deeper lines continue a value
    (with the key's column)."""
    follow, column = _NO_FOLLOW, 0
    pos = 0
    while match := _KEY_SEP.search(line, pos):
        pos = match.end()
        if not secret_named(match.group("key")):
            continue
        sep = match.group("sep")
        start, end = _value_span(line, match.start(), match.end(), sep)
        value = line[start:end]
        if start == end:
            if sep == ":":
                follow, column = _SCALAR, match.start("key")
        elif _BLOCK_SCALAR.match(value):
            follow, column = _BLOCK, match.start("key")
        elif not (value.startswith("{") and not value.startswith("{{")):
            kept = _redacted(value)  # a flow mapping's own keys are looked at in turn
            line = line[:start] + kept + line[end:]
            pos = start + len(kept)
    return line, follow, column


def _redact_flags(line: str, lowered: str, secretish: bool) -> str:
    """Values of secret-named flags, of Dockerfile's `ENV NAME value` and of the commands
    above (`lowered`: the line in lower case, for the cheap gates; `secretish`: it holds a
    secret-ish word, without which no name is secret-named)."""
    pos = 0
    while secretish and (match := _FLAG.search(line, pos)):
        pos = match.end()
        if secret_named(match.group("key")):
            start, end = _value_span(line, match.start(), match.end(), " ")
            line = _replace(line, start, end)
    if (
        secretish
        and lowered.lstrip().startswith(("env", "arg"))
        and (match := _ENV_SPACE.match(line))
        and secret_named(match.group("key"))
    ):
        line = _replace(line, match.end(), len(line.rstrip(" \t\\")))
    if _COMMAND_GATE.search(lowered) is None:
        return line
    for words, context, value_start in _COMMAND_VALUES:
        if any(word in lowered for word in words) and context.search(line):
            for match in reversed(list(value_start.finditer(line))):
                start, end = _value_span(line, match.start(), match.end(), " ")
                line = _replace(line, start, end)
    return line


def _redact_userinfo(match: re.Match[str]) -> str:
    """https://user:password@host loses the whole user:password; a long colon-less user
    part (a token used as the user name) is redacted too; `git@` is kept."""
    userinfo = match.group("userinfo")
    secret = ":" in userinfo or (len(userinfo) >= 16 and re.search(r"\d", userinfo) is not None)
    if not secret or is_reference(userinfo):
        return match.group(0)
    return f"{match.group('scheme')}{REDACTED}@"


def _key_column(line: str) -> int:
    stripped = line.lstrip(" \t")
    column = len(line) - len(stripped)
    return column + 2 if stripped.startswith("- ") else column


def _starts_entry(line: str) -> bool:
    return line.lstrip(" \t").startswith("- ")


def _entry_lines(lines: list[str], index: int) -> list[str]:
    """The other lines of the list entry (`- name: X` / `  value: Y`) holding line `index`."""
    column = _key_column(lines[index])
    out = []
    if not _starts_entry(lines[index]):
        for i in range(index - 1, max(-1, index - 4), -1):
            if _key_column(lines[i]) != column:
                break
            out.append(lines[i])
            if _starts_entry(lines[i]):
                break
    for i in range(index + 1, min(len(lines), index + 4)):
        if _key_column(lines[i]) != column or _starts_entry(lines[i]):
            break
        out.append(lines[i])
    return out


def _redact_env_value(lines: list[str], index: int) -> str:
    """`value:` of a Kubernetes/ECS env entry whose `name:` (on the same line, or in the same
    list entry, either order) is secret-named."""
    line = lines[index]
    match = _ENV_VALUE.search(line)
    if match is None:
        return line
    same_line = _ENV_NAME.search(line)
    if same_line is None:
        column = _key_column(line)
        names = [
            m.group("name")
            for other in _entry_lines(lines, index)
            if (m := _ENV_NAME.match(other, column))
        ]
    else:
        names = [same_line.group("name")]
    if not any(secret_named(name) for name in names):
        return line
    start, end = _value_span(line, match.start(), match.end(), match.group("sep"))
    return _replace(line, start, end) if start < end else line


_K8S_SECRET = re.compile(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.M)
_DATA_KEY = re.compile(r"^(?P<indent>[ \t]*)(?:data|stringData):[ \t]*(?P<rest>.*)$")
# The value of a secret written as a mapping: GitLab CI's `DEPLOY_TOKEN: {value: x}`, a
# workflow input's `token: {default: x}`.
_NESTED_VALUE = re.compile(r"""^[ \t]*["']?(?:value|default)["']?[ \t]*:[ \t]*""")
_ENTRY = re.compile(r"""^[ \t]*["']?[\w.-]+["']?:(?:[ \t]+|$)""")


def _secret_documents(lines: list[str]) -> list[bool]:
    """Per line: whether its YAML document is a Kubernetes Secret."""
    out: list[bool] = []
    start = 0
    for i in range(len(lines) + 1):
        if i == len(lines) or lines[i].startswith("---"):
            secret = any(_K8S_SECRET.match(line) for line in lines[start:i])
            out += [secret] * (i - start)
            if i < len(lines):
                out.append(False)
            start = i + 1
    return out


def _secret_data_walk(
    lines: list[str], opener: re.Pattern[str]
) -> Iterator[tuple[int, int, int | None, re.Match[str] | None]]:
    """(index, indent, entries, opened) for each non-blank line of a Kubernetes Secret
    document. `entries` is the column of the data mapping's keys when the line sits inside a
    block that `opener` opened (a match with no `rest` after the colon), else None; `opened`
    is the opener's match on a line outside such a block. One walk for detection and
    redaction, so that both see the same lines as Secret data."""
    documents = _secret_documents(lines)
    depth: int | None = None  # column of the opening key while inside its block
    entries = 0
    for i, line in enumerate(lines):
        if not documents[i] or not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" \t"))
        if depth is not None and indent > depth:
            entries = entries or indent
            yield i, indent, entries, None
            continue
        depth, entries = None, 0
        opened = opener.match(line)
        if opened is not None and not (opened.groupdict().get("rest") or "").strip():
            depth = len(opened.group("indent"))
        yield i, indent, None, opened


def _redact_secret_data(lines: list[str]) -> None:
    """Every value under `data:` / `stringData:` of a Kubernetes Secret, whatever its key."""
    for i, indent, entries, opened in _secret_data_walk(lines, _DATA_KEY):
        line = lines[i]
        if entries is not None:
            entry = _ENTRY.match(line)
            if entry is not None and indent == entries:
                lines[i] = _replace(line, entry.end(), len(line.rstrip()))
            else:  # a block scalar's lines, or anything else in there
                lines[i] = line[:indent] + REDACTED
        elif opened is not None and opened.group("rest").strip():
            lines[i] = _replace(line, opened.start("rest"), len(line.rstrip()))


_TF_VARIABLE = re.compile(r'^[ \t]*variable[ \t]+"?(?P<name>[\w-]+)"?[ \t]*\{', re.M)
_TF_DEFAULT = re.compile(r"\bdefault[ \t]*=[ \t]*")
_TF_SENSITIVE = re.compile(r"\bsensitive[ \t]*=[ \t]*true\b")
_TF_HEREDOC = re.compile(r"<<-?[ \t]*(\w+)[^\n]*\n(?:.*?\n)??[ \t]*\1[ \t]*$", re.M | re.S)
# Where a variable block ends at the latest: a closing brace or the next block's header at
# the start of a line (a missing brace then costs one block, not the rest of the file).
_TF_BLOCK_END = re.compile(r'^(?:\}|[A-Za-z_][\w-]*(?:[ \t]+(?:"[^"\n]*"|[\w-]+))*[ \t]*\{)', re.M)


def _closing(text: str, start: int, limit: int) -> int:
    """Index just past the bracket closing the one at `start`, or `limit` (strings are not
    parsed: a bracket inside one only moves the end within the same value)."""
    opener = text[start]
    closer = "}" if opener == "{" else "]"
    depth = 0
    for i in range(start, limit):
        if text[i] == opener:
            depth += 1
        elif text[i] == closer:
            depth -= 1
            if depth == 0:
                return i + 1
    return limit


def _redact_terraform_defaults(text: str) -> str:
    """The default of a Terraform variable named like a secret or marked `sensitive`."""
    pos = 0
    while match := _TF_VARIABLE.search(text, pos):
        pos = match.end()
        block_end = _TF_BLOCK_END.search(text, pos)
        end = block_end.end() if block_end else len(text)
        body = text[pos:end]
        default = _TF_DEFAULT.search(body)
        if default is None or not (secret_named(match.group("name")) or _TF_SENSITIVE.search(body)):
            continue
        start = pos + default.end()
        head = text[start : start + 1]
        if head == '"':
            quote = _quoted_end(text, start)
            stop = quote + 1 if text[quote : quote + 1] == '"' else quote
        elif head in ("{", "["):
            stop = _closing(text, start, end)
        elif heredoc := _TF_HEREDOC.match(text, start, end):
            stop = heredoc.end()
        else:
            stop = text.find("\n", start)
            stop = len(text) if stop == -1 else stop
        if text[start:stop].strip() != "null":
            text = text[:start] + REDACTED + text[stop:]
    return text


def _redact_detected(text: str) -> str:
    """Values the format detectors know (the secret part only, when a pattern captures it
    with its context, as AWS secret keys are). Pattern by pattern: each has a literal prefix
    the regex engine skips to, which one alternation of them all would defeat (5x slower)."""

    def cut(match: re.Match[str]) -> str:
        if match.re.groups and len(match.group(1) or "") >= 16:
            whole, (start, end) = match.group(0), match.span(1)
            offset = match.start()
            return whole[: start - offset] + REDACTED + whole[end - offset :]
        return REDACTED

    lowered = text.lower()
    for pattern in _REDACT_PATTERNS:
        gate = _PATTERN_GATES.get(pattern.pattern)
        if gate is None or gate in lowered:
            text = pattern.sub(cut, text)
    return text


def _redact_private_keys(text: str) -> str:
    """Whole key blocks, each to the first end marker after its header (found by bisection
    over all end markers: linear, however many headers lack an end)."""
    ends = [m.end() for m in _KEY_END.finditer(text)]
    out, pos = [], 0
    for begin in _KEY_BEGIN.finditer(text):
        if begin.start() < pos:
            continue  # inside a block already redacted
        after = bisect.bisect_left(ends, begin.end())
        if after < len(ends):
            stop = ends[after]
        else:
            lines = _KEY_LINES.match(text, begin.end())
            stop = lines.end() if lines else begin.end()
        out += [text[pos : begin.start()], REDACTED]
        pos = stop
    return "".join(out) + text[pos:]


def _cap_lines(text: str) -> str:
    if len(text) <= MAX_REDACT_LINE or all(
        len(line) <= MAX_REDACT_LINE for line in text.split("\n")
    ):
        return text
    return "\n".join(
        line if len(line) <= MAX_REDACT_LINE else line[: len(line) - len(line.lstrip())] + REDACTED
        for line in text.split("\n")
    )


def redact(text: str) -> str:
    """The text with every credential value replaced by REDACTED (see above); line count kept
    except where a private-key block collapses to one line."""
    text = _redact_detected(_cap_lines(text))
    if "PRIVATE KEY" in text or "PuTTY-User-Key" in text:
        text = _redact_private_keys(text)
    if "variable" in text:
        text = _redact_terraform_defaults(text)
    lines = text.split("\n")
    lowered = text.lower().split("\n")  # lower() never adds or removes a newline
    if _K8S_SECRET.search(text):
        _redact_secret_data(lines)
    follow, column = _NO_FOLLOW, 0
    for i, line in enumerate(lines):
        content = line.lstrip(" \t")
        if not content:
            continue
        indent = len(line) - len(content)
        if follow != _NO_FOLLOW and indent > column:
            if follow == _BLOCK:
                lines[i] = line[:indent] + REDACTED
                continue
            if not _ENTRY.match(line):  # a plain scalar or a list item: the secret's value
                item = 2 if content.startswith("- ") else 0
                lines[i] = line[: indent + item] + _redacted(content[item:])
                continue
            if nested := _NESTED_VALUE.match(line):  # GitLab `value:`, workflow `default:`
                lines[i] = _replace(line, nested.end(), len(line.rstrip()))
                continue
        else:
            follow = _NO_FOLLOW
        if _LINE_TRIGGER.search(lowered[i]) is None:
            continue
        urls = _URL_USERINFO.sub(_redact_userinfo, line) if "://" in line else line
        secretish = _SECRETISH.search(lowered[i]) is not None
        paired, follow_here, column_here = (
            _redact_pairs(urls) if secretish else (urls, _NO_FOLLOW, 0)
        )
        lines[i] = _redact_flags(paired, lowered[i], secretish)
        if "value" in line:
            lines[i] = _redact_env_value(lines, i)
        if follow_here != _NO_FOLLOW:
            follow, column = follow_here, column_here
    return "\n".join(lines)
