#!/usr/bin/env bash
# Durability of `quarry serve`: TRIALS (20) times, start the server, stream upserts
# into it (16 clients, 8 points per request, each acknowledged only once durable in
# the write-ahead log), SIGKILL it at a random moment, restart it and check that
# every id acknowledged before the kill is searchable with its vector (exact
# search, k = 1); at the end every id acknowledged in any trial, before and after
# a SIGTERM (drain + flush) and another restart.
set -euo pipefail
cd "$(dirname "$0")/.."
QUARRY="${QUARRY:-target/release/quarry}"
LOAD="${LOAD:-target/release/quarry-load}"
TRIALS="${TRIALS:-20}"
source scripts/serve_common.sh
[ -x "$QUARRY" ] && [ -x "$LOAD" ] || cargo build --release --quiet -p quarry-cli -p quarry-server
# Under target/ (not /tmp, which may be a tmpfs without O_DIRECT); kept on failure.
work="${WORK:-target/serve-kill}"
rm -rf "$work"; mkdir -p "$work"
trap '[ -n "${SERVER_PID:-}" ] && kill -9 "$SERVER_PID" 2>/dev/null; true' EXIT
"$QUARRY" --quiet synth --out "$work/base.fbin" --n 20000 --dim 32 --clusters 50 --queries 10 --queries-out "$work/q.fbin"
"$QUARRY" --quiet build --base "$work/base.fbin" --out "$work/idx" --partitions 32
all="$work/acked-all.txt"; : > "$all"
check() { # FILE: every id in it present
  local r
  r=$("$LOAD" check-acked --addr "$ADDR" --acked "$1")
  python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if not r['missing'] else 1)" "$r" \
    || { echo "MISSING after restart: $r" >&2; exit 1; }
  python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r['acked'])" "$r"
}
total=0
for t in $(seq 1 "$TRIALS"); do
  start_server "$work/server-$t.log" --index "$work/idx"
  acked="$work/acked-$t.txt"; : > "$acked"
  "$LOAD" run --addr "$ADDR" --upsert-fraction 1 --upsert-batch 8 --concurrency 16 --duration 60 \
    --first-id $((t * 100000000)) --acked-out "$acked" --max-errors 16 > "$work/load-$t.json" 2>&1 &
  lpid=$!
  sleep "$(python3 -c "import random; print(round(random.uniform(0.5, 3.0), 2))")"
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  wait "$lpid" || true
  cat "$acked" >> "$all"
  start_server "$work/server-$t-restart.log" --index "$work/idx"
  n=$(check "$acked")
  total=$((total + n))
  echo "trial $t: killed during upserts; $n acknowledged, all present after restart"
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
done
start_server "$work/server.log" --index "$work/idx"
check "$all" >/dev/null
stop_server
start_server "$work/server.log" --index "$work/idx"
n=$(check "$all")
stop_server
SERVER_PID=""
"$QUARRY" verify --index "$work/idx" >/dev/null
rm -rf "$work"
echo "serve_kill.sh: $TRIALS SIGKILLs during upsert load, $n acknowledged upserts, 0 missing (also after SIGTERM + flush + restart; verify clean)"
