"""A copy of the repository for a second Kho to run from (``KHO_REPO``): every top-level entry a link to the
repository's, the environments and assets of ``.kho/`` too, and the dbt project a copy of its own without
what dbt wrote (``target/``, ``logs/``). dbt writes its manifest and compiled SQL into the project, and Kho
writes the dbt files a catalog decides into it: two stacks side by side (the end-to-end tests beside the
rest, ``scripts/test.sh``; a benchmark's stack with another catalog, ``bench/freshness.py``) each need
their own."""

from __future__ import annotations

import shutil
from pathlib import Path

from kho.settings import REPO

PROJECT = "dbt_project"
DBT_WROTE = {"target", "logs"}


def mirror_repository(target: Path, repo: Path = REPO) -> Path:
    """Make ``target`` (anything there before is removed) the mirror of ``repo``; ``target``."""
    shutil.rmtree(target, ignore_errors=True)
    (target / ".kho").mkdir(parents=True)
    for entry in repo.iterdir():
        if not entry.name.startswith(".") and entry.name != PROJECT:
            (target / entry.name).symlink_to(entry)
    for name in ("venvs", "assets"):
        if (repo / ".kho" / name).exists():
            (target / ".kho" / name).symlink_to(repo / ".kho" / name)
    source = repo / PROJECT
    shutil.copytree(
        source,
        target / PROJECT,
        ignore=lambda folder, names: DBT_WROTE & set(names) if Path(folder) == source else set(),
    )
    return target
