# Helpers for the `quarry serve` scripts (sourced, not run).
# start_server LOG ARGS...: starts `$QUARRY serve ARGS --addr 127.0.0.1:0` in the
# background, sets SERVER_PID and ADDR (from the "listening on" line), and waits
# for /healthz to answer 200 (the log replayed).
start_server() {
  local log=$1; shift
  : > "$log" # before the server starts: never read an older server's address
  "$QUARRY" serve "$@" --addr 127.0.0.1:0 2>"$log" &
  SERVER_PID=$!
  ADDR=""
  for _ in $(seq 1 600); do
    ADDR=$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$log" | head -1)
    [ -n "$ADDR" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  [ -n "$ADDR" ] || { echo "server did not start" >&2; cat "$log" >&2; return 1; }
  for _ in $(seq 1 3000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/healthz")" = 200 ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "server not ready after 300 s: $(curl -s "http://$ADDR/healthz")" >&2
  cat "$log" >&2
  return 1
}

# stop_server: SIGTERM (drain + flush) and wait for its exit status.
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local rc=0
  wait "$SERVER_PID" || rc=$?
  return $rc
}

# total requests the server has answered (its /metrics)
requests_answered() {
  curl -s "$@" "http://$ADDR/metrics" | awk '/^quarry_http_requests_total\{/ {s += $2} END {print s + 0}'
}
