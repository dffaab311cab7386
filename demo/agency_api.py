"""A stand-in for an agency's JSON API, for the demo and the tests: ``python -m demo up`` runs it on
``port(settings())``; a test can run it in-process with :func:`serving`.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from kho.operations import supervisor
from kho.operations.services import ServiceError, wait_for_port, write_services_env
from kho.settings import REPO, Settings, settings

NAME = "agency_api"  # its supervised program and log name under $KHO_HOME
PREFIX = "/v1/"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
FAULTS_ENV = "KHO_AGENCY_API_FAULTS"
PAGING = ("page", "page_size")


def resources(data_dir: Path) -> dict[str, Path]:
    """``/v1/<name>`` -> the JSON file holding its records."""
    return {path.stem: path for path in sorted(data_dir.glob("*/api/*.json"))}


def _read_records(path: Path) -> list[dict]:
    records = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: expected a JSON array of objects")
    return records


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(os.environ.get(FAULTS_ENV, ""))) | dict(parse_qsl(parts.query))
        if delay := query.get("delay"):
            time.sleep(float(delay))
        fault_key = parts.path + "?" + urlencode(sorted((k, v) for k, v in query.items() if k not in PAGING))
        with self.server.lock:
            self.server.calls[fault_key] += 1
            call = self.server.calls[fault_key]
        if call <= int(query.get("fail", 0)):
            return self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"injected failure {call}"})
        path = (
            self.server.resources.get(parts.path.removeprefix(PREFIX))
            if parts.path.startswith(PREFIX)
            else None
        )
        if path is None:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"no resource at {parts.path}"})
        try:
            page = int(query.get("page", 1))
            size = min(int(query.get("page_size", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            if page < 1 or size < 1:
                raise ValueError
        except ValueError:
            return self._send(
                HTTPStatus.BAD_REQUEST, {"error": "page and page_size must be whole numbers >= 1"}
            )
        records = _read_records(path)  # read per request: editing a sample shows at once
        body = {
            "data": records[(page - 1) * size : page * size],
            "page": page,
            "page_size": size,
            "total": len(records),
            "total_pages": max(1, math.ceil(len(records) / size)),
        }
        if query.get("malformed") in ("all", str(page)):
            text = json.dumps(body, ensure_ascii=False)
            return self._send(HTTPStatus.OK, text[: len(text) // 2].encode())
        self._send(HTTPStatus.OK, body)

    def _send(self, status: HTTPStatus, body: dict | bytes) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if not self.server.quiet:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, data_dir: Path, quiet: bool):
        super().__init__(("127.0.0.1", port), _Handler)
        self.resources = resources(data_dir)
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.quiet = quiet

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up waiting
            super().handle_error(request, client_address)


@contextmanager
def serving(port: int = 0, data_dir: Path | None = None) -> Iterator[str]:
    """Run the API in a thread of this process (port 0: any free port); yield its base URL."""
    server = _Server(port, data_dir or REPO / "samples", quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="agency-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def port(s: Settings) -> int:
    """The demo API's port: beside Kho's own services, on the same base."""
    return s.port_base + 66


def url(s: Settings | None = None) -> str:
    """Where ``kho up`` serves the API."""
    return f"http://127.0.0.1:{port(s or settings())}"


def start(s: Settings | None = None) -> str:
    """Run the API as the supervised program ``agency_api`` (restarted if it crashes); return its URL."""
    s = s or settings()
    if supervisor.state(s, NAME) != "RUNNING":
        try:
            wait_for_port(port(s), "agency API", timeout=0.1)
        except ServiceError:
            pass  # the port is free
        else:
            raise ServiceError(
                f"port {port(s)} (the demo's agency API) is taken by a process Kho did not start"
            )
    argv = [sys.executable, "-m", "demo.agency_api", "--port", str(port(s))]
    supervisor.start_program(s, NAME, argv, cwd=s.repo, start_secs=1)
    wait_for_port(port(s), "agency API", timeout=30, log=s.log_dir / f"{NAME}.log")
    write_services_env(s, {"KHO_AGENCY_API_URL": url(s)})  # where the catalog's ${KHO_AGENCY_API_URL} is
    return url(s)


def stop(s: Settings | None = None) -> bool:
    """Stop the API program ``start`` began; True if it was running."""
    return supervisor.stop_program(s or settings(), NAME)


def main() -> None:  # pragma: no cover - the process `start` runs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=port(settings()))
    parser.add_argument("--data", type=Path, default=REPO / "samples")
    args = parser.parse_args()
    server = _Server(args.port, args.data, quiet=False)
    print(
        f"agency API on http://127.0.0.1:{args.port}{PREFIX} serving {', '.join(server.resources)}",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
