"""Every long-running process Kho starts runs under supervisord: a crashed one comes back by itself,
``kho status`` shows each one's state, its log is rotated and private, ``kho up`` twice changes nothing,
and a KHO_HOME that a reboot left with a stale socket and pid file starts again."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from demo import agency_api
from kho.operations import ckan_server, services, supervisor
from kho.operations import stack as kho_stack
from kho.settings import REPO, Settings

KHO = REPO / ".kho" / "venvs" / "main" / "bin" / "kho"
PATIENCE = 180  # seconds a restart may take on a busy 2-core machine; the tests do not measure it


def _until(check, what: str):
    """Poll ``check`` until it returns something true; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, psycopg.Error):
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen")


def _restarted(s: Settings, program: str, killed: int) -> int | None:
    pid = supervisor.pid(s, program)
    return pid if pid and pid != killed and supervisor.state(s, program) == "RUNNING" else None


def _ckan_answers(s: Settings) -> bool:
    with urllib.request.urlopen(f"{s.ckan_url}/api/3/action/status_show", timeout=10) as response:
        return response.status == 200


def _postgres_answers(s: Settings) -> bool:
    with psycopg.connect(s.warehouse_url, connect_timeout=10) as conn:
        return conn.execute("select count(*) from kho_meta.loads").fetchone() is not None


def _redis_answers(s: Settings) -> bool:
    with socket.create_connection(("127.0.0.1", s.redis_port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


@pytest.mark.parametrize(
    "program, answers",
    [("postgres", _postgres_answers), ("redis", _redis_answers), ("ckan", _ckan_answers)],
)
def test_a_service_killed_with_sigkill_is_restarted_and_answers_again(stack, program, answers):
    s, _ = stack
    killed = supervisor.pid(s, program)
    assert killed, supervisor.status(s)
    assert answers(s)
    os.kill(killed, signal.SIGKILL)  # the postmaster, redis-server, gunicorn's arbiter
    _until(lambda: _restarted(s, program, killed), f"supervisord restarting {program}")
    assert _until(lambda: answers(s), f"{program} answering after its restart")
    assert f"{program} RUNNING" in _status_line()


def _status_line() -> str:
    result = subprocess.run([str(KHO), "status"], capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith("services:"))


def test_kho_status_lists_every_service_with_its_state(stack):
    s, _ = stack
    agency_api.start(s)
    try:
        line = _status_line()
        for program in ("postgres", "redis", "ckan", "agency_api"):
            assert f"{program} RUNNING" in line, line
        supervisor.stop(s, "agency_api")  # stopped but still declared: shown as such
        assert "agency_api STOPPED" in _status_line()
    finally:
        agency_api.stop(s)
    assert "agency_api" not in _status_line()  # stopped and forgotten


def test_logs_rotate_and_stay_private(stack):
    s, _ = stack
    for program in ("postgres", "redis", "ckan"):
        declared = supervisor.program_path(s, program).read_text()
        assert "stdout_logfile_maxbytes=20MB" in declared
        assert "stdout_logfile_backups=3" in declared
        assert f"stdout_logfile={s.log_dir / f'{program}.log'}" in declared
        log = s.log_dir / f"{program}.log"
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
    assert stat.S_IMODE(s.log_dir.stat().st_mode) == 0o700
    assert "autorestart=true" in supervisor.program_path(s, "postgres").read_text()


def test_starting_what_runs_changes_nothing(stack):
    s, _ = stack
    before = {p: supervisor.pid(s, p) for p in ("postgres", "redis", "ckan")}
    services.start_postgres(s)
    services.start_redis(s)
    ckan_server.start(s)
    assert {p: supervisor.pid(s, p) for p in before} == before


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def own_home():
    """A KHO_HOME of its own (short path: supervisord's socket lives in it), Redis on a free port."""
    home = Path(tempfile.mkdtemp(prefix="kho-sup-"))
    base = _free_port() - 79
    while not _free(base + 66):  # the agency API's port too
        base = _free_port() - 79
    s = Settings(repo=REPO, home=home, port_base=base, external_postgres=None)
    yield s
    kho_stack.down(s)


def test_after_a_reboot_stale_socket_and_pid_files_do_not_stop_a_start(own_home):
    s = own_home
    services.start_redis(s)
    agency_api.start(s)
    supervisor.shutdown(s)  # as a reboot would: no supervisord, no programs; their files stay declared
    assert supervisor.programs(s) == ["agency_api", "redis"]
    assert "agency_api STOPPED" in _status_line_of(s) and "redis STOPPED" in _status_line_of(s)
    supervisor.socket_path(s).unlink(missing_ok=True)
    stale = socket.socket(socket.AF_UNIX)  # a socket file nobody listens on any more
    stale.bind(str(supervisor.socket_path(s)))
    stale.close()
    supervisor.pid_path(s).write_text(f"{os.getpid()}\n")  # a pid now taken by another process
    services.start_redis(s)
    assert _redis_answers(s)
    assert supervisor.state(s, "agency_api") == "RUNNING"  # every declared program came back with it


def _status_line_of(s: Settings) -> str:
    from kho.operations.status import services_line

    return services_line(s)


def test_kho_down_stops_in_order_then_supervisord(own_home):
    s = own_home
    services.start_redis(s)
    agency_api.start(s)
    redis_pid = supervisor.pid(s, "redis")
    assert kho_stack.down(s) == ["agency_api", "redis"]  # the stand-ins before the services they use
    assert not supervisor.running(s)
    assert supervisor.programs(s) == []
    with pytest.raises(ProcessLookupError):
        os.kill(redis_pid, 0)
    assert kho_stack.down(s) == []
