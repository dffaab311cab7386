"""Readers turn one delivered file into records, one per source row.

A reader knows a delivery format (PX-Web, CSV, Excel, ...) and nothing about PostgreSQL. It yields
:class:`Record` objects: the source row number, the row's fields as delivered (kept verbatim for
quarantine), the rows to land (a wide source row may become several long rows), and any value
problems found. Structural problems (not this format, unknown table) raise ``DeliveryError`` at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kho.catalog import Dataset


@dataclass
class Issue:
    """A value that does not fit its column."""

    column: str
    expected: str
    found: str


@dataclass
class Record:
    source_row: int
    # The fields as delivered, or a function making them: most rows land and never need them.
    delivered: dict[str, str] | Callable[[], dict[str, str]]
    rows: list[dict[str, object]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def raw(self) -> dict[str, str]:
        if callable(self.delivered):
            self.delivered = self.delivered()
        return self.delivered


Reader = Callable[[Dataset, Path, str], Iterator[Record]]


def reader_for(fmt: str) -> Reader:
    from kho.readers import csv_reader, excel, jsonl, pxweb

    readers: dict[str, Reader] = {
        "pxweb": pxweb.read,
        "csv": csv_reader.read,
        "xlsx": excel.read,
        "jsonl": jsonl.read,
    }
    try:
        return readers[fmt]
    except KeyError:
        raise NotImplementedError(f"no reader for format '{fmt}' (known: {', '.join(readers)})") from None
