"""A real history for the HTML report: the whole demo org scanned three times into SQLite,
with two repositories changing between the first and the second scan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_ORG, WORKFLOW, cli, git, make_git_repo

POLICY = """\
version: 1
dimensions:
  ci.system:
    forbidden: [travis]
goals:
  - {dimension: ci.system, value: github-actions, target: ">= 90%", by: 2099-06-30}
  - {dimension: secrets.handling, value: dotenv-committed, target: "<= 0 repos", by: 2099-01-31}
"""


@dataclass(frozen=True)
class DemoHistory:
    db: str
    root: Path
    policy: Path


@pytest.fixture(scope="session")
def demo_history(tmp_path_factory: pytest.TempPathFactory) -> DemoHistory:
    """Scan #1: the demo org as shipped. Then legacy-billing moves from Travis to GitHub
    Actions and web-admin drops its committed .env. Scan #2 sees that; scan #3 is unchanged."""
    root = tmp_path_factory.mktemp("demo-history")
    org = root / "org"
    repos = [make_git_repo(path, org / path.name) for path in sorted(DEMO_ORG.iterdir())]
    db = f"sqlite:///{root / 'history.db'}"
    policy = root / "driftscan.yaml"
    policy.write_text(POLICY)

    def scan() -> None:
        code, out = cli(
            "scan",
            *map(str, repos),
            "--db",
            db,
            "--quiet",
            "--format",
            "none",
            "--policy",
            str(policy),
        )
        assert code == 0, out

    scan()
    legacy, web = org / "legacy-billing", org / "web-admin"
    git(legacy, "rm", "-q", ".travis.yml")
    (legacy / ".github" / "workflows").mkdir(parents=True)
    (legacy / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    git(legacy, "add", "-A")
    git(legacy, "commit", "-qm", "move to GitHub Actions")
    git(web, "rm", "-q", ".env")
    git(web, "commit", "-qm", "no committed .env")
    scan()
    scan()
    return DemoHistory(db, root, policy)
