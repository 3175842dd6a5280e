#!/bin/sh
# Runs once in the `setup` container of docker-compose.yml.
set -eu
ES=http://elasticsearch:9200
KIBANA=http://kibana:5601

echo "setting the kibana_system password"
until curl -fsS -u "elastic:${ELASTIC_PASSWORD}" -X POST "$ES/_security/user/kibana_system/_password" \
    -H 'Content-Type: application/json' -d "{\"password\":\"${KIBANA_PASSWORD}\"}" >/dev/null; do
  sleep 5
done

echo "waiting for kibana"
until curl -fsS "$KIBANA/api/status" | grep -q '"level":"available"'; do
  sleep 5
done

echo "creating the data view"
# `override: true` makes this idempotent across restarts of the stack.
curl -fsS -u "elastic:${ELASTIC_PASSWORD}" -X POST "$KIBANA/api/data_views/data_view" \
  -H 'kbn-xsrf: true' -H 'Content-Type: application/json' \
  -d @- <<'JSON'
{
  "override": true,
  "data_view": {
    "id": "logweir-logs",
    "name": "logweir logs",
    "title": "logs-*-*",
    "timeFieldName": "@timestamp"
  }
}
JSON
echo
echo "done: open http://localhost:5601/app/discover"
