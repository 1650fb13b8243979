"""No secret value at rest: a repository full of credentials, each a unique marker, is scanned
through the command line into SQLite and PostgreSQL; then every column of every table
(compressed blobs decompressed, JSON decoded), the SQLite file's bytes (every zlib stream in
them inflated) and every report format are searched for every marker and its base64 form.
Migration 0009 is held to the same standard for texts stored before redaction existed."""

from __future__ import annotations

import base64
import json
import random
import re
import string
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select, text

from driftscan.store.queries import Store
from tests.conftest import cli, git, make_git_repo
from tests.store.conftest import _pg_database

_RNG = random.SystemRandom()


def _random(alphabet: str, length: int) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(length))


ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


@dataclass(frozen=True)
class Secrets:
    """One repository's credentials: valid-looking for their kind, unique to this run."""

    github: str
    aws_key_id: str
    aws_secret: str
    slack: str
    registry: str
    url_password: str
    curl_password: str
    compose: str
    docker_env: str
    docker_arg: str
    k8s_data: str
    k8s_string: str
    dotenv: str
    dotenv_url: str
    terraform: str
    pem_file: tuple[str, ...]  # key body lines of deploy_key.pem
    pem_heredoc: tuple[str, ...]  # key body lines inside deploy.sh

    @classmethod
    def new(cls) -> Secrets:
        def password() -> str:
            return "Pw" + _random(ALNUM, 18)

        def key_body() -> tuple[str, ...]:
            return tuple("MIIE" + _random(B64, 60) for _ in range(6))

        return cls(
            github="ghp_" + _random(ALNUM, 36),
            aws_key_id="AKIA" + _random(string.ascii_uppercase + string.digits, 16),
            aws_secret=_random(ALNUM, 30) + "/" + _random(ALNUM, 9),
            slack=f"xoxb-{_random(string.digits, 11)}-{_random(string.digits, 12)}-"
            + _random(string.ascii_lowercase + string.digits, 24),
            registry=password(),
            url_password=password(),
            curl_password=password(),
            compose=password(),
            docker_env=password(),
            docker_arg="npm_" + _random(ALNUM, 36),
            k8s_data=password(),
            k8s_string=password(),
            dotenv=_random(string.hexdigits.lower()[:16], 64),
            dotenv_url=password(),
            terraform=password(),
            pem_file=key_body(),
            pem_heredoc=key_body(),
        )

    def markers(self) -> list[str]:
        values = [v for v in vars(self).values() if isinstance(v, str)]
        return values + list(self.pem_file) + list(self.pem_heredoc)


def _pem(lines: tuple[str, ...]) -> str:
    return (
        "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----\n"
    )


def write_secrets(repo: Path, s: Secrets, extra_step: str) -> None:
    """The places credentials get committed: CI, Dockerfile, compose, key files, deploy
    scripts, Kubernetes Secrets, .env and Terraform."""
    files = {
        ".github/workflows/release.yml": (
            "name: release\non: push\njobs:\n  publish:\n    runs-on: ubuntu-latest\n"
            f"    env:\n      GH_TOKEN: {s.github}\n      SLACK_TOKEN: {s.slack}\n"
            "      DOCKER_PASSWORD: ${{ secrets.DOCKER_PASSWORD }}\n"
            "    steps:\n      - uses: actions/checkout@v4\n"
            f"      - run: docker login -u ci -p {s.registry} registry.example.com\n"
            f"      - run: git push https://ci:{s.url_password}@git.example.com/app.git\n"
            f"      - run: {extra_step}\n      - run: make publish\n"
        ),
        "Dockerfile": (
            "FROM python:3.12-slim\n"
            f"ARG NPM_TOKEN={s.docker_arg}\nENV DB_PASSWORD={s.docker_env}\n"
            "WORKDIR /app\nCOPY . /app\nRUN pip install -r requirements.txt\n"
            'CMD ["python", "-m", "app"]\n'
        ),
        "docker-compose.yml": (
            "services:\n  db:\n    image: postgres:16\n    environment:\n"
            f"      POSTGRES_PASSWORD: {s.compose}\n  app:\n    build: .\n    environment:\n"
            f"      AWS_ACCESS_KEY_ID: {s.aws_key_id}\n"
            f'      AWS_SECRET_ACCESS_KEY: "{s.aws_secret}"\n'
        ),
        "deploy_key.pem": _pem(s.pem_file),
        "deploy.sh": (
            "#!/bin/sh\nset -eu\nmkdir -p ~/.ssh\ncat > ~/.ssh/id_rsa <<'EOF'\n"
            + _pem(s.pem_heredoc)
            + "EOF\n"
            f"curl -fsS -u deploy:{s.curl_password} https://deploy.example.com/hooks/app\n"
            "kubectl apply -f chart/\n"
        ),
        "chart/templates/secret.yaml": (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ntype: Opaque\ndata:\n"
            f"  db-url: {base64.b64encode(s.k8s_data.encode()).decode()}\n"
            f"stringData:\n  api-key: {s.k8s_string}\n"
        ),
        "chart/templates/deployment.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n"
            "  template:\n    spec:\n      containers:\n        - name: app\n"
            "          image: registry.example.com/app:1.0\n"
        ),
        "chart/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        ".env": (
            f"DATABASE_URL=postgres://app:{s.dotenv_url}@db:5432/app\nSECRET_KEY_BASE={s.dotenv}\n"
        ),
        "infra/main.tf": (
            'terraform {\n  required_version = ">= 1.5"\n}\n'
            f'variable "db_password" {{\n  type    = string\n  default = "{s.terraform}"\n}}\n'
            'resource "aws_db_instance" "db" {\n  password = var.db_password\n}\n'
        ),
    }
    for path, body in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)


