#!/usr/bin/env bash
# Schemathesis (PyPI) against `quarry serve`: it reads /openapi.json and sends
# generated requests (valid and invalid) to every route; the run fails on any 5xx,
# a status the document does not list, a wrong content type or a body that breaks
# its schema. The server counts the requests it answered (its /metrics): at least
# MIN_REQUESTS (1,000) are required.
#
#   bash scripts/schemathesis.sh            # QUARRY=target/release/quarry to use a release build
set -euo pipefail
cd "$(dirname "$0")/.."
QUARRY="${QUARRY:-target/debug/quarry}"
VENV="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
MIN_REQUESTS="${MIN_REQUESTS:-1000}"
EXAMPLES="${EXAMPLES:-200}"
VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
source scripts/serve_common.sh
[ -x "$QUARRY" ] || cargo build --quiet -p quarry-cli
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi
work=$(mktemp -d)
cleanup() { [ -n "${SERVER_PID:-}" ] && kill -9 "$SERVER_PID" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$QUARRY" --quiet synth --out "$work/base.fbin" --n 3000 --dim 8 --clusters 20 \
  --queries 10 --queries-out "$work/q.fbin"
"$QUARRY" --quiet build --base "$work/base.fbin" --out "$work/idx" --partitions 8
# A short timeout and small limits, so the limits are exercised too.
start_server "$work/server.log" --index "$work/idx" --batch-window-ms 1 --max-k 100 \
  --max-queries 16 --max-points 16 --max-body-mb 1 --sync os
before=$(requests_answered)
rc=0
# From the scratch directory: schemathesis leaves a .schemathesis/ folder behind.
st="$(cd "$VENV" && pwd)/bin/schemathesis"
(cd "$work" && "$st" run "http://$ADDR/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" --seed 42 --no-color) 2>&1 | tail -40 || rc=$?
after=$(requests_answered)
n=$((after - before))
fives=$(curl -s "http://$ADDR/metrics" | awk '/^quarry_http_requests_total\{.*status="5/ {s += $2} END {print s + 0}')
stop_server || { echo "schemathesis.sh: the server exited non-zero on SIGTERM" >&2; cat "$work/server.log" >&2; exit 1; }
SERVER_PID=""
echo "schemathesis.sh: schemathesis exit $rc; the server answered $n requests, $fives with a 5xx"
[ "$rc" -eq 0 ] || exit 1
[ "$fives" -eq 0 ] || exit 1
[ "$n" -ge "$MIN_REQUESTS" ] || { echo "schemathesis.sh: fewer than $MIN_REQUESTS requests" >&2; exit 1; }
