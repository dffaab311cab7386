"""``python -m demo [up|run|down|mirror TARGET]``: Kho's services with the demo's stand-ins for the agencies.

``up`` starts Kho (``kho up``) and the stand-ins, and writes where they are into ``services.env``;
``run`` (what ``make demo`` does) also drops the sample deliveries into the inboxes, runs the pipeline
through Airflow and prints the summary; ``down`` stops everything (``kho down``); ``mirror TARGET`` makes
TARGET a copy of the repository for a second stack to run from (``demo/mirror.py``).
"""

from __future__ import annotations

import sys

from rich.console import Console

from demo import agency_api, portal_db
from demo.samples import deliver_samples
from kho.catalog import catalog
from kho.errors import KhoError
from kho.operations import stack
from kho.settings import Settings, keep_private, settings

out = Console(soft_wrap=True)


def stand_ins(s: Settings) -> None:
    out.print(
        "[dim]starting the demo's stand-ins for agency systems (portal database, tourist-site API) ...[/]"
    )
    portal_db.ensure(s)  # each writes where it is into services.env
    agency_api.start(s)


def up(s: Settings, airflow_services: bool = True) -> None:
    stack.up(
        s,
        echo=lambda m: out.print(f"[dim]starting {m}[/]"),
        before_airflow=stand_ins,
        airflow_services=airflow_services,
    )


def run(s: Settings) -> bool:
    from kho.operations.runs import run_pipeline
    from kho.operations.status import print_summary

    up(s)
    ids = sorted(catalog().datasets)
    for ds_id in ids:
        deliver_samples(ds_id, s)
    ok = run_pipeline(ids, echo=lambda m: out.print(m, highlight=False, markup=False))
    print_summary(out)
    out.print(f"services left running; addresses in {s.services_env}; stop them with `make down`")
    return ok


def main(argv: list[str]) -> int:
    keep_private()  # as the `kho` command does: files 600, folders 700
    command = argv[0] if argv else "run"
    if command == "mirror" and len(argv) == 2:
        from pathlib import Path

        from demo.mirror import mirror_repository

        mirror_repository(Path(argv[1]))
        return 0
    s = settings()
    try:
        if command == "up":
            up(s, airflow_services="--no-airflow" not in argv)
            out.print(f"services up; addresses in {s.services_env}")
        elif command == "run":
            return 0 if run(s) else 1
        elif command == "down":
            stopped = stack.down(s)
            out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        else:
            out.print(f"usage: python -m demo [up|run|down|mirror TARGET] (not {command!r})")
            return 2
    except KhoError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
