#!/usr/bin/env bash
# Regenerate the committed lock files from requirements/*.in (run by a maintainer, never by install): every
# pinned version with the sha256 of each of its files, so that `uv pip sync` installs only those files.
# KEEP=1 keeps every version the lock files have now (only the hashes are written again).
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.kho/bootstrap/bin/uv}"
compile() {
  "$uv" pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "scripts/lock.sh" "$@"
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for env in main ckan dbt; do
  keep=()
  if [ "${KEEP:-}" = 1 ]; then
    sed 's/^psycopg2-binary==/psycopg2==/' "requirements/$env.lock.txt" >"$tmp/$env.constraints.txt"
    keep=(-c "$tmp/$env.constraints.txt")
  fi
  compile "${keep[@]}" "requirements/$env.in" -o "requirements/$env.lock.txt"
done
# CKAN pins psycopg2 (a source build needing libpq headers); the binary wheel of the same version is the
# same code: its entry, with its own hashes, replaces psycopg2's.
version="$(sed -n 's/^psycopg2==\([^ ]*\).*/\1/p' requirements/ckan.lock.txt)"
echo "psycopg2-binary==$version" >"$tmp/binary.in"
compile "$tmp/binary.in" -o "$tmp/binary.txt"
python3 - requirements/ckan.lock.txt "$tmp/binary.txt" <<'PY'
import re
import sys

lock, binary = (open(p, encoding="utf-8").read() for p in sys.argv[1:3])
entry = "".join(line + "\n" for line in binary.splitlines() if line.startswith(("psycopg2-binary==", "    --hash=")))
lock = re.sub(r"^psycopg2==.*\n(?:    --hash=.*\n)+", lambda _: entry, lock, count=1, flags=re.M)
open(sys.argv[1], "w", encoding="utf-8").write(lock)
PY
