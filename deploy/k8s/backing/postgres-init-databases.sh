#!/bin/sh
# One database per service, each owned by a role of its own that cannot reach the other one.
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d), and
# by the Kubernetes StatefulSet the same way. Passwords come from the environment:
# IDENTITY_DB_PASSWORD, CATALOG_DB_PASSWORD (they must match the DATABASE_URLs of the services).
# Changing them later does not touch an existing cluster: ALTER ROLE ... PASSWORD ... then.
set -e # (no -u: the image sources this file instead of running it when it is not executable)

create_database() {
  # psql variables (:"name", :'password') quote the values; nothing is spliced into SQL text.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v name="$1" -v password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_database identity "${IDENTITY_DB_PASSWORD:?IDENTITY_DB_PASSWORD is not set}"
create_database catalog "${CATALOG_DB_PASSWORD:?CATALOG_DB_PASSWORD is not set}"
