"""Where the dbt project and its dbt are, and how dbt is started against the warehouse: the plain process,
without the catalog sync that :func:`kho.conforming.dbt.run_dbt` does first (:mod:`kho.conforming.sync` runs
dbt through this, so that it does not call itself)."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import unquote, urlsplit

from kho.settings import Settings, settings


def project_dir(s: Settings | None = None):
    return (s or settings()).dbt_project


def dbt_executable(s: Settings | None = None) -> str:
    return str((s or settings()).venv_bin("dbt", "dbt"))


def parse_cache_dir(s: Settings | None = None):
    """Where the warehouse DAGs' dbt builds keep dbt's partial-parse state between runs (Cosmos copies the
    project for each build; without it every build parsed the whole project again: 9 s here)."""
    folder = (s or settings()).home / "dbt-parse-cache"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def manifest_path(s: Settings | None = None):
    return (s or settings()).dbt_manifest


def dbt_env(s: Settings | None = None) -> dict[str, str]:
    """The variables ``dbt_project/profiles.yml`` reads, derived from the warehouse URL."""
    s = s or settings()
    url = urlsplit(s.warehouse_url)
    return {
        "KHO_PGHOST": url.hostname or "127.0.0.1",
        "KHO_PGPORT": str(url.port or 5432),
        "KHO_PGUSER": unquote(url.username or "postgres"),
        "KHO_PGPASSWORD": unquote(url.password or ""),
        "KHO_PGDATABASE": url.path.lstrip("/") or "kho",
        "DBT_PROFILES_DIR": str(project_dir(s)),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def dbt_process(
    args: list[str], s: Settings | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """dbt ``args`` in the project folder, output captured."""
    s = s or settings()
    return subprocess.run(
        [dbt_executable(s), *args],
        cwd=project_dir(s),
        env={**os.environ, **dbt_env(s)},
        check=check,
        capture_output=True,
        text=True,
    )
