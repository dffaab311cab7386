"""Who may read what in the warehouse: PostgreSQL roles and privileges, derived from the catalog and dbt.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kho.catalog import Catalog, Dataset, catalog
from kho.conforming.project import manifest_path
from kho.settings import Settings, settings, write_private

AGENCY_GROUP = "kho_agency_reader"
OPEN_READER = "open_reader"
# dbt group of the models built from reference data only, or from several agencies' data
PLATFORM_GROUP = "platform"
MARTS = "marts"
LEVELS = {"open": 0, "shared": 1, "restricted": 2}
# Guards the role and privilege changes: two `kho up` at once would collide on the same catalog rows.
LOCK_KEY = "kho_access_apply"
# Analysts' sessions: a forgotten open transaction holds a lock that blocks dbt from replacing a table.
ROLE_SETTINGS = {"statement_timeout": "15min", "idle_in_transaction_session_timeout": "5min"}


class AccessError(RuntimeError):
    """Roles or privileges could not be derived or applied."""


def agency_role(agency_id: str) -> str:
    role = f"agency_{agency_id}"
    if len(role) > 63:  # PostgreSQL would silently cut it
        raise AccessError(f"agency '{agency_id}': role name '{role}' is longer than 63 characters")
    return role


def login_roles(cat: Catalog) -> list[str]:
    """Every LOGIN role Kho manages: one per agency, then open_reader."""
    return [agency_role(a) for a in sorted(cat.agencies)] + [OPEN_READER]


def managed_roles(cat: Catalog) -> list[str]:
    return [AGENCY_GROUP, *login_roles(cat)]


# --- which model each role may read --------------------------------------------------------------


@dataclass(frozen=True)
class ModelAccess:
    """What the catalog says about one dbt model: whose data it is and who may read it."""

    name: str
    path: tuple[str, ...]  # folders and name under models/: ("marts", "fct_crop_production")
    relation: tuple[str, str]  # (schema, table) in the warehouse
    access: str  # dbt access: public, protected or private
    classification: str  # open, shared or restricted
    datasets: tuple[str, ...]  # the catalog datasets it is built from
    group: str  # the agency whose data it is, else PLATFORM_GROUP
    readers: tuple[str, ...]  # roles granted SELECT (empty: the pipeline only)
    personal_columns: tuple[str, ...]  # the catalog's personal_data columns of those datasets


def readers_for(access: str, classification: str, owners: Iterable[str]) -> tuple[str, ...]:
    """The roles that may SELECT a model: only public models are read outside the pipeline."""
    if access != "public":
        return ()
    if classification == "open":
        return (AGENCY_GROUP, OPEN_READER)
    if classification == "shared":
        return (AGENCY_GROUP,)
    owners = sorted(set(owners))
    # restricted data of two agencies together belongs to neither alone
    return (agency_role(owners[0]),) if len(owners) == 1 else ()


def model_access(manifest: dict, cat: Catalog | None = None) -> dict[str, ModelAccess]:
    """Every model of the project, keyed by name, with its classification and readers from its lineage."""
    cat = cat or catalog()
    by_source = {(ds.raw_schema, ds.raw_table): ds for ds in cat.datasets.values()}
    nodes, sources = manifest["nodes"], manifest["sources"]
    project = manifest["metadata"].get("project_name", "kho")

    def upstream(unique_id: str) -> tuple[list[Dataset], list[str]]:
        found, unknown, seen, todo = {}, [], set(), [unique_id]
        while todo:
            for parent in (nodes.get(todo.pop()) or {}).get("depends_on", {}).get("nodes", []):
                if parent in seen:
                    continue
                seen.add(parent)
                if parent in sources:
                    src = sources[parent]
                    ds = by_source.get((src["schema"], src.get("identifier") or src["name"]))
                    if ds is None:
                        unknown.append(parent)
                    else:
                        found[ds.id] = ds
                else:
                    todo.append(parent)
        return [found[k] for k in sorted(found)], unknown

    models = {}
    for unique_id, node in nodes.items():
        if node["resource_type"] != "model" or node["package_name"] != project:
            continue
        datasets, unknown = upstream(unique_id)
        declared = (node["config"].get("meta") or {}).get("classification")
        if declared is not None and declared not in LEVELS:
            raise AccessError(
                f"model {node['name']}: meta classification {declared!r} is not one of {list(LEVELS)}"
            )
        levels = [LEVELS[ds.classification] for ds in datasets]
        if unknown:  # a source the catalog does not know: nobody but the pipeline may read it
            levels.append(LEVELS["restricted"])
        if declared in LEVELS:
            levels.append(LEVELS[declared])
        classification = next(k for k, v in LEVELS.items() if v == max(levels, default=0))
        agencies = sorted({ds.agency for ds in datasets})
        if classification == "restricted" and not unknown:
            owners = [ds.agency for ds in datasets if ds.classification == "restricted"] or agencies
        else:
            owners = []
        access = node.get("access") or "protected"
        models[node["name"]] = ModelAccess(
            name=node["name"],
            path=tuple(node["fqn"][1:-1]) + (node["name"],),
            relation=(node["schema"], node.get("alias") or node["name"]),
            access=access,
            classification=classification,
            datasets=tuple(ds.id for ds in datasets),
            group=agencies[0] if len(agencies) == 1 else PLATFORM_GROUP,
            readers=readers_for(access, classification, owners),
            personal_columns=tuple(
                sorted({c.name for ds in datasets for c in ds.columns if c.personal_data})
            ),
        )
    return models


def load_manifest(s: Settings | None = None) -> dict | None:
    path = manifest_path(s)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def granted_relations(manifest: dict) -> dict[tuple[str, str], set[str]]:
    """(schema, table) -> roles given SELECT by the models' dbt ``grants`` config, as dbt applies it."""
    granted = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] in ("model", "seed", "snapshot"):
            readers = (node["config"].get("grants") or {}).get("select") or []
            if readers:
                granted[(node["schema"], node.get("alias") or node["name"])] = set(readers)
    return granted


