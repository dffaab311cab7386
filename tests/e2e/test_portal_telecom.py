"""admin_procedures, digital_infrastructure and dti_scores end to end on the real services: the demo portal's
database (read through its read-only login by the database connector) and the sample reports -> Airflow
(fetch, land, GX, dbt via Cosmos, GX, publish) -> warehouse and CKAN, each dataset by its own landing and
warehouse DAGs; then the same again, which must change nothing."""

from __future__ import annotations

import csv
import io
import shutil
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from demo import portal_db
from kho.catalog import catalog
from kho.operations.airflow_api import Airflow
from kho.operations.runs import last_run_tasks, run_pipeline, warehouse_dag
from kho.settings import REPO

pytestmark = pytest.mark.e2e

DATASETS = ["admin_procedures", "digital_infrastructure", "dti_scores"]
SAMPLES = {ds: sorted((REPO / "samples" / ds).glob("*.csv")) for ds in DATASETS[1:]}
MARTS = {ds: catalog().dataset(ds).publish.model for ds in DATASETS}


def run(s) -> None:
    """The pipeline for the three datasets; every landing DAG and warehouse DAG run must succeed."""
    messages: list[str] = []
    since = datetime.now(UTC)
    run_pipeline(DATASETS, s, echo=messages.append)
    log = "\n".join(messages)
    api = Airflow(s)
    for ds in DATASETS:
        # every landing run since: the one `kho run` started and any the inbox watcher started
        runs = [
            r
            for r in api.runs(f"land__{ds}", limit=10)
            if r.get("start_date") and r["start_date"] >= since.isoformat()[:19]
        ]
        assert runs, log
        assert {api.wait(f"land__{ds}", r["dag_run_id"])["state"] for r in runs} == {"success"}, log
    for ds in DATASETS:
        own = last_run_tasks(warehouse_dag(ds), s)
        assert own and set(own.values()) == {"success"}, f"{warehouse_dag(ds)}: {own}\n{log}"


def mart(warehouse, ds: str, columns: str = "*", where: str = "true") -> list[tuple]:
    query = sql.SQL("select {} from {} where {} order by 1, 2, 3").format(
        sql.SQL(columns), sql.Identifier("marts", MARTS[ds]), sql.SQL(where)
    )
    return warehouse.execute(query).fetchall()


def deliver(s) -> None:
    for ds, files in SAMPLES.items():
        inbox = s.inbox_dir / ds
        inbox.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, inbox / f.name)


def state(warehouse, ckan) -> dict:
    out = {}
    for ds in DATASETS:
        pkg = ckan.action.package_show(id=ds.replace("_", "-"))
        out[ds] = {
            "mart": mart(warehouse, ds),
            "loads": warehouse.execute(
                "select count(*) from kho_meta.loads where dataset = %s and status = 'landed'", [ds]
            ).fetchone()[0],
            "resources": [(r["id"], r["name"], r.get("kho_content_hash")) for r in pkg["resources"]],
            "modified": pkg["metadata_modified"],
        }
    return out


@pytest.fixture(scope="module")
def first_run(pipeline):
    """The shared pipeline run (tests/e2e/conftest.py), judged by these datasets' DAGs and tasks."""
    pipeline.assert_succeeded(DATASETS)
    return pipeline.s


# --- admin_procedures: the portal's own database -------------------------------------------------


def test_the_portal_extract_landed_whole(first_run, warehouse):
    loads = warehouse.execute(
        "select source_file, status, rows_delivered, rows_landed, rows_quarantined from kho_meta.loads"
        " where dataset = 'admin_procedures'"
    ).fetchall()
    assert len(loads) == 1
    name, status, delivered, landed, quarantined = loads[0]
    assert name.startswith("admin_procedures-") and name.endswith(".csv")
    assert (status, quarantined) == ("landed", 0) and delivered == landed > 1000


