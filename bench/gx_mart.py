"""Benchmark 8: Great Expectations validating a 1M-row mart, against one hand-written SQL query making the
same checks.

The mart is ``marts.fct_crop_production_commune`` as dbt builds it (its contract's columns and types, read
from the model's yml, and its primary key), in a database of the benchmark's own on Kho's PostgreSQL
(``bench/database.py``), filled with ``--gx-rows`` generated rows (1,000,000): every commune of the 2024
list (codes and names from the reference seeds), years from 2000 on, the crops and seasons the dataset
documents, plausible areas and yields with production = area x yield; a few rows in a thousand leave the
plausibility bands or disagree by more than 5%, so the warnings fire as they do on real data, and no
critical expectation fails.

Kho: ``kho.validating.quality.validate("crop_production_commune", "mart")``, the function the warehouse DAG calls,
with the repository's suite ``expectations/crop_production_commune/mart.yml``: the GX objects rebuilt from
the suite file, one Checkpoint run with every metric computed in PostgreSQL, a few unexpected values of
each failed expectation, the result written to ``kho_meta.quality_runs`` (the Data Docs page is rendered
afterwards, as the DAGs do once for all their validations, and timed apart). Its first call in a process (importing GX, creating the GX project)
is reported apart; the figure is the best of ``--gx-repeat`` calls after it, as the pipeline runs it once
the project exists. GX's SQL statements are timed by kind (SQLAlchemy events) to show where its time goes.

Baseline: :data:`CHECKS_SQL`, one query written by hand that computes every expectation of the same suite
(counts of rows breaking each, and the row count), best of ``--gx-repeat`` after one
warm-up run, in a session with the settings ``kho.validating.quality`` gives GX's (``SESSION_OPTIONS``). The two
sides' runs alternate (the machine is shared). The benchmark fails unless both find the same expectations
failing with the same counts.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path

from bench import common

NUMBER = 8
NAME = "gx_mart"
TARGET = 2.0
DATABASE = "kho_bench_gx"
DATASET = "crop_production_commune"
MODEL = "fct_crop_production_commune"
DEFAULT_ROWS = 1_000_000

# One query, written by hand, for every expectation of expectations/crop_production_commune/mart.yml, in
# the file's order: how many rows break it (GX's unexpected_count: nulls are not counted by the column
# checks), and the row count. %(max_year)s is the suite's run parameter. Like the suite, it does not check
# the key's uniqueness: the table's primary key does (expectations/README.md).
CHECKS_SQL = """
select
    count(*) as row_count,
    count(*) filter (where year is null) as year_not_null,
    count(*) filter (where season is null) as season_not_null,
    count(*) filter (where crop is null) as crop_not_null,
    count(*) filter (where commune_unit_id is null) as commune_unit_id_not_null,
    count(*) filter (where commune_unit_id !~ '^(2024|2025):[0-9]{5}$') as commune_unit_id_format,
    count(*) filter (where year < 2000 or year > %(max_year)s) as year_range,
    count(*) filter (where crop not in ('paddy', 'maize', 'cassava', 'peanuts', 'tea')) as crop_set,
    count(*) filter (where season not in ('spring', 'winter', 'whole_year')) as season_set,
    count(*) filter (where commune_name is null) as commune_name_not_null,
    count(*) filter (where commune_code_2025 !~ '^[0-9]{5}$') as commune_code_2025_format,
    count(*) filter (where yield_unit_delivered not in ('quintals/ha', 't/ha')) as yield_unit_set,
    count(*) filter (where planted_area_ha < 0 or planted_area_ha > 20000) as area_range,
    count(*) filter (where production_t < 0) as production_min,
    count(*) filter (where yield_t_per_ha < 0 or yield_t_per_ha > 60) as yield_range,
    count(*) filter (
        where production_discrepancy_pct < -50 or production_discrepancy_pct > 50
    ) as discrepancy_critical,
    count(*) filter (
        where production_discrepancy_pct < -5 or production_discrepancy_pct > 5
    ) as discrepancy_warning,
    count(*) filter (where crop = 'paddy' and (yield_t_per_ha < 2.5 or yield_t_per_ha > 9)) as paddy_yield,
    count(*) filter (where crop = 'maize' and (yield_t_per_ha < 1.5 or yield_t_per_ha > 9)) as maize_yield,
    count(*) filter (
        where crop = 'cassava' and (yield_t_per_ha < 8 or yield_t_per_ha > 40)
    ) as cassava_yield,
    count(*) filter (
        where crop = 'peanuts' and (yield_t_per_ha < 1 or yield_t_per_ha > 4.5)
    ) as peanuts_yield,
    count(*) filter (where crop = 'tea' and (yield_t_per_ha < 2 or yield_t_per_ha > 16)) as tea_yield,
    (
        select count(*)
        from marts.fct_crop_production_commune as c
        inner join marts.fct_crop_production_commune as o
            on
                o.year = c.year and o.season = c.season and o.crop = c.crop
                and o.commune_unit_id <> c.commune_unit_id
                and o.planted_area_ha = c.planted_area_ha and o.production_t = c.production_t
        where c.planted_area_ha > 0
    ) as copied_row
