"""Benchmark 9: dbt's incremental build of ``fct_crop_production_commune`` after 1% new rows, against a
full refresh.

The fact is fed by per-delivery raw loads (``raw_agriculture.crop_production_commune``, one row per commune
of a sheet, wide as printed) through a staging view and an intermediate view that matches commune names
and keeps, per year, season, crop and commune, the latest load's figures. The benchmark runs in a database
of its own on Kho's PostgreSQL (``bench/database.py``): the raw table as ``kho.landing.land`` creates it, the
reference seeds the fact needs (``dbt seed``), then generated deliveries landed with COPY, exactly as
``kho.landing.land`` leaves them (provenance columns, name keys):

* one delivery per year, each a workbook of three sheets ("Vụ Đông Xuân <year>": spring paddy and
  maize; "Vụ Mùa <year>": main-season paddy; "Năm <year>": maize, cassava, peanuts, tea), one row per
  commune of Tuyên Quang (the dbt var ``kho_province_code``) that a name denotes unambiguously, its
  official name as written; seven fact rows per commune and year, until the fact holds ``--dbt-rows``
  (5,000,000: years from 2000 on, as the province has about 330 communes);
* ``dbt run --full-refresh --select +fct_crop_production_commune`` (the fact and everything upstream);
* one more delivery, ``--dbt-new-share`` (1%) of the fact's rows: half a revision of figures already in
  the fact (changed values, the latest load wins), half new communes and years;
* ``dbt run --select +fct_crop_production_commune``: the fact's incremental build (timed), then its
  count and content hash;
* ``dbt run --full-refresh`` again, on the same data (timed: the baseline), count and hash again. They
  must be equal, or the benchmark fails: the incremental fact is the full refresh's.

Each dbt command's wall time is measured (dbt starts, parses from its partial-parse file, connects), the
fact model's own build time is taken from dbt's ``run_results.json`` and its statements' from dbt's JSON
log (the select that builds it, the merge). The ratio judged is the fact's incremental build time over its
full-refresh time; the commands' wall-time ratio is reported beside it, and so is the incremental select
run again with nothing new (what reading the upstream views costs). The fact's tests (``dbt test``) are
timed once apart: they read the whole table whichever way it was built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import common

NUMBER = 9
NAME = "dbt_incremental"
TARGET = 0.05
DATABASE = "kho_bench_dbt"
DATASET = "crop_production_commune"
MODEL = "fct_crop_production_commune"
SELECT = f"+{MODEL}"
DEFAULT_ROWS = 5_000_000
DEFAULT_NEW_SHARE = 0.01

# the delivered table's column groups, as in the catalog entry; sheet -> the groups it fills
GROUPS = ["spring_paddy", "winter_paddy", "spring_maize", "maize", "cassava", "peanut", "tea"]
SHEETS = [
    ("Vụ Đông Xuân {year}", ["spring_paddy", "spring_maize"]),
    ("Vụ Mùa {year}", ["winter_paddy"]),
    ("Năm {year}", ["maize", "cassava", "peanut", "tea"]),
]
# plausible yields (t/ha) per group, for the generated figures
YIELDS = {
    "spring_paddy": (5.2, 6.6),
    "winter_paddy": (4.6, 5.9),
    "spring_maize": (3.8, 5.6),
    "maize": (3.5, 5.4),
    "cassava": (15.0, 24.0),
    "peanut": (1.6, 2.8),
    "tea": (7.0, 12.0),
}
POOL = 997  # distinct figure sets per group; a revision picks another


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME}: dbt incremental build against a full refresh")
    group.add_argument(
        "--dbt-rows",
        type=int,
        default=common.env_int("KHO_BENCH_DBT_ROWS", DEFAULT_ROWS),
        metavar="N",
        help=f"rows of {MODEL} before the new delivery (default 5,000,000)",
    )
    group.add_argument(
        "--dbt-new-share",
        type=float,
        default=common.env_float("KHO_BENCH_DBT_NEW_SHARE", DEFAULT_NEW_SHARE),
        metavar="F",
        help="the new delivery's rows as a share of the fact's (default 0.01)",
    )
    group.add_argument(
        "--dbt-skip-tests", action="store_true", help="do not time the fact's dbt tests (dbt test) apart"
    )


def small(opts: argparse.Namespace) -> None:
    if opts.dbt_rows == DEFAULT_ROWS:
        opts.dbt_rows = 20_000
    opts.dbt_skip_tests = True


# --- the generated deliveries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Commune:
    name: str  # the official name, as a table writes it
    key: str  # kho.landing.names.match_key of it, as kho.landing.land stores it


def communes(conn, province_code: str) -> dict[bool, list[Commune]]:
    """The communes a name denotes unambiguously, for figures before 2025 (False) and from 2025 (True).

    The same rule as int_crop_production_commune__matched: a name means the unit of the figures' own list
    (2024 before 2025, else 2025) when it is there, else the other list's; only names that denote one unit.
    """
    found = {}
    for from_2025 in (False, True):
        rows = conn.execute(
            """
            select alias, alias_key from (
                select distinct on (alias_key) alias, alias_key, status
                from reference.ref_commune_aliases
                where province_code = %s
                order by alias_key, (vintage = %s) desc
            ) as preferred
            where status = 'unique'
            order by alias_key
            """,
            [province_code, "2025" if from_2025 else "2024"],
        ).fetchall()
        found[from_2025] = [Commune(name, key) for name, key in rows]
    return found


def _figures() -> dict[str, list[str]]:
    """Per group, POOL sets of (area, yield q/ha, yield t/ha, production) as COPY text; production is
    area x yield, rounded to 0.1 t as the department's tables are."""
    rng = random.Random(20250701)
    pools: dict[str, list[tuple[str, str]]] = {}
    for group in GROUPS:
        low, high = YIELDS[group]
        sets = []
        for _ in range(POOL):
            area = round(rng.uniform(5, 600), 1)
            yield_t = round(rng.uniform(low, high), 2)
            production = round(area * yield_t, 1)
            sets.append(
                (f"{area}\t{yield_t * 10:.1f}\t\\N\t{production}", f"{area}\t\\N\t{yield_t}\t{production}")
            )
        pools[group] = sets
    return {  # "<group>:q" in quintals/ha, "<group>:t" in t/ha
        f"{group}:{unit}": [s[0 if unit == "q" else 1] for s in pools[group]]
        for group in GROUPS
        for unit in "qt"
    }