# --- passwords and connection URLs ---------------------------------------------------------------


def access_dir(s: Settings) -> Path:
    return s.home / "access"


def password(s: Settings, role: str) -> str:
    """The role's password, generated the first time and kept (owner-readable only) under $KHO_HOME/access."""
    path = access_dir(s) / f"{role}.password"
    if not path.exists():
        write_private(path.with_suffix(".tmp"), secrets.token_urlsafe(24) + "\n").replace(path)
    return path.read_text().strip()


def pipeline_role(s: Settings) -> str:
    return unquote(urlsplit(s.warehouse_url).username or "postgres")


def connection_url(s: Settings, role: str, with_password: bool = True) -> str:
    """The warehouse URL for ``role``, with its password (else ``****`` in its place)."""
    parts = urlsplit(s.warehouse_url)
    host = parts.netloc.rpartition("@")[2]
    secret = quote(password(s, role), safe="") if with_password else "****"
    netloc = f"{quote(role, safe='')}:{secret}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


# --- applying it ---------------------------------------------------------------------------------


def apply(s: Settings | None = None, cat: Catalog | None = None, manifest: dict | None = None) -> None:
    """Create or update the roles and privileges; idempotent. Table grants follow the dbt manifest."""
    s = s or settings()
    cat = cat or catalog()
    manifest = manifest if manifest is not None else load_manifest(s)
    with psycopg.connect(s.warehouse_url, autocommit=True) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", [LOCK_KEY])
        _roles(conn, s, cat)
        _database_and_schemas(conn, s, cat)
        _tables(conn, cat, manifest)


def _run(conn: psycopg.Connection, stmt: str, **names: str | list[str]) -> None:
    """Execute ``stmt`` with ``{name}`` placeholders filled as identifiers (a list: comma-separated)."""
    args = {
        k: sql.SQL(", ").join(map(sql.Identifier, v)) if isinstance(v, list) else sql.Identifier(v)
        for k, v in names.items()
    }
    conn.execute(sql.SQL(stmt).format(**args))


