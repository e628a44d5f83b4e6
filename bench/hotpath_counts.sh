#!/bin/sh
# Instruction counts (callgrind) of bench/hotpath.py's workloads: the cost of
# 200 ticks (a run of 300 minus a run of 100: imports and set-up cancel out).
#   bench/hotpath_counts.sh [SRC_DIR]   (default: ./src)
src=${1:-src}
py=${PYTHON:-.venv/bin/python}
count() {
    PYTHONHASHSEED=0 PYTHONPATH=$src valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$py" bench/hotpath.py --workload "$1" --ticks "$2" 2>&1 |
        sed -n 's/.*I *refs: *//p' | tr -d ,
}
for w in inputs quiet fanout recorded; do
    a=$(count $w 100)
    b=$(count $w 300)
    echo "$w: $(( (b - a) / 200 )) instructions per tick cycle"
done