EMPTY_GROUP = "\t".join(["\\N"] * 4)


@dataclass
class Plan:
    """Which commune-years each delivery holds. ``pairs`` are (year, commune index) in order; the first
    deliveries hold one year each; the last revises ``revised`` pairs before the held-back ``new`` ones."""

    communes: dict[bool, list[Commune]]
    pairs: list[tuple[int, int]]
    new: int
    revised: int

    @classmethod
    def make(cls, communes: dict[bool, list[Commune]], fact_rows: int, new_share: float) -> Plan:
        initial = math.ceil(fact_rows / len(GROUPS))
        touched = max(2, round(initial * new_share))
        new = touched // 2
        total = initial + new
        pairs: list[tuple[int, int]] = []
        year = 2000
        while len(pairs) < total:
            for i in range(len(communes[year >= 2025])):
                pairs.append((year, i))
                if len(pairs) == total:
                    break
            year += 1
        return cls(communes, pairs, new=new, revised=touched - new)

    @property
    def initial_pairs(self) -> list[tuple[int, int]]:
        return self.pairs[: len(self.pairs) - self.new]

    @property
    def new_delivery(self) -> list[tuple[int, int, int]]:
        """(year, commune, version): the revised pairs (version 1) then the new ones (version 0)."""
        start = len(self.pairs) - self.new
        return [(y, c, 1) for y, c in self.pairs[start - self.revised : start]] + [
            (y, c, 0) for y, c in self.pairs[start:]
        ]

    def fact_rows(self, final: bool) -> int:
        return len(GROUPS) * (len(self.pairs) if final else len(self.initial_pairs))


