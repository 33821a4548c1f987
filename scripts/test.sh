#!/usr/bin/env bash
# `npm test`: install what the tests need, build, lint, start a throwaway PostgreSQL, run vitest.
#
#   npm test                   every test
#   npm test -- apps/agent     a subset (arguments go to `vitest run`)
#
# Environment:
#   HEARTH_TEST_SKIP_INSTALL=1  never run apt-get (just report what is missing)
#   HEARTH_TEST_SKIP_LINT=1     skip `npm run lint` (local iteration only; CI always lints)
#   HEARTH_GUEST_IMAGES=DIR     use these guest images instead of building them with images/build.sh
#   HEARTH_TEST_SKIP_GUEST_IMAGES=1  do not build guest images (the real-guest tests then skip)
#   TEST_DATABASE_URL           use this PostgreSQL admin URL instead of starting one
#
# Ends with one line `N passed, N failed, N skipped` and vitest's exit code. PostgreSQL and its
# temporary directory are removed on every exit path (success, failure, Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

phase_started=0
phase() { # phase NAME: announce a phase and remember when it started
  phase_name=$1
  phase_started=$(date +%s%N)
  printf '\n==> %s\n' "$phase_name"
}
phase_done() {
  local elapsed_ms=$((($(date +%s%N) - phase_started) / 1000000))
  printf '==> %s done in %d.%01ds\n' "$phase_name" $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
}
warn() { printf 'warning: %s\n' "$*" >&2; }

is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true

# Finds a command on PATH or in the sbin directories (which a normal user's PATH may lack).
find_command() {
  command -v "$1" 2>/dev/null && return 0
  local dir
  for dir in /usr/local/sbin /usr/sbin /sbin; do
    [ -x "$dir/$1" ] && { echo "$dir/$1"; return 0; }
  done
  return 1
}

# find_pg_bin, throwaway_postgres_start and throwaway_postgres_stop.
# shellcheck source=lib/throwaway-postgres.sh
source scripts/lib/throwaway-postgres.sh

has_static_busybox() {
  local busybox
  busybox=$(find_command busybox) || return 1
  # ldd exits non-zero for a static binary, which pipefail would count as a failure.
  { ldd "$busybox" 2>&1 || true; } | grep -q 'not a dynamic'
}

# Debian package -> a check that it (or what the tests use from it) is present.
package_present() {
  case $1 in
    postgresql) find_pg_bin >/dev/null ;;
    iproute2) find_command ip >/dev/null ;;
    e2fsprogs) find_command mkfs.ext4 >/dev/null ;;
    busybox-static) has_static_busybox ;;
    qemu-system-x86) find_command qemu-system-x86_64 >/dev/null ;;
    iputils-ping) find_command ping >/dev/null ;;
    nftables) find_command nft >/dev/null ;;
    chromium) find_command chromium >/dev/null ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------------------------
phase 'system packages'
# chromium: the web console's end-to-end test drives it headless (playwright-core).
packages=(postgresql iproute2 e2fsprogs busybox-static qemu-system-x86 iputils-ping nftables chromium)
missing=()
for package in "${packages[@]}"; do
  package_present "$package" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all present: ${packages[*]}"
elif [ "$is_root" = true ] && [ "${HEARTH_TEST_SKIP_INSTALL:-}" != 1 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}"
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo 'installed'
  else
    warn "apt-get could not install ${missing[*]}; tests that need them will skip and say why"
  fi
else
  warn "missing: ${missing[*]} (install them as root: apt-get install --no-install-recommends ${missing[*]});" \
    'tests that need them will skip and say why'
fi
phase_done

# ---------------------------------------------------------------------------------------------
phase 'build (npm ci when needed, tsc -b)'
node scripts/ensure-built.mjs
phase_done

# Real guests: images/build.sh builds a kernel and rootfs from Debian packages, cached by a hash
# of the recipe (about 5 minutes on 2 cores the first time, instant afterwards).
phase 'guest images (images/build.sh)'
if [ -n "${HEARTH_GUEST_IMAGES:-}" ]; then
  echo "using HEARTH_GUEST_IMAGES=$HEARTH_GUEST_IMAGES"
elif [ "$is_root" = true ] && [ "${HEARTH_TEST_SKIP_GUEST_IMAGES:-}" != 1 ]; then
  if HEARTH_GUEST_IMAGES=$(bash images/build.sh --print-dir); then
    export HEARTH_GUEST_IMAGES
    echo "HEARTH_GUEST_IMAGES=$HEARTH_GUEST_IMAGES"
  else
    warn 'images/build.sh failed: the real-guest tests will skip and say why'
    unset HEARTH_GUEST_IMAGES
  fi
else
  echo 'skipped (needs root, or HEARTH_TEST_SKIP_GUEST_IMAGES=1): the real-guest tests will skip and say why'
fi
phase_done

# ---------------------------------------------------------------------------------------------
if [ "${HEARTH_TEST_SKIP_LINT:-}" = 1 ]; then
  printf '\n==> lint skipped (HEARTH_TEST_SKIP_LINT=1)\n'
else
  phase 'lint (eslint + dependency-cruiser)'
  npm run --silent lint
  phase_done
fi

# ---------------------------------------------------------------------------------------------
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/hearth-test.XXXXXX")

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  throwaway_postgres_stop
  rm -rf "$work_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! throwaway_postgres_start "$work_dir"; then
  warn 'no PostgreSQL server binaries (initdb, pg_ctl): tests that need a database will skip'
fi

# ---------------------------------------------------------------------------------------------
phase "vitest run${*:+ $*}"
report="$work_dir/vitest.json"
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
vitest_status=$?
set -e
phase_done

echo
if [ -s "$report" ]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A file that fails in a hook or on import fails no single test: name it, or the count hides it.
    const broken = (r.testResults ?? []).filter(
      (file) => file.status === "failed" && !(file.assertionResults ?? []).some((t) => t.status === "failed"),
    );
    for (const file of broken) {
      const where = require("node:path").relative(process.cwd(), file.name);
      const why = (file.message ?? "").split("\n").find((line) => line.trim() !== "") ?? "a hook or an import failed (its error is above)";
      console.log(`file failed outside any test: ${where}: ${why.trim()}`);
    }
    console.log(`${r.numPassedTests ?? 0} passed, ${r.numFailedTests ?? 0} failed, ${skipped} skipped`);
  ' "$report"
else
  warn "vitest wrote no report (exit $vitest_status)"
  echo '0 passed, 0 failed, 0 skipped'
fi
exit "$vitest_status"
