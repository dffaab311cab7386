"""Readers turn one delivered file into records, one per source row.

A reader knows a delivery format (PX-Web, CSV, Excel, ...) and nothing about PostgreSQL. It yields
:class:`Record` objects: the source row number, the row's fields as delivered (kept verbatim for
quarantine), the rows to land (a wide source row may become several long rows), and any value
problems found. Structural problems (not this format, unknown table) raise ``DeliveryError`` at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from kho.catalog import Dataset
from kho.landing.readers.record import Issue, Record

__all__ = ["Issue", "Record", "Reader", "reader_for"]


Reader = Callable[[Dataset, Path, str], Iterator[Record]]


def reader_for(fmt: str) -> Reader:
    from kho.landing.readers import csv_reader, excel, jsonl, pxweb

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
