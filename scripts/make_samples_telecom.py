"""Write the sample deliveries of the Department of Science and Technology (information and communications):

    .kho/venvs/main/bin/python scripts/make_samples_telecom.py

- ``samples/digital_infrastructure/``: two quarterly telecom infrastructure reports (Q2 and Q3 2025) for the
  40 communes of the demo (the same as the demo portal's, demo/portal_db.py): base stations per commune and
  operator (2G/4G/5G) and households with fibre. Written the way such reports arrive: the Q2 one as a
  printed table (title lines, STT column, ``;``, ``6.512`` for six thousand, household figures only on
  a commune's first row as when merged cells are exported, a total row and a note), the Q3 one as a plain
  export (``,``, other headers, another column order). Commune names are spelt in many ways, and a few
  by the name of a commune merged into them on 1 July 2025; one of those ("Xã Vinh Quang") was the name of
  two communes of the province before and cannot be placed.
- ``samples/dti_scores/``: the digital transformation index (DTI) results of 2023 and 2024 of Tuyên Quang
  before it took in Hà Giang: its departments and its communes as they were before the reorganisation, on the 0-1 scale of the national DTI, with pillar scores (digital government, digital
  economy, digital society).

Figures are generated from a fixed seed at the scale the provincial reports quote (about 1,700 mobile
stations for a province, 169 in a mountain district, fibre to 56 % of households in one province and to 98 %
of the villages in Tuyên Quang), so running the script again gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from pathlib import Path

from demo.portal_db import COMMUNES, PROVINCE
from kho.landing.names import match_key

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "dbt_project" / "seeds" / "reference"
TELECOM = REPO / "samples" / "digital_infrastructure"
DTI = REPO / "samples" / "dti_scores"
SEED = 2025

OPERATORS = [  # (share of a commune's stations, how Q2 writes it, how Q3 writes it)
    ("viettel", 0.38, "Viettel", "VIETTEL"),
    ("vinaphone", 0.30, "VNPT-Vinaphone", "Vinaphone"),
    ("mobifone", 0.25, "MobiFone", "Mobifone"),
    ("vietnamobile", 0.07, "Vietnamobile", "Vietnamobile"),
]
# New communes written, in a delivery, by the name of one of the communes merged into them.
OLD_NAMES = {
    "q2": {"02266": "Thị trấn Lăng Can", "02287": "Thị trấn Vĩnh Lộc", "02374": "Thị trấn Tân Yên",
           "02215": "Phường Phan Thiết", "02350": "Xã Vinh Quang"},
    "q3": {"02545": "Xã Kim Quan", "02512": "Phường Hưng Thành", "02473": "Xã Lang Quán"},
}  # fmt: skip
# ... of which this one cannot be placed: two communes of the province had the name before 2025.
AMBIGUOUS = {"Xã Vinh Quang"}
# Tuyên Quang's departments in 2023-2024 (before the 2025 reorganisation of departments).
DEPARTMENTS_2024 = [
    "Văn phòng UBND tỉnh", "Sở Nội vụ", "Sở Tư pháp", "Sở Kế hoạch và Đầu tư", "Sở Tài chính",
    "Sở Công Thương", "Sở Nông nghiệp và Phát triển nông thôn", "Sở Giao thông vận tải", "Sở Xây dựng",
    "Sở Tài nguyên và Môi trường", "Sở Thông tin và Truyền thông", "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch", "Sở Khoa học và Công nghệ", "Sở Giáo dục và Đào tạo", "Sở Y tế",
    "Thanh tra tỉnh", "Ban Dân tộc", "Sở Ngoại vụ", "Ban Quản lý các khu công nghiệp",
]  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write(path: Path, lines: list[list[str]], delimiter: str, bom: bool = False) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    print(f"{path.relative_to(REPO)}: {len(lines)} lines")


def vn_thousands(n: int) -> str:
    """6512 as a Vietnamese report prints it: 6.512."""
    return f"{n:,}".replace(",", ".")


def spell(name: str, short: str, rng: random.Random) -> str:
    """One of the ways agencies write a commune's name."""
    style = rng.choices(["official", "short", "upper", "lower", "plain"], [5, 3, 1, 1, 1])[0]
    if style == "short":
        return short
    if style == "upper":
        return name.upper()
    if style == "lower":
        return name[0] + name[1:].lower()
    if style == "plain":  # no diacritics, no unit type: what a spreadsheet typed in a hurry holds
        return match_key_words(short)
    return name


