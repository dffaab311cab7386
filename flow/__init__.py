"""A dataset's flow, step by step, as the DAGs call it: land (inbox -> raw) -> validate raw -> [dbt conforms]
-> validate the mart -> publish if the gate passes. It sits above both ``kho`` and ``publishers``, so that
neither imports the other's way up."""

from __future__ import annotations

from pathlib import Path

from kho.catalog import catalog
from kho.errors import QualityGateError
from kho.landing.land import LoadReport, land_inbox
from kho.settings import Settings, settings
from kho.validating.gate import gate_failures, record_blocked


def land(dataset_id: str, s: Settings | None = None, fetched: str | None = None) -> list[dict]:
    """Land every waiting delivery; a list of load reports (as dicts, for XCom). ``fetched``: the file this
    run's fetch renamed into the inbox, complete already (no wait for it to settle)."""
    names = [Path(fetched).name] if fetched else []
    return [r.as_dict() for r in land_inbox(dataset_id, s, fetched=names)]


def refused(reports: list[dict]) -> list[str]:
    return [LoadReport(**r).summary() for r in reports if r["status"] == "refused"]


def failed(reports: list[dict]) -> list[str]:
    """Deliveries not landed for an infrastructure reason, left in the inbox for the next run."""
    return [LoadReport(**r).summary() for r in reports if r["status"] == "failed"]


def validate(dataset_id: str, layer: str, load_id: str | None = None, s: Settings | None = None) -> dict:
    """Run the dataset's Great Expectations suite for ``layer``; the result as a dict."""
    from kho.validating.quality import validate as gx_validate

    result = gx_validate(dataset_id, layer, load_id=load_id, s=s)
    return {
        "dataset": dataset_id,
        "layer": layer,
        "run_id": result.run_id,
        "success": result.success,
        "critical_failures": [str(f) for f in result.critical_failures],
        "warnings": [str(w) for w in result.warnings],
    }


def data_docs(results: list[dict | None], s: Settings | None = None) -> str:
    """Render the Data Docs pages of these validations (``validate``'s results) and the site's index. The
    results are already recorded and judged: a page that cannot be rendered is reported, not fatal."""
    from kho.validating.quality import build_data_docs

    run_ids = [r["run_id"] for r in results if r and r.get("run_id")]
    try:
        return str(build_data_docs(run_ids, s=s))
    except Exception as exc:  # noqa: BLE001 - GX's renderers raise anything
        message = f"Data Docs not rendered for {', '.join(run_ids) or 'no validation'}: {exc}"
        print(f"warning: {message}")
        return message


def has_landed(dataset_id: str, s: Settings | None = None) -> bool:
    """Has any delivery of the dataset landed? (Until one has, its mart is empty by design.)"""
    import psycopg

    s = s or settings()
    with psycopg.connect(s.warehouse_url) as conn:
        row = conn.execute(
            "select 1 from kho_meta.loads where dataset = %s and status = 'landed' limit 1", [dataset_id]
        ).fetchone()
    return row is not None


def publish(dataset_id: str, s: Settings | None = None) -> dict:
    """Publish the dataset to CKAN if it is open and its latest quality results pass."""
    from publishers.ckan import publish_dataset

    s = s or settings()
    ds = catalog().dataset(dataset_id)
    if not ds.is_open or ds.publish is None:
        return {
            "dataset": dataset_id,
            "status": "not published",
            "reason": f"classification {ds.classification}",
        }
    failures = gate_failures(dataset_id, s)
    if failures:
        record_blocked(dataset_id, failures, s)
        raise QualityGateError(
            f"{dataset_id}: not published, critical expectations failed: " + "; ".join(failures)
        )
    from publishers.kpi import publish_kpis

    result = publish_dataset(dataset_id, s=s)
    # the headline figures computed from this dataset's fact, with their charts (catalog/kpis.yml)
    figures = publish_kpis(s, dataset=dataset_id)
    return {
        "dataset": dataset_id,
        "status": result.status,
        "url": result.dataset_url,
        "rows": result.rows,
        "write_calls": result.write_calls,
        "kpis": {k.kpi: k.status for k in figures},
    }


def withdraw(s: Settings | None = None) -> list[dict]:
    """Take out of public view the CKAN datasets whose catalog entry is gone or no longer open."""
    from dataclasses import asdict

    from publishers.withdraw import withdraw_stale

    return [asdict(w) for w in withdraw_stale(s)]