COLUMNS = [
    "_load_id", "_source_file", "_file_sha256", "_source_row", "_loaded_at",
    "report_sheet", "district_name", "commune_name", "commune_name_key",
    *[f"{g}_{m}" for g in GROUPS for m in ("area_ha", "yield_q_ha", "yield_t_ha", "production_t")],
]  # fmt: skip


class Deliveries:
    """COPY text of deliveries as kho.landing.land lands them: provenance, the sheet, the name, its key, figures."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.figures = _figures()
        self.clock = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
        self.count = 0

    def delivery(self, items: list[tuple[int, int, int]]) -> tuple[str, int, bytes]:
        """One delivery (a workbook; one sheet per period and year in it): load id, raw rows, COPY text."""
        self.count += 1
        load_id = str(uuid.UUID(int=(0x4B484F << 96) | self.count))
        loaded_at = (self.clock + timedelta(hours=self.count)).isoformat()
        years = sorted({y for y, _, _ in items})
        source_file = f"dien_tich_nang_suat_theo_xa_{years[0]}-{years[-1]}.xlsx"
        sha = hashlib.sha256(load_id.encode()).hexdigest()
        lines: list[str] = []
        for sheet, groups in SHEETS:
            row = 6  # the title block and the two-row header come first
            for year, index, version in items:
                commune = self.plan.communes[year >= 2025][index]
                unit = "q" if year < 2025 else "t"
                cells = []
                for g, group in enumerate(GROUPS):
                    if group in groups:
                        pick = (index * 7919 + year * 104_729 + g * 31 + version * 613) % POOL
                        cells.append(self.figures[f"{group}:{unit}"][pick])
                    else:
                        cells.append(EMPTY_GROUP)
                row += 1
                lines.append(
                    f"{load_id}\t{source_file}\t{sha}\t{row}\t{loaded_at}\t{sheet.format(year=year)}\t\\N\t"
                    f"{commune.name}\t{commune.key}\t" + "\t".join(cells)
                )
        return load_id, len(lines), ("\n".join(lines) + "\n").encode()


def land(conn, deliveries: Deliveries, items: list[tuple[int, int, int]]) -> tuple[str, int]:
    """COPY one delivery into the raw table; its load id and raw rows."""
    from psycopg import sql

    load_id, rows, data = deliveries.delivery(items)
    target = sql.Identifier("raw_agriculture", DATASET)
    stmt = sql.SQL("copy {} ({}) from stdin").format(target, sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])
    return load_id, rows


def land_initial(conn, deliveries: Deliveries) -> tuple[int, int]:
    """One delivery per year of the plan's initial pairs; (deliveries, raw rows)."""
    by_year: dict[int, list[tuple[int, int, int]]] = {}
    for year, index in deliveries.plan.initial_pairs:
        by_year.setdefault(year, []).append((year, index, 0))
    rows = 0
    for year in sorted(by_year):
        rows += land(conn, deliveries, by_year[year])[1]
        conn.commit()
    return len(by_year), rows


# --- dbt ---------------------------------------------------------------------------------------------------


class Dbt:
    """dbt against the benchmark's database, with its own target and log folders (the project's
    ``target/manifest.json`` belongs to the running stack), through one long-lived dbt process
    (``kho.conforming.dbt.DbtSession``), as a warehouse run can: each command after the first starts no
    Python, and after ``parse`` none parses the project again."""

    def __init__(self, s, workdir: Path):
        from kho.conforming.dbt import DbtSession

        self.s, self.target, self.logs = s, workdir / "dbt-target", workdir / "dbt-logs"
        self.session = DbtSession(s)

    def close(self) -> None:
        self.session.close()

    def __call__(self, *args: str) -> dict:
        log = self.logs / "dbt.log"
        offset = log.stat().st_size if log.exists() else 0
        argv = [
            *args,
            "--target-path",
            str(self.target),
            "--log-path",
            str(self.logs),
            "--log-format-file",
            "json",
        ]
        start = time.perf_counter()
        done = self.session.run(argv, check=False)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        results = json.loads((self.target / "run_results.json").read_text()) if args[0] != "parse" else {}
        runs = results.get("results", [])
        nodes = {_node_name(r["unique_id"]): round(r["execution_time"], 2) for r in runs}
        # what the adapter did: "INSERT 0 5000000" for a table built whole, "MERGE 50000" for an incremental run
        said = {_node_name(r["unique_id"]): (r.get("adapter_response") or {}).get("_message") for r in runs}
        return {
            "seconds": round(seconds, 2),
            "nodes": nodes,
            "fact_said": said.get(MODEL),
            "fact_statements": _statements(log, offset, f"model.kho.{MODEL}"),
        }

    def compiled_fact(self) -> str:
        """The fact's select as dbt last compiled it (after an incremental run: with its filter)."""
        return (self.target / "compiled" / "kho" / "models" / "marts" / f"{MODEL}.sql").read_text()


