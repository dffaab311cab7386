"""docker-compose.yml, the multi-service deployment (docs/deployment.md), checked without a Docker engine.

With Debian's ``docker-compose`` on PATH (CI installs it), ``docker-compose config`` validates the file
against the committed example env file and the checks run on its normalised output; without it, they
run on the file as PyYAML reads it, with the variables substituted the way docker-compose does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
REMOTE_WORKER = REPO / "deploy" / "compose.remote-worker.yml"
EXAMPLE_ENV = REPO / "deploy" / "kho.env.example"
DOCKER_COMPOSE = shutil.which("docker-compose")

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
AIRFLOW_SERVICES = {"airflow-init", *AIRFLOW_COMMANDS}
ONE_SHOT = {"airflow-init"}
REQUIRED_SERVICES = {"postgres", "redis", "solr", "ckan", *AIRFLOW_SERVICES}
# Mounted into every Airflow container at /opt/kho/<name> (KHO_REPO).
REPO_MOUNTS = ("dags", "dbt_project", "expectations", "catalog", "kho", "publishers", "flow", "samples")
WRITABLE_MOUNTS = {"dbt_project"}  # dbt writes target/ (the manifest) and logs/
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|REDISCLI_AUTH")
URL_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")
PLACEHOLDER = "change-me"
# ckanext-kho's PostgreSQL search replaces Solr: it is for the embedded default only.
SEARCH_PLUGINS = {"kho_pgsearch"}


# --- loading ------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    return values


class ComposeRejected(ValueError):
    pass


VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_]\w*))")


def interpolate(text: str, env: dict[str, str]) -> str:
    """docker-compose's substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""

    def substitute(match: re.Match) -> str:
        if match.group(1):
            return "$$"  # kept escaped, as `docker-compose config` prints it
        name = match.group(2) or match.group(5)
        operator, argument = match.group(3), match.group(4) or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and operator and operator.startswith(":"))
        if operator in (":-", "-"):
            return argument if unset_or_empty else value
        if operator in (":?", "?"):
            if unset_or_empty:
                raise ComposeRejected(f"{name}: {argument}")
            return value
        return value or ""

    return VARIABLE.sub(substitute, text)


