"""CKAN without Solr: search, facets, visibility and the DataStore against the real portal.

Every test works inside its own organization (a random suffix), so runs never see each other's data.
"""

from __future__ import annotations

import pytest
from ckanapi import NotAuthorized, NotFound, SearchError

from kho.operations import ckan_server

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e


@pytest.fixture
def org(ckan_site, unique) -> str:
    name = f"so-nong-nghiep-{unique}"
    ckan_site.admin.action.organization_create(
        name=name,
        title="Sở Nông nghiệp và Môi trường",
        description="Cơ quan chuyên môn về nông nghiệp của tỉnh.",
    )
    return name


def make_dataset(ckan_site, org: str, name: str, title: str, **fields) -> dict:
    return ckan_site.admin.action.package_create(name=name, title=title, owner_org=org, **fields)


def search(client, org: str, **params) -> dict:
    """package_search restricted to one organization."""
    fq = f'organization:"{org}"'
    if "fq" in params:
        fq += " " + params.pop("fq")
    return client.action.package_search(fq=fq, **params)


def names(result: dict) -> list[str]:
    return [d["name"] for d in result["results"]]


def test_vietnamese_free_text(ckan_site, org, unique):
    make_dataset(
        ckan_site, org, f"lua-{unique}", "Diện tích gieo trồng lúa theo tỉnh",
        notes="Số liệu vụ Đông Xuân, tỉnh Thanh Hóa.", tags=[{"name": "nông nghiệp"}],
    )  # fmt: skip
    make_dataset(ckan_site, org, f"rung-{unique}", "Diện tích rừng bị cháy", notes="Các vụ cháy do lửa rừng.")

    assert names(search(ckan_site.anonymous, org, q="lúa")) == [f"lua-{unique}"]
    assert names(search(ckan_site.anonymous, org, q="LÚA")) == [f"lua-{unique}"]  # case folded
    assert names(search(ckan_site.anonymous, org, q="lửa")) == [f"rung-{unique}"]  # diacritics matter...
    assert sorted(names(search(ckan_site.anonymous, org, q="lua"))) == [
        f"lua-{unique}",
        f"rung-{unique}",
    ]  # ...unless omitted
    assert names(search(ckan_site.anonymous, org, q="gieo trồng lúa")) == [
        f"lua-{unique}"
    ]  # all words required
    assert names(search(ckan_site.anonymous, org, q='"trồng lúa"')) == [f"lua-{unique}"]  # phrase
    assert names(search(ckan_site.anonymous, org, q="Thanh Hoá")) == [f"lua-{unique}"]  # other tone placement
    assert names(search(ckan_site.anonymous, org, q="đông xuân")) == [f"lua-{unique}"]  # notes are searched
    assert names(search(ckan_site.anonymous, org, q="nông nghiệp")) == [f"lua-{unique}"]  # tags are searched
    decomposed = "lu\u0301a"  # NFD, as some legacy files and keyboards produce it
    assert names(search(ckan_site.anonymous, org, q=decomposed)) == [f"lua-{unique}"]
    assert search(ckan_site.anonymous, org, q="không có từ này")["count"] == 0


def test_title_matches_rank_first(ckan_site, org, unique):
    make_dataset(ckan_site, org, f"a-{unique}", "Giá cả thị trường", notes="Có nhắc đến giá lúa gạo.")
    make_dataset(ckan_site, org, f"b-{unique}", "Sản lượng lúa gạo")

    assert names(search(ckan_site.anonymous, org, q="lúa gạo")) == [f"b-{unique}", f"a-{unique}"]


def test_fielded_queries_and_lookups(ckan_site, org, unique):
    created = make_dataset(ckan_site, org, f"ngo-{unique}", "Sản lượng ngô", tags=[{"name": "ngô"}])
    make_dataset(ckan_site, org, f"san-{unique}", "Sản lượng sắn", tags=[{"name": "sắn"}])

    assert names(ckan_site.anonymous.action.package_search(q=f"name:ngo-{unique}")) == [f"ngo-{unique}"]
    assert names(ckan_site.anonymous.action.package_search(q=f'id:"{created["id"]}"')) == [f"ngo-{unique}"]
    assert names(search(ckan_site.anonymous, org, fq='tags:"sắn"')) == [f"san-{unique}"]
    assert names(search(ckan_site.anonymous, org, q="title:ngô")) == [f"ngo-{unique}"]
    assert names(search(ckan_site.anonymous, org, q="tags:ngô OR tags:sắn", sort="name asc")) == [
        f"ngo-{unique}",
        f"san-{unique}",
    ]
    assert names(search(ckan_site.anonymous, org, fq="-tags:ngô")) == [f"san-{unique}"]
    assert search(ckan_site.anonymous, org, fq="+dataset_type:dataset")["count"] == 2
    # a search the parser cannot read is an error, not a crash
    with pytest.raises(SearchError):
        ckan_site.anonymous.action.package_search(q="title:(ngô")


