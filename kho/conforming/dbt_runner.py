"""Runs in Kho's dbt environment (``.kho/venvs/dbt``), not Kho's: one dbt command per line of JSON
arguments on stdin, one line of JSON on stdout (``{"ok": bool, "output": str}``), through dbt's programmatic
runner (``dbtRunner``). Started by :class:`kho.conforming.dbt.DbtSession`, with ``-P`` so that no folder of
Kho's is on the path (dbt imports modules named ``dbt_*`` that it finds there).

Why: a ``dbt`` command spends seconds starting Python, importing dbt and reading the project before it runs
a query; in one process they are paid once. The manifest a ``dbt parse`` returns is kept for the commands
after it (dbt skips parsing when given one), until the next ``parse``.
"""

import contextlib
import io
import json
import os
import sys

from dbt.cli.main import dbtRunner
from dbt.contracts.graph.manifest import Manifest

# Answers go out on a copy of stdout; whatever dbt or click writes to stdout goes to stderr instead.
answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

runner = dbtRunner()
for line in sys.stdin:
    args = json.loads(line)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            result = runner.invoke(args)
            ok = bool(result.success)
            if not ok and result.exception is not None:  # dbt's own words on what stopped the command
                print(f"{type(result.exception).__name__}: {result.exception}")
            for node in [] if ok else getattr(result.result, "results", None) or []:
                if str(node.status) in ("error", "fail", "runtime error"):
                    print(f"{node.node.unique_id}: {node.status}: {node.message}")
        except Exception as exc:  # reported to the caller as a failed command, the process stays up
            print(f"{type(exc).__name__}: {exc}")
            result, ok = None, False
    if ok and args and args[0] == "parse" and isinstance(result.result, Manifest):
        runner = dbtRunner(manifest=result.result)
    print(json.dumps({"ok": ok, "output": out.getvalue()[-20000:]}), file=answers, flush=True)
