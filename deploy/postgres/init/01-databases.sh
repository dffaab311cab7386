#!/usr/bin/env bash
# Kho's databases and roles on one PostgreSQL server. The official postgres image runs this once, when
# it initialises an empty data volume; passwords come from the environment (docker-compose.yml hands
# them over from deploy/kho.env). Running it again by hand is harmless: it creates what is missing and
# resets the roles' passwords to the values given.
#
#   role                 owns / may use          used by
#   kho                  database kho            Airflow tasks: landing, dbt, Great Expectations
#   airflow              database airflow        Airflow's metadata and Celery results
#   ckan                 ckan, ckan_datastore    CKAN and its DataStore (writes)
#   ckan_datastore_ro    reads ckan_datastore    CKAN's public datastore_search_sql
set -euo pipefail

for name in KHO_DB_PASSWORD AIRFLOW_DB_PASSWORD CKAN_DB_PASSWORD CKAN_DATASTORE_RO_PASSWORD; do
    value="${!name:-}"
    if [[ -z "$value" ]]; then
        echo "01-databases.sh: $name is not set (see deploy/kho.env.example)" >&2
        exit 1
    fi
    if [[ "${value,,}" == *change-me* || "${POSTGRES_PASSWORD,,}" == *change-me* ]]; then
        echo "01-databases.sh: replace the placeholder passwords of deploy/kho.env.example before the first start" >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v kho_pw="$KHO_DB_PASSWORD" \
    -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
    -v ckan_pw="$CKAN_DB_PASSWORD" \
    -v ckan_ro_pw="$CKAN_DATASTORE_RO_PASSWORD" <<'SQL'
-- Roles: created if missing, password (re)set from the environment either way.
SELECT format('CREATE ROLE %I LOGIN', name)
  FROM (VALUES ('kho'), ('airflow'), ('ckan'), ('ckan_datastore_ro')) AS wanted(name)
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted.name)
\gexec
ALTER ROLE kho PASSWORD :'kho_pw';
ALTER ROLE airflow PASSWORD :'airflow_pw';
ALTER ROLE ckan PASSWORD :'ckan_pw';
ALTER ROLE ckan_datastore_ro PASSWORD :'ckan_ro_pw';

-- Databases: UTF-8 whatever the server's default, each owned by the role that builds it.
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', db, owner, 'UTF8')
  FROM (VALUES ('kho', 'kho'), ('airflow', 'airflow'), ('ckan', 'ckan'), ('ckan_datastore', 'ckan'))
       AS wanted(db, owner)
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = wanted.db)
\gexec

-- Nobody but a database's owner (and the DataStore's reader, below) connects to it.
REVOKE CONNECT ON DATABASE kho, airflow, ckan, ckan_datastore FROM PUBLIC;
GRANT CONNECT ON DATABASE ckan_datastore TO ckan_datastore_ro;
SQL

echo "01-databases.sh: databases kho, airflow, ckan, ckan_datastore and their roles are ready"
