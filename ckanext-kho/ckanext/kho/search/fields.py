"""What each field of a CKAN search document is, as CKAN's Solr schema (ckan/config/solr/schema.xml) declares it.

- *string* fields (the default, e.g. ``name``, ``tags``, ``organization``, ``res_format``, ``capacity``)
  match exactly and are what facets count;
- *text* fields (``title``, ``notes``, ``res_name``, ``extras_*``...) match word by word;
- *date* fields (``metadata_modified``, ``*_date``) are ISO 8601 strings and support ranges.

The free-text index (Solr's ``text`` field, fed by ``copyField``) gets the fields below with a weight,
mirroring the boosts CKAN asks for (``qf = name^4 title^4 tags^2 groups^2 text``).
"""

from __future__ import annotations

from datetime import UTC, datetime

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

TEXT_FIELDS = frozenset(
    {
        "title", "notes", "text", "urls", "author", "author_email", "maintainer", "maintainer_email",
        "res_name", "res_description", "depends_on", "dependency_of", "derives_from", "has_derivation",
        "links_to", "linked_from", "child_of", "parent_of",
    }
)  # fmt: skip
TEXT_PREFIXES = ("extras_", "res_extras_")
DATE_FIELDS = frozenset({"metadata_created", "metadata_modified", "indexed_ts"})

# Free text: which document fields feed it, with PostgreSQL weights (A is strongest).
FREE_TEXT_WEIGHTS: dict[str, str] = {
    "name": "A",
    "title": "A",
    "tags": "B",
    "groups": "B",
    "organization": "B",
    "notes": "C",
    "res_name": "C",
    "res_description": "C",
    "text": "D",
    "license": "D",
    "author": "D",
    "maintainer": "D",
    "url": "D",
    "res_url": "D",
}
FREE_TEXT_PREFIX_WEIGHTS = {"extras_": "C", "res_extras_": "C", "vocab_": "B"}

# Fields sorted by a Vietnamese-aware key rather than by raw value.
TITLE_SORT_FIELDS = frozenset({"title_string", "title", "name"})

# Solr's ``*_ngram`` fields serve CKAN's autocomplete; here they mean "some word starts with".
NGRAM_SUFFIX = "_ngram"


def is_text(field: str) -> bool:
    return field in TEXT_FIELDS or field.startswith(TEXT_PREFIXES)


def is_date(field: str) -> bool:
    return field in DATE_FIELDS or field.endswith("_date")


def free_text_weight(field: str) -> str | None:
    if field in FREE_TEXT_WEIGHTS:
        return FREE_TEXT_WEIGHTS[field]
    for prefix, weight in FREE_TEXT_PREFIX_WEIGHTS.items():
        if field.startswith(prefix):
            return weight
    return None


def normalise_date(value: str) -> str:
    """An ISO 8601 date as one fixed-width UTC string, so dates compare correctly as text.

    CKAN sends ``2025-01-02T03:04:05Z`` or ``2025-01-02T03:04:05.678901Z`` (``isoformat`` drops zero
    microseconds); both become ``2025-01-02T03:04:05.000000Z``-style strings. Anything else is kept.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(DATE_FORMAT)
