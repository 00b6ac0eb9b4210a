#!/bin/bash
# ab2.sh ROUNDS VARIANTS...  (variant = dir:mode), route-bench 100k msgs 400/turn callbacks
R=$1; shift
for r in $(seq 1 $R); do
  for v in "$@"; do
    d=${v%%:*}; m=${v##*:}
    out=$(cd $d && node dist/bench/route-bench.js 100000 1 400 $m callbacks 2>&1 | grep "run 1")
    echo "$(basename $d):$m $out"
  done
done