def test_facets(ckan_site, org, unique):
    csv = {"url": "http://example.com/a.csv", "format": "CSV", "name": "Bảng CSV"}
    make_dataset(
        ckan_site, org, f"a-{unique}", "Bộ A", tags=[{"name": "lúa"}], license_id="cc-by-4.0", resources=[csv],
    )  # fmt: skip
    make_dataset(
        ckan_site, org, f"b-{unique}", "Bộ B", tags=[{"name": "lúa"}, {"name": "ngô"}], license_id="cc-by-4.0",
        resources=[csv, {"url": "http://example.com/b.json", "format": "JSON"}],
    )  # fmt: skip

    result = search(
        ckan_site.anonymous, org,
        **{"facet.field": '["organization", "tags", "res_format", "license_id", "groups"]', "rows": 0},
    )  # fmt: skip
    facets = result["facets"]

    assert result["count"] == 2 and result["results"] == []
    assert facets["organization"] == {org: 2}
    assert facets["tags"] == {"lúa": 2, "ngô": 1}
    assert facets["res_format"] == {"CSV": 2, "JSON": 1}  # a dataset with two CSVs counts once
    assert facets["license_id"] == {"cc-by-4.0": 2}
    assert facets["groups"] == {}
    # the organization page counts come from the same index
    assert ckan_site.anonymous.action.organization_show(id=org)["package_count"] == 2
    # and filtering on a facet value narrows the search
    assert names(search(ckan_site.anonymous, org, fq='res_format:"JSON"')) == [f"b-{unique}"]


def test_sort_and_paging(ckan_site, org, unique):
    for slug, title in [
        ("c", "Bảng C"),
        ("anh", "Ảnh vệ tinh"),
        ("duong", "Đường giao thông"),
        ("a", "Bảng A"),
    ]:
        make_dataset(ckan_site, org, f"{slug}-{unique}", title)

    by_title = search(ckan_site.anonymous, org, sort="title_string asc")
    # Vietnamese order: "Ả" sorts with A and "Đ" with D, not after Z as raw code points would
    assert [d["title"] for d in by_title["results"]] == [
        "Ảnh vệ tinh",
        "Bảng A",
        "Bảng C",
        "Đường giao thông",
    ]

    newest_first = search(ckan_site.anonymous, org, sort="metadata_modified desc")
    assert [d["title"] for d in newest_first["results"]] == [
        "Bảng A",
        "Đường giao thông",
        "Ảnh vệ tinh",
        "Bảng C",
    ]

    page = search(ckan_site.anonymous, org, sort="title_string asc", rows=2, start=1)
    assert page["count"] == 4
    assert [d["title"] for d in page["results"]] == ["Bảng A", "Bảng C"]


def test_private_datasets_are_hidden_from_anonymous(ckan_site, org, unique):
    make_dataset(ckan_site, org, f"cong-khai-{unique}", "Dữ liệu công khai")
    make_dataset(ckan_site, org, f"noi-bo-{unique}", "Dữ liệu nội bộ", private=True)

    assert names(search(ckan_site.anonymous, org)) == [f"cong-khai-{unique}"]
    assert search(ckan_site.anonymous, org, include_private=True)["count"] == 1
    assert search(ckan_site.admin, org, include_private=True)["count"] == 2
    with pytest.raises(NotAuthorized):
        ckan_site.anonymous.action.package_show(id=f"noi-bo-{unique}")


def test_drafts_are_only_found_when_asked_for(ckan_site, org, unique):
    make_dataset(ckan_site, org, f"nhap-{unique}", "Bản nháp", state="draft")

    assert search(ckan_site.admin, org)["count"] == 0
    assert names(search(ckan_site.admin, org, include_drafts=True)) == [f"nhap-{unique}"]


def test_update_and_delete_reach_the_index(ckan_site, org, unique):
    name = f"tam-thoi-{unique}"
    make_dataset(ckan_site, org, name, "Dữ liệu tạm thời")
    ckan_site.admin.action.package_patch(id=name, title="Dữ liệu chăn nuôi")

    assert names(search(ckan_site.anonymous, org, q="chăn nuôi")) == [name]
    assert search(ckan_site.anonymous, org, q="tạm thời")["count"] == 0

    ckan_site.admin.action.package_delete(id=name)

    assert search(ckan_site.anonymous, org)["count"] == 0
    assert search(ckan_site.admin, org, include_private=True)["count"] == 0


