#!/usr/bin/env bash
# `make test`: the whole suite against real services, started for it and stopped afterwards.
#
# The end-to-end package (tests/e2e: Airflow's scheduler and Celery workers running every dataset) keeps both
# cores busy on its own, the rest of the suite one; so the two run at once, each on services of its own (a
# KHO_HOME and port base each). The end-to-end run sees the repository through a mirror of links, with a
# copy of dbt_project: dbt writes its manifest and compiled SQL into the project's target/.
# With PYTEST_ARGS set, those arguments run alone, on the first services.
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
py="$repo/.kho/venvs/main/bin/python"
kho="$repo/.kho/venvs/main/bin/kho"
base="${TEST_PORT_BASE:-26300}"
main_env=(KHO_HOME="$repo/.kho/test" KHO_PORT_BASE="$base")
e2e_env=(KHO_HOME="$repo/.kho/test-e2e" KHO_PORT_BASE="$((base + 100))" KHO_REPO="$repo/.kho/test-e2e-repo")

# Integration tests that need no sample warehouse and take long, run after tests/e2e on its services: the two
# runs then take about as long as each other.
second=(tests/integration/test_supervised.py tests/integration/test_portal_load.py tests/integration/test_compose_init.py)

status=0
env "${main_env[@]}" "$py" -m demo up --no-airflow || exit 1
if [ -n "${PYTEST_ARGS:-}" ]; then
  # shellcheck disable=SC2086 # the arguments are words
  env "${main_env[@]}" "$py" -m pytest -q $PYTEST_ARGS || status=$?
  env "${main_env[@]}" "$kho" down >/dev/null
  exit $status
fi

"$py" -m demo mirror "$repo/.kho/test-e2e-repo" || exit 1  # demo/mirror.py
e2e_log="$repo/.kho/test-e2e.log"
(
  env "${e2e_env[@]}" "$py" -m demo up --no-airflow >"$e2e_log" 2>&1 &&
    env "${e2e_env[@]}" "$py" -m pytest -q --durations=20 -p no:cacheprovider --basetemp="$repo/.kho/test-e2e-tmp" \
      tests/e2e "${second[@]}" >>"$e2e_log" 2>&1
) &
e2e=$!
echo "tests/e2e (then ${second[*]}) runs beside the rest on services of its own; its output follows the rest's ($e2e_log)"
env "${main_env[@]}" "$py" -m pytest -q --durations=30 --ignore=tests/e2e "${second[@]/#/--ignore=}" || status=$?
wait $e2e || status=$((status == 0 ? 1 : status))
echo "----- tests/e2e, then ${second[*]} -----"
cat "$e2e_log"
env "${main_env[@]}" "$kho" down >/dev/null
env "${e2e_env[@]}" "$kho" down >/dev/null
exit $status
