#!/usr/bin/env bash
# Install (Debian's postgresql) and start a local PostgreSQL server for the store tests, create the test role
# and database, and print the URL the tests read from STEMDM_TEST_PG_URL. Safe to run twice.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
  $SUDO pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  $SUDO pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
as_postgres() { $SUDO su postgres -c "$1"; }
for _ in $(seq 1 30); do as_postgres "pg_isready -q -p $port" && break; sleep 1; done
if ! as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_roles WHERE rolname='stemdm'\"" | grep -q 1; then
  as_postgres "psql -p $port -qc \"CREATE ROLE stemdm LOGIN CREATEDB PASSWORD 'stemdm'\"" >&2
fi
if ! as_postgres "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname='stemdm_test'\"" | grep -q 1; then
  as_postgres "createdb -p $port -O stemdm stemdm_test" >&2
fi
echo "postgresql://stemdm:stemdm@127.0.0.1:${port}/stemdm_test"
