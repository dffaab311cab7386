"""The ``kho_meta`` schema: the platform's own bookkeeping in the warehouse.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import hashlib

import psycopg

DDL = """
create schema if not exists kho_meta;

create table if not exists kho_meta.loads (
    load_id          text primary key,
    dataset          text not null,
    source_file      text not null,
    file_sha256      text not null,
    archived_path    text,
    status           text not null
        constraint loads_status_check check (status in ('landed', 'skipped', 'refused', 'superseded')),
    rows_delivered   integer not null default 0,
    rows_landed      integer not null default 0,
    rows_quarantined integer not null default 0,
    error            text,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz
);
create unique index if not exists loads_one_landing_per_file
    on kho_meta.loads (dataset, file_sha256) where status = 'landed';
-- `kho land --replace`: the load that took a superseded load's place (its raw rows went with it).
alter table kho_meta.loads add column if not exists superseded_by text;
-- Warehouses made before 'superseded' existed: widen the status check once (a check on every call would
-- re-validate the table under an exclusive lock).
do $$
begin
    if not exists (
        select from pg_constraint
        where conrelid = 'kho_meta.loads'::regclass and conname = 'loads_status_check'
            and pg_get_constraintdef(oid) like '%superseded%'
    ) then
        alter table kho_meta.loads drop constraint if exists loads_status_check;
        alter table kho_meta.loads add constraint loads_status_check
            check (status in ('landed', 'skipped', 'refused', 'superseded'));
    end if;
end $$;

create table if not exists kho_meta.quarantine (
    id             bigserial primary key,
    dataset        text not null,
    load_id        text not null,
    source_file    text not null,
    source_row     integer,
    column_name    text,
    reason         text not null,
    raw_values     jsonb not null,
    quarantined_at timestamptz not null default now()
);
create index if not exists quarantine_by_load on kho_meta.quarantine (dataset, load_id);

-- A refused delivery's bad rows (the first 1,000), so that every reason it was refused for can be read,
-- not only the first one its error names; nothing of the file is in raw or kho_meta.quarantine.
create table if not exists kho_meta.refusal_reasons (
    id           bigserial primary key,
    dataset      text not null,
    load_id      text not null,
    source_file  text not null,
    source_row   integer,
    column_name  text,
    reason       text not null,
    raw_values   jsonb not null,
    refused_at   timestamptz not null default now()
);
create index if not exists refusal_reasons_by_load on kho_meta.refusal_reasons (dataset, load_id);

create table if not exists kho_meta.quality_runs (
    run_id      text primary key,
    dataset     text not null,
    layer       text not null check (layer in ('raw', 'mart')),
    load_id     text,
    success     boolean not null,
    critical_failures jsonb not null default '[]',
    warnings    jsonb not null default '[]',
    statistics  jsonb not null default '{}',
    run_at      timestamptz not null default now()
);
create index if not exists quality_runs_latest on kho_meta.quality_runs (dataset, layer, run_at desc);

create table if not exists kho_meta.publications (
    id           bigserial primary key,
    dataset      text not null,
    status       text not null check (status in ('published', 'unchanged', 'blocked', 'withdrawn', 'failed')),
    ckan_url     text,
    content_hash text,
    rows         integer,
    write_calls  integer not null default 0,
    detail       text,
    published_at timestamptz not null default now()
);

-- A review of a steward dataset's new deliveries (catalog `publish.approval: steward`,
-- kho/validating/approval.py): the deliveries it covered, their findings, the decision, who gave it, when.
create table if not exists kho_meta.approvals (
    id             bigserial primary key,
    dataset        text not null,
    decision       text not null check (decision in ('approved', 'rejected', 'not needed')),
    load_ids       text[] not null default '{}',
    findings       jsonb not null default '[]',
    revisions      jsonb,
    responded_by   text,
    responded_at   timestamptz not null default now(),
    airflow_run_id text,
    recorded_at    timestamptz not null default now()
);
create index if not exists approvals_by_dataset on kho_meta.approvals (dataset, responded_at desc);

-- One row per dataset per `kho purge` (not dry runs): what left the archive and the quarantine, and why.
create table if not exists kho_meta.purges (
    id              bigserial primary key,
    dataset         text not null,
    retention_days  integer not null,
    cutoff          timestamptz not null,
    archived_files  integer not null,
    archived_bytes  bigint not null,
    quarantine_rows integer not null,
    files           jsonb not null default '[]',
    purged_at       timestamptz not null default now()
);

create table if not exists kho_meta.incremental_models (
    model       text primary key,
    relation    text not null,
    fingerprint text not null,
    recorded_at timestamptz not null default now()
);
"""


DDL_VERSION = hashlib.sha256(DDL.encode()).hexdigest()[:16]


def ensure_meta_schema(conn: psycopg.Connection) -> None:
    """Create or bring up to date the bookkeeping tables, once per version of ``DDL``: the schema's comment
    records the version applied, so the everyday call takes no lock (an ``alter table`` on every landing and
    validation deadlocked concurrent tasks)."""
    found = conn.execute(
        "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'kho_meta'"
    ).fetchone()
    if found and found[0] == f"kho_meta {DDL_VERSION}":
        return
    conn.execute("select pg_advisory_xact_lock(hashtext('kho.meta.ddl'))")
    conn.execute(DDL)
    conn.execute(f"comment on schema kho_meta is 'kho_meta {DDL_VERSION}'")
