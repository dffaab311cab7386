"""May this data go out? Great Expectations checks on raw loads and on marts.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import yaml

from kho.errors import KhoError
from kho.settings import REPO, Settings, settings
from kho.validating.data_docs import serve_assets_locally

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext

EXPECTATIONS_DIR = REPO / "expectations"
Layer = Literal["raw", "mart"]
LAYERS: tuple[Layer, ...] = ("raw", "mart")
Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")

MART_SCHEMA = "marts"
LOAD_COLUMN = "_load_id"
DATASOURCE = "kho_warehouse"
# The Data Source's connection string names this variable, which GX substitutes at run time, so that a
# password in the warehouse URL is never written into the GX project files.
URL_VARIABLE = "KHO_GX_WAREHOUSE_URL"
DATA_DOCS_SITE = "local_site"
# Unexpected values quoted per failed expectation ("e.g. 14.2"); fetched after the run, for failures only,
# and never for an expectation on a column the catalog flags as personal data (counts only).
SAMPLE_SIZE = 5
PERSONAL_NOTE = "values not shown: personal data"
# libpq options of GX's sessions. Validation aggregates and joins whole tables (a key's uniqueness joins the
# table with its grouped keys), which PostgreSQL's default 4 MB of work memory sends to disk: 64 MB halves
# that join on a 1M-row mart (bench 8). GX runs its queries one at a time, in one session.
SESSION_OPTIONS = "-c work_mem=64MB"
# GX's one expectation whose name does not start with ``expect_``: rows selected by SQL from ``{batch}``, for
# rules across rows or tables (a price against last month's, a delivery against the previous one).
ROWS_EXPECTATION = "unexpected_rows_expectation"
# GX puts ``{batch}`` into such a query as ``(<rows>)`` when the query has a join, else as ``(<rows>) AS subselect``:
# an alias of its own (``{batch} as c``) is then a second alias, a syntax error found only when the rule runs.
_ALIASED_BATCH = re.compile(r"\{batch\}\s+as\s", re.IGNORECASE)
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
# How many of a delivery's largest revisions the run summary and `kho status` quote.
REVISIONS_QUOTED = 5


class QualityError(KhoError):
    """A suite file is unusable or the data to validate cannot be reached."""


# --- suite files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteEntry:
    """One expectation as written in a suite file."""

    expectation: str
    kwargs: dict[str, Any]
    severity: Severity
    why: str
    source: str | None = None


def suite_path(dataset_id: str, layer: Layer) -> Path:
    return EXPECTATIONS_DIR / dataset_id / f"{layer}.yml"


def suite_files() -> list[Path]:
    """Every suite file in the repository."""
    return sorted(p for p in EXPECTATIONS_DIR.glob("*/*.yml") if p.stem in LAYERS)


def read_suite_file(path: Path) -> list[SuiteEntry]:
    """Parse a suite file and check its shape; raise :class:`QualityError` naming the entry at fault.

    Whether the expectation types and their arguments are valid is checked by :func:`build_suite`,
    which hands them to Great Expectations.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QualityError(f"{path}: no such suite file") from None
    except yaml.YAMLError as exc:
        raise QualityError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise QualityError(f"{path}: expected a mapping with a list under 'expectations'")
    entries = []
    for i, raw in enumerate(data["expectations"]):
        where = f"{path}: expectations[{i}]"
        if not isinstance(raw, dict):
            raise QualityError(f"{where}: expected a mapping, found {type(raw).__name__}")
        unknown = set(raw) - {"expectation", "kwargs", "severity", "why", "source"}
        if unknown:
            raise QualityError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        name, kwargs = raw.get("expectation"), raw.get("kwargs", {})
        if not isinstance(name, str) or not (name.startswith("expect_") or name == ROWS_EXPECTATION):
            raise QualityError(f"{where}: 'expectation' must be a GX expectation type, found {name!r}")
        if not isinstance(kwargs, dict):
            raise QualityError(f"{where} ({name}): 'kwargs' must be a mapping")
        if raw.get("severity") not in SEVERITIES:
            raise QualityError(
                f"{where} ({name}): 'severity' must be one of {SEVERITIES}, found {raw.get('severity')!r}"
            )
        why = raw.get("why")
        if not isinstance(why, str) or not why.strip():
            raise QualityError(f"{where} ({name}): 'why' must say in a line why this is checked")
        source = raw.get("source")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            raise QualityError(f"{where} ({name}): 'source' must name where the rule's figures come from")
        query = str(kwargs.get("unexpected_rows_query", ""))
        if name == ROWS_EXPECTATION and "{batch}" not in query:
            raise QualityError(f"{where} ({name}): 'unexpected_rows_query' must select from {{batch}}")
        if name == ROWS_EXPECTATION and _ALIASED_BATCH.search(query) and not _JOIN.search(query):
            raise QualityError(
                f"{where} ({name}): '{{batch}} as <alias>' works only in a query with a join (without one GX"
                " puts {batch} in as '(...) AS subselect'): drop the alias, or write the second look as a join"
            )
        entries.append(SuiteEntry(name, kwargs, raw["severity"], why.strip(), source and source.strip()))
    if not entries:
        raise QualityError(f"{path}: the suite lists no expectations")
    rule = revision_rule(path, data)
    if rule is not None:
        entries.append(rule.suite_entry(path.parent.name))
    return entries