from marts.fct_crop_production_commune
"""

# (crop, season, yield band t/ha that the generated figures keep to)
CROPS = [
    ("paddy", "spring", 5.2, 6.6),
    ("paddy", "winter", 4.6, 5.9),
    ("maize", "spring", 3.8, 5.6),
    ("maize", "whole_year", 3.5, 5.4),
    ("cassava", "whole_year", 15.0, 24.0),
    ("peanuts", "whole_year", 1.6, 2.8),
    ("tea", "whole_year", 7.0, 12.0),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME}: Great Expectations on a mart against one SQL query")
    group.add_argument(
        "--gx-rows",
        type=int,
        default=common.env_int("KHO_BENCH_GX_ROWS", DEFAULT_ROWS),
        metavar="N",
        help=f"rows of the generated {MODEL} (default 1,000,000)",
    )
    group.add_argument(
        "--gx-repeat",
        type=int,
        default=common.env_int("KHO_BENCH_GX_REPEAT", 3),
        metavar="N",
        help="timed runs of each side (interleaved) after a warm-up of each; the best counts (default 3)",
    )


def small(opts: argparse.Namespace) -> None:
    if opts.gx_rows == DEFAULT_ROWS:
        opts.gx_rows = 20_000
    opts.gx_repeat = 1


# --- the mart ----------------------------------------------------------------------------------------------


def contract_columns() -> list[tuple[str, str]]:
    """(name, data type) of the mart's columns, from its dbt contract."""
    import yaml

    path = common.REPO / "dbt_project" / "models" / "marts" / f"{MODEL}.yml"
    (model,) = [m for m in yaml.safe_load(path.read_text(encoding="utf-8"))["models"] if m["name"] == MODEL]
    return [(c["name"], c["data_type"]) for c in model["columns"]]


