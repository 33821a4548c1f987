#!/usr/bin/env bash
# `npm run bench`: build, start a throwaway PostgreSQL, run the benchmark harness (bench/).
#
#   npm run bench                      the full run (500 VMs, 10,000 rows, QEMU when available)
#   npm run bench -- --quick           a small run (20 creates, 1,000 rows, no QEMU)
#   npm run bench -- --json FILE       also write the results as JSON
#   npm run bench -- --help            every option
#
# Needs root (network namespaces, TAPs). TEST_DATABASE_URL, when set, is used instead of starting
# PostgreSQL. PostgreSQL and its temporary directory are removed on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."

phase_started=0
phase() {
  phase_name=$1
  phase_started=$(date +%s%N)
  printf '\n==> %s\n' "$phase_name" >&2
}
phase_done() {
  local elapsed_ms=$((($(date +%s%N) - phase_started) / 1000000))
  printf '==> %s done in %d.%01ds\n' "$phase_name" $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100)) >&2
}
warn() { printf 'warning: %s\n' "$*" >&2; }

# shellcheck source=lib/throwaway-postgres.sh
source scripts/lib/throwaway-postgres.sh

if [ "${HEARTH_BENCH_SKIP_BUILD:-}" != 1 ]; then
  phase 'build (tsc -b)'
  node scripts/ensure-built.mjs
  phase_done
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/hearth-bench.XXXXXX")
bench_pid=''
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # The harness cleans up after itself on SIGINT/SIGTERM; give it the chance before PostgreSQL goes.
  if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    wait "$bench_pid" 2>/dev/null || true
  fi
  throwaway_postgres_stop
  rm -rf "$work_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! throwaway_postgres_start "$work_dir" >&2; then
  warn 'no PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set TEST_DATABASE_URL'
  exit 1
fi

node bench/dist/main.js "$@" &
bench_pid=$!
set +e
wait "$bench_pid"
status=$?
set -e
bench_pid=''
exit "$status"