def expectation_class(name: str) -> type:
    """The GX class for an expectation type, e.g. ``expect_column_values_to_not_be_null``."""
    import great_expectations.expectations as gxe

    class_name = "".join(part.capitalize() for part in name.split("_"))
    cls = getattr(gxe, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, gxe.Expectation)):
        raise QualityError(f"'{name}' is not a Great Expectations expectation type")
    return cls


def build_suite(dataset_id: str, layer: Layer, path: Path | None = None):
    """The GX ExpectationSuite for a suite file; every entry is validated by its GX class."""
    import great_expectations as gx

    path = path or suite_path(dataset_id, layer)
    expectations = []
    for i, entry in enumerate(read_suite_file(path)):
        cls = expectation_class(entry.expectation)
        try:
            expectations.append(
                cls(
                    **entry.kwargs,
                    severity=entry.severity,
                    meta={"why": entry.why, **({"source": entry.source} if entry.source else {})},
                    notes=entry.why + (f" Source: {entry.source}" if entry.source else ""),
                )
            )
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise QualityError(
                f"{path}: expectations[{i}] ({entry.expectation}): invalid kwargs: {exc}"
            ) from None
    return gx.ExpectationSuite(name=f"{dataset_id}.{layer}", expectations=expectations)


def run_parameters(today: dt.date | None = None) -> dict[str, Any]:
    """Values for ``{$PARAMETER: name}`` in suite files, fixed at run time."""
    today = today or dt.date.today()
    return {"max_year": today.year + 1}


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One expectation that did not hold."""

    expectation: str
    column: str | None
    kwargs: str
    observed: str
    why: str
    severity: Severity
    unexpected_count: int | None = None
    element_count: int | None = None
    personal_data: bool = False  # on a column flagged as personal data: counts only, never a value

    @property
    def summary(self) -> str:
        """``expect_column_values_to_not_be_null(province_code): 3 unexpected of 1,240 rows``"""
        target = "; ".join(part for part in (self.column, self.kwargs) if part)
        return f"{self.expectation}({target}): {self.observed}"

    def __str__(self) -> str:
        return self.summary

    def as_dict(self) -> dict[str, Any]:
        """As stored in ``kho_meta.quality_runs``: the fields plus the one-line summary."""
        return {**asdict(self), "summary": self.summary}


@dataclass(frozen=True)
class QualityResult:
    run_id: str
    dataset: str
    layer: Layer
    load_id: str | None
    success: bool
    critical_failures: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)


def format_result(result: QualityResult) -> str:
    """A human summary: one line per failed expectation, or one line saying all passed."""
    where = f"{result.dataset}/{result.layer}" + (f" load {result.load_id}" if result.load_id else "")
    findings = result.critical_failures + result.warnings
    if not findings:
        n = result.statistics.get("evaluated_expectations", 0)
        return f"{where} OK: all {n} expectations passed"
    return "\n".join(f"{where} {f.severity.upper()} {f.summary}" for f in findings)


def _short(value: Any) -> str:
    """A value as a person would write it: 0.5 not 0.5000, strings and lists without Python quoting."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float | Decimal):
        return str(int(value)) if float(value).is_integer() else f"{float(value):.6g}"
    if isinstance(value, dict):
        return "(" + ", ".join(_short(v) for v in value.values()) + ")"
    if isinstance(value, list | tuple):
        items = [_short(v) for v in value[:6]] + (["..."] if len(value) > 6 else [])
        inner = ", ".join(items)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    return str(value)


