"""How well the commune names agencies deliver match the official lists (``kho match-report``).

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from kho.catalog import CatalogError, Dataset, catalog
from kho.errors import KhoError
from kho.landing.names import match_key
from kho.settings import Settings, settings

MATCH = "commune"
# The catalog columns the report covers: commune names, and addresses (read for their commune).
MATCHES = ("commune", "address")
SCHEMA = "intermediate"
STATUSES = ("matched", "ambiguous", "split", "unknown", "out_of_scope")
# kho.landing.land's reason for a row whose name is known nowhere: "unknown commune name 'X'; nearest known: ..."
# or, for an address, "unknown commune in address 'X' of province 96; candidates (one edit): ..."
UNKNOWN_REASON = re.compile(
    r"^unknown commune (?:name|in address) (?P<name>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
)


@dataclass
class UnmatchedName:
    """A delivered name that did not resolve to one commune, with what would help fix it."""

    name: str
    status: str  # ambiguous, split, unknown (landed, not in the province) or quarantined
    rows: int
    hint: str | None = None  # the communes sharing the key, or landing's nearest known names


@dataclass
class ColumnMatch:
    """The match counts of one dataset's commune-name column; rows add up to ``delivered_rows``."""

    dataset: str
    column: str
    delivered_rows: int = 0
    delivered_names: int = 0
    matched: int = 0
    ambiguous: int = 0
    split: int = 0
    out_of_scope: int = 0  # addresses whose written province lies outside the dataset's scope
    unknown_landed: int = 0
    unknown_quarantined: int = 0
    unmatched_names: list[UnmatchedName] = field(default_factory=list)

    @property
    def unknown(self) -> int:
        return self.unknown_landed + self.unknown_quarantined

    @property
    def match_rate(self) -> float | None:
        """Rows matched to one commune, in % of the rows delivered (none when nothing was delivered)."""
        return round(100 * self.matched / self.delivered_rows, 1) if self.delivered_rows else None

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "column": self.column,
            "delivered_rows": self.delivered_rows,
            "delivered_names": self.delivered_names,
            "matched": self.matched,
            "ambiguous": self.ambiguous,
            "split": self.split,
            "out_of_scope": self.out_of_scope,
            "unknown": self.unknown,
            "unknown_landed": self.unknown_landed,
            "unknown_quarantined": self.unknown_quarantined,
            "match_rate_pct": self.match_rate,
            "unmatched_names": [vars(n) for n in self.unmatched_names],
        }


def matched_columns(dataset_id: str | None = None) -> list[tuple[Dataset, str]]:
    """(dataset, column) for every catalog column of commune names or addresses, or only ``dataset_id``'s."""
    cat = catalog()
    datasets = [cat.dataset(dataset_id)] if dataset_id else sorted(cat.datasets.values(), key=lambda d: d.id)
    columns = [(ds, col.name) for ds in datasets for col in ds.columns if col.match in MATCHES]
    if dataset_id and not columns:
        raise CatalogError(f"{dataset_id}: no column of the catalog entry has 'match: {MATCH}'")
    return columns


def names_model(ds: Dataset) -> str:
    """The dbt model holding the dataset's delivered commune names and how each resolved."""
    return f"int_{ds.id}__commune_names"


def match_report(dataset_id: str | None = None, s: Settings | None = None) -> list[ColumnMatch]:
    """The match counts of every commune-name column (of ``dataset_id`` only, if given)."""
    s = s or settings()
    columns = matched_columns(dataset_id)
    with psycopg.connect(s.warehouse_url) as conn:
        return [_column_match(conn, ds, column) for ds, column in columns]


def _column_match(conn: psycopg.Connection, ds: Dataset, column: str) -> ColumnMatch:
    model = sql.Identifier(SCHEMA, names_model(ds))
    exists = conn.execute("select to_regclass(%s)", [f"{SCHEMA}.{names_model(ds)}"]).fetchone()[0]
    if exists is None:
        raise KhoError(
            f"{ds.id}: the warehouse has no {SCHEMA}.{names_model(ds)} yet: run the pipeline "
            f"(kho run {ds.id}), or add the model if the dataset is new (see int_dti_scores__commune_names.sql)"
        )
    report = ColumnMatch(ds.id, column)
    keys: set[str] = set()
    landed = conn.execute(
        sql.SQL(
            "select name_delivered, name_key, match_status, max(match_candidates), sum(delivered_rows)::integer"
            " from {} where column_name = %s group by 1, 2, 3 order by 1, 3"
        ).format(model),
        [column],
    ).fetchall()
    for name, key, status, candidates, rows in landed:
        keys.add(key or name)
        report.delivered_rows += rows
        if status == "unknown":
            report.unknown_landed += rows
        else:
            setattr(report, status, getattr(report, status) + rows)
        if status != "matched":
            report.unmatched_names.append(UnmatchedName(name, status, rows, candidates))
    quarantined = conn.execute(
        sql.SQL(
            "select reason, count(*)::integer from kho_meta.quarantine"
            " where dataset = %s and column_name = %s and reason like %s"
            " and load_id in (select load_id from {}) group by reason order by reason"
        ).format(model),
        [ds.id, column, f"unknown {MATCH} %"],
    ).fetchall()
    for reason, rows in quarantined:
        name, hint = _delivered_name(reason)
        keys.add(match_key(name))
        report.delivered_rows += rows
        report.unknown_quarantined += rows
        report.unmatched_names.append(UnmatchedName(name, "quarantined", rows, hint))
    report.delivered_names = len(keys)
    return report


def _delivered_name(reason: str) -> tuple[str, str | None]:
    """The name and the nearest known names in landing's quarantine reason."""
    found = UNKNOWN_REASON.match(reason)
    if found is None:
        return reason, None
    rest = reason[found.end() :].removeprefix("; nearest known: ")
    return ast.literal_eval(found["name"]), rest or None
