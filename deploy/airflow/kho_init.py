"""Prepare Kho's side of the stack; run once per `docker-compose up` by the ``airflow-init`` service.

The image's entrypoint has already migrated Airflow's database and created its admin user. This
script then does what ``kho up`` does for the embedded default, minus starting any service:

1. refuses to go on while a value from ``deploy/kho.env.example`` (``change-me...``) is still in use;
2. creates Kho's state directories under ``KHO_HOME`` (inbox, archive, logs);
3. prepares the warehouse as ``kho up`` does (``kho.operations.stack.prepare_warehouse``): the bookkeeping
   schema ``kho_meta``, a raw table per dataset, the dbt manifest, the reference seeds, and the agency
   roles and grants that the dbt models' grants name;
4. creates the Airflow pools the DAGs use (``dbt``).

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

    from kho.errors import KhoError
    from kho.operations.airflow import ensure_pools
    from kho.operations.stack import prepare_warehouse
    from kho.settings import settings

    s = settings()
    for directory in (s.home, s.run_dir, s.log_dir, s.archive_dir, s.inbox_dir):
        directory.mkdir(parents=True, exist_ok=True)
    print(f"kho-init: state in {s.home}, repository at {s.repo}")
    try:
        prepare_warehouse(s, echo=lambda m: print(f"kho-init: {m}", flush=True))
        ensure_pools()
    except KhoError as exc:
        print(f"kho-init: {exc}", file=sys.stderr)
        return 1
    print("kho-init: warehouse, roles and grants, and Airflow's pools are in place")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
