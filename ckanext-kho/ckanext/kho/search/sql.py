"""Translate a parsed Lucene query into a WHERE clause over the index table.

The table (see :mod:`ckanext.kho.search.connection`) keeps three views of each document:

- ``terms`` (jsonb): field -> list of strings; string fields verbatim, text fields as analysed lexemes.
  Exact matches are containment tests (``terms @> '{"tags": ["lúa"]}'``), which a GIN index serves.
- ``tsv`` (tsvector): the weighted free text; unfielded words and ``text:`` match here.
- ``doc`` (jsonb): the document as CKAN sent it, returned by searches and used for sorting.

Every value from the query travels as a bind parameter; field names too. Nothing is spliced into SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ckanext.kho.search import analysis, fields
from ckanext.kho.search.lucene import And, Exists, MatchAll, Node, Not, Or, Prefix, Range, Term, Wildcard

FREE_TEXT_FIELDS = (None, "text")


class Translation:
    """SQL for one query: ``where`` with its ``params``, and the free-text tsquery used for ranking."""

    def __init__(self) -> None:
        self.params: list[object] = []
        self.rank_queries: list[str] = []

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "%s"

    # --- node by node ----------------------------------------------------------------------------

    def where(self, node: Node, rank: bool = True) -> str:
        match node:
            case MatchAll():
                return "true"
            case And(nodes):
                return "(" + " and ".join(self.where(n, rank) for n in nodes) + ")"
            case Or(nodes):
                return "(" + " or ".join(self.where(n, rank) for n in nodes) + ")"
            case Not(inner):
                return f"not {self.where(inner, rank=False)}"
            case Term(field, value) if field in FREE_TEXT_FIELDS:
                return self._free_text(analysis.tsquery_literal(value), rank)
            case Prefix(field, value) if field in FREE_TEXT_FIELDS:
                return self._free_text(analysis.tsquery_literal(value, prefix=True), rank)
            case Wildcard(field, like) if field in FREE_TEXT_FIELDS:
                head = re.split(r"(?<!\\)[%_]", like, maxsplit=1)[0].replace("\\", "")
                return self._free_text(analysis.tsquery_literal(head, prefix=True), rank) if head else "true"
            case Term(field, value) if field.endswith(fields.NGRAM_SUFFIX):
                # autocomplete (name_ngram, title_ngram): words of the name or title, the last one a prefix
                return self._free_text(analysis.tsquery_literal(value, prefix=True, weights="A"), rank)
            case Term(field, value) if fields.is_text(field):
                lexemes = [analysis.query_lexeme(w) for w in analysis.words(value)]
                return self._contains(field, lexemes) if lexemes else "true"
            case Term(field, value):
                return self._contains(field, [value])
            case Prefix(field, value):
                return self._prefix(field, value)
            case Wildcard(field, like):
                return self._any_value(field, lambda: f"v like {self.bind(like)}")
            case Exists(field):
                return f"terms ? {self.bind(field)}"
            case Range():
                return self._range(node)
        raise TypeError(f"unsupported query node {node!r}")

    def _free_text(self, tsquery: str | None, rank: bool) -> str:
        if tsquery is None:  # only punctuation: Lucene drops such a clause
            return "true"
        if rank:
            self.rank_queries.append(tsquery)
        return f"tsv @@ {self.bind(tsquery)}::tsquery"

    def _contains(self, field: str, values: list[str]) -> str:
        return f"terms @> {self.bind(json.dumps({field: values}, ensure_ascii=False))}::jsonb"

    def _any_value(self, field: str, condition: Callable[[], str]) -> str:
        """Some value ``v`` of ``field`` satisfies ``condition`` (called after binding the field, to keep
        the parameters in the order they appear in the SQL)."""
        field_param = self.bind(field)
        return f"exists (select from jsonb_array_elements_text(terms -> {field_param}) v where {condition()})"

    def _prefix(self, field: str, value: str) -> str:
        if fields.is_text(field):
            found = analysis.words(value)
            value = analysis.fold(found[-1]) if found else ""
        return self._any_value(field, lambda: f"v like {self.bind(_escape_like(value) + '%')}")

    def _range(self, node: Range) -> str:
        bounds = [
            (node.low, ">=" if node.include_low else ">"),
            (node.high, "<=" if node.include_high else "<"),
        ]
        bounds = [(value, op) for value, op in bounds if value is not None]
        if not bounds:
            return f"terms ? {self.bind(node.field)}"
        field_param = self.bind(node.field)
        numeric = all(_NUMBER.match(value) for value, _ in bounds) and not fields.is_date(node.field)
        checks = []
        for value, op in bounds:
            if numeric:
                checks.append(
                    f"(case when v ~ '^-?[0-9]+([.][0-9]+)?$' then v::numeric end) {op} {self.bind(value)}::numeric"
                )
            else:
                bound = solr_date(value) if fields.is_date(node.field) else value
                checks.append(f"v {op} {self.bind(bound)}")
        condition = " and ".join(checks)
        return f"exists (select from jsonb_array_elements_text(terms -> {field_param}) v where {condition})"

    # --- ranking ---------------------------------------------------------------------------------

    def rank_expression(self) -> tuple[str, list[object]]:
        """``ts_rank`` over the free-text parts of the query (0 when there are none), with its params."""
        if not self.rank_queries:
            return "0::real", []
        combined = " | ".join(f"({q})" for q in self.rank_queries)
        return "ts_rank(tsv, %s::tsquery)", [combined]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_MATH = re.compile(r"^NOW((?:[+-]\d+[A-Z]+)*)(?:/([A-Z]+))?$")
_STEP = re.compile(r"([+-])(\d+)([A-Z]+)")
_UNITS = {"SECOND": "seconds", "MINUTE": "minutes", "HOUR": "hours", "DAY": "days", "WEEK": "weeks"}


def solr_date(value: str, now: datetime | None = None) -> str:
    """A Solr date bound as the ISO string stored in documents: ``NOW``, ``NOW-7DAYS``, ``NOW/DAY``, ISO dates."""
    match = _DATE_MATH.match(value.upper())
    if not match:
        return fields.normalise_date(value)
    moment = now or datetime.now(UTC)
    for sign, amount, unit in _STEP.findall(match.group(1)):
        unit = unit.rstrip("S")
        delta = int(amount) * (1 if sign == "+" else -1)
        if unit in _UNITS:
            moment += timedelta(**{_UNITS[unit]: delta})
        elif unit == "MONTH":
            month = moment.month - 1 + delta
            moment = moment.replace(
                year=moment.year + month // 12, month=month % 12 + 1, day=min(moment.day, 28)
            )
        elif unit == "YEAR":
            moment = moment.replace(year=moment.year + delta)
    rounding = (match.group(2) or "").rstrip("S")
    if rounding == "DAY":
        moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elif rounding == "HOUR":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.strftime(fields.DATE_FORMAT)
