#!/bin/bash
# sw2.sh RATES cfg... (cfg = tree:mode:i, tree new=/work/main, base=/tmp/base); results /tmp/mic/s2-<tree>-<mode>-<i>.json
RATES=$1; shift
for cfg in "$@"; do
  t=${cfg%%:*}; rest=${cfg#*:}; m=${rest%%:*}; i=${rest##*:}
  TREE=/work/main; [ $t = base ] && TREE=/tmp/base
  pkill -f dist/src/main.js; sleep 2
  TREE=$TREE bash /tmp/mb2/run2.sh $m $RATES /tmp/mic/s2-$t-$m-$i.json
  echo "$cfg $(node -e 'try{const r=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(JSON.stringify(r.result.max_sustained))}catch(e){console.log("failed")}' /tmp/mic/s2-$t-$m-$i.json)" >> /tmp/mic/s2-summary.txt
done
echo finished >> /tmp/mic/s2-summary.txt
