"""Kho run as a province runs it, measured: a stack of its own (``kho up`` with Airflow's services: the
scheduler deciding, the inbox watchers) in a scratch home, and what its DAG runs took as Airflow's REST API
records them. The child-process side of benchmarks 4 (re-running the landing DAGs) and 10 (freshness,
catalog size, idle cost); ``bench/worker.py`` calls these."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERITAGE = "intangible_heritage"  # an inbox dataset whose every delivery is the whole list
HEADER = ["STT", "Mã di sản", "Tên di sản", "Loại hình", "Chủ thể", "Địa bàn", "Năm ghi danh", "Cấp ghi danh"]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(begin: str | None, end: str | None) -> float | None:
    b, e = _when(begin), _when(end)
    return (e - b).total_seconds() if b and e else None


def runs_since(api, dag_id: str, since: datetime) -> list[dict]:
    return [r for r in api.runs(dag_id, limit=20) if _when(r["run_after"]) >= since]


def task_times(api, dag_id: str, run_id: str, logs: Path | None = None) -> dict[str, dict]:
    """State, start, end and seconds of each task of one run; with the folder of Airflow's task logs, also
    the seconds its callable ran (``work_seconds``), from its log."""
    times = {}
    for t in api.task_instances(dag_id, run_id):
        seconds = _seconds(t.get("start_date"), t.get("end_date"))
        work = None
        if logs is not None and seconds is not None:
            log = logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={t['task_id']}"
            work = callable_seconds(log / f"attempt={t.get('try_number') or 1}.log") if seconds else 0.0
        times[t["task_id"]] = {
            "state": t["state"],
            "start": t.get("start_date"),
            "end": t.get("end_date"),
            "seconds": seconds,
            "work_seconds": work,
            "worker": t.get("hostname"),
        }
    return times


def callable_seconds(log: Path) -> float | None:
    """The seconds between the end of a task's "Pre Execute" group (the task process started, the DAG file
    parsed) and the start of its "Post Execute" group in its Airflow log: the task's own work."""
    began = ended = None
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        event = entry.get("event")
        if event == "::endgroup::" and began is None:
            began = _when(entry.get("timestamp"))
        elif event == "::group::Post Execute":
            ended = _when(entry.get("timestamp"))
    return (ended - began).total_seconds() if began and ended else None


