"""What a dataset's warehouse run needs before its lineage is built: incremental models whose code changed
are reset (:mod:`kho.conforming.incremental`), and the shared models (dbt group ``platform``: the
administrative units, agencies, crops, dates every dataset joins to) exist and are current. Under one
PostgreSQL advisory lock, so that warehouse runs started together do it once; the lineage builds that follow
share no model and run side by side."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg

from kho.conforming.dbt import manifest_path, project_dir, run_dbt
from kho.conforming.incremental import project_digest, reset_changed
from kho.errors import KhoError
from kho.settings import Settings, settings

LOCK = "kho.conforming.shared"


def platform_relations(s: Settings) -> list[str]:
    """``schema.table`` of each shared model, from the project's manifest (``dbt parse`` when missing)."""
    path = manifest_path(s)
    if not path.is_file():
        parse = run_dbt(["parse", "--quiet"], s=s, check=False)
        if parse.returncode != 0:
            raise KhoError(f"dbt parse failed:\n{parse.stdout[-3000:]}{parse.stderr[-3000:]}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return sorted(
        f"{n['schema']}.{n.get('alias') or n['name']}"
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"].get("group") == "platform"
    )


def ensure_platform(
    conn: psycopg.Connection, s: Settings, echo: Callable[[str], None] = print, digest: str | None = None
) -> bool:
    """Build the shared models if one is missing or the project changed since they were built; True if built."""
    stamp = s.home / "dbt-platform.sha256"
    current = f"{digest or project_digest(project_dir(s))} {s.warehouse_url.rpartition('@')[2]}"
    missing = [
        r for r in platform_relations(s) if conn.execute("select to_regclass(%s)", [r]).fetchone()[0] is None
    ]
    if not missing and stamp.is_file() and stamp.read_text() == current:
        return False
    echo(
        "building the shared models"
        + (f" ({', '.join(missing)} missing)" if missing else " (project changed)")
    )
    built = run_dbt(
        [
            "build",
            "--select",
            "group:platform",
            "--exclude",
            "resource_type:seed",
            "--indirect-selection",
            "cautious",
        ],
        s=s,
        check=False,
    )
    if built.returncode != 0:
        raise KhoError(f"the shared models (dbt group platform) failed to build:\n{built.stdout[-3000:]}")
    stamp.write_text(current)
    return True


def prepare(s: Settings | None = None, echo: Callable[[str], None] = print) -> dict:
    """Bring the dbt files the catalog decides up to date (kho.conforming.sync: a dataset just added),
    reset changed incremental models and make sure the shared models are built, once at a time."""
    from kho.conforming.sync import ensure_synced

    s = s or settings()
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext(%s))", [LOCK])
        try:
            ensure_synced(s, echo=echo)
            digest = project_digest(project_dir(s))  # once, after the sync: both checks compare it
            reset = reset_changed(s, echo=echo, digest=digest)
            built = ensure_platform(conn, s, echo, digest=digest)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", [LOCK])
    return {"incremental_models_reset": reset, "shared_models_built": built}