def _roles(conn: psycopg.Connection, s: Settings, cat: Catalog) -> None:
    existing = {r for (r,) in conn.execute("select rolname from pg_roles")}
    plain = "nosuperuser nocreatedb nocreaterole noreplication nobypassrls"
    if AGENCY_GROUP not in existing:
        _run(conn, "create role {r} nologin", r=AGENCY_GROUP)
    _run(conn, f"alter role {{r}} nologin {plain}", r=AGENCY_GROUP)
    for role in login_roles(cat):
        if role not in existing:
            _run(conn, "create role {r} login", r=role)
        conn.execute(
            sql.SQL(f"alter role {{}} login inherit {plain} connection limit 20 password {{}}").format(
                sql.Identifier(role), sql.Literal(password(s, role))
            )
        )
        for name, value in ROLE_SETTINGS.items():
            conn.execute(
                sql.SQL("alter role {} set {} = {}").format(
                    sql.Identifier(role), sql.Identifier(name), sql.Literal(value)
                )
            )
    # memberships: every agency in the group, and nothing else (pg_read_all_data would defeat the rest)
    agencies = [agency_role(a) for a in sorted(cat.agencies)]
    held = conn.execute(
        "select m.rolname, g.rolname from pg_auth_members am join pg_roles m on m.oid = am.member"
        " join pg_roles g on g.oid = am.roleid where m.rolname = any(%s)",
        [login_roles(cat) + [AGENCY_GROUP]],
    ).fetchall()
    for member, group in held:
        if not (member in agencies and group == AGENCY_GROUP):
            _run(conn, "revoke {g} from {m}", g=group, m=member)
    if agencies:
        _run(conn, "grant {g} to {m}", g=AGENCY_GROUP, m=agencies)
    # an agency gone from the catalog: its role goes too (only roles of our group are ever touched)
    stale = conn.execute(
        "select m.rolname from pg_auth_members am join pg_roles m on m.oid = am.member"
        " join pg_roles g on g.oid = am.roleid where g.rolname = %s and m.rolname <> all(%s)",
        [AGENCY_GROUP, agencies],
    ).fetchall()
    for (role,) in stale:
        _run(conn, "drop owned by {r}", r=role)
        _run(conn, "drop role {r}", r=role)  # its password file stays: the same role comes back alike


def _database_and_schemas(conn: psycopg.Connection, s: Settings, cat: Catalog) -> None:
    database = conn.info.dbname
    readers = [AGENCY_GROUP, OPEN_READER]
    _run(conn, "revoke all on database {d} from public", d=database)
    _run(conn, "grant connect on database {d} to {r}", d=database, r=readers)
    _run(conn, "revoke create on schema public from public")
    _run(conn, "create schema if not exists {s}", s=MARTS)
    _run(conn, "grant usage on schema {s} to {r}", s=MARTS, r=readers)
    pipeline = pipeline_role(s)
    for agency in sorted({ds.agency for ds in cat.datasets.values()}):
        role, schema = agency_role(agency), f"raw_{agency}"
        _run(conn, "create schema if not exists {s}", s=schema)
        _run(conn, "grant usage on schema {s} to {r}", s=schema, r=role)
        _run(conn, "grant select on all tables in schema {s} to {r}", s=schema, r=role)
        _run(
            conn,
            "alter default privileges for role {p} in schema {s} grant select on tables to {r}",
            p=pipeline,
            s=schema,
            r=role,
        )
    # anything else on any schema (create, or usage granted by hand) is taken back
    wanted = {(r, MARTS, "USAGE") for r in readers}
    wanted |= {(agency_role(ds.agency), ds.raw_schema, "USAGE") for ds in cat.datasets.values()}
    held = conn.execute(
        "select r.rolname, n.nspname, a.privilege_type from pg_namespace n"
        " cross join lateral aclexplode(n.nspacl) a join pg_roles r on r.oid = a.grantee"
        " where r.rolname = any(%s)",
        [managed_roles(cat)],
    ).fetchall()
    for role, schema, privilege in held:
        if (role, schema, privilege) not in wanted:
            conn.execute(
                sql.SQL("revoke {} on schema {} from {}").format(
                    sql.SQL(privilege), sql.Identifier(schema), sql.Identifier(role)
                )
            )


