"""The JSON Lines reader: keys mapped to catalog columns, JSON values typed, unknown and missing keys refused."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from kho.catalog import Column, Dataset, Source, catalog
from kho.errors import DeliveryError
from kho.landing.readers import reader_for
from kho.landing.readers.jsonl import read
from kho.landing.values import VIETNAM

SITE = {
    "id": "DL-0001",
    "name": "Khu di tích lịch sử Tân Trào",
    "category": "Di tích lịch sử",
    "commune": "Xã Tân Trào",
    "address": None,
    "lat": 21.7790,
    "lng": 105.4302,
    "ranking": "Di tích quốc gia đặc biệt",
    "updated_at": "2025-03-12T09:15:00+07:00",
}


def write(tmp_path, *records, raw: bytes | None = None):
    path = tmp_path / "delivery.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def sites(tmp_path, *records, raw: bytes | None = None):
    return list(
        read(catalog().dataset("tourist_sites"), write(tmp_path, *records, raw=raw), "delivery.jsonl")
    )


def typed_dataset() -> Dataset:
    return Dataset(
        id="typed",
        agency="culture_tourism",
        title_vi="t",
        title_en="t",
        description_vi="d",
        description_en="d",
        classification="open",
        licence="cc-by-4.0",
        update_frequency="yearly",
        source=Source(kind="inbox", format="jsonl"),
        columns=[
            Column(name="code", required=True),
            Column(name="visitors", type="integer"),
            Column(name="share", type="numeric", unit="%"),
            Column(name="is_open", type="boolean"),
            Column(name="opened_on", type="date"),
        ],
    )


def typed(tmp_path, *records):
    return list(read(typed_dataset(), write(tmp_path, *records), "typed.jsonl"))


def test_registered_as_the_jsonl_format():
    assert reader_for("jsonl") is read


def test_keys_map_to_columns_and_values_are_typed(tmp_path):
    (record,) = sites(tmp_path, SITE)
    assert record.source_row == 1 and not record.issues
    assert record.rows == [
        {
            "site_id": "DL-0001",
            "site_name": "Khu di tích lịch sử Tân Trào",
            "category": "Di tích lịch sử",
            "commune": "Xã Tân Trào",
            "address": None,
            "latitude": Decimal("21.779"),  # exactly as written, not a binary float
            "longitude": Decimal("105.4302"),
            "ranking": "Di tích quốc gia đặc biệt",
            "updated_at": dt.datetime(2025, 3, 12, 9, 15, tzinfo=VIETNAM),
        }
    ]
    assert str(record.rows[0]["latitude"]) == "21.779"
    assert record.raw["lat"] == "21.779" and record.raw["address"] == "null"


def test_text_is_nfc_and_numbers_as_text_are_read(tmp_path):
    nfd = {**SITE, "name": "\u0110e\u0302\u0300n Ha\u0323", "lat": "21.82", "lng": " 105.2165 "}
    (record,) = sites(tmp_path, nfd)
    assert not record.issues
    row = record.rows[0]
    assert (
        row["site_name"] == "Đền Hạ"
        and row["latitude"] == Decimal("21.82")
        and row["longitude"] == Decimal("105.2165")
    )


def test_optional_keys_may_be_absent_blank_lines_skipped(tmp_path):
    short = {k: v for k, v in SITE.items() if k not in ("address", "ranking")}
    line = json.dumps(short, ensure_ascii=False).encode()
    records = sites(tmp_path, raw=b"\xef\xbb\xbf" + line + b"\n\n" + line + b"\n")
    assert [r.source_row for r in records] == [1, 3]
    assert records[0].rows[0]["ranking"] is None


def test_values_that_do_not_fit_are_issues(tmp_path):
    bad = {**SITE, "lat": "21,7,9", "lng": {"deg": 105}, "updated_at": "hôm qua"}
    (record,) = sites(tmp_path, bad)
    assert [(i.column, i.found) for i in record.issues] == [
        ("lat", "21,7,9"),
        ("lng", '{"deg": 105}'),
        ("updated_at", "hôm qua"),
    ]
    assert "a single value" in record.issues[1].expected


def test_a_required_key_with_null_lands_as_empty_for_the_quarantine(tmp_path):
    (record,) = sites(tmp_path, {**SITE, "commune": None})
    assert not record.issues and record.rows[0]["commune"] is None


def test_typed_json_values(tmp_path):
    records = typed(
        tmp_path,
        {"code": 7, "visitors": 1200, "share": 12.5, "is_open": True, "opened_on": "03/04/2024"},
        {"code": "A", "visitors": 12.0, "share": "12.5%", "is_open": "có", "opened_on": None},
        {"code": "B", "visitors": 1.5, "share": True, "is_open": 2, "opened_on": 20240403},
    )
    assert records[0].rows == [
        {
            "code": "7",
            "visitors": 1200,
            "share": Decimal("12.5"),
            "is_open": True,
            "opened_on": dt.date(2024, 4, 3),
        }
    ]
    assert not records[1].issues
    assert records[1].rows[0]["visitors"] == 12 and records[1].rows[0]["is_open"] is True
    assert [i.column for i in records[2].issues] == ["visitors", "share", "is_open", "opened_on"]


def test_an_unknown_key_refuses_the_delivery(tmp_path):
    with pytest.raises(DeliveryError) as err:
        sites(tmp_path, SITE, {**SITE, "rating": 4})
    assert str(err.value).startswith(
        "tourist_sites: delivery.jsonl, line 2, column 'rating': expected only the catalog's columns"
    )


def test_a_missing_required_key_refuses_the_delivery(tmp_path):
    with pytest.raises(DeliveryError, match=r"line 1: expected every required key .*found no key 'lat'"):
        sites(tmp_path, {k: v for k, v in SITE.items() if k != "lat"})


def test_a_key_twice_under_two_names_refuses(tmp_path):
    with pytest.raises(DeliveryError, match="each column once"):
        sites(tmp_path, {**SITE, "latitude": 21.7})


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b'{"id": "DL-1",\n', "Expecting property name"),
        (b"[1, 2]\n", "a JSON list"),
        (b'{"lat": NaN}\n', "NaN, which JSON does not allow"),
        (b'{"name": "\xc4\x90\xff"}\n', "byte 0xff"),
    ],
)
def test_a_line_that_is_not_a_json_object_refuses(tmp_path, raw, found):
    with pytest.raises(DeliveryError, match=f"line 1: expected .*found {found}"):
        sites(tmp_path, raw=raw)
