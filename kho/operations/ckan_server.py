"""Kho's open-data portal: set up, start and stop CKAN 2.12.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from kho.operations import services, supervisor
from kho.operations.services import ServiceError
from kho.settings import Settings, settings, write_private

CKAN_DATABASE = "ckan"
DATASTORE_DATABASE = "ckan_datastore"
CKAN_ROLE = "ckan"  # owns both databases
DATASTORE_READER_ROLE = "ckan_datastore_ro"  # datastore_search_sql runs as this role
ADMIN_USER = "kho_admin"
ADMIN_EMAIL = "kho_admin@kho.invalid"
# kho_portal before scheming_datasets: its templates come first
PLUGINS = [
    "datastore",
    "datatables_view",
    "kho_pgsearch",
    "kho_public_sql",
    "kho_portal",
    "scheming_datasets",
    "dcat",
]
# Two processes (one per core) of four threads each: a page waiting on PostgreSQL (a slow public SQL
# query, bounded to 3 s by kho_public_sql) holds one thread, not a whole process.
WORKERS = 2
THREADS = 4
START_TIMEOUT = 120.0


class CkanError(ServiceError):
    """CKAN could not be set up, started or reached."""


# --- where things are ----------------------------------------------------------------------------


def ckan_dir(s: Settings) -> Path:
    return s.home / "ckan"


def ini_path(s: Settings) -> Path:
    return ckan_dir(s) / "ckan.ini"


def _template(s: Settings) -> Path:
    return s.repo / "ckanext-kho" / "ckan.ini.template"


def _token_file(s: Settings) -> Path:
    return ckan_dir(s) / "api_token"


def ckan_env(s: Settings | None = None) -> dict[str, str]:
    """Environment for CKAN's processes (its command line and gunicorn)."""
    s = s or settings()
    return {
        "CKAN_INI": str(ini_path(s)),
        "PYTHONUTF8": "1",
        "PATH": f"{s.venvs / 'ckan' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


# --- secrets and configuration -------------------------------------------------------------------


def _secrets(s: Settings) -> dict[str, str]:
    """Secrets for this KHO_HOME, generated on first use and kept (URL- and ini-safe characters only)."""
    path = ckan_dir(s) / "secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    wanted = ("secret_key", "ckan_db_password", "datastore_reader_password", "admin_password")
    missing = [name for name in wanted if name not in stored]
    if missing:
        stored |= {name: secrets.token_urlsafe(24) for name in missing}
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def _role_url(s: Settings, database: str, role: str, password: str) -> str:
    """URL for ``role`` on the server Kho uses (embedded or ``KHO_POSTGRES_URL``)."""
    parts = urlsplit(s.database_url(database))
    return f"postgresql://{role}:{password}@{parts.hostname}:{parts.port or 5432}/{database}"


def write_config(s: Settings | None = None) -> Path:
    """Write ``$KHO_HOME/ckan/ckan.ini`` from the template; return its path."""
    s = s or settings()
    keys = _secrets(s)
    storage = ckan_dir(s) / "storage"
    storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    values = {
        "secret_key": keys["secret_key"],
        "sqlalchemy_url": _role_url(s, CKAN_DATABASE, CKAN_ROLE, keys["ckan_db_password"]),
        "datastore_write_url": _role_url(s, DATASTORE_DATABASE, CKAN_ROLE, keys["ckan_db_password"]),
        "datastore_read_url": _role_url(
            s, DATASTORE_DATABASE, DATASTORE_READER_ROLE, keys["datastore_reader_password"]
        ),
        "site_url": s.ckan_url,
        "redis_url": s.redis_url,
        "storage_path": str(storage),
        "plugins": " ".join(PLUGINS),
        "licenses_file": str(s.repo / "ckanext-kho" / "ckanext" / "kho" / "licenses.json"),
    }
    text = string.Template(_template(s).read_text(encoding="utf-8")).substitute(values)
    write_private(ini_path(s), text)
    return ini_path(s)


# --- CKAN's command line ---------------------------------------------------------------------------


def ckan_cli(s: Settings, *args: str) -> str:
    """Run ``ckan -c ckan.ini ARGS`` in CKAN's environment (about 5 s: CKAN loads); return its output.

    For example ``ckan_cli(s, "search-index", "rebuild")`` after restoring CKAN's database.
    """
    argv = [str(s.venv_bin("ckan", "ckan")), "-c", str(ini_path(s)), *args]
    result = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **ckan_env(s)}, cwd=ckan_dir(s)
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise CkanError(f"`ckan {' '.join(args[:3])}` failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def _query(url: str, sql: str, params: list[object] | None = None) -> tuple | None:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def _database_initialised(s: Settings) -> bool:
    return _query(s.database_url(CKAN_DATABASE), "select to_regclass('public.package') is not null")[0]


def _datastore_permissions_set(s: Settings) -> bool:
    sql = """
        select case when to_regclass('public._table_metadata') is null then false
                    else has_table_privilege(%s, 'public._table_metadata', 'select') end
    """
    return _query(s.database_url(DATASTORE_DATABASE), sql, [DATASTORE_READER_ROLE])[0]


def _admin_exists(s: Settings) -> bool:
    sql = """select 1 from "user" where name = %s and sysadmin and state = 'active'"""
    return _query(s.database_url(CKAN_DATABASE), sql, [ADMIN_USER]) is not None


def _token_valid(s: Settings) -> bool:
    """The stored token still names a token of ``kho_admin`` in CKAN's database."""
    path = _token_file(s)
    if not path.exists():
        return False
    try:
        payload = path.read_text().strip().split(".")[1]
        jti = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
    except (IndexError, ValueError, KeyError):
        return False
    sql = """select 1 from api_token t join "user" u on u.id = t.user_id where t.id = %s and u.name = %s"""
    return _query(s.database_url(CKAN_DATABASE), sql, [jti, ADMIN_USER]) is not None


def _apply_datastore_permissions(s: Settings) -> None:
    """``ckan datastore set-permissions``, run as the superuser on the DataStore database.

    The generated script starts with psql's ``\\connect``; we connect to that database directly.
    """
    script = ckan_cli(s, "datastore", "set-permissions")
    statements = "\n".join(line for line in script.splitlines() if not line.startswith("\\connect"))
    with psycopg.connect(s.database_url(DATASTORE_DATABASE), autocommit=True) as conn:
        conn.execute(statements.encode())


def _set_datastore_text_search(s: Settings) -> None:
    """Make CKAN's full-text trigger index DataStore rows with the configuration its searches use
    (``ckan.datastore.default_fts_lang = simple``): word by word, no English stemming of Vietnamese."""
    sql = "select current_setting('default_text_search_config')"
    with psycopg.connect(s.database_url(DATASTORE_DATABASE), autocommit=True) as conn:
        if conn.execute(sql).fetchone()[0] != "pg_catalog.simple":
            conn.execute(
                f"alter database {DATASTORE_DATABASE} set default_text_search_config = 'pg_catalog.simple'"
            )


# --- the public functions ------------------------------------------------------------------------


def setup(s: Settings | None = None) -> None:
    """Prepare CKAN: roles, databases, ckan.ini, schema, DataStore permissions, sysadmin and API token.

    Starts PostgreSQL if Kho runs its own. The first run takes a few seconds per CKAN command; later
    runs only check the state and rewrite ckan.ini.
    """
    s = s or settings()
    services.start_postgres(s)
    keys = _secrets(s)
    services.ensure_role(CKAN_ROLE, keys["ckan_db_password"], s=s)
    services.ensure_role(DATASTORE_READER_ROLE, keys["datastore_reader_password"], s=s)
    services.ensure_database(CKAN_DATABASE, owner=CKAN_ROLE, s=s)
    services.ensure_database(DATASTORE_DATABASE, owner=CKAN_ROLE, s=s)
    services.restrict_database(CKAN_DATABASE, [CKAN_ROLE], s=s)
    services.restrict_database(DATASTORE_DATABASE, [CKAN_ROLE, DATASTORE_READER_ROLE], s=s)
    write_config(s)
    if not _database_initialised(s):
        ckan_cli(s, "db", "init")
    if not _datastore_permissions_set(s):
        _apply_datastore_permissions(s)
    _set_datastore_text_search(s)
    if not _admin_exists(s):
        password = keys["admin_password"]  # also in secrets.json, for logging in to the web UI
        ckan_cli(s, "sysadmin", "add", ADMIN_USER, "--create", f"email={ADMIN_EMAIL}", f"password={password}")
    if not _token_valid(s):
        output = ckan_cli(s, "user", "token", "add", ADMIN_USER, "kho_publisher", "--quiet")
        write_private(_token_file(s), output.strip().splitlines()[-1] + "\n")


def _status(s: Settings, timeout: float = 5.0) -> int | None:
    """HTTP status of ``status_show``, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"{s.ckan_url}/api/3/action/status_show", timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def is_running(s: Settings | None = None) -> bool:
    s = s or settings()
    return supervisor.state(s, "ckan") == "RUNNING" and _status(s) == 200


def start(s: Settings | None = None) -> str:
    """Start CKAN under gunicorn as the supervised program ``ckan`` (after :func:`setup`, PostgreSQL and
    Redis); return its URL. Returns at once if it is already running."""
    s = s or settings()
    if is_running(s):
        return s.ckan_url
    if supervisor.state(s, "ckan") not in supervisor.ALIVE and _port_taken(s.ckan_port):
        raise CkanError(f"port {s.ckan_port} is taken by a process Kho did not start")
    services.start_postgres(s)
    services.start_redis(s)
    setup(s)
    argv = [
        str(s.venv_bin("ckan", "gunicorn")), "ckanext.kho.wsgi:application",
        "--bind", f"127.0.0.1:{s.ckan_port}", "--workers", str(WORKERS),
        "--threads", str(THREADS),
        "--timeout", "120", "--graceful-timeout", "10", "--name", "kho-ckan", "--no-control-socket",
    ]  # fmt: skip
    supervisor.start_program(s, "ckan", argv, env=ckan_env(s), cwd=ckan_dir(s), start_secs=1)
    _wait_until_ready(s)
    return s.ckan_url


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_until_ready(s: Settings) -> None:
    log = s.log_dir / "ckan.log"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if supervisor.state(s, "ckan") in ("FATAL", "EXITED", None):
            raise CkanError(f"CKAN exited while starting; see {log}")
        if _status(s) == 200:
            return
        time.sleep(0.3)
    raise CkanError(f"CKAN did not answer status_show within {START_TIMEOUT:.0f} s; see {log}")


def stop(s: Settings | None = None) -> bool:
    """Stop the gunicorn Kho started; True if one was running."""
    return supervisor.stop_program(s or settings(), "ckan")


def datastore_write_url_file(s: Settings) -> Path:
    """A file (mode 600) holding the DataStore database's URL as its write role, for the publisher's COPY
    (``KHO_CKAN_DATASTORE_WRITE_URL_FILE``)."""
    path = ckan_dir(s) / "datastore_write_url"
    write_private(path, _role_url(s, DATASTORE_DATABASE, CKAN_ROLE, _secrets(s)["ckan_db_password"]))
    return path


def token_file(s: Settings) -> Path:
    """The file (mode 600) holding the sysadmin API token :func:`setup` made (``KHO_CKAN_API_TOKEN_FILE``)."""
    return _token_file(s)
