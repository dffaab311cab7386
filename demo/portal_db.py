"""A stand-in for the province's public-service portal database, so the ``database`` connector has a real
system to read in the demo and the tests.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kho.operations import services
from kho.settings import REPO, Settings, settings, write_private

# The demo portal's database and its read-only login (a province's own portal: KHO_PORTAL_URL). Only the
# demo creates them (``kho up`` does not); the login's password is generated, kept mode 600 under KHO_HOME.
PORTAL_DEMO_DATABASE = "portal_demo"
PORTAL_DEMO_READER = "kho_reader"

VERSION = "kho portal demo v3"
SCHEMA = "motcua"
SEED = 20251031
VIETNAM = dt.timezone(dt.timedelta(hours=7))
FIRST_DAY = dt.date(2024, 1, 1)
CUTOFF = dt.datetime(2025, 10, 31, 17, 0, tzinfo=VIETNAM)  # the extract's "now": end of October 2025
MONTHLY_DOSSIERS = 3_180  # about 70,000 over 22 months
WAITING_WINDOW = dt.timedelta(days=120)  # recent dossiers may still wait for the applicant's papers
PROVINCE = "08"  # Tuyên Quang (2025), which took in Hà Giang
UNITS_2025 = REPO / "dbt_project" / "seeds" / "reference" / "ref_admin_units_2025.csv"

# Departments and sector agencies that receive dossiers at the provincial service centre, with their share
# of the provincial volume and their procedures (code, name, legal time in working days).
DEPARTMENTS: list[tuple[str, float, list[tuple[str, str, int]]]] = [
    ("Sở Nội vụ", 3, [("TT-NV-01", "Giải quyết chế độ trợ cấp cho người có công", 20)]),
    ("Sở Tư pháp", 9, [("TT-TP-01", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", 10)]),
    (
        "Sở Tài chính",
        8,
        [
            ("TT-TC-01", "Đăng ký thành lập doanh nghiệp", 3),
            ("TT-TC-02", "Đăng ký thay đổi nội dung đăng ký doanh nghiệp", 3),
        ],
    ),
    ("Sở Công Thương", 4, [("TT-CT-01", "Cấp Giấy phép bán lẻ sản phẩm rượu", 10)]),
    (
        "Sở Xây dựng",
        7,
        [("TT-XD-01", "Cấp giấy phép xây dựng", 20), ("TT-XD-02", "Cấp đổi giấy phép lái xe", 5)],
    ),
    (
        "Sở Nông nghiệp và Môi trường",
        11,
        [
            ("TT-NM-01", "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất", 10),
            ("TT-NM-02", "Cấp giấy phép khai thác, sử dụng nước mặt", 30),
        ],
    ),
    ("Sở Khoa học và Công nghệ", 2, [("TT-KC-01", "Cấp giấy phép tiến hành công việc bức xạ", 15)]),
    ("Sở Giáo dục và Đào tạo", 5, [("TT-GD-01", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", 1)]),
    ("Sở Y tế", 5, [("TT-YT-01", "Cấp giấy phép hành nghề khám bệnh, chữa bệnh", 20)]),
    ("Sở Văn hóa, Thể thao và Du lịch", 2, [("TT-VH-01", "Cấp giấy phép kinh doanh dịch vụ lữ hành", 10)]),
    ("Sở Dân tộc và Tôn giáo", 1, [("TT-DT-01", "Đăng ký sinh hoạt tôn giáo tập trung", 20)]),
    ("Sở Ngoại vụ", 1, [("TT-NG-01", "Cho phép tổ chức hội nghị, hội thảo quốc tế", 15)]),
    ("Thanh tra tỉnh", 0.5, [("TT-TTr-01", "Giải quyết khiếu nại lần đầu", 30)]),
    ("Văn phòng UBND tỉnh", 1, [("TT-VP-01", "Cấp giấy phép hoạt động báo chí chuyên ngành", 15)]),
    ("Ban Quản lý các khu công nghiệp", 2, [("TT-KCN-01", "Cấp giấy phép lao động cho người nước ngoài", 5)]),
    ("Công an tỉnh", 9, [("TT-CA-01", "Cấp hộ chiếu phổ thông", 8)]),
    ("Bảo hiểm xã hội tỉnh", 4, [("TT-BH-01", "Giải quyết hưởng trợ cấp thất nghiệp", 20)]),
    ("Thuế tỉnh", 3, [("TT-TH-01", "Đăng ký thuế lần đầu", 3)]),
    ("Công ty Điện lực tỉnh", 2, [("TT-DL-01", "Cấp điện mới từ lưới điện hạ áp", 3)]),
    ("Kho bạc Nhà nước khu vực", 1, [("TT-KB-01", "Đăng ký mở tài khoản", 1)]),
]
DEPARTMENT_SHARE = 0.55

COMMUNE_PROCEDURES = [
    ("TT-XA-01", "Đăng ký khai sinh", 1, 30),
    ("TT-XA-02", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", 1, 30),
    ("TT-XA-03", "Đăng ký kết hôn", 1, 8),
    ("TT-XA-04", "Đăng ký khai tử", 1, 6),
    ("TT-XA-05", "Xác nhận tình trạng hôn nhân", 3, 12),
    ("TT-XA-06", "Cấp giấy chứng nhận quyền sử dụng đất lần đầu", 20, 6),
    ("TT-XA-07", "Đăng ký hộ kinh doanh", 3, 8),
]

# The 40 communes of the demo: communes and wards of the former Tuyên Quang, as reorganised on 1 July
# 2025. A few are written the way the portal has them, not as the official list does: the unit names were
# typed in by hand when the communes were created.
COMMUNES = [
    "02212", "02215", "02221", "02245", "02260", "02266", "02287", "02296", "02302", "02308",
    "02317", "02332", "02350", "02353", "02365", "02374", "02380", "02392", "02398", "02407",
    "02419", "02434", "02449", "02455", "02458", "02470", "02473", "02494", "02509", "02512",
    "02524", "02530", "02536", "02545", "02554", "02572", "02578", "02608", "02611", "02623",
]  # fmt: skip
PORTAL_SPELLING = {
    "02353": "Xã Hoà An",  # the tone mark placed the "new" way
    "02287": "xã Chiêm Hóa",
    "02524": "PHƯỜNG BÌNH THUẬN",
}

CHANNELS = ("truc_tuyen", "truc_tiep", "buu_chinh")
STATUSES = ("dang_xu_ly", "da_giai_quyet", "da_rut")


def _reader_password(s: Settings) -> str:
    path = s.home / "demo" / "portal_reader.password"
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def reader_url(s: Settings | None = None) -> str:
    """The demo portal's database as its read-only login: what ``${KHO_PORTAL_URL}`` means in the demo."""
    s = s or settings()
    parts = urlsplit(s.database_url(PORTAL_DEMO_DATABASE))
    netloc = f"{PORTAL_DEMO_READER}:{_reader_password(s)}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def ensure(s: Settings | None = None) -> str:
    """Create the demo portal database, its data and its read-only role, unless already there, and tell
    Kho where it is (``KHO_PORTAL_URL_FILE`` in ``services.env``, the URL in a mode-600 file); the URL."""
    s = s or settings()
    services.ensure_database(PORTAL_DEMO_DATABASE, s=s)
    user = PORTAL_DEMO_READER
    services.ensure_role(user, password=_reader_password(s), s=s)
    with psycopg.connect(s.database_url(PORTAL_DEMO_DATABASE)) as conn:
        # Two callers at once (kho up and a test run): one builds, the other waits and finds it built.
        conn.execute("select pg_advisory_xact_lock(hashtext('demo.portal_db'))")
        current = conn.execute(
            "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = %s", [SCHEMA]
        ).fetchone()
        if current is None or current[0] != VERSION:
            _build(conn)
        _grant_read_only(conn, user)
    url_file = write_private(s.home / "demo" / "portal_url", reader_url(s))
    services.write_services_env(s, {"KHO_PORTAL_URL_FILE": str(url_file)})
    return reader_url(s)