def _describe_condition(condition: Any) -> str:
    """``crop == paddy`` rather than GX's serialised condition."""
    from great_expectations.expectations.row_conditions import deserialize_row_condition

    try:
        return repr(deserialize_row_condition(condition))
    except (TypeError, ValueError):
        return str(condition)


def _summarise_kwargs(kwargs: dict[str, Any]) -> tuple[str | None, str]:
    """(column(s), the remaining arguments as ``k=v``) for one expectation's configuration."""
    kwargs = {k: v for k, v in kwargs.items() if k not in {"batch_id", "result_format", "catch_exceptions"}}
    if "column" in kwargs:
        column = kwargs.pop("column")
    elif "column_list" in kwargs:
        column = ", ".join(kwargs.pop("column_list"))
    elif "column_A" in kwargs:
        column = f"{kwargs.pop('column_A')}, {kwargs.pop('column_B')}"
    elif (
        "unexpected_rows_query" in kwargs
    ):  # a cross-row rule: named by its description (_finding), not its SQL
        kwargs.pop("unexpected_rows_query")
        column = kwargs.pop("description", None)
    else:
        column = None
    condition = kwargs.pop("row_condition", None)
    kwargs.pop("condition_parser", None)
    parts = [f"{key}={_short(value)}" for key, value in kwargs.items()]
    if condition:
        parts.append(f"where {_describe_condition(condition)}")
    return column, ", ".join(parts)


def _error(exception_info: dict[str, Any] | None) -> str | None:
    """The first line of the error that stopped an expectation, if one did.

    GX reports either one exception, or one per metric that failed to compute (e.g. a missing table).
    """
    if not exception_info:
        return None
    infos = [exception_info] if "exception_message" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, dict) and (info.get("raised_exception") or info.get("exception_message")):
            lines = (info.get("exception_message") or "").strip().splitlines()
            return lines[0] if lines else "the expectation could not be evaluated"
    return None


def _observed(
    result: dict[str, Any],
    exception_info: dict[str, Any] | None,
    samples: list[Any] | None = None,
    personal: bool = False,
) -> str:
    error = _error(exception_info)
    if error:
        return f"error: {error}"
    if "unexpected_count" in result:
        text = f"{result['unexpected_count']:,} unexpected of {result.get('element_count') or 0:,} rows"
        if personal:
            return f"{text} ({PERSONAL_NOTE})"
        sample: list[str] = []
        for value in samples or result.get("partial_unexpected_list") or []:
            if _short(value) not in sample:
                sample.append(_short(value))
        if sample:
            text += f", e.g. {', '.join(sample[:3])}"
        return text
    if "observed_value" in result:
        observed = result["observed_value"]
        if personal:  # a maximum, a most common value, a set of values: all of them values
            return f"failed ({PERSONAL_NOTE})"
        return f"observed {observed:,}" if isinstance(observed, int) else f"observed {_short(observed)}"
    return "failed"


def _columns(kwargs: dict[str, Any]) -> set[str]:
    """The columns an expectation reads, as its configuration names them."""
    names = [
        kwargs.get("column"),
        kwargs.get("column_A"),
        kwargs.get("column_B"),
        *kwargs.get("column_list", []),
    ]
    return {n for n in names if isinstance(n, str)}


def personal_columns(dataset_id: str) -> frozenset[str]:
    """The dataset's columns the catalog flags as personal data (none for a dataset it does not know)."""
    from kho.catalog import CatalogError, catalog

    try:
        ds = catalog().dataset(dataset_id)
    except CatalogError:
        return frozenset()
    return frozenset(c.name for c in ds.columns if c.personal_data)


