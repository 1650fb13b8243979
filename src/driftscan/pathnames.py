"""File and repository names as text: lossless, valid UTF-8 and safe in a terminal.

A POSIX name is bytes. Most are plain UTF-8 text and stay exactly as they are. The rest - bytes
that are not UTF-8, control characters (an ESC in a name could recolour or rewrite a terminal),
characters that reorder or break lines - are written as `\\xNN`, one escape per raw byte, and a
literal backslash as `\\\\`. The escaped form is what flows through detection, the store and
every report; a collector maps it back to the real name when it opens the file. One codec for
every collector, so the same name always gets the same text (scans compare stored locations).

Every escape stands for a raw byte, whatever the character it came from, so `unescape` never
needs to know which characters were judged unsafe: widening that set later cannot make stored
text undecodable.
"""

from __future__ import annotations

import os
import re

# Characters written as escapes although they are valid UTF-8: the backslash (the escape
# character itself), C0 controls, DEL, C1 controls, the line and paragraph separators, and the
# bidirectional marks and overrides that can make a name print as another ("Trojan source").
_UNSAFE_CHARS = "\\\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")
# The same, plus every surrogate: how an undecodable byte (os.fsdecode, surrogateescape) or a
# lone UTF-16 half (JSON "\ud800") shows up in a Python str.
_UNSAFE_OR_SURROGATE = re.compile(f"[{_UNSAFE_CHARS}\ud800-\udfff]")
_ESCAPES = re.compile(r"(\\\\|\\x[0-9a-f]{2})")
_RAW_BYTE = range(0xDC80, 0xDD00)  # surrogateescape's stand-ins for bytes 0x80-0xff


def escape_bytes(raw: bytes) -> str:
    """The text form of a name given as bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
    else:
        if _UNSAFE.search(text) is None:
            return text  # nearly every name: plain UTF-8, nothing to escape
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    if ord(char) in _RAW_BYTE:
        return f"\\x{ord(char) - 0xDC00:02x}"
    if char == "\\":
        return "\\\\"
    if _UNSAFE.match(char):
        return "".join(f"\\x{byte:02x}" for byte in char.encode("utf-8"))
    return char


def escape_name(name: str) -> str:
    """The text form of a name given as a str: from the OS (os.listdir, sys.argv, pathlib:
    undecodable bytes arrive as surrogateescape) or from a JSON API (lone surrogates)."""
    if _UNSAFE_OR_SURROGATE.search(name) is None:
        return name
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate outside surrogateescape's range (JSON)
        raw = name.encode("utf-8", "surrogatepass")
    return escape_bytes(raw)


def unescape_bytes(text: str) -> bytes:
    """The original bytes of an escaped name. Raises ValueError on text `escape_bytes` cannot
    have produced (a stray backslash, a bad escape, a lone surrogate)."""
    if "\\" not in text:
        return text.encode("utf-8")
    out = bytearray()
    for index, part in enumerate(_ESCAPES.split(text)):
        if index % 2:  # the splitting pattern's captures: one escape each
            out += b"\\" if part == "\\\\" else bytes([int(part[2:], 16)])
        elif "\\" in part:
            raise ValueError(f"not an escaped name: stray backslash in {escape_name(text)!r}")
        else:
            out += part.encode("utf-8")
    return bytes(out)


def os_name(text: str) -> str:
    """An escaped name as the str that os, pathlib and subprocess take for the real name."""
    return os.fsdecode(unescape_bytes(text))
