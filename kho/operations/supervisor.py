"""Kho's long-running processes on one machine, under supervisord: PostgreSQL, Redis, CKAN, Airflow's
components, the demo's stand-ins. A crashed process is restarted, its log kept and rotated under
``$KHO_HOME/logs`` (mode 600), its state shown by ``kho status``. Each process is one program file in
``$KHO_HOME/supervisor/programs/``: :func:`start_program` writes it and has supervisord (started on
first need) run it; :func:`stop_program` stops it and removes the file; supervisord itself stops with the
last program. Whether supervisord runs is asked of its socket, not of a pid file: after a reboot the
files left behind are stale and supervisord is simply started again, with every program still declared."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from pathlib import Path

from kho.errors import KhoError
from kho.settings import Settings

NAME = "supervisord"
# States in which a program is up or on its way up (supervisord restarts a crashed one: BACKOFF).
ALIVE = ("RUNNING", "STARTING", "BACKOFF")


class ServiceError(KhoError):
    """A local service could not be started or reached."""


def folder(s: Settings) -> Path:
    return s.home / "supervisor"


def config_path(s: Settings) -> Path:
    return folder(s) / "supervisord.conf"


def socket_path(s: Settings) -> Path:
    return s.run_dir / "supervisor.sock"


def pid_path(s: Settings) -> Path:
    return s.run_dir / f"{NAME}.pid"


def program_path(s: Settings, name: str) -> Path:
    return folder(s) / "programs" / f"{name}.conf"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _quote(value: str) -> str:
    """A value for supervisord's ``environment=`` (its own %-expansion and quoting)."""
    return '"' + value.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(s: Settings) -> Path:
    logs = s.log_dir
    text = f"""; Written by `kho up`: Kho's processes under supervisord.
[unix_http_server]
file={socket_path(s)}
chmod=0700

[supervisord]
logfile={logs / "supervisord.log"}
logfile_maxbytes=10MB
logfile_backups=3
pidfile={pid_path(s)}
childlogdir={logs}
directory={s.home}
umask=077
identifier=kho

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{socket_path(s)}

[include]
files = {folder(s) / "programs" / "*.conf"}
"""
    _write_private(config_path(s), text)
    return config_path(s)


def _program_text(
    s: Settings,
    name: str,
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: str = "TERM",
    stop_as_group: bool = True,
    stop_wait: int = 20,
    start_secs: int = 3,
) -> str:
    environment = ",".join(f"{k}={_quote(v)}" for k, v in sorted((env or {}).items()))
    log = s.log_dir / f"{name}.log"
    return f"""[program:{name}]
command={" ".join(shlex.quote(c) for c in command).replace("%", "%%")}
directory={cwd or s.home}
environment={environment}
{f"user={user}" + chr(10) if user else ""}autostart=true
autorestart=true
startsecs={start_secs}
startretries=10
stopsignal={stop_signal}
stopasgroup={str(stop_as_group).lower()}
killasgroup=true
stopwaitsecs={stop_wait}
redirect_stderr=true
stdout_logfile={log}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
"""


def add_program(
    s: Settings,
    name: str,
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    **options,
) -> bool:
    """Declare a supervised program (applied by :func:`apply`); True if its file changed. ``options``:
    ``user`` (run as this user; supervisord runs as root), ``stop_signal`` (``TERM``), ``stop_as_group``
    (signal the whole process group, True), ``stop_wait`` (seconds before SIGKILL, 20), ``start_secs``
    (up this long counts as started, 3)."""
    text = _program_text(s, name, command, env, cwd, **options)
    path = program_path(s, name)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    _write_private(path, text)
    return True


def programs(s: Settings) -> list[str]:
    """The programs declared (one file each), whether supervisord runs them yet or not."""
    return sorted(p.stem for p in (folder(s) / "programs").glob("*.conf"))


def remove_program(s: Settings, name: str) -> None:
    """Forget a program: :func:`apply` then stops it."""
    (folder(s) / "programs" / f"{name}.conf").unlink(missing_ok=True)


def stop(s: Settings, name: str) -> None:
    """Stop one program (it stays declared; :func:`start` brings it back)."""
    _ctl(s, "stop", name)


def start(s: Settings, name: str) -> None:
    _ctl(s, "start", name)


def _ctl(s: Settings, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(s.venv_bin("main", "supervisorctl")), "-c", str(config_path(s)), *args],
        capture_output=True,
        text=True,
        check=check,
    )


