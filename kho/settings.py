"""Where Kho keeps its state and how every stage reaches its services: one ``Settings``, from the environment.

Each external address is a variable a province's deployment sets; the local stack (``kho up``) writes the
ones it started into ``$KHO_HOME/services.env``, which is read after the environment; without either, an
address defaults to the local stack's port. No stage asks a process manager where a service is.

- ``KHO_HOME`` (state folder, default ``<repo>/.kho``), ``KHO_PORT_BASE`` (first local port, default 54300),
  ``KHO_REPO`` (the repository, default the parent of this package).
- ``KHO_POSTGRES_URL``: a PostgreSQL server of the province's (superuser URL, no database). Set, Kho starts
  no server of its own; unset, the local server's superuser password is the file
  ``$KHO_HOME/access/postgres.password``. ``KHO_WAREHOUSE_URL``: the warehouse database (default: ``kho``
  on that server).
- ``KHO_CKAN_URL``, ``KHO_CKAN_API_TOKEN`` or ``KHO_CKAN_API_TOKEN_FILE``, ``KHO_CKAN_DATASTORE_WRITE_URL``.
- ``KHO_REDIS_URL``, ``KHO_AIRFLOW_API_URL``.
- Agency sources that catalog entries name as ``${KHO_...}`` placeholders (``KHO_PORTAL_URL``, ...).
- ``KHO_INBOX_STABLE_SECONDS``: how long a file in an inbox must stay unchanged before it is taken (default 3).

Everything Kho writes under ``KHO_HOME`` is its owner's alone (secrets, deliveries, logs): the entry points
call :func:`keep_private` first, and secrets are written with :func:`write_private`.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from kho.errors import KhoError

# The repository (catalog, dags, dbt project, expectations). KHO_REPO lets a container mount it elsewhere.
REPO = Path(os.environ.get("KHO_REPO") or Path(__file__).resolve().parent.parent)


INBOX_STABLE_SECONDS = 3.0


class SettingError(KhoError):
    """A setting no variable, file or default provides."""


PRIVATE_UMASK = 0o077  # files 600, folders 700: what Kho writes holds secrets or personal data


def keep_private() -> None:
    """Make every file and folder this process (and every process it starts) creates its owner's alone.

    Called first by each entry point: the ``kho`` command, ``python -m demo``, the Airflow processes."""
    os.umask(PRIVATE_UMASK)


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, mode 600 whatever the umask (an existing file is made 600 too)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a shell-sourceable file (``services.env``); {} if there is none."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, _, raw = line.partition("=")
            parsed = shlex.split(raw)
            values[name.strip()] = parsed[0] if parsed else ""
    return values


@dataclass(frozen=True)
class Settings:
    repo: Path
    home: Path
    port_base: int
    external_postgres: str | None

    # --- values: the environment first, then what the local stack wrote -------------------------
    def value(self, name: str) -> str | None:
        """The variable ``name`` from the environment, else from ``services.env``; else the content of the
        file that ``<name>_FILE`` names (how secrets are passed: the file is the owner's alone); else None."""
        written = read_env_file(self.services_env)
        found = os.environ.get(name) or written.get(name)
        if found:
            return found
        path = os.environ.get(f"{name}_FILE") or written.get(f"{name}_FILE")
        if path and Path(path).is_file():
            return Path(path).read_text(encoding="utf-8").strip() or None
        return None

    # --- directories -------------------------------------------------------------------------
    @property
    def venvs(self) -> Path:
        return self.repo / ".kho" / "venvs"

    def venv_bin(self, env: str, exe: str) -> Path:
        return self.venvs / env / "bin" / exe

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @property
    def inbox_stable_seconds(self) -> float:
        """How long a delivered file must stay unchanged (size, modification time) before landing takes it:
        a file still being copied in is left for the next run (``KHO_INBOX_STABLE_SECONDS``, default 3)."""
        raw = self.value("KHO_INBOX_STABLE_SECONDS")
        try:
            seconds = float(raw) if raw else INBOX_STABLE_SECONDS
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 3600:
            raise SettingError(f"KHO_INBOX_STABLE_SECONDS: expected seconds from 0 to 3600, found {raw!r}")
        return seconds

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dbt_project(self) -> Path:
        return self.repo / "dbt_project"

    @property
    def dbt_manifest(self) -> Path:
        """The manifest ``kho up`` parses: the publisher's model and column descriptions come from it."""
        return self.dbt_project / "target" / "manifest.json"

    @property
    def services_env(self) -> Path:
        return self.home / "services.env"

    @property
    def postgres_password_file(self) -> Path:
        """The local server's superuser password (mode 600), generated when it is first started."""
        return self.home / "access" / "postgres.password"

    # --- local ports (the stack Kho starts on one machine) -----------------------------------
    @property
    def pg_port(self) -> int:
        return self.port_base + 32

    @property
    def redis_port(self) -> int:
        return self.port_base + 79

    @property
    def ckan_port(self) -> int:
        return self.port_base + 50

    @property
    def airflow_port(self) -> int:
        return self.port_base + 80

    # --- addresses -----------------------------------------------------------------------------
    @property
    def postgres_admin_url(self) -> str:
        """Superuser URL without a database name: ``KHO_POSTGRES_URL``, else the local server's, with the
        password of :attr:`postgres_password_file` (none before the server was first started)."""
        if self.external_postgres:
            return self.external_postgres.rstrip("/")
        path = self.postgres_password_file
        secret = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        user = f"postgres:{quote(secret, safe='')}" if secret else "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.pg_port}"

    def database_url(self, database: str) -> str:
        parts = urlsplit(self.postgres_admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))

    @property
    def warehouse_url(self) -> str:
        return os.environ.get("KHO_WAREHOUSE_URL") or self.database_url("kho")

    @property
    def redis_url(self) -> str:
        return self.value("KHO_REDIS_URL") or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def ckan_url(self) -> str:
        return (self.value("KHO_CKAN_URL") or f"http://127.0.0.1:{self.ckan_port}").rstrip("/")

    @property
    def ckan_api_token(self) -> str:
        """The token the publisher writes to CKAN with (``KHO_CKAN_API_TOKEN`` or ``..._FILE``)."""
        token = self.value("KHO_CKAN_API_TOKEN")
        local = self.home / "ckan" / "api_token"  # where the local stack's CKAN keeps it
        if not token and local.is_file():
            token = local.read_text(encoding="utf-8")
        if not token:
            raise SettingError("no CKAN API token: set KHO_CKAN_API_TOKEN or KHO_CKAN_API_TOKEN_FILE")
        return token.strip()

    @property
    def ckan_datastore_write_url(self) -> str | None:
        """The DataStore database as its write role, for the publisher's COPY; None: use the action API."""
        return self.value("KHO_CKAN_DATASTORE_WRITE_URL")

    @property
    def airflow_api_url(self) -> str:
        return (self.value("KHO_AIRFLOW_API_URL") or f"http://127.0.0.1:{self.airflow_port}").rstrip("/")


@cache
def settings() -> Settings:
    home = Path(os.environ.get("KHO_HOME") or REPO / ".kho").resolve()
    return Settings(
        repo=REPO,
        home=home,
        port_base=int(os.environ.get("KHO_PORT_BASE", "54300")),
        external_postgres=os.environ.get("KHO_POSTGRES_URL") or None,
    )
