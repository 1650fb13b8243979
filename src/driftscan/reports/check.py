"""The check's findings in the formats CI systems read: SARIF 2.1.0, GitHub workflow commands,
GitLab Code Quality, JUnit XML, a short Markdown PR comment, JSON and a terminal table."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from rich.console import Console
from rich.table import Table
from rich.text import Text

from driftscan import __version__
from driftscan.engine.check import CheckResult, LocatedFinding
from driftscan.pathnames import unescape_bytes

CHECK_SCHEMA = "driftscan/check/v1"
SARIF_LEVEL = {"info": "note", "low": "note", "medium": "warning", "high": "error"}
GITLAB_SEVERITY = {"info": "info", "low": "minor", "medium": "major", "high": "critical"}
GITHUB_COMMAND = {"info": "notice", "low": "notice", "medium": "warning", "high": "error"}
MARKDOWN_CAP = 10
NO_NORM_WHY = (
    "no policy (--policy or ./driftscan.yaml), no --baseline and no stored scan (--db), so "
    "nothing was checked against the org's golden path"
)
NO_NORM = f"no norm to compare with: {NO_NORM_WHY}"


def _where(item: LocatedFinding) -> tuple[str, int]:
    if item.evidence is None:
        return ".", 1
    return item.evidence.path, item.evidence.line or 1


def _uri(path: str) -> str:
    """SARIF locations are URIs: the file's real bytes percent-encoded (RFC 3986), so a name
    shown escaped (driftscan.pathnames) still points at its file."""
    try:
        raw = unescape_bytes(path)
    except ValueError:  # not an escaped name (an older baseline): its text as UTF-8
        raw = path.encode("utf-8", "surrogatepass")
    return quote(raw, safe="/")


def _rule_id(item: LocatedFinding) -> str:
    return f"{item.finding.dimension}/{item.finding.kind}"


def render_table(console: Console, result: CheckResult, threshold: str) -> None:
    failing = {id(f) for f in result.failing(threshold)}
    if not result.has_norm:
        console.print(Text(f"driftscan: {NO_NORM}", style="yellow"))
        return
    if not result.findings:
        console.print(Text("driftscan: nothing off the golden path", style="green"))
        return
    table = Table(
        title=f"driftscan: {len(result.new)} new, {len(result.existing)} existing",
        title_justify="left",
        show_edge=False,
    )
    for column in ("", "severity", "dimension", "value", "where", "message"):
        table.add_column(column, overflow="fold")
    for item in result.findings:
        f = item.finding
        mark = "new" if item.new else "existing"
        style = "red" if id(item) in failing else ("yellow" if item.new else "dim")
        path, line = _where(item)
        note = f" (waived: {f.waiver})" if f.waiver else ""
        # Text, not str: a file named "[bold]x" or a value from a file must print literally,
        # never as rich markup.
        table.add_row(
            Text(mark, style=style),
            Text(f.severity),
            Text(f.dimension),
            Text(f.value),
            Text(f"{path}:{line}"),
            Text(f.message + note),
        )
    console.print(table)


def as_dict(result: CheckResult, threshold: str, base: str | None) -> dict[str, Any]:
    def item(i: LocatedFinding) -> dict[str, Any]:
        path, line = _where(i)
        f = i.finding
        return {
            "rule": _rule_id(i),
            "dimension": f.dimension,
            "value": f.value,
            "kind": f.kind,
            "severity": f.severity,
            "message": f.message,
            "fingerprint": f.fingerprint,
            "waiver": f.waiver,
            "path": path,
            "line": line,
            "new": i.new,
        }

    return {
        "schema": CHECK_SCHEMA,
        "base": base,
        "norm": result.has_norm,
        "notes": [] if result.has_norm else [NO_NORM],
        "fail_on": threshold,
        "failing": len(result.failing(threshold)),
        "new": [item(i) for i in result.new],
        "existing": [item(i) for i in result.existing],
    }


def render_json(result: CheckResult, threshold: str, base: str | None) -> str:
    return json.dumps(as_dict(result, threshold, base), indent=2) + "\n"


def render_sarif(result: CheckResult, remediation: dict[str, str]) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for item in result.findings:
        f = item.finding
        rid = _rule_id(item)
        rules.setdefault(
            rid,
            {
                "id": rid,
                "name": rid.replace("/", "-").replace(".", "-"),
                "shortDescription": {"text": f"{f.dimension}: {f.kind}"},
                "fullDescription": {
                    "text": f"{f.kind} finding for {f.dimension} against the org policy or norm."
                },
                "help": {
                    "text": remediation.get(f.dimension, "")
                    or "See the organisation's driftscan policy."
                },
                "defaultConfiguration": {"level": SARIF_LEVEL[f.severity]},
                "properties": {"tags": ["driftscan", f.dimension.split(".")[0]]},
            },
        )
        path, line = _where(item)
        results.append(
            {
                "ruleId": rid,
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(path)},
                            "region": {"startLine": line},
                        }
                    }
                ],
                "partialFingerprints": {"driftscan/v1": f.fingerprint},
                "baselineState": "new" if item.new else "unchanged",
                **(
                    {"suppressions": [{"kind": "external", "justification": f.waiver}]}
                    if f.waiver
                    else {}
                ),
            }
        )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "driftscan",
                        "version": __version__,
                        "informationUri": "https://example.invalid/driftscan",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
                **({} if result.has_norm else {"invocations": [_no_norm_invocation()]}),
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"


def _no_norm_invocation() -> dict[str, Any]:
    # SARIF 2.1.0 §3.20.21: a tool's notes about its own run, shown beside the results.
    return {
        "executionSuccessful": True,
        "toolExecutionNotifications": [
            {"level": "warning", "descriptor": {"id": "no-norm"}, "message": {"text": NO_NORM}}
        ],
    }


def render_github(result: CheckResult) -> str:
    """Workflow commands: one annotation per new finding (existing ones stay quiet)."""
    lines = [] if result.has_norm else [f"::warning title=driftscan::{_escape(NO_NORM)}"]
    for item in result.new:
        f = item.finding
        path, line = _where(item)
        title = f"driftscan {f.dimension}"
        message = f.message + (f" (waived: {f.waiver})" if f.waiver else "")
        lines.append(
            f"::{GITHUB_COMMAND[f.severity]} file={_escape_property(path)},line={line},"
            f"title={_escape_property(title)}::{_escape(message)}"
        )
    return "\n".join(lines) + ("\n" if lines else "")


def _escape(text: str) -> str:
    # The runner's own escaping rules (actions/toolkit command.ts: escapeData).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # escapeProperty: a comma or colon in a path would otherwise end the property.
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str) -> str:
    """Markdown table cell: a pipe or a newline in a message must not break the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A Markdown code span around any text: a backtick in a file name must not end it
    (CommonMark: a fence longer than any backtick run inside, padded when text touches it)."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_gitlab(result: CheckResult) -> str:
    """GitLab Code Quality report of every failing finding: GitLab itself compares it with the
    target branch's report to show what the merge request introduces."""
    items = []
    for item in result.findings:
        f = item.finding
        path, line = _where(item)
        items.append(
            {
                "description": f.message,
                "check_name": _rule_id(item),
                "fingerprint": f.fingerprint,
                "severity": GITLAB_SEVERITY[f.severity],
                "location": {"path": path, "lines": {"begin": line}},
            }
        )
    return json.dumps(items, indent=2) + "\n"


