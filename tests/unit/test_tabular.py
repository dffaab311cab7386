"""The CSV and Excel readers: finding the header, mapping it to the catalog, skipping what is not data,
and refusing files that are not what they claim. Workbooks are written in the test (tests/data/readers)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from kho.catalog import CatalogError, Dataset
from kho.errors import DeliveryError
from kho.landing.readers import Issue, Record, csv_reader, excel, reader_for
from kho.landing.readers.tabular import PENDING_LIMIT, header_key
from tests.data.readers.xlsx_writer import Error, Formula, Sheet, write_xlsx

COLUMNS = [
    {"name": "area_name", "required": True, "source_names": ["Tên đơn vị"]},
    {"name": "year", "type": "integer", "required": True, "source_names": ["Năm"]},
    {"name": "planted_area", "type": "numeric", "unit": "ha", "source_names": ["Diện tích (ha)"]},
    {"name": "note", "source_names": ["Ghi chú"]},
]


def dataset(columns: list[dict] | None = None, **source) -> Dataset:
    return Dataset(
        id="crops",
        agency="agriculture",
        title_vi="t",
        title_en="t",
        description_vi="d",
        description_en="d",
        classification="open",
        licence="cc-by-4.0",
        update_frequency="yearly",
        source={"format": "csv", **source},
        columns=columns or COLUMNS,
    )


def read_csv(
    tmp_path: Path, text: str | bytes, ds: Dataset | None = None, encoding: str = "utf-8"
) -> list[Record]:
    path = tmp_path / "d.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return list(reader_for("csv")(ds or dataset(), path, "d.csv"))


def read_xlsx(tmp_path: Path, sheets, ds: Dataset | None = None, merges=None) -> list[Record]:
    path = write_xlsx(tmp_path / "d.xlsx", sheets, merges)
    return list(reader_for("xlsx")(ds or dataset(format="xlsx"), path, "d.xlsx"))


def refusal(read, *args, **kwargs) -> str:
    """The message of the DeliveryError that reading (to the end) raises."""
    with pytest.raises(DeliveryError) as exc:
        result = read(*args, **kwargs)
        if not isinstance(result, list):
            list(result)
    return str(exc.value)


def rows(records: list[Record]) -> list[dict]:
    return [row for r in records for row in r.rows]


HEADER = "Tên đơn vị,Năm,Diện tích (ha),Ghi chú\n"

# --- CSV --------------------------------------------------------------------------------------------------


def test_csv_rows_are_typed_and_keyed_by_catalog_name(tmp_path):
    records = read_csv(tmp_path, HEADER + 'Xã A,2024,"1.234,5",\nXã B,2023,12,mới\n')
    assert [r.source_row for r in records] == [2, 3]
    assert rows(records) == [
        {"area_name": "Xã A", "year": 2024, "planted_area": Decimal("1234.5"), "note": None},
        {"area_name": "Xã B", "year": 2023, "planted_area": Decimal("12"), "note": "mới"},
    ]
    assert records[0].raw == {"Tên đơn vị": "Xã A", "Năm": "2024", "Diện tích (ha)": "1.234,5", "Ghi chú": ""}
    assert all(not r.issues for r in records)


def test_a_wrong_value_of_a_personal_column_is_never_shown_in_its_issue(tmp_path):
    columns = [
        *COLUMNS,
        {"name": "birth_date", "type": "date", "personal_data": True, "source_names": ["Ngày sinh"]},
    ]
    text = "Tên đơn vị,Năm,Diện tích (ha),Ghi chú,Ngày sinh\nXã A,20x4,12,,31/02/1985\n"
    (record,) = read_csv(tmp_path, text, dataset(columns))
    shown = {i.column: i.found for i in record.issues}
    assert shown["Năm"] == "20x4"  # not personal: the value helps the agency find it
    assert "1985" not in shown["Ngày sinh"] and "personal data" in shown["Ngày sinh"]
    assert record.raw["Ngày sinh"] == "31/02/1985"  # quarantine keeps the row as delivered


def test_formula_like_text_lands_as_delivered(tmp_path):
    """Neutralising = + - @ is the publisher's job; raw keeps what the agency sent."""
    text = HEADER + 'Xã A,2024,1,"=HYPERLINK(""http://x"")"\nXã B,2024,1,@SUM(1)\n'
    assert [row["note"] for row in rows(read_csv(tmp_path, text))] == ['=HYPERLINK("http://x")', "@SUM(1)"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiter_is_sniffed_from_the_header(tmp_path, delimiter):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(
        [HEADER.strip().split(","), ["Xã A", "2024", "1,5", "x"]]
    )
    assert rows(read_csv(tmp_path, buffer.getvalue()))[0]["planted_area"] == Decimal("1.5")


def test_csv_delimiter_from_the_catalog_is_not_second_guessed(tmp_path):
    text = "Tên đơn vị;Năm\nXã A;2024\n"
    assert rows(read_csv(tmp_path, text, dataset(COLUMNS[:2], delimiter=";"))) == [
        {"area_name": "Xã A", "year": 2024}
    ]
    assert refusal(read_csv, tmp_path, text, dataset(COLUMNS[:2], delimiter="\t")) == (
        "crops: d.csv: expected a header naming the columns Tên đơn vị, Năm within the first 20 rows, "
        "found 'Tên đơn vị;Năm'"
    )


def test_headers_match_ignoring_case_accents_spacing_and_punctuation(tmp_path):
    text = "TEN DON VI ; nam;  DIỆN  TÍCH(HA) ;ghi chu\nXã A;2024;5;\n"
    assert rows(read_csv(tmp_path, text))[0]["planted_area"] == Decimal("5")
    assert header_key("Diện tích\n(ha)*") == "dien tich ha"


def test_catalog_names_are_headers_too(tmp_path):
    assert rows(read_csv(tmp_path, "area_name,year\nXã A,2024\n", dataset(COLUMNS[:2]))) == [
        {"area_name": "Xã A", "year": 2024}
    ]


def test_missing_required_column_is_refused_listing_the_expected_ones(tmp_path):
    message = refusal(read_csv, tmp_path, "Tên đơn vị,Diện tích (ha)\nXã A,5\n")
    assert message == (
        "crops: d.csv, line 1: expected a header naming every required column "
        "(Tên đơn vị, Năm; optional: Diện tích (ha), Ghi chú), found no column 'Năm'"
    )


def test_optional_columns_may_be_absent(tmp_path):
    assert rows(read_csv(tmp_path, "Tên đơn vị,Năm\nXã A,2024\n")) == [{"area_name": "Xã A", "year": 2024}]


def test_duplicated_column_is_refused(tmp_path):
    message = refusal(read_csv, tmp_path, "Tên đơn vị,Năm,Ten don vi\nXã A,2024,Xã A\n")
    assert message == (
        "crops: d.csv, line 1, column 'Ten don vi': expected each column once "
        "(Tên đơn vị, Năm; optional: Diện tích (ha), Ghi chú), "
        "found columns column 1 and column 3 both headed 'Tên đơn vị'"
    )


def test_unknown_column_is_refused_so_renames_do_not_slip_through(tmp_path):
    message = refusal(read_csv, tmp_path, "Tên đơn vị,Năm,Diện tích gieo trồng,Sản lượng\nXã A,2024,5,6\n")
    assert message == (
        "crops: d.csv, line 1, column 'Diện tích gieo trồng': expected only the catalog's columns "
        "(Tên đơn vị, Năm; optional: Diện tích (ha), Ghi chú); a renamed column needs its new header in the "
        "column's source_names, a column to leave out in source.ignore_columns, "
        "found a column the catalog does not know (and 1 more: 'Sản lượng')"
    )


def test_ignored_columns_are_kept_in_raw_but_not_landed(tmp_path):
    records = read_csv(tmp_path, "STT,Tên đơn vị,Năm\n1,Xã A,2024\n", dataset(ignore_columns=["stt"]))
    assert rows(records) == [{"area_name": "Xã A", "year": 2024}]
    assert records[0].raw == {"STT": "1", "Tên đơn vị": "Xã A", "Năm": "2024"}


def test_a_row_with_the_wrong_number_of_fields_is_an_issue(tmp_path):
    records = read_csv(tmp_path, "Tên đơn vị,Năm\nXã A,2024\nXã B\nXã C,2024,9\n")
    assert [r.issues for r in records] == [
        [],
        [Issue("Năm", "2 fields like the header", "1 fields")],
        [Issue("column 3", "2 fields like the header", "3 fields")],
    ]
    assert records[2].raw == {"Tên đơn vị": "Xã C", "Năm": "2024", "column 3": "9"}


def test_invalid_values_are_issues_naming_the_delivered_header(tmp_path):
    records = read_csv(tmp_path, 'Tên đơn vị,Năm,Diện tích (ha)\nXã A,năm nay,"1,5%"\n')
    assert records[0].issues == [
        Issue("Năm", "a whole number like 1.250.000 or 1250000", "năm nay"),
        Issue(
            "Diện tích (ha)",
            "a number like 1.234,5 or 1234.5 (a percentage only in a column whose unit is '%')",
            "1,5%",
        ),
    ]


def test_quoted_fields_may_span_lines_and_line_numbers_follow_the_file(tmp_path):
    records = read_csv(tmp_path, 'Tên đơn vị,Năm,Ghi chú\r\nXã A,2024,"dòng 1\r\ndòng 2"\r\nXã B,2024,\r\n')
    assert [r.source_row for r in records] == [2, 4]
    assert rows(records)[0]["note"] == "dòng 1 dòng 2"


def test_a_very_long_line_is_refused_naming_it(tmp_path):
    text = HEADER + "Xã A,2024,1,ok\nXã B,2024,1," + "x" * (csv_reader.MAX_LINE_BYTES + 10) + "\n"
    assert refusal(read_csv, tmp_path, text) == (
        "crops: d.csv, line 3: expected lines of at most 262,144 bytes, "
        "found a longer line (not a CSV file, or line breaks lost?)"
    )


def test_a_file_without_line_breaks_is_refused_before_it_is_buffered(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_LINE_BYTES", 1000)
    text = HEADER + "Xã A,2024,1,ok\n" + "x" * 5000
    assert refusal(read_csv, tmp_path, text) == (
        "crops: d.csv, line 3: expected lines of at most 1,000 bytes, found a longer line (not a CSV file, or line breaks lost?)"
    )


class _Pipe(io.RawIOBase):
    """A stream that cannot seek back (a pipe, say)."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self.data.readinto(buffer)


@pytest.mark.parametrize("stream", ["a file", "a pipe"])
def test_the_long_line_is_named_counting_from_where_the_guard_starts(stream, monkeypatch):
    """The guard counts lines only when it refuses one, reading again from where it started; a stream that
    cannot seek back is counted as it is read. Both name the same line, whatever the size of the reads."""
    monkeypatch.setattr(csv_reader, "MAX_LINE_BYTES", 1000)
    data = b"title\n" + b"a,b\n" + b"1,2\n" * 700 + b"x" * 1500 + b"\n3,4\n"
    # reads that end inside the long line (one holding all of it and its line break is not the guard's)
    for size in (1, 333, 1001):
        source = io.BytesIO(data) if stream == "a file" else _Pipe(data)
        source.read(6)  # the guard starts after the title line: its line 1 is the header
        guard = csv_reader.LineGuard(source, "crops", "d.csv")
        with pytest.raises(DeliveryError) as refused:
            while guard.read(size):
                pass
        assert refused.value.problem.line == 702, size


def test_an_unclosed_quote_is_refused_at_the_row_it_opens(tmp_path):
    text = HEADER + 'Xã A,2024,1,"open\n' + "Xã B,2024,1,more text\n" * 10_000
    assert refusal(read_csv, tmp_path, text) == (
        "crops: d.csv, line 2: expected fields of at most 131,072 characters (is a quote left open?), "
        "found field larger than field limit (131072)"
    )


def test_nul_bytes_and_undecodable_lines_are_refused_naming_the_line(tmp_path):
    """The wording is kho.landing.decode's; the reader must pass its line numbers through."""
    assert refusal(read_csv, tmp_path, HEADER + "Xã A,2024,1,\x00\n").startswith(
        "crops: d.csv, line 2: expected text without NUL bytes, found a NUL byte"
    )
    data = (HEADER + "Xã A,2024,1,\n").encode() + "Xã B,2024,1,\n".encode("cp1252")
    assert refusal(read_csv, tmp_path, data).startswith("crops: d.csv, line 3: expected utf-8")
    assert refusal(read_csv, tmp_path, data, dataset(encoding="utf-8")).startswith(
        "crops: d.csv, line 3: expected utf-8 text, found byte 0xe3"
    )


def test_an_unknown_encoding_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="crops: field 'source.encoding': unknown encoding 'klingon'"):
        read_csv(tmp_path, HEADER, dataset(encoding="klingon"))


def test_legacy_vietnamese_encodings_are_detected(tmp_path):
    data = (HEADER + "Xã Hòa Bình,2024,1,\n").encode("tcvn3")
    assert rows(read_csv(tmp_path, data))[0]["area_name"] == "Xã Hòa Bình"


def test_a_declared_legacy_encoding_is_decoded(tmp_path):
    data = b"area_name,year\nXa\xde L\xea\xccn,2024\n"  # cp1258 writes the tone as a combining mark
    records = read_csv(tmp_path, data, dataset(COLUMNS[:2], encoding="cp1258"))
    assert rows(records)[0]["area_name"] == "Xã Lền" == unicodedata.normalize("NFC", "Xã Lền")


def test_bom_utf8_and_utf16_are_read(tmp_path):
    assert rows(read_csv(tmp_path, ("\ufeff" + HEADER + "Xã A,2024,1,\n").encode()))[0]["area_name"] == "Xã A"
    text = (HEADER + "Xã A,2024,1,\n").replace(",", "\t")
    assert rows(read_csv(tmp_path, text.encode("utf-16")))[0]["year"] == 2024


def test_empty_and_header_only_files_are_refused(tmp_path):
    assert refusal(read_csv, tmp_path, "") == (
        "crops: d.csv: expected a header row and data rows, found an empty file"
    )
    assert (
        refusal(read_csv, tmp_path, "\n \n")
        == "crops: d.csv: expected a header row and data rows, found nothing"
    )
    assert refusal(read_csv, tmp_path, HEADER + "\n") == (
        "crops: d.csv: expected at least one data row after the header, found none"
    )


def test_no_header_is_refused_showing_the_first_row(tmp_path):
    assert refusal(read_csv, tmp_path, "a,b\n1,2\n") == (
        "crops: d.csv: expected a header naming the columns Tên đơn vị, Năm; optional: Diện tích (ha), Ghi chú "
        "within the first 20 rows, found 'a | b'"
    )


def test_title_rows_above_the_header_are_skipped(tmp_path):
    text = "BÁO CÁO DIỆN TÍCH GIEO TRỒNG,,,\nNăm 2024,,,\n,,,\n" + HEADER + "Xã A,2024,1,\n"
    records = read_csv(tmp_path, text)
    assert [r.source_row for r in records] == [5]


def test_skip_rows_puts_the_header_at_a_fixed_place(tmp_path):
    text = "Tên đơn vị,Năm\nXã Z,1999\n" + "Tên đơn vị,Năm\nXã A,2024\n"
    assert rows(read_csv(tmp_path, text, dataset(COLUMNS[:2], skip_rows=2))) == [
        {"area_name": "Xã A", "year": 2024}
    ]
    assert refusal(read_csv, tmp_path, "x\ny\nz\n", dataset(COLUMNS[:2], skip_rows=1)) == (
        "crops: d.csv: expected a header naming the columns Tên đơn vị, Năm on row 2, found 'x'"
    )


def test_numbering_row_section_headings_and_footnotes_are_not_data_rows(tmp_path):
    text = (
        "STT,Tên đơn vị,Năm,Diện tích (ha)\n"
        "A,B,1,2\n"
        "I. HUYỆN MIỀN NÚI,,,\n"
        "1,Xã A,2024,5\n"
        "II,HUYỆN ĐỒNG BẰNG,,\n"
        "2,Xã B,2024,6\n"
        "Ghi chú: số liệu sơ bộ,,,\n"
        "(*) Không gồm đất lâm nghiệp,,,\n"
        "Nguồn: Phòng Nông nghiệp,,,\n"
    )
    records = read_csv(tmp_path, text, dataset(ignore_columns=["STT"]))
    assert [r.source_row for r in records] == [4, 6]
    assert [row["area_name"] for row in rows(records)] == ["Xã A", "Xã B"]


def test_section_headings_carried_into_a_column(tmp_path):
    columns = [*COLUMNS[:3], {"name": "district", "type": "text"}]
    text = "Tên đơn vị,Năm,Diện tích (ha)\nI. HUYỆN A,,\nXã A,2024,5\nHuyện B,,\nXã B,2024,6\n"
    records = read_csv(tmp_path, text, dataset(columns, section_column="district"))
    assert [(row["area_name"], row["district"]) for row in rows(records)] == [
        ("Xã A", "I. HUYỆN A"),
        ("Xã B", "Huyện B"),
    ]


def test_a_sparse_data_row_that_could_land_is_not_taken_for_a_heading(tmp_path):
    columns = [{**COLUMNS[0]}, {**COLUMNS[1], "required": False}, COLUMNS[2], COLUMNS[3]]
    text = "STT,Tên đơn vị,Năm,Diện tích (ha)\n,HUYỆN A,,\n1,Xã A,,\n,Xã B,,\n"
    records = read_csv(tmp_path, text, dataset(columns, ignore_columns=["STT"]))
    assert [(r.source_row, r.rows[0]["area_name"]) for r in records] == [(3, "Xã A"), (4, "Xã B")]


def test_a_row_that_could_land_is_never_taken_for_a_footnote(tmp_path):
    text = "Tên đơn vị,Năm,Diện tích (ha)\n* Xã A,2024,5\nNguồn: Sở,,\n"
    assert [row["area_name"] for row in rows(read_csv(tmp_path, text))] == ["* Xã A"]


def test_footer_pattern_ends_the_table(tmp_path):
    text = HEADER + "Xã A,2024,5,\nNgười lập biểu,,Thủ trưởng đơn vị,\nNguyễn Văn A,,Trần Thị B,\n"
    records = read_csv(tmp_path, text, dataset(footer_pattern=r"người lập biểu"))
    assert len(records) == 1
    assert len(read_csv(tmp_path, text)) == 3  # without it the signatures are (bad) data rows


def test_a_repeated_header_is_skipped(tmp_path):
    text = HEADER + "Xã A,2024,5,\n" + HEADER + "Xã B,2024,6,\n"
    assert [r.source_row for r in read_csv(tmp_path, text)] == [2, 4]


def test_ambiguous_numbers_wait_for_the_files_evidence(tmp_path):
    text = 'Tên đơn vị,Năm,Diện tích (ha)\nXã A,2024,1.234\nXã B,2024,"2.345,6"\n'
    assert {r.source_row: r.rows[0]["planted_area"] for r in read_csv(tmp_path, text)} == {
        2: Decimal("1234"),
        3: Decimal("2345.6"),
    }
    text = "Tên đơn vị,Năm,Diện tích (ha)\nXã A,2024,1.234\nXã B,2024,2.5\n"
    assert {r.source_row: r.rows[0]["planted_area"] for r in read_csv(tmp_path, text)} == {
        2: Decimal("1.234"),
        3: Decimal("2.5"),
    }


def test_ambiguous_numbers_without_evidence_are_issues(tmp_path):
    records = read_csv(tmp_path, "Tên đơn vị,Năm,Diện tích (ha)\nXã A,2024,1.234\nXã B,2024,17\n")
    assert [r.issues for r in records] == [
        [],
        [
            Issue(
                "Diện tích (ha)",
                "a number with a clear decimal separator (1.234 could be 1.234 or 1234; "
                "the catalog can declare source.decimal_separator)",
                "1.234",
            )
        ],
    ]
    declared = read_csv(
        tmp_path, "Tên đơn vị,Năm,Diện tích (ha)\nXã A,2024,1.234\n", dataset(decimal_separator=",")
    )
    assert rows(declared)[0]["planted_area"] == Decimal("1234")


def test_held_back_rows_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr("kho.landing.readers.tabular.PENDING_LIMIT", 2)
    text = "Tên đơn vị,Năm,Diện tích (ha)\n" + "Xã A,2024,1.234\n" * 5 + 'Xã B,2024,"1,5"\n'
    records = read_csv(tmp_path, text)
    assert sum(1 for r in records if r.issues) == 3  # settled by the limit before the evidence came
    assert sum(1 for r in records if not r.issues) == 3
    assert PENDING_LIMIT == 10_000


def test_header_over_two_rows_without_merges_fills_groups_from_the_left(tmp_path):
    columns = [
        {"name": "area_name", "required": True, "source_names": ["Tên đơn vị"]},
        {"name": "winter_area", "type": "numeric", "source_names": ["Lúa đông xuân / Diện tích (ha)"]},
        {"name": "winter_yield", "type": "numeric", "source_names": ["Lúa đông xuân / Năng suất (tạ/ha)"]},
    ]
    text = 'Tên đơn vị,Lúa đông xuân,\n,Diện tích (ha),Năng suất (tạ/ha)\nXã A,5,"60,2"\n'
    assert rows(read_csv(tmp_path, text, dataset(columns, header_rows=2))) == [
        {"area_name": "Xã A", "winter_area": Decimal("5"), "winter_yield": Decimal("60.2")}
    ]


def test_catalog_mistakes_are_catalog_errors(tmp_path):
    with pytest.raises(
        CatalogError, match="field 'source.section_column': 'district' is not one of the columns"
    ):
        read_csv(tmp_path, HEADER, dataset(section_column="district"))
    bad = [*COLUMNS, {"name": "other", "source_names": ["Năm"]}]
    with pytest.raises(CatalogError, match="columns 'year' and 'other' both accept the header 'Năm'"):
        read_csv(tmp_path, HEADER, dataset(bad))


def test_a_large_csv_streams(tmp_path):
    """Not a timing: the reader yields the first record before reading the whole file."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(50_000):
            f.write(f'Xã {i},2024,"{i},5",\n')
    records = reader_for("csv")(dataset(), path, "big.csv")
    first = next(records)
    assert first.rows[0]["area_name"] == "Xã 0"
    assert sum(1 for _ in records) == 49_999


# --- Excel ------------------------------------------------------------------------------------------------

REPORT = [
    [None, "BÁO CÁO DIỆN TÍCH LÚA NĂM 2024"],
    [None, "(Kèm theo Công văn số 12/SNN)"],
    [],
    [None, "STT", "Tên đơn vị", "Lúa đông xuân", None, "Ngày báo cáo"],
    [None, None, None, "Diện tích (ha)", "Năng suất (tạ/ha)"],
    [None, "A", "B", 1, 2, 3],
    [None, "I. HUYỆN MIỀN NÚI"],
    [None, 1, "Xã A", 12.5, "60,2", dt.date(2024, 4, 3)],
    [None, 2, "Xã B", "1.234,5", 61, "03/04/2024"],
    [None, "II", "HUYỆN ĐỒNG BẰNG"],
    [None, 3, "Xã C", 7, 58.25, 45385],
    [None, "Ghi chú: số liệu sơ bộ"],
    [None, "Nguồn: Phòng Nông nghiệp"],
]
REPORT_MERGES = ["B1:F1", "B4:B5", "C4:C5", "D4:E4", "F4:F5", "B12:F12"]
REPORT_COLUMNS = [
    {"name": "area_name", "required": True, "source_names": ["Tên đơn vị"]},
    {
        "name": "winter_area",
        "type": "numeric",
        "unit": "ha",
        "source_names": ["Lúa đông xuân / Diện tích (ha)"],
    },
    {"name": "winter_yield", "type": "numeric", "source_names": ["Lúa đông xuân / Năng suất (tạ/ha)"]},
    {"name": "report_date", "type": "date", "required": True, "source_names": ["Ngày báo cáo"]},
    {"name": "district", "type": "text"},
]


def report_dataset(**source) -> Dataset:
    return dataset(
        REPORT_COLUMNS,
        **{
            "format": "xlsx",
            "header_rows": 2,
            "ignore_columns": ["STT"],
            "section_column": "district",
            **source,
        },
    )


def test_a_printed_report_reads_as_its_data_rows(tmp_path):
    records = read_xlsx(tmp_path, REPORT, report_dataset(), REPORT_MERGES)
    assert [r.source_row for r in records] == [8, 9, 11]  # Excel row numbers
    assert rows(records) == [
        {
            "area_name": "Xã A",
            "winter_area": Decimal("12.5"),
            "winter_yield": Decimal("60.2"),
            "report_date": dt.date(2024, 4, 3),
            "district": "I. HUYỆN MIỀN NÚI",
        },
        {
            "area_name": "Xã B",
            "winter_area": Decimal("1234.5"),
            "winter_yield": Decimal("61"),
            "report_date": dt.date(2024, 4, 3),
            "district": "I. HUYỆN MIỀN NÚI",
        },
        {
            "area_name": "Xã C",
            "winter_area": Decimal("7"),
            "winter_yield": Decimal("58.25"),
            "report_date": dt.date(2024, 4, 3),
            "district": "II HUYỆN ĐỒNG BẰNG",
        },
    ]
    assert records[1].raw == {
        "STT": "2",
        "Tên đơn vị": "Xã B",
        "Lúa đông xuân / Diện tích (ha)": "1.234,5",
        "Lúa đông xuân / Năng suất (tạ/ha)": "61",
        "Ngày báo cáo": "03/04/2024",
    }


def test_a_cell_merged_down_applies_to_every_row_it_spans(tmp_path):
    columns = [{"name": "district", "required": True, "source_names": ["Huyện"]}, *COLUMNS[:3]]
    sheet = [
        ["Huyện", "Tên đơn vị", "Năm", "Diện tích (ha)"],
        ["Huyện A", "Xã A1", 2024, 1],
        [None, "Xã A2", 2024, 2],
        ["Huyện B", "Xã B1", 2024, 3],
        ["Tổng cộng (gộp ô)", None, None, 6],
    ]
    records = read_xlsx(tmp_path, sheet, dataset(columns, format="xlsx"), merges=["A2:A3", "A5:C5"])
    assert [(row["district"], row["area_name"]) for row in rows(records)] == [
        ("Huyện A", "Xã A1"),
        ("Huyện A", "Xã A2"),
        ("Huyện B", "Xã B1"),
        ("Tổng cộng (gộp ô)", None),  # merged across: not repeated into other columns
    ]


def test_unknown_header_in_a_sheet_names_the_sheet_and_the_merged_name(tmp_path):
    ds = report_dataset()
    sheet = [list(r) for r in REPORT]
    sheet[4][3] = "Diện tích (nghìn ha)"
    assert refusal(read_xlsx, tmp_path, sheet, ds, REPORT_MERGES) == (
        "crops: d.xlsx, sheet 'Sheet1', line 5, column 'Lúa đông xuân / Diện tích (nghìn ha)': expected only the "
        "catalog's columns (Tên đơn vị, Ngày báo cáo; optional: Lúa đông xuân / Diện tích (ha), "
        "Lúa đông xuân / Năng suất (tạ/ha)); a renamed column needs its new header in the column's source_names, "
        "a column to leave out in source.ignore_columns, found a column the catalog does not know"
    )


def test_duplicate_excel_columns_are_named_by_letter(tmp_path):
    sheet = [["Tên đơn vị", "Năm", "Năm"], ["Xã A", 2024, 2024]]
    assert refusal(read_xlsx, tmp_path, sheet) == (
        "crops: d.xlsx, sheet 'Sheet1', line 1, column 'Năm': expected each column once "
        "(Tên đơn vị, Năm; optional: Diện tích (ha), Ghi chú), found columns B and C both headed 'Năm'"
    )


def test_numbers_stored_as_text_and_typed_cells(tmp_path):
    sheet = [
        ["Tên đơn vị", "Năm", "Diện tích (ha)", "Ghi chú"],
        ["Xã A", "2.024", "1.250.000", 42.0],
        ["Xã B", 2024.0, 0.1 + 0.2, True],
    ]
    assert rows(read_xlsx(tmp_path, sheet)) == [
        {"area_name": "Xã A", "year": 2024, "planted_area": Decimal("1250000"), "note": "42"},
        {"area_name": "Xã B", "year": 2024, "planted_area": Decimal("0.3"), "note": "TRUE"},
    ]


def test_formulas_read_their_saved_result_and_unsaved_ones_are_issues(tmp_path, caplog):
    sheet = [
        ["Tên đơn vị", "Năm", "Diện tích (ha)"],
        ["Xã A", 2024, Formula("SUM(D2:E2)", 12.5)],
        ["Xã B", 2024, Formula("C2*2")],
        ["Xã C", 2024, Error("#DIV/0!")],
        [Formula('"Xã "&"D"', "Xã D"), 2024, 3],
    ]
    records = read_xlsx(tmp_path, sheet)
    assert [r.rows[0].get("planted_area") for r in records] == [Decimal("12.5"), None, None, Decimal("3")]
    assert records[3].rows[0]["area_name"] == "Xã D"
    assert records[1].issues == [
        Issue(
            "Diện tích (ha)",
            "a value, not a formula whose result was never saved (open the file in Excel and save it again)",
            "=C2*2",
        )
    ]
    assert records[1].raw["Diện tích (ha)"] == "=C2*2"
    assert records[2].issues == [Issue("Diện tích (ha)", "a value, not an Excel error", "#DIV/0!")]
    assert (
        "d.xlsx, sheet 'Sheet1': 3 cells hold formulas (the first in C2); their saved results were read"
        in caplog.text
    )


def test_leading_empty_rows_and_columns_keep_excel_numbering(tmp_path):
    sheet = [[], [], [None, None, "Tên đơn vị", "Năm"], [None, None, "Xã A", "hai nghìn"]]
    records = read_xlsx(tmp_path, sheet)
    assert records[0].source_row == 4
    assert records[0].issues == [Issue("Năm", "a whole number like 1.250.000 or 1250000", "hai nghìn")]
    sheet = [[None, "Tên đơn vị", "Năm"], [None, "Xã A", 2024, "lạc"]]
    assert read_xlsx(tmp_path, sheet)[0].issues == [Issue("D", "nothing outside the named columns", "lạc")]


def test_sheet_by_name_position_or_first_visible(tmp_path):
    book = [
        Sheet("Hướng dẫn", [["Điền số liệu vào sheet Số liệu"]], hidden=True),
        Sheet("Số liệu", [["Tên đơn vị", "Năm"], ["Xã A", 2024]]),
        Sheet("Khác", [["Tên đơn vị", "Năm"], ["Xã B", 2023]]),
    ]
    assert rows(read_xlsx(tmp_path, book, dataset(format="xlsx")))[0]["area_name"] == "Xã A"
    assert rows(read_xlsx(tmp_path, book, dataset(format="xlsx", sheet="khác")))[0]["area_name"] == "Xã B"
    assert rows(read_xlsx(tmp_path, book, dataset(format="xlsx", sheet=3)))[0]["area_name"] == "Xã B"
    assert refusal(read_xlsx, tmp_path, book, dataset(format="xlsx", sheet="Năm 2024")) == (
        "crops: d.xlsx: expected a sheet named 'Năm 2024', found sheets 'Hướng dẫn', 'Số liệu', 'Khác'"
    )
    assert refusal(read_xlsx, tmp_path, book, dataset(format="xlsx", sheet=4)) == (
        "crops: d.xlsx: expected a sheet number 4, found 3 worksheets ('Hướng dẫn', 'Số liệu', 'Khác')"
    )


def test_all_sheets_one_per_month(tmp_path):
    columns = [*COLUMNS[:2], {"name": "month_sheet", "type": "text"}]
    ds = dataset(columns, format="xlsx", sheets="all", sheet_column="month_sheet", skip_sheets=["Tổng hợp"])
    book = [
        Sheet("Tổng hợp", [["Tổng", "=SUM"]]),
        Sheet("T1", [["Tên đơn vị", "Năm"], ["Xã A", 2024]]),
        Sheet("T2", [["Tên đơn vị", "Năm"], ["Xã A", 2024], ["Xã B", 2024]]),
        Sheet("T3", [["Tên đơn vị", "Năm"]]),  # not filled in yet
        Sheet("T4", [[]]),
        Sheet("Danh mục", [["mã"]], hidden=True),
    ]
    records = read_xlsx(tmp_path, book, ds)
    assert [(r.source_row, r.rows[0]["month_sheet"]) for r in records] == [(2, "T1"), (2, "T2"), (3, "T2")]
    assert records[0].raw["_sheet"] == "T1"


def test_sheet_column_needs_all_sheets(tmp_path):
    columns = [*COLUMNS[:2], {"name": "month_sheet", "type": "text"}]
    with pytest.raises(CatalogError, match="field 'source.sheet_column' needs 'source.sheets: all'"):
        read_xlsx(
            tmp_path, [["Tên đơn vị", "Năm"]], dataset(columns, format="xlsx", sheet_column="month_sheet")
        )


def test_empty_sheet_and_header_only(tmp_path):
    assert refusal(read_xlsx, tmp_path, [[]]) == (
        "crops: d.xlsx, sheet 'Sheet1': expected a header row and data rows, found an empty sheet"
    )
    assert refusal(read_xlsx, tmp_path, [["Tên đơn vị", "Năm"], [], ["Ghi chú: chưa có số liệu"]]) == (
        "crops: d.xlsx: expected at least one data row after the header, found none"
    )


def test_dates_in_a_1904_workbook(tmp_path):
    path = write_xlsx(tmp_path / "d.xlsx", [["Tên đơn vị", "Ngày"], ["Xã A", 43923]])
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b"<sheets>", b'<workbookPr date1904="1"/><sheets>'
    )
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    columns = [COLUMNS[0], {"name": "day", "type": "date", "source_names": ["Ngày"]}]
    records = list(excel.read(dataset(columns, format="xlsx"), path, "d.xlsx"))
    assert records[0].rows[0]["day"] == dt.date(2024, 4, 3)


# --- files that are not workbooks --------------------------------------------------------------------------


def read_bytes(tmp_path: Path, data: bytes) -> list[Record]:
    path = tmp_path / "d.xlsx"
    path.write_bytes(data)
    return list(excel.read(dataset(format="xlsx"), path, "d.xlsx"))


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "an empty file"),
        (
            b"<html><body><table><tr><td>1</td></tr></table></body></html>",
            "a web page (HTML) saved with an Excel name; open it in Excel and save as .xlsx",
        ),
        (
            b"\xef\xbb\xbf  <TABLE border=1><tr><td>x</td></tr></TABLE>",
            "a web page (HTML) saved with an Excel name; open it in Excel and save as .xlsx",
        ),
        (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"></Workbook>',
            "an XML Spreadsheet 2003; open it in Excel and save as .xlsx",
        ),
        ("Tên đơn vị,Năm\nXã A,2024\n".encode(), "a text file (a CSV with an Excel name?)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a file starting with bytes 89 50 4e 47 0d 0a 1a 0a"),
        (b"PK\x05\x06" + b"\x00" * 18, "an empty zip archive"),
    ],
)
def test_files_that_are_not_workbooks_are_refused_saying_what_they_are(tmp_path, data, found):
    assert (
        refusal(read_bytes, tmp_path, data)
        == f"crops: d.xlsx: expected an Excel workbook (.xlsx or .xls), found {found}"
    )


def test_password_protected_workbook_is_refused(tmp_path):
    ole = excel.OLE + b"\x00" * 504 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 50
    ole += "EncryptedPackage".encode("utf-16-le") + b"\x00" * 2000
    assert refusal(read_bytes, tmp_path, ole) == (
        "crops: d.xlsx: expected an Excel workbook (.xlsx or .xls), "
        "found a password-protected workbook (remove the password in Excel and send it again)"
    )


def test_damaged_ole_file_is_refused(tmp_path):
    message = refusal(read_bytes, tmp_path, excel.OLE + b"\x00" * 600)
    assert message.startswith(
        "crops: d.xlsx: expected an Excel workbook (.xlsx or .xls), found an unreadable workbook ("
    )


def test_truncated_xlsx_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "full.xlsx", [["Tên đơn vị", "Năm"]] + [["Xã A", 2024]] * 500)
    data = path.read_bytes()
    assert refusal(read_bytes, tmp_path, data[: len(data) // 2]) == (
        "crops: d.xlsx: expected a complete .xlsx file, found a damaged or truncated zip archive"
    )


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "d.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<x/>")
    assert refusal(excel.read, dataset(format="xlsx"), path, "d.xlsx") == (
        "crops: d.xlsx: expected an Excel workbook (.xlsx or .xls), "
        "found an OpenDocument spreadsheet (.ods); save it as .xlsx"
    )


def _with_member(tmp_path: Path, name: str, data: bytes) -> Path:
    path = write_xlsx(tmp_path / "d.xlsx", [["Tên đơn vị", "Năm"], ["Xã A", 2024]])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return path


def test_zip_bomb_by_ratio_is_refused_before_inflating(tmp_path):
    path = _with_member(tmp_path, "xl/media/padding.bin", b"\x00" * (3 << 20))
    assert re.fullmatch(
        r"crops: d.xlsx: expected a workbook whose parts expand at most 100 times, "
        r"found part 'xl/media/padding.bin' expanding 1,\d{3} times",
        refusal(excel.read, dataset(format="xlsx"), path, "d.xlsx"),
    )


def test_zip_bomb_by_size_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(excel, "MAX_UNCOMPRESSED", 1 << 20)
    path = write_xlsx(
        tmp_path / "d.xlsx", [["Tên đơn vị", "Năm"]] + [[f"Xã {i}", 2024] for i in range(20_000)]
    )
    assert refusal(excel.read, dataset(format="xlsx"), path, "d.xlsx") == (
        "crops: d.xlsx: expected a workbook expanding to at most 1 MB, found a workbook expanding to 2.0 MB"
    )


def test_zip_lying_about_its_sizes_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "d.xlsx", [["Tên đơn vị", "Năm"]] + [["Xã A", 2024]] * 2000)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    real = info.file_size.to_bytes(4, "little")
    fake = (info.file_size // 10).to_bytes(4, "little")
    assert data.count(real) >= 1
    data = data.replace(real, fake)
    path.write_bytes(bytes(data))
    message = refusal(excel.read, dataset(format="xlsx"), path, "d.xlsx")
    assert message.startswith(
        "crops: d.xlsx: expected a complete .xlsx file, found a damaged part 'xl/worksheets/sheet1.xml' ("
    )
