"""Connectors pull a delivery from an agency's system into the dataset's inbox, where landing finds it.

A catalog source of ``kind: inbox`` is delivered by the agency (a file dropped in, or ``kho land``);
other kinds are fetched: :func:`fetch` picks the connector by kind, and every connector writes what it
got as one file in ``$KHO_HOME/inbox/<dataset>/``. From there on a fetched delivery is a file like any
other: archived by its sha256, skipped if identical to one already landed, read by its format's reader.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from kho.catalog import CatalogError, Dataset
from kho.settings import Settings, settings

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def resolve(text: str, ds: Dataset, s: Settings | None = None, field: str | None = None) -> str:
    """``text`` with each ``${KHO_X_URL}`` replaced: by the setting ``x_url`` if Settings has one, else the
    variable from the environment or ``services.env`` (or the file its ``_FILE`` names); a placeholder none
    of them knows is an error naming the catalog field (``field``, else the source field holding ``text``)."""
    s = s or settings()
    field = field or next((f for f, v in ds.source if v == text), "location")

    def value(match: re.Match[str]) -> str:
        name = match[1]
        attribute = name.removeprefix("KHO_").lower()
        if hasattr(s, attribute) and isinstance(getattr(s, attribute), str):
            return getattr(s, attribute)
        found = s.value(name)
        if found:
            return found
        raise CatalogError(
            f"{ds.path or ds.id}: field 'source.{field}': no value for ${{{name}}} (set the environment variable)"
        )

    return PLACEHOLDER.sub(value, text)


# Source kind -> the module whose ``fetch(ds, s)`` pulls it ("inbox": delivered, nothing to fetch).
CONNECTORS = {"http": "kho.delivering.http", "database": "kho.delivering.database"}


def fetch(ds: Dataset, s: Settings | None = None) -> Path | None:
    """Fetch the dataset's source into its inbox; the file written, or None when there is nothing to land."""
    kind = ds.source.kind
    if kind == "inbox":
        return None
    if kind not in CONNECTORS:
        raise NotImplementedError(f"{ds.id}: no connector for source kind '{kind}'")
    return importlib.import_module(CONNECTORS[kind]).fetch(ds, s or settings())
