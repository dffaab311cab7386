#!/usr/bin/env bash
# Regenerate the committed lock files from requirements/*.in (run by a maintainer, never by install).
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.kho/bootstrap/bin/uv}"
for env in main ckan dbt; do
  "$uv" pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    "requirements/$env.in" -o "requirements/$env.lock.txt"
done
# CKAN pins psycopg2 (a source build needing libpq headers); the binary wheel is the same code.
sed -i 's/^psycopg2==/psycopg2-binary==/' requirements/ckan.lock.txt
