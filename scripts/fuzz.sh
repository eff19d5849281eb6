#!/usr/bin/env bash
# Fuzz every parser of untrusted bytes: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each cargo-fuzz target of fuzz/ (all by default) for SECONDS (default 60), one
# at a time, and prints executions and crashes per target; exits 1 if any crashed.
# FUZZ_RUNS=N stops a target after N executions if that comes first, e.g.
#   FUZZ_RUNS=1000000 scripts/fuzz.sh 900      # 1M executions each, 15 min at most
# Seeds come from fuzz/corpus/<target>/ (committed, small); what the fuzzer learns
# goes to fuzz/work/<target>/ (git-ignored) and is reused by the next run.
# A crash leaves its input in fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>
#
# Toolchain: cargo-fuzz needs nightly-only flags (-Zsanitizer=address, -Cpasses=
# sancov). This machine's toolchain is stable and no other can be fetched, so the
# stable compiler is told to accept them with RUSTC_BOOTSTRAP=1 (the stable
# rust-std ships the ASan runtime). Set QUARRY_FUZZ_TOOLCHAIN=nightly to use a
# nightly toolchain instead when one is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked
fi

fuzz=(cargo fuzz)
if [[ -n "${QUARRY_FUZZ_TOOLCHAIN:-}" ]]; then
  fuzz=(cargo "+${QUARRY_FUZZ_TOOLCHAIN}" fuzz)
else
  export RUSTC_BOOTSTRAP=1
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi

# Builds once (release, debug assertions and overflow checks, AddressSanitizer).
"${fuzz[@]}" build >&2

status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  log="fuzz/work/$t.log"
  echo "== $t: ${secs}s" >&2
  # -malloc_limit_mb: one allocation over 256 MiB is a bug here (inputs are a few KiB).
  set +e
  "${fuzz[@]}" run "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(find "fuzz/artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  if [[ $rc -ne 0 && $crashes -eq 0 ]]; then crashes="? (exit $rc, see $log)"; fi
  if [[ $rc -ne 0 || "$crashes" != 0 ]]; then status=1; fi
  summary+=("$(printf '%-12s %12s execs %8s exec/s   crashes: %s' "$t" "${execs:-?}" "${speed:-?}" "$crashes")")
  echo "${summary[-1]}" >&2
done

echo
echo "fuzzed ${secs}s per target:"
printf '%s\n' "${summary[@]}"
exit $status
