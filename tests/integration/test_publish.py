"""The CKAN publisher against the real portal and warehouse: what it publishes, that it writes nothing
when nothing changed, that it updates in place, and what it refuses.

Each test publishes its own copy of the crop_statistics catalog entry from its own table (see
``tests/integration/conftest_ckan.py``), documented by a dbt manifest of its own.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from ckanapi import NotFound
from psycopg import sql

from kho.catalog import Catalog, Column, Publish, catalog
from publishers.ckan import PublishRefused, publish, publish_all
from publishers.errors import PublishError
from publishers.metadata import ckan_name

pytest.register_assert_rewrite("tests.integration.conftest_ckan")  # helpers imported below, plugin too
from tests.integration.conftest_ckan import (  # noqa: E402
    NAMES,
    ROWS,
    csv_rows,
    datastore_rows,
    last_publication,
    norm,
    write_manifest,
)

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e


def extras(pkg: dict) -> dict[str, str]:
    """The dataset's own fields: top-level where the portal's ckanext-scheming schema declares them,
    free extras otherwise."""
    found = {e["key"]: e["value"] for e in pkg.get("extras", [])}
    return {**found, **{k: v for k, v in pkg.items() if isinstance(v, str)}}


def test_first_publish_creates_dataset_csv_and_datastore(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert result.status == "published" and result.rows == len(ROWS)
    pkg = ckan_site.anonymous.action.package_show(id=ckan_name(mart.dataset.id))
    agency = catalog().agencies["statistics_office"]
    assert result.dataset_url.endswith(f"/dataset/{pkg['name']}")
    assert pkg["title"] == mart.dataset.title_vi
    assert pkg["notes"].startswith(mart.dataset.description_vi)
    assert mart.dataset.description_en in pkg["notes"]
    assert pkg["notes"].index(mart.dataset.description_vi) < pkg["notes"].index(mart.dataset.description_en)
    assert pkg["organization"]["name"] == "statistics-office"
    assert pkg["organization"]["title"] == agency.name_vi
    assert pkg["license_id"] == "cc-by-4.0"
    assert sorted(t["name"] for t in pkg["tags"]) == sorted(mart.dataset.tags)
    assert pkg["private"] is False
    found = extras(pkg)
    assert found["title_en"] == mart.dataset.title_en
    assert found["update_frequency"] == "hằng năm (yearly)"
    assert found["frequency"].endswith("/frequency/ANNUAL")
    assert found["source_agency"].startswith(agency.name_vi)
    assert found["contact_email"] == agency.email == pkg["maintainer_email"]
    assert found["kho_dataset_id"] == mart.dataset.id

    # CSV first (with the DataStore), then XLSX and JSON; no GeoJSON: the table has no coordinates
    assert [r["format"] for r in pkg["resources"]] == ["CSV", "XLSX", "JSON"]
    resource = pkg["resources"][0]
    assert resource["url_type"] == "upload" and resource["size"] == len(csv_rows(resource["url"])[0])
    assert resource["kho_content_hash"] == result.content_hash == resource["hash"]
    assert resource["download_url"] == resource["url"]
    raw, from_csv = csv_rows(resource["url"])
    assert raw.startswith(b"\xef\xbb\xbf")
    assert list(from_csv[0]) == NAMES
    expected = sorted(tuple(norm(v) for v in row) for row in mart.rows())
    # formula-looking text is neutralised in the file, numbers are left alone
    neutralised = [dict(r, province_name_vi=r["province_name_vi"].removeprefix("'")) for r in from_csv]
    assert any(r["province_name_vi"].startswith("'=HYPERLINK") for r in from_csv)
    assert {r["production_t"] for r in from_csv if r["province_code"] == "99"} == {"-2"}
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in neutralised) == expected

    assert resource["datastore_active"]
    from_store = datastore_rows(ckan_site.anonymous, resource["id"])
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in from_store) == expected
    fields = ckan_site.anonymous.action.datastore_search(resource_id=resource["id"], limit=0)["fields"]
    types = {f["id"]: f["type"] for f in fields}
    assert (types["year"], types["production_t"], types["is_preliminary"]) == ("int4", "numeric", "bool")

    assert last_publication(mart)[:3] == ("published", result.write_calls, len(ROWS))


def test_data_dictionary_comes_from_the_dbt_docs(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    fields = ckan_site.anonymous.action.datastore_search(resource_id=result.resource_id, limit=0)["fields"]
    info = {f["id"]: f.get("info", {}) for f in fields}
    assert info["planted_area_ha"]["label"] == "Diện tích gieo trồng (ha)"
    assert info["planted_area_ha"]["unit"] == "ha"
    assert "Planted area (hectares)" in info["planted_area_ha"]["notes"]
    assert info["yield_t_per_ha"]["unit"] == "tấn/ha"
    assert info["year"]["label"] == "Năm" and "unit" not in info["year"]


def test_coverage_contact_and_provenance(ckan_site, mart):
    loads = [
        (f"{mart.dataset.id}-load-1", "planted_area_paddy.csv", "a" * 64, datetime(2025, 3, 1, 8, 0)),
        (f"{mart.dataset.id}-load-2", "production_paddy.csv", "b" * 64, datetime(2025, 3, 2, 9, 30)),
    ]
    for load_id, name, sha, when in loads:
        mart.conn.execute(
            "insert into kho_meta.loads (load_id, dataset, source_file, file_sha256, status, started_at,"
            " finished_at) values (%s, %s, %s, %s, 'landed', %s, %s)",
            [load_id, mart.dataset.id, name, sha, when, when],
        )

    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    found = extras(ckan_site.anonymous.action.package_show(id=result.package_id))
    # temporal: the year column, first and last year
    assert (found["temporal_start"], found["temporal_end"]) == ("2005-01-01", "2024-12-31")
    assert found["temporal_coverage"] == "2005–2024"
    # spatial: the province codes delivered (01, 28, 38, 99)
    assert found["spatial_units"] == "4"
    assert found["spatial_text"].startswith("Cả nước: 4 ")
    # provenance: every delivery by load id and landing date, and when the table was built; never the
    # agency's file names nor the raw files' sha256 (raw files may hold personal data)
    provenance = json.loads(found["kho_provenance"])
    assert provenance["model"] == f"marts.{mart.table}"
    assert provenance["loads"] == [
        {"load_id": loads[0][0], "landed_on": "2025-03-01"},
        {"load_id": loads[1][0], "landed_on": "2025-03-02"},
    ]
    assert provenance["built_at"] == found["kho_built_at"] == found["modified"]
    assert found["kho_load_ids"] == f"{loads[0][0]}, {loads[1][0]}"
    assert f"- {loads[1][0]}: 2025-03-02" in found["provenance"]
    package = json.dumps(ckan_site.anonymous.action.package_show(id=result.package_id), ensure_ascii=False)
    for _, name, sha, _ in loads:
        assert name not in package and sha not in package


def test_second_publish_makes_no_write_calls(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    second = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert (second.status, second.write_calls) == ("unchanged", 0)
    assert (second.package_id, second.resource_id, second.content_hash) == (
        first.package_id,
        first.resource_id,
        first.content_hash,
    )
    assert last_publication(mart)[:2] == ("unchanged", 0)


def test_changed_row_updates_in_place(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    mart.conn.execute(
        sql.SQL("update {} set production_t = 999999.5 where province_code = '38'").format(mart.ident)
    )

    second = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert second.status == "published" and second.content_hash != first.content_hash
    assert (second.package_id, second.resource_id) == (first.package_id, first.resource_id)
    pkg = ckan_site.anonymous.action.package_show(id=first.package_id)
    assert pkg["resources"][0]["id"] == first.resource_id and len(pkg["resources"]) == 3
    assert ckan_site.anonymous.action.package_search(q=f"name:{pkg['name']}")["count"] == 1
    _, from_csv = csv_rows(pkg["resources"][0]["url"])
    assert {r["production_t"] for r in from_csv if r["province_code"] == "38"} == {"999999.5"}
    from_store = datastore_rows(ckan_site.anonymous, first.resource_id)
    assert len(from_store) == len(ROWS)
    assert [norm(r["production_t"]) for r in from_store if r["province_code"] == "38"] == ["999999.5"]
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0


def test_new_and_dropped_columns_rebuild_the_datastore_table(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    mart.conn.execute(sql.SQL("alter table {} drop column yield_t_per_ha").format(mart.ident))
    mart.conn.execute(sql.SQL("alter table {} add column note text default 'sơ bộ'").format(mart.ident))

    second = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert second.resource_id == first.resource_id
    records = datastore_rows(ckan_site.anonymous, first.resource_id)
    assert len(records) == len(ROWS)
    assert "yield_t_per_ha" not in records[0] and {r["note"] for r in records} == {"sơ bộ"}


def test_interrupted_run_converges(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    # as if the last run died after loading part of the DataStore, before writing the hash
    ckan_site.admin.action.resource_patch(id=first.resource_id, kho_content_hash="")
    ckan_site.admin.action.datastore_delete(
        resource_id=first.resource_id, filters={"province_code": "01"}, force=True
    )

    again = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert again.status == "published"
    assert (again.package_id, again.resource_id, again.content_hash) == (
        first.package_id,
        first.resource_id,
        first.content_hash,
    )
    assert len(datastore_rows(ckan_site.anonymous, first.resource_id)) == len(ROWS)
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0


def test_rows_lost_from_the_datastore_are_restored(ckan_site, mart):
    first = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    ckan_site.admin.action.datastore_delete(resource_id=first.resource_id, force=True)  # the whole table

    again = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    assert again.status == "published" and again.resource_id == first.resource_id
    assert len(datastore_rows(ckan_site.anonymous, first.resource_id)) == len(ROWS)


def test_metadata_change_only_patches_the_dataset(ckan_site, mart):
    publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    retitled = mart.dataset.model_copy(update={"title_vi": "Thống kê cây trồng (tiêu đề mới)"})

    result = publish(retitled, ckan_site.settings, manifest=mart.manifest)

    # package_patch, and resource_patch for each file's name (it follows the title); no upload
    assert (result.status, result.write_calls) == ("published", 4)
    pkg = ckan_site.anonymous.action.package_show(id=result.package_id)
    assert pkg["title"] == "Thống kê cây trồng (tiêu đề mới)"
    assert [r["name"] for r in pkg["resources"]] == [
        f"Thống kê cây trồng (tiêu đề mới) ({fmt})" for fmt in ("CSV", "XLSX", "JSON")
    ]
    resource = pkg["resources"][0]
    # the uploaded file survives a metadata-only update
    assert resource["url_type"] == "upload"
    raw, _ = csv_rows(resource["url"])
    assert raw.startswith(b"\xef\xbb\xbf")


def test_data_dictionary_change_only_updates_the_fields(ckan_site, mart, tmp_path):
    publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    manifest = json.loads(mart.manifest.read_text())
    node = next(iter(manifest["nodes"].values()))
    node["columns"]["year"]["description"] = "Năm thu hoạch. / Harvest year."
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(manifest))

    result = publish(mart.dataset, ckan_site.settings, manifest=changed)

    # datastore_create with the fields, and the resource's note of them (kho_fields)
    assert (result.status, result.write_calls) == ("published", 2)
    fields = ckan_site.anonymous.action.datastore_search(resource_id=result.resource_id, limit=0)["fields"]
    assert next(f for f in fields if f["id"] == "year")["info"]["label"] == "Năm thu hoạch"
    assert len(datastore_rows(ckan_site.anonymous, result.resource_id)) == len(ROWS)


def test_loading_through_the_datastore_api_gives_the_same_rows(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest, datastore_load="api")

    from_store = datastore_rows(ckan_site.anonymous, result.resource_id)
    expected = sorted(tuple(norm(v) for v in row) for row in mart.rows())
    assert sorted(tuple(norm(r[c]) for c in NAMES) for r in from_store) == expected
    assert publish(mart.dataset, ckan_site.settings, manifest=mart.manifest).write_calls == 0


def test_datastore_is_searchable_and_queryable_by_sql_anonymously(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)

    found = ckan_site.anonymous.action.datastore_search(resource_id=result.resource_id, q="Thanh Hóa")
    assert [r["province_code"] for r in found["records"]] == ["38"]
    query = f'select crop, sum(production_t) as total from "{result.resource_id}" group by crop order by crop'  # noqa: S608
    rows = ckan_site.anonymous.action.datastore_search_sql(sql=query)["records"]
    assert [(r["crop"], Decimal(str(r["total"]))) for r in rows] == [("maize", -2), ("paddy", 2615600)]


# --- what is refused -----------------------------------------------------------------------------


@pytest.mark.parametrize("classification", ["shared", "restricted"])
def test_dataset_that_is_not_open_is_refused(ckan_site, mart, classification):
    closed = mart.dataset.model_copy(update={"classification": classification})

    with pytest.raises(PublishRefused, match=f"classification is '{classification}'"):
        publish(closed, ckan_site.settings, manifest=mart.manifest)

    with pytest.raises(NotFound):
        ckan_site.admin.action.package_show(id=ckan_name(closed.id))
    assert last_publication(mart)[0] == "blocked"


def test_licence_that_is_not_open_is_refused(ckan_site, mart):
    closed = mart.dataset.model_copy(update={"licence": "other-closed"})

    with pytest.raises(PublishRefused, match="licence 'other-closed' does not allow open reuse"):
        publish(closed, ckan_site.settings, manifest=mart.manifest)


def test_personal_data_flagged_in_the_catalog_is_refused(ckan_site, mart):
    columns = [*mart.dataset.columns, Column(name="province_name_vi", personal_data=True)]
    personal = mart.dataset.model_copy(update={"columns": columns})

    with pytest.raises(PublishRefused, match=r"province_name_vi \(catalog\)"):
        publish(personal, ckan_site.settings, manifest=mart.manifest)

    assert ckan_site.admin.action.package_search(q=f"name:{ckan_name(personal.id)}")["count"] == 0
    assert last_publication(mart)[0] == "blocked"


def test_personal_data_flagged_in_dbt_is_refused(ckan_site, mart, tmp_path):
    manifest = write_manifest(tmp_path / "personal.json", mart.table, personal=("province_name_vi",))

    with pytest.raises(PublishRefused, match=r"province_name_vi \(dbt\)"):
        publish(mart.dataset, ckan_site.settings, manifest=manifest)

    assert ckan_site.admin.action.package_search(q=f"name:{ckan_name(mart.dataset.id)}")["count"] == 0


def test_personal_data_of_the_dbt_source_is_refused(ckan_site, mart, tmp_path):
    """A raw column dbt flags as personal (on the dataset's source) must not reach the mart either."""
    manifest = json.loads(mart.manifest.read_text())
    next(iter(manifest["nodes"].values()))["depends_on"] = {"nodes": ["source.kho.statistics_office.x"]}
    manifest["sources"] = {
        "source.kho.statistics_office.x": {
            "schema": mart.dataset.raw_schema,
            "name": mart.dataset.raw_table,
            "identifier": mart.dataset.raw_table,
            "columns": {"crop": {"name": "crop", "meta": {"personal_data": True}}},
        }
    }
    path = tmp_path / "source.json"
    path.write_text(json.dumps(manifest))

    with pytest.raises(PublishRefused, match=r"crop \(dbt\)"):
        publish(mart.dataset, ckan_site.settings, manifest=path)


def test_model_that_dbt_declares_restricted_is_refused(ckan_site, mart, tmp_path):
    manifest = json.loads(mart.manifest.read_text())
    next(iter(manifest["nodes"].values()))["meta"] = {"classification": "restricted"}
    path = tmp_path / "restricted.json"
    path.write_text(json.dumps(manifest))

    with pytest.raises(PublishRefused, match=r"dbt declares the model .* restricted"):
        publish(mart.dataset, ckan_site.settings, manifest=path)


def test_model_built_from_a_dataset_that_is_not_open_is_refused(ckan_site, mart, tmp_path, unique):
    """The mart is open in the catalog, but dbt builds it from another agency's shared raw table."""
    closed = mart.dataset.model_copy(update={"id": f"closed_{unique}", "classification": "shared"})
    manifest = json.loads(mart.manifest.read_text())
    source_id = f"source.kho.statistics_office.{closed.id}"
    manifest["sources"] = {
        source_id: {"schema": closed.raw_schema, "name": closed.raw_table, "identifier": closed.raw_table}
    }
    next(iter(manifest["nodes"].values()))["depends_on"] = {"nodes": [source_id]}
    path = tmp_path / "lineage.json"
    path.write_text(json.dumps(manifest))
    cat = Catalog(agencies=catalog().agencies, datasets={closed.id: closed, mart.dataset.id: mart.dataset})

    with pytest.raises(PublishRefused, match=rf"from datasets that are not open: {closed.id} \(shared\)"):
        publish(mart.dataset, ckan_site.settings, manifest=path, cat=cat)


def test_publish_all_asks_once_and_keeps_going_past_a_failure(ckan_site, mart):
    missing = mart.dataset.model_copy(
        update={"id": f"{mart.dataset.id}_missing", "publish": Publish(model="no_such_table")}
    )

    first = publish_all([mart.dataset, missing], ckan_site.settings)

    assert first[mart.dataset.id].status == "published"
    assert isinstance(first[missing.id], PublishError) and "no_such_table" in str(first[missing.id])
    second = publish_all([mart.dataset], ckan_site.settings)
    assert (second[mart.dataset.id].status, second[mart.dataset.id].write_calls) == ("unchanged", 0)
    assert second[mart.dataset.id].resource_id == first[mart.dataset.id].resource_id
    mart.conn.execute("delete from kho_meta.publications where dataset = %s", [missing.id])