def _node_name(unique_id: str) -> str:
    """``model.kho.<name>`` -> name; a data test's id ends with a hash, its name comes before it."""
    parts = unique_id.split(".")
    return parts[2] if parts[0] == "test" else parts[-1]


def _statements(log: Path, offset: int, unique_id: str) -> list[tuple[str, float]]:
    """(status, seconds) of the node's SQL statements that took 50 ms or more, from dbt's JSON log."""
    found = []
    with log.open(encoding="utf-8") as lines:
        lines.seek(offset)
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            data = event.get("data") or {}
            if (event.get("info") or {}).get("name") != "SQLQueryStatus":
                continue
            if (data.get("node_info") or {}).get("unique_id") == unique_id and data.get("elapsed", 0) >= 0.05:
                found.append((data.get("status"), round(data["elapsed"], 2)))
    return found


def fact_digest(conn) -> dict:
    """Row count and an order-free hash of every row of the fact (the sum of 60 bits of each row's md5)."""
    count, total = conn.execute(
        "select count(*), coalesce(sum(('x' || left(md5(f::text), 15))::bit(60)::bigint), 0)::text"
        " from marts.fct_crop_production_commune as f"
    ).fetchone()
    return {"rows": count, "hash": total}


def prepare(s, workdir: Path) -> Dbt:
    """The benchmark database: roles dbt grants to, the raw table as kho.landing.land makes it, the seeds."""
    import psycopg

    from bench.database import ensure_group_roles
    from kho.catalog import catalog
    from kho.conforming.access import AGENCY_GROUP, OPEN_READER
    from kho.landing.land import ensure_raw_table

    ensure_group_roles(s, [AGENCY_GROUP, OPEN_READER])
    with psycopg.connect(s.warehouse_url) as conn:
        ensure_raw_table(conn, catalog().dataset(DATASET))
    dbt = Dbt(s, workdir)
    dbt("seed", "--select", SELECT, "--quiet")
    return dbt


