"""Address matching: Kho's reader (kho/landing/addresses.py) against a peer library, on one labelled set.

    .kho/venvs/main/bin/python -m bench.addresses            # 6,000 addresses, Kho and the peer
    .kho/venvs/main/bin/python -m bench.addresses --no-peer  # Kho only

The evaluation set is built from the reference lists (dbt_project/seeds/reference), both vintages, with
the noise agencies' addresses carry: house numbers, streets and hamlets before the commune; unit words
full, abbreviated (X., P., TT., Tp., H., Q.) or left out; no diacritics; upper or lower case; the
district written or not (2024); the province left out (then the dataset's scope is the true province,
as the province's own dataset would declare); one-edit typos in the commune name. Each address is
labelled with the 2025 commune it lies in: a 2025 commune's own code, a 2024 commune's through the
crosswalk, none for a 2024 commune that was split (no single right answer: any code given is wrong).

Precision: right codes / codes given. Recall: right codes / addresses that have a code. The peer
(vietnamadminunits, out of the box: ``parse_address(text, level=2)``, the 2025 units) runs in its own
environment, ``.kho/venvs/peer``, made with uv on first use: it is not a Kho dependency (README).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kho.landing.addresses import SEEDS, parse_address
from kho.landing.names import match_key
from kho.settings import REPO

PEER = "vietnamadminunits==1.0.4"
PEER_VENV = REPO / ".kho" / "venvs" / "peer"
STREETS = ["Nguyễn Trãi", "Lê Lợi", "Trần Hưng Đạo", "Hùng Vương", "Quang Trung", "Lý Thường Kiệt"]
HAMLETS = ["thôn {}", "ấp {}", "bản {}", "xóm {}", "tổ {}", "khu phố {}", "tổ dân phố {}"]
COMMUNE_WORDS = {"Xã": ["Xã ", "X. ", "xã ", ""], "Phường": ["Phường ", "P. ", "P.", "phường ", ""],
                 "Thị trấn": ["Thị trấn ", "TT. ", "TT ", ""], "Đặc khu": ["Đặc khu ", ""]}  # fmt: skip
DISTRICT_WORDS = {"Huyện": ["Huyện ", "H. ", "huyện ", ""], "Quận": ["Quận ", "Q.", "Q. "],
                  "Thị xã": ["Thị xã ", "TX. ", ""], "Thành phố": ["Thành phố ", "Tp. ", "TP "]}  # fmt: skip
PROVINCE_WORDS = {"Tỉnh": ["Tỉnh ", "tỉnh ", ""], "Thành phố": ["Thành phố ", "TP. ", "Tp ", ""]}


@dataclass(frozen=True)
class Case:
    address: str
    vintage: str
    province: str  # the true 2025 province
    commune_2025: str | None  # the true 2025 commune; None: the former commune was split
    noise: str  # what was done to it, for the breakdown


def _rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _unaccent(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if not unicodedata.combining(c))


def _typo(rng: random.Random, name: str) -> str:
    """One edit inside the name: a letter doubled, dropped or swapped with its neighbour."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    i = rng.choice(letters[1:-1] or letters)
    kind = rng.choice(["double", "drop", "swap"])
    if kind == "double":
        return name[: i + 1] + name[i] + name[i + 1 :]
    if kind == "drop":
        return name[:i] + name[i + 1 :]
    j = i + 1 if i + 1 < len(name) and name[i + 1].isalpha() else i - 1
    a, b = sorted((i, j))
    return name[:a] + name[b] + name[a] + name[b + 1 :]


