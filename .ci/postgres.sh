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
# The TechEmpower benchmark's tables (its own create script, idempotent):
# World, 10,000 rows of random numbers 1..10000; Fortune, the 12 fortunes.
PGPASSWORD=benchmarkdbpass psql -h 127.0.0.1 -U benchmarkdbuser -d hello_world -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE TABLE IF NOT EXISTS World (
  id integer NOT NULL,
  randomNumber integer NOT NULL default 0,
  PRIMARY KEY (id)
);
INSERT INTO World (id, randomnumber)
  SELECT x.id, least(floor(random() * 10000 + 1), 10000)
  FROM generate_series(1, 10000) AS x(id)
  ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS Fortune (
  id integer NOT NULL,
  message varchar(2048) NOT NULL,
  PRIMARY KEY (id)
);
INSERT INTO Fortune (id, message) VALUES
  (1, 'fortune: No such file or directory'),
  (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
  (3, 'After enough decimal places, nobody gives a damn.'),
  (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
  (5, 'A computer program does what you tell it to do, not what you want it to do.'),
  (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
  (7, 'Any program that runs right is obsolete.'),
  (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
  (9, 'Feature: A bug with seniority.'),
  (10, 'Computers make very fast, very accurate mistakes.'),
  (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
  (12, 'フレームワークのベンチマーク')
  ON CONFLICT DO NOTHING;
SQL
echo "postgres: $(psql_admin 'show server_version') on 127.0.0.1:5432 (todos, hello_world)"