def _finding(
    expectation_result: Any, samples: list[Any] | None = None, personal: frozenset[str] = frozenset()
) -> Finding:
    config = expectation_result.expectation_config
    on_personal = bool(_columns(dict(config.kwargs)) & personal)
    column, kwargs = _summarise_kwargs(dict(config.kwargs))
    column = column or getattr(config, "description", None)  # a cross-row rule is named by its description
    result = expectation_result.result or {}
    severity = str(getattr(config.severity, "value", config.severity))
    return Finding(
        expectation=config.type,
        column=column,
        kwargs=kwargs,
        observed=_observed(
            result, expectation_result.exception_info, None if on_personal else samples, on_personal
        ),
        why=(config.meta or {}).get("why", ""),
        severity="warning" if severity == "warning" else "critical",
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        personal_data=on_personal,
    )


# --- the GX project ----------------------------------------------------------------------------


def gx_root(s: Settings | None = None) -> Path:
    """The GX project directory (``great_expectations.yml`` and its stores)."""
    return (s or settings()).home / "gx"


def data_docs_index(s: Settings | None = None) -> Path:
    """The Data Docs site's front page (built by every validation run)."""
    return gx_root(s) / "uncommitted" / "data_docs" / DATA_DOCS_SITE / "index.html"


@contextmanager
def _project_lock(root: Path) -> Iterator[None]:
    """One validation at a time per GX project: GX rewrites its config and Data Docs index files."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".kho.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _gx_context(s: Settings) -> AbstractDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import kho.validating.gx_metrics  # noqa: F401 (a cross-row rule's query runs once)

    # The warehouse URL goes to GX through the environment; see URL_VARIABLE.
    os.environ[URL_VARIABLE] = _sqlalchemy_url(s.warehouse_url)
    context = gx.get_context(mode="file", project_root_dir=str(s.home))
    quiet = {"globally": False, "metric_calculations": False}
    if context.variables.progress_bars != quiet or context.variables.analytics_enabled is not False:
        # Task logs are read by people: no progress bars, and nothing sent home.
        context.variables.progress_bars = ProgressBarsConfig(**quiet)
        context.variables.analytics_enabled = False
        context.variables.save()
    return context


def _sqlalchemy_url(url: str) -> str:
    """Settings speak libpq URLs; SQLAlchemy needs the driver named (psycopg 3). The sessions get
    :data:`SESSION_OPTIONS` unless the URL sets its own."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
            break
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "options" for key, _ in query):
        query.append(("options", SESSION_OPTIONS))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _datasource(context: AbstractDataContext):
    """The warehouse's Data Source, created on first use; its assets are kept across runs."""
    connection_string = "${" + URL_VARIABLE + "}"
    try:
        ds = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError):
        return context.data_sources.add_postgres(name=DATASOURCE, connection_string=connection_string)
    if str(ds.connection_string) != connection_string:
        ds.connection_string = connection_string
        context.data_sources.update_postgres(ds)
        ds = context.data_sources.get(DATASOURCE)
    return ds


def _asset(datasource, name: str, schema: str, table: str):
    """The table's Data Asset, replaced if the catalog now names another table.

    A table asset, not a query asset: GX reads a table's columns from the PostgreSQL catalog, but finds a
    query's columns by running the query, which would fetch every row several times per run.
    """
    if name in datasource.get_asset_names():
        asset = datasource.get_asset(name)
        if getattr(asset, "table_name", None) == table and getattr(asset, "schema_name", None) == schema:
            return asset
        datasource.delete_asset(name)
    return datasource.add_table_asset(name=name, table_name=table, schema_name=schema)


def _batch_definition(asset, name: str, by_load: bool):
    """A whole-table Batch Definition, or one partitioned on ``_load_id`` (one batch per delivery)."""
    from great_expectations.core.partitioners import PartitionerColumnValue

    try:
        return asset.get_batch_definition(name)
    except KeyError:
        pass
    if not by_load:
        return asset.add_batch_definition_whole_table(name)
    return asset.add_batch_definition(
        name, partitioner=PartitionerColumnValue(column_name=LOAD_COLUMN), validate_partitioner=False
    )


