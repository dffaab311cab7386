"""A cross-row rule's query runs once per validation, not twice.

GX's ``unexpected_rows_expectation`` (Kho's rules across rows and tables: a commune's figures copied onto
another's, a price against last month's) asks for two metrics of the same query: its first rows
(``unexpected_rows_query.table``, at most ``MAX_RESULT_RECORDS``) and their number
(``unexpected_rows_query.row_count``, a ``COUNT(*)`` around the query). PostgreSQL then runs the query twice,
a whole join each time: half of GX's time on a million-row mart (bench 8). Here both come from one
statement, the query's first rows with ``count(*) over ()`` beside them, and GX's two metrics are read from
it.

Importing this module replaces GX's providers of the two metrics (GX's registry keeps the last one
registered); their names, arguments and values stay GX's.
"""

from __future__ import annotations

import logging
from typing import Any

from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider
from great_expectations.expectations.metrics.query_metrics.query_row_count.unexpected_rows_query_row_count import (
    UnexpectedRowsQueryRowCount,
)
from great_expectations.expectations.metrics.query_metrics.query_table.unexpected_rows_query_table import (
    UnexpectedRowsQueryTable,
)
from great_expectations.validator.metric_configuration import MetricConfiguration

BOTH = "kho.unexpected_rows_query.rows_and_count"
TOTAL = "kho_rows_in_all"  # the window count's column, taken off the rows


class _Replacing(logging.Filter):
    """GX warns when a metric's provider is replaced; here that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "overwriting metric_provider" not in record.getMessage()


class _FromBoth:
    """A metric read from :data:`BOTH`, computed for the same query and batch."""

    @classmethod
    def _get_evaluation_dependencies(
        cls,
        metric: MetricConfiguration,
        configuration=None,
        execution_engine=None,
        runtime_configuration=None,
    ) -> dict[str, MetricConfiguration]:
        return {BOTH: MetricConfiguration(BOTH, metric.metric_domain_kwargs, metric.metric_value_kwargs)}


def _read(part: str):
    """GX's metric function (its signature) giving one part of :data:`BOTH`'s value."""

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> Any:
        return metrics[BOTH][part]

    return _sqlalchemy


_registry_log = logging.getLogger("great_expectations.expectations.registry")
_quiet = _Replacing()
_registry_log.addFilter(_quiet)
try:

    class RowsAndCount(QueryMetricProvider):
        """The query's first rows and how many it has in all, from one statement."""

        metric_name = BOTH
        value_keys = ("unexpected_rows_query",)
        query_param_name = "unexpected_rows_query"

        @metric_value(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy(
            cls,
            execution_engine: SqlAlchemyExecutionEngine,
            metric_domain_kwargs: dict,
            metric_value_kwargs: dict,
            metrics: dict[str, Any],
            runtime_configuration: dict,
        ) -> dict[str, Any]:
            batch_selectable, _, _ = execution_engine.get_compute_domain(
                metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE
            )
            query = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
                query=cls._get_query_from_metric_value_kwargs(metric_value_kwargs),
                batch_selectable=batch_selectable,
                execution_engine=execution_engine,
            )
            # the query is the suite's own (expectations/), composed by GX as its own provider does
            statement = (
                f"SELECT rows_of_rule.*, count(*) over () AS {TOTAL} "  # noqa: S608
                f"FROM ({query}) AS rows_of_rule LIMIT {MAX_RESULT_RECORDS}"
            )
            rows = [row._asdict() for row in execution_engine.execute_query(sa.text(statement)).fetchall()]
            count = rows[0][TOTAL] if rows else 0
            for row in rows:
                del row[TOTAL]
            return {"rows": rows, "count": int(count)}

    class RowsFromBoth(_FromBoth, UnexpectedRowsQueryTable):
        """``unexpected_rows_query.table``: the first rows, as GX's own provider fetches them."""

        _sqlalchemy = _read("rows")

    class CountFromBoth(_FromBoth, UnexpectedRowsQueryRowCount):
        """``unexpected_rows_query.row_count``: how many rows the query has in all."""

        _sqlalchemy = _read("count")
finally:
    _registry_log.removeFilter(_quiet)
