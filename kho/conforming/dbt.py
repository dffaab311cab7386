"""Running dbt, which lives in its own environment (``.kho/venvs/dbt``), against the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kho.errors import KhoError
from kho.settings import Settings, settings


def project_dir(s: Settings | None = None):
    return (s or settings()).dbt_project


def dbt_executable(s: Settings | None = None) -> str:
    return str((s or settings()).venv_bin("dbt", "dbt"))


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


def run_dbt(
    args: list[str], s: Settings | None = None, check: bool = True, sync: bool = True
) -> subprocess.CompletedProcess:
    """Run dbt in its environment. First, the project's files that follow from the catalog are brought in
    line with it (:func:`kho.conforming.sync.ensure_synced`: a digest comparison when nothing changed), so
    that no one has to remember a sync step after adding or changing a dataset."""
    s = s or settings()
    if sync:
        from kho.conforming.sync import ensure_synced

        ensure_synced(s, echo=lambda m: None)
    return subprocess.run(
        [dbt_executable(s), *args],
        cwd=project_dir(s),
        env={**os.environ, **dbt_env(s)},
        check=check,
        capture_output=True,
        text=True,
    )


def manifest_path(s: Settings | None = None):
    return (s or settings()).dbt_manifest


def parse_manifest(target: Path, s: Settings | None = None) -> dict:
    """``dbt parse`` of the project into the target folder ``target``; the manifest. Partial parsing keeps a
    second parse into the same folder to a few seconds."""
    result = run_dbt(["parse", "--quiet", "--target-path", str(target)], s=s, check=False)
    if result.returncode != 0:
        raise KhoError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))
