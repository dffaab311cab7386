"""Generate the bundled sample deliveries for `crop_statistics` (PX-Web CSV exports).

Deterministic (fixed seed). Figures are realistic in magnitude (GSO statistical yearbooks: about
7.8 million ha of paddy and 45 million tonnes a year nationally; maize about 1.2 million ha) but
synthetic. Region rows and the WHOLE COUNTRY row are exact sums of their provinces, as in GSO tables,
so the warehouse's national total can be checked against them. Hà Tây reports until 2007 (merged
into Hà Nội in 2008); Điện Biên, Đắk Nông and Hậu Giang report from 2004 (created that year).

    .kho/venvs/main/bin/python scripts/make_samples.py
"""

from __future__ import annotations

import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "samples" / "crop_statistics"
YEARS = list(range(1995, 2017))  # 2016 is preliminary

# (region as PX-Web writes it, [(province, paddy kha ~2015, maize kha ~2015), ...])
REGIONS = [
    (
        "Red River Delta",
        [
            ("Ha Noi", 200.0, 21.0),
            ("Ha Tay", 160.0, 12.0),
            ("Vinh Phuc", 58.0, 15.0),
            ("Bac Ninh", 73.0, 3.0),
            ("Quang Ninh", 42.0, 5.0),
            ("Hai Duong", 125.0, 5.0),
            ("Hai Phong", 78.0, 3.0),
            ("Hung Yen", 77.0, 9.0),
            ("Thai Binh", 160.0, 6.0),
            ("Ha Nam", 64.0, 5.0),
            ("Nam Dinh", 152.0, 3.0),
            ("Ninh Binh", 80.0, 4.0),
        ],
    ),
    (
        "Northern midlands and mountain areas",
        [
            ("Ha Giang", 36.0, 50.0),
            ("Cao Bang", 31.0, 39.0),
            ("Bac Kan", 23.0, 16.0),
            ("Tuyen Quang", 45.0, 17.0),
            ("Lao Cai", 32.0, 34.0),
            ("Yen Bai", 43.0, 23.0),
            ("Thai Nguyen", 71.0, 18.0),
            ("Lang Son", 51.0, 20.0),
            ("Bac Giang", 112.0, 9.0),
            ("Phu Tho", 63.0, 18.0),
            ("Dien Bien", 49.0, 27.0),
            ("Lai Chau", 31.0, 14.0),
            ("Son La", 49.0, 150.0),
            ("Hoa Binh", 40.0, 37.0),
        ],
    ),
    (
        "North Central and Central coastal areas",
        [
            ("Thanh Hoa", 255.0, 57.0),
            ("Nghe An", 188.0, 56.0),
            ("Ha Tinh", 104.0, 7.0),
            ("Quang Binh", 52.0, 4.0),
            ("Quang Tri", 50.0, 4.0),
            ("Thua Thien-Hue", 54.0, 1.0),
            ("Da Nang", 6.0, 0.5),
            ("Quang Nam", 85.0, 12.0),
            ("Quang Ngai", 75.0, 10.0),
            ("Binh Dinh", 100.0, 10.0),
            ("Phu Yen", 57.0, 6.0),
            ("Khanh Hoa", 19.0, 4.0),
            ("Ninh Thuan", 35.0, 9.0),
            ("Binh Thuan", 120.0, 17.0),
        ],
    ),
    (
        "Central Highlands",
        [
            ("Kon Tum", 24.0, 6.0),
            ("Gia Lai", 76.0, 45.0),
            ("Dak Lak", 101.0, 110.0),
            ("Dak Nong", 14.0, 33.0),
            ("Lam Dong", 12.0, 10.0),
        ],
    ),
    (
        "South East",
        [
            ("Binh Phuoc", 12.0, 2.0),
            ("Tay Ninh", 150.0, 7.0),
            ("Binh Duong", 4.0, 0.5),
            ("Dong Nai", 67.0, 48.0),
            ("Ba Ria - Vung Tau", 26.0, 9.0),
            ("Ho Chi Minh city", 20.0, 1.0),
        ],
    ),
    (
        "Mekong River Delta",
        [
            ("Long An", 520.0, 3.0),
            ("Tien Giang", 230.0, 2.0),
            ("Ben Tre", 70.0, 1.0),
            ("Tra Vinh", 230.0, 5.0),
            ("Vinh Long", 170.0, 2.0),
            ("Dong Thap", 530.0, 4.0),
            ("An Giang", 640.0, 8.0),
            ("Kien Giang", 720.0, 0.5),
            ("Can Tho", 230.0, 1.0),
            ("Hau Giang", 200.0, 1.0),
            ("Soc Trang", 360.0, 2.0),
            ("Bac Lieu", 180.0, 0.5),
            ("Ca Mau", 140.0, 0.5),
        ],
    ),
]
FROM_2004 = {"Dien Bien", "Dak Nong", "Hau Giang"}
UNTIL_2007 = {"Ha Tay"}
# Spring paddy is about 40% of the year's paddy area; yields (quintals/ha) around 2015.
YIELD_Q = {"paddy": 57.0, "spring paddy": 64.0, "maize": 45.0}


