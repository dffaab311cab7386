"""The access matrix, against the real PostgreSQL: every role Kho manages logs in as itself and tries
every read and write. Allowed reads must succeed; every other read and every write must fail with
"permission denied" (InsufficientPrivilege), nothing else.

The matrix comes from the catalog and the dbt manifest, not from lists written here, so a new agency,
dataset or model is covered the day it appears:

- each agency's role reads its own raw tables, no other agency's;
- each model agencies may read (``access: public``) is read by the roles its lineage allows (open:
  every agency and open_reader; shared: every agency; restricted: the owning agency);
- no role reads any other model (staging, intermediate, protected marts), the reference seeds or kho_meta;
- no role writes anything: no insert, delete or truncate on what it reads, no table in marts, public or any
  raw schema, no schema, no temporary table;
- every role gives its password, and connects to the warehouse only (not to ``postgres``, ``template1``,
  CKAN's databases or the demo portal's), so it creates temporary tables nowhere;
- ``kho up`` creates no demo role (the demo portal's ``kho_reader`` is the demo's own).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors, sql

from kho.catalog import CATALOG_DIR, catalog, load_catalog
from kho.conforming import access
from kho.conforming.dbt import project_dir, run_dbt
from kho.operations import stack as kho_stack

CATALOG = catalog()
ROLES = access.login_roles(CATALOG)


@pytest.fixture(scope="module")
def built(stack, tmp_path_factory) -> tuple:
    """Roles applied, every model built by dbt (with the grants dbt gives), the manifest of that run."""
    s, _ = stack
    access.apply(s)
    target = tmp_path_factory.mktemp("dbt-target")
    result = run_dbt(["run", "--target-path", str(target)], s=s, check=False)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    access.apply(s, manifest=manifest)
    return s, manifest, result.stdout[-3000:] if result.returncode else ""


@pytest.fixture(scope="module")
def sessions(built) -> Iterator[dict[str, psycopg.Connection]]:
    s, _, _ = built
    conns = {role: psycopg.connect(access.connection_url(s, role), autocommit=True) for role in ROLES}
    yield conns
    for conn in conns.values():
        conn.close()


def readers_of(manifest: dict) -> dict[tuple[str, str], set[str]]:
    """Every relation of the warehouse the matrix covers -> the login roles that may read it."""
    agencies = {access.agency_role(a) for a in CATALOG.agencies}
    readers: dict[tuple[str, str], set[str]] = {}
    for ds in CATALOG.datasets.values():
        readers[(ds.raw_schema, ds.raw_table)] = {access.agency_role(ds.agency)}
    for m in access.model_access(manifest, CATALOG).values():
        roles = set(m.readers)
        if access.AGENCY_GROUP in roles:
            roles = (roles - {access.AGENCY_GROUP}) | agencies
        readers[m.relation] = roles
    for node in manifest["nodes"].values():
        if node["resource_type"] == "seed":
            readers[(node["schema"], node.get("alias") or node["name"])] = set()
    return readers


def attempt(conn: psycopg.Connection, statement: sql.Composable) -> str:
    """'ok', 'denied' or the error's name; nothing is ever kept (the transaction is rolled back)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except errors.InsufficientPrivilege:
        return "denied"
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return "ok"


def _meta_tables(s) -> list[tuple[str, str]]:
    with psycopg.connect(s.warehouse_url) as conn:
        return conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = 'kho_meta'"
        ).fetchall()


@pytest.mark.parametrize("role", ROLES)
def test_reads(role, built, sessions):
    s, manifest, dbt_failed = built
    cases = {rel: role in roles for rel, roles in readers_of(manifest).items()}
    cases |= {rel: False for rel in _meta_tables(s)}
    wrong = []
    for relation, allowed in sorted(cases.items()):
        got = attempt(sessions[role], sql.SQL("select * from {} limit 1").format(sql.Identifier(*relation)))
        if got != ("ok" if allowed else "denied"):
            wrong.append(f"{'read' if allowed else 'no read'} {'.'.join(relation)}: {got}")
    hint = f"\n(dbt run failed, some tables may be missing:)\n{dbt_failed}" if dbt_failed else ""
    assert not wrong, f"{role}, {len(wrong)} of {len(cases)} reads wrong:\n" + "\n".join(wrong) + hint


