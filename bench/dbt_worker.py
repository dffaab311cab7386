"""Runs in Kho's dbt environment: one dbt invocation per line of JSON arguments on stdin, one line of JSON
(``{"ok": bool, "log": str}``) on stdout. The seeded-error evaluation runs hundreds of ``dbt run``s; dbt's
programmatic runner in one process spares each the start of a new Python and dbt's imports."""

import contextlib
import io
import json
import sys

from dbt.cli.main import dbtRunner

runner = dbtRunner()
for line in sys.stdin:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = runner.invoke(json.loads(line))
    print(json.dumps({"ok": bool(result.success), "log": out.getvalue()[-2000:]}), flush=True)
