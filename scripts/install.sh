#!/usr/bin/env bash
# Create the three pinned Python environments under .kho/venvs (idempotent: an environment is
# rebuilt only when its lock file changed). Needs only python3 (3.11) and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${KHO_HOME:-$PWD/.kho}"
mkdir -p "$state"
export UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy
boot="$PWD/.kho/bootstrap"
if [ ! -x "$boot/bin/uv" ]; then
  echo "kho: installing uv into $boot"
  python3 -m venv "$boot"
  "$boot/bin/pip" install --quiet uv==0.13.8
fi
uv="$boot/bin/uv"
for env in main dbt ckan; do
  venv="$PWD/.kho/venvs/$env"
  lock="requirements/$env.lock.txt"
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ "$(cat "$venv/.lock.sha256" 2>/dev/null)" != "$want" ]; then
    echo "kho: building the '$env' environment from $lock"
    rm -rf "$venv"
    "$uv" venv --quiet --python python3 "$venv"
    # Bytecode compiled once here, or every Airflow task process pays seconds compiling GX and dbt.
    # --require-hashes: only the files whose sha256 the lock file names are installed (scripts/lock.sh)
    VIRTUAL_ENV="$venv" "$uv" pip sync --quiet --require-hashes --compile-bytecode "$lock"
    echo "$want" > "$venv/.lock.sha256"
  fi
done
# The project's own code, editable, without touching the pinned dependencies.
VIRTUAL_ENV="$PWD/.kho/venvs/main" "$uv" pip install --quiet --no-deps -e .
VIRTUAL_ENV="$PWD/.kho/venvs/ckan" "$uv" pip install --quiet --no-deps -e ./ckanext-kho
# Data Docs' scripts, styles and fonts (Bootstrap, jQuery, bootstrap-table, Vega, Font Awesome), which GX's
# pages would load from public CDNs: the pinned npm packages of requirements/data-docs/, served from the site
# (kho/validating/data_docs.py). Reinstalled only when the lock file changed; without npm the pages keep the CDNs.
assets="$PWD/.kho/assets/data-docs"
lock="requirements/data-docs/package-lock.json"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ "$(cat "$assets/.lock.sha256" 2>/dev/null)" != "$want" ]; then
  if command -v npm >/dev/null; then
    echo "kho: installing Data Docs' assets from $lock"
    rm -rf "$assets" && mkdir -p "$assets"
    cp requirements/data-docs/package.json requirements/data-docs/.npmrc "$lock" "$assets/"
    (cd "$assets" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" > "$assets/.lock.sha256"
  else
    echo "kho: npm not found: Data Docs will load their scripts and styles from public CDNs" >&2
  fi
fi
# axe-core, the accessibility engine the browser test injects into the portal's pages (npm, pinned;
# skipped without npm: the browser test then says so and fails its accessibility check).
AXE_VERSION=4.14.1
axe="$PWD/.kho/node/axe-core-$AXE_VERSION"
if [ ! -f "$axe/axe.min.js" ] && command -v npm >/dev/null; then
  echo "kho: fetching axe-core $AXE_VERSION from the npm registry"
  mkdir -p "$axe"
  tarball="$(cd "$axe" && npm pack --silent "axe-core@$AXE_VERSION")"
  tar -xzf "$axe/$tarball" -C "$axe" --strip-components=1 && rm "$axe/$tarball"
fi
