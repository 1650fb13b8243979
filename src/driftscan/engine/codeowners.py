"""Owners from CODEOWNERS files (GitHub, GitLab and Bitbucket share the format)."""

from __future__ import annotations

import re

# Where the forges look, in their order of precedence.
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")

_OWNER = re.compile(r"^(?:@[\w.-]+(?:/[\w.-]+)?|[^@\s]+@[^@\s]+\.[a-z]{2,})$", re.I)


def parse_owners(text: str) -> tuple[str, ...]:
    """Every distinct owner (`@org/team`, `@user`, `name@example.com`) in file order.
    Comments, blank lines and GitLab section headers (`[Section]`, `^[Optional]`) are skipped."""
    owners: dict[str, None] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(("[", "^[")):
            continue
        for token in line.split()[1:]:
            if _OWNER.match(token):
                owners.setdefault(token.lower() if token.startswith("@") else token, None)
    return tuple(owners)
