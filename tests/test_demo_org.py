"""The bundled demo org is detected exactly as it was labelled by hand (fixtures/demo-org-labels.yaml)."""

from __future__ import annotations

import yaml

from driftscan.collectors.local import DirSource
from driftscan.engine.detect import CompiledRuleset, detect_repo
from tests.conftest import DEMO_ORG, FIXTURES

LABELS = yaml.safe_load((FIXTURES / "demo-org-labels.yaml").read_text())


def test_demo_org_has_a_believable_size() -> None:
    folders = sorted(p.name for p in DEMO_ORG.iterdir() if p.is_dir())
    assert len(folders) >= 24
    assert folders == sorted(LABELS["repos"])


def test_demo_org_is_detected_as_labelled(compiled: CompiledRuleset) -> None:
    mismatches = []
    for name, dims in sorted(LABELS["repos"].items()):
        result = detect_repo(compiled, DirSource(DEMO_ORG / name))
        for dimension, expected in dims.items():
            got = list(result.values(dimension))
            if got != sorted(expected):
                extra = sorted(set(got) - set(expected))
                lost = sorted(set(expected) - set(got))
                mismatches.append(f"{name} {dimension}: extra {extra} missing {lost}")
    assert not mismatches, "\n".join(mismatches)