def _build(conn: psycopg.Connection) -> None:
    schema = sql.Identifier(SCHEMA)
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(schema))
    conn.execute(sql.SQL("create schema {}").format(schema))
    conn.execute(f"set local search_path = {SCHEMA}")
    conn.execute(
        """
        create table don_vi (
            ma_don_vi text primary key,
            ten_don_vi text not null,
            cap text not null check (cap in ('so', 'xa')),
            ten_dia_ban text,
            check ((cap = 'xa') = (ten_dia_ban is not null))
        );
        comment on table don_vi is 'Đơn vị tiếp nhận hồ sơ: sở, ngành (cap so) và UBND cấp xã (cap xa)';
        create table thu_tuc (
            ma_thu_tuc text primary key,
            ten_thu_tuc text not null,
            cap text not null check (cap in ('so', 'xa')),
            so_ngay_giai_quyet integer not null check (so_ngay_giai_quyet > 0)
        );
        comment on table thu_tuc is 'Thủ tục hành chính và thời hạn giải quyết (ngày làm việc)';
        create table ho_so (
            ma_ho_so text primary key,
            ma_don_vi text not null references don_vi,
            ma_thu_tuc text not null references thu_tuc,
            ngay_tiep_nhan timestamptz not null,
            kenh_nop text not null check (kenh_nop in ('truc_tuyen', 'truc_tiep', 'buu_chinh')),
            han_xu_ly timestamptz not null,
            ngay_tra_ket_qua timestamptz,
            trang_thai text not null check (trang_thai in ('dang_xu_ly', 'da_giai_quyet', 'da_rut')),
            check ((trang_thai = 'da_giai_quyet') = (ngay_tra_ket_qua is not null))
        );
        comment on table ho_so is 'Hồ sơ thủ tục hành chính, một dòng mỗi hồ sơ';
        """
    )
    units, procedures, dossiers = generate()
    with conn.cursor() as cur:
        with cur.copy("copy don_vi (ma_don_vi, ten_don_vi, cap, ten_dia_ban) from stdin") as copy:
            for row in units:
                copy.write_row(row)
        with cur.copy("copy thu_tuc (ma_thu_tuc, ten_thu_tuc, cap, so_ngay_giai_quyet) from stdin") as copy:
            for row in procedures:
                copy.write_row(row)
        columns = "ma_ho_so, ma_don_vi, ma_thu_tuc, ngay_tiep_nhan, kenh_nop, han_xu_ly, ngay_tra_ket_qua, trang_thai"
        with cur.copy(f"copy ho_so ({columns}) from stdin") as copy:
            for row in dossiers:
                copy.write_row(row)
    conn.execute("create index ho_so_don_vi_ngay on ho_so (ma_don_vi, ngay_tiep_nhan)")
    conn.execute("analyze don_vi; analyze thu_tuc; analyze ho_so")
    conn.execute(sql.SQL("comment on schema {} is {}").format(schema, sql.Literal(VERSION)))


