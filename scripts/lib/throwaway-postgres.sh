# A throwaway PostgreSQL for `npm test` and `npm run bench`. Source this file, then:
#
#   throwaway_postgres_start WORK_DIR   starts a server under WORK_DIR (unless TEST_DATABASE_URL is
#                                       set) and exports TEST_DATABASE_URL; returns 1 if it cannot
#   throwaway_postgres_stop             stops it (idempotent); call it from the caller's EXIT trap
#
# Needs `phase`, `phase_done` and `warn` from the caller (scripts/test.sh defines them). The server
# is tuned for throwaway data (fsync off) and listens only on 127.0.0.1 and a socket in WORK_DIR.

pg_bin=''
pg_data=''
pg_user=''
[ -n "${is_root:-}" ] || { is_root=false; [ "$(id -u)" -eq 0 ] && is_root=true; }

# The newest PostgreSQL server binaries: Debian keeps them under /usr/lib/postgresql/<major>/bin.
find_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  local initdb
  initdb=$(command -v initdb 2>/dev/null) || return 1
  [ -x "$(dirname "$initdb")/pg_ctl" ] || return 1
  dirname "$initdb"
}

as_pg_user() {
  if [ "$is_root" = true ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

throwaway_postgres_stop() {
  if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
    as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
      warn "could not stop PostgreSQL in $pg_data"
  fi
}

throwaway_postgres_start() {
  local work_dir=$1
  if [ -n "${TEST_DATABASE_URL:-}" ]; then
    printf '\n==> PostgreSQL: using TEST_DATABASE_URL from the environment\n'
    return 0
  fi
  if ! pg_bin=$(find_pg_bin); then
    pg_bin=''
    return 1
  fi
  phase 'start PostgreSQL'
  if [ "$is_root" = true ]; then
    # initdb refuses to run as root: use the postgres system user, or make one.
    if id -u postgres >/dev/null 2>&1; then
      pg_user=postgres
    else
      pg_user=hearth-pg
      id -u "$pg_user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pg_user"
    fi
  else
    pg_user=$(id -un)
  fi
  local pg_dir="$work_dir/postgres"
  mkdir -p "$pg_dir"
  if [ "$is_root" = true ]; then
    chmod 711 "$work_dir" # mktemp made it 0700: let the PostgreSQL user reach its own directory
    chown "$pg_user" "$pg_dir"
  fi
  chmod 700 "$pg_dir"
  local port
  port=$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
  as_pg_user "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    --no-sync >"$work_dir/initdb.log" 2>&1 || { cat "$work_dir/initdb.log" >&2; exit 1; }
  pg_data="$pg_dir/data"
  if ! as_pg_user "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_dir/postgres.log" -w -t 60 \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null; then
    cat "$pg_dir/postgres.log" >&2
    exit 1
  fi
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "TEST_DATABASE_URL=$TEST_DATABASE_URL ($("$pg_bin/postgres" --version))"
  phase_done
}