def exists(province: str, year: int) -> bool:
    if province in FROM_2004 and year < 2004:
        return False
    return not (province in UNTIL_2007 and year > 2007)


def series(rng: random.Random, base_2015: float, province: str) -> dict[int, int]:
    """Planted area in tenths of a thousand ha per year (integers keep sums exact)."""
    values, level = {}, base_2015 * rng.uniform(0.85, 0.95)
    for year in YEARS:
        level *= rng.uniform(0.995, 1.02)
        area = level
        if province == "Ha Noi" and year < 2008:
            area *= 0.45  # before absorbing Hà Tây
        if exists(province, year):
            values[year] = max(1, round(area * 10))
    return values


def fmt(tenths: int | None) -> str:
    return ".." if tenths is None else f"{tenths // 10}.{tenths % 10}"


def write_table(path: Path, title: str, rows: list[tuple[str, dict[int, int]]]) -> None:
    header = ['"Cities, provincies"'] + [f'"{y}"' if y < YEARS[-1] else f'"Prel. {y}"' for y in YEARS]
    lines = [f'"{title}"', "", ";".join(header)]
    for name, values in rows:
        lines.append(";".join([f'"{name}"'] + [fmt(values.get(y)) for y in YEARS]))
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8"))


def total(parts: list[dict[int, int]]) -> dict[int, int]:
    return {y: sum(p[y] for p in parts if y in p) for y in YEARS}


def build(crop: str, base_index: int, share: float, rng: random.Random) -> None:
    area: dict[str, dict[int, int]] = {}
    prod: dict[str, dict[int, int]] = {}
    for _, provinces in REGIONS:
        for name, paddy, maize in provinces:
            base = (paddy if base_index == 1 else maize) * share
            area[name] = series(rng, base, name)
            y = YIELD_Q[crop] * rng.uniform(0.8, 1.15)
            # production (thousand tonnes) = area (thousand ha) * yield (quintals/ha) / 10
            prod[name] = {
                yr: max(1, round(a * y * rng.uniform(0.97, 1.03) / 10)) for yr, a in area[name].items()
            }

    def rows(measure: dict[str, dict[int, int]]) -> list[tuple[str, dict[int, int]]]:
        out = [(" WHOLE COUNTRY", total(list(measure.values())))]
        for region, provinces in REGIONS:
            out.append((f" {region}", total([measure[p] for p, _, _ in provinces])))
            out += [(p, measure[p]) for p, _, _ in provinces]
        return out

    def yields() -> list[tuple[str, dict[int, int]]]:
        out = []
        for (name, a), (_, p) in zip(rows(area), rows(prod), strict=True):
            out.append((name, {y: round(p[y] * 100 / a[y]) for y in a if a[y]}))  # quintals/ha, tenths
        return out

    slug = crop.replace(" ", "_")
    write_table(
        OUT / f"planted_area_{slug}.csv",
        f"Planted area of {crop} by province by Cities, provincies and Year",
        rows(area),
    )
    write_table(
        OUT / f"production_{slug}.csv",
        f"Production of {crop} by province by Cities, provincies and Year",
        rows(prod),
    )
    write_table(
        OUT / f"yield_{slug}.csv", f"Yield of {crop} by province by Cities, provincies and Year", yields()
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20161231)
    build("paddy", 1, 1.0, rng)
    build("spring paddy", 1, 0.4, rng)
    build("maize", 2, 1.0, rng)


if __name__ == "__main__":
    main()