def test_monthly_figures_add_up_to_the_portals_dossiers(first_run, warehouse):
    with psycopg.connect(portal_db.reader_url(first_run)) as portal:
        dossiers, on_time, late, in_progress = portal.execute(
            "select count(*),"
            " count(*) filter (where trang_thai = 'da_giai_quyet' and ngay_tra_ket_qua <= han_xu_ly),"
            " count(*) filter (where trang_thai = 'da_giai_quyet' and ngay_tra_ket_qua > han_xu_ly),"
            " count(*) filter (where trang_thai = 'dang_xu_ly') from motcua.ho_so"
        ).fetchone()
    totals = mart(
        warehouse,
        "admin_procedures",
        "sum(received), sum(resolved_on_time), sum(resolved_late), sum(in_progress), count(distinct unit_code)",
    )[0]
    assert totals == (dossiers, on_time, late, in_progress, 60)
    assert Decimal("0.96") < Decimal(on_time) / dossiers < Decimal("0.99")  # ~97.5 %, as provinces report
    by_level = dict(
        warehouse.execute(
            "select unit_level, count(distinct commune_code_2025) from marts.fct_admin_procedure_monthly"
            " group by 1"
        ).fetchall()
    )
    assert by_level == {"department": 0, "commune": 40}  # every commune of the portal resolved
    low, high, online = mart(
        warehouse, "admin_procedures", "min(on_time_share), max(on_time_share), max(online_share)"
    )[0]
    assert low >= 0 and high <= 1 and online <= 1


# --- digital_infrastructure: quarterly reports, commune names written many ways -------------------


def report_rows(path: Path) -> tuple[list[dict[str, str]], dict[str, str] | None]:
    """A sample report's operator rows and its total row, read with nothing but the csv module."""
    text = path.read_text(encoding="utf-8-sig")
    delimiter = ";" if text.count(";") > text.count(",") else ","
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    start = next(i for i, line in enumerate(lines) if any("2G" in cell for cell in line))
    header = lines[start]
    body, total = [], None
    for line in lines[start + 1 :]:
        if not line or not line[0]:
            continue
        if line[0].startswith("Tổng cộng"):
            total = dict(zip(header, line, strict=False))
        elif line[0].isdigit() or line[0] == "2025":
            body.append(dict(zip(header, line, strict=True)))
    return body, total


def number(text: str) -> int:
    return int(text.replace(".", "")) if text else 0


def test_every_station_delivered_is_published_or_reported_unmatched(first_run, warehouse):
    for path, quarter in zip(SAMPLES["digital_infrastructure"], (2, 3), strict=True):
        body, total = report_rows(path)
        delivered = sum(number(r[h]) for r in body for h in r if "2G" in h or "4G" in h or "5G" in h)
        if total:  # the report's own total row, which landing does not read
            assert delivered == sum(number(total[h]) for h in total if "2G" in h or "4G" in h or "5G" in h)
        published = mart(
            warehouse, "digital_infrastructure", "sum(stations_total), 0, 0", f"quarter = {quarter}"
        )
        unmatched = warehouse.execute(
            "select coalesce(sum(stations_total), 0) from intermediate.int_digital_infrastructure__unmatched"
            " where quarter = %s",
            [quarter],
        ).fetchone()[0]
        assert published[0][0] + unmatched == delivered, path.name