def timed_pipeline(ids: list[str], s, since: datetime, settle_s: float = 600) -> dict:
    """``run_pipeline`` (as `kho run`), then, once every run since ``since`` has ended (the inbox
    watcher's too), each DAG's runs as Airflow recorded them: each run's start to end, its tasks' time
    (each task instance's start to end: the time it held a worker, not the time it waited for one) and
    their callables' time (from the task logs: without the task process's start and the DAG file's parse)."""
    from kho.operations.airflow_api import Airflow
    from kho.operations.runs import ACTIVE, run_pipeline, warehouse_dag

    start = time.perf_counter()
    ok = run_pipeline(ids, s, echo=lambda m: print(m, flush=True))
    total = time.perf_counter() - start
    api = Airflow(s)
    dag_ids = [d for ds_id in ids for d in (f"land__{ds_id}", warehouse_dag(ds_id))]
    logs = s.airflow_home / "logs"
    deadline = time.monotonic() + settle_s
    while any(r["state"] in ACTIVE for d in dag_ids for r in runs_since(api, d, since)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs still active {settle_s:.0f} s after `kho run` ended")
        time.sleep(1)
    dags, spans = {}, {"land": [], "warehouse": []}
    for dag_id in dag_ids:
        kind = "land" if dag_id.startswith("land__") else "warehouse"
        runs = runs_since(api, dag_id, since)
        seconds = [_seconds(r.get("start_date"), r.get("end_date")) for r in runs]
        tasks = {r["dag_run_id"]: task_times(api, dag_id, r["dag_run_id"], logs) for r in runs}
        works = [t["work_seconds"] for run in tasks.values() for t in run.values()]
        dags[dag_id] = {
            "runs": len(runs),
            "seconds": sum(x for x in seconds if x is not None) if runs else None,
            "task_seconds": sum(t["seconds"] or 0 for run in tasks.values() for t in run.values()),
            "work_seconds": None if None in works else sum(works),
            "ok": all(r["state"] == "success" for r in runs),
            "tasks": tasks,
        }
        spans[kind] += [(_when(r.get("start_date")), _when(r.get("end_date"))) for r in runs]
    phases = {}
    for kind, found in spans.items():
        found = [(b, e) for b, e in found if b and e]
        if found:
            phases[kind] = (max(e for _, e in found) - min(b for b, _ in found)).total_seconds()
    return {"ok": ok, "seconds": total, "phases": phases, "dags": dags}


def _up(s) -> None:
    """The benchmark's own stack, as `make demo` brings it up: with the demo's stand-ins for the agency
    systems, which two datasets fetch from (without them their runs fail and retry, in the timed window)."""
    from demo.__main__ import stand_ins
    from kho.operations import stack

    stack.up(s, echo=lambda m: print(f"starting {m}", flush=True), before_airflow=stand_ins)


def pipeline(args: argparse.Namespace) -> dict:
    """Benchmark 4: bring the stack up, run every dataset with the sample deliveries in the inboxes (first
    run), put the same deliveries back and run again (second run), bring it down."""
    from demo.samples import deliver_samples
    from kho.catalog import catalog
    from kho.operations import stack
    from kho.settings import settings

    s = settings()
    started = time.perf_counter()
    _up(s)
    up_seconds = time.perf_counter() - started
    ids = sorted(catalog().datasets)
    runs = []
    try:
        for attempt in ("first", "second"):
            since = datetime.now(UTC)
            delivered = sum(deliver_samples(ds_id, s) for ds_id in ids)  # as `make demo` does
            runs.append({"run": attempt, "deliveries": delivered, **timed_pipeline(ids, s, since)})
    finally:
        if not args.keep:
            stack.down(s)
    return {"datasets": ids, "stack_up_s": up_seconds, "runs": runs}


# --- freshness and idle cost ----------------------------------------------------------------------------


def heritage_delivery(rows: int, edition: int) -> bytes:
    """A culture department's whole list of ``rows`` elements (UTF-8 CSV); ``edition`` changes every row's
    year, so each edition is a new delivery whose figures all changed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for i in range(1, rows + 1):
        writer.writerow(
            [
                i,
                f"BENCH-{i:07d}",
                f"Di sản số {i}",
                "Lễ hội truyền thống",
                "Tày",
                "Nà Hang",
                2000 + edition,
                "Quốc gia",  # the listings the staging model accepts: Quốc gia, UNESCO
            ]
        )
    return out.getvalue().encode("utf-8")


def _wait_for_dag(api, dag_id: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.runs(dag_id, limit=1)
            return
        except Exception:  # noqa: BLE001 - not parsed yet (HTTP 404)
            time.sleep(2)
    raise RuntimeError(f"{dag_id} was not parsed within {timeout:.0f} s")


def one_delivery(s, api, rows: int, edition: int, timeout: float = 1800) -> dict:
    """Drop one delivery into the heritage inbox (written under a temporary name, then renamed, as the
    inbox rule asks) and follow it to CKAN; each stage's seconds from the task instances."""
    from kho.catalog import catalog
    from kho.operations.runs import warehouse_dag

    inbox = s.inbox_dir / HERITAGE
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = heritage_delivery(rows, edition)
    part = inbox / f"bench_{edition}.csv.part"
    part.write_bytes(data)
    dropped = datetime.now(UTC)
    part.rename(inbox / f"bench_{edition}.csv")
    land_dag, wh_dag = f"land__{HERITAGE}", warehouse_dag(HERITAGE)
    deadline = time.monotonic() + timeout
    land_run = wh_run = None
    while time.monotonic() < deadline:
        landed = [r for r in runs_since(api, land_dag, dropped) if r["state"] == "success"]
        if landed and land_run is None:
            land_run = landed[-1]
        if land_run:
            # the warehouse run the land task's raw Asset event started (before its raw check ended)
            landed_at = _when(task_times(api, land_dag, land_run["dag_run_id"])["land"]["end"])
            done = [
                r
                for r in runs_since(api, wh_dag, landed_at - timedelta(seconds=5))
                if r["state"] in ("success", "failed")
            ]
            if done:
                wh_run = done[-1]
                break
        time.sleep(0.5)
    if wh_run is None:
        raise RuntimeError(
            f"delivery {edition}: not through landing and the warehouse within {timeout:.0f} s"
        )
    land = task_times(api, land_dag, land_run["dag_run_id"])
    wh = task_times(api, wh_dag, wh_run["dag_run_id"])
    published = _when(wh["publish"]["end"]) if wh.get("publish", {}).get("end") else None
    mart = catalog().dataset(HERITAGE).publish.model
    return {
        "edition": edition,
        "rows": rows,
        "ok": wh_run["state"] == "success",
        "total_s": (published - dropped).total_seconds() if published else None,
        "stages_s": {
            "detection": (_when(land["land"]["start"]) - dropped).total_seconds(),
            "landing": land["land"]["seconds"],
            # the warehouse run starts on the land task's raw Asset event: the raw check runs beside dbt
            # (publishing waits for it), so it is not on the way to CKAN unless it outlasts dbt
            "raw check (beside dbt)": land["validate_raw"]["seconds"],
            "hand-over to the warehouse DAG": (
                _when(wh["prepare"]["start"]) - _when(land["land"]["end"])
            ).total_seconds(),
            "dbt": (wh["prepare"]["seconds"] or 0) + (wh["dbt_build"]["seconds"] or 0),
            "mart check": wh["validate_mart"]["seconds"],
            "publishing": wh["publish"]["seconds"],
        },
        "ckan_rows_equal_mart": _ckan_equals_mart(s, mart),
    }


def _ckan_equals_mart(s, mart: str) -> bool:
    import psycopg
    from ckanapi import RemoteCKAN
    from psycopg import sql

    with psycopg.connect(s.warehouse_url) as conn:
        (expected,) = conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier("marts", mart))
        ).fetchone()
    with RemoteCKAN(s.ckan_url) as ckan:
        pkg = ckan.action.package_show(id=HERITAGE.replace("_", "-"))
        stored = [r for r in pkg["resources"] if r.get("datastore_active")]
        total = (
            ckan.action.datastore_search(resource_id=stored[0]["id"], limit=0)["total"] if stored else None
        )
    return total == expected


