#!/usr/bin/env bash
# The main job: build, start the mock server, listen with mpsync-cli, push two messages with curl.
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target mpsync-mock-server mpsync-cli >/dev/null

work=$(mktemp -d)
server_pid="" cli_pid="" stub_pid=""
cleanup() {
  [ -n "$cli_pid" ] && kill "$cli_pid" 2>/dev/null || true
  [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/biz.json" <<'JSON'
[{"bizType": "UCHAT", "description": "chat messages", "scope": "specified",
  "dimension": "user", "multiDevice": true, "persistent": true, "repushMode": "queue",
  "userConsistency": true}]
JSON

echo "== making a throwaway CA and a certificate for localhost"
bash tests/tls/make_certs.sh "$work/pki"

echo "== starting the tenant's session validator (guide §5.4): SESSION_DEMO is a valid session"
mkfifo "$work/stub-ready"
python3 tools/mock_server/validator_stub.py --valid-sessions SESSION_DEMO >"$work/stub-ready" &
stub_pid=$!
read -r stub_ready <"$work/stub-ready"
echo "$stub_ready"
validate_url="http://127.0.0.1:${stub_ready##*port=}/validate"

echo "== starting the mock server (long-link over TLS; UCHAT needs a validated user)"
mkfifo "$work/ready"
build/bin/mpsync-mock-server --http 127.0.0.1:0 --link-tls 127.0.0.1:0 \
  --cert "$work/pki/server.pem" --key "$work/pki/server.key" --data "$work/server" \
  --biz-file "$work/biz.json" --validate-url "$validate_url" >"$work/ready" 2>"$work/server.log" &
server_pid=$!
read -r ready <"$work/ready"
echo "$ready"
echo "admin API token (docs/ADMIN.md): $(cat "$work/server/admin-token")"
http=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$ready")
link=$(sed -n 's/.* link_tls=\([^ ]*\).*/\1/p' <<<"$ready")

echo "== mpsync-cli listens as user 2088102147396225 (TLS, server verified against the demo CA)"
build/bin/mpsync-cli listen --server "$link" --ca "$work/pki/ca.pem" --server-name localhost \
  --instance demo_app --data "$work/client" \
  --biz UCHAT --user 2088102147396225 --session SESSION_DEMO --count 2 --verbose \
  >"$work/out.jsonl" 2>"$work/cli.log" &
cli_pid=$!
for _ in $(seq 100); do grep -q "state CONNECTED" "$work/cli.log" && break; sleep 0.1; done

push() {
  echo "POST /webapi/sync/single  $1"
  curl -sS -X POST -H 'Content-Type: application/json' \
    "http://$http/webapi/sync/single?instanceId=demo_app" -d "$1"
  echo
}
echo "== pushing a text and a binary message"
push '{"bizType":"UCHAT","linkToken":"2088102147396225","thirdMsgId":"demo-text-1","payload":"{\"name\":\"李四\",\"age\":\"30\"}"}'
push '{"bizType":"UCHAT","linkToken":"2088102147396225","thirdMsgId":"demo-bin-1","binaryPayload":"'"$(printf '\x00\x01binary\xff' | base64)"'"}'

wait "$cli_pid" && cli_pid=""
echo "== arrived in mpsync-cli (one JSON line per oplog; binary payloads in base64)"
cat "$work/out.jsonl"
echo "== reported"
grep "reported" "$work/cli.log" || true