def _grant_read_only(conn: psycopg.Connection, user: str) -> None:
    """SELECT on the portal's tables and nothing else; every transaction of the role read-only."""
    role, schema = sql.Identifier(user), sql.Identifier(SCHEMA)
    database = sql.Identifier(PORTAL_DEMO_DATABASE)
    for stmt in (
        "revoke all on database {database} from public",
        "grant connect on database {database} to {role}",
        "revoke create on schema public from public",
        "grant usage on schema {schema} to {role}",
        "grant select on all tables in schema {schema} to {role}",
        "alter role {role} set default_transaction_read_only = on",
        "alter role {role} set statement_timeout = '10min'",
    ):
        conn.execute(sql.SQL(stmt).format(database=database, role=role, schema=schema))


# --- the generated data --------------------------------------------------------------------------


def _communes() -> list[tuple[str, str, str]]:
    """(unit name, locality as the portal writes it, is a ward) of the demo's communes, from the 2025 list."""
    with UNITS_2025.open(encoding="utf-8", newline="") as f:
        units = {r["code"]: r for r in csv.DictReader(f) if r["province_code"] == PROVINCE}
    out = []
    for code in COMMUNES:
        unit = units[code]
        unit_name = f"UBND {unit['unit_type'].lower()} {unit['short_name']}"
        out.append((unit_name, PORTAL_SPELLING.get(code, unit["name"]), unit["unit_type"] == "Phường"))
    return out