@pytest.mark.parametrize("role", ROLES)
def test_writes_are_denied(role, built, sessions):
    _, manifest, _ = built
    conn = sessions[role]
    statements = []
    for relation, roles in sorted(readers_of(manifest).items()):
        # what it reads (and, for the raw schemas, every agency's tables) it may not change
        if role in roles or relation[0].startswith("raw_"):
            table = sql.Identifier(*relation)
            statements += [
                sql.SQL("insert into {} default values").format(table),
                sql.SQL("delete from {}").format(table),
                sql.SQL("truncate {}").format(table),
            ]
    schemas = sorted({ds.raw_schema for ds in CATALOG.datasets.values()} | {"marts", "public", "staging"})
    statements += [
        sql.SQL("create table {} (x integer)").format(sql.Identifier(schema, "kho_access_probe"))
        for schema in schemas
    ]
    statements += [
        sql.SQL("create schema kho_access_probe"),
        sql.SQL("create temporary table kho_access_probe (x integer)"),
    ]
    wrong = [f"{st.as_string(conn)}: {got}" for st in statements if (got := attempt(conn, st)) != "denied"]
    assert not wrong, f"{role}, {len(wrong)} of {len(statements)} writes not denied:\n" + "\n".join(wrong)


def test_open_reader_sees_no_personal_data(built):
    """The columns of every table open_reader can read, as the database has them, against the catalog."""
    s, manifest, _ = built
    open_models = [
        m for m in access.model_access(manifest, CATALOG).values() if access.OPEN_READER in m.readers
    ]
    assert open_models
    with psycopg.connect(s.warehouse_url) as conn:
        for m in open_models:
            columns = {
                c
                for (c,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                    list(m.relation),
                )
            }
            assert not columns & set(m.personal_columns), (
                f"{m.name}: {sorted(columns & set(m.personal_columns))}"
            )


def test_a_model_exposing_personal_data_to_open_reader_fails_the_build(built, tmp_path):
    """The post-hook stops the model before it is committed: dbt fails and no table appears."""
    s, _, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(project_dir(s), project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "marts" / "zz_access_probe_leak.sql").write_text(
        "{{ config(grants={'select': ['open_reader']}, meta={'kho_personal_columns': ['phone']}) }}\n"
        "select 1 as zone_id, '0912345678'::text as phone\n"
    )
    result = run_dbt(
        [
            "run",
            "--project-dir",
            str(project),
            "--target-path",
            str(tmp_path / "target"),
            "--select",
            "zz_access_probe_leak",
        ],
        s=s,
        check=False,
    )
    assert result.returncode != 0
    assert "personal data: phone" in result.stdout
    with psycopg.connect(s.warehouse_url) as conn:
        assert conn.execute("select to_regclass('marts.zz_access_probe_leak')").fetchone()[0] is None


def _privileges(s) -> list[tuple]:
    with psycopg.connect(s.warehouse_url) as conn:
        return conn.execute(
            "select r.rolname, n.nspname, c.relname, a.privilege_type from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace cross join lateral aclexplode(c.relacl) a"
            " join pg_roles r on r.oid = a.grantee where r.rolname like 'agency\\_%' or r.rolname in"
            " ('open_reader', 'kho_agency_reader') order by 1, 2, 3, 4"
        ).fetchall()


