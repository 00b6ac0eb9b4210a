#!/bin/bash
# budget.sh ROUNDS: alternates variants in route-bench (100k msgs, 400/turn, callbacks)
R=${1:-5}
for r in $(seq 1 $R); do
  for v in main:on e1:on e2:on e3:on main:off; do
    t=${v%%:*}; m=${v##*:}; d=/tmp/$t; [ $t = main ] && d=/work/main
    out=$(cd $d && node dist/bench/route-bench.js 100000 1 400 $m callbacks 2>&1 | grep "run 1")
    echo "$v $out"
  done
done