def _tables(conn: psycopg.Connection, cat: Catalog, manifest: dict | None) -> None:
    """SELECT on the raw tables of one's agency and on the marts dbt grants; nothing else anywhere."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for ds in cat.datasets.values():
        wanted.setdefault((ds.raw_schema, ds.raw_table), set()).add(agency_role(ds.agency))
    granted = granted_relations(manifest) if manifest else {}
    for relation, roles in granted.items():
        wanted.setdefault(relation, set()).update(roles)
    managed = set(managed_roles(cat))
    existing = {
        (schema, name): {(role, privilege) for role, privilege in acl if role in managed}
        for schema, name, acl in conn.execute(
            "select n.nspname, c.relname, coalesce(array_agg(array[r.rolname, a.privilege_type])"
            "   filter (where r.rolname is not null), '{}')"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " left join lateral aclexplode(c.relacl) a on true left join pg_roles r on r.oid = a.grantee"
            " where c.relkind in ('r', 'v', 'm', 'p', 'f')"
            "   and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'"
            " group by n.nspname, c.relname"
        )
    }
    if manifest is None:  # without dbt's grants, leave the privileges of dbt's tables as they are
        existing = {k: v for k, v in existing.items() if k[0].startswith("raw_")}
    for relation, held in existing.items():
        should = {(role, "SELECT") for role in wanted.get(relation, ()) if role in managed}
        table = sql.Identifier(*relation)
        for role, privilege in held - should:
            conn.execute(
                sql.SQL("revoke {} on {} from {}").format(sql.SQL(privilege), table, sql.Identifier(role))
            )
        for role, _ in should - held:
            conn.execute(sql.SQL("grant select on {} to {}").format(table, sql.Identifier(role)))


# --- what it looks like --------------------------------------------------------------------------


def readable_relations(manifest: dict, cat: Catalog, role: str, through_group: bool = True) -> list[str]:
    """``schema.table`` names ``role`` may read: its agency's raw tables and the models granted to it."""
    agency = role.removeprefix("agency_") if role.startswith("agency_") else None
    mine = {role, AGENCY_GROUP} if agency and through_group else {role}
    names = [f"{ds.raw_schema}.{ds.raw_table}" for ds in cat.datasets.values() if ds.agency == agency]
    names += [".".join(m.relation) for m in model_access(manifest, cat).values() if mine & set(m.readers)]
    return sorted(names)


def access_report(s: Settings | None = None) -> str:
    """For `kho access`: each login role, how it connects, and what it may read."""
    s = s or settings()
    cat = catalog()
    manifest = load_manifest(s)
    lines = [
        f"The pipeline ({pipeline_role(s)}) owns and writes every schema; these roles only read.",
        f"Passwords: {access_dir(s)}/<role>.password",
    ]
    if manifest is None:
        lines.append("No dbt manifest yet (run `kho up`): the tables each role reads are not known.")
    else:
        shared = readable_relations(manifest, cat, AGENCY_GROUP)
        lines.append(f"Every agency ({AGENCY_GROUP}) reads {len(shared)} tables: {', '.join(shared)}")
    for role in login_roles(cat):
        agency = cat.agencies.get(role.removeprefix("agency_")) if role != OPEN_READER else None
        lines += ["", f"{role} ({agency.name_vi if agency else 'open data'})"]
        lines.append(f'  psql "{connection_url(s, role, with_password=False)}"')
        if manifest is not None:
            own = readable_relations(manifest, cat, role, through_group=False)
            lines.append(f"  {'also reads' if agency else 'reads'}: {', '.join(own) or 'nothing else'}")
    return "\n".join(lines) + "\n"
