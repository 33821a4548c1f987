#!/usr/bin/env bash
# `npm test`: install what the tests need, build, start a throwaway PostgreSQL, run vitest and lint side by side.
#
#   npm test                   every test
#   npm test -- apps/agent     a subset (arguments go to `vitest run`)
#
# Environment:
#   HEARTH_TEST_SKIP_INSTALL=1  never run apt-get (just report what is missing)
#   HEARTH_TEST_SKIP_LINT=1     skip `npm run lint` (local iteration only; CI always lints)
#   HEARTH_GUEST_IMAGES=DIR     use these guest images instead of building them with images/build.sh
#   HEARTH_TEST_SKIP_GUEST_IMAGES=1  do not build guest images (the real-guest tests then skip)
#   HEARTH_GUEST_IMAGES_WAIT_MS  how long the real-guest tests wait for the background build (45 min)
#   TEST_DATABASE_URL           use this PostgreSQL admin URL instead of starting one
#
# Lint runs in the background beside the tests. Ends with one line `N passed, N failed, N skipped`
# and vitest's exit code (lint's when only lint failed). PostgreSQL, a lint still running and the
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
    zsh) find_command zsh >/dev/null ;;
    fish) find_command fish >/dev/null ;;
    chromium) find_command chromium >/dev/null ;;
    gcc) find_command gcc >/dev/null ;;
    # the static C library: gcc names the file only when it finds it
    libc6-dev) [[ $(gcc -print-file-name=libc.a 2>/dev/null) == /* ]] ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------------------------
phase 'system packages'
# chromium: the web console's end-to-end test drives it headless (playwright-core).
# gcc, libc6-dev: the guest agent's test builds the static guest agent on the host (the image build
# installs build-essential too, but in the background, possibly after that test has run).
packages=(postgresql iproute2 e2fsprogs busybox-static qemu-system-x86 iputils-ping nftables zsh fish chromium gcc libc6-dev)
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
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/hearth-test.XXXXXX")
images_pid=
lint_pid=

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # A background image build that nothing waits for any more ends with the run (its own trap
  # removes its half-built files); a finished one is long gone.
  if [ -n "$images_pid" ] && kill -0 "$images_pid" 2>/dev/null; then
    kill -TERM -- "-$images_pid" 2>/dev/null || true
    wait "$images_pid" 2>/dev/null || true
  fi
  if [ -n "$lint_pid" ] && kill -0 "$lint_pid" 2>/dev/null; then
    kill -TERM -- "-$lint_pid" 2>/dev/null || true
    wait "$lint_pid" 2>/dev/null || true
  fi
  throwaway_postgres_stop
  rm -rf "$work_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Real guests: images/build.sh builds a kernel and a rootfs from Debian packages, cached by a hash
# of the recipe (the kernel takes minutes on 2 cores the first time; afterwards it is instant). It
# runs in the background at the lowest priority while lint and the other tests run; the real-guest
# tests (`*.guest.test.ts`) run last and wait for it (packages/testkit: findGuestImages).
phase 'guest images (images/build.sh, in the background)'
export HEARTH_GUEST_IMAGES_BUILD="$work_dir/guest-images.status"
images_log="$work_dir/guest-images.log"
if [ -n "${HEARTH_GUEST_IMAGES:-}" ]; then
  echo "using HEARTH_GUEST_IMAGES=$HEARTH_GUEST_IMAGES"
elif [ "$is_root" = true ] && [ "${HEARTH_TEST_SKIP_GUEST_IMAGES:-}" != 1 ]; then
  # setsid: its own process group, so that cleanup ends make and its compilers with it.
  setsid bash -c '
    started=$(date +%s)
    if dir=$(nice -n 19 ionice -c 3 bash images/build.sh --print-dir 2>"$2"); then
      echo "guest images ready in $(($(date +%s) - started)) s: $dir" >>"$2"
      echo "ok $dir" >"$1.tmp"
    else
      echo "failed (exit $?; last lines: $(tail -n 3 "$2" | tr "
" " "))" >"$1.tmp"
    fi
    mv "$1.tmp" "$1"
  ' guest-images "$HEARTH_GUEST_IMAGES_BUILD" "$images_log" &
  images_pid=$!
  echo "started (log: $images_log); the real-guest tests wait for it"
else
  reason='not built: npm test builds them only as root'
  [ "${HEARTH_TEST_SKIP_GUEST_IMAGES:-}" = 1 ] && reason='not built: HEARTH_TEST_SKIP_GUEST_IMAGES=1'
  echo "skipped ($reason): the real-guest tests will skip and say why"
  echo "skipped $reason" >"$HEARTH_GUEST_IMAGES_BUILD"
fi
phase_done

# ---------------------------------------------------------------------------------------------
phase 'build (npm ci when needed, tsc -b)'
node scripts/ensure-built.mjs
phase_done

# ---------------------------------------------------------------------------------------------
# Lint reads the tree and writes nothing, so it runs beside the tests (at a lower priority, so
# that it never slows a test that measures time): on 2 cores that saves most of its two minutes.
# Its output is shown, and a failure fails the run, once vitest is done.
lint_log="$work_dir/lint.log"
if [ "${HEARTH_TEST_SKIP_LINT:-}" = 1 ]; then
  printf '\n==> lint skipped (HEARTH_TEST_SKIP_LINT=1)\n'
else
  phase 'lint (eslint, prettier, tsc for tests, dependency-cruiser, redocly: in the background)'
  setsid bash -c 'started=$(date +%s); nice -n 10 npm run --silent lint >"$1" 2>&1; status=$?; echo "lint exit $status after $(($(date +%s) - started)) s" >>"$1"; exit $status' lint "$lint_log" &
  lint_pid=$!
  echo "started (log: $lint_log); its outcome is reported after the tests"
  phase_done
fi

# ---------------------------------------------------------------------------------------------
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
lint_status=0
if [ -n "$lint_pid" ]; then
  phase 'lint (waiting for it)'
  set +e
  wait "$lint_pid"
  lint_status=$?
  set -e
  lint_pid=
  if [ "$lint_status" -eq 0 ]; then
    tail -n 1 "$lint_log"
  else
    cat "$lint_log"
    warn "lint failed (exit $lint_status): the run fails"
  fi
  phase_done
fi
if [ -n "$images_pid" ]; then
  if [ -s "$HEARTH_GUEST_IMAGES_BUILD" ]; then
    tail -n 1 "$images_log"
  else
    echo 'guest images: the build had not finished; no real-guest test waited for it, so it is stopped'
  fi
fi

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
[ "$vitest_status" -ne 0 ] && exit "$vitest_status"
exit "$lint_status"
