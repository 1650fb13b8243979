"""`driftscan rules`: list, explain and test detection rules."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from driftscan.cli.common import (
    EXIT_FAILED,
    fail,
    get_ruleset,
    handle_errors,
    rules_option,
    stdout_console,
)
from driftscan.engine.detect import CompiledRuleset
from driftscan.reports.rules_doc import describe, render
from driftscan.ruletest import FixtureError, coverage_problems, load_cases, run_case


@click.group("rules")
def rules_group() -> None:
    """Inspect and test detection rules."""


@rules_group.command("list")
@rules_option
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table")
@handle_errors
def list_rules(rules_dirs: tuple[Path, ...], fmt: str) -> None:
    """List every loaded rule (shipped and --rules folders)."""
    ruleset = get_ruleset(rules_dirs)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "category": r.category,
                        "dimension": r.dimension,
                        "title": r.title,
                        "lifecycle": r.lifecycle,
                        "aliases": list(r.aliases),
                        "values": list(r.values),
                        "source": r.source,
                    }
                    for r in ruleset.rules
                ],
                indent=2,
            )
        )
        return
    table = Table(
        title=f"{len(ruleset.rules)} rules · ruleset {ruleset.digest[:8]}", title_justify="left"
    )
    for column in ("id", "dimension", "lifecycle", "values"):
        table.add_column(column, overflow="fold")
    for rule in ruleset.rules:
        table.add_row(rule.id, rule.dimension, rule.lifecycle, ", ".join(rule.values))
    stdout_console().print(table)


@rules_group.command("explain")
@click.argument("rule_id")
@rules_option
@handle_errors
def explain(rule_id: str, rules_dirs: tuple[Path, ...]) -> None:
    """Show what a rule detects and which signals prove each value."""
    rule = get_ruleset(rules_dirs).by_id(rule_id)
    if rule is None:
        fail(f"no rule with id or alias {rule_id!r} (see `driftscan rules list`)")
        return
    console = stdout_console()
    console.print(f"[bold]{rule.id}[/bold] — {rule.title}", highlight=False)
    console.print(
        f"dimension {rule.dimension} · category {rule.category} · {rule.lifecycle} · {rule.source}",
        highlight=False,
    )
    if rule.description:
        console.print(rule.description.strip(), highlight=False)
    for value, condition in rule.detect:
        console.print(f"\n[bold cyan]{value}[/bold cyan]")
        for line in describe(condition, 1):
            console.print(line, highlight=False, markup=False)


@rules_group.command("doc")
@rules_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@handle_errors
def doc(rules_dirs: tuple[Path, ...], output: Path | None) -> None:
    """Write the rules reference (Markdown) generated from the rule files."""
    text = render(get_ruleset(rules_dirs))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@rules_group.command("test")
@click.argument("fixtures", type=click.Path(exists=True, file_okay=False, path_type=Path))
@rules_option
@handle_errors
def test_rules(fixtures: Path, rules_dirs: tuple[Path, ...]) -> None:
    """Run fixture cases (FIXTURES/<rule-id>/<case>/ + expected.yaml) against the rules.

    Exit 0 when every case passes and every value of the tested rules has a positive and a
    near-miss case; 1 otherwise.
    """
    ruleset = get_ruleset(rules_dirs)
    compiled = CompiledRuleset.compile(ruleset)
    console = stdout_console()
    try:
        cases = load_cases(fixtures)
        results = [run_case(compiled, case) for case in cases]
    except FixtureError as exc:
        fail(str(exc))
        return
    failed = [r for r in results if not r.ok]
    for result in failed:
        console.print(result.explain(), highlight=False, markup=False)
    tested = {c.rule_id for c in cases}
    subset = type(ruleset)(tuple(r for r in ruleset.rules if r.id in tested), ruleset.digest)
    gaps = coverage_problems(subset, cases, fixtures)
    for gap in gaps:
        console.print(f"coverage: {gap}", highlight=False, markup=False)
    console.print(
        f"{len(results) - len(failed)} passed, {len(failed)} failed ({len(tested)} rules)"
    )
    if failed or gaps:
        raise SystemExit(EXIT_FAILED)