@dataclass(frozen=True)
class Org:
    root: Path
    payments: Path  # its last commit adds the secrets: `check` sees them as new
    base: str
    markers: tuple[str, ...]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Org:
    root = tmp_path_factory.mktemp("secrets-org") / "org"
    root.mkdir()
    payments, billing = Secrets.new(), Secrets.new()
    repo = make_git_repo(None, root / "payments")
    (repo / "README.md").write_text("payments\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    write_secrets(repo, payments, "make test")
    git(repo, "add", "-A", "-f")
    git(repo, "commit", "-q", "-m", "secrets")
    other = make_git_repo(None, root / "billing")
    write_secrets(other, billing, "make lint")  # a near copy: clusters with two variants
    git(other, "add", "-A", "-f")
    git(other, "commit", "-q", "-m", "secrets")
    markers = tuple(payments.markers() + billing.markers())
    assert len(set(markers)) == len(markers)
    return Org(root, repo, base, markers)


def _forms(marker: str) -> list[bytes]:
    """The marker, and its base64 as it would read at any of the three alignments."""
    raw = marker.encode()
    out = [raw]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0 :]
        out.append(encoded[:-4] if len(encoded) > 8 else encoded)  # drop the padded tail
    return out


def assert_clean(where: str, data: bytes | str, markers: tuple[str, ...]) -> None:
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    for marker in markers:
        for form in _forms(marker):
            assert form not in blob, f"{where} holds a credential marker"


def _cell(value: object) -> Iterator[bytes]:
    """A cell as searchable bytes: blobs raw and, when compressed, inflated; text raw and,
    when JSON, decoded again."""
    if value is None:
        return
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        yield value
        yield _inflated(value)
        return
    if isinstance(value, (dict, list)):
        yield json.dumps(value).encode()
        return
    rendered = str(value)
    yield rendered.encode("utf-8", "surrogateescape")
    try:
        decoded = json.loads(rendered)
    except ValueError:
        return
    yield json.dumps(decoded, ensure_ascii=False).encode()


def _inflated(value: bytes) -> bytes:
    try:
        return zlib.decompress(value)
    except zlib.error:
        return b""


