"""Where Kho keeps its state and how it reaches its services.

Everything is derived from a handful of environment variables so that the demo, the test suite and a
province's own deployment can sit side by side:

- ``KHO_HOME``: state directory (default ``<repo>/.kho``). Databases, logs, pids, Airflow home, archive.
- ``KHO_PORT_BASE``: first of the local ports (default 54300); the test suite uses another base.
- ``KHO_REPO``: where the repository is (default: the parent of this package).
- ``KHO_POSTGRES_URL``: an existing PostgreSQL server (superuser URL, no database). When set, Kho
  uses it instead of starting its embedded server.
- ``KHO_PORTAL_URL``: the public-service portal's database, through a read-only login (catalog entries
  name it ``${KHO_PORTAL_URL}``). Default: the demo copy ``kho up`` creates on Kho's own server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# The repository (catalog, dags, dbt project, expectations). KHO_REPO lets a container mount it elsewhere.
REPO = Path(os.environ.get("KHO_REPO") or Path(__file__).resolve().parent.parent)
# The demo public-service portal (kho/portal_demo.py): its database and read-only login. Demo only: a
# province's own portal is reached through KHO_PORTAL_URL.
PORTAL_DEMO_DATABASE = "portal_demo"
PORTAL_DEMO_READER = ("kho_reader", "kho_reader_demo")


@dataclass(frozen=True)
class Settings:
    repo: Path
    home: Path
    port_base: int
    external_postgres: str | None
    portal: str | None = None

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
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def services_env(self) -> Path:
        return self.home / "services.env"

    # --- ports and URLs ------------------------------------------------------------------------
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

    @property
    def agency_api_port(self) -> int:
        return self.port_base + 66

    @property
    def postgres_admin_url(self) -> str:
        """Superuser URL without a database name."""
        if self.external_postgres:
            return self.external_postgres.rstrip("/")
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}"

    def database_url(self, database: str) -> str:
        parts = urlsplit(self.postgres_admin_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))

    @property
    def warehouse_url(self) -> str:
        return self.database_url("kho")

    @property
    def portal_url(self) -> str:
        """The public-service portal's database, as its read-only role; see kho/portal_demo.py."""
        if self.portal:
            return self.portal
        parts = urlsplit(self.database_url(PORTAL_DEMO_DATABASE))
        host = parts.netloc.rpartition("@")[2]
        user, password = PORTAL_DEMO_READER
        return urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, ""))

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def ckan_url(self) -> str:
        return f"http://127.0.0.1:{self.ckan_port}"


@cache
def settings() -> Settings:
    home = Path(os.environ.get("KHO_HOME") or REPO / ".kho").resolve()
    return Settings(
        repo=REPO,
        home=home,
        port_base=int(os.environ.get("KHO_PORT_BASE", "54300")),
        external_postgres=os.environ.get("KHO_POSTGRES_URL") or None,
        portal=os.environ.get("KHO_PORTAL_URL") or None,
    )
