"""Generate the sample deliveries of the agriculture and construction departments.

    .kho/venvs/main/bin/python scripts/make_samples_agri.py

Deterministic (fixed seeds, fixed file timestamps), so running it twice gives the same bytes. The figures
are synthetic but realistic for Tuyên Quang after its merger with Hà Giang (1 July 2025): paddy yields of
5-6.5 t/ha, maize 3-5 t/ha, tea 8-11 t/ha of fresh buds; construction prices of the 2025 bulletins.
Commune names come from the GSO lists in ``dbt_project/seeds/reference`` and are written the many ways
agencies write them. Each dataset gets two deliveries that show what its catalog entry handles:

- ``crop_production_commune``: the 2024 annual table (pre-2025 communes under district headings, yields in
  tạ/ha, Vietnamese number text, one misspelt commune that landing quarantines) and the 2025 spring season
  table (2025 communes, yields in tấn/ha, typed numbers).
- ``organic_zones``: the register at the end of Q2 2025 (comma CSV, UTF-8 with BOM, title lines, old commune
  names) and at the end of Q3 2025 (semicolon CSV, new communes, a renewed certificate, new zones).
- ``material_prices``: the January-February 2025 bulletins in one workbook (plus a summary sheet the catalog
  skips and a hidden sheet) and the March 2025 bulletin (other unit spellings, typed prices).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import sys
import unicodedata
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.data.readers.xlsx_writer import Sheet, column_letter, write_xlsx  # noqa: E402

SAMPLES = REPO / "samples"
# Files keep a fixed modification time: the inbox lands files oldest first.
STAMP = dt.datetime(2025, 10, 15, 8, 0).timestamp()


def vn_number(value: Decimal | float | int, places: int = 1) -> str:
    """A number as the departments type it: 1.234,5 (dot groups thousands, comma marks decimals)."""
    q = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{q:f}".partition(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return f"{groups},{frac}" if places and frac.strip("0") else groups


def dec(value: float, places: int = 1) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def stamp(path: Path, order: int) -> None:
    os.utime(path, (STAMP + order * 60, STAMP + order * 60))


def fixed_zip_times(path: Path) -> None:
    """Rewrite a workbook with fixed part timestamps: the zip otherwise records when it was written."""
    with zipfile.ZipFile(path) as zf:
        parts = [(info.filename, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


# --- crop production by commune ------------------------------------------------------------------------

# (crop group header, per-commune base area ha, yield tạ/ha range, [sub-columns])
CROP_GROUPS_2024 = [
    ("Lúa đông xuân", (80, 320), (55.0, 63.5)),
    ("Lúa mùa", (100, 380), (49.0, 57.0)),
    ("Ngô", (40, 300), (38.0, 52.0)),
    ("Sắn", (20, 160), (170.0, 215.0)),
    ("Lạc", (8, 70), (20.0, 26.0)),
    ("Chè búp tươi", (15, 260), (80.0, 112.0)),
]
CROP_GROUPS_2025 = [
    ("Lúa đông xuân", (200, 900), (5.50, 6.40)),  # the new communes are three to four old ones
    ("Ngô đông xuân", (150, 900), (3.60, 5.00)),
]

# 2024 table: districts before the reorganisation and their communes as the department wrote them.
# A "-" in `grows` means the commune does not grow the group (paddy in the karst highlands, tea in town).
COMMUNES_2024 = [
    (
        "HUYỆN LÂM BÌNH",
        ["Thị trấn Lăng Can", "xã phúc sơn", "Minh  Quang", "Hồng Quang", "Xã Thượng Lâm"],
    ),
    ("HUYỆN NA HANG", ["Thị trấn Na Hang", "XÃ KHAU TINH", "Xã Hồng Thái", "Xã Sơn Phú", "Xã Côn Lôn"]),
    (
        "HUYỆN CHIÊM HÓA",
        [
            unicodedata.normalize("NFD", "Xã Kim Bình"),
            "Xã Trung Hà",
            "Xã Tân Mỹ",
            "Xã Hoà An",
            "Xã Phúc Thịnh",
        ],
    ),
    ("HUYỆN HÀM YÊN", ["Xã Phù Lưu", "Xã Yên Lâm", "Xã Minh Dân", "Xã Bạch Sa", "Thị trấn Tân Yên"]),
    ("HUYỆN YÊN SƠN", ["Xã Xuân Vân", "Xã Trung Trực", "Lực Hành", "Xã Kiến Thiết", "Xã Chiêu Yên"]),
    ("HUYỆN SƠN DƯƠNG", ["Xã Tân Trào", "Xã Minh Thanh", "Xã Hợp Hòa", "Xã Đông Thọ", "Thị trấn Sơn Dương"]),
    ("HUYỆN HOÀNG SU PHÌ", ["Xã Nậm Tỵ", "Xã Thông Nguyên", "Xã Bản Luốc", "Xã Pờ Ly Ngài"]),
    ("HUYỆN VỊ XUYÊN", ["Xã Cao Bồ", "Xã Thuận Hòa", "Xã Thượng Sơn", "Xã Linh Hồ"]),
    ("HUYỆN BẮC QUANG", ["Xã Vĩnh Hảo", "Xã Hùng An", "Xã Đồng Tâm", "Thị trấn Việt Quang"]),
]
NO_TEA = {"Thị trấn Tân Yên", "Thị trấn Sơn Dương", "Xã Đông Thọ", "Xã Tân Trào"}
NO_CASSAVA = {"Xã Nậm Tỵ", "Xã Pờ Ly Ngài", "Xã Thông Nguyên"}

COMMUNES_2025 = [
    ("Xã Lâm Bình", "paddy, maize"),
    ("Xã Minh Quang", "paddy, maize"),
    ("xã Bình An", "paddy, maize"),
    ("Xã Nà Hang", "paddy, maize"),
    ("Hồng Thái", "paddy, maize"),
    ("Xã Chiêm Hóa", "paddy, maize"),
    ("Xã Kim Bình", "paddy, maize"),
    ("Xã Hòa An", "paddy, maize"),
    ("XÃ HÀM YÊN", "paddy, maize"),
    ("Xã Phù Lưu", "paddy, maize"),
    ("Xã Yên Lâm", "paddy, maize"),  # the old name: now part of Xã Yên Phú
    ("Xã Xuân Vân", "paddy, maize"),
    ("Xã Lực Hành", "paddy, maize"),
    ("Xã Tân Trào", "paddy, maize"),
    ("Xã Sơn Dương", "paddy, maize"),
    ("Xã Đông Thọ", "paddy, maize"),
    ("Phường Mỹ Lâm", "paddy"),
    ("Xã Hoàng Su Phì", "paddy, maize"),
    ("Xã Thông Nguyên", "paddy, maize"),
    ("Xã Cao Bồ", "paddy, maize"),
    ("Xã Bắc Quang", "paddy, maize"),
    ("Xã Vĩnh Tuy", "paddy, maize"),
    ("Xã Đồng Văn", "maize"),
    ("Xã Mèo Vạc", "maize"),
    ("Xã Quản Bạ", "maize"),
]

SUB_2024 = ["Diện tích (ha)", "Năng suất (tạ/ha)", "Sản lượng (tấn)"]
SUB_2025 = ["Diện tích (ha)", "Năng suất (tấn/ha)", "Sản lượng (tấn)"]


def _header_block(title: str, basis: str, groups: list[str], sub: list[str], width: int) -> tuple[list, list]:
    """Title rows and the two header rows with their merges (row numbers from 1)."""
    last = column_letter(width - 1)
    rows: list[list[object]] = [
        ["UBND TỈNH TUYÊN QUANG"],
        ["SỞ NÔNG NGHIỆP VÀ MÔI TRƯỜNG"],
        [],
        [title],
        [basis],
    ]
    merges = [f"A4:{last}4", f"A5:{last}5", "A6:A7", "B6:B7"]
    top: list[object] = ["STT", "Tên xã, phường"]
    second: list[object] = ["", ""]
    for i, group in enumerate(groups):
        top += [group, "", ""]
        second += sub
        first = column_letter(2 + 3 * i)
        merges.append(f"{first}6:{column_letter(4 + 3 * i)}6")
    top.append("Ghi chú")
    second.append("")
    merges.append(f"{column_letter(width - 1)}6:{column_letter(width - 1)}7")
    rows += [top, second]
    numbering = ["A", "B"] + [str(i) for i in range(1, width - 1)]
    rows.append(numbering)
    return rows, merges


def _signature(width: int) -> list[list[object]]:
    return [
        [],
        ["", "Ghi chú: Năng suất, sản lượng chè tính theo búp tươi; số liệu sơ bộ, có thể điều chỉnh."],
        ["", "Nguồn: Tổng hợp báo cáo của UBND các xã, phường."],
        [],
        ["", "NGƯỜI LẬP BIỂU"] + [""] * (width - 4) + ["KT. GIÁM ĐỐC"],
        ["", ""] + [""] * (width - 4) + ["PHÓ GIÁM ĐỐC"],
    ]


def crop_2024(path: Path) -> None:
    rng = random.Random(2024)
    groups = [g for g, _, _ in CROP_GROUPS_2024]
    width = 2 + 3 * len(groups) + 1
    rows, merges = _header_block(
        "BIỂU TỔNG HỢP DIỆN TÍCH, NĂNG SUẤT, SẢN LƯỢNG MỘT SỐ CÂY TRỒNG CHỦ YẾU NĂM 2024",
        "(Kèm theo Báo cáo số 215/BC-SNNMT ngày 20/01/2025 của Sở Nông nghiệp và Môi trường)",
        groups,
        SUB_2024,
        width,
    )
    totals = [Decimal(0)] * (3 * len(groups))
    number = 0
    for d, (district, communes) in enumerate(COMMUNES_2024):
        rows.append([["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"][d], district])
        highland = district in ("HUYỆN HOÀNG SU PHÌ", "HUYỆN VỊ XUYÊN")
        for name in communes:
            number += 1
            row: list[object] = [number, name]
            for g, (group, (lo, hi), (ylo, yhi)) in enumerate(CROP_GROUPS_2024):
                plain = unicodedata.normalize("NFC", name)
                grows = not (
                    (group == "Chè búp tươi" and plain in NO_TEA) or (group == "Sắn" and plain in NO_CASSAVA)
                )
                if not grows:
                    row += ["-", "-", "-"]
                    continue
                area = dec(rng.uniform(lo, hi) * (0.6 if highland and "Lúa" in group else 1))
                yld = dec(rng.uniform(ylo, yhi) * (0.85 if highland else 1))
                production = dec(float(area * yld) / 10)
                totals[3 * g] += area
                totals[3 * g + 2] += production
                # Most cells are text as typed in Word and pasted; some are real numbers.
                if rng.random() < 0.15:
                    row += [float(area), float(yld), float(production)]
                else:
                    row += [vn_number(area), vn_number(yld), vn_number(production)]
            row.append("")
            rows.append(row)
    total_row: list[object] = ["", "Tổng cộng"]
    for g in range(len(groups)):
        area, production = totals[3 * g], totals[3 * g + 2]
        total_row += [vn_number(area), vn_number(production * 10 / area), vn_number(production)]
    rows.append(total_row + [""])
    rows += _signature(width)
    write_xlsx(path, [Sheet("Năm 2024", rows, merges)])


def crop_2025_spring(path: Path) -> None:
    rng = random.Random(2025)
    groups = [g for g, _, _ in CROP_GROUPS_2025]
    width = 2 + 3 * len(groups) + 1
    rows, merges = _header_block(
        "BIỂU TỔNG HỢP KẾT QUẢ SẢN XUẤT VỤ ĐÔNG XUÂN 2025 THEO ĐƠN VỊ HÀNH CHÍNH CẤP XÃ",
        "(Kèm theo Báo cáo số 142/BC-SNNMT ngày 28/7/2025 của Sở Nông nghiệp và Môi trường)",
        groups,
        SUB_2025,
        width,
    )
    for number, (name, crops) in enumerate(COMMUNES_2025, start=1):
        row: list[object] = [number, name]
        for group, (lo, hi), (ylo, yhi) in CROP_GROUPS_2025:
            crop = "paddy" if group.startswith("Lúa") else "maize"
            if crop not in crops:
                row += ["-", "-", "-"]
                continue
            area = dec(rng.uniform(lo, hi))
            yld = dec(rng.uniform(ylo, yhi), 2)
            production = dec(float(area * yld))
            if rng.random() < 0.5:
                row += [float(area), float(yld), float(production)]
            else:
                row += [vn_number(area), vn_number(yld, 2), vn_number(production)]
        rows.append(row + [""])
    rows.append(["", "Tổng cộng"])
    rows += _signature(width)
    write_xlsx(path, [Sheet("Vụ Đông Xuân 2025", rows, merges)])


# --- organic zones -------------------------------------------------------------------------------------

BODIES = {
    "TCVN": "Trung tâm Chứng nhận Hữu cơ Miền Bắc",
    "PGS": "Nhóm PGS Hữu cơ Tuyên Quang",
    "EU": "Công ty TNHH Chứng nhận Nông sản Việt",
}
STANDARDS = {"TCVN": "TCVN 11041-2:2017", "PGS": "PGS (TCVN 11041-2:2017)", "EU": "EU 2018/848"}
VALIDITY_YEARS = {"TCVN": 2, "PGS": 2, "EU": 1}

# One zone a line: code | zone name | commune as written in Q2 (- for a zone new in Q3) | commune as written in
# Q3 | village | crop as written | area ha | scheme | issued | household (personal data).
ZONES_TABLE = """
HC-08-CST-001 | Vùng chè Shan tuyết Khau Mút | Xã Khau Tinh | Xã Yên Hoa | Khau Mút | Chè Shan tuyết | 45.6 | TCVN | 12/05/2024 | Triệu Văn Thắng
HC-08-CST-002 | Vùng chè Shan tuyết Lũng Giang | xã Sơn Phú | Xã Hồng Thái | Lũng Giang | chè Shan Tuyết | 28.3 | TCVN | 20/08/2024 | Hoàng Thị Lan
HC-08-CST-003 | Vùng chè Shan tuyết Phiêng Sảng | Xã Thượng Lâm | Xã Thượng Lâm | Phiêng Sảng | Chè Shan tuyết | 12.5 | PGS | 03/03/2025 | Ma Văn Hùng
HC-08-CST-004 | Vùng chè Shan tuyết Nậm Tỵ | Xã Nậm Tỵ | Xã Nậm Dịch | Thôn Nậm Hồng | Chè Shan tuyết | 60.2 | EU | 15/10/2024 | Lý Seo Chứ
HC-08-CST-005 | Vùng chè Shan tuyết Cao Bồ | Xã Cao Bồ | Xã Cao Bồ | Thôn Khuổi Luông | Chè Shan tuyết | 35 | TCVN | 22/11/2023 | Triệu Thị Mai
HC-08-CST-006 | Vùng chè Shan tuyết Thông Nguyên | Xã Thông Nguyên | Xã Thông Nguyên | Thôn Nậm Ngoa | Chè Shan tuyết | 22.8 | PGS | 09/01/2025 | Đặng Văn Sơn
HC-08-CAM-001 | Vùng cam sành hữu cơ Phù Lưu | Xã Phù Lưu | Xã Phù Lưu | Thôn Làng Chẵng | Cam sành | 18.4 | TCVN | 05/06/2024 | Nguyễn Văn Bình
HC-08-CAM-002 | Vùng cam sành hữu cơ Yên Lâm | Xã Yên Lâm | Xã Yên Phú | Thôn Nặm Đường | Cam sành | 9.7 | PGS | 17/07/2024 | Bàn Văn Quý
HC-08-CAM-003 | Vùng cam sành Minh Dân | Xã Minh Dân | Xã Phù Lưu | Thôn Khuổi Cằn | Cam Sành | 14.1 | TCVN | 28/02/2025 | Lò Thị Hoa
HC-08-CAM-004 | Vùng cam sành hữu cơ Vĩnh Hảo | Xã Vĩnh Hảo | Xã Vĩnh Tuy | Thôn Vĩnh Sơn | Cam sành | 25 | EU | 10/09/2024 | Vương Văn Toàn
HC-08-BUO-001 | Vùng bưởi Xuân Vân | Xã Xuân Vân | Xã Xuân Vân | Thôn Đồng Giàn | Bưởi | 11.3 | TCVN | 14/04/2024 | Phạm Thị Hương
HC-08-BUO-002 | Vùng bưởi hữu cơ Phúc Ninh | Xã Phúc Ninh | Xã Xuân Vân | Thôn Phúc Lộc | Bưởi | 7.9 | PGS | 21/12/2024 | Trần Văn Long
HC-08-LUA-001 | Cánh đồng lúa hữu cơ Tân Trào | Xã Tân Trào | Xã Tân Trào | Thôn Tân Lập | Lúa | 20 | TCVN | 08/03/2024 | Hà Văn Tiến
HC-08-LUA-002 | Cánh đồng lúa hữu cơ Kim Quan | Xã Kim Quan | Xã Tân Trào | Thôn Nà Ho | Lúa | 15.5 | PGS | 19/06/2025 | Nông Thị Thu
HC-08-DLI-001 | Vùng dược liệu Tùng Vài | Xã Tùng Vài | Xã Tùng Vài | Thôn Khâu Bủng | Dược liệu (Cà gai leo) | 5.2 | TCVN | 11/11/2024 | Vàng Mí Dính
HC-08-DLI-002 | Vùng dược liệu Thái An | Xã Thái An | Xã Lùng Tám | Thôn Lao Chải | Dược liệu (Atiso) | 3.8 | PGS | 02/04/2025 | Sùng Thị Mỷ
HC-08-CHE-001 | Vùng chè trung du Mỹ Bằng | Xã Mỹ Bằng | Phường Mỹ Lâm | Thôn Cầu Trôi | Chè | 16 | TCVN | 25/05/2023 | Đỗ Văn Mạnh
HC-08-RAU-001 | Vùng rau hữu cơ An Tường | Phường An Tường | Phường An Tường | Tổ 12 | Rau các loại | 2.6 | PGS | 30/09/2024 | Lê Thị Ngọc
HC-08-CST-007 | Vùng chè Shan tuyết Pà Vầy Sủ | - | Xã Pà Vầy Sủ | Thôn Lùng Chín | Chè Shan tuyết | 31.4 | EU | 14/08/2025 | Chẻo Văn Phin
HC-08-CAM-005 | Vùng cam sành Bạch Xa | - | Xã Bạch Xa | Thôn Nà Mường | Cam sành | 12 | TCVN | 05/09/2025 | Ma Thị Nhung
"""
ZONES = [tuple(field.strip() for field in line.split("|")) for line in ZONES_TABLE.strip().splitlines()]
RENEWED_Q3 = {"HC-08-CHE-001": "25/05/2025"}  # renewed after the 2023 certificate expired
AREA_Q3 = {"HC-08-CAM-001": 21.9}  # re-certified with a neighbouring plot

ORGANIC_HEADER = [
    "STT",
    "Mã vùng",
    "Tên vùng",
    "Xã",
    "Thôn",
    "Cây trồng",
    "Diện tích (ha)",
    "Tiêu chuẩn",
    "Tổ chức chứng nhận",
    "Số GCN",
    "Ngày cấp",
    "Ngày hết hạn",
    "Chủ hộ/Đại diện",
    "Số điện thoại",
]


def _expiry(issued: str, scheme: str) -> str:
    day = dt.datetime.strptime(issued, "%d/%m/%Y").date()
    end = day.replace(year=day.year + VALIDITY_YEARS[scheme]) - dt.timedelta(days=1)
    return end.strftime("%d/%m/%Y")


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(["091", "096", "098", "083", "035", "037"])
    digits = f"{rng.randrange(10_000_000):07d}"
    return rng.choice(
        [
            f"{prefix}{digits}",
            f"{prefix[:4]}{digits[0]} {digits[1:4]} {digits[4:]}",
            f"{prefix}.{digits[:3]}.{digits[3:]}",
        ]
    )


def _zone_rows(quarter: int) -> list[list[str]]:
    phones = random.Random(7)
    rows = []
    zones = [z for z in ZONES if quarter == 3 or z[2] != "-"]
    for number, z in enumerate(zones, start=1):
        code, name, commune_q2, commune_q3, village, crop, area_text, scheme, issued, household = z
        area = float(area_text)
        phone = _phone(phones)
        if quarter == 3:
            issued = RENEWED_Q3.get(code, issued)
            area = AREA_Q3.get(code, area)
        commune = commune_q2 if quarter == 2 else commune_q3
        year = issued[-4:]
        number_text = f"{random.Random(code + issued).randrange(100, 999)}/{year}/{scheme}-HC"
        rows.append(
            [
                str(number),
                code,
                name,
                commune,
                village,
                crop,
                vn_number(area),
                STANDARDS[scheme],
                BODIES[scheme],
                number_text,
                issued,
                _expiry(issued, scheme),
                household,
                phone,
            ]
        )
    return rows


def organic(path: Path, quarter: int) -> None:
    out = io.StringIO()
    if quarter == 2:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["DANH SÁCH VÙNG SẢN XUẤT HỮU CƠ ĐÃ ĐƯỢC CẤP GIẤY CHỨNG NHẬN (đến ngày 30/6/2025)"])
        writer.writerow([])
        writer.writerow(ORGANIC_HEADER)
        writer.writerows(_zone_rows(2))
        writer.writerow([])
        writer.writerow(
            ["Ghi chú: Danh sách gồm các vùng đang được theo dõi, kể cả vùng có giấy chứng nhận hết hạn."]
        )
        path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode("utf-8"))
    else:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        header = [
            h.replace("Số GCN", "Số giấy chứng nhận").replace("Chủ hộ/Đại diện", "Chủ hộ")
            for h in ORGANIC_HEADER
        ]
        writer.writerow(header)
        writer.writerows(_zone_rows(3))
        writer.writerow(["Nguồn: Chi cục Trồng trọt và Bảo vệ thực vật, cập nhật đến ngày 30/9/2025."])
        path.write_bytes(out.getvalue().encode("utf-8"))


# --- construction material prices ----------------------------------------------------------------------

# (group heading, [(material, specification, unit, base price VND at Minh Xuân)])
MATERIALS = [
    (
        "XI MĂNG",
        [
            ("Xi măng PCB30", "TCVN 6260:2020, đóng bao 50 kg", "tấn", 1_380_000),
            ("Xi măng PCB40", "TCVN 6260:2020, đóng bao 50 kg", "tấn", 1_520_000),
            ("Xi măng rời PC40", "TCVN 2682:2020", "tấn", 1_290_000),
        ],
    ),
    (
        "CÁT, ĐÁ, SỎI",
        [
            ("Cát xây, trát", "Cát vàng sông Lô, mô đun độ lớn 1,5-2,0", "m3", 320_000),
            ("Cát bê tông", "Cát vàng, mô đun độ lớn ≥ 2,0", "m3", 385_000),
            ("Đá dăm", "1x2 cm", "m3", 335_000),
            ("Đá dăm", "2x4 cm", "m3", 305_000),
            ("Đá hộc", "Kích thước ≥ 15 cm", "m3", 225_000),
            ("Sỏi cuội", "Sỏi sông 1x2 cm", "m3", 260_000),
        ],
    ),
    (
        "GẠCH XÂY",
        [
            ("Gạch đặc đất sét nung", "6,5x10,5x22 cm, mác 75", "viên", 1_450),
            ("Gạch 2 lỗ đất sét nung", "6,5x10,5x22 cm", "viên", 1_250),
            ("Gạch bê tông không nung", "6x10,5x22 cm, mác 75", "viên", 1_180),
        ],
    ),
    (
        "THÉP XÂY DỰNG",
        [
            ("Thép tròn cuộn", "D6, D8, CB240-T", "kg", 15_200),
            ("Thép thanh vằn", "D10, CB300-V", "kg", 15_450),
            ("Thép thanh vằn", "D12-D32, CB400-V", "kg", 15_350),
        ],
    ),
    (
        "TÔN LỢP, GẠCH ỐP LÁT",
        [
            ("Tôn lạnh mạ màu", "Dày 0,40 mm", "m2", 96_000),
            ("Gạch ceramic lát nền", "300x300 mm, loại 1", "m2", 128_000),
            ("Gạch granite lát nền", "600x600 mm, loại 1", "m2", 215_000),
        ],
    ),
]
AREAS = [("Trung tâm phường Minh Xuân", 1.0), ("Trung tâm phường Hà Giang 1", 1.06)]
UNIT_SPELLING_T03 = {"m3": "m³", "m2": "m²", "tấn": "Tấn", "viên": "Viên", "kg": "kg"}
ROMAN = ["I", "II", "III", "IV", "V"]


def _price(base: int, month: int, factor: float, rng: random.Random, material: str, area: str) -> int:
    drift = 1 + 0.008 * (month - 1) + rng.uniform(-0.015, 0.015)
    if material == "Cát bê tông" and month == 3 and "Hà Giang" in area:
        drift *= 1.22  # the spring sand shortage: beyond the band, a warning in the mart suite
    step = 10 if base < 10_000 else (50 if base < 100_000 else 1_000)
    return int(round(base * factor * drift / step) * step)


def _bulletin(month: int, typed: bool, headings_split: bool) -> list[list[object]]:
    rng = random.Random(100 + month)
    rows: list[list[object]] = [
        ["UBND TỈNH TUYÊN QUANG"],
        ["SỞ XÂY DỰNG"],
        [],
        [f"CÔNG BỐ GIÁ VẬT LIỆU XÂY DỰNG THÁNG {month:02d} NĂM 2025"],
        [f"(Kèm theo Văn bản số {310 + 7 * month}/SXD-KTXD ngày 05/{month + 1:02d}/2025 của Sở Xây dựng)"],
        [],
        [
            "STT",
            "Tên vật liệu",
            "Quy cách, tiêu chuẩn kỹ thuật",
            "Đơn vị tính",
            "Giá chưa có thuế GTGT (đồng)",
            "Khu vực áp dụng",
            "Ghi chú",
        ],
        ["1", "2", "3", "4", "5", "6", "7"],
    ]
    number = 0
    for g, (group, materials) in enumerate(MATERIALS):
        rows.append([ROMAN[g], group] if headings_split else [f"{ROMAN[g]}. {group}"])
        for material, spec, unit, base in materials:
            for area, factor in AREAS:
                number += 1
                price = _price(base, month, factor, rng, material, area)
                shown_unit = UNIT_SPELLING_T03[unit] if typed else unit
                note = "Giao tại chân công trình" if unit in ("m3", "viên") else ""
                rows.append(
                    [
                        number,
                        material,
                        spec,
                        shown_unit,
                        price if typed and number % 2 else vn_number(price, 0),
                        area,
                        note,
                    ]
                )
    rows += [
        [],
        [
            "Ghi chú: Giá trên chưa bao gồm thuế giá trị gia tăng (VAT), là giá bán tại trung tâm khu vực áp dụng."
        ],
        [
            "Nguồn: Sở Xây dựng tổng hợp từ báo giá của các doanh nghiệp sản xuất, kinh doanh vật liệu trên địa bàn."
        ],
        [],
        ["", "Người lập biểu", "", "", "KT. GIÁM ĐỐC"],
        ["", "", "", "", "PHÓ GIÁM ĐỐC"],
    ]
    return rows


def materials_q1(path: Path) -> None:
    summary = [
        ["TỔNG HỢP CHỈ SỐ GIÁ VẬT LIỆU"],
        ["Nhóm", "T01-2025", "T02-2025"],
        ["Xi măng", 100, 100.8],
        ["Cát, đá, sỏi", 100, 101.1],
    ]
    write_xlsx(
        path,
        [
            Sheet("T01-2025", _bulletin(1, typed=False, headings_split=True), ["A4:G4", "A5:G5"]),
            Sheet("T02-2025", _bulletin(2, typed=False, headings_split=True), ["A4:G4", "A5:G5"]),
            Sheet("Tổng hợp", summary),
            Sheet("Danh mục", [["Mã", "Tên nhóm"], ["XM", "Xi măng"]], hidden=True),
        ],
    )


def materials_march(path: Path) -> None:
    write_xlsx(path, [Sheet("T03-2025", _bulletin(3, typed=True, headings_split=False), ["A4:G4", "A5:G5"])])


# --- all ----------------------------------------------------------------------------------------------


def main() -> None:
    outputs = [
        ("crop_production_commune", "dien_tich_nang_suat_san_luong_2024.xlsx", crop_2024),
        ("crop_production_commune", "vu_dong_xuan_2025.xlsx", crop_2025_spring),
        ("organic_zones", "vung_huu_co_quy_2_2025.csv", lambda p: organic(p, 2)),
        ("organic_zones", "vung_huu_co_quy_3_2025.csv", lambda p: organic(p, 3)),
        ("material_prices", "gia_vlxd_T01-T02_2025.xlsx", materials_q1),
        ("material_prices", "gia_vlxd_T03_2025.xlsx", materials_march),
    ]
    for order, (dataset, name, make) in enumerate(outputs):
        folder = SAMPLES / dataset
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        make(path)
        if path.suffix == ".xlsx":
            fixed_zip_times(path)
        stamp(path, order)
        print(f"{dataset}/{name}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
