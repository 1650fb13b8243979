"""Every store test runs on SQLite and on the real PostgreSQL, each in its own database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from driftscan.models import Evidence, Fact, Problem, RepoMeta, RepoResult, RepoStatus
from driftscan.store.queries import Store

PG_ADMIN_URL = os.environ.get(
    "DRIFTSCAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_database() -> Iterator[str]:
    """Create a throwaway database; skip (or fail, when PostgreSQL is required) without one."""
    name = f"driftscan_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, no driver: skip unless CI says it must run
        if os.environ.get("DRIFTSCAN_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL is required but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftscan.db'}"
    else:
        yield from _pg_database()


def result(
    name: str, head: str | None, *values: str, status: RepoStatus = RepoStatus.OK
) -> RepoResult:
    facts = tuple(
        Fact("ci", "ci.system", v, (Evidence(".github/workflows/ci.yml", 3, "yaml keys=jobs"),))
        for v in values
    )
    return RepoResult(
        name,
        f"/org/{name}",
        RepoMeta(default_branch="main", head=head),
        status,
        facts=facts,
        problems=(Problem("big.yml", "skipped: 2000000 bytes exceeds the 1048576-byte cap"),),
        error="boom" if status is RepoStatus.ERROR else None,
    )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.ensure_schema()
    yield s
    s.engine.dispose()
