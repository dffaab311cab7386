"""The set-based landing (kho.landing.bulk) lands exactly what the row-by-row path lands, or hands over to it.

Each file is landed twice on the real PostgreSQL, once as ``land_file`` chooses and once with the
set-based path switched off, and the raw rows, quarantined rows and counts must be the same. The path
taken is part of the report: a clean export must go set-based (that is the point), a file with anything
to clean or convert must go row by row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata

import pytest
from psycopg import sql

from kho.catalog import catalog
from kho.errors import DeliveryError
from kho.landing import bulk
from kho.landing.areas import usual_names
from kho.landing.land import land_file, raw_columns
from kho.landing.legacy_vn import encode_as
from kho.settings import REPO

SAMPLES = REPO / "samples"
TELECOM = SAMPLES / "digital_infrastructure" / "ha_tang_vien_thong_2025_q3.csv"


def landed(warehouse, dataset: str, load_id: str) -> tuple[list, list]:
    """Raw rows (provenance that differs per load left out) and quarantined rows of one load."""
    ds = catalog().dataset(dataset)
    columns = [c for c, _ in raw_columns(ds) if c not in ("_load_id", "_loaded_at")]
    rows = warehouse.execute(
        sql.SQL("select {} from {} where _load_id = %s order by _source_row").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(ds.raw_schema, ds.raw_table)
        ),
        [load_id],
    ).fetchall()
    held = warehouse.execute(
        "select source_file, source_row, column_name, reason, raw_values from kho_meta.quarantine"
        " where load_id = %s order by source_row",
        [load_id],
    ).fetchall()
    return rows, held


def forget(warehouse, dataset: str, load_id: str | None, sha: str | None = None) -> None:
    """Take a test load out again: the e2e tests count what the samples land."""
    ds = catalog().dataset(dataset)
    if load_id:
        warehouse.execute(
            sql.SQL("delete from {} where _load_id = %s").format(sql.Identifier(ds.raw_schema, ds.raw_table)),
            [load_id],
        )
        warehouse.execute("delete from kho_meta.quarantine where load_id = %s", [load_id])
        warehouse.execute("delete from kho_meta.loads where load_id = %s", [load_id])
    if sha:
        warehouse.execute(
            "delete from kho_meta.loads where dataset = %s and file_sha256 = %s", [dataset, sha]
        )


def both_ways(warehouse, s, monkeypatch, dataset: str, path):
    """(report, outcome) as land_file chooses, then row by row; each outcome is a refusal or the rows."""
    outcomes = []
    for rows_only in (False, True):
        with monkeypatch.context() as m:
            if rows_only:
                m.setattr(bulk, "eligible", lambda ds: False)
            try:
                report = land_file(dataset, path, s=s)
                assert report.status != "skipped", "a file the suite has landed already"
            except DeliveryError as exc:
                report = exc.report
                outcomes.append((report, ("refused", report.error)))
                forget(warehouse, dataset, report.load_id, report.file_sha256)
                continue
        counts = (report.status, report.rows_delivered, report.rows_landed, report.rows_quarantined)
        outcomes.append(
            (report, (counts, report.quarantine_reasons, *landed(warehouse, dataset, report.load_id)))
        )
        forget(warehouse, dataset, report.load_id, report.file_sha256)
    (chosen, first), (_, second) = outcomes
    assert first == second
    return chosen, first


def telecom(
    tmp_path, name: str, edit=None, *, encoding: str = "utf-8", newline: str = "\n", bom: bool = False
):
    """The telecom sample (a clean export), with ``edit`` applied to its rows (header first)."""
    rows = list(csv.reader(io.StringIO(TELECOM.read_text(encoding="utf-8-sig"))))
    if edit:
        rows = edit(rows)
    out = io.StringIO()
    # Every field quoted: never the sample's own bytes, which the e2e tests land.
    csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL).writerows(rows)
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + encode_as(out.getvalue(), encoding))
    return path


SAMPLE_FILES = sorted(
    p.relative_to(SAMPLES)
    for d in ("digital_infrastructure", "dti_scores", "organic_zones", "intangible_heritage")
    for p in (SAMPLES / d).glob("*.csv")
)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=str)
def test_every_csv_sample_lands_the_same_either_way(stack, warehouse, monkeypatch, tmp_path, sample):
    s, _ = stack
    # Line ends swapped (LF <-> CRLF), which both paths read alike: other bytes than the e2e tests land.
    data = (SAMPLES / sample).read_bytes()
    swapped = data.replace(b"\r\n", b"\n") if b"\r\n" in data else data.replace(b"\n", b"\r\n")
    path = tmp_path / sample.name
    path.write_bytes(swapped)
    report, _ = both_ways(warehouse, s, monkeypatch, sample.parts[0], path)
    assert report.method in ("bulk", "rows")


def set_cell(row_every: int, column: int, value: str):
    def edit(rows):
        for i in range(1, len(rows), row_every):
            rows[i][column] = value
        return rows

    return edit


CLEAN = {
    "as delivered": {},
    "Windows line ends and a BOM": {"newline": "\r\n", "bom": True},
    "Windows-1258": {"encoding": "cp1258"},
    "TCVN3": {"encoding": "tcvn3"},
    "a dash for no value": {"edit": set_cell(11, 8, "-")},
    "a backslash in a value": {"edit": set_cell(13, 3, r"Viettel\Telecom \N")},
    # Unikey's "Unicode tổ hợp": accents as combining marks. A UTF-8 file goes to Arrow as it came, so
    # text not in NFC is found in its batch and the file is read again, normalized.
    "decomposed accents": {"edit": lambda rows: [[unicodedata.normalize("NFD", c) for c in r] for r in rows]},
    "one decomposed name deep in the file": {
        "edit": lambda rows: [*rows[:60], [unicodedata.normalize("NFD", c) for c in rows[60]], *rows[61:]]
    },
    # More than Arrow's first read (64 kB) before the header: the lines before the first data row are
    # skipped by Kho, not by Arrow, which skips rows of its first block only.
    "a long preamble": {
        "edit": lambda rows: (
            [[f"Nguồn số liệu {i}: " + "Sở Thông tin và Truyền thông " * 800] for i in range(3)] + rows
        )
    },
}


@pytest.mark.parametrize("variant", CLEAN, ids=str)
def test_a_clean_export_lands_set_based(stack, warehouse, monkeypatch, tmp_path, variant):
    s, _ = stack
    path = telecom(tmp_path, "telecom.csv", **CLEAN[variant])
    report, (counts, *_) = both_ways(warehouse, s, monkeypatch, "digital_infrastructure", path)
    assert report.method == "bulk"
    assert counts[0] == "landed" and counts[1] == counts[2] > 100 and counts[3] == 0


def test_unknown_names_and_empty_required_cells_are_quarantined_set_based_too(
    stack, warehouse, monkeypatch, tmp_path
):
    s, _ = stack

    def edit(rows):
        rows[3][2] = "Phường Không Có Thật"
        rows[7][2] = "Phường Không Có Thật"
        rows[11][3] = ""  # the operator is required
        return rows

    path = telecom(tmp_path, "telecom_bad_names.csv", edit)
    report, (counts, reasons, _, held) = both_ways(warehouse, s, monkeypatch, "digital_infrastructure", path)
    assert report.method == "bulk"
    assert counts[3] == 3 and counts[1] == counts[2] + 3
    assert [(r[1], r[2]) for r in held] == [(4, "commune_name"), (8, "commune_name"), (12, "operator")]
    assert held[0][3].startswith("unknown commune name 'Phường Không Có Thật'")
    assert held[0][4]["Tên xã/phường"] == "Phường Không Có Thật"
    assert reasons["required column 'operator' is empty"] == 1


@pytest.mark.parametrize("ahead", ["every usual name", "none"])
def test_names_learnt_ahead_land_as_names_learnt_on_the_way(stack, warehouse, monkeypatch, tmp_path, ahead):
    """While the file is hashed, the landing learns the reference's names (as many as it has time for):
    learnt all ahead or none, the keys and the unknown names' quarantine are the row-by-row path's."""
    s, _ = stack
    learn_ahead, learnt = bulk.learn_ahead, []

    def learn(found, done):
        learn_ahead(found, (lambda: True) if ahead == "none" else (lambda: False))  # done: stop
        learnt.extend(len(known.names) for known in found.name_keys.values())

    def edit(rows):
        rows[3][2] = "Phường Không Có Thật"
        rows[5][2] = rows[5][2].upper()  # not as the reference writes it: learnt on the way
        return rows

    monkeypatch.setattr(bulk, "learn_ahead", learn)
    monkeypatch.setattr(bulk, "convert_ahead", lambda *args: None)  # names learnt from no batch first
    path = telecom(tmp_path, f"telecom_ahead_{ahead[0]}.csv", edit)
    report, (counts, _, rows, held) = both_ways(warehouse, s, monkeypatch, "digital_infrastructure", path)
    assert report.method == "bulk"
    assert learnt == ([0] if ahead == "none" else [len(usual_names("commune", ("08",)))])
    assert counts[3] == 1 and [(r[1], r[2]) for r in held] == [(4, "commune_name")]
    columns = [c for c, _ in raw_columns(catalog().dataset("digital_infrastructure"))]
    key = [c for c in columns if c not in ("_load_id", "_loaded_at")].index("commune_name_key")
    assert len(rows) == counts[2] and all(row[key] for row in rows)  # every landed row has its name key


def many_batches(edit=None):
    """The telecom sample's rows a hundred times over (14,400 rows, 860 kB: four of Arrow's reads, 64 kB
    then twice as much each time), an unknown name in the first batch and an empty required cell in the
    last; ``edit``: one of EDITS."""

    def edited(rows):
        rows = [rows[0], *rows[1:] * 100]
        rows[3] = [*rows[3][:2], "Phường Không Có Thật", *rows[3][3:]]
        rows[-5] = [*rows[-5][:3], "", *rows[-5][4:]]  # the operator is required
        if edit:
            at, _, change = EDITS[edit]
            rows[at] = change(rows[at])
        return rows

    return edited


def converting_ahead(monkeypatch, *, done: bool) -> list:
    """Convert ahead as if the hash were done (``done``) or never; the list gets each landing's
    (what was started, batches converted ahead)."""
    convert_ahead, started = bulk.convert_ahead, []

    def convert(found, ds, path, name, _):
        convert_ahead(found, ds, path, name, lambda: done)
        started.append((found.started, len(found.started.converted)))

    monkeypatch.setattr(bulk, "convert_ahead", convert)
    return started


AHEAD = {
    "no batch": {"done": True},
    "two batches, then the rest on the way": {"done": False, "batches": 2},
    "every batch": {"done": False, "batches": 100},
}
EDITS = {  # the row changed (its index in the file, the header's 0), the batch it is in, and how
    # read again, normalized: set-based still
    "decomposed accents in the third batch": (
        6000,
        3,
        lambda row: [unicodedata.normalize("NFD", c) for c in row],
    ),
    # row by row
    "a value to clean in the third batch": (6000, 3, lambda row: [*row[:3], f"  {row[3]}  ", *row[4:]]),
    "a carriage return inside a value in the first batch": (
        20,
        1,
        lambda row: [*row[:3], "Viettel\rHN", *row[4:]],
    ),
}
CASES = [
    *((ahead, None) for ahead in AHEAD),
    *(("every batch", edit) for edit in EDITS),
    ("two batches, then the rest on the way", "decomposed accents in the third batch"),
]


@pytest.mark.parametrize(("ahead", "edit"), CASES, ids=str)
def test_batches_converted_ahead_land_as_batches_converted_on_the_way(
    stack, warehouse, monkeypatch, tmp_path, ahead, edit
):
    """While the file is hashed, the landing reads and converts its first batches (as many as it has time
    for, up to AHEAD_BATCHES): converted ahead or not, what lands and what is quarantined is the row-by-row
    path's; what converting finds (text to normalize, a value to clean), ahead or on the way, has the same
    outcome; and Arrow's reader and the file are closed after."""
    s, _ = stack
    started = converting_ahead(monkeypatch, done=AHEAD[ahead]["done"])
    monkeypatch.setattr(bulk, "AHEAD_BATCHES", AHEAD[ahead].get("batches", bulk.AHEAD_BATCHES))
    path = telecom(tmp_path, "telecom_batches.csv", many_batches(edit))
    report, (counts, _, rows, held) = both_ways(warehouse, s, monkeypatch, "digital_infrastructure", path)
    # four batches in all; what converting one finds ends converting ahead there
    converted = min(AHEAD[ahead].get("batches", 0), EDITS[edit][1] - 1 if edit else 4)
    assert [n for _, n in started] == [converted]
    assert report.method == ("bulk" if edit in (None, "decomposed accents in the third batch") else "rows")
    assert counts[1] == 14_400 and counts[3] == 2
    assert [(r[1], r[2]) for r in held] == [(4, "commune_name"), (14_397, "operator")]
    reading = started[0][0]
    assert reading.stream.closed and reading.batches.gi_frame is None  # closed, Arrow's reader with it


