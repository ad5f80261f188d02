#!/bin/sh
# Creates the namespace and the custom search attributes that durable-responses writes, once the
# server answers. Safe to rerun: an existing namespace is left as it is, an existing attribute of
# the same type is accepted, and one of another type stops the stack with the CLI's message.
#
# Runs in temporalio/admin-tools (busybox sh); the `temporal` CLI reads TEMPORAL_ADDRESS.
set -eu

NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-72h}
ATTEMPTS=${INIT_ATTEMPTS:-60}
# The Keyword attributes of workflows/search_attributes.py; tests/test_compose.py keeps them equal.
KEYWORD_SEARCH_ATTRIBUTES="OpenAIResponseId OpenAIResponseStatus OpenAIModel"

# retry <what> <command...>: the frontend serves a new namespace only after its caches refresh.
retry() {
  what=$1
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$ATTEMPTS" ]; then
      echo "temporal-init: gave up after $ATTEMPTS attempts: $what" >&2
      exit 1
    fi
    n=$((n + 1))
    sleep 2
  done
}

healthy() {
  temporal operator cluster health >/dev/null 2>&1
}

namespace_exists() {
  temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1
}

ensure_namespace() {
  namespace_exists ||
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" ||
    namespace_exists # created meanwhile (a second init run), or the create is not visible yet
}

# One attribute a call: the CLI pairs each --name with a --type.
ensure_keyword() {
  if out=$(temporal operator search-attribute create \
    --namespace "$NAMESPACE" --name "$1" --type Keyword 2>&1); then
    return 0
  fi
  echo "$out" >&2
  case $out in
    *"different type"*) exit 1 ;; # waiting cannot fix a type clash
  esac
  return 1
}

retry "server health at ${TEMPORAL_ADDRESS:-localhost:7233}" healthy
retry "namespace $NAMESPACE" ensure_namespace
for name in $KEYWORD_SEARCH_ATTRIBUTES; do
  retry "search attribute $name" ensure_keyword "$name"
done
echo "temporal-init: namespace $NAMESPACE with Keyword attributes $KEYWORD_SEARCH_ATTRIBUTES"
