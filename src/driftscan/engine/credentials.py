"""Plaintext credentials, found with detect-secrets' plugins and reported without their value.

Only the high-confidence, format-specific plugins are used (cloud keys, private keys, service
tokens); entropy and keyword plugins drown real repositories in false positives. The plugins'
own regexes are joined into one pre-filter so a file without a candidate costs one C-level
search. `analyze_string` is called instead of `analyze_line` because the latter may try to
*verify* a secret over the network. A found value is reduced at once to a salted fingerprint:
it is never returned, stored or printed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector

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
        if block is None:  # a header without a key body: a docstring, a regex, a constant
            return
        value = block
    yield Credential(plugin.secret_type, index + 1, fingerprint(value, salt))


_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")
_PEM_HEADER_LINE = re.compile(r"^[A-Za-z-]+:")  # Proc-Type:, DEK-Info: of encrypted keys
_CODE_QUOTING = re.compile(r"""^[\s"'`+,]+|(?:\\n|[\s"'`+,;)])+$""")


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