def test_a_delivery_landed_already_closes_what_was_read_ahead(stack, warehouse, monkeypatch, tmp_path):
    """The same file delivered again is skipped once its sha256 is known: the batches converted meanwhile
    are dropped, Arrow's reader and the file closed."""
    s, _ = stack
    started = converting_ahead(monkeypatch, done=False)
    monkeypatch.setattr(bulk, "AHEAD_BATCHES", 2)  # two of four: Arrow's reader is still reading
    path = telecom(tmp_path, "telecom_again.csv", many_batches())
    first = land_file("digital_infrastructure", path, s=s)
    try:
        again = land_file("digital_infrastructure", path, s=s)
    finally:
        forget(warehouse, "digital_infrastructure", first.load_id, first.file_sha256)
    assert (first.status, again.status, again.load_id) == ("landed", "skipped", first.load_id)
    assert [n for _, n in started] == [2, 2]
    assert all(r.stream.closed and r.batches.gi_frame is None for r, _ in started)


def test_a_row_longer_than_arrows_first_reads_lands_set_based(stack, warehouse, monkeypatch, tmp_path):
    """A row of 200 kB near the top (two cells of 100 kB, within the reader's limits) spans Arrow's first
    reads (64 kB, then 128 kB): each read ends at a line end, or Arrow refuses a row straddling two of its
    blocks and the file goes row by row."""
    s, _ = stack
    nfd = SAMPLES / "intangible_heritage" / "di_san_phi_vat_the_utf8_nfd.csv"
    rows = list(csv.reader(io.StringIO(unicodedata.normalize("NFC", nfd.read_text(encoding="utf-8")))))
    names = rows[0]
    rows[1][names.index("Tên di sản")] = "Thực-hành-Then-của-người-Tày-" * 3000
    rows[1][names.index("Địa bàn")] = "Thượng-Lâm-Lâm-Bình-Nà-Hang-" * 3200
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "di_san_dai.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert 190_000 < len(out.getvalue().splitlines()[1].encode()) < 256 * 1024
    report, (counts, *_) = both_ways(warehouse, s, monkeypatch, "intangible_heritage", path)
    assert report.method == "bulk"
    assert counts[0] == "landed" and counts[1] == counts[2] == len(rows) - 1


