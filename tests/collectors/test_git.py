"""Git repositories built at test time: committed content only, nothing from the repo runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftscan.collectors.base import discover, open_source
from driftscan.collectors.git import ClonedSource, GitSource, find_git_dir
from driftscan.engine.detect import CompiledRuleset, DetectOptions, detect_repo
from driftscan.models import ReadError, RepoStatus
from tests.conftest import git, make_git_repo

WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"


def service(tmp_path: Path, name: str = "svc") -> Path:
    src = tmp_path / f"{name}-src"
    (src / ".github" / "workflows").mkdir(parents=True)
    (src / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (src / "app.py").write_text("print('hi')\n")
    return make_git_repo(src, tmp_path / name)


def values(result) -> list[str]:
    return sorted(f.value for f in result.facts if f.dimension == "ci.system")


def test_reads_the_head_commit_not_the_work_tree(tmp_path: Path, compiled: CompiledRuleset) -> None:
    repo = service(tmp_path)
    (repo / "Jenkinsfile").write_text("pipeline {}\n")  # uncommitted: must not count
    (repo / ".github" / "workflows" / "ci.yml").unlink()  # deleted but committed: counts
    source = GitSource(repo, repo / ".git")
    try:
        result = detect_repo(compiled, source)
    finally:
        source.close()
    assert values(result) == ["github-actions"]
    assert result.meta.head == git(repo, "rev-parse", "HEAD")
    assert result.meta.default_branch == "main"


def test_a_hostile_git_config_never_runs_a_command(
    tmp_path: Path, compiled: CompiledRuleset
) -> None:
    repo = service(tmp_path)
    marker = tmp_path / "pwned"
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attrs")
    config = repo / ".git" / "config"
    config.write_text(
        config.read_text()
        + f"[core]\n\tfsmonitor = touch {marker}-fsmonitor\n\tpager = touch {marker}-pager\n"
        f'[filter "evil"]\n\tclean = touch {marker}-clean\n\tsmudge = touch {marker}-smudge\n'
        f"\tprocess = touch {marker}-process\n[diff]\n\texternal = touch {marker}-diff\n"
        f"[core]\n\tsshCommand = touch {marker}-ssh\n"
    )
    hooks = repo / ".git" / "hooks"
    for hook in ("post-checkout", "pre-commit", "post-index-change", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}-{hook}\n")
        (hooks / hook).chmod(0o755)
    for spec in discover([str(repo)]):
        source = open_source(spec, 1 << 20)
        try:
            result = detect_repo(compiled, source)
        finally:
            source.close()
        assert values(result) == ["github-actions"]
    assert not list(tmp_path.glob("pwned*")), "a command from the scanned repository ran"


def test_empty_repository_is_empty(tmp_path: Path, compiled: CompiledRuleset) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    source = GitSource(repo, repo / ".git")
    result = detect_repo(compiled, source)
    source.close()
    assert result.status is RepoStatus.EMPTY
    assert result.meta.head is None


def test_symlinks_and_submodules_are_recorded_not_followed(
    tmp_path: Path, compiled: CompiledRuleset
) -> None:
    repo = service(tmp_path)
    (repo / "Jenkinsfile").symlink_to("/etc/passwd")
    git(repo, "add", "Jenkinsfile")
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},libs/shared")
    git(repo, "commit", "-qm", "link and submodule")
    source = GitSource(repo, repo / ".git")
    result = detect_repo(compiled, source)
    with pytest.raises(ReadError):
        source.read("Jenkinsfile")
    source.close()
    reasons = {p.path: p.reason for p in result.problems}
    assert reasons["Jenkinsfile"] == "symbolic link; not followed"
    assert reasons["libs/shared"] == "git submodule; not scanned"
    assert values(result) == ["github-actions"]


def test_bare_repository(tmp_path: Path, compiled: CompiledRuleset) -> None:
    repo = service(tmp_path)
    bare = tmp_path / "svc.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    assert find_git_dir(bare) == bare
    (spec,) = discover([str(bare)])
    assert (spec.kind, spec.name) == ("git", "svc")
    source = open_source(spec, 1 << 20)
    assert values(detect_repo(compiled, source)) == ["github-actions"]
    source.close()


def test_clone_from_url_matches_local_scan_and_skips_large_blobs(
    tmp_path: Path, compiled: CompiledRuleset
) -> None:
    repo = service(tmp_path)
    (repo / ".travis.yml").write_text("language: python\nscript: pytest\n")
    (repo / "big.yaml").write_text("kind: ConfigMap\n" + "# padding\n" * 300)
    git(repo, "add", ".travis.yml", "big.yaml")
    git(repo, "commit", "-qm", "travis")
    git(repo, "config", "uploadpack.allowFilter", "true")
    local = GitSource(repo, repo / ".git")
    expected = detect_repo(compiled, local)
    local.close()
    cloned = ClonedSource(f"file://{repo}", max_file_size=1000)
    try:
        result = detect_repo(compiled, cloned, DetectOptions(max_file_size=1000))
        assert values(result) == values(expected) == ["github-actions", "travis"]
        assert result.meta.head == expected.meta.head
        assert cloned.location == f"file://{repo}"
        # The filter left the large blob on the server: it was never downloaded.
        big_blob = git(repo, "rev-parse", "HEAD:big.yaml")
        missing = git(cloned.tmp, "rev-list", "--objects", "--missing=print", "HEAD")
        assert f"?{big_blob}" in missing.splitlines()
        with pytest.raises(ReadError, match="not downloaded"):
            cloned.read("big.yaml")
        clone_dir = cloned.tmp
    finally:
        cloned.close()
    assert not clone_dir.exists()


def test_dangerous_urls_are_refused() -> None:
    for url in ("ext::sh -c touch% /tmp/x", "--upload-pack=touch /tmp/x", "fd::3"):
        with pytest.raises(ReadError, match="refused URL"):
            ClonedSource(url)


def test_clone_errors_hide_credentials(tmp_path: Path) -> None:
    source = ClonedSource(f"file://user:s3cret@{tmp_path}/none.git")
    with pytest.raises(ReadError) as info:
        source.list_files()
    source.close()
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in source.location


def test_discover_folder_of_repos_plain_folder_and_missing(tmp_path: Path) -> None:
    org = tmp_path / "org"
    org.mkdir()
    service(org, "a")
    service(org, "b")
    (org / "notes").mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    specs = discover([str(org), str(plain), str(tmp_path / "nope")])
    # Only the git repositories of a folder of checkouts; other folders are left alone.
    assert [(s.kind, s.name) for s in specs] == [
        ("git", "a"),
        ("git", "b"),
        ("dir", "plain"),
        ("missing", "nope"),
    ]
    assert specs[-1].reason == "no such path"


def test_scans_any_revision(tmp_path: Path, compiled: CompiledRuleset) -> None:
    repo = service(tmp_path)
    first = git(repo, "rev-parse", "HEAD")
    (repo / "Jenkinsfile").write_text("pipeline { agent any }\n")
    git(repo, "add", "Jenkinsfile")
    git(repo, "commit", "-qm", "jenkins")
    old = GitSource(repo, repo / ".git", revision=first)
    new = GitSource(repo, repo / ".git")
    try:
        assert values(detect_repo(compiled, old)) == ["github-actions"]
        assert old.meta().head == first
        assert values(detect_repo(compiled, new)) == ["github-actions", "jenkins"]
    finally:
        old.close()
        new.close()
    bad = GitSource(repo, repo / ".git", revision="no-such-branch")
    with pytest.raises(ReadError, match="not a commit"):
        bad.meta()
    bad.close()
