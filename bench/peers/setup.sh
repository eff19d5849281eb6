#!/usr/bin/env bash
# Create bench/peers/.venv and install the pinned peer engines from requirements.txt.
# Idempotent: an existing venv is reused, and pip is skipped when every pin is
# already installed at its pinned version.
#
#   bench/peers/setup.sh            # create / update the venv
#   PYTHON=python3.11 bench/peers/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$venv"
fi

# Are all pins satisfied already? (name==version lines only)
satisfied() {
    "$venv/bin/python" - "$req" <<'EOF'
import sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != version:
        ok = False
sys.exit(0 if ok else 1)
EOF
}

if satisfied; then
    echo "setup: all pins in requirements.txt already installed" >&2
else
    echo "setup: installing requirements.txt into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
fi

"$venv/bin/python" -m pip check --disable-pip-version-check >&2
"$venv/bin/python" - <<'EOF'
import faiss, lancedb, numpy, pyarrow
import diskannpy  # noqa: F401 (diskannpy-rust)
from importlib import metadata
print("setup: ok: numpy %s, faiss-cpu %s, lancedb %s, pyarrow %s, diskannpy-rust %s" % (
    numpy.__version__, faiss.__version__, lancedb.__version__, pyarrow.__version__,
    metadata.version("diskannpy-rust")))
EOF
