#!/usr/bin/env bash
# Installs (Debian's package) and starts PostgreSQL on 127.0.0.1:5432, and
# creates the databases the tests use:
#   todos        owned by percore/percore            (examples/todos)
#   hello_world  owned by benchmarkdbuser/benchmarkdbpass (examples/techempower)
# Idempotent: safe to run again on a machine where it already ran.
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  $sudo pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  $sudo pg_ctlcluster "$version" main start
fi
as_postgres() { $sudo -u postgres "$@" 2>/dev/null || su postgres -c "$(printf '%q ' "$@")"; }
psql_admin() { as_postgres psql -v ON_ERROR_STOP=1 -qtAc "$1"; }
for i in $(seq 1 50); do psql_admin "select 1" >/dev/null && break; sleep 0.2; done
role() { # name password
  if [ -z "$(psql_admin "select 1 from pg_roles where rolname = '$1'")" ]; then
    psql_admin "create role $1 login password '$2'"
  fi
}
db() { # name owner
  if [ -z "$(psql_admin "select 1 from pg_database where datname = '$1'")" ]; then
    psql_admin "create database $1 owner $2"
  fi
}
role percore percore
db todos percore
role benchmarkdbuser benchmarkdbpass
db hello_world benchmarkdbuser
echo "postgres: $(psql_admin 'show server_version') on 127.0.0.1:5432 (todos, hello_world)"