def match_key_words(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def check_old_names(units_2025: dict[str, dict[str, str]]) -> None:
    """Every old name used for a new commune must be a commune merged into it (the samples claim so), and
    resolve to it through the alias seed as dbt looks it up (today's names first), but for AMBIGUOUS."""
    crosswalk = read_csv(REFERENCE / "ref_admin_crosswalk_2025.csv")
    units_2024 = {u["code"]: u for u in read_csv(REFERENCE / "ref_admin_units_2024.csv")}
    aliases = {
        (a["alias_key"], a["vintage"]): a
        for a in read_csv(REFERENCE / "ref_commune_aliases.csv")
        if a["province_code"] == PROVINCE
    }
    parts = defaultdict(set)
    for row in crosswalk:
        if row["level"] == "commune":
            parts[row["new_code"]].add(match_key(units_2024[row["old_code"]]["name"]))
    for quarter, names in OLD_NAMES.items():
        for code, old in names.items():
            key = match_key(old)
            assert key in parts[code], f"{quarter}: {old} did not go into {units_2025[code]['name']}"
            assert key != match_key(units_2025[code]["name"]), f"{old} is the new commune's name too"
            found = aliases.get((key, "2025")) or aliases[(key, "2024")]
            if old in AMBIGUOUS:  # must be reported as such, never placed in another commune
                assert found["status"] == "ambiguous", f"{quarter}: {old} resolves to {found}"
            else:
                assert found["commune_code_2025"] == code, f"{quarter}: {old} resolves to {found}"


# --- digital infrastructure ----------------------------------------------------------------------


def telecom_figures(units: dict[str, dict[str, str]], rng: random.Random) -> dict[str, dict]:
    """Per commune: households, fibre households and stations per operator and generation, at Q2 2025."""
    figures = {}
    for code in COMMUNES:
        ward = units[code]["unit_type"] == "Phường"
        households = rng.randint(6_000, 12_000) if ward else rng.randint(2_500, 6_500)
        fibre = round(households * (rng.uniform(0.85, 0.95) if ward else rng.uniform(0.52, 0.84)))
        # mountain communes need more stations per household than the towns
        total = round(households / 1000 * (rng.uniform(4.0, 5.5) if ward else rng.uniform(5.5, 8.5)))
        stations = {}
        for operator, share, _, _ in OPERATORS:
            if operator == "vietnamobile" and not ward and rng.random() < 0.5:
                continue  # the smallest operator is not in every rural commune
            n = max(1, round(total * share * rng.uniform(0.8, 1.2)))
            g5 = round(n * rng.uniform(0.05, 0.15)) if ward and operator != "vietnamobile" else 0
            g2 = round(n * rng.uniform(0.1, 0.25))
            stations[operator] = [g2, n - g2 - g5, g5]
        figures[code] = {"households": households, "fibre": fibre, "stations": stations}
    return figures


def next_quarter(figures: dict[str, dict], units: dict[str, dict[str, str]], rng: random.Random) -> dict:
    """Q3: a few more 4G and 5G stations (5G in the wards first), some 2G switched off, more fibre."""
    out = {}
    for code, f in figures.items():
        ward = units[code]["unit_type"] == "Phường"
        households = f["households"] + rng.randint(0, 40)
        fibre = min(households, f["fibre"] + rng.randint(20, 160))
        stations = {}
        for operator, (g2, g4, g5) in f["stations"].items():
            off = min(g2, rng.choice([0, 0, 1]))
            new5 = rng.choice([0, 1, 2]) if ward and operator in ("viettel", "vinaphone") else 0
            stations[operator] = [g2 - off, g4 + rng.choice([0, 0, 1]), g5 + new5]
        out[code] = {"households": households, "fibre": fibre, "stations": stations}
    return out


def telecom_rows(figures, units, quarter: str, rng: random.Random) -> list[tuple[str, str, list, bool]]:
    """(commune as written, operator as written, [2G, 4G, 5G], first row of the commune) per row."""
    rows = []
    for code in COMMUNES:
        unit = units[code]
        name = OLD_NAMES[quarter].get(code) or spell(unit["name"], unit["short_name"], rng)
        for i, (operator, _, q2_name, q3_name) in enumerate(
            op for op in OPERATORS if op[0] in figures[code]["stations"]
        ):
            written = q2_name if quarter == "q2" else q3_name
            rows.append((code, name, written, figures[code]["stations"][operator], i == 0))
    return rows


def write_telecom(units: dict[str, dict[str, str]], rng: random.Random) -> None:
    q2 = telecom_figures(units, rng)
    q3 = next_quarter(q2, units, rng)

    lines = [
        ["SỞ KHOA HỌC VÀ CÔNG NGHỆ TỈNH TUYÊN QUANG"],
        ["BÁO CÁO HẠ TẦNG VIỄN THÔNG VÀ BĂNG RỘNG CỐ ĐỊNH - QUÝ II NĂM 2025"],
        ["(Số liệu đến ngày 30/6/2025, tổng hợp theo đơn vị hành chính cấp xã mới)"],
        [],
        ["STT", "Xã/Phường", "Nhà mạng", "Số trạm 2G", "Số trạm 4G", "Số trạm 5G", "Số hộ gia đình",
         "Hộ có cáp quang", "Năm", "Quý"],
    ]  # fmt: skip
    totals = [0, 0, 0]
    for n, (code, name, operator, gens, first) in enumerate(telecom_rows(q2, units, "q2", rng), start=1):
        f = q2[code]
        households = [vn_thousands(f["households"]), vn_thousands(f["fibre"])] if first else ["", ""]
        lines.append([str(n), name, operator, *map(str, gens), *households, "2025", "2"])
        totals = [a + b for a, b in zip(totals, gens, strict=True)]
    households = sum(f["households"] for f in q2.values())
    fibre = sum(f["fibre"] for f in q2.values())
    lines.append(
        ["Tổng cộng", "", "", *map(vn_thousands, totals), vn_thousands(households), vn_thousands(fibre)]
    )
    lines.append(
        ["Ghi chú: số trạm là số trạm thu phát sóng (BTS/NodeB/eNodeB/gNodeB) đang hoạt động cuối kỳ."]
    )
    write(TELECOM / "ha_tang_vien_thong_2025_q2.csv", lines, ";", bom=True)

    lines = [
        ["Năm", "Quý", "Tên xã/phường", "Doanh nghiệp", "Trạm 2G", "Trạm 4G", "Trạm 5G", "Tổng số hộ",
         "Số hộ có cáp quang"],
    ]  # fmt: skip
    for code, name, operator, gens, _ in telecom_rows(q3, units, "q3", rng):
        f = q3[code]
        lines.append(["2025", "3", name, operator, *map(str, gens), str(f["households"]), str(f["fibre"])])
    write(TELECOM / "ha_tang_vien_thong_2025_q3.csv", lines, ",")


# --- DTI -------------------------------------------------------------------------------------------


def old_communes(units_2024: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The communes before 2025 that went (whole or in part) into the demo's communes, in code order."""
    codes = set()
    for row in read_csv(REFERENCE / "ref_admin_crosswalk_2025.csv"):
        if row["level"] == "commune" and row["new_code"] in COMMUNES:
            if units_2024[row["old_code"]]["province_code"] == PROVINCE:
                codes.add(row["old_code"])
    return [units_2024[c] for c in sorted(codes)]


def write_dti(units_2024: dict[str, dict[str, str]], rng: random.Random) -> None:
    communes = old_communes(units_2024)
    base_dept = {d: rng.uniform(0.50, 0.78) for d in DEPARTMENTS_2024}
    base_commune = {c["code"]: rng.uniform(0.30, 0.62) for c in communes}
    for year, delimiter, decimal in ((2023, ";", ","), (2024, ",", ".")):
        lift = 0.0 if year == 2023 else 0.045

        def fmt(value: float, decimal: str = decimal) -> str:
            return f"{min(value, 0.98):.4f}".replace(".", decimal)

        depts = []
        for d in DEPARTMENTS_2024:
            government = base_dept[d] + lift + rng.uniform(-0.03, 0.03)
            depts.append((d, government, government * rng.uniform(0.9, 1.02)))
        rows = []
        for c in communes:
            base = base_commune[c["code"]] + lift
            pillars = [
                base + rng.uniform(0.0, 0.12),
                base + rng.uniform(-0.12, 0.02),
                base + rng.uniform(-0.05, 0.06),
            ]
            rows.append((c, pillars, sum(pillars) / 3 + rng.uniform(-0.01, 0.01)))
        dept_rank = {d: r for r, (d, _, _) in enumerate(sorted(depts, key=lambda x: -x[2]), start=1)}
        commune_rank = {
            c["code"]: r for r, (c, _, _) in enumerate(sorted(rows, key=lambda x: -x[2]), start=1)
        }

        header = ["STT", "Năm", "Sở, ban, ngành", "Xã, phường, thị trấn", "Chính quyền số", "Kinh tế số",
                  "Xã hội số", "Chỉ số DTI", "Xếp hạng"]  # fmt: skip
        lines: list[list[str]] = []
        if year == 2023:
            lines += [
                ["UBND TỈNH TUYÊN QUANG"],
                ["KẾT QUẢ ĐÁNH GIÁ CHỈ SỐ CHUYỂN ĐỔI SỐ (DTI) CÁC CƠ QUAN, ĐỊA PHƯƠNG NĂM 2023"],
                [],
            ]
        else:
            header = ["STT", "Năm", "Tên sở, ban, ngành", "Tên xã, phường", "Chỉ số chính quyền số",
                      "Chỉ số kinh tế số", "Chỉ số xã hội số", "DTI", "Xếp hạng"]  # fmt: skip
        lines.append(header)
        lines.append(["I. KHỐI SỞ, BAN, NGÀNH"])
        for n, (d, government, total) in enumerate(depts, start=1):
            lines.append([str(n), str(year), d, "", fmt(government), "", "", fmt(total), str(dept_rank[d])])
        lines.append(["II. KHỐI XÃ, PHƯỜNG, THỊ TRẤN"])
        for n, (c, pillars, total) in enumerate(rows, start=1):
            name = c["name"] if rng.random() < 0.8 else c["short_name"]
            lines.append(
                [str(n), str(year), "", name, *map(fmt, pillars), fmt(total), str(commune_rank[c["code"]])]
            )
        lines.append(["Ghi chú: chỉ số theo thang 0 - 1; xếp hạng riêng trong từng khối."])
        write(DTI / f"chi_so_dti_{year}.csv", lines, delimiter, bom=year == 2023)


def main() -> None:
    units_2025 = {u["code"]: u for u in read_csv(REFERENCE / "ref_admin_units_2025.csv")}
    units_2024 = {u["code"]: u for u in read_csv(REFERENCE / "ref_admin_units_2024.csv")}
    assert all(units_2025[c]["province_code"] == PROVINCE for c in COMMUNES)
    check_old_names(units_2025)
    rng = random.Random(SEED)
    write_telecom(units_2025, rng)
    write_dti(units_2024, rng)


if __name__ == "__main__":
    main()
