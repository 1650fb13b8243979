"""The name codec: lossless for any bytes, and its text is valid UTF-8 with nothing a terminal
would act on."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from driftscan.pathnames import escape_bytes, escape_name, os_name, unescape_bytes

# Characters the escaped form must never hold: controls (C0, DEL, C1), the line and paragraph
# separators, the bidirectional marks, overrides and isolates, and any surrogate.
FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_safe_text(text: str) -> bool:
    text.encode("utf-8")  # raises on a surrogate: the text must be valid UTF-8
    return not any(
        unicodedata.category(char) in FORBIDDEN_CATEGORIES or char in BIDI for char in text
    )


@given(st.binary(max_size=64))
@example(b"a-\xff.yml")
@example(b"\\xff")  # a name that looks like an escape is not confused with one
@example(b"\x1b[31mred\x1b[0m")
@example("\u0085\u202e".encode())  # C1 NEL and RIGHT-TO-LEFT OVERRIDE, valid UTF-8
@example(b"\xed\xa0\x80")  # a UTF-8-encoded surrogate: not valid UTF-8
def test_any_bytes_round_trip_through_safe_text(raw: bytes) -> None:
    text = escape_bytes(raw)
    assert is_safe_text(text)
    assert unescape_bytes(text) == raw


@given(st.binary(max_size=32), st.binary(max_size=32))
def test_different_names_never_share_a_text(a: bytes, b: bytes) -> None:
    if a != b:
        assert escape_bytes(a) != escape_bytes(b)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40))
def test_plain_text_names_stay_as_they_are(name: str) -> None:
    if "\\" not in name and not set(name) & BIDI:
        assert escape_bytes(name.encode()) == name
        assert escape_name(name) == name


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b".github/workflows/a-\xff.yml", ".github/workflows/a-\\xff.yml"),
        (b"caf\xe9", "caf\\xe9"),
        (b"a\\b", "a\\\\b"),
        (b"\x1b[31m", "\\x1b[31m"),
        (b"line\nbreak", "line\\x0abreak"),
        ("nel\u0085".encode(), "nel\\xc2\\x85"),
        ("caf\u00e9".encode(), "caf\u00e9"),
    ],
)
def test_escaped_forms(raw: bytes, text: str) -> None:
    assert escape_bytes(raw) == text
    assert unescape_bytes(text) == raw


@given(st.binary(max_size=48))
def test_os_names_round_trip(raw: bytes) -> None:
    """What os.listdir gives (surrogateescape) -> text -> what os.open takes."""
    from_os = raw.decode("utf-8", "surrogateescape")
    assert os_name(escape_name(from_os)) == from_os


def test_a_lone_surrogate_from_json_becomes_safe_text() -> None:
    text = escape_name("x\ud800y")
    assert is_safe_text(text)
    assert unescape_bytes(text) == b"x\xed\xa0\x80y"


@pytest.mark.parametrize("text", ["a\\b", "trailing\\", "\\x4", "\\xZZ", "\\X41", "x\udcff"])
def test_text_no_escape_could_produce_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        unescape_bytes(text)