def airflow_cpu_seconds(s) -> float:
    """CPU seconds used so far by Airflow's supervised processes and the children they reaped."""
    from kho.operations import supervisor

    pids = [supervisor.pid(s, name) for name in supervisor.programs(s) if name.startswith("airflow-")]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for root in [p for p in pids if p]:
        for pid in _tree(root):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _tree(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return found


def freshness(args: argparse.Namespace) -> dict:
    """Benchmark 11's child: its own stack with Airflow's services, the sample deliveries through once
    (so that the datasets exist on CKAN), then ``args.runs`` deliveries of ``args.rows`` rows, each
    followed to CKAN; then Airflow's CPU use over ``args.idle_s`` seconds with nothing arriving."""
    from demo.samples import deliver_samples
    from kho.catalog import catalog
    from kho.operations import stack
    from kho.operations.airflow_api import Airflow
    from kho.settings import settings

    s = settings()
    _up(s)
    api = Airflow(s)
    try:
        _wait_for_dag(api, f"land__{HERITAGE}")
        since = datetime.now(UTC)
        deliver_samples(HERITAGE, s)
        warm = timed_pipeline([HERITAGE], s, since)
        runs = [one_delivery(s, api, args.rows, edition) for edition in range(1, args.runs + 1)]
        time.sleep(30)  # let the last runs' processes end
        before, started = airflow_cpu_seconds(s), time.perf_counter()
        time.sleep(args.idle_s)
        used, wall = airflow_cpu_seconds(s) - before, time.perf_counter() - started
    finally:
        if not args.keep:
            stack.down(s)
    return {
        "datasets": len(catalog().datasets),
        "warm_ok": warm["ok"],
        "runs": runs,
        "idle": {"seconds": round(wall, 1), "cpu_seconds": round(used, 2), "share_of_one_core": used / wall},
    }
