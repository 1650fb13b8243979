"""`driftscan db`: schema upgrades and status."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

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
    if store.newer_revision(current):
        state = "written by a newer driftscan: upgrade driftscan"
    elif current == head:
        state = "up to date"
    else:
        state = "needs `driftscan db upgrade`"
    click.echo(f"schema:   {current or '(empty)'} (newest {head}; {state})")
    if current == head:
        scans = store.scans(limit=5)
        click.echo(f"scans:    {len(scans)} most recent shown")
        for scan in scans:
            # A scan whose process died shows `interrupted` (and how to finish it), never
            # `running` forever.
            note = f" - {scan.note}" if scan.note and scan.status != "complete" else ""
            click.echo(f"  #{scan.id} {scan.started_at} {scan.status}{note}")


_KEEP = re.compile(r"^\s*(\d+)\s*(d|days?)?\s*$", re.I)


def _parse_keep(text: str) -> tuple[int | None, datetime | None]:
    match = _KEEP.match(text)
    if match is None or int(match.group(1)) < 1:
        raise click.BadParameter(
            f"{text!r}: give a number of scans (e.g. 52) or of days (e.g. 365d)",
            param_hint="--keep",
        )
    count = int(match.group(1))
    if match.group(2):
        return None, datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=count)
    return count, None


@db_group.command("prune")
@click.option(
    "--keep",
    required=True,
    metavar="N|Nd",
    help="Keep the newest N scans, or the scans of the last N days (e.g. 52 or 365d).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@db_option
@handle_errors
def prune(keep: str, dry_run: bool, db_url: str | None) -> None:
    """Delete old scans and whatever only they used (facts, findings, infra texts).

    The newest complete scan is always kept. Run `driftscan db vacuum` afterwards to give the
    space back to the file system.
    """
    keep_scans, keep_since = _parse_keep(keep)
    store = open_store(db_url)
    result = store.prune(keep_scans, keep_since, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {result.scans_deleted} scan(s), kept {result.scans_kept}; "
        f"unreferenced: {result.factsets} fact set(s), {result.states} repository state(s), "
        f"{result.finding_sets} finding set(s), "
        f"{result.infra_texts} infra text(s), {result.repos} repositor(ies)"
    )


@db_group.command("vacuum")
@db_option
@handle_errors
def vacuum(db_url: str | None) -> None:
    """Compact the database file (SQLite VACUUM; PostgreSQL VACUUM ANALYZE)."""
    store = open_store(db_url, create=False)
    before, after = store.vacuum()
    if before is not None and after is not None:
        click.echo(f"{safe_url(store.url)}: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    else:
        click.echo(f"{safe_url(store.url)}: vacuumed")
