"""Credentials: found by detect-secrets' detectors, reported by type and line, never by value."""

from __future__ import annotations

from driftscan.engine.credentials import find_credentials

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
