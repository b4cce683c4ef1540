#!/bin/sh
# Run once by the postgres image, on an empty data directory, as the superuser: Dagster,
# Argilla and the search index each get a login role of their own (not a superuser) owning
# its own database, and no other role may connect to any of them. The index database gets
# the vector extension here, where a superuser can create it (the pgvector image has it). The passwords come from the environment
# (docker-compose.yml); psql reads them with \getenv and quotes them itself, so they never
# appear on a command line and any character is safe in them.
#
# The names default to dagster, argilla and embedloop_index, as docker-compose.yml expects.
set -e
: "${DAGSTER_PG_PASSWORD:?set DAGSTER_PG_PASSWORD}"
: "${ARGILLA_PG_PASSWORD:?set ARGILLA_PG_PASSWORD}"
: "${INDEX_PG_PASSWORD:?set INDEX_PG_PASSWORD}"
export INDEX_PG_ROLE="${INDEX_PG_ROLE:-embedloop_index}" INDEX_PG_DB="${INDEX_PG_DB:-embedloop_index}"
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

\getenv index_role INDEX_PG_ROLE
\getenv index_db INDEX_PG_DB
\getenv index_password INDEX_PG_PASSWORD
CREATE ROLE :"index_role" LOGIN PASSWORD :'index_password';
CREATE DATABASE :"index_db" OWNER :"index_role";
REVOKE ALL ON DATABASE :"index_db" FROM PUBLIC;
\connect :"index_db"
-- Where the server has pgvector (the pgvector image does); elsewhere the index's role
-- is told by embedloop that the extension is missing.
SELECT 'CREATE EXTENSION IF NOT EXISTS vector'
WHERE EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') \gexec
SQL
