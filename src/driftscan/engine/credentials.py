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
import re
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


def find_credentials(text: str, salt: bytes) -> Iterator[Credential]:
    """Every credential in `text` (already comment-stripped by the caller if it wishes)."""
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


def _pem_block(lines: list[str], start: int) -> str | None:
    """The whole key block (so the fingerprint identifies the key, not its header)."""
    for end in range(start + 1, min(len(lines), start + 200)):
        if _PEM_END.search(lines[end]):
            body = "".join(line.strip() for line in lines[start + 1 : end])
            # Documentation shows "..." or "<your key>" between the markers, never a body.
            return body if len(body) >= 64 and not re.search(r"\.\.\.|<|>|\$\{", body) else None
    return None
