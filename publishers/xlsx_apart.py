"""The child process of ``publishers.table.write_files`` that writes a large table's XLSX while its parent
writes the other files: ``python -m publishers.xlsx_apart SNAPSHOT SCHEMA TABLE PATH``, with the warehouse's
address in ``KHO_XLSX_WAREHOUSE_URL``. It reads the table in the snapshot its parent's transaction exported
(``pg_export_snapshot``), so the XLSX holds exactly the rows of the CSV."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from publishers.table import read_table, write_xlsx


def main(snapshot: str, schema: str, name: str, path: str) -> None:
    with psycopg.connect(os.environ["KHO_XLSX_WAREHOUSE_URL"]) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot)))
        write_xlsx(conn, read_table(conn, schema, name), Path(path))


if __name__ == "__main__":
    main(*sys.argv[1:5])
