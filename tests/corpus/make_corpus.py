"""Write the corpus deliveries that are binary or large; the small text ones are checked in as they are.

    .kho/venvs/main/bin/python -m tests.corpus.make_corpus           # rewrite the committed binary files
    .kho/venvs/main/bin/python -m tests.corpus.make_corpus --large   # also the large ones (git-ignored)

Every file is built from constants, with fixed zip timestamps, so a run writes the same bytes (given the same
zlib). ``SMALL`` files are committed under ``tests/corpus/``; ``LARGE`` ones (a 1 MB line, a zip expanding to
256 MB) are not: ``tests/integration/test_bad_deliveries.py`` builds them with :func:`build` when it needs
them. Workbooks are written with ``tests/data/readers/xlsx_writer.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.data.readers.xlsx_writer import Error, Formula, Sheet, write_xlsx

CORPUS = Path(__file__).resolve().parent
ZIP_TIME = (2025, 1, 1, 0, 0, 0)

# --- material_prices: the Department of Construction's monthly bulletin, one sheet per month ------------

PRICE_HEADER = [
    "STT",
    "Tên vật liệu",
    "Quy cách, tiêu chuẩn kỹ thuật",
    "Đơn vị tính",
    "Giá chưa có thuế GTGT (đồng)",
    "Khu vực áp dụng",
    "Ghi chú",
]
AREAS = ["Trung tâm phường Minh Xuân", "Trung tâm phường Hà Giang 1"]
MATERIALS = [  # group heading, then (material, specification, unit, price in the first area)
    ("I. XI MĂNG", None),
    ("Xi măng PCB30", "TCVN 6260:2020, đóng bao 50 kg", "Tấn", 1_422_000),
    ("Xi măng PCB40", "TCVN 6260:2020, đóng bao 50 kg", "Tấn", 1_554_000),
    ("Xi măng rời PC40", "TCVN 2682:2020", "Tấn", 1_300_000),
    ("II. CÁT, ĐÁ, SỎI", None),
    ("Cát vàng", "Cát bê tông, TCVN 7570:2006", "m3", 420_000),
    ("Cát xây", "TCVN 9205:2012", "m3", 310_000),
    ("Đá dăm 1x2", "TCVN 7570:2006", "m3", 385_000),
    ("Đá hộc", "Đá xây", "m3", 250_000),
    ("III. THÉP XÂY DỰNG", None),
    ("Thép cuộn D6", "CB240-T, TCVN 1651-1:2018", "kg", 15_650),
    ("Thép thanh D10", "CB300-V, TCVN 1651-2:2018", "kg", 15_900),
    ("Thép thanh D16", "CB400-V, TCVN 1651-2:2018", "kg", 15_750),
    ("IV. GẠCH XÂY", None),
    ("Gạch đặc tuynel", "220x105x60 mm", "viên", 1_350),
    ("Gạch rỗng 2 lỗ", "220x105x60 mm", "viên", 1_150),
]
PRICE_ROWS = 24  # Excel rows 10 to 38 hold 24 prices under 4 headings


def price_table() -> list[list[object]]:
    """The bulletin's body: headings and one row per material and area (prices in the second area 4% up)."""
    rows: list[list[object]] = []
    number = 0
    for material in MATERIALS:
        if material[1] is None:
            rows.append([material[0]])
            continue
        name, spec, unit, price = material
        for k, area in enumerate(AREAS):
            number += 1
            rows.append([number, name, spec, unit, round(price * (1 + 0.04 * k), -1), area, None])
    assert number == PRICE_ROWS
    return rows


def bulletin(
    body: list[list[object]] | None = None, header: list[str] = PRICE_HEADER, month: str = "04"
) -> list[list[object]]:
    """A printed bulletin: title block, header (row 7), column numbers, body, notes and signatures."""
    body = price_table() if body is None else body
    return [
        ["UBND TỈNH TUYÊN QUANG"],
        ["SỞ XÂY DỰNG"],
        [],
        [f"CÔNG BỐ GIÁ VẬT LIỆU XÂY DỰNG THÁNG {month} NĂM 2025"],
        ["(Kèm theo Văn bản số 412/SXD-KTXD của Sở Xây dựng)"],
        [],
        list(header),
        [str(i) for i in range(1, len(header) + 1)],
        *body,
        [],
        ["Ghi chú: Giá trên chưa bao gồm thuế giá trị gia tăng (VAT)."],
        [None, "Người lập biểu", None, None, "KT. GIÁM ĐỐC"],
    ]