def _months() -> Iterator[dt.date]:
    month = FIRST_DAY
    while month <= CUTOFF.date():
        yield month
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _calendar_days(working_days: int) -> float:
    return working_days * 7 / 5


def generate() -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(units, procedures, dossiers) rows, the same on every call."""
    rng = random.Random(SEED)
    units: list[tuple] = []
    procedures: list[tuple] = []
    # (unit code, share of the month's dossiers, [(procedure, days, weight)], late rate)
    senders: list[tuple[str, float, list[tuple[str, int, float]], float]] = []
    total_weight = sum(w for _, w, _ in DEPARTMENTS)
    for i, (name, weight, procs) in enumerate(DEPARTMENTS, start=1):
        code = f"000.00.{i:02d}.H{PROVINCE}"
        units.append((code, name, "so", None))
        for proc_code, proc_name, days in procs:
            procedures.append((proc_code, proc_name, "so", days))
        late = rng.uniform(0.003, 0.016)
        senders.append(
            (code, DEPARTMENT_SHARE * weight / total_weight, [(p, d, 1.0) for p, _, d in procs], late)
        )
    for proc_code, proc_name, days, _ in COMMUNE_PROCEDURES:
        procedures.append((proc_code, proc_name, "xa", days))
    commune_procs = [(p, d, float(w)) for p, _, d, w in COMMUNE_PROCEDURES]
    communes = _communes()
    sizes = [rng.uniform(1.3, 2.2) if ward else rng.uniform(0.6, 1.4) for _, _, ward in communes]
    for j, ((unit_name, locality, _), size) in enumerate(zip(communes, sizes, strict=True), start=1):
        code = f"000.{20 + j // 10:02d}.{j % 10 + 10:02d}.H{PROVINCE}"
        units.append((code, unit_name, "xa", locality))
        share = (1 - DEPARTMENT_SHARE) * size / sum(sizes)
        senders.append((code, share, commune_procs, rng.uniform(0.003, 0.012)))

    dossiers: list[tuple] = []
    months = list(_months())
    for m, month in enumerate(months):
        season = {1: 1.1, 2: 0.7, 12: 1.15}.get(month.month, 1.0)
        volume = MONTHLY_DOSSIERS * season * (0.93 + 0.14 * m / (len(months) - 1))
        online_share = 0.42 + 0.38 * m / (len(months) - 1)
        days_in_month = ((month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - month).days
        for code, share, procs, late_rate in senders:
            count = round(volume * share * rng.uniform(0.85, 1.15))
            weights = [w for _, _, w in procs]
            for _ in range(count):
                proc, days, _ = rng.choices(procs, weights)[0]
                channel = rng.choices(CHANNELS, [online_share, 0.98 - online_share, 0.02])[0]
                day = month + dt.timedelta(days=rng.randrange(days_in_month))
                if channel != "truc_tuyen":  # counters are open on working days, 7:30 to 17:00
                    while day.weekday() >= 5:
                        day -= dt.timedelta(days=2)
                    minute = rng.randrange(7 * 60 + 30, 17 * 60)
                else:
                    minute = rng.randrange(24 * 60)
                received = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), VIETNAM)
                allowed = dt.timedelta(days=_calendar_days(days))
                due = (received + allowed).replace(hour=17, minute=0)
                if due < received + allowed:
                    due += dt.timedelta(days=1)
                if rng.random() < 0.004:
                    status, returned = "da_rut", None
                elif CUTOFF - received < WAITING_WINDOW and rng.random() < 0.03:
                    status, returned = "dang_xu_ly", None  # waiting for the applicant to complete it
                else:
                    fraction = rng.uniform(1.02, 1.6) if rng.random() < late_rate else rng.uniform(0.1, 0.95)
                    returned = received + allowed * fraction
                    status = "da_giai_quyet"
                    if returned > CUTOFF:
                        status, returned = "dang_xu_ly", None
                dossier_id = f"H{PROVINCE}.{received:%y%m%d}.{len(dossiers) + 1:06d}"
                dossiers.append((dossier_id, code, proc, received, channel, due, returned, status))
    return units, procedures, dossiers