def render_junit(result: CheckResult, threshold: str) -> str:
    failing = {id(f) for f in result.failing(threshold)}
    suite = ElementTree.Element(
        "testsuite",
        name="driftscan",
        tests=str(len(result.findings)),
        failures=str(len(failing)),
        errors="0",
    )
    for item in result.findings:
        f = item.finding
        path, line = _where(item)
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f.dimension,
            name=f"{_rule_id(item)} {f.value} ({path}:{line})",
        )
        if id(item) in failing:
            failure = ElementTree.SubElement(case, "failure", message=f.message, type=f.severity)
            failure.text = f.message
        else:
            ElementTree.SubElement(
                case,
                "skipped",
                message="existing or waived" if not item.new or f.waiver else "below threshold",
            )
    if not result.has_norm:
        case = ElementTree.SubElement(suite, "testcase", classname="driftscan", name="norm")
        ElementTree.SubElement(case, "skipped", message=NO_NORM)
        suite.set("tests", str(len(result.findings) + 1))
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return ElementTree.tostring(root, encoding="unicode") + "\n"


def render_markdown(result: CheckResult, threshold: str, cap: int = MARKDOWN_CAP) -> str:
    """A short PR comment: new findings first, capped, with a count of the rest."""
    failing = result.failing(threshold)
    if not result.has_norm:
        return f"### driftscan: no norm to compare with\n\nThere is {NO_NORM_WHY}.\n"
    head = "### driftscan: " + (
        f"{len(failing)} new finding(s) at or above {threshold}" if failing else "no new finding"
    )
    lines = [head, ""]
    shown: Sequence[LocatedFinding] = result.new[:cap]
    if shown:
        lines += ["| severity | dimension | value | where | message |", "|---|---|---|---|---|"]
        for item in shown:
            f = item.finding
            path, line = _where(item)
            waived = f" _(waived: {f.waiver})_" if f.waiver else ""
            where = _code(_cell(f"{path}:{line}"))
            lines.append(
                f"| {f.severity} | `{f.dimension}` | `{f.value or '—'}` | {where} "
                f"| {_cell(f.message + waived)} |"
            )
    rest = len(result.new) - len(shown)
    if rest > 0:
        lines += ["", f"…and {rest} more new finding(s)."]
    if result.existing:
        lines += [
            "",
            f"{len(result.existing)} finding(s) already on the base branch "
            "(not failing this check).",
        ]
    return "\n".join(lines) + "\n"
