"""Kho's benchmarks: each measures one path of the platform against a baseline run on the same machine in
the same run, and says whether the issue's target is met. ``python -m bench`` runs them; see README.md.

1. ``land_csv``: landing a CSV delivery with ``kho.landing.land.land_file`` against ``psql \\copy``.
2. ``read_xlsx``: the Excel reader against pandas with openpyxl.
3. ``land_memory``: peak memory while landing a large CSV.
4. ``rerun_land``: re-running every landing DAG with unchanged deliveries against the first run.
5. ``parse_dags``: parsing ``dags/kho_land.py`` with the catalog scaled up to 200 datasets.
6. ``publish_datastore``: publishing a 1M-row open dataset into the DataStore against ckanext-xloader.
7. ``publish_unchanged``: publishing every dataset again when nothing changed (write calls, time ratio).
8. ``gx_mart``: Great Expectations validating a 1M-row mart against one hand-written SQL query.
9. ``dbt_incremental``: dbt's incremental build of a 5M-row fact after 1% new rows against a full refresh.
10. ``portal_load``: the portal's pages' p95 under 20 anonymous people at once against ``status_show``'s.
11. ``freshness``: a delivery from the inbox to CKAN under the running scheduler; at 9 and 50 datasets; idle.
"""

BENCHMARKS = {
    1: "land_csv",
    2: "read_xlsx",
    3: "land_memory",
    4: "rerun_land",
    5: "parse_dags",
    6: "publish_datastore",
    7: "publish_unchanged",
    8: "gx_mart",
    9: "dbt_incremental",
    10: "portal_load",
    11: "freshness",
}