def running(s: Settings) -> bool:
    """supervisord of this KHO_HOME answers on its socket (a socket file left by a reboot does not)."""
    path = socket_path(s)
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def apply(s: Settings) -> None:
    """Start supervisord with the declared programs, or bring a running one up to date with them."""
    for private in (s.log_dir, s.run_dir):
        private.mkdir(parents=True, exist_ok=True, mode=0o700)
        private.chmod(0o700)  # logs hold rows and names from deliveries; nobody else passes through
    write_config(s)
    if running(s):
        _ctl(s, "update")
        _ctl(s, "start", "all")
        return
    socket_path(s).unlink(missing_ok=True)  # stale: left by a supervisord that is gone (a reboot)
    pid_path(s).unlink(missing_ok=True)
    result = subprocess.run(
        [str(s.venv_bin("main", "supervisord")), "-c", str(config_path(s))],
        capture_output=True,
        text=True,
        umask=0o077,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not running(s):
        time.sleep(0.2)
    if not running(s):
        raise ServiceError(
            f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()}; "
            f"see {s.log_dir / 'supervisord.log'}"
        )


def status(s: Settings) -> dict[str, str]:
    """Program -> its state (RUNNING, STARTING, BACKOFF, FATAL, STOPPED, ...); empty if supervisord is down."""
    if not running(s):
        return {}
    states = {}
    for line in _ctl(s, "status").stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and not line.startswith("unix://"):
            states[parts[0]] = parts[1]
    return states


def state(s: Settings, name: str) -> str | None:
    """One program's state, or None if supervisord does not run it."""
    return status(s).get(name)


def pid(s: Settings, program: str) -> int | None:
    out = _ctl(s, "pid", program).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else None


def log_tail(s: Settings, name: str, lines: int = 15) -> str:
    path = s.log_dir / f"{name}.log"
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def start_program(
    s: Settings,
    name: str,
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
    **options,
) -> None:
    """Run ``command`` as the supervised program ``name`` (see :func:`add_program` for ``options``);
    return once supervisord reports it RUNNING. A program already running as declared is left alone;
    one whose declaration changed is restarted with the new one."""
    changed = add_program(s, name, command, env, cwd, **options)
    if not changed and state(s, name) == "RUNNING":
        return
    apply(s)  # starts supervisord, or: `update` (new and changed programs) and `start all`
    deadline = time.monotonic() + timeout
    current = state(s, name)
    while current != "RUNNING" and time.monotonic() < deadline:
        if current in ("FATAL", "EXITED"):
            break
        time.sleep(0.3)
        current = state(s, name)
    if current != "RUNNING":
        tail = log_tail(s, name)
        raise ServiceError(
            f"{name} did not start under supervisord (state {current or 'unknown'}); "
            f"see {s.log_dir / f'{name}.log'}" + (f":\n{tail}" if tail else "")
        )


def stop_programs(s: Settings, names: list[str]) -> list[str]:
    """Stop these programs and forget them (their files removed); the ones that were running. When no
    program is left, supervisord stops too."""
    if not names:
        return []
    states = status(s)
    # `update` stops the removed programs one after the other, each up to its stop wait; those stopped by
    # SIGTERM are signalled all at once first, so that they shut down side by side
    termed = [
        name
        for name in names
        if states.get(name) in ALIVE
        and program_path(s, name).is_file()
        and "\nstopsignal=TERM\n" in program_path(s, name).read_text(encoding="utf-8")
    ]
    for name in names:
        remove_program(s, name)
    if running(s):
        if len(termed) > 1:
            _ctl(s, "signal", "TERM", *termed)
        _ctl(s, "update")  # stops and removes the programs whose files are gone
        if not programs(s):
            shutdown(s)
    return [n for n in names if states.get(n) in ALIVE]


def stop_program(s: Settings, name: str) -> bool:
    """Stop one program and forget it; True if it was running."""
    return bool(stop_programs(s, [name]))


def shutdown(s: Settings, timeout: float = 90.0) -> bool:
    """Stop every supervised program and supervisord itself; True if it was running."""
    if not running(s):
        socket_path(s).unlink(missing_ok=True)
        pid_path(s).unlink(missing_ok=True)
        return False
    try:
        supervisord = int(pid_path(s).read_text().strip())
    except (FileNotFoundError, ValueError):
        supervisord = None
    _ctl(s, "shutdown")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisord is None:
            if not running(s):
                break
        else:
            try:
                os.kill(supervisord, 0)
            except ProcessLookupError:
                break
        time.sleep(0.2)
    pid_path(s).unlink(missing_ok=True)
    return True
