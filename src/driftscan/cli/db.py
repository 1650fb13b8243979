"""`driftscan db`: schema upgrades and status."""

from __future__ import annotations

import click

from driftscan.cli.common import db_option, handle_errors, open_store
from driftscan.store.queries import safe_url


@click.group("db")
def db_group() -> None:
    """Manage the driftscan database."""


@db_group.command("upgrade")
@db_option
@handle_errors
def upgrade(db_url: str | None) -> None:
    """Create the schema or migrate it to this version (history is kept)."""
    store = open_store(db_url, create=False)
    before, after = store.upgrade()
    if before == after:
        click.echo(f"{safe_url(store.url)}: schema already at revision {after}")
    else:
        click.echo(f"{safe_url(store.url)}: schema {before or '(empty)'} -> {after}")


@db_group.command("status")
@db_option
@handle_errors
def status(db_url: str | None) -> None:
    """Show the database URL (password hidden), schema revision and stored scans."""
    store = open_store(db_url, create=False)
    current, head = store.current_revision(), store.head_revision()
    click.echo(f"database: {safe_url(store.url)}")
    state = "up to date" if current == head else "needs `driftscan db upgrade`"
    click.echo(f"schema:   {current or '(empty)'} (newest {head}; {state})")
    if current == head:
        scans = store.scans(limit=5)
        click.echo(f"scans:    {len(scans)} most recent shown")
        for scan in scans:
            click.echo(f"  #{scan.id} {scan.started_at} {scan.status}")
