"""What Kho keeps under KHO_HOME is its owner's alone, and the local PostgreSQL asks every role for its
password: against the running services, after a real landing of personal data through the ``kho`` command.

- no file or folder under KHO_HOME (secrets, deliveries, logs, Airflow's home, Data Docs) can be read or
  written by the group or others; PostgreSQL's data folder is not readable by them either;
- ``services.env`` names the files that hold secrets, never a secret;
- a data folder an earlier version initialised with ``trust`` asks for passwords once started again.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import psycopg
import pytest

from kho.operations import services
from kho.settings import REPO, Settings, read_env_file

KHO = REPO / ".kho" / "venvs" / "main" / "bin" / "kho"
PERSONAL_SAMPLE = REPO / "samples" / "organic_zones" / "vung_huu_co_quy_2_2025.csv"  # names and phones


def _others_may(path: Path) -> str | None:
    """What group or others may do with ``path`` that they must not ('r', 'w'), else None."""
    mode = stat.S_IMODE(path.lstat().st_mode)
    found = ("r" if mode & 0o044 else "") + ("w" if mode & 0o022 else "")
    return found or None


@pytest.fixture(scope="module")
def landed(stack) -> Settings:
    """A delivery with personal data landed by the ``kho`` command, started as a user's shell would
    (umask 022): the command itself must keep what it writes private."""
    s, _ = stack
    result = subprocess.run(
        [str(KHO), "land", "organic_zones", str(PERSONAL_SAMPLE)],
        capture_output=True,
        text=True,
        env=os.environ,
        umask=0o022,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return s


def test_nothing_under_kho_home_is_readable_by_others(landed):
    s = landed
    assert any(s.archive_dir.rglob("*.csv")), "the landing kept no copy in the archive"
    wrong = []
    for root, dirs, files in os.walk(s.home):
        here = Path(root)
        if here == s.pgdata:  # PostgreSQL's own business, checked below
            dirs[:] = []
            continue
        for name in dirs + files:
            path = here / name
            if not path.is_symlink() and (may := _others_may(path)):
                wrong.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} ({may}) {path.relative_to(s.home)}")
    assert not wrong, f"{len(wrong)} paths under {s.home} open to others:\n" + "\n".join(sorted(wrong))
    assert _others_may(s.home) is None
    if not s.external_postgres:
        assert not stat.S_IMODE(s.pgdata.stat().st_mode) & 0o007, "PostgreSQL's data folder is open to others"


def _secrets(s: Settings) -> dict[str, str]:
    """Every secret Kho generated for this KHO_HOME, by where it is kept."""
    found = {str(p): p.read_text().strip() for p in (s.home / "access").glob("*.password")}
    ckan = s.home / "ckan"
    found |= {f"secrets.json {k}": v for k, v in json.loads((ckan / "secrets.json").read_text()).items()}
    found["api_token"] = (ckan / "api_token").read_text().strip()
    return found


def test_services_env_names_the_files_that_hold_secrets(stack):
    s, _ = stack
    text = s.services_env.read_text()
    secrets = _secrets(s)
    assert len(secrets) > 5
    leaked = [where for where, value in secrets.items() if value in text]
    assert not leaked, f"services.env holds the secrets of {leaked}"
    named = {k: Path(v) for k, v in read_env_file(s.services_env).items() if k.endswith("_FILE")}
    assert "KHO_CKAN_API_TOKEN_FILE" in named
    if not s.external_postgres:
        assert named["KHO_POSTGRES_PASSWORD_FILE"] == s.postgres_password_file
    for name, path in named.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    # and what those files hold is what Kho connects with
    with psycopg.connect(s.warehouse_url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert s.ckan_api_token == secrets["api_token"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refusal(url: str) -> str:
    """Why the server refused ``url`` (no password file, no PGPASSWORD: only what the URL gives)."""
    try:
        psycopg.connect(url, passfile=os.devnull, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return "accepted"


def test_a_data_folder_initialised_with_trust_asks_for_passwords_once_started(tmp_path, monkeypatch):
    """A developer's data folder from before: initdb --auth=trust. Starting it gives the superuser its
    password (kept mode 600) and every connection without one is refused."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    s = Settings(repo=REPO, home=tmp_path / "home", port_base=_free_port() - 32, external_postgres=None)
    run_as = services._as_pg_user()
    s.pgdata.mkdir(parents=True)
    if run_as:  # as root the server runs as its own system user, who must own and reach its folder
        import pwd

        ent = pwd.getpwnam(services.PG_SYSTEM_USER)
        os.chown(s.pgdata, ent.pw_uid, ent.pw_gid)
        services._make_traversable(s.home)
    initdb = [str(services._pg_bin("initdb")), "-D", str(s.pgdata), "--auth=trust", "-U", "postgres"]
    subprocess.run(
        [*initdb, "--encoding=UTF8", "--locale=C.UTF-8"], check=True, capture_output=True, **run_as
    )
    assert not s.postgres_password_file.exists()
    try:
        services.start_postgres(s)
        assert stat.S_IMODE(s.postgres_password_file.stat().st_mode) == 0o600
        assert "trust" not in (s.pgdata / "pg_hba.conf").read_text()
        plain = f"postgresql://postgres@127.0.0.1:{s.pg_port}/postgres"
        assert "no password supplied" in _refusal(plain)
        wrong = f"postgresql://postgres:wrong@127.0.0.1:{s.pg_port}/postgres"
        assert "password authentication failed" in _refusal(wrong)
        with psycopg.connect(s.database_url("postgres"), passfile=os.devnull) as conn:
            assert conn.execute("select current_user").fetchone() == ("postgres",)
        # started again, it is already upgraded and the same password still works
        services.stop_postgres(s)
        services.start_postgres(s)
        assert _refusal(s.database_url("postgres")) == "accepted"
    finally:
        services.stop_postgres(s)


def test_sample_deliveries_reach_the_inbox_private(tmp_path):
    """The demo drops its samples (names and phones among them) as the owner's alone, whatever the
    repository's files' mode."""
    from demo.samples import deliver_samples

    s = Settings(repo=REPO, home=tmp_path, port_base=0, external_postgres=None)
    assert deliver_samples("organic_zones", s) > 0
    for path in (s.inbox_dir / "organic_zones").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
