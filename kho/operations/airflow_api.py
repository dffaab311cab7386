"""Airflow's REST API as Kho uses it: trigger and follow DAG runs, read their tasks, record an asset event
(a delivery landed outside a DAG). The address is ``Settings.airflow_api_url``; the login is Kho's
``kho_admin`` (``KHO_AIRFLOW_USERNAME`` / ``KHO_AIRFLOW_PASSWORD`` for another Airflow)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from kho.errors import KhoError
from kho.settings import Settings, settings

TERMINAL = {"success", "failed"}


class AirflowApiError(KhoError):
    """Airflow's API could not be reached or refused a call; ``status`` is the HTTP status of a refusal."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Airflow:
    def __init__(self, s: Settings | None = None, timeout: float = 120.0, read_attempts: int = 3):
        self.s = s or settings()
        self.base = self.s.airflow_api_url
        self.timeout = timeout
        self.read_attempts = read_attempts
        self._token: str | None = None

    # --- plumbing ------------------------------------------------------------------------------
    def _login(self) -> str:
        from kho.operations import airflow

        user = self.s.value("KHO_AIRFLOW_USERNAME") or airflow.ADMIN
        password = self.s.value("KHO_AIRFLOW_PASSWORD") or airflow.admin_password(self.s)
        body = self._call("POST", "/auth/token", {"username": user, "password": password}, auth=False)
        return body["access_token"]

    def _call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            self._token = self._token or self._login()
            headers["Authorization"] = f"Bearer {self._token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        # a read may be repeated; a trigger must not be
        attempts = self.read_attempts if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    text = resp.read().decode()
                return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:500]
                raise AirflowApiError(
                    f"Airflow API {method} {path}: HTTP {exc.code}: {detail}", status=exc.code
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == attempts:
                    raise AirflowApiError(
                        f"Airflow's API at {self.base} does not answer ({exc}); is Kho up (`kho up`)?"
                    ) from None
                time.sleep(2)
        return None

    # --- runs ------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict | None = None, appear_s: float = 180.0) -> str:
        """Start a run of ``dag_id`` now (unpausing the DAG); its run id. A DAG Airflow does not know yet (a
        dataset just added to the catalog) is waited for, up to ``appear_s``: the DAG files are marked
        changed first, which Airflow's dag-processor parses at once rather than at its next round."""
        deadline = time.monotonic() + appear_s
        marked = False
        while True:
            try:
                self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                break
            except AirflowApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                if not marked:
                    marked = True
                    for path in (self.s.repo / "dags").glob("*.py"):
                        try:
                            path.touch()
                        except OSError:  # a read-only mount: Airflow's next round finds it
                            break
                time.sleep(3)
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def runs(self, dag_id: str, limit: int = 20) -> list[dict]:
        """The DAG's latest runs, newest first."""
        found = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit={limit}")
        return found["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """The task instances of one run, as Airflow's API gives them (state, try_number, hostname...)."""
        found = self._call(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances?limit=500",
        )
        return found["task_instances"]

    def tasks(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """Task id -> state in one run."""
        return {t["task_id"]: t["state"] for t in self.task_instances(dag_id, run_id)}

    def pause(self, dag_id: str, paused: bool = True) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def wait(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 1800.0,
        poll: float = 1.0,
        until: Callable[[dict], bool] | None = None,
    ) -> dict:
        """Follow a run until it ends (state ``success`` or ``failed``), or until ``until(run)`` is true of
        the run still going; the run."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL or (until is not None and until(run)):
                return run
            if time.monotonic() > deadline:
                raise AirflowApiError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(poll)

    # --- human in the loop (a data steward's approval, flow/approval.py) ----------------------------
    def awaiting_input(self, task_id: str | None = None) -> list[dict]:
        """The human-in-the-loop requests nobody has answered yet, oldest first (HITL details, each with its
        ``created_at``, ``subject``, ``body`` and ``task_instance``); only those of ``task_id`` if given."""
        query = "response_received=false&order_by=created_at&limit=100" + (
            f"&task_id={urllib.parse.quote(task_id)}" if task_id else ""
        )
        found = self._call("GET", f"/api/v2/dags/~/dagRuns/~/hitlDetails?{query}")
        return [
            d
            for d in found["hitl_details"]
            if d["task_instance"].get("state") in ("awaiting_input", "deferred")
        ]

    def respond(self, dag_id: str, run_id: str, task_id: str, chosen: list[str]) -> dict:
        """Answer a human-in-the-loop request as Kho's login (what a steward does in the UI)."""
        return self._call(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
            f"/taskInstances/{task_id}/-1/hitlDetails",
            {"chosen_options": chosen},
        )

    # --- assets ----------------------------------------------------------------------------------
    def asset_event(self, uri: str, extra: dict | None = None) -> None:
        """Record that the asset ``uri`` changed (what a task with it as outlet records)."""
        found = self._call("GET", f"/api/v2/assets?uri_pattern={urllib.parse.quote(uri, safe='')}&limit=10")
        ids = [a["id"] for a in found["assets"] if a["uri"] == uri]
        if not ids:
            raise AirflowApiError(f"Airflow knows no asset {uri} (are the DAGs parsed?)")
        self._call("POST", "/api/v2/assets/events", {"asset_id": ids[0], "extra": extra or {}})