NEEDS_ROWS = {
    "a Vietnamese thousands separator": set_cell(5, 8, "1.234"),
    "a space after a value": set_cell(7, 3, "Viettel "),
    "a space before a value": set_cell(7, 3, " Viettel"),
    "two spaces in a value": set_cell(7, 3, "Viettel  Telecom"),
    "a non-breaking space in a value": set_cell(7, 3, "Viettel\u00a0Telecom"),
    "a zero-width space in a value": set_cell(7, 3, "Viettel\u200bTelecom"),
    "a tab in a value": set_cell(7, 3, "Viettel\tTelecom"),
    "a quote in a value": set_cell(7, 3, 'Viettel "VTT"'),
    "a line break inside a quoted value": set_cell(9, 3, "Viettel\nTelecom"),
    "a carriage return inside a quoted value": set_cell(9, 3, "Viettel\rTelecom"),
    "a footnote": lambda rows: [*rows, ["Ghi chú: số liệu sơ bộ"]],
    "blank lines at the end": lambda rows: [*rows, [], []],
    "a repeated header": lambda rows: [*rows[:20], rows[0], *rows[20:]],
    "a row with one field too many": lambda rows: [*rows[:9], [*rows[9], "7"], *rows[10:]],
}


@pytest.mark.parametrize("variant", NEEDS_ROWS, ids=str)
def test_anything_to_clean_or_judge_goes_row_by_row_with_the_same_result(
    stack, warehouse, monkeypatch, tmp_path, variant
):
    s, _ = stack
    path = telecom(tmp_path, "telecom_variant.csv", NEEDS_ROWS[variant])
    report, _ = both_ways(warehouse, s, monkeypatch, "digital_infrastructure", path)
    assert report.method == "rows"


