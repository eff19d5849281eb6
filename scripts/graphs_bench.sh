#!/usr/bin/env bash
# Graph-tier measurements of README "Per-partition graphs": scan / graph / auto /
# partial rows on GloVe-50 (32 partitions) and Fashion-MNIST (16 partitions), direct I/O.
# Needs data/glove-50 and data/fashion-mnist (scripts/fetch_*.sh); builds the indexes
# under data/*/graphs-* when missing. Run on a quiet machine for QPS figures.
set -euo pipefail
Q=${Q:-target/release/quarry}
G=data/glove-50; F=data/fashion-mnist; O=bench/results/graphs
[ -d $G/graphs-32 ] || $Q build --base $G/base.fbin --out $G/graphs-32 --partitions 32 --metric cosine --graphs
[ -d $F/graphs-16 ] || $Q build --base $F/base.u8bin --out $F/graphs-16 --partitions 16 --metric l2 --graphs
MODES=${MODES:-"scan graph auto partial"}
for mode in $MODES; do
  ef=32,48,64; [ $mode = scan ] && ef=64
  $Q --quiet bench --index $G/graphs-32 --queries $G/queries.fbin --gt $G/gt100.ibin \
    --nprobe 5,6 --ef $ef --single-limit 200 --mode $mode --label glove32-$mode --out-dir $O/glove-32
  ef=16,32,64; [ $mode = scan ] && ef=64
  $Q --quiet bench --index $F/graphs-16 --queries $F/queries.u8bin --gt $F/gt100.ibin \
    --nprobe 3 --spann-eps 0.1 --ef $ef --single-limit 200 --mode $mode --label fm16-spann-$mode --out-dir $O/fashion-16
done
# The cost-model sweep (thread CPU time per partition, scan vs graph).
for ef in 16 32 64 128; do
  $Q dev graph-calibrate --index $G/graphs-32 --queries $G/queries.fbin --partitions 2 --q 1,8,64,256,1024 --ef $ef | grep -v '^{'
  $Q dev graph-calibrate --index $F/graphs-16 --queries $F/queries.u8bin --partitions 2 --q 1,16,1024 --ef $ef | grep -v '^{'
done