def _target(dataset_id: str, layer: Layer) -> tuple[str, str]:
    """(schema, table) of a dataset's layer, from the catalog."""
    from kho.catalog import catalog

    ds = catalog().dataset(dataset_id)
    if layer == "raw":
        return ds.raw_schema, ds.raw_table
    if ds.publish is None:
        raise QualityError(
            f"{dataset_id}: the catalog entry has no 'publish.model', so there is no mart to check"
        )
    return MART_SCHEMA, ds.publish.model


def _checkpoint(context: AbstractDataContext, dataset_id: str, layer: Layer, by_load: bool):
    """Create or update every GX object behind one dataset+layer; return its Checkpoint."""
    import great_expectations as gx

    schema, table = _target(dataset_id, layer)
    suite = context.suites.add_or_update(build_suite(dataset_id, layer))
    asset = _asset(_datasource(context), f"{dataset_id}.{layer}", schema, table)
    scope = "by_load" if by_load else "whole_table"
    batch_definition = _batch_definition(asset, scope, by_load)
    name = f"{dataset_id}.{layer}.{scope}"
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            # No Data Docs action: rendering a page costs up to a second (GX loads its templates anew
            # each time), so the pages of a DAG run's validations are rendered together afterwards
            # (:func:`build_data_docs`: once per landing task, once per warehouse run).
            actions=[],
            # Counts only, computed by SQL aggregates (GX bundles those of one table into one query). GX
            # would otherwise look for a few unexpected values of every expectation, failed or not: one
            # more query each, a whole-table scan when there are none, and for the key's uniqueness a
            # join of the table with its grouped keys (together half of GX's time on a 1M-row mart, bench 8).
            # With none asked for (LIMIT 0) PostgreSQL skips them; :func:`_samples` fetches a few for the
            # expectations that failed.
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
        )
    )


def _samples(
    context: AbstractDataContext,
    checkpoint: Any,
    suite_result: Any,
    batch_parameters: dict | None,
    personal: frozenset[str] = frozenset(),
) -> dict[str, list[Any]]:
    """Up to SAMPLE_SIZE unexpected values of each expectation that failed with unexpected rows, by the
    suite expectation's id: for those only, GX's own unexpected-values metric (the query a SUMMARY result
    runs, ``LIMIT 5``) on the same batch, with the run's parameters filled in. Counts are not recomputed:
    they stay those of the Checkpoint's run. Values of ``personal`` columns are never fetched."""
    failed = [
        r
        for r in suite_result.results
        if not r.success
        and (r.result or {}).get("unexpected_count")
        and not _columns(dict(r.expectation_config.kwargs)) & personal
    ]
    if not failed:
        return {}
    try:
        from great_expectations.validator.validator import Validator

        (definition,) = checkpoint.validation_definitions
        batch = definition.data.get_batch(batch_parameters=batch_parameters)
        engine = batch.data.execution_engine
        runtime = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}}
        wanted = {}
        for r in failed:
            expectation = r.expectation_config.to_domain_obj()
            dependencies = expectation.get_validation_dependencies(
                execution_engine=engine, runtime_configuration=runtime
            )
            name = next(
                (n for n in dependencies.get_metric_names() if n.endswith(".unexpected_values")), None
            )
            if name:
                wanted[r.expectation_config.id] = dependencies.get_metric_configuration(name)
        validator = Validator(execution_engine=engine, data_context=context, batches=[batch])
        computed, _ = validator.compute_metrics(
            list(wanted.values()), runtime_configuration={"catch_exceptions": True}
        )
    except Exception:  # the values only illustrate a finding, whose count is known: never fail on them
        return {}
    return {key: list(computed.get(metric.id) or []) for key, metric in wanted.items()}


def _keep_samples(
    context: AbstractDataContext, key: Any, suite_result: Any, samples: dict[str, list[Any]]
) -> None:
    """Store the unexpected values fetched after the run in the validation result, so that its Data Docs page
    shows them under each failed expectation ("Unexpected Value | Count"), as a steward reads a finding: the
    run itself asks for counts only (see :func:`_checkpoint`). Values of personal columns were never fetched."""
    from collections import Counter

    for r in suite_result.results:
        values = samples.get(r.expectation_config.id)
        if not values or r.result is None:
            continue
        r.result["partial_unexpected_list"] = values
        r.result["partial_unexpected_counts"] = [
            {"value": value, "count": count} for value, count in Counter(map(_hashable, values)).most_common()
        ]
    context.validation_results_store.set(key, suite_result)