def edited(table: list[list[object]], stt: int, column: int, value: object) -> list[list[object]]:
    """The table with one cell of the material row numbered ``stt`` replaced."""
    out = [list(r) for r in table]
    (row,) = [r for r in out if r and r[0] == stt]
    row[column] = value
    return out


def workbook(sheets: list[Sheet], extra: dict[str, bytes] | None = None) -> bytes:
    """An .xlsx with fixed timestamps, plus ``extra`` parts."""
    raw = io.BytesIO()
    write_xlsx(raw, sheets)
    return normalised(raw.getvalue(), extra)


def normalised(data: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        parts = [(i.filename, src.read(i)) for i in src.infolist()]
        for name, content in parts + list((extra or {}).items()):
            dst.writestr(_info(name), content)
    return out.getvalue()


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def month(rows: list[list[object]], name: str = "T04-2025") -> list[Sheet]:
    return [Sheet("Hướng dẫn", [["Mỗi tháng một trang tính"]]), Sheet(name, rows, merges=["A4:G4", "A5:G5"])]


def prices_formula_cells() -> bytes:
    """A price computed by a formula whose result was saved lands; one never calculated and a #DIV/0! are
    quarantined (2 of 24 rows, under the 10% limit)."""
    table = price_table()
    table = edited(table, 2, 4, Formula("ROUND(E10*1.04,-1)", 1_478_880))
    table = edited(table, 6, 4, Formula("E14*1.04"))
    table = edited(table, 15, 4, Error("#DIV/0!"))
    return workbook(month(bulletin(table)))


def prices_formula_like_text() -> bytes:
    """Text cells starting with = + - @ (formula injection in a CSV export) land as the agency typed them."""
    table = price_table()
    table = edited(table, 3, 1, "=Xi măng PCB40")
    table = edited(table, 4, 2, '+TCVN 6260:2020 =HYPERLINK("http://evil.example")')
    table = edited(table, 5, 6, "-5% so với tháng trước")
    table = edited(table, 6, 5, "@Trung tâm phường Hà Giang 1")
    return workbook(month(bulletin(table)))


def prices_text_in_price() -> bytes:
    """'Liên hệ' (ask the seller) where a price belongs: that row is quarantined, the others land."""
    return workbook(month(bulletin(edited(price_table(), 11, 4, "Liên hệ"))))


def prices_header_only() -> bytes:
    """The month's sheet with its header and column numbers but no prices yet."""
    return workbook(month(bulletin([])))


def prices_missing_column() -> bytes:
    """No 'Đơn vị tính' column: a price without its unit means nothing."""
    drop = PRICE_HEADER.index("Đơn vị tính")
    header = [h for i, h in enumerate(PRICE_HEADER) if i != drop]
    table = [[c for i, c in enumerate(r) if i != drop] if len(r) > 1 else r for r in price_table()]
    return workbook(month(bulletin(table, header)))


def prices_sql_header() -> bytes:
    """A header cell holding SQL: refused as an unknown column, and nothing in the warehouse changes."""
    header = [*PRICE_HEADER[:-1], "Ghi chú'; DROP SCHEMA raw_construction CASCADE; --"]
    return workbook(month(bulletin(header=header)))


def prices_truncated() -> bytes:
    """An upload cut in half: no zip central directory."""
    data = workbook(month(bulletin()))
    return data[: len(data) // 2]


def prices_zip_bomb() -> bytes:
    """A real workbook carrying a 3 MB part of zeros that compresses about 1,000 times."""
    return workbook(month(bulletin()), extra={"xl/media/image1.emf": bytes(3 << 20)})


def prices_zip_bomb_size() -> bytes:
    """A workbook whose parts expand to 256 MB (over the 200 MB limit), written without holding them."""
    out = io.BytesIO()
    out.write(workbook(month(bulletin())))
    with (
        zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf,
        zf.open(_info("xl/media/image2.emf"), "w") as part,
    ):
        zeros = bytes(1 << 20)
        for _ in range(256):
            part.write(zeros)
    return out.getvalue()


def prices_not_a_workbook() -> bytes:
    """An OpenDocument spreadsheet renamed .xlsx."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(_info("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr(_info("content.xml"), '<?xml version="1.0" encoding="UTF-8"?><office:document-content/>')
    return out.getvalue()


def prices_password() -> bytes:
    """What Excel writes for a workbook with a password to open: not a zip but an OLE compound file holding
    the streams ``EncryptionInfo`` and ``EncryptedPackage`` (ECMA-376 agile encryption). A structurally valid
    compound file (version 3, 512-byte sectors, no mini stream) with stand-in contents: no real key."""
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
        b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" cipherAlgorithm="AES" '
        b'cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512" saltValue="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        b"</encryption>"
    )
    package = struct.pack("<Q", 6144) + _noise(6144)
    return compound_file({"EncryptionInfo": info.ljust(4096, b"\0"), "EncryptedPackage": package})


def _noise(size: int) -> bytes:
    """Deterministic bytes that look encrypted."""
    out = b""
    block = b"kho corpus"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:size]


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE compound file (MS-CFB version 3): header, one FAT sector, one directory sector, then each
    stream in consecutive sectors. Streams must be at least 4,096 bytes (so none lives in a mini stream)."""
    free, end, fat_sector, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    sector = 512
    fat = [fat_sector, end]  # sector 0: the FAT, sector 1: the directory
    starts = []
    for data in streams.values():
        assert len(data) >= 4096
        count = -(-len(data) // sector)
        starts.append(len(fat))
        fat += [len(fat) + k + 1 for k in range(count - 1)] + [end]
    assert len(fat) <= sector // 4
    fat += [free] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, color: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(encoded), kind, color, no_stream, right, child)
            + bytes(16 + 4 + 8 + 8)  # class id, state bits, creation and modification times
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)  # the root's child is the first; each next one is the previous one's right sibling
    directory = entry("Root Entry", 5, 1, no_stream, 1, end, 0)
    for i, name in enumerate(names):
        right = i + 2 if i + 1 < len(names) else no_stream
        directory += entry(name, 2, 1 if i == 0 else 0, right, no_stream, starts[i], len(streams[name]))
    directory = directory.ljust(sector, b"\0")
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0)  # the DIFAT: the FAT is sector 0
        + struct.pack("<108I", *[free] * 108)
    )
    assert len(header) == sector
    body = b"".join(data.ljust(-(-len(data) // sector) * sector, b"\0") for data in streams.values())
    return header + struct.pack(f"<{sector // 4}I", *fat) + directory + body


# --- crop_production_commune: a two-row merged header, one sheet per season ----------------------------

COMMUNES = [  # commune, spring paddy area (ha), yield (t/ha), production (t)
    ("Xã Lâm Bình", 590.4, 6.08, 3589.6),
    ("Xã Minh Quang", 598.8, 5.56, 3329.3),
    ("xã Bình An", 269.5, 5.54, 1493.0),
    ("Xã Nà Hang", 332.5, 6.14, 2041.6),
    ("Hồng Thái", 448.1, 6.32, 2832.0),
    ("Xã Chiêm Hóa", 222.7, 6.21, 1383.0),
    ("Xã Kim Bình", 394.4, 6.23, 2457.1),
    ("Xã Hòa An", 759.4, 5.91, 4488.1),
    ("XÃ HÀM YÊN", 611.2, 6.18, 3777.2),
    ("Xã Phù Lưu", 619.8, 5.64, 3495.7),
    ("Xã Yên Lâm", 666.6, 5.75, 3833.0),
    ("Xã Xuân Vân", 711.0, 6.06, 4308.7),
]
SEASON_HEADER = [
    ["STT", "Tên xã, phường", "Lúa đông xuân", None, None, "Ghi chú"],
    [None, None, "Diện tích (ha)", "Năng suất (tấn/ha)", "Sản lượng (tấn)", None],
]
SEASON_MERGES = ["A4:F4", "A6:A7", "B6:B7", "C6:E6", "F6:F7"]


def season(communes=COMMUNES, header=SEASON_HEADER) -> list[Sheet]:
    rows = [
        ["UBND TỈNH TUYÊN QUANG"],
        ["SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG"],
        [],
        ["BIỂU TỔNG HỢP KẾT QUẢ SẢN XUẤT VỤ ĐÔNG XUÂN 2025 THEO ĐƠN VỊ HÀNH CHÍNH CẤP XÃ"],
        [],
        *header,
        ["A", "B", "1", "2", "3", "4"],
        *([i, name, *figures, None] for i, (name, *figures) in enumerate(communes, start=1)),
        [None, "Tổng cộng"],
        [None, "Ghi chú: số liệu sơ bộ."],
    ]
    return [Sheet("Vụ Đông Xuân 2025", rows, merges=SEASON_MERGES)]


def crop_commune_unknown_commune() -> bytes:
    """One commune name nobody knows (1 of 12 rows quarantined, with the nearest known names)."""
    communes = list(COMMUNES)
    communes[6] = ("Xã Kim Bình Mới", *COMMUNES[6][1:])
    return workbook(season(communes))


def crop_commune_renamed_measure() -> bytes:
    """The area given in thousand hectares under the merged crop heading: a renamed column."""
    header = [list(SEASON_HEADER[0]), list(SEASON_HEADER[1])]
    header[1][2] = "Diện tích (nghìn ha)"
    return workbook(season(header=header))


def crop_commune_absurd_yield() -> bytes:
    """A yield in quintals (60.8) typed into the tonnes-per-hectare column: it lands, and the raw suite's
    critical 0-15 t/ha check stops it."""
    communes = list(COMMUNES)
    communes[0] = ("Xã Lâm Bình", 590.4, 60.8, 3589.6)
    return workbook(season(communes))


def crop_commune_duplicate_commune() -> bytes:
    """The same commune twice in one sheet: it lands, and the raw suite's critical key check stops it."""
    return workbook(season([*COMMUNES, COMMUNES[3]]))


# --- organic_zones: a line of 1 MB -----------------------------------------------------------------------


def organic_long_line() -> bytes:
    """A register whose fourth zone has a 1 MB description: over the 256 KB line limit."""
    text = (CORPUS / "organic_path_traversal.csv").read_bytes().decode("utf-8")
    lines = text.split("\r\n")
    lines[6] = lines[6].replace("Vùng chè Shan tuyết Nậm Tỵ", "Vùng chè " + "Shan tuyết " * 100_000, 1)
    return "\r\n".join(lines).encode("utf-8")


SMALL: dict[str, Callable[[], bytes]] = {
    "prices_formula_cells.xlsx": prices_formula_cells,
    "prices_formula_like_text.xlsx": prices_formula_like_text,
    "prices_text_in_price.xlsx": prices_text_in_price,
    "prices_header_only.xlsx": prices_header_only,
    "prices_missing_column.xlsx": prices_missing_column,
    "prices_sql_header.xlsx": prices_sql_header,
    "prices_truncated.xlsx": prices_truncated,
    "prices_zip_bomb.xlsx": prices_zip_bomb,
    "prices_not_a_workbook.xlsx": prices_not_a_workbook,
    "prices_password.xlsx": prices_password,
    "crop_commune_unknown_commune.xlsx": crop_commune_unknown_commune,
    "crop_commune_renamed_measure.xlsx": crop_commune_renamed_measure,
    "crop_commune_absurd_yield.xlsx": crop_commune_absurd_yield,
    "crop_commune_duplicate_commune.xlsx": crop_commune_duplicate_commune,
}
LARGE: dict[str, Callable[[], bytes]] = {
    "organic_long_line.csv": organic_long_line,
    "prices_zip_bomb_size.xlsx": prices_zip_bomb_size,
}


def build(name: str) -> bytes:
    """The bytes of one generated corpus file."""
    return {**SMALL, **LARGE}[name]()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also write the large, git-ignored files")
    parser.add_argument("directory", nargs="?", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    names = {**SMALL, **LARGE} if args.large else SMALL
    for name in names:
        data = build(name)
        (args.directory / name).write_bytes(data)
        print(f"{name}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
