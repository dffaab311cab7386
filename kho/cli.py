"""``kho``: the engineer's command line. A thin layer over the library; every command has a
clear exit code (0 fine, 1 refused or failed, 2 usage error) and one-line errors, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.catalog import CatalogError, catalog, load_catalog
from kho.errors import KhoError
from kho.settings import keep_private, settings

app = typer.Typer(
    help="Kho: the province's shared data warehouse.", no_args_is_help=True, add_completion=False
)
catalog_app = typer.Typer(help="The dataset catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
dataset_app = typer.Typer(help="Onboarding datasets.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


def _console(stderr: bool = False) -> Console:
    """Piped or redirected, rich would lay a table out for 80 columns and fold or cut its ids
    (`kho catalog list | grep crop_statistics` found nothing): there, a table gets the width it needs."""
    stream = sys.stderr if stderr else sys.stdout
    wide = None if stream.isatty() else 100_000
    return Console(stderr=stderr, soft_wrap=True, width=wide)


out = _console()
err = _console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def up(
    executor: str = typer.Option(
        None, "--executor", help="Airflow's executor: local (default) or celery (Redis as broker); kept"
    ),
    workers: int = typer.Option(None, "--workers", help="With celery: worker processes on this machine (2)"),
) -> None:
    """Start PostgreSQL, Redis, CKAN and Airflow (if not running) and write .kho/services.env."""
    from kho.conforming.sync import ensure_synced
    from kho.operations.stack import up as stack_up

    try:
        ensure_synced(echo=lambda m: out.print(f"[dim]{escape(m)}[/]"))  # the dbt files the catalog decides
        stack_up(echo=lambda m: out.print(f"[dim]starting {m}[/]"), executor=executor, workers=workers)
    except KhoError as exc:
        fail(str(exc))
    out.print(f"services up; addresses in {settings().services_env}")


@app.command()
def down() -> None:
    """Stop every process Kho started, and nothing else."""
    from kho.operations.stack import down as stack_down

    stopped = stack_down()
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def land(
    dataset: str,
    file: Path,
    explain: bool = typer.Option(
        False, "--explain", help="Land nothing; list every reason rows would be refused or quarantined"
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Land a file that already landed again; the new load supersedes the old"
    ),
    as_json: bool = typer.Option(False, "--json", help="With --explain: JSON, every reason group"),
) -> None:
    """Land one delivered FILE for DATASET now (outside Airflow) and report what happened."""
    from rich.progress import Progress

    from kho.errors import DeliveryError
    from kho.landing.land import explain_file, land_file

    if explain and replace:
        fail("--explain lands nothing and --replace lands again: give one of them", 2)
    try:
        catalog().dataset(dataset)
    except CatalogError as exc:
        fail(str(exc), 2)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"{'reading' if explain else 'landing'} {file.name}", total=None)
        step = lambda n: progress.update(task, completed=n)  # noqa: E731
        try:
            if explain:
                found = explain_file(dataset, file, progress=step)
            else:
                report = land_file(dataset, file, progress=step, replace=replace)
        except DeliveryError as exc:
            progress.stop()
            fail(str(exc))
    if not explain:
        out.print(report.summary(), highlight=False, markup=False)
        if report.status == "landed":
            _announce_landed(dataset, report.load_id)
        return
    if as_json:
        typer.echo(json.dumps(found.as_dict(), ensure_ascii=False, indent=2))
    else:
        for line in found.lines():
            out.print(line, highlight=False, markup=False)
    if found.error:
        raise typer.Exit(1)


def _announce_landed(dataset: str, load_id: str) -> None:
    """Tell Airflow the dataset's raw data changed, as a landing DAG's task would: the warehouse follows."""
    from kho.operations.airflow_api import Airflow, AirflowApiError

    try:
        Airflow(timeout=30).asset_event(f"kho://raw/{dataset}", extra={"load_id": load_id, "by": "kho land"})
        out.print("the warehouse will build it: Airflow was told the raw data changed", highlight=False)
    except AirflowApiError as exc:
        err.print(
            f"note: {escape(str(exc))}; the next `kho run` builds the warehouse with this delivery",
            highlight=False,
        )


# The name this command had before 0.2; kept for one release.
app.command("ingest", hidden=True, help="Old name of `kho land`.")(land)


@app.command()
def run(
    dataset: str = typer.Argument(None, help="Only this dataset (default: all)"),
    force: bool = typer.Option(False, "--force", help="Run the warehouse DAG even if nothing new landed"),
) -> None:
    """Run the pipeline as real Airflow DAG runs: the landing DAG(s), then the warehouse DAG."""
    from kho.conforming.sync import ensure_synced
    from kho.operations.runs import run_pipeline

    ids = [dataset] if dataset else sorted(catalog().datasets)
    for ds_id in ids:
        try:
            catalog().dataset(ds_id)
        except CatalogError as exc:
            fail(str(exc), 2)
    try:
        ensure_synced(echo=lambda m: out.print(m, highlight=False, markup=False))
    except KhoError as exc:
        fail(str(exc))
    ok = run_pipeline(ids, echo=lambda m: out.print(m, highlight=False, markup=False), force=force)
    if not ok:
        raise typer.Exit(1)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table")) -> None:
    """Per dataset: last delivery, rows landed and quarantined, quality, revisions, publication, freshness."""
    from dataclasses import asdict

    from kho.operations.status import dataset_status

    rows = dataset_status()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title="Kho datasets")
    columns = (
        "dataset",
        "last delivery",
        "landed",
        "quarantined",
        "quality",
        "revisions",
        "published",
        "freshness",
    )
    for col in columns:
        table.add_column(col, no_wrap=col == "dataset")
    for row in rows:
        table.add_row(
            row.dataset,
            row.last_delivery,
            str(row.rows_landed),
            str(row.rows_quarantined),
            row.quality,
            row.revisions or "",
            row.published,
            row.freshness,
        )
    out.print(table)
    from kho.operations.status import services_line

    out.print(services_line(), highlight=False, markup=False)


@app.command("match-report")
def match_report(
    dataset: str = typer.Argument(None, help="Only this dataset (default: every dataset with commune names)"),
    as_json: bool = typer.Option(
        False, "--json", help="JSON instead of a table, every unmatched name listed"
    ),
) -> None:
    """Per dataset and commune-name column: names delivered, matched, ambiguous, unknown, match rate."""
    from kho.conforming.match_report import match_report as column_matches

    try:
        reports = column_matches(dataset)
    except CatalogError as exc:
        fail(str(exc), 2)
    except KhoError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
        return
    table = Table(
        title="Commune names delivered and matched (rows; unknown: landed + quarantined)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("dataset / column", "rows", "names", "matched", "ambig.", "split", "unknown", "rate"):
        table.add_column(col, justify="left" if col.startswith("dataset") else "right", no_wrap=True)
    for r in reports:
        table.add_row(
            f"{r.dataset}\n[dim]{r.column}[/]",
            *(str(n) for n in (r.delivered_rows, r.delivered_names, r.matched, r.ambiguous, r.split)),
            f"{r.unknown_landed} + {r.unknown_quarantined}",
            "-" if r.match_rate is None else f"{r.match_rate:.1f}%",
        )
    out.print(table)
    shown = 10
    for r in reports:
        if r.unmatched_names:
            out.print(f"{r.dataset}.{r.column}: names not matched", highlight=False)
            for n in r.unmatched_names[:shown]:
                hint = f" ({n.hint})" if n.hint else ""
                out.print(f"  {n.name!r}: {n.status}, {n.rows} rows{hint}", highlight=False, markup=False)
            if len(r.unmatched_names) > shown:
                out.print(f"  ... and {len(r.unmatched_names) - shown} more (--json lists every one)")


@app.command()
def access() -> None:
    """The agencies' database roles: how each connects and which tables it may read."""
    from kho.conforming.access import access_report

    out.print(access_report(), highlight=False, markup=False)