def _hashable(value: Any) -> Any:
    return (
        tuple(value.items())
        if isinstance(value, dict)
        else tuple(value)
        if isinstance(value, list)
        else value
    )


# --- validate ----------------------------------------------------------------------------------


def validate(
    dataset_id: str,
    layer: Layer,
    load_id: str | None = None,
    s: Settings | None = None,
) -> QualityResult:
    """Run a dataset's raw or mart suite in the warehouse and record the result in ``kho_meta``.

    ``load_id`` restricts a raw validation to one delivery, so that a bad earlier load which was
    since superseded does not block a good new one. ``success`` is False iff a critical expectation
    failed. Raises :class:`QualityError` if the suite is unusable or the rows cannot be reached.
    """
    if layer not in LAYERS:
        raise QualityError(f"{dataset_id}: layer must be one of {LAYERS}, found {layer!r}")
    if load_id is not None and layer != "raw":
        raise QualityError(f"{dataset_id}/{layer}: only raw tables are validated per load")
    s = s or settings()
    started = time.perf_counter()
    run_at = dt.datetime.now(dt.UTC)
    run_id = f"{dataset_id}.{layer}.{run_at:%Y%m%dT%H%M%SZ}.{uuid.uuid4().hex[:8]}"
    root = gx_root(s)

    with _project_lock(root), warnings.catch_warnings():
        # GX 1.14 deprecated a table asset's schema_name in favour of one Data Source per schema; Kho keeps
        # one Data Source for its one database until GX 2.0 removes it.
        warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.exceptions.exceptions import GreatExpectationsError, NoAvailableBatchesError

        context = _gx_context(s)
        checkpoint = _checkpoint(context, dataset_id, layer, by_load=load_id is not None)
        batch_parameters = {LOAD_COLUMN: load_id} if load_id is not None else None
        parameters = run_parameters()
        try:
            outcome = checkpoint.run(
                batch_parameters=batch_parameters,
                expectation_parameters=parameters,
                run_id=RunIdentifier(run_name=run_id, run_time=run_at),
            )
        except NoAvailableBatchesError:
            schema, table = _target(dataset_id, layer)
            raise QualityError(
                f"{dataset_id}/{layer}: load '{load_id}' has no rows in {schema}.{table}"
            ) from None
        except GreatExpectationsError as exc:
            schema, table = _target(dataset_id, layer)
            raise QualityError(f"{dataset_id}/{layer}: cannot validate {schema}.{table}: {exc}") from exc
        ((result_key, suite_result),) = outcome.run_results.items()
        personal = personal_columns(dataset_id)
        samples = _samples(context, checkpoint, suite_result, batch_parameters, personal)
        if samples:
            _keep_samples(context, result_key, suite_result, samples)

    findings = [
        _finding(r, samples.get(r.expectation_config.id), personal)
        for r in suite_result.results
        if not r.success
    ]
    critical = [f for f in findings if f.severity == "critical"]
    warned = [f for f in findings if f.severity == "warning"]
    stats = suite_result.statistics
    rows = next(
        (
            r.result.get("observed_value")
            for r in suite_result.results
            if r.expectation_config.type == "expect_table_row_count_to_be_between"
        ),
        None,
    )
    result = QualityResult(
        run_id=run_id,
        dataset=dataset_id,
        layer=layer,
        load_id=load_id,
        success=not critical,
        critical_failures=critical,
        warnings=warned,
        statistics={
            "evaluated_expectations": stats["evaluated_expectations"],
            "successful_expectations": stats["successful_expectations"],
            "unsuccessful_expectations": stats["unsuccessful_expectations"],
            "rows": rows,
            "seconds": round(time.perf_counter() - started, 2),
            "gx_suite": suite_result.suite_name,
            "data_docs": str(data_docs_index(s)),
        },
    )
    if layer == "raw" and load_id is not None:
        revisions = compare_revisions(dataset_id, load_id, s)
        if revisions is not None:
            result.statistics["revisions"] = revisions
    record(result, s)
    return result


