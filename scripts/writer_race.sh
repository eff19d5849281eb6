#!/usr/bin/env bash
# Two writers started together, 50 trials per pair of writing commands, with a reader
# searching throughout (crates/quarry-cli/tests/writer_race.rs). Prints the tally.
set -euo pipefail
cd "$(dirname "$0")/.."
QUARRY_RACE_TRIALS="${QUARRY_RACE_TRIALS:-50}" cargo test --locked -p quarry-cli \
  --test writer_race -- --nocapture 2>&1 | grep -E "trials:|test result|panicked"