def test_a_file_written_to_while_it_lands_lands_as_it_is_in_the_end(stack, warehouse, tmp_path):
    """A file lands while a thread copies it into the archive. One written to meanwhile (here a row is
    appended once the first batch is read) is taken again: the load, its sha256 and the archive copy all
    hold the file as it is in the end, and nothing is recorded for the bytes first hashed."""
    s, _ = stack
    path = telecom(tmp_path, "telecom_growing.csv", set_cell(17, 3, "Viettel Telecom"))
    first = path.read_bytes()
    last_row = first.splitlines(keepends=True)[-1]
    grown = first + last_row
    for content in (first, grown):
        forget(warehouse, "digital_infrastructure", None, hashlib.sha256(content).hexdigest())
    whole = land_file("digital_infrastructure", path, s=s)  # how many rows the file has, unchanged
    forget(warehouse, "digital_infrastructure", whole.load_id, whole.file_sha256)

    def append_once(_rows: int) -> None:
        if path.read_bytes() == first:
            with path.open("ab") as out:
                out.write(last_row)

    report = land_file("digital_infrastructure", path, s=s, progress=append_once)
    try:
        assert path.read_bytes() == grown
        assert report.status == "landed" and report.method == "bulk"
        assert report.file_sha256 == hashlib.sha256(grown).hexdigest()
        with open(report.archived_path, "rb") as archived:
            assert archived.read() == grown
        assert report.rows_delivered == whole.rows_delivered + 1
        rows, _ = landed(warehouse, "digital_infrastructure", report.load_id)
        assert len(rows) == report.rows_landed == report.rows_delivered
        loads = "select count(*) from kho_meta.loads where file_sha256 = %s"
        assert warehouse.execute(loads, [whole.file_sha256]).fetchone()[0] == 0
    finally:
        forget(warehouse, "digital_infrastructure", report.load_id, report.file_sha256)