def record(result: QualityResult, s: Settings | None = None) -> None:
    """Write one ``kho_meta.quality_runs`` row for a validation."""
    import psycopg

    from kho.meta import ensure_meta_schema

    s = s or settings()

    def as_json(findings: list[Finding]) -> str:
        return json.dumps([f.as_dict() for f in findings], ensure_ascii=False, default=str)

    with psycopg.connect(s.warehouse_url) as conn:
        ensure_meta_schema(conn)
        conn.execute(
            "insert into kho_meta.quality_runs"
            " (run_id, dataset, layer, load_id, success, critical_failures, warnings, statistics)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                result.run_id,
                result.dataset,
                result.layer,
                result.load_id,
                result.success,
                as_json(result.critical_failures),
                as_json(result.warnings),
                json.dumps(result.statistics, ensure_ascii=False, default=str),
            ],
        )


def build_data_docs(run_ids: list[str] | None = None, s: Settings | None = None) -> Path:
    """Render the Data Docs pages of the validations ``run_ids`` (``QualityResult.run_id``; all the stored
    ones if None) and the site's index, with GX's site builder; the index's path."""
    s = s or settings()
    root = gx_root(s)
    with _project_lock(root):
        context = _gx_context(s)
        identifiers = None
        if run_ids is not None:
            wanted = set(run_ids)
            identifiers = [
                key
                for key in context.validation_results_store.list_keys()
                if getattr(key.run_id, "run_name", None) in wanted
            ]
            if not identifiers:  # GX would take an empty list for "every page"
                return data_docs_index(s)
        started = time.time()
        context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=identifiers)
        # GX's pages load Bootstrap, jQuery, bootstrap-table and Vega from public CDNs: served from the site
        serve_assets_locally(data_docs_index(s).parent, since=started - 1)
    return data_docs_index(s)


# --- revisions: a delivery against the previous delivery of the same figures ----------------------


@dataclass(frozen=True)
class RevisionRule:
    """A raw suite's ``revisions:`` section: which columns identify a figure, which hold its values, and the
    relative change beyond which a revision of an already delivered figure is a warning."""

    key: list[str]
    values: list[str]
    warn_above: float
    why: str
    source: str | None = None

    def suite_entry(self, dataset_id: str) -> SuiteEntry:
        """The rule as a GX expectation (a warning), so that it is judged, recorded and rendered in Data Docs
        with the rest of the suite: the delivery's figures changed by more than ``warn_above``."""
        schema, table = _target(dataset_id, "raw")
        query = (
            f"select * from ({self.sql(schema, table, 'select * from {batch}')}) as revised"  # noqa: S608
            f" where new_value is null or abs(new_value - previous_value) > {self.warn_above!r} * abs(previous_value)"
        )
        return SuiteEntry(
            ROWS_EXPECTATION,
            {
                "unexpected_rows_query": query,
                "description": f"figures revised by more than {self.warn_above:.0%} since the previous delivery",
            },
            "warning",
            self.why,
            self.source,
        )

    def sql(self, schema: str, table: str, batch: str) -> str:
        """Every figure of ``batch`` whose previous delivered value (the latest earlier load with the same key)
        was a number and differs: the key, the column, previous and new value, and the relative change."""
        keys = ", ".join(self.key)
        join = " and ".join(f"b.{k} = p.{k}" for k in self.key)
        picks = " union all ".join(
            f"select {', '.join(f'b.{k}' for k in self.key)}, '{v}' as value_column,"  # noqa: S608
            f" p.{v}::numeric as previous_value, b.{v}::numeric as new_value"
            f" from b join p on {join} where p.{v} is not null and b.{v} is distinct from p.{v}"
            for v in self.values
        )
        return (
            # Identifiers only: column names checked by revision_rule, schema and table from the catalog.
            f"with b as ({batch}),"  # noqa: S608
            f" p as (select distinct on ({keys}) {keys}, {', '.join(self.values)} from {schema}.{table}"
            f" where {LOAD_COLUMN} not in (select {LOAD_COLUMN} from b)"
            # earlier loads only, in the order staging picks the latest: load time, then load id
            f" and (_loaded_at, {LOAD_COLUMN}) < (select max(_loaded_at), max({LOAD_COLUMN}) from b)"
            f" order by {keys}, _loaded_at desc, {LOAD_COLUMN} desc),"
            f" r as ({picks})"
            f" select r.*, case when previous_value <> 0 then (new_value - previous_value) / abs(previous_value)"
            f" end as relative_change from r"
        )


