#!/usr/bin/env bash
# The device's sequential direct-I/O read bandwidth: a plain O_DIRECT sequential
# read (dd iflag=direct, 1 MiB blocks) of a large file, the yardstick for
# `quarry search --io direct` read rates.
set -euo pipefail
FILE="${1:-data/disk-probe.bin}"
SIZE_MB="${2:-2048}"
mkdir -p "$(dirname "$FILE")"
if [ ! -f "$FILE" ] || [ "$(stat -c %s "$FILE")" -lt $((SIZE_MB << 20)) ]; then
  dd if=/dev/urandom of="$FILE" bs=1M count="$SIZE_MB" oflag=direct status=none
fi
dd if="$FILE" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct 2>&1 | tail -1
