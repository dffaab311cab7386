"""Kho's long-running processes on one machine, under supervisord: restarted when they crash, their logs
kept and rotated under ``$KHO_HOME/logs``, their state for ``kho status``. ``kho up`` writes one
program file per process into ``$KHO_HOME/supervisor/programs/`` and starts (or updates) supervisord."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kho.operations import services
from kho.settings import Settings

NAME = "supervisord"


def folder(s: Settings) -> Path:
    return s.home / "supervisor"


def config_path(s: Settings) -> Path:
    return folder(s) / "supervisord.conf"


def socket_path(s: Settings) -> Path:
    return s.run_dir / "supervisor.sock"


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
pidfile={services.pid_file(s, NAME)}
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


def add_program(
    s: Settings, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> None:
    """Declare a supervised program (applied by :func:`apply`)."""
    import shlex

    environment = ",".join(f"{k}={_quote(v)}" for k, v in sorted((env or {}).items()))
    log = s.log_dir / f"{name}.log"
    text = f"""[program:{name}]
command={" ".join(shlex.quote(c) for c in command).replace("%", "%%")}
directory={cwd or s.home}
environment={environment}
autostart=true
autorestart=true
startsecs=3
startretries=10
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile={log}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
"""
    _write_private(folder(s) / "programs" / f"{name}.conf", text)


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
    return services.running_pid(s, NAME) is not None and socket_path(s).exists()


def apply(s: Settings) -> None:
    """Start supervisord with the declared programs, or bring a running one up to date with them."""
    s.log_dir.mkdir(parents=True, exist_ok=True)
    write_config(s)
    if running(s):
        _ctl(s, "update")
        _ctl(s, "start", "all")
        return
    socket_path(s).unlink(missing_ok=True)
    result = subprocess.run(
        [str(s.venv_bin("main", "supervisord")), "-c", str(config_path(s))],
        capture_output=True,
        text=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not running(s):
        time.sleep(0.2)
    if not running(s):
        raise services.ServiceError(
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
        if len(parts) >= 2:
            states[parts[0]] = parts[1]
    return states


def pid(s: Settings, program: str) -> int | None:
    out = _ctl(s, "pid", program).stdout.strip()
    return int(out) if out.isdigit() and out != "0" else None


def shutdown(s: Settings, timeout: float = 60.0) -> bool:
    """Stop every supervised program and supervisord itself; True if it was running."""
    if not running(s):
        return False
    supervisord = services.running_pid(s, NAME)
    _ctl(s, "shutdown")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(supervisord, 0)
        except (ProcessLookupError, TypeError):
            break
        time.sleep(0.2)
    services.pid_file(s, NAME).unlink(missing_ok=True)
    return True