def interpolate_tree(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def raw_compose(path: Path = COMPOSE) -> dict:
    """The file as written: anchors and merge keys resolved, nothing substituted."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose_config(env_file: Path, *files: Path) -> dict:
    """What docker-compose would run: `docker-compose config` if installed, else PyYAML + substitution."""
    files = files or (COMPOSE,)
    if DOCKER_COMPOSE:
        argv = [DOCKER_COMPOSE, "--env-file", str(env_file)]
        for path in files:
            argv += ["-f", str(path)]
        # A clean environment: only the env file provides the variables.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(REPO),
            "PYTHONIOENCODING": "utf-8",
        }
        result = subprocess.run(
            [*argv, "config"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )
        if result.returncode != 0:
            raise ComposeRejected(result.stderr.strip() or result.stdout.strip())
        return yaml.safe_load(result.stdout)
    env = read_env_file(env_file)
    merged: dict = {}
    for path in files:
        merged = merge(merged, interpolate_tree(raw_compose(path), env))
    return merged


def merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def config() -> dict:
    return compose_config(EXAMPLE_ENV)


@pytest.fixture(scope="module")
def services(config) -> dict:
    return config["services"]


# --- normalising either form --------------------------------------------------------------------


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def mounts(service: dict) -> list[tuple[str, str, str]]:
    """(source, target, mode) of every volume; host paths made absolute."""
    out = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
            mode = "ro" if volume.get("read_only") else "rw"
        else:
            parts = volume.split(":")
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else "rw"
        if source.startswith((".", "/")):
            source = str((REPO / source).resolve())
        out.append((source, target, mode))
    return out


def command(service: dict) -> str:
    cmd = service.get("command") or ""
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def published_ports(service: dict) -> list:
    return list(service.get("ports") or [])


# --- the checks ----------------------------------------------------------------------------------


def test_the_required_services_exist(services):
    assert REQUIRED_SERVICES <= services.keys()


def test_official_images(services):
    assert services["postgres"]["image"] == "postgres:18"
    assert services["redis"]["image"] == "redis:7"
    assert services["solr"]["image"] == "ckan/ckan-solr:2.12-solr9"
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"]["dockerfile"] == "deploy/airflow/Dockerfile", name
    assert services["ckan"]["build"]["dockerfile"] == "deploy/ckan/Dockerfile"
    assert len({services[name]["image"] for name in AIRFLOW_SERVICES}) == 1, "one Airflow image for all"


def base_image(dockerfile: Path) -> str:
    return next(line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM "))


def test_the_dockerfiles_extend_the_official_images():
    airflow = REPO / "deploy" / "airflow" / "Dockerfile"
    ckan = REPO / "deploy" / "ckan" / "Dockerfile"
    assert base_image(airflow) == "apache/airflow:3.3.2-python3.11"
    assert base_image(ckan) == "ckan/ckan-base:2.12"
    airflow_text = airflow.read_text()
    assert "requirements/main.lock.txt" in airflow_text and "requirements/dbt.lock.txt" in airflow_text
    assert "/opt/dbt-venv" in airflow_text and "/opt/kho/.kho/venvs/dbt" in airflow_text
    ckan_text = ckan.read_text()
    assert "ckanext-kho" in ckan_text and "ckanext-dcat" in ckan_text


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") in ("no", None), name
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), name
        test = check.get("test")
        assert test and test not in (["NONE"], "NONE"), f"{name} has no healthcheck"


def test_healthchecks_probe_what_each_service_does(services):
    def probe(name: str) -> str:
        test = services[name]["healthcheck"]["test"]
        return " ".join(test) if isinstance(test, list) else test

    assert "pg_isready" in probe("postgres")
    assert "redis-cli ping" in probe("redis")
    assert "/api/v2/monitor/health" in probe("airflow-apiserver")
    assert "--job-type SchedulerJob" in probe("airflow-scheduler")
    assert "--job-type DagProcessorJob" in probe("airflow-dag-processor")
    assert "--job-type TriggererJob" in probe("airflow-triggerer")
    assert "inspect ping" in probe("airflow-worker")
    assert "/api/3/action/status_show" in probe("ckan")
    assert "/solr/ckan/admin/ping" in probe("solr")


def test_services_wait_for_what_they_need_to_be_healthy(services):
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if dependency in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, dependency)
            else:
                assert condition == "service_healthy", (name, dependency)
    for name in AIRFLOW_COMMANDS:
        deps = depends_on(services[name])
        assert {"postgres", "redis", "airflow-init"} <= deps.keys(), name
    assert {"postgres", "redis"} <= depends_on(services["airflow-init"]).keys()
    assert "airflow-apiserver" in depends_on(services["airflow-worker"])  # the Task Execution API
    assert {"postgres", "redis", "solr"} <= depends_on(services["ckan"]).keys()


def test_airflow_components_and_celery_executor(services):
    for name, expected in AIRFLOW_COMMANDS.items():
        assert command(services[name]) == expected, name
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert re.fullmatch(r"redis://:[^@]+@redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"]), name
        backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert re.fullmatch(r"db\+postgresql(\+\w+)?://airflow:[^@]+@postgres:5432/airflow", backend), name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        for shared in (
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
        ):
            assert env.get(shared), (name, shared)
    init = environment(services["airflow-init"])
    assert init["_AIRFLOW_DB_MIGRATE"] == "true" and init["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert init["_AIRFLOW_WWW_USER_PASSWORD"]


def test_the_repository_is_mounted_into_every_airflow_service(services):
    for name in AIRFLOW_SERVICES:
        service = services[name]
        by_target = {target: (source, mode) for source, target, mode in mounts(service)}
        for directory in REPO_MOUNTS:
            target = f"/opt/kho/{directory}"
            assert target in by_target, f"{name}: ./{directory} is not mounted at {target}"
            source, mode = by_target[target]
            assert Path(source) == (REPO / directory).resolve(), (name, directory, source)
            expected = "rw" if directory in WRITABLE_MOUNTS else "ro"
            assert mode == expected, (name, directory, mode)
        assert "/var/lib/kho" in by_target, f"{name}: no KHO_HOME volume"
        env = environment(service)
        assert env["KHO_REPO"] == "/opt/kho" and env["KHO_HOME"] == "/var/lib/kho"
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/kho/dags"
        assert "/opt/kho" in env["PYTHONPATH"].split(":")
        assert re.fullmatch(r"postgresql://kho:[^@]+@postgres:5432", env["KHO_POSTGRES_URL"]), name
        assert env["KHO_CKAN_URL"] == "http://ckan:5000"


def test_workers_scale(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker
    assert not published_ports(worker), "a published host port would stop --scale"
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name pins one container per name"


def ckan_plugins_of_this_repo() -> set[str]:
    pyproject = tomllib.loads((REPO / "ckanext-kho" / "pyproject.toml").read_text())
    return set(pyproject["project"]["entry-points"]["ckan.plugins"])


def test_ckan_has_solr_redis_and_the_project_plugins(services):
    env = environment(services["ckan"])
    assert env["CKAN_SOLR_URL"] == "http://solr:8983/solr/ckan"
    assert re.fullmatch(r"redis://:[^@]+@redis:6379/\d+", env["CKAN_REDIS_URL"])
    assert "@postgres:5432/ckan" in env["CKAN_SQLALCHEMY_URL"]
    assert env["CKAN_DATASTORE_WRITE_URL"].endswith("@postgres:5432/ckan_datastore")
    assert env["CKAN_DATASTORE_READ_URL"].startswith("postgresql://ckan_datastore_ro:")
    plugins = env["CKAN__PLUGINS"].split()
    assert {"datastore", "datatables_view", "dcat", "envvars"} <= set(plugins)
    assert plugins[-1] == "envvars", "envvars last, so the CKAN__* settings are applied"
    ours = ckan_plugins_of_this_repo()
    assert ours, "ckanext-kho declares no CKAN plugin"
    assert ours - SEARCH_PLUGINS <= set(plugins), "every ckanext-kho plugin but the search one is enabled"
    assert not SEARCH_PLUGINS & set(plugins), "kho_pgsearch would bypass the stack's Solr"
    # The settings of ckanext-kho/ckan.ini.template that matter to the portal.
    assert env["CKAN__LOCALE_DEFAULT"] == "vi"
    assert env["CKAN__DATASTORE__SQLSEARCH__ENABLED"] == "true"
    assert env["CKAN___LICENSES_GROUP_URL"].endswith("/ckanext-kho/ckanext/kho/licenses.json")
    assert env["CKAN_SECRET_KEY"] and env["CKAN_SYSADMIN_PASSWORD"]


def test_postgres_creates_kho_airflow_and_ckan_databases(services):
    by_target = {target: source for source, target, _ in mounts(services["postgres"])}
    init_dir = Path(by_target["/docker-entrypoint-initdb.d"])
    assert init_dir == (REPO / "deploy" / "postgres" / "init").resolve()
    script = init_dir / "01-databases.sh"
    assert os.access(script, os.X_OK), "the postgres image runs executable init scripts"
    text = script.read_text()
    for database in ("kho", "airflow", "ckan", "ckan_datastore"):
        assert f"('{database}', " in text, database
    for role in ("kho", "airflow", "ckan", "ckan_datastore_ro"):
        assert f"ALTER ROLE {role} PASSWORD" in text, role
    assert "/var/lib/postgresql" in by_target  # PostgreSQL 18's data layout: the parent directory
    env = environment(services["postgres"])
    for name in ("KHO_DB_PASSWORD", "AIRFLOW_DB_PASSWORD", "CKAN_DB_PASSWORD", "CKAN_DATASTORE_RO_PASSWORD"):
        assert env.get(name), name


def test_data_lives_in_named_volumes(config, services):
    declared = set(config.get("volumes") or {})
    wanted = {
        "postgres": "/var/lib/postgresql",
        "redis": "/data",
        "solr": "/var/solr",
        "ckan": "/var/lib/ckan",
    }
    for name, target in wanted.items():
        by_target = {t: source for source, t, _ in mounts(services[name])}
        assert by_target.get(target) in declared, (name, target)


# --- secrets -----------------------------------------------------------------------------------------

REQUIRED_VARIABLE = re.compile(r"\$\{[A-Za-z_]\w*:\?[^}]+\}")
OPTIONAL_EMPTY = re.compile(r"\$\{[A-Za-z_]\w*:-\}")


def test_no_secret_is_written_in_the_compose_files():
    """Every password, key or token is a required variable (or an optional one without a default)."""
    for path in (COMPOSE, REMOTE_WORKER):
        for name, service in (raw_compose(path).get("services") or {}).items():
            for key, value in environment(service).items():
                if SECRET_NAME.search(key):
                    assert REQUIRED_VARIABLE.fullmatch(value) or OPTIONAL_EMPTY.fullmatch(value), (
                        f"{path.name}: {name}.{key} must come from the env file, found {value!r}"
                    )
                for password in URL_PASSWORD.findall(value):
                    assert REQUIRED_VARIABLE.fullmatch(password), f"{path.name}: {name}.{key} has a password"


def test_the_example_env_file_holds_placeholders_only():
    values = read_env_file(EXAMPLE_ENV)
    secrets = {name: value for name, value in values.items() if SECRET_NAME.search(name)}
    assert {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "CKAN_SECRET_KEY", "REDIS_PASSWORD"} <= secrets.keys()
    for name, value in secrets.items():
        assert value == "" or PLACEHOLDER in value, f"{name} in {EXAMPLE_ENV.name} looks like a real secret"


def strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def test_every_required_variable_is_in_the_example_env_file():
    required = {
        name for text in strings(raw_compose()) for name in re.findall(r"\$\{([A-Za-z_]\w*):\?", text)
    }
    assert "POSTGRES_PASSWORD" in required
    assert required <= read_env_file(EXAMPLE_ENV).keys()


def test_without_the_env_file_nothing_starts(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    with pytest.raises(ComposeRejected, match="deploy/kho.env"):
        compose_config(empty)


def test_remote_workers_reach_the_main_machine(tmp_path):
    env_file = tmp_path / "remote.env"
    env_file.write_text(
        EXAMPLE_ENV.read_text(encoding="utf-8") + "KHO_MAIN_HOST=10.0.0.5\n", encoding="utf-8"
    )
    worker = compose_config(env_file, COMPOSE, REMOTE_WORKER)["services"]["airflow-worker"]
    hosts = worker["extra_hosts"]
    if isinstance(hosts, list):
        hosts = dict(item.split(":", 1) for item in hosts)
    assert hosts == {name: "10.0.0.5" for name in ("postgres", "redis", "airflow-apiserver", "ckan")}
