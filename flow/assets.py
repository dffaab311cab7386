"""Airflow Assets that connect the DAGs: each landing DAG updates its dataset's raw Asset."""

from __future__ import annotations


def raw_asset(dataset_id: str):
    from airflow.sdk import Asset

    return Asset(f"kho://raw/{dataset_id}", group="kho-raw")
