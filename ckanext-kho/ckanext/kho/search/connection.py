"""A pysolr look-alike backed by a table in CKAN's database, and :func:`install`, which puts it in place.

``ckan.lib.search`` talks to Solr through four calls on the object ``make_connection()`` returns:
``add(docs=...)``, ``delete(q=...)``, ``commit()`` and ``search(q, fq=..., sort=..., facet.field=...)``.
:class:`PgSearchConnection` implements those four; CKAN's own code keeps building the documents
(``PackageSearchIndex.index_package``) and the queries (``PackageSearchQuery.run``, permission labels,
``package_search``), including the code paths that create ``PackageSearchQuery()`` directly.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pysolr
from ckan.lib.search.common import solr_datetime_decoder

from ckanext.kho.search import analysis, fields
from ckanext.kho.search.lucene import Node, QuerySyntaxError, parse, parse_words
from ckanext.kho.search.sql import Translation

log = logging.getLogger(__name__)

TABLE = "kho_search_index"

DDL = """
select pg_advisory_xact_lock(hashtext('kho_search_index'));
create table if not exists kho_search_index (
    index_id   text primary key,
    site_id    text not null,
    doc        jsonb not null,
    terms      jsonb not null,
    tsv        tsvector not null,
    sort_keys  jsonb not null default '{}',
    indexed_at timestamptz not null default now()
);
create index if not exists kho_search_index_terms on kho_search_index using gin (terms jsonb_path_ops);
create index if not exists kho_search_index_tsv on kho_search_index using gin (tsv);
comment on table kho_search_index is
    'Search documents CKAN would send to Solr (ckanext-kho kho_pgsearch). Rebuild: ckan search-index rebuild';
"""

UPSERT = """
insert into kho_search_index (index_id, site_id, doc, terms, tsv, sort_keys, indexed_at)
values (%s, %s, %s::jsonb, %s::jsonb, %s::tsvector, %s::jsonb, now())
on conflict (index_id) do update set
    site_id = excluded.site_id, doc = excluded.doc, terms = excluded.terms, tsv = excluded.tsv,
    sort_keys = excluded.sort_keys, indexed_at = excluded.indexed_at