def test_index_can_be_cleared_and_rebuilt(ckan_site, org, unique):
    name = f"xay-lai-{unique}"
    make_dataset(ckan_site, org, name, "Chỉ mục xây lại")

    ckan_server.ckan_cli(ckan_site.settings, "search-index", "clear")
    assert search(ckan_site.anonymous, org)["count"] == 0

    ckan_server.ckan_cli(ckan_site.settings, "search-index", "rebuild", "--quiet")
    assert names(search(ckan_site.anonymous, org, q="xây lại")) == [name]


def test_portal_pages_answer_in_vietnamese(ckan_site, org, unique):
    import urllib.request

    make_dataset(ckan_site, org, f"trang-{unique}", "Trang dữ liệu lúa")
    for path in ["/dataset/?q=l%C3%BAa", f"/organization/{org}", f"/dataset/trang-{unique}"]:
        with urllib.request.urlopen(ckan_site.url + path, timeout=30) as resp:
            html = resp.read().decode("utf-8")
        assert resp.status == 200
        assert 'lang="vi"' in html
    assert "Trang dữ liệu lúa" in html


def test_datastore_is_readable_anonymously(ckan_site, org, unique):
    make_dataset(ckan_site, org, f"bang-{unique}", "Bảng số liệu")
    created = ckan_site.admin.action.datastore_create(
        resource={"package_id": f"bang-{unique}", "name": "Sản lượng", "format": "CSV"},
        fields=[
            {"id": "tinh", "type": "text"},
            {"id": "nam", "type": "int"},
            {"id": "san_luong", "type": "numeric"},
        ],
        records=[
            {"tinh": "Thanh Hóa", "nam": 2024, "san_luong": 1510.5},
            {"tinh": "Nghệ An", "nam": 2024, "san_luong": 1200},
            {"tinh": "Thanh Hóa", "nam": 2023, "san_luong": 1490},
        ],
    )
    resource_id = created["resource_id"]

    found = ckan_site.anonymous.action.datastore_search(
        resource_id=resource_id, filters={"tinh": "Thanh Hóa"}, sort="nam"
    )
    assert [r["nam"] for r in found["records"]] == [2023, 2024]

    sql = f'select tinh, sum(san_luong) as tong from "{resource_id}" group by tinh order by tinh'  # noqa: S608
    rows = ckan_site.anonymous.action.datastore_search_sql(sql=sql)["records"]
    assert [(r["tinh"], float(r["tong"])) for r in rows] == [("Nghệ An", 1200.0), ("Thanh Hóa", 3000.5)]

    # the read-only role cannot write, even through SQL
    with pytest.raises(Exception):  # noqa: B017 - CKAN reports it as a ValidationError or NotAuthorized
        ckan_site.anonymous.action.datastore_search_sql(sql=f'delete from "{resource_id}"')  # noqa: S608
    with pytest.raises((NotAuthorized, NotFound)):
        ckan_site.anonymous.action.datastore_delete(resource_id=resource_id, force=True)


def test_a_hostile_public_sql_query_is_cut_short_and_others_are_served(ckan_site, org, unique):
    """Anonymous DataStore SQL has a 3 s statement timeout (kho_public_sql), and while two hostile queries
    run, other people's searches are answered: the portal is not held for CKAN's 60 s."""
    import threading
    import time

    from ckanapi import ValidationError

    make_dataset(ckan_site, org, f"nang-{unique}", "Bảng truy vấn nặng")
    created = ckan_site.admin.action.datastore_create(
        resource={"package_id": f"nang-{unique}", "name": "Bảng", "format": "CSV"},
        fields=[{"id": "n", "type": "int"}],
        records=[{"n": i} for i in range(10)],
    )
    hostile = (
        "select count(*) from generate_series(1, 2000000000) a, "  # noqa: S608
        f'"{created["resource_id"]}" b'
    )
    outcomes: list[tuple[str, float]] = []

    def attack() -> None:
        started = time.monotonic()
        try:
            ckan_site.anonymous.action.datastore_search_sql(sql=hostile)
            outcomes.append(("answered", time.monotonic() - started))
        except ValidationError as exc:
            outcomes.append((str(exc), time.monotonic() - started))

    attackers = [threading.Thread(target=attack) for _ in range(2)]
    for t in attackers:
        t.start()
    time.sleep(0.5)  # both hostile queries are running now
    served = []  # searches answered while both hostile queries were still running
    while all(t.is_alive() for t in attackers):
        found = len(search(ckan_site.anonymous, org, q="truy vấn")["results"])
        if all(t.is_alive() for t in attackers):
            served.append(found)
    for t in attackers:
        t.join()
    assert [o for o, _ in outcomes if "Query took too long" not in o] == []  # both cancelled by the timeout
    assert max(seconds for _, seconds in outcomes) < 20, outcomes  # CKAN's own limit: 60 s
    assert len(served) >= 3 and set(served) == {1}  # others were answered while the two queries ran
