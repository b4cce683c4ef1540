#!/bin/sh
# Run once by the postgres image, on an empty data directory, as the superuser: Dagster and
# Argilla each get a login role of their own (not a superuser) owning its own database, and
# no other role may connect to either database. The passwords come from the environment
# (docker-compose.yml); psql reads them with \getenv and quotes them itself, so they never
# appear on a command line and any character is safe in them.
#
# The names default to dagster and argilla, as docker-compose.yml expects them.
set -e
: "${DAGSTER_PG_PASSWORD:?set DAGSTER_PG_PASSWORD}"
: "${ARGILLA_PG_PASSWORD:?set ARGILLA_PG_PASSWORD}"
export DAGSTER_PG_ROLE="${DAGSTER_PG_ROLE:-dagster}" DAGSTER_PG_DB="${DAGSTER_PG_DB:-dagster}"
export ARGILLA_PG_ROLE="${ARGILLA_PG_ROLE:-argilla}" ARGILLA_PG_DB="${ARGILLA_PG_DB:-argilla}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" <<'SQL'
\getenv dagster_role DAGSTER_PG_ROLE
\getenv dagster_db DAGSTER_PG_DB
\getenv dagster_password DAGSTER_PG_PASSWORD
\getenv argilla_role ARGILLA_PG_ROLE
\getenv argilla_db ARGILLA_PG_DB
\getenv argilla_password ARGILLA_PG_PASSWORD

CREATE ROLE :"dagster_role" LOGIN PASSWORD :'dagster_password';
CREATE DATABASE :"dagster_db" OWNER :"dagster_role";
REVOKE ALL ON DATABASE :"dagster_db" FROM PUBLIC;

CREATE ROLE :"argilla_role" LOGIN PASSWORD :'argilla_password';
CREATE DATABASE :"argilla_db" OWNER :"argilla_role";
REVOKE ALL ON DATABASE :"argilla_db" FROM PUBLIC;
SQL