"""

NOT_INDEXED = frozenset({"data_dict", "validated_data_dict"})  # stored only, as in CKAN's schema.xml
DEFAULT_ROWS = 10
DEFAULT_FACET_LIMIT = 100


@dataclass
class Results:
    """What ``pysolr.Solr.search`` returns, as far as CKAN reads it."""

    docs: list[dict[str, Any]]
    hits: int
    facets: dict[str, Any] = field(default_factory=dict)
    highlighting: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.docs)

    def __iter__(self):
        return iter(self.docs)


class PgSearchConnection:
    """The subset of ``pysolr.Solr`` that CKAN uses, answered from the ``kho_search_index`` table."""

    def __init__(self, engine, decode_dates: bool = True):
        self.engine = engine
        self.decode_dates = decode_dates
        self.url = f"postgresql table {TABLE}"  # CKAN puts ``conn.url`` in error messages
        _ensure_table(engine)

    # --- writing ---------------------------------------------------------------------------------

    def add(self, docs: list[dict[str, Any]], commit: bool = True, **_: Any) -> None:
        """Insert or replace documents (by ``index_id``, Solr's unique key). Every write is committed."""
        rows = [_index_row(doc) for doc in docs]
        if rows:
            with _as_solr_errors("index"), self.engine.begin() as conn:
                conn.exec_driver_sql(UPSERT, rows)

    def delete(
        self, id: str | list[str] | None = None, q: str | None = None, commit: bool = True, **_: Any
    ) -> None:
        """Delete by unique key(s) or by query, as ``pysolr.Solr.delete``."""
        translation = Translation()
        if q is not None:
            where = translation.where(self._parse(q), rank=False)
        elif id is not None:
            where = f"index_id = any({translation.bind([id] if isinstance(id, str) else list(id))})"
        else:
            raise ValueError("delete needs an id or a query")
        with _as_solr_errors("delete"), self.engine.begin() as conn:
            sql = f"delete from {TABLE} where {where}"  # noqa: S608 - generated SQL, values are bound
            conn.exec_driver_sql(sql, tuple(translation.params))

    def commit(self, **_: Any) -> None:
        """Nothing to do: :meth:`add` and :meth:`delete` commit as they go."""

    # --- searching -------------------------------------------------------------------------------

    def search(self, q: str | None = None, **params: Any) -> Results:
        """Run a search with Solr's parameters (``fq``, ``sort``, ``rows``, ``start``, ``fl``, ``facet.*``)."""
        translation = Translation()
        q_node = self._parse(q or "*:*", free_text=params.get("defType") in ("dismax", "edismax"))
        clauses = [translation.where(q_node)]
        for filter_query in _as_list(params.get("fq")):
            clauses.append(translation.where(self._parse(filter_query), rank=False))
        where, where_params = " and ".join(clauses), translation.params
        rank_sql, rank_params = translation.rank_expression()
        order_sql, order_params = _order_by(params.get("sort"), rank_sql, rank_params)
        rows = _int(params.get("rows"), DEFAULT_ROWS)
        start = _int(params.get("start"), 0)

        with _as_solr_errors("search"), self.engine.connect() as conn:
            count_sql = f"select count(*) from {TABLE} where {where}"  # noqa: S608 - generated, values bound
            hits = conn.exec_driver_sql(count_sql, tuple(where_params)).scalar()
            docs: list[dict[str, Any]] = []
            if rows > 0 and hits:
                page_sql = (
                    f"select doc, {rank_sql} from {TABLE} where {where} "  # noqa: S608 - generated, values bound
                    f"order by {order_sql} limit %s offset %s"
                )
                page_params = rank_params + where_params + order_params + [rows, start]
                result = conn.exec_driver_sql(page_sql, tuple(page_params))
                docs = [_project(doc, score, params.get("fl")) for doc, score in result]
            facets = {}
            if str(params.get("facet", "false")).lower() == "true":
                facets = {"facet_fields": _facets(conn, where, where_params, params)}

        if self.decode_dates:  # as pysolr does: ISO date strings become datetimes
            docs = [solr_datetime_decoder(doc) for doc in docs]
        return Results(docs=docs, hits=hits, facets=facets)

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _parse(query: str, free_text: bool = False) -> Node:
        try:
            return parse(query)
        except QuerySyntaxError as exc:
            if free_text:  # what a person typed in the search box: search its words
                return parse_words(query)
            raise pysolr.SolrError(f"org.apache.solr.search.SyntaxError: {exc}") from exc


@contextmanager
def _as_solr_errors(what: str):
    """Re-raise database errors as ``pysolr.SolrError``, which CKAN turns into its search errors."""
    try:
        yield
    except pysolr.SolrError:
        raise
    except Exception as exc:
        log.exception("kho_pgsearch: %s failed", what)
        raise pysolr.SolrError(f"PostgreSQL search {what} failed: {exc}") from exc


# --- indexing -------------------------------------------------------------------------------------


def _values(value: Any) -> list[str]:
    """A document value as the list of strings Solr would index (lists flattened, booleans lower-case)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [v for item in value for v in _values(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, datetime):
        return [value.isoformat()]
    if isinstance(value, dict):
        return []  # Solr would refuse a nested object; CKAN never indexes one
    return [str(value)]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _index_row(doc: dict[str, Any]) -> tuple[str, ...]:
    terms: dict[str, list[str]] = {}
    free_text: list[tuple[str, str]] = []
    for name, value in doc.items():
        values = _values(value)
        if not values or name in NOT_INDEXED:
            continue
        if fields.is_text(name):
            terms[name] = _unique(
                [lx for v in values for w in analysis.words(v) for lx in analysis.index_lexemes(w)]
            )
        elif fields.is_date(name):
            terms[name] = _unique([fields.normalise_date(v) for v in values])
        else:
            terms[name] = _unique(values)
        weight = fields.free_text_weight(name)
        if weight:
            free_text.extend((v, weight) for v in values)
    sort_keys = {
        name: analysis.sort_key(str(doc[name])) for name in fields.TITLE_SORT_FIELDS if doc.get(name)
    }
    return (
        str(doc["index_id"]),
        str(doc.get("site_id", "")),
        _json(doc),
        _json(terms),
        analysis.tsvector_literal(free_text),
        _json(sort_keys),
    )


def _json(value: Any) -> str:
    def default(obj: Any) -> str:
        return obj.isoformat() if isinstance(obj, (date, datetime)) else str(obj)

    # PostgreSQL's jsonb refuses NUL characters
    return json.dumps(value, ensure_ascii=False, default=default).replace("\\u0000", "")


_table_ready: set[tuple[int, int]] = set()
_table_lock = threading.Lock()


def _ensure_table(engine) -> None:
    key = (os.getpid(), id(engine))
    if key in _table_ready:
        return
    with _table_lock, engine.begin() as conn:
        conn.exec_driver_sql(DDL)
        _table_ready.add(key)


# --- searching ------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value if v and str(v).strip()]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _order_by(sort: str | None, rank_sql: str, rank_params: list[object]) -> tuple[str, list[object]]:
    """ORDER BY for a Solr ``sort`` ("score desc, metadata_modified desc"); missing values sort last."""
    parts: list[str] = []
    params: list[object] = []
    for item in (sort or "score desc").split(","):
        if not item.strip():
            continue
        pieces = item.split()
        if len(pieces) != 2 or pieces[1].lower() not in ("asc", "desc"):
            raise pysolr.SolrError(
                f"Can't determine a Sort Order (asc or desc) in sort spec '{item.strip()}'"
            )
        name, direction = pieces[0], pieces[1].lower()
        if name == "score":
            parts.append(f"{rank_sql} {direction}")
            params += rank_params
        elif name in fields.TITLE_SORT_FIELDS:
            parts.append(f"sort_keys ->> %s {direction} nulls last")
            params.append(name)
        elif fields.is_date(name):
            parts.append(f"terms -> %s ->> 0 {direction} nulls last")
            params.append(name)
        else:
            parts.append(f"doc -> %s {direction} nulls last")
            params.append(name)
    parts.append("index_id")
    return ", ".join(parts), params


def _project(doc: dict[str, Any], score: float, fl: str | None) -> dict[str, Any]:
    """The fields of ``doc`` that ``fl`` asks for (all when absent or ``*``), plus ``score`` if asked."""
    wanted = [f for f in (fl or "*").replace(",", " ").split() if f]
    if "*" in wanted:
        out = dict(doc)
    else:
        out = {name: doc[name] for name in wanted if name in doc}
    if "score" in wanted:
        out["score"] = float(score)
    return out


def _facets(conn, where: str, where_params: list[object], params: dict[str, Any]) -> dict[str, list[Any]]:
    """Facet counts as Solr returns them: ``{field: [value, count, value, count, ...]}``, most frequent first."""
    names = _as_list(params.get("facet.field"))
    if not names:
        return {}
    limit = _int(params.get("facet.limit"), DEFAULT_FACET_LIMIT)
    mincount = _int(params.get("facet.mincount"), 0)
    facet_sql = f"""
        select f.name, v.value, count(*) as n
        from {TABLE}
        cross join unnest(%s::text[]) as f(name)
        cross join lateral jsonb_array_elements_text(coalesce(terms -> f.name, '[]'::jsonb)) as v(value)
        where {where}
        group by f.name, v.value
        having count(*) >= %s
        order by f.name, n desc, v.value collate "C"
    """  # noqa: S608 - generated SQL, values are bound
    result = conn.exec_driver_sql(facet_sql, tuple([names] + where_params + [max(mincount, 1)]))
    facets: dict[str, list[Any]] = {name: [] for name in names}
    for name, value, count in result:
        if limit < 0 or len(facets[name]) < 2 * limit:
            facets[name] += [value, count]
    return facets


# --- installation ---------------------------------------------------------------------------------


def make_connection(decode_dates: bool = True) -> PgSearchConnection:
    """Stands in for ``ckan.lib.search.common.make_connection``."""
    from ckan import model

    return PgSearchConnection(model.ensure_engine(), decode_dates=decode_dates)


def check_schema_version(schema_file: str | None = None) -> bool:
    """Stands in for ``check_solr_schema_version``: the table is created on first use, no Solr to ask."""
    return True


def install() -> None:
    """Point ``ckan.lib.search`` at PostgreSQL. Idempotent; called when the plugin configures CKAN.

    ``make_connection`` is imported by name into three modules, so each gets the stand-in.
    """
    import ckan.lib.search as search
    from ckan.lib.search import common, index, query

    for module in (search, common, index, query):
        module.make_connection = make_connection
    search.check_solr_schema_version = check_schema_version
    log.info("kho_pgsearch: search served by PostgreSQL table %s (no Solr)", TABLE)