@catalog_app.command("list")
def catalog_list(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table")) -> None:
    """List the datasets in the catalog."""
    datasets = sorted(catalog().datasets.values(), key=lambda d: (d.agency, d.id))
    if as_json:
        listing = [
            {
                "id": ds.id,
                "agency": ds.agency,
                "classification": ds.classification,
                "update_frequency": ds.update_frequency,
                "source": {"kind": ds.source.kind, "format": ds.source.format},
                "title_vi": ds.title_vi,
                "title_en": ds.title_en,
                "raw_table": f"{ds.raw_schema}.{ds.raw_table}",
                "published_model": ds.publish.model if ds.publish else None,
                "file": str(ds.path) if ds.path else None,
            }
            for ds in datasets
        ]
        typer.echo(json.dumps(listing, ensure_ascii=False, indent=2))
        return
    table = Table()
    for col in ("id", "agency", "classification", "frequency", "source", "title"):
        table.add_column(col, no_wrap=col == "id")
    for ds in datasets:
        table.add_row(
            ds.id,
            ds.agency,
            ds.classification,
            ds.update_frequency,
            f"{ds.source.kind}/{ds.source.format}",
            ds.title_vi,
        )
    out.print(table)


@catalog_app.command("validate")
def catalog_validate(
    directory: Path = typer.Argument(None, help="Catalog folder (default: ./catalog)"),
    schema_only: bool = typer.Option(
        False, "--schema-only", help="Only the catalog files against the schema (no dbt parse)"
    ),
) -> None:
    """Check every catalog file against the schema, then each dataset whole (its dbt models, its suites and
    their columns, its published model, the generated files); every problem with its file and its fix."""
    try:
        cat = load_catalog(directory)
    except CatalogError as exc:
        fail(f"the catalog has problems:\n{exc}")
    from kho.landing.readers.tabular import layout_problems

    problems = layout_problems(cat.datasets.values())
    if not schema_only and directory is None:
        from kho.conforming.checks import dataset_problems

        problems += dataset_problems(cat)
    if problems:
        fail("the catalog has problems:\n" + "\n".join(problems))
    whole = "" if schema_only or directory is not None else " (models, suites and generated files too)"
    out.print(f"catalog ok: {len(cat.datasets)} datasets, {len(cat.agencies)} agencies{whole}")


@dataset_app.command("new")
def dataset_new(
    dataset: str = typer.Argument(..., help="The new dataset's id (lower_snake_case)"),
    agency: str = typer.Option(..., "--agency", help="The owning agency's id (catalog/agencies.yml)"),
    sample: Path = typer.Option(..., "--sample", help="A sample delivery: CSV or XLSX"),
    title_vi: str = typer.Option(None, "--title-vi", help="Title in Vietnamese"),
    title_en: str = typer.Option(None, "--title-en", help="Title in English"),
    frequency: str = typer.Option("yearly", "--frequency", help="daily, weekly, monthly, quarterly, yearly"),
    key: str = typer.Option(None, "--key", help="The key column (its id or header), if not inferred"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be inferred; write nothing"),
) -> None:
    """Onboard DATASET from a sample delivery: the catalog entry, dbt models, expectations, all written."""
    from kho.conforming.scaffold import ScaffoldError, plan, write
    from kho.errors import DeliveryError

    try:
        p = plan(dataset, agency, sample, title_vi=title_vi, title_en=title_en, frequency=frequency, key=key)
    except (ScaffoldError, DeliveryError) as exc:
        fail(str(exc))
    except ValueError as exc:  # the catalog's own validation (pydantic)
        fail(f"{dataset}: {exc}".splitlines()[0])
    table = Table(title=f"{dataset}: columns read from {sample.name}", box=box.SIMPLE_HEAD)
    for col in ("header", "column", "type", "notes"):
        table.add_column(col)
    for i in p.inferred:
        table.add_row(i.header, i.column.name, i.column.type, ", ".join(i.why))
    out.print(table)
    if dry_run:
        return
    write(p, echo=lambda m: out.print(m, highlight=False, markup=False))
    ds = p.dataset
    out.print(
        f"{dataset}: classification shared (every agency reads it; nothing published). Next:\n"
        f"  1. read catalog/{ds.agency}/{ds.id}.yml (titles, key, required columns, personal data)\n"
        f"  2. kho land {ds.id} {sample}   (or drop deliveries into the inbox; `kho run {ds.id}`)\n"
        f"  3. set classification: open in its catalog entry to publish {ds.publish.model} to CKAN",
        highlight=False,
        markup=False,
    )


def main() -> None:  # pragma: no cover - console entry point
    """Every failure ends in one message and exit 1, never a traceback (KHO_DEBUG=1 shows it)."""
    import os

    import psycopg

    keep_private()  # what Kho writes holds secrets and personal data: files 600, folders 700
    try:
        app()
    except (KhoError, CatalogError) as exc:
        message = str(exc)
        if isinstance(exc, CatalogError) and "\n" in message:
            message = "the catalog has problems:\n" + message
        err.print(f"error: {message}", markup=False, highlight=False)
        sys.exit(1)
    except psycopg.Error as exc:
        if os.environ.get("KHO_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        err.print(f"error: the warehouse database: {first} (is it running? `kho up`)", markup=False)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("KHO_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        err.print(
            f"error: unexpected {type(exc).__name__}: {first} (KHO_DEBUG=1 shows where)",
            markup=False,
            highlight=False,
        )
        sys.exit(1)


# --- kho purge (personal data: retention) --------------------------------------------------------


@app.command()
def purge(
    dataset: str = typer.Argument(None, help="One dataset (default: every dataset with retention_days)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be deleted; delete nothing"),
) -> None:
    """Delete archived files and quarantined rows older than the catalog's retention_days."""
    from kho.landing.purge import purge as purge_all

    reports = purge_all(dataset, dry_run=dry_run)
    if not reports:
        out.print("no dataset in the catalog sets retention_days: nothing to purge")
    for r in reports:
        out.print(r.summary(), highlight=False, markup=False)
