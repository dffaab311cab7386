"""Write the dbt project's files that follow from the catalog (``make sync``); ``--check``: only compare.

Kho does this by itself whenever it runs dbt (kho/conforming/sync.py, called by kho.conforming.dbt.run_dbt):
this script is the same step by hand, and ``--check`` exits 1 when a file is not what it would write.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kho.conforming.sync import (  # noqa: E402, F401 - re-exported for the tests
    EXPOSURES_FILE,
    GROUPS_FILE,
    PROJECT_FILE,
    SyncError,
    check,
    freshness,
    render,
    sync,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from what would be written"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = check()
            for path in stale:
                print(f"out of date: {path}", file=sys.stderr)
            if stale:
                print("run: make sync", file=sys.stderr)
            return 1 if stale else 0
        sync()
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
