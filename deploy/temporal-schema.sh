#!/bin/sh
# Creates the Temporal databases in PostgreSQL and brings both schemas to the version the
# admin-tools image ships: the job the deprecated auto-setup image did inside the server.
# Every step is a no-op on a current database, so it runs on every `docker compose up`, and
# after a bump of TEMPORAL_VERSION it is the schema upgrade (one minor version at a time).
#
# Runs in temporalio/admin-tools (busybox sh). temporal-sql-tool reads SQL_PLUGIN, SQL_HOST,
# SQL_PORT, SQL_USER and SQL_PASSWORD from the environment (docker-compose.yml sets them).
set -eu

SCHEMA_DIR=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
ATTEMPTS=${SCHEMA_ATTEMPTS:-30}

# The database may still be starting (or restarting) although it reported healthy once.
n=1
until temporal-sql-tool --db "${DBNAME:-temporal}" create; do
  if [ "$n" -ge "$ATTEMPTS" ]; then
    echo "temporal-schema: PostgreSQL at ${SQL_HOST:-?} refused $ATTEMPTS times" >&2
    exit 1
  fi
  n=$((n + 1))
  sleep 2
done

# migrate <database> <schema folder>: create it, stamp version 0.0 on a new one, apply updates.
migrate() {
  temporal-sql-tool --db "$1" create
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$SCHEMA_DIR/$2/versioned"
}

migrate "${DBNAME:-temporal}" temporal
migrate "${VISIBILITY_DBNAME:-temporal_visibility}" visibility
echo "temporal-schema: databases are current"