def revision_rule(path: Path, data: dict[str, Any]) -> RevisionRule | None:
    """The ``revisions:`` section of a raw suite file, checked; None if it has none."""
    raw = data.get("revisions")
    if raw is None:
        return None
    where = f"{path}: revisions"
    if path.stem != "raw":
        raise QualityError(f"{where}: revisions compare deliveries, so they belong in raw.yml")
    if not isinstance(raw, dict) or set(raw) - {"key", "values", "warn_above", "why", "source"}:
        raise QualityError(f"{where}: expected a mapping of key, values, warn_above, why and source")
    key, values, threshold = raw.get("key"), raw.get("values"), raw.get("warn_above")
    for name, columns in (("key", key), ("values", values)):
        if not (
            isinstance(columns, list)
            and columns
            and all(isinstance(c, str) and c.isidentifier() for c in columns)
        ):
            raise QualityError(f"{where}: '{name}' must be a list of column names")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold:
        raise QualityError(f"{where}: 'warn_above' must be a relative change above 0 (0.05 is 5%)")
    why = raw.get("why")
    if not isinstance(why, str) or not why.strip():
        raise QualityError(f"{where}: 'why' must say in a line why this threshold")
    source = raw.get("source")
    return RevisionRule(list(key), list(values), float(threshold), why.strip(), source)


def compare_revisions(dataset_id: str, load_id: str, s: Settings | None = None) -> dict[str, Any] | None:
    """How one delivery revises figures delivered before (None if the dataset's raw suite has no
    ``revisions:`` rule): figures compared, figures revised, figures revised beyond the threshold, and the
    largest relative changes, as recorded in a raw run's statistics and shown by `kho status`."""
    import psycopg

    path = suite_path(dataset_id, "raw")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    rule = revision_rule(path, data if isinstance(data, dict) else {})
    if rule is None:
        return None
    s = s or settings()
    schema, table = _target(dataset_id, "raw")
    batch = f"select * from {schema}.{table} where {LOAD_COLUMN} = %(load)s"  # noqa: S608
    keys = ", ".join(rule.key)
    with psycopg.connect(s.warehouse_url) as conn:
        rows = conn.execute(
            f"select {keys}, value_column, previous_value, new_value, relative_change"  # noqa: S608
            f" from ({rule.sql(schema, table, batch)}) as revised"
            " order by abs(relative_change) desc nulls first",
            {"load": load_id},
        ).fetchall()
    n = len(rule.key)

    def beyond(row: tuple) -> bool:  # withdrawn, revised from 0, or changed by more than the threshold
        return row[n + 2] is None or row[n + 3] is None or abs(row[n + 3]) > rule.warn_above

    largest = [
        {
            "key": [_short(v) for v in row[:n]],  # a list: JSONB would reorder an object's keys
            "column": row[n],
            "previous": _short(row[n + 1]),
            "new": _short(row[n + 2]),
            "change": None if row[n + 3] is None else round(float(row[n + 3]), 4),
        }
        for row in rows[:REVISIONS_QUOTED]
    ]
    return {
        "key": rule.key,
        "revised": len(rows),
        "beyond_threshold": sum(1 for r in rows if beyond(r)),
        "warn_above": rule.warn_above,
        "largest": largest,
    }


def format_revisions(revisions: dict[str, Any] | None) -> str | None:
    """``12 figures revised (3 by more than 5%); largest: value (yield, maize, ha noi, 2014) 95 -> 950 (+900%)``"""
    if not revisions or not revisions.get("revised"):
        return None
    text = f"{revisions['revised']:,} figures revised ({revisions['beyond_threshold']:,} by more than {revisions['warn_above']:.0%})"
    quoted = []
    for r in revisions.get("largest", [])[:3]:
        change = (
            "withdrawn"
            if r["new"] == "None"
            else ("from 0" if r["change"] is None else f"{r['change']:+.0%}")
        )
        quoted.append(f"{r['column']} ({', '.join(r['key'])}) {r['previous']} -> {r['new']} ({change})")
    return text + ("; largest: " + "; ".join(quoted) if quoted else "")
