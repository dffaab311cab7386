"""Incremental models that must be built whole again.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from kho.conforming.dbt import parse_manifest, project_dir
from kho.meta import ensure_meta_schema
from kho.settings import Settings, settings


@dataclass(frozen=True)
class IncrementalModel:
    name: str
    schema: str
    table: str
    fingerprint: str


def _reachable(entries: dict, start: list[str], edge: str) -> set[str]:
    """``start`` and every entry its ``depends_on[edge]`` lists lead to, transitively, among ``entries``
    (a manifest's nodes or macros; sources are not nodes, so they are left out: data, not code)."""
    found: set[str] = set()
    todo = list(start)
    while todo:
        current = todo.pop()
        if current in found or current not in entries:
            continue
        found.add(current)
        todo.extend(entries[current]["depends_on"].get(edge, []))
    return found


def fingerprint(manifest: dict, node_id: str, project: Path) -> str:
    """A digest of everything an incremental model's rows were computed with, except the data."""
    digest = hashlib.sha256()
    node = manifest["nodes"][node_id]
    columns = [(c["name"], c.get("data_type")) for c in node.get("columns", {}).values()]
    digest.update(json.dumps([columns, node["config"]], sort_keys=True, default=str).encode())
    digest.update((project / "dbt_project.yml").read_bytes())  # the vars (kho_province_code...)
    upstream_ids = _reachable(manifest["nodes"], [node_id], "nodes")
    for upstream_id in sorted(upstream_ids):
        upstream = manifest["nodes"][upstream_id]
        digest.update(upstream_id.encode())
        if upstream["resource_type"] == "seed":
            # dbt checksums a large seed by its path only: hash the content
            digest.update((project / upstream["original_file_path"]).read_bytes())
        else:
            digest.update(upstream["checksum"]["checksum"].encode())
    called = [m for i in upstream_ids for m in manifest["nodes"][i]["depends_on"].get("macros", [])]
    for macro_id in sorted(_reachable(manifest["macros"], called, "macros")):
        digest.update(macro_id.encode() + manifest["macros"][macro_id]["macro_sql"].encode())
    return digest.hexdigest()


def incremental_models(manifest: dict, project: Path) -> list[IncrementalModel]:
    return [
        IncrementalModel(
            name=node["name"],
            schema=node["schema"],
            table=node.get("alias") or node["name"],
            fingerprint=fingerprint(manifest, node_id, project),
        )
        for node_id, node in sorted(manifest["nodes"].items())
        if node["resource_type"] == "model" and node["config"].get("materialized") == "incremental"
    ]


def project_digest(project: Path) -> str:
    """A digest of the dbt project's own files (models, macros, seeds, tests, settings), not its outputs."""
    digest = hashlib.sha256()
    skip = {"target", "logs", "dbt_packages"}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if path.is_file() and rel.parts[0] not in skip and not rel.name.startswith("."):
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def reset_changed(
    s: Settings | None = None,
    manifest: dict | None = None,
    echo: Callable[[str], None] = print,
    digest: str | None = None,
) -> list[str]:
    """Drop every incremental model's table built with another fingerprint (or none); record the current
    fingerprints. Returns the models dropped, which the next dbt build builds whole."""
    s = s or settings()
    checked = s.home / "dbt-incremental-check" / "checked.sha256"
    stamp = f"{digest or project_digest(project_dir(s))} {s.warehouse_url.rpartition('@')[2]}"
    parsed_here = manifest is None
    if manifest is None:
        if checked.exists() and checked.read_text() == stamp:
            return []  # the project has not changed since this warehouse's models were last checked
        # The project as the builds that follow will see it, parsed into a target folder of its own.
        manifest = parse_manifest(s.home / "dbt-incremental-check", s)
    models = incremental_models(manifest, project_dir(s))
    dropped = []
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        ensure_meta_schema(conn)
        for model in models:
            relation = f"{model.schema}.{model.table}"
            (exists,) = conn.execute("select to_regclass(%s) is not null", [relation]).fetchone()
            row = conn.execute(
                "select fingerprint from kho_meta.incremental_models where model = %s", [model.name]
            ).fetchone()
            if exists and (row is None or row[0] != model.fingerprint):
                why = (
                    "built before Kho recorded how"
                    if row is None
                    else "its code, contract or reference changed"
                )
                conn.execute(
                    sql.SQL("drop table {} cascade").format(sql.Identifier(model.schema, model.table))
                )
                echo(f"{relation}: dropped to be built whole ({why})")
                dropped.append(model.name)
            conn.execute(
                "insert into kho_meta.incremental_models (model, relation, fingerprint) values (%s, %s, %s)"
                " on conflict (model) do update set relation = excluded.relation,"
                " fingerprint = excluded.fingerprint, recorded_at = now()",
                [model.name, relation, model.fingerprint],
            )
    if parsed_here:
        checked.parent.mkdir(parents=True, exist_ok=True)
        checked.write_text(stamp)
    return dropped
