"""The GitHub / GitLab options of `driftscan scan`, gathered into one ForgeRequest."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from platformdirs import user_cache_path

from driftscan.collectors.forge import ForgeClient, RepoFilter
from driftscan.models import ReadError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ForgeRequest:
    github_org: str | None
    github_repos: tuple[str, ...]
    github_url: str | None
    app_id: str | None
    app_key: Path | None
    app_installation: int | None
    gitlab_group: str | None
    gitlab_url: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    topics: tuple[str, ...]
    include_archived: bool
    include_forks: bool
    max_wait: float
    concurrency: int
    resume: bool
    clone: bool = False
    clone_dir: Path | None = None

    def clone_folder(self) -> Path | None:
        """Where `--clone` keeps its clones: --clone-dir, else the user cache folder."""
        if not self.clone:
            return None
        return self.clone_dir or user_cache_path("driftscan", appauthor=False) / "clones"

    @property
    def wanted(self) -> bool:
        return bool(self.github_org or self.github_repos or self.gitlab_group)

    def filter(self) -> RepoFilter:
        return RepoFilter(
            self.include, self.exclude, self.topics, self.include_archived, self.include_forks
        )

    def label(self, target: str) -> str:
        """The scan's recorded source: what was asked, so `--resume` finds the same scan."""
        parts = [target]
        for name, values in (
            ("include", self.include),
            ("exclude", self.exclude),
            ("topic", self.topics),
        ):
            if values:
                parts.append(f"{name}={','.join(values)}")
        if self.include_archived:
            parts.append("+archived")
        if self.include_forks:
            parts.append("+forks")
        return " ".join(parts)

    def build(self) -> tuple[ForgeClient, str, RepoFilter]:
        # PyGithub and python-gitlab load only for forge scans.
        from driftscan.collectors.github import AppCredentials, GitHubClient
        from driftscan.collectors.gitlab import GitLabClient

        if (self.github_org or self.github_repos) and self.gitlab_group:
            raise ReadError("scan one forge per run: GitHub or GitLab")
        if self.gitlab_group:
            url = self.gitlab_url or os.environ.get("CI_SERVER_URL") or "https://gitlab.com"
            gitlab = GitLabClient(group=self.gitlab_group, url=url, max_wait=self.max_wait)
            gitlab.check_access()  # a bad token or an unreachable host: one line, no scan begun
            client: ForgeClient = gitlab
            return (
                client,
                self.label(f"gitlab:{url.rstrip('/')}/{self.gitlab_group}"),
                self.filter(),
            )
        app = None
        app_id = self.app_id or os.environ.get("DRIFTSCAN_GITHUB_APP_ID")
        key = self.app_key or _env_path("DRIFTSCAN_GITHUB_APP_KEY_FILE")
        if app_id or key:
            if not (app_id and key):
                raise ReadError("a GitHub App needs both --github-app-id and --github-app-key FILE")
            installation = self.app_installation or _env_int("DRIFTSCAN_GITHUB_APP_INSTALLATION_ID")
            app = AppCredentials(app_id, key, installation)
        github = GitHubClient(
            org=self.github_org,
            repos=self.github_repos,
            app=app,
            base_url=self.github_url,
            max_wait=self.max_wait,
        )
        github.check_access()  # a bad token or an unreachable host: one line, no scan begun
        client = github
        target = (
            f"github:{self.github_org}"
            if self.github_org
            else "github:" + ",".join(sorted(self.github_repos))
        )
        return client, self.label(target), self.filter()


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else None


_OPTIONS: list[Callable[[F], F]] = [
    click.option(
        "--github-org", metavar="ORG", help="Scan every repository of a GitHub organisation."
    ),
    click.option(
        "--github-repo",
        "github_repos",
        multiple=True,
        metavar="OWNER/NAME",
        help="Scan one GitHub repository (repeatable).",
    ),
    click.option(
        "--github-url",
        metavar="URL",
        help="GitHub Enterprise API URL, e.g. https://ghe.acme.io/api/v3 ($GITHUB_API_URL).",
    ),
    click.option(
        "--github-app-id",
        metavar="ID",
        help="Authenticate as this GitHub App (else $GITHUB_TOKEN/$GH_TOKEN).",
    ),
    click.option(
        "--github-app-key",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The GitHub App's private key file (PEM).",
    ),
    click.option(
        "--github-app-installation",
        type=int,
        help="The App's installation id (found from --github-org if omitted).",
    ),
    click.option(
        "--gitlab-group",
        metavar="PATH",
        help="Scan a GitLab group and all its subgroups ($GITLAB_TOKEN or $CI_JOB_TOKEN).",
    ),
    click.option(
        "--gitlab-url",
        metavar="URL",
        help="Self-hosted GitLab URL (default $CI_SERVER_URL, else gitlab.com).",
    ),
    click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Only repositories whose name matches (glob or /regex/; repeatable).",
    ),
    click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Skip repositories whose name matches (glob or /regex/; repeatable).",
    ),
    click.option(
        "--topic",
        "topics",
        multiple=True,
        metavar="TOPIC",
        help="Only repositories with any of these topics.",
    ),
    click.option(
        "--include-archived",
        is_flag=True,
        help="Also scan archived repositories (skipped by default).",
    ),
    click.option("--include-forks", is_flag=True, help="Also scan forks (skipped by default)."),
    click.option(
        "--max-wait",
        type=float,
        default=900.0,
        show_default=True,
        help="Longest rate-limit wait in seconds; beyond it the scan parks (see --resume).",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(1, 16),
        default=4,
        show_default=True,
        help="Parallel API requests.",
    ),
    click.option(
        "--resume",
        is_flag=True,
        help="Finish the last scan of the same sources that stopped early (parked on a rate "
        "limit, interrupted, or killed): failed and partly read repositories are read again.",
    ),
    click.option(
        "--clone",
        is_flag=True,
        help="Read repositories from shallow, blob-less clones (cached and reused across scans) "
        "instead of the file API.",
    ),
    click.option(
        "--clone-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where --clone keeps its clones (default: the user cache folder).",
    ),
]
_NAMES = [
    "github_org",
    "github_repos",
    "github_url",
    "github_app_id",
    "github_app_key",
    "github_app_installation",
    "gitlab_group",
    "gitlab_url",
    "include",
    "exclude",
    "topics",
    "include_archived",
    "include_forks",
    "max_wait",
    "concurrency",
    "resume",
    "clone",
    "clone_dir",
]


def forge_options(func: F) -> F:
    """Add the forge options and hand the command one `forge: ForgeRequest` argument."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES}
        kwargs["forge"] = ForgeRequest(
            github_org=values["github_org"],
            github_repos=tuple(values["github_repos"]),
            github_url=values["github_url"],
            app_id=values["github_app_id"],
            app_key=values["github_app_key"],
            app_installation=values["github_app_installation"],
            gitlab_group=values["gitlab_group"],
            gitlab_url=values["gitlab_url"],
            include=tuple(values["include"]),
            exclude=tuple(values["exclude"]),
            topics=tuple(values["topics"]),
            include_archived=values["include_archived"],
            include_forks=values["include_forks"],
            max_wait=values["max_wait"],
            concurrency=values["concurrency"],
            resume=values["resume"],
            clone=values["clone"],
            clone_dir=values["clone_dir"],
        )
        return func(*args, **kwargs)

    decorated: Callable[..., Any] = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[return-value]
