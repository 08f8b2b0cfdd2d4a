#!/bin/bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Creates one role and one database for vitrify and one for the Prefect server, with the
# passwords from the environment (psql variables: no quoting or injection problems).
# Changing a password later: ALTER ROLE ... PASSWORD ... (see deploy/README.md).
set -euo pipefail
: "${VITRIFY_DB_PASSWORD:?set VITRIFY_DB_PASSWORD}"
: "${PREFECT_DB_PASSWORD:?set PREFECT_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v vitrify_pw="$VITRIFY_DB_PASSWORD" -v prefect_pw="$PREFECT_DB_PASSWORD" <<'SQL'
CREATE ROLE vitrify LOGIN PASSWORD :'vitrify_pw';
CREATE DATABASE vitrify OWNER vitrify;
REVOKE ALL ON DATABASE vitrify FROM PUBLIC;
CREATE ROLE prefect LOGIN PASSWORD :'prefect_pw';
CREATE DATABASE prefect OWNER prefect;
REVOKE ALL ON DATABASE prefect FROM PUBLIC;
SQL
