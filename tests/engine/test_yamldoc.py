"""Tolerant YAML: templated, multi-document and hostile input parse without crashing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from driftscan.engine.yamldoc import find_path, outline, parse_documents

HELM_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  template:
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          {{- with .Values.env }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
"""


def test_helm_template_is_read_with_kind_and_lines() -> None:
    (doc,) = parse_documents(HELM_DEPLOYMENT)
    assert doc.tolerant
    assert doc.root.scalar("kind") == "Deployment"
    assert doc.root.get("kind").line == 2
    images = find_path(doc.root, ("spec", "template", "spec", "containers", "image"))
    assert [n.line for n in images] == [15]


def test_multi_document_lines_are_absolute() -> None:
    text = "kind: A\n---\n# note\nkind: B\n--- # trailing\nkind: C\n...\n"
    docs = parse_documents(text)
    assert [(d.root.scalar("kind"), d.root.get("kind").line) for d in docs] == [
        ("A", 1),
        ("B", 4),
        ("C", 6),
    ]


def test_jinja_and_erb_templates_fall_back_to_an_outline() -> None:
    text = "{% if prod %}\nhosts: all\n{% endif %}\ntasks:\n  - name: <%= @name %>\n    apt: {name: x}\n"
    (doc,) = parse_documents(text)
    assert doc.root.get("hosts") is not None
    assert doc.root.get("tasks") is not None


def test_outline_reads_keys_of_broken_yaml() -> None:
    root = outline("a:\n  - b: 1\n    c: [unclosed\n  d:\n      e: 2\n")
    assert root is not None
    assert [n.line for n in find_path(root, ("a", "d", "e"))] == [5]
    assert find_path(root, ("**", "e"))[0].text == "2"


def test_alias_bomb_is_bounded() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    docs = parse_documents("\n".join(lines))
    assert docs  # parsed (aliases shared, not expanded) or outlined, never exploded
    assert find_path(docs[0].root, ("**", "zzz")) == []


def test_deep_flow_nesting_does_not_recurse_into_libyaml() -> None:
    assert parse_documents("[" * 100_000) == []
    assert parse_documents("a: " + "{b: " * 5000 + "1" + "}" * 5000)[0].root.get("a") is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    parse_documents(data.decode("utf-8", errors="replace"))


YAMLISH = st.text(alphabet=st.sampled_from(list("abk:-{}[]|>&*!%@#'\"\n \t.,?{{}}")), max_size=400)


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_random_yaml_like_text_never_crashes(text: str) -> None:
    for doc in parse_documents(text):
        find_path(doc.root, ("**", "k"))
