"""The shipped integrations (GitHub Action, GitLab template, pre-commit hook) are well formed
and only use options `driftscan check` really has."""

from __future__ import annotations

import re

import yaml
from click.testing import CliRunner

from driftscan.cli.main import main
from tests.conftest import ROOT

CHECK_HELP = CliRunner().invoke(main, ["check", "--help"]).output


def options_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))


def test_github_action_is_a_composite_action_using_real_options() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"version", "baseline", "policy", "base", "fail-on", "sarif"}
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert 'pip install --disable-pip-version-check "driftscan==' in scripts  # pinned install
    driftscan_options = options_in(
        " ".join(
            line
            for line in scripts.splitlines()
            if "driftscan check" in line or "args+=" in line or "args=" in line
        )
    )
    assert driftscan_options - {"--disable-pip-version-check"} <= options_in(CHECK_HELP)
    uploads = [s for s in action["runs"]["steps"] if "upload-sarif" in s.get("uses", "")]
    assert uploads and "inputs.sarif" in uploads[0]["if"]


def test_gitlab_template_writes_a_code_quality_report() -> None:
    template = yaml.safe_load((ROOT / "ci" / "driftscan.gitlab-ci.yml").read_text())
    job = template["driftscan"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    script = " ".join(job["script"])
    assert "--format gitlab --output gl-code-quality-report.json" in script
    assert options_in(script) <= options_in(CHECK_HELP)


def test_pre_commit_hook_checks_staged_files() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"].startswith("driftscan check --staged")
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    assert options_in(hook["entry"]) <= options_in(CHECK_HELP)
