"""Running dbt, which lives in its own environment (``.kho/venvs/dbt``), against the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from kho.conforming.project import (  # noqa: F401 - the names the DAGs and stages import from here
    dbt_env,
    dbt_executable,
    dbt_process,
    manifest_path,
    parse_cache_dir,
    project_dir,
)
from kho.errors import KhoError
from kho.settings import Settings, settings


def lineage_selection(ds) -> list[str]:
    """The dbt selection a dataset's warehouse run builds: everything downstream of its raw table. The
    shared models it reads are built before (kho.conforming.shared); a neighbour's models are not in it."""
    return [f"source:{ds.agency}.{ds.raw_table}+"]


def run_dbt(
    args: list[str], s: Settings | None = None, check: bool = True, sync: bool = True
) -> subprocess.CompletedProcess:
    """Run dbt in its environment. First, the project's files that follow from the catalog are brought in
    line with it (:func:`kho.conforming.sync.ensure_synced`: a digest comparison when nothing changed), so
    that no one has to remember a sync step after adding or changing a dataset."""
    if sync:
        # imported here, not at the top: the warehouse DAG file imports this module when it is parsed
        from kho.conforming.sync import ensure_synced

        ensure_synced(s, echo=lambda m: None)
    return dbt_process(args, s, check)


class DbtSession:
    """dbt commands through one long-lived process of Kho's dbt environment (``dbt_runner.py``: dbt's
    programmatic runner). The first command pays for starting Python, importing dbt and reading the project;
    the next ones do not, and after a ``parse`` they reuse its manifest instead of parsing again (run
    ``parse`` anew when the project's files change). Commands run one at a time, in ``project_dir``.

        with DbtSession(s) as dbt:
            dbt.run(["parse", "--quiet"])
            dbt.run(["run", "--select", "+fct_crop_production_commune"])
    """

    def __init__(self, s: Settings | None = None):
        self.s = s or settings()
        python = Path(dbt_executable(self.s)).parent / "python"
        self.process = subprocess.Popen(
            [str(python), "-P", str(Path(__file__).with_name("dbt_runner.py"))],
            cwd=project_dir(self.s),
            env={**os.environ, **dbt_env(self.s)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        """One dbt command, as :func:`run_dbt` would run it (returncode 0 or 1; dbt's output as stdout)."""
        if self.process.poll() is not None:
            raise KhoError(f"the dbt process ended (exit status {self.process.returncode})")
        self.process.stdin.write(json.dumps(args) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise KhoError(f"the dbt process ended during dbt {' '.join(args)}")
        answer = json.loads(line)
        done = subprocess.CompletedProcess(["dbt", *args], 0 if answer["ok"] else 1, answer["output"], "")
        if check and done.returncode:
            raise KhoError(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}")
        return done

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> DbtSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def parse_manifest(target: Path, s: Settings | None = None) -> dict:
    """``dbt parse`` of the project into the target folder ``target``; the manifest. Partial parsing keeps a
    second parse into the same folder to a few seconds."""
    result = run_dbt(["parse", "--quiet", "--target-path", str(target)], s=s, check=False)
    if result.returncode != 0:
        raise KhoError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))
