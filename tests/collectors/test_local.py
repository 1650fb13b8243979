"""Plain folders: listing, safety (symlinks, FIFOs, sizes) and precise problems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftscan.collectors.local import DirSource
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.models import ReadError, RepoStatus


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs:\n  t: {runs-on: x}\n")
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "Jenkinsfile").write_text("pipeline {}")
    return root


def test_walk_skips_dependency_trees_and_lists_sizes(repo: Path) -> None:
    listing = DirSource(repo).list_files()
    assert [(f.path, f.size) for f in listing.files] == [(".github/workflows/ci.yml", 33)]
    assert listing.complete


def test_symlink_outside_root_is_recorded_not_followed(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("TOKEN=abc")
    (repo / "Jenkinsfile").symlink_to(secret)
    (repo / "inside-link.yml").symlink_to(repo / ".github" / "workflows" / "ci.yml")
    (repo / "loop").symlink_to(repo / "loop")
    source = DirSource(repo)
    listing = source.list_files()
    paths = [f.path for f in listing.files]
    assert "Jenkinsfile" not in paths and "inside-link.yml" in paths
    reasons = {p.path: p.reason for p in listing.problems}
    assert "outside the repository" in reasons["Jenkinsfile"]
    with pytest.raises(ReadError, match="outside the repository"):
        source.read("Jenkinsfile")
    with pytest.raises(ReadError, match="refused path"):
        source.read("../outside.txt")
    assert source.read("inside-link.yml").startswith(b"on: push")


def test_fifo_is_never_opened(repo: Path) -> None:
    os.mkfifo(repo / ".travis.yml")
    source = DirSource(repo)
    listing = source.list_files()
    assert ".travis.yml" not in [f.path for f in listing.files]
    assert any(p.path == ".travis.yml" and "FIFO" in p.reason for p in listing.problems)
    with pytest.raises(ReadError, match="not a regular file"):
        source.read(".travis.yml")  # O_NONBLOCK: returns at once instead of hanging


def test_oversized_binary_and_non_utf8_files_are_recorded(
    repo: Path, compiled: CompiledRuleset
) -> None:
    wf = repo / ".github" / "workflows"
    (wf / "big.yml").write_text("jobs:\n" + "# pad\n" * 400)
    (wf / "bin.yml").write_bytes(b"jobs:\x00\x01")
    (wf / "latin.yml").write_bytes("name: caf\xe9\njobs:\n  t: {}\n".encode("latin-1"))
    result = detect_repo(compiled, DirSource(repo), DetectOptions(max_file_size=1000))
    reasons = {p.path: p.reason for p in result.problems}
    assert "exceeds the 1000-byte cap" in reasons[".github/workflows/big.yml"]
    assert "binary" in reasons[".github/workflows/bin.yml"]
    assert "not valid UTF-8 at byte 9" in reasons[".github/workflows/latin.yml"]
    ci = [f for f in result.facts if f.dimension == "ci.system"]
    assert {e.path for f in ci for e in f.evidence} >= {
        ".github/workflows/ci.yml",
        ".github/workflows/latin.yml",
    }


def test_missing_folder_is_an_error_result(tmp_path: Path, compiled: CompiledRuleset) -> None:
    result = detect_repo(compiled, DirSource(tmp_path / "gone"))
    assert result.status is RepoStatus.ERROR
    assert "is not a folder" in (result.error or "")


def test_empty_folder_is_empty_not_error(tmp_path: Path, compiled: CompiledRuleset) -> None:
    (tmp_path / "empty").mkdir()
    assert detect_repo(compiled, DirSource(tmp_path / "empty")).status is RepoStatus.EMPTY
