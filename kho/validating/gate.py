"""The gate: may a dataset go out? Its latest raw and mart validations decide; a blocked publication is
recorded in ``kho_meta.publications``."""

from __future__ import annotations

import psycopg

from kho.settings import Settings


def gate_failures(dataset_id: str, s: Settings) -> list[str]:
    """Critical failures of the latest raw and mart validations of the dataset (empty: may publish)."""
    with psycopg.connect(s.warehouse_url) as conn:
        rows = conn.execute(
            """
            select distinct on (layer) layer, success, critical_failures
            from kho_meta.quality_runs where dataset = %s
            order by layer, run_at desc
            """,
            [dataset_id],
        ).fetchall()
    layers = {layer: (success, failures) for layer, success, failures in rows}
    problems = []
    if "mart" not in layers:
        problems.append("the mart has never been validated")
    for layer, (success, failures) in sorted(layers.items()):
        if not success:
            problems += [f"{layer}: {f['summary']}" for f in failures] or [f"{layer}: validation failed"]
    return problems


def record_blocked(dataset_id: str, failures: list[str], s: Settings) -> None:
    with psycopg.connect(s.warehouse_url) as conn:
        conn.execute(
            "insert into kho_meta.publications (dataset, status, detail) values (%s, 'blocked', %s)",
            [dataset_id, "; ".join(failures)],
        )