def test_apply_converges(built, tmp_path):
    """Applying again changes nothing; a privilege granted by hand is taken back; a removed agency's role goes."""
    s, manifest, _ = built
    before = _privileges(s)
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn:
        conn.execute("grant insert on marts.fct_crop_production to agency_statistics_office")
        conn.execute("grant usage on schema raw_agriculture to agency_construction")
    access.apply(s, manifest=manifest)
    assert _privileges(s) == before

    # a catalog with one more agency, then the real one again
    shutil.copytree(CATALOG_DIR, tmp_path / "c")
    agencies = tmp_path / "c" / "agencies.yml"
    agencies.write_text(agencies.read_text() + "  - {id: zz_probe, name_vi: Thử, name_en: Probe}\n")
    access.apply(s, cat=load_catalog(tmp_path / "c"), manifest=manifest)
    with psycopg.connect(s.warehouse_url) as conn:
        assert conn.execute("select 1 from pg_roles where rolname = 'agency_zz_probe'").fetchone()
        access.apply(s, manifest=manifest)
        assert not conn.execute("select 1 from pg_roles where rolname = 'agency_zz_probe'").fetchone()
    assert _privileges(s) == before


# --- how roles connect, and where ----------------------------------------------------------------

OTHER_DATABASES = ("postgres", "template1", "ckan", "ckan_datastore", "portal_demo")


def _in_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def _connect(url: str) -> str:
    """'ok', or why the server refused (only what the URL gives: no password file, no PGPASSWORD)."""
    try:
        psycopg.connect(url, passfile=os.devnull, connect_timeout=10).close()
    except psycopg.OperationalError as exc:
        return str(exc).strip()
    return "ok"


def test_every_role_gives_its_password(built, monkeypatch):
    s, _, _ = built
    monkeypatch.delenv("PGPASSWORD", raising=False)
    role = ROLES[0]
    good = access.connection_url(s, role)
    parts = urlsplit(good)
    host = parts.netloc.rpartition("@")[2]
    superuser = urlsplit(s.warehouse_url).username or "postgres"
    for user in (role, superuser):
        assert "no password supplied" in _connect(urlunsplit(parts._replace(netloc=f"{user}@{host}")))
        wrong = urlunsplit(parts._replace(netloc=f"{user}:not-the-password@{host}"))
        assert "password authentication failed" in _connect(wrong)
    assert _connect(good) == "ok"
    with psycopg.connect(good, passfile=os.devnull) as conn:
        assert conn.execute("select current_user, current_database()").fetchone() == (role, "kho")


@pytest.mark.parametrize("role", ROLES)
def test_readers_connect_to_the_warehouse_only(role, built):
    s, _, _ = built
    with psycopg.connect(s.warehouse_url) as conn:
        present = [
            d
            for (d,) in conn.execute(
                "select datname from pg_database where datname = any(%s)", [list(OTHER_DATABASES)]
            )
        ]
    assert {"postgres", "template1", "ckan", "ckan_datastore"} <= set(present)
    url = access.connection_url(s, role)
    got = {database: _connect(_in_database(url, database)) for database in present}
    wrong = {d: why for d, why in got.items() if "permission denied for database" not in why}
    assert not wrong, f"{role} connects to {sorted(wrong)}: {wrong}"


def test_kho_up_creates_no_demo_role(built):
    """The demo portal's login is the demo's (demo/portal_db.py): ``kho up`` alone, as on a province's own
    server, leaves no ``kho_reader`` behind."""
    s, _, _ = built
    from demo import portal_db

    def exists() -> bool:
        with psycopg.connect(s.warehouse_url) as conn:
            found = conn.execute("select 1 from pg_roles where rolname = %s", [portal_db.PORTAL_DEMO_READER])
            return found.fetchone() is not None

    had = exists()
    if had:  # the demo ran on these services: take its role away for the time of this test
        with psycopg.connect(s.database_url(portal_db.PORTAL_DEMO_DATABASE), autocommit=True) as conn:
            role = sql.Identifier(portal_db.PORTAL_DEMO_READER)
            conn.execute(sql.SQL("drop owned by {}").format(role))
            conn.execute(sql.SQL("drop role {}").format(role))
    try:
        # Airflow's services stay down: the integration tests after this one land files with no scheduler
        kho_stack.up(s, echo=lambda _m: None, airflow_services=False)
        assert not exists()
    finally:
        if had:
            portal_db.ensure(s)
    assert exists() == had
