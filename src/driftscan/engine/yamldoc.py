"""Tolerant YAML: every document of a file as a small tree with line numbers, never a crash.

Real infrastructure YAML is often not YAML: Helm (`{{ }}`), Jinja (`{% %}`), ERB (`<% %>`) and
makejinja (`#{ }#`) templates break strict parsers. Each document is parsed strictly first
(libyaml when available: fast, with line marks); a document that fails is parsed again with
template tags neutralised, and failing that is read as an indentation outline of its keys, which
is enough for the key-path and `kind`/`apiVersion` questions detection asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import yaml

# libyaml is ~10x faster; fall back to the pure-Python loader where PyYAML lacks it.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)

MAX_NODES = 50_000  # per document; aliases make "billion laughs" trees, this bounds them
MAX_BRACKET_DEPTH = 200  # deeper flow nesting is never configuration; libyaml recurses on it


@dataclass(frozen=True)
class Node:
    """A YAML node: a scalar (`text`), a mapping (`entries`) or a sequence (`items`)."""

    line: int
    text: str | None = None
    entries: tuple[tuple[str, Node], ...] = ()
    items: tuple[Node, ...] = ()
    is_mapping: bool = False

    def get(self, key: str) -> Node | None:
        for k, v in self.entries:
            if k == key:
                return v
        return None

    def scalar(self, key: str) -> str | None:
        node = self.get(key)
        return node.text if node is not None else None


@dataclass(frozen=True)
class Document:
    root: Node
    start_line: int
    tolerant: bool  # True when the strict parse failed and a fallback produced this tree


_DOC_SPLIT = re.compile(r"^---[ \t]*(?:#.*)?$|^\.\.\.[ \t]*$", re.MULTILINE)
# A whole line that is only a template tag: `{{- if .Values.x }}`, `{% for %}`, `<% end %>`.
_TAG_LINE = re.compile(r"^[ \t]*(?:\{\{-?.*?-?\}\}|\{%-?.*?-?%\}|<%.*?%>|#\{.*?\}#)[ \t]*$", re.M)
_INLINE_TAG = re.compile(r"\{\{-?.*?-?\}\}|\{%-?.*?-?%\}|<%=?.*?%>|#\{.*?\}#")


def parse_documents(text: str) -> list[Document]:
    """Every document of a (possibly multi-document, possibly templated) YAML text."""
    docs: list[Document] = []
    for start_line, chunk in _split_documents(text):
        if not chunk.strip():
            continue
        root = _strict(chunk, start_line)
        tolerant = False
        if root is None:
            tolerant = True
            root = _strict(_neutralise_templates(chunk), start_line)
        if root is None:
            root = outline(chunk, start_line)
        if root is not None:
            docs.append(Document(root, start_line, tolerant))
    return docs


def _split_documents(text: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based first line, text) per document; separators keep line numbers exact."""
    line = 1
    pos = 0
    for m in _DOC_SPLIT.finditer(text):
        chunk = text[pos : m.start()]
        yield line, chunk
        line += chunk.count("\n") + 1
        pos = m.end() + 1
    yield line, text[pos:]


def _neutralise_templates(chunk: str) -> str:
    """Blank template-only lines and replace inline tags with a plain scalar, keeping lines."""
    blanked = _TAG_LINE.sub("", chunk)
    return _INLINE_TAG.sub("tmpl", blanked)


def _too_deep(chunk: str) -> bool:
    depth = 0
    for ch in chunk:
        if ch in "[{":
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                return True
        elif ch in "]}" and depth:
            depth -= 1
    return False


def _strict(chunk: str, start_line: int) -> Node | None:
    if ("[" in chunk or "{" in chunk) and _too_deep(chunk):
        return None
    try:
        node = yaml.compose(chunk, Loader=_Loader)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if node is None:
        return None
    budget = [MAX_NODES]
    try:
        return _convert(node, start_line - 1, budget, {})
    except _TooLarge:
        return None


class _TooLarge(Exception):
    pass


def _convert(node: yaml.Node, offset: int, budget: list[int], memo: dict[int, Node]) -> Node:
    key = id(node)
    if key in memo:  # an alias: share the converted node instead of expanding it again
        return memo[key]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    line = node.start_mark.line + 1 + offset
    result: Node
    if isinstance(node, yaml.MappingNode):
        entries = []
        for k, v in node.value:
            key_text = k.value if isinstance(k, yaml.ScalarNode) else ""
            value = _convert(v, offset, budget, memo)
            key_line = k.start_mark.line + 1 + offset
            if value.line != key_line and value.text is None:
                # A block value starts on the next line; evidence should point at its key.
                value = replace(value, line=key_line)
            entries.append((str(key_text), value))
        result = Node(line, entries=tuple(entries), is_mapping=True)
    elif isinstance(node, yaml.SequenceNode):
        result = Node(line, items=tuple(_convert(v, offset, budget, memo) for v in node.value))
    else:
        result = Node(line, text=str(node.value))
    memo[key] = result
    return result


_OUTLINE_KEY = re.compile(
    r"^[ \t]*(?:-[ \t]+)*(?P<key>\"[^\"]*\"|'[^']*'|[^\s#:'\"{}\[\],&*!|>%@`-][^:#]*?)"
    r":(?:[ \t]+(?P<value>.*?))?[ \t]*$"
)
MAX_OUTLINE_DEPTH = 64


@dataclass
class _Draft:
    key: str
    line: int
    value: str | None
    column: int
    children: list[_Draft]


def outline(chunk: str, start_line: int = 1) -> Node | None:
    """An indentation outline of a YAML-like text: mapping keys with lines and scalar text.

    Used only when a document is not parseable even with templates neutralised. Sequence items
    are folded into their parent mapping, which is all that key-path questions need.
    """
    root = _Draft("", start_line, None, -1, [])
    stack = [root]
    for offset, raw in enumerate(chunk.split("\n")):
        if not raw.strip() or raw.lstrip().startswith("#") or _TAG_LINE.match(raw):
            continue
        m = _OUTLINE_KEY.match(raw)
        if m is None:
            continue
        column = m.start("key")
        while len(stack) > 1 and stack[-1].column >= column:
            stack.pop()
        value = m.group("value")
        if value is not None and value.startswith("#"):
            value = None
        draft = _Draft(
            m.group("key").strip("\"'"),
            start_line + offset,
            value.strip("\"'") if value else value,
            column,
            [],
        )
        stack[-1].children.append(draft)
        if len(stack) < MAX_OUTLINE_DEPTH:
            stack.append(draft)
    if not root.children:
        return None
    return _freeze(root)


def _freeze(draft: _Draft) -> Node:
    if draft.children:
        entries = tuple((c.key, _freeze(c)) for c in draft.children)
        return Node(draft.line, entries=entries, is_mapping=True)
    return Node(draft.line, text=draft.value if draft.value is not None else "")


def find_path(root: Node, path: tuple[str, ...], budget: int = 20_000) -> list[Node]:
    """Nodes at a dotted key path. Sequences are crossed transparently; `*` is any key;
    `**` is any depth (zero or more keys)."""
    out: list[Node] = []
    remaining = [budget]

    def walk(node: Node, i: int) -> None:
        remaining[0] -= 1
        if remaining[0] < 0:
            return
        if node.items:
            for item in node.items:
                walk(item, i)
            return
        if i == len(path):
            out.append(node)
            return
        part = path[i]
        if part == "**":
            walk(node, i + 1)
            for _k, child in node.entries:
                walk(child, i)
            return
        for k, child in node.entries:
            if part in ("*", k):
                walk(child, i + 1)

    walk(root, 0)
    return out
