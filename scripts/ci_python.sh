#!/usr/bin/env bash
# The Python package's CI: builds ./python with pip in a fresh virtual environment
# (maturin from PyPI; the Rust toolchain is the only other need), checks its Rust
# code's style and lints, and runs its pytest suite, including the tests that pass
# indexes between Python and the `quarry` command.
#
# Called by .ci/run after the cargo tests. The package is built as users build it
# (`pip install ./python`: cargo's release profile, into the workspace's target/
# directory, see python/.cargo/config.toml); the dev profile would build little
# faster, since dependencies are optimised in both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# A fresh Debian/Ubuntu machine may lack Python or its venv module.
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv python3-pip
fi
"$PY" -c 'import sys; assert sys.version_info >= (3, 9), "the package needs Python >= 3.9"'
VENV=${QUARRY_VENV:-target/venv-ci}
rm -rf "$VENV"
"$PY" -m venv "$VENV"
VENV=$(cd "$VENV" && pwd)    # absolute: the steps below change directory
echo "=== pip install ./python (in $VENV)"
"$VENV/bin/pip" install --quiet "./python[test]"
echo "=== cargo fmt / clippy (python crate)"
cargo fmt --manifest-path python/Cargo.toml --check
# From python/, so its .cargo/config.toml (the shared target directory) applies.
(cd python && PYO3_PYTHON="$VENV/bin/python" \
  cargo clippy --locked --release --all-targets -- -D warnings 2>&1)
echo "=== pytest"
# The CLI the interop tests run (built already by the cargo tests before this).
if [ -z "${QUARRY_CLI:-}" ]; then
  cargo build -p quarry-cli --locked 2>&1
  QUARRY_CLI="$PWD/target/debug/quarry"
fi
QUARRY_CLI="$QUARRY_CLI" "$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
