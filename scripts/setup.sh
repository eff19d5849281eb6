#!/usr/bin/env bash
# Installs the system packages the build needs if they are missing. Today there
# are none: the workspace builds with the Rust toolchain alone (no C library is
# linked; `quarry plot` draws text with a font compiled into the binary, see
# crates/quarry-cli/assets/). .ci/run and scripts/bench_all.sh still call this
# script, so a future system need goes here.
set -euo pipefail
command -v cargo >/dev/null 2>&1 || {
  echo "setup.sh: cargo not found; install the Rust toolchain (rustup)" >&2
  exit 1
}
