"""Onboarding a dataset from a sample with the scaffold alone: `kho dataset new` on a copy of the repository's
declarative parts (catalog, dbt project, expectations), then the sample landed with `kho land`, its dbt lineage
built by real dbt against the real warehouse, and its mart read back. No file is edited by hand in between.

The copy keeps the working tree untouched; Kho is pointed at it with KHO_REPO, as a container mounting the
repository elsewhere would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from psycopg import sql

from kho.settings import REPO

DATA = REPO / "tests" / "data" / "onboarding"
SAMPLE = DATA / "danh_muc_di_tich_2026.csv"
DATASET = "heritage_sites_onboarded"
AGENCY = "culture_tourism"
MART = f"dim_{DATASET}"
PERSONAL = {"nguoi_phu_trach", "so_dien_thoai"}


def _copy(repo: Path) -> None:
    for part in ("catalog", "expectations"):
        shutil.copytree(REPO / part, repo / part)
    shutil.copytree(
        REPO / "dbt_project", repo / "dbt_project", ignore=shutil.ignore_patterns("target", "logs")
    )
    (repo / "ckanext-kho").symlink_to(REPO / "ckanext-kho")  # the portal's licences, read when publishing
    (repo / ".kho").mkdir()
    (repo / ".kho" / "venvs").symlink_to(REPO / ".kho" / "venvs")


@pytest.fixture(scope="module")
def onboarded(stack, warehouse, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    _copy(repo)
    env = {**os.environ, "KHO_REPO": str(repo), "COLUMNS": "200"}
    bin_dir = REPO / ".kho" / "venvs" / "main" / "bin"

    def kho(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(bin_dir / "kho"), *args], capture_output=True, text=True, env=env, cwd=repo, check=False
        )

    def dbt(*args: str) -> subprocess.CompletedProcess:
        code = "import sys; from kho.conforming.dbt import run_dbt; r = run_dbt(sys.argv[1:], check=False);"
        code += " print(r.stdout[-6000:], r.stderr[-3000:]); sys.exit(r.returncode)"
        return subprocess.run(
            [str(bin_dir / "python"), "-c", code, *args], capture_output=True, text=True, env=env, check=False
        )

    def cleanup():
        for relation in (
            ("marts", MART),
            ("intermediate", f"int_{DATASET}__latest"),
            ("staging", f"stg_{AGENCY}__{DATASET}"),
            (f"raw_{AGENCY}", DATASET),
        ):
            kind = "table" if relation[0] in ("marts", f"raw_{AGENCY}") else "view"
            warehouse.execute(
                sql.SQL(f"drop {kind} if exists {{}} cascade").format(sql.Identifier(*relation))
            )
        for table in ("loads", "quarantine", "refusal_reasons"):
            warehouse.execute(
                sql.SQL("delete from {} where dataset = %s").format(sql.Identifier("kho_meta", table)),
                [DATASET],
            )

    cleanup()
    new = kho(
        "dataset", "new", DATASET, "--agency", AGENCY, "--sample", str(SAMPLE),
        "--title-vi", "Danh mục di tích lịch sử - văn hóa và danh lam thắng cảnh",
        "--title-en", "Historical and cultural relics and scenic sites",
    )  # fmt: skip
    assert new.returncode == 0, new.stdout + new.stderr
    landed = kho("land", DATASET, str(SAMPLE))
    assert landed.returncode == 0, landed.stdout + landed.stderr
    # cautious: the tests of other marts that point at dim_admin_unit are not this dataset's
    built = dbt(
        "build", "--select", f"+{MART}", "dim_admin_unit", "--exclude", "resource_type:seed",
        "--indirect-selection", "cautious",
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    yield {"repo": repo, "new": new, "landed": landed, "kho": kho}
    cleanup()


def test_the_scaffold_writes_every_file_the_dataset_needs(onboarded):
    repo = onboarded["repo"]
    models = repo / "dbt_project" / "models"
    for path in (
        repo / "catalog" / AGENCY / f"{DATASET}.yml",
        models / "staging" / AGENCY / f"_{AGENCY}__{DATASET}__sources.yml",
        models / "staging" / AGENCY / f"stg_{AGENCY}__{DATASET}.sql",
        models / "staging" / AGENCY / f"stg_{AGENCY}__{DATASET}.yml",
        models / "intermediate" / f"int_{DATASET}__latest.sql",
        models / "marts" / f"{MART}.sql",
        models / "marts" / f"{MART}.yml",
        repo / "expectations" / DATASET / "raw.yml",
        repo / "expectations" / DATASET / "mart.yml",
    ):
        assert path.is_file(), f"not written: {path.relative_to(repo)}"
    project = (repo / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8")
    assert f"{MART}: {{+group: {AGENCY}, +grants: {{select: [kho_agency_reader]}}}}" in project


def test_the_catalog_entry_is_shared_with_the_columns_the_sample_shows(onboarded):
    entry = yaml.safe_load(
        (onboarded["repo"] / "catalog" / AGENCY / f"{DATASET}.yml").read_text(encoding="utf-8")
    )
    assert entry["classification"] == "shared"
    assert entry["source"]["ignore_columns"] == ["STT"]
    columns = {c["name"]: c for c in entry["columns"]}
    assert columns["ma_di_tich"]["key"] is True
    assert columns["ma_di_tich"]["source_names"] == ["Mã di tích"]
    assert columns["ma_di_tich"]["description_vi"] == "Mã di tích"
    assert columns["dia_chi"]["match"] == "address"
    assert {n for n, c in columns.items() if c.get("personal_data")} == PERSONAL
    assert (columns["nam_xep_hang"]["type"], columns["dien_tich_khoanh_vung_m2"]["type"]) == (
        "integer",
        "numeric",
    )
    assert columns["ngay_cap_nhat"]["type"] == "date"
    assert columns["so_dien_thoai"]["type"] == "text"  # leading zeros kept
    assert entry["retention_days"] == 730


def test_the_sample_lands_whole(onboarded):
    assert "12 rows delivered, 12 landed, 0 quarantined" in onboarded["landed"].stdout


def test_the_mart_has_every_site_with_its_commune_and_no_personal_data(onboarded, warehouse):
    columns = [
        r[0]
        for r in warehouse.execute(
            "select column_name from information_schema.columns where table_schema = 'marts'"
            " and table_name = %s",
            [MART],
        )
    ]
    assert not PERSONAL & set(columns)
    rows = warehouse.execute(
        sql.SQL(
            "select ma_di_tich, ten_di_tich, dia_chi_code_2025, dia_chi_name_2025, dia_chi_match_status,"
            " dien_tich_khoanh_vung_m2, ngay_cap_nhat::text from {} order by ma_di_tich"
        ).format(sql.Identifier("marts", MART))
    ).fetchall()
    assert len(rows) == 12
    by_id = {r[0]: r for r in rows}
    assert by_id["DT-TQ-001"][1:5] == ("Đình Tân Trào", by_id["DT-TQ-001"][2], "Xã Tân Trào", "matched")
    assert by_id["DT-TQ-005"][3:5] == ("Phường Minh Xuân", "matched")  # "P. Minh Xuân"
    assert str(by_id["DT-TQ-001"][5]) == "3450.5"  # "3450,5": decimal comma
    assert by_id["DT-TQ-001"][6] == "2026-03-15"
    assert sum(r[4] == "matched" for r in rows) == 12


def test_validate_finds_the_new_dataset_whole(onboarded):
    result = onboarded["kho"]("catalog", "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "catalog ok: 10 datasets" in result.stdout


def test_validate_names_a_suite_column_the_mart_lacks_and_the_fix(onboarded):
    suite = onboarded["repo"] / "expectations" / DATASET / "mart.yml"
    original = suite.read_text(encoding="utf-8")
    try:
        suite.write_text(original.replace("column: ma_di_tich", "column: ma_so_di_tich", 1), encoding="utf-8")
        result = onboarded["kho"]("catalog", "validate")
    finally:
        suite.write_text(original, encoding="utf-8")
    assert result.returncode == 1
    assert (
        f"expectations/{DATASET}/mart.yml, expectation 3: column 'ma_so_di_tich' is not a column of model {MART}"
        in result.stderr
    )
    assert "rename it or remove the expectation" in result.stderr


def test_an_address_outside_the_scope_is_quarantined_at_landing(onboarded, warehouse):
    revised = DATA / "danh_muc_di_tich_2026_bo_sung.csv"
    result = onboarded["kho"]("land", DATASET, str(revised))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "13 rows delivered, 12 landed, 1 quarantined" in result.stdout
    rows = warehouse.execute(
        "select source_file, source_row, column_name, reason from kho_meta.quarantine where dataset = %s",
        [DATASET],
    ).fetchall()
    assert rows == [
        (
            revised.name,
            14,
            "dia_chi",
            "expected a place within the dataset's scope (Tỉnh Tuyên Quang (08)), found province Tỉnh Cà Mau"
            " (96) in 'ấp 3, xã Tân Hưng, tỉnh Cà Mau'",
        )
    ]
    landed = warehouse.execute(
        sql.SQL("select count(*) from {} where ma_di_tich = 'DT-TQ-013'").format(
            sql.Identifier(f"raw_{AGENCY}", DATASET)
        )
    ).fetchone()
    assert landed == (0,)


def test_once_a_person_sets_it_open_it_is_published(onboarded, warehouse, ckan, ckan_anonymous):
    """The one edit a person makes: classification shared -> open. Then the warehouse run's last steps
    (the mart's checks, the gate, publishing) put it on the portal, its rows those of the mart."""
    entry = onboarded["repo"] / "catalog" / AGENCY / f"{DATASET}.yml"
    text = entry.read_text(encoding="utf-8")
    assert "\nclassification: shared\n" in text
    entry.write_text(text.replace("\nclassification: shared\n", "\nclassification: open\n"), encoding="utf-8")
    code = (
        f"import json, flow; v = flow.validate({DATASET!r}, 'mart'); p = flow.publish({DATASET!r});"
        " print(json.dumps({'checked': v['success'], 'status': p['status'], 'rows': p['rows']}))"
    )
    env = {**os.environ, "KHO_REPO": str(onboarded["repo"])}
    python = REPO / ".kho" / "venvs" / "main" / "bin" / "python"
    package = DATASET.replace("_", "-")
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        result = yaml.safe_load(done.stdout.strip().splitlines()[-1])
        (rows,) = warehouse.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier("marts", MART))
        ).fetchone()
        assert result == {"checked": True, "status": "published", "rows": rows}
        pkg = ckan_anonymous.action.package_show(id=package)
        stored = [r for r in pkg["resources"] if r.get("datastore_active")]
        assert ckan_anonymous.action.datastore_search(resource_id=stored[0]["id"], limit=0)["total"] == rows
        published = {
            f["id"]
            for f in ckan_anonymous.action.datastore_search(resource_id=stored[0]["id"], limit=0)["fields"]
        }
        assert not published & PERSONAL  # the person in charge and the phone stay in the raw layer
    finally:
        try:
            ckan.action.dataset_purge(id=package)
        except Exception:  # noqa: BLE001 - not published
            pass
        warehouse.execute("delete from kho_meta.publications where dataset = %s", [DATASET])