def province_code() -> str:
    import yaml

    project = yaml.safe_load((common.REPO / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    return str(project["vars"]["kho_province_code"])


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    from bench.database import drop, fresh

    s = fresh(DATABASE, home=workdir / "home")
    dbt = None
    try:
        dbt = prepare(s, workdir)
        return _measure(opts, s, dbt)
    finally:
        if dbt is not None:
            dbt.close()
        drop(s)


def _measure(opts: argparse.Namespace, s, dbt: Dbt) -> dict:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(s.warehouse_url) as conn:
        plan = Plan.make(communes(conn, province_code()), opts.dbt_rows, opts.dbt_new_share)
        deliveries = Deliveries(plan)
        loads, raw_rows = land_initial(conn, deliveries)
        conn.execute("analyze raw_agriculture.crop_production_commune")
        conn.commit()
    setup_s = time.perf_counter() - started
    print(f"  {raw_rows:,} raw rows in {loads:,} deliveries ({setup_s:.0f} s to set up)", flush=True)

    dbt("parse", "--quiet")  # the partial-parse file every run below starts from
    first = dbt("run", "--select", SELECT, "--full-refresh")
    print(f"  full refresh: {first['seconds']:.1f} s (fact {first['nodes'].get(MODEL)} s)", flush=True)
    with psycopg.connect(s.warehouse_url) as conn:
        before = fact_digest(conn)
        _, new_raw = land(conn, deliveries, plan.new_delivery)
        conn.commit()
    incremental = dbt("run", "--select", SELECT)
    print(
        f"  incremental: {incremental['seconds']:.1f} s (fact {incremental['nodes'].get(MODEL)} s)",
        flush=True,
    )
    with psycopg.connect(s.warehouse_url) as conn:
        after_incremental = fact_digest(conn)
        # The incremental select once more, now that nothing is new: what reading the upstream views costs
        started = time.perf_counter()
        (left,) = conn.execute(f"select count(*) from ({dbt.compiled_fact()}) as fact").fetchone()  # noqa: S608
        upstream_s = round(time.perf_counter() - started, 2)
    if not str(incremental["fact_said"]).startswith("MERGE") or left:
        raise RuntimeError(
            f"the second build was not incremental: {incremental['fact_said']}, {left} rows left"
        )
    tests = None if opts.dbt_skip_tests else dbt("test", "--select", MODEL)
    full = dbt("run", "--select", SELECT, "--full-refresh")
    print(
        f"  full refresh, same data: {full['seconds']:.1f} s (fact {full['nodes'].get(MODEL)} s)", flush=True
    )
    with psycopg.connect(s.warehouse_url) as conn:
        after_full = fact_digest(conn)
    if after_incremental != after_full:
        raise RuntimeError(
            f"the incremental fact differs from the full refresh: {after_incremental} != {after_full}"
        )
    expected = plan.fact_rows(final=True)
    if after_full["rows"] != expected or before["rows"] != plan.fact_rows(final=False):
        raise RuntimeError(f"fact rows {before['rows']:,} then {after_full['rows']:,}, planned {expected:,}")

    fact_incremental, fact_full = incremental["nodes"][MODEL], full["nodes"][MODEL]
    ratio = incremental["seconds"] / full["seconds"]  # whole dbt commands, as the issue now asks
    years = sorted({y for y, _ in plan.pairs})
    return {
        "benchmark": NUMBER,
        "name": NAME,
        "title": f"dbt incremental build of {MODEL} after {opts.dbt_new_share:.0%} new rows",
        "sizes": {
            "fact_rows_before": before["rows"],
            "fact_rows_after": after_full["rows"],
            "raw_rows_before": raw_rows,
            "new_delivery_raw_rows": new_raw,
            "new_delivery_fact_rows": len(plan.new_delivery) * len(GROUPS),
            "new_delivery_revised_fact_rows": plan.revised * len(GROUPS),
            "deliveries_before": loads,
            "communes": {"before_2025": len(plan.communes[False]), "from_2025": len(plan.communes[True])},
            "years": [years[0], years[-1]],
        },
        "project": {"label": "incremental dbt run", "value": incremental["seconds"], "unit": "s"},
        "baseline": {"label": "full refresh dbt run", "value": full["seconds"], "unit": "s"},
        "ratio": round(ratio, 3),
        "ratio_meaning": f"whole `dbt run --select +{MODEL}` command, incremental / full refresh",
        "fact_build_s": {
            "incremental": fact_incremental,
            "full_refresh": fact_full,
            "ratio": round(fact_incremental / fact_full, 3),
        },
        "target": f"<= {TARGET:.0%} of a full refresh",
        "met": ratio <= TARGET,
        "dbt_run_wall_s": {
            "first_full_refresh": first["seconds"],
            "incremental": incremental["seconds"],
            "full_refresh": full["seconds"],
            "ratio": round(incremental["seconds"] / full["seconds"], 3),
        },
        "incremental_select_nothing_new_s": upstream_s,
        "fact_statements_s": {  # (status, seconds) of the fact's statements: the build's select, the merge
            "incremental": incremental["fact_statements"],
            "full_refresh": full["fact_statements"],
        },
        "fact_said": {
            "first_full_refresh": first["fact_said"],
            "incremental": incremental["fact_said"],
            "full_refresh": full["fact_said"],
        },
        "nodes_s": {
            "first_full_refresh": first["nodes"],
            "incremental": incremental["nodes"],
            "full_refresh": full["nodes"],
        },
        "tests_s": tests,
        "same_as_full_refresh": after_incremental == after_full,
        "digest": after_full,
        "setup_s": round(setup_s, 1),
    }