def test_commune_names_resolve_even_when_two_units_share_the_key(first_run, warehouse):
    communes = dict(
        warehouse.execute(
            "select quarter, count(*) from marts.fct_digital_infrastructure group by quarter"
        ).fetchall()
    )
    assert communes == {2: 40, 3: 40}
    assert warehouse.execute(
        "select count(*) from intermediate.int_digital_infrastructure__unmatched"
    ).fetchone() == (0,)
    # "Vinh Quang" is the key of a town and of a commune of the province; the report wrote "Xã"
    vinh_quang = warehouse.execute(
        "select match_status, commune_code_2025, match_candidates from intermediate.int_digital_infrastructure__resolved"
        " where commune_name = 'Xã Vinh Quang'"
    ).fetchall()
    assert vinh_quang == [("matched", "02350", "01021 Thị trấn Vinh Quang; 02356 Xã Vinh Quang")]
    # a ward reported under the name of a ward merged into it (Phan Thiết -> Minh Xuân)
    minh_xuan = mart(
        warehouse,
        "digital_infrastructure",
        "quarter, delivered_names, households",
        "commune_code_2025 = '02215'",
    )
    assert [q for q, _, _ in minh_xuan] == [2, 3] and all(h > 0 for _, _, h in minh_xuan)
    kpis = mart(
        warehouse,
        "digital_infrastructure",
        "min(fibre_household_share), max(fibre_household_share), min(stations_per_1000_households)",
    )[0]
    assert 0 < kpis[0] <= kpis[1] < 1 and kpis[2] > 1


# --- dti_scores --------------------------------------------------------------------------------------


def test_dti_scores_per_unit_with_the_assessed_years_communes(first_run, warehouse):
    groups = warehouse.execute(
        "select year, unit_level, count(*), min(dti), max(dti), max(rank_in_level), max(units_in_level)"
        " from marts.fct_dti_score group by 1, 2 order by 1, 2"
    ).fetchall()
    assert [(y, level, n) for y, level, n, *_ in groups] == [
        (2023, "commune", 114),
        (2023, "department", 20),
        (2024, "commune", 114),
        (2024, "department", 20),
    ]
    for _, level, _, low, high, worst, ranked in groups:
        assert 0 < low < high < 1
        assert worst <= ranked == (116 if level == "commune" else 20)
    ids = {r[0] for r in mart(warehouse, "dti_scores", "admin_unit_id, 0, 0", "unit_level = 'commune'")}
    assert all(i.startswith("2024:") for i in ids)  # 2023-2024 scores belong to the former communes
    unmatched = warehouse.execute(
        "select year, count(*), bool_and(match_status = 'ambiguous') from intermediate.int_dti_scores__unmatched"
        " group by 1 order by 1"
    ).fetchall()
    # "Xã Tân Thành" and "Xã Tân Tiến": two former communes each of exactly that name
    assert unmatched == [(2023, 2, True), (2024, 2, True)]


# --- CKAN ---------------------------------------------------------------------------------------------


def test_ckan_has_each_dataset_and_its_rows(first_run, warehouse, ckan_anonymous):
    for ds_id in DATASETS:
        ds = catalog().dataset(ds_id)
        pkg = ckan_anonymous.action.package_show(id=ds_id.replace("_", "-"))
        assert pkg["title"] == ds.title_vi
        assert pkg["organization"]["title"] == catalog().agencies[ds.agency].name_vi
        rows = warehouse.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier("marts", MARTS[ds_id]))
        ).fetchone()[0]
        mart_resources = [r for r in pkg["resources"] if not r.get("kho_kpi")]  # not the KPI tables beside it
        csv_resources = [r for r in mart_resources if r["format"].upper() == "CSV"]
        assert len(csv_resources) == 1
        formats = sorted(r["format"] for r in mart_resources)
        assert formats == ["CSV", "JSON", "XLSX"], f"{ds_id}: {formats}"
        with urllib.request.urlopen(csv_resources[0]["url"]) as response:
            raw = response.read()
        assert raw.startswith(b"\xef\xbb\xbf")
        assert len(list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))) == rows
        active = [r for r in mart_resources if r.get("datastore_active")]
        assert active, f"{ds_id}: no DataStore table"
        assert ckan_anonymous.action.datastore_search(resource_id=active[0]["id"], limit=0)["total"] == rows


def test_running_again_changes_nothing(first_run, warehouse, ckan):
    before = state(warehouse, ckan)
    deliver(first_run)  # the same reports again; the portal has not changed either
    run(first_run)
    assert state(warehouse, ckan) == before
    for ds in DATASETS:
        assert not list((first_run.inbox_dir / ds).glob("*"))  # fetched and delivered files were consumed
