#!/usr/bin/env bash
# First start of the compose PostgreSQL: one database and one login role per use, no superuser.
#   dagster         owns the `dagster` database (Dagster's runs, event log, schedules)
#   modelmon_writer owns the `modelmon_warehouse` database (the pipeline's tables)
#   modelmon_reader may only read the warehouse (dashboards, ad-hoc queries)
# Passwords are read from the container's environment and passed as psql variables, never echoed.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres -d postgres \
  -v dagster_pw="$DAGSTER_PG_PASSWORD" -v writer_pw="$MODELMON_WAREHOUSE_PASSWORD" <<'SQL'
CREATE ROLE dagster LOGIN PASSWORD :'dagster_pw';
CREATE DATABASE dagster OWNER dagster;
CREATE ROLE modelmon_writer LOGIN PASSWORD :'writer_pw';
CREATE DATABASE modelmon_warehouse OWNER modelmon_writer;
CREATE ROLE modelmon_reader NOLOGIN;
REVOKE ALL ON DATABASE dagster FROM PUBLIC;
REVOKE ALL ON DATABASE modelmon_warehouse FROM PUBLIC;
GRANT CONNECT ON DATABASE modelmon_warehouse TO modelmon_reader;
\connect modelmon_warehouse
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE modelmon_writer IN SCHEMA public
  GRANT SELECT ON TABLES TO modelmon_reader;
GRANT USAGE ON SCHEMA public TO modelmon_reader;
SQL