def evaluation_set(n: int = 6000, seed: int = 20250701) -> list[Case]:
    """``n`` labelled addresses, half from each list, reproducible from ``seed``."""
    rng = random.Random(seed)
    units24 = _rows("ref_admin_units_2024.csv")
    units25 = _rows("ref_admin_units_2025.csv")
    by_code24 = {u["code"]: u for u in units24}
    by_code25 = {u["code"]: u for u in units25}
    province_25 = {}
    new_codes: dict[str, set[str]] = defaultdict(set)
    for row in _rows("ref_admin_crosswalk_2025.csv"):
        if row["level"] == "province":
            province_25[row["old_code"]] = row["new_code"]
        elif row["level"] == "commune":
            new_codes[row["old_code"]].add(row["new_code"])
    communes24 = [u for u in units24 if u["level"] == "commune"]
    communes25 = [u for u in units25 if u["level"] == "commune"]
    known = {match_key(u["name"]) for u in communes24 + communes25}
    cases = []
    for i in range(n):
        vintage = "2025" if i % 2 else "2024"
        unit = rng.choice(communes25 if vintage == "2025" else communes24)
        units = by_code25 if vintage == "2025" else by_code24
        province = units[unit["province_code"]]
        noise = []
        commune_name = unit["short_name"]
        if rng.random() < 0.08 and sum(ch.isalpha() for ch in commune_name) > 3:
            typo = _typo(rng, commune_name)
            # a typo that spells another real commune ("EaBar" -> "EaBa", Ea Bá) names that commune: no
            # reader can know better, so such a label would be wrong; those keep the name as it is
            if match_key(typo) not in known:
                commune_name = typo
                noise.append("typo")
        parts = [rng.choice(COMMUNE_WORDS.get(unit["unit_type"], [""])) + commune_name]
        if vintage == "2024" and rng.random() < 0.7:
            district = by_code24[unit["parent_code"]]
            parts.append(rng.choice(DISTRICT_WORDS.get(district["unit_type"], [""])) + district["short_name"])
            noise.append("district")
        if rng.random() < 0.9:
            parts.append(rng.choice(PROVINCE_WORDS.get(province["unit_type"], [""])) + province["short_name"])
        else:
            noise.append("no province")
        before = rng.random()
        if before < 0.3:
            parts.insert(0, rng.choice(HAMLETS).format(rng.choice(["1", "2", "Tân Lập", "Đồng Tâm", "Bắc"])))
            noise.append("hamlet")
        elif before < 0.55:
            parts.insert(0, f"Số {rng.randint(1, 300)} {rng.choice(STREETS)}")
            noise.append("street")
        address = rng.choice([", ", ", ", " - ", " "]).join(parts)
        shape = rng.random()
        if shape < 0.3:
            address, noise = _unaccent(address), [*noise, "no accents"]
        elif shape < 0.4:
            address, noise = address.upper(), [*noise, "upper case"]
        elif shape < 0.5:
            address, noise = address.lower(), [*noise, "lower case"]
        if vintage == "2025":
            truth = unit["code"]
        else:
            codes = new_codes.get(unit["code"], set())
            truth = next(iter(codes)) if len(codes) == 1 else None
        p25 = province["code"] if vintage == "2025" else province_25[province["code"]]
        cases.append(Case(address, vintage, p25, truth, "+".join(noise) or "clean"))
    return cases


def kho_codes(cases: list[Case]) -> list[str | None]:
    """Kho's 2025 commune code per address, within the true province as the dataset's scope."""
    return [parse_address(c.address).resolve([c.province])[2] for c in cases]


def peer_codes(cases: list[Case]) -> list[str | None]:
    """The peer's 2025 commune code per address (its own environment; see the module's docstring)."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        uv = REPO / ".kho" / "bootstrap" / "bin" / "uv"
        subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(PEER_VENV)], check=True)
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), PEER], check=True)
    script = (
        "import json, sys, warnings\n"
        "warnings.filterwarnings('ignore')\n"
        "from vietnamadminunits import parse_address\n"
        "out = []\n"
        "for line in sys.stdin:\n"
        "    try:\n"
        "        out.append(parse_address(json.loads(line), level=2).ward_code or None)\n"
        "    except Exception:\n"
        "        out.append(None)\n"
        "print(json.dumps(out))\n"
    )
    lines = "".join(json.dumps(c.address) + "\n" for c in cases)
    done = subprocess.run(
        [str(python), "-c", script], input=lines, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def score(cases: list[Case], codes: list[str | None]) -> dict:
    given = [(c, code) for c, code in zip(cases, codes, strict=True) if code]
    right = sum(code == c.commune_2025 for c, code in given)
    labelled = sum(c.commune_2025 is not None for c in cases)
    wrong = [(c.address, c.commune_2025, code) for c, code in given if code != c.commune_2025]
    return {
        "addresses": len(cases),
        "labelled": labelled,
        "codes_given": len(given),
        "right": right,
        "wrong": len(wrong),
        "precision_pct": round(100 * right / len(given), 2) if given else None,
        "recall_pct": round(100 * right / labelled, 2) if labelled else None,
        "wrong_examples": wrong[:10],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.addresses", description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=6000)
    p.add_argument("--no-peer", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    cases = evaluation_set(args.n)
    results = {"kho": score(cases, kho_codes(cases))}
    if not args.no_peer:
        started = time.monotonic()
        results["peer"] = {"library": PEER, **score(cases, peer_codes(cases))}
        results["peer"]["seconds"] = round(time.monotonic() - started, 1)
    for who, r in results.items():
        print(
            f"{who:5} {r['addresses']} addresses ({r['labelled']} with a code): precision {r['precision_pct']}%"
            f" ({r['wrong']} wrong of {r['codes_given']} given), recall {r['recall_pct']}%"
        )
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
