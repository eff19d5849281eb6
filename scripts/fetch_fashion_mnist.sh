#!/usr/bin/env bash
# Fashion-MNIST (70,000 x 784 u8 images, L2) from the Debian package `dataset-fashion-mnist`.
# Produces, under ${QUARRY_DATA:-data}/fashion-mnist/:
#   base.u8bin     60,000 training images
#   queries.u8bin  10,000 test images
#   gt100.ibin     exact top-100 (L2) of every query, by `quarry gt`
#   SHA256SUMS
# Needs apt-get and dpkg-deb (Debian/Ubuntu) and python3 (standard library only).
# Re-running reuses what is already there; delete the directory to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${QUARRY_DATA:-data}/fashion-mnist"
QUARRY="${QUARRY:-${CARGO_TARGET_DIR:-target}/release/quarry}"
mkdir -p "$DATA/download"
if [ ! -f "$DATA/download/train-images-idx3-ubyte.gz" ] || [ ! -f "$DATA/download/t10k-images-idx3-ubyte.gz" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download dataset-fashion-mnist); then
    echo "apt-get download failed; refreshing the package lists and retrying" >&2
    apt-get update >&2 || echo "apt-get update failed (not root? try: sudo apt-get update)" >&2
    (cd "$tmp" && apt-get download dataset-fashion-mnist)
  fi
  dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/root"
  for f in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz; do
    src="$(find "$tmp/root" -name "$f" -print -quit)"
    if [ -z "$src" ]; then
      echo "error: $f not found in dataset-fashion-mnist; the package layout changed" >&2
      exit 1
    fi
    cp "$src" "$DATA/download/$f"
  done
fi
[ -x "$QUARRY" ] || cargo build --release --quiet -p quarry-cli
if [ ! -f "$DATA/gt100.ibin" ]; then
  rm -f "$DATA/base.u8bin" "$DATA/queries.u8bin"
  python3 - "$DATA" <<'PY'
import gzip, os, struct, sys
data = sys.argv[1]
for src, dst, want in (("train-images-idx3-ubyte.gz", "base.u8bin", 60000),
                       ("t10k-images-idx3-ubyte.gz", "queries.u8bin", 10000)):
    with gzip.open(f"{data}/download/{src}", "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803 or n != want:
            sys.exit(f"error: {src}: magic {magic:#x}, {n} images; expected an idx3 file of {want}")
        d = rows * cols
        tmp = f"{data}/{dst}.tmp"
        with open(tmp, "wb") as out:
            out.write(struct.pack("<II", n, d))
            left = n * d
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    sys.exit(f"error: {src}: truncated, {left} bytes missing")
                out.write(chunk)
                left -= len(chunk)
        os.replace(tmp, f"{data}/{dst}")
    print(f"{dst}: {n} x {d} u8", file=sys.stderr)
PY
  "$QUARRY" --quiet gt --base "$DATA/base.u8bin" --queries "$DATA/queries.u8bin" --k 100 --metric l2 --out "$DATA/gt100.ibin"
fi
(cd "$DATA" && sha256sum base.u8bin queries.u8bin gt100.ibin > SHA256SUMS && cat SHA256SUMS)
