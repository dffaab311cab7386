"""Prepare Kho's side of the stack; run once per `docker-compose up` by the ``airflow-init`` service.

The image's entrypoint has already migrated Airflow's database and created its admin user. This
script then does what ``kho up`` does for the embedded default, minus starting any service:

1. refuses to go on while a value from ``deploy/kho.env.example`` (``change-me...``) is still in use;
2. creates Kho's state directories under ``KHO_HOME`` (inbox, archive, logs);
3. creates Kho's bookkeeping schema ``kho_meta`` in the warehouse database (idempotent);
4. compiles the dbt manifest (``dbt parse``) that the warehouse DAG is built from.

Every step is idempotent: running it again changes nothing that is already in place.
"""

from __future__ import annotations

import os
import sys

PLACEHOLDER = "change-me"


def main() -> int:
    placeholders = sorted(name for name, value in os.environ.items() if PLACEHOLDER in value.lower())
    if placeholders:
        print(
            "kho-init: these settings still hold a placeholder from deploy/kho.env.example; "
            "set real values in deploy/kho.env: " + ", ".join(placeholders),
            file=sys.stderr,
        )
        return 1

    import psycopg

    from kho.conforming.dbt import run_dbt
    from kho.meta import ensure_meta_schema
    from kho.settings import settings

    s = settings()
    for directory in (s.home, s.run_dir, s.log_dir, s.archive_dir, s.inbox_dir):
        directory.mkdir(parents=True, exist_ok=True)
    print(f"kho-init: state in {s.home}, repository at {s.repo}")

    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
    print("kho-init: warehouse schema kho_meta is in place")

    parse = run_dbt(["parse", "--quiet"], s=s, check=False)
    if parse.returncode != 0:
        print(f"kho-init: dbt parse failed:\n{parse.stdout[-3000:]}{parse.stderr[-3000:]}", file=sys.stderr)
        return parse.returncode
    print("kho-init: dbt manifest compiled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
