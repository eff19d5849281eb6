#!/usr/bin/env bash
# Installs the system packages the project needs if they are missing. The build
# needs none: the workspace builds with the Rust toolchain alone (no C library is
# linked; `quarry plot` draws text with a font compiled into the binary, see
# crates/quarry-cli/assets/). The tests need strace: the kill matrix
# (crates/quarry-cli/tests/kill_matrix.rs) kills writers at each rename and fsync
# with `strace --inject`.
set -euo pipefail
command -v cargo >/dev/null 2>&1 || {
  echo "setup.sh: cargo not found; install the Rust toolchain (rustup)" >&2
  exit 1
}
if ! command -v strace >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq strace
fi
