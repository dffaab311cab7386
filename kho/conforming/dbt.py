"""Running dbt, which lives in its own environment (``.kho/venvs/dbt``), against the warehouse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kho.conforming.project import (  # noqa: F401 - the names the DAGs and stages import from here
    dbt_env,
    dbt_executable,
    dbt_process,
    manifest_path,
    project_dir,
)
from kho.errors import KhoError
from kho.settings import Settings


def run_dbt(
    args: list[str], s: Settings | None = None, check: bool = True, sync: bool = True
) -> subprocess.CompletedProcess:
    """Run dbt in its environment. First, the project's files that follow from the catalog are brought in
    line with it (:func:`kho.conforming.sync.ensure_synced`: a digest comparison when nothing changed), so
    that no one has to remember a sync step after adding or changing a dataset."""
    if sync:
        # imported here, not at the top: the warehouse DAG file imports this module when it is parsed
        from kho.conforming.sync import ensure_synced

        ensure_synced(s, echo=lambda m: None)
    return dbt_process(args, s, check)


def parse_manifest(target: Path, s: Settings | None = None) -> dict:
    """``dbt parse`` of the project into the target folder ``target``; the manifest. Partial parsing keeps a
    second parse into the same folder to a few seconds."""
    result = run_dbt(["parse", "--quiet", "--target-path", str(target)], s=s, check=False)
    if result.returncode != 0:
        raise KhoError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))