def assert_database_clean(url: str, markers: tuple[str, ...]) -> dict[str, int]:
    """Every column of every table; returns the row count per table."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    counts = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            rows = conn.execute(select(table)).all()
            counts[table.name] = len(rows)
            for row in rows:
                for column, value in zip(table.columns, row, strict=True):
                    for form in _cell(value):
                        assert_clean(f"{table.name}.{column.name}", form, markers)
    engine.dispose()
    return counts


def _zlib_streams(data: bytes) -> Iterator[bytes]:
    """Whatever inflates from each zlib header found anywhere in `data` (free pages too)."""
    for match in re.finditer(rb"\x78[\x01\x5e\x9c\xda]", data):
        inflater = zlib.decompressobj()
        try:
            yield inflater.decompress(data[match.start() : match.start() + (1 << 20)])
        except zlib.error:
            continue


def assert_sqlite_file_clean(path: Path, markers: tuple[str, ...]) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    for file in [path, *path.parent.glob(path.name + "-*")]:
        data = file.read_bytes()
        assert_clean(file.name, data, markers)
        for inflated in _zlib_streams(data):
            assert_clean(f"{file.name} (compressed)", inflated, markers)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftscan.db'}"
    else:
        yield from _pg_database()


def _run(*args: str) -> str:
    code, out = cli(*args)
    assert code in (0, 1), out  # 1: `check` found what the change introduced
    return out


def test_no_marker_survives_a_scan_in_any_column_file_or_report(
    org: Org, db_url: str, tmp_path: Path
) -> None:
    outputs = {"scan": _run("scan", str(org.root), "--db", db_url)}
    for fmt in ("table", "json", "markdown"):
        outputs[f"report {fmt}"] = _run("report", "--format", fmt, "--db", db_url)
    html = tmp_path / "report.html"
    _run("report", "--format", "html", "-o", str(html), "--db", db_url)
    outputs["report html"] = html.read_text()
    for fmt in ("table", "json", "markdown", "csv"):
        outputs[f"effort {fmt}"] = _run("report", "effort", "--format", fmt, "--db", db_url)
    for fmt in ("sarif", "json", "markdown", "github", "table"):
        outputs[f"check {fmt}"] = _run(
            "check", str(org.payments), "--base", org.base, "--format", fmt, "--db", db_url
        )
    outputs["trend"] = _run("trend", "--format", "json", "--db", db_url)
    for name, out in outputs.items():
        assert_clean(name, out, org.markers)

    # Not vacuous: the detectors fired on the markers, the infra texts were stored (redacted)
    # and the reports carry the clusters and the new credentials.
    assert "plaintext-credential" in outputs["report json"]
    for kind in ("GitHub Token", "AWS Access Key", "Slack Token", "Private Key", "env file"):
        assert kind in outputs["check sarif"] or kind in outputs["report json"], kind
    assert '"differing_lines"' in outputs["effort json"] and "make lint" in outputs["effort json"]
    counts = assert_database_clean(db_url, org.markers)
    assert counts["infra_content"] >= 7 and counts["evidence"] > 0  # 8 kinds, 2 workflows
    store = Store(db_url)
    texts = store.infra_texts(
        [h for (h,) in store.engine.connect().execute(text("SELECT hash FROM infra_content"))]
    )
    store.engine.dispose()
    assert len(texts) == counts["infra_content"]
    assert sum("«redacted»" in t for t in texts.values()) >= 6
    if db_url.startswith("sqlite"):
        assert_sqlite_file_clean(Path(db_url.removeprefix("sqlite:///")), org.markers)


def test_migration_0009_purges_texts_stored_before_redaction(db_url: str) -> None:
    secrets = Secrets.new()
    markers = (secrets.github, secrets.registry, *secrets.pem_file)
    old_text = (
        f"env:\n  GH_TOKEN: {secrets.github}\nrun: docker login -p {secrets.registry}\n"
        + _pem(secrets.pem_file)
    )
    blob = zlib.compress(old_text.encode())
    old = Store(db_url)
    old.upgrade("0008")
    with old.engine.begin() as conn:
        for n in range(40):  # enough rows to span several pages
            conn.execute(
                text(
                    "INSERT INTO infra_content (hash, kind, lines, text_z, minhash)"
                    " VALUES (:h, 'github-workflow', 9, :t, :m)"
                ),
                {
                    "h": f"{n:064x}",
                    "t": zlib.compress(f"{n}\n{old_text}".encode()),
                    "m": b"\0" * 256,
                },
            )
        conn.execute(
            text(
                "INSERT INTO infra_content (hash, kind, lines, text_z, minhash)"
                " VALUES ('f' || :h, 'github-workflow', 9, :t, :m)"
            ),
            {"h": "0" * 63, "t": blob, "m": b"\0" * 256},
        )
    old.engine.dispose()
    if db_url.startswith("sqlite"):  # the premise: before the upgrade the file holds them
        data = Path(db_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
        data += wal.read_bytes() if wal.exists() else b""
        assert blob in data
    store = Store(db_url)
    assert store.upgrade()[1] == store.head_revision()
    store.engine.dispose()
    counts = assert_database_clean(db_url, markers)
    assert counts["infra_content"] == 41
    with create_engine(db_url).connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM infra_content WHERE text_z IS NOT NULL")
            ).scalar()
            == 0
        )
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        assert_sqlite_file_clean(path, markers)
        assert blob[:48] not in path.read_bytes()


def test_a_purged_text_comes_back_redacted_when_its_content_is_seen_again(
    org: Org, db_url: str
) -> None:
    _run("scan", str(org.root), "--db", db_url)
    with create_engine(db_url).begin() as conn:
        stored = conn.execute(text("SELECT count(*) FROM infra_content")).scalar()
        conn.execute(text("UPDATE infra_content SET text_z = NULL"))  # as 0009 leaves them
    store = Store(db_url)
    hashes = [h for (h,) in store.engine.connect().execute(text("SELECT hash FROM infra_content"))]
    assert store.infra_texts(hashes) == {}
    # Without the texts, variants are shown without differing lines (not as "every line
    # differs" against an empty text), and the report says why.
    effort = json.loads(_run("report", "effort", "--format", "json", "--db", db_url))
    variants = [v for c in effort["clusters"] for v in c["variants"][1:]]
    assert variants and all(v["differing_lines"] is None and not v["sample"] for v in variants)
    assert len(effort["notes"]) == 1 and "scanned again" in effort["notes"][0]
    table = _run("report", "effort", "--db", db_url)
    assert "without differing lines" in " ".join(table.split())
    _run("scan", str(org.root), "--db", db_url, "--no-reuse")
    texts = store.infra_texts(hashes)
    store.engine.dispose()
    assert len(texts) == stored
    assert any("«redacted»" in t for t in texts.values())
    assert_database_clean(db_url, org.markers)