def communes() -> list[tuple[str, str, str | None, str | None]]:
    """(code, name, code 2025, name 2025) of every commune of the 2024 list, from the reference seeds; the
    2025 commune only where the old one went whole into it."""
    seeds = common.REPO / "dbt_project" / "seeds" / "reference"

    def rows(name: str) -> list[dict]:
        with (seeds / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    names_2025 = {r["code"]: r["name"] for r in rows("ref_admin_units_2025") if r["level"] == "commune"}
    whole = {
        r["old_code"]: r["new_code"]
        for r in rows("ref_admin_crosswalk_2025")
        if r["level"] == "commune" and r["overlap"] == "full"
    }
    found = []
    for r in rows("ref_admin_units_2024"):
        if r["level"] == "commune":
            new = whole.get(r["code"])
            found.append((r["code"], r["name"], new, names_2025.get(new) if new else None))
    return found


def make_mart(conn, rows: int) -> None:
    """``marts.<MODEL>`` with the contract's columns and key, and ``rows`` generated rows."""
    from psycopg import sql

    conn.execute("create schema if not exists marts")
    columns = contract_columns()
    conn.execute(
        sql.SQL("create table marts.{} ({}, primary key (year, season, crop, commune_unit_id))").format(
            sql.Identifier(MODEL),
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns),
        )
    )
    conn.execute("create temporary table units (n int, code text, name text, code_2025 text, name_2025 text)")
    with conn.cursor() as cur, cur.copy("copy units from stdin") as copy:
        for n, unit in enumerate(communes()):
            copy.write_row((n, *unit))
    conn.execute("create temporary table crops (n int, crop text, season text, low numeric, high numeric)")
    with conn.cursor() as cur, cur.copy("copy crops from stdin") as copy:
        for n, crop in enumerate(CROPS):
            copy.write_row((n, *crop))
    (units,) = conn.execute("select count(*) from units").fetchone()
    per_year = units * len(CROPS)
    years = -(-rows // per_year)
    # Figures from hashes of the row's key: the same table every run. h1..h3 in [0, 1).
    conn.execute(
        """
        insert into marts.fct_crop_production_commune
        with keys as (
            select
                y.year, c.crop, c.season, c.low, c.high, u.code, u.name, u.code_2025, u.name_2025,
                (y.year - 2000) * %(per_year)s + c.n * %(units)s + u.n as i
            from generate_series(2000, 2000 + %(years)s - 1) as y (year)
            cross join crops as c cross join units as u
        ),
        hashed as (
            select
                *,
                (hashint8(i) & 1048575) / 1048576.0 as h1,
                (hashint8(i + 7919) & 1048575) / 1048576.0 as h2,
                (hashint8(i + 104729) & 1048575) / 1048576.0 as h3
            from keys
            where i < %(rows)s
        ),
        figures as (
            select
                *,
                round(5 + h1 * 595, 1) as area,
                -- one row in a thousand below its crop's band (a warning), the rest within it
                round(case when h2 < 0.001 then low * 0.25 else low + h2 * (high - low) end, 2) as yield_t,
                case when h3 < 0.0005 then 1.12 else 1 end as production_error
            from hashed
        )
        select
            year,
            season,
            crop,
            '2024:' || code,
            '2024',
            code,
            name,
            code_2025,
            name_2025,
            name,
            case when season = 'whole_year' then 'Năm ' else 'Vụ ' end || year,
            area,
            round(area * yield_t * production_error, 1) as production_t,
            yield_t,
            case when year < 2025 then 'quintals/ha' else 't/ha' end,
            round(100 * (round(area * yield_t * production_error, 1) - area * yield_t) / (area * yield_t), 2),
            'bench-' || year,
            timestamptz '2025-07-01 08:00+07' + (year - 2000) * interval '1 day'
        from figures
        """,
        {"per_year": per_year, "units": units, "years": years, "rows": rows},
    )
    conn.execute("analyze marts.fct_crop_production_commune")  # as autovacuum would soon after dbt


# --- the two sides -----------------------------------------------------------------------------------------


def sql_checks(conn, max_year: int) -> dict[str, int]:
    cur = conn.execute(CHECKS_SQL, {"max_year": max_year})
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def sql_findings(counts: dict[str, int], entries) -> list[tuple[str, str | None, int]]:
    """(expectation, column, rows breaking it) of the checks that fail, as GX would report them."""
    names = [n for n in counts if n != "row_count"]
    if len(names) + 1 != len(entries):
        raise RuntimeError(
            f"the hand-written query checks {len(names) + 1} expectations, the suite has {len(entries)}: "
            "update CHECKS_SQL in bench/gx_mart.py with the suite"
        )
    found = []
    for entry, name in zip(entries[1:], names, strict=True):  # entries[0] is the row count, min 1
        if counts[name]:
            column = (
                entry.kwargs.get("column")
                or ", ".join(entry.kwargs.get("column_list", []))
                or entry.kwargs.get("description")  # a cross-row rule is named by its description
            )
            found.append((entry.expectation, column, counts[name]))
    if counts["row_count"] < 1:
        found.append((entries[0].expectation, None, counts["row_count"]))
    return sorted(found)


def gx_findings(result) -> list[tuple[str, str | None, int]]:
    return sorted((f.expectation, f.column, _count(f)) for f in result.critical_failures + result.warnings)


def _count(finding) -> int:
    """Rows breaking the expectation: GX's unexpected count, or a cross-row rule's observed rows."""
    if finding.unexpected_count is not None:
        return finding.unexpected_count
    observed = re.fullmatch(r"observed ([0-9,]+)", finding.observed)
    return int(observed[1].replace(",", "")) if observed else -1


def run(opts: argparse.Namespace, workdir: Path) -> dict:
    from bench.database import drop, fresh

    s = fresh(DATABASE, home=workdir / "home")
    try:
        return _measure(opts, s)
    finally:
        drop(s)


def _measure(opts: argparse.Namespace, s) -> dict:
    import psycopg

    from kho.validating.quality import (
        SESSION_OPTIONS,
        build_data_docs,
        read_suite_file,
        run_parameters,
        suite_path,
        validate,
    )

    started = time.perf_counter()
    with psycopg.connect(s.warehouse_url) as conn:
        make_mart(conn, opts.gx_rows)
        conn.commit()
        (rows,) = conn.execute("select count(*) from marts.fct_crop_production_commune").fetchone()
        (size,) = conn.execute(
            "select pg_total_relation_size('marts.fct_crop_production_commune')"
        ).fetchone()
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        # what autovacuum does to a freshly filled table soon after dbt built it (statistics, visibility map)
        conn.execute("vacuum analyze marts.fct_crop_production_commune")
    print(f"  {rows:,} rows ({size / 2**20:,.0f} MB) in {time.perf_counter() - started:.0f} s", flush=True)

    entries = read_suite_file(suite_path(DATASET, "mart"))
    max_year = run_parameters()["max_year"]
    clock = StatementClock()

    def gx():
        return validate(DATASET, "mart", s=s)

    def sql():  # in a session set up as kho.validating.quality sets up GX's (work_mem)
        with psycopg.connect(s.warehouse_url, options=SESSION_OPTIONS) as conn:
            return sql_checks(conn, max_year)

    gx_first, _ = _timed(gx)  # imports GX, creates the GX project and its objects
    sql_warm, _ = _timed(sql)
    gx_times, sql_times, gx_parts = [], [], []
    for _ in range(max(opts.gx_repeat, 1)):  # interleaved: the machine is shared, its load drifts
        clock.start()
        seconds, result = _timed(gx)
        gx_times.append(seconds)
        gx_parts.append(clock.stop())
        seconds, counts = _timed(sql)
        sql_times.append(seconds)
    best = gx_times.index(min(gx_times))
    print(f"  GX {min(gx_times):.2f} s (first call {gx_first:.2f} s), SQL {min(sql_times):.2f} s", flush=True)

    # Rendering the Data Docs pages is not part of a validation: the DAGs do it once per task or run for
    # all of theirs (kho.validating.quality.build_data_docs). Timed apart, for the last run's page.
    docs_s, _ = _timed(lambda: build_data_docs([result.run_id], s=s))
    ours, theirs = gx_findings(result), sql_findings(counts, entries)
    if ours != theirs:
        raise RuntimeError(f"GX and the SQL query disagree:\n  GX:  {ours}\n  SQL: {theirs}")
    gx_s, sql_s = min(gx_times), min(sql_times)
    ratio = gx_s / sql_s
    return {
        "benchmark": NUMBER,
        "name": NAME,
        "title": f"Great Expectations on a {rows:,}-row mart against one SQL query",
        "sizes": {"rows": rows, "table_mb": round(size / 2**20), "expectations": len(entries)},
        "project": {"label": "kho.validating.quality.validate", "value": gx_s, "unit": "s"},
        "baseline": {"label": "one SQL query", "value": sql_s, "unit": "s"},
        "ratio": round(ratio, 2),
        "ratio_meaning": "validate() time / the SQL query's time",
        "target": f"<= {TARGET:g}x the SQL query",
        "met": ratio <= TARGET,
        "gx_runs_s": gx_times,
        "gx_first_call_s": gx_first,
        "gx_best_run_queries_s": gx_parts[best],
        "data_docs_page_s": docs_s,
        "sql_runs_s": sql_times,
        "sql_warm_up_s": sql_warm,
        "success": result.success,
        "failed_expectations": [
            f"{f.severity}: {f.summary}" for f in result.critical_failures + result.warnings
        ],
    }


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return round(time.perf_counter() - start, 3), out


class StatementClock:
    """Time GX's SQL statements (SQLAlchemy events), summed by kind: where validate()'s time goes."""

    KINDS = [  # (kind, text that tells it), first match wins
        ("key_uniqueness", "records_with_grouped_column_counts_subquery"),
        ("unexpected_values", "AS unexpected_values"),
        ("row_counts", 'AS "table.row_count"'),
        ("aggregates", "sum(CASE"),
    ]

    def __init__(self):
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.parts: dict[str, float] | None = None
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["kho_bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.parts is None or "kho_bench_started" not in conn.info:
            return
        seconds = time.perf_counter() - conn.info.pop("kho_bench_started")
        kind = next((k for k, text in self.KINDS if text in statement), "other")
        self.parts[kind] = self.parts.get(kind, 0.0) + seconds
        self.parts["statements"] = self.parts.get("statements", 0) + 1

    def start(self) -> None:
        self.parts = {}

    def stop(self) -> dict[str, float]:
        parts, self.parts = self.parts or {}, None
        return {k: round(v, 2) if k != "statements" else int(v) for k, v in parts.items()}
