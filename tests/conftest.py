"""Shared test helpers: paths, the loaded ruleset, and real git repositories from folders."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from driftscan.engine.detect import CompiledRuleset
from driftscan.engine.rules import Ruleset, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
DEMO_ORG = FIXTURES / "demo-org"
# A minimal GitHub Actions workflow, for repositories that move to it between scans.
WORKFLOW = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fixture",
    "GIT_AUTHOR_EMAIL": "fixture@example.invalid",
    "GIT_COMMITTER_NAME": "Fixture",
    "GIT_COMMITTER_EMAIL": "fixture@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def make_git_repo(source: Path | None, dest: Path, message: str = "initial") -> Path:
    """Copy a fixture folder to `dest`, `git init` it and commit everything."""
    if source is not None:
        shutil.copytree(source, dest, symlinks=True)
    else:
        dest.mkdir(parents=True)
    git(dest, "init", "-q")
    git(dest, "add", "-A", "-f")
    git(dest, "commit", "-q", "--allow-empty", "-m", message)
    return dest


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    return load_ruleset()


@pytest.fixture(scope="session")
def compiled(ruleset: Ruleset) -> CompiledRuleset:
    return CompiledRuleset.compile(ruleset)


def cli(*args: str) -> tuple[int, str]:
    """The driftscan command line, in-process: exit code and everything it printed."""
    from click.testing import CliRunner

    from driftscan.cli.main import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr
