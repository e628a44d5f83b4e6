#!/bin/bash
# Capacity of one node against two on one Redis, with the bench load generator.
#
#   scripts/bench_cluster.sh MODE [ROOMS]     MODE: single (no cluster) | one | two
#
# 8 clients per room, 30 Hz ticks, 30 inputs/s per client, a 15 s window. With
# two nodes loadgen's `-addr A,B` starts the clients of room r at node r mod 2
# and `-pid A,B` sums the nodes' CPU. Env: PY (python), LOADGEN (loadgen binary),
# RECORD (--record, the default: each node archives its matches into a data dir of
# its own under a temporary directory; --no-record: no archive).
set -u
MODE=$1; ROOMS=${2:-64}
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
LOADGEN=${LOADGEN:-/work/shared/bench/bin/loadgen}
free_port() { $PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
RP=$(free_port); P1=$(free_port); P2=$(free_port)
redis-server --port $RP --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
RPID=$!
for _ in $(seq 50); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
export PYTHONPATH=src TICKCAST_LOG_LEVEL=WARNING
RECORD=${RECORD:---record}
DATA=$(mktemp -d)
serve() { $PY -m tickcast serve --port "$1" --no-http --tick-rate 30 --data-dir "$DATA/$1" "${@:2}" >/dev/null 2>&1 & }
N2=""
case $MODE in
  single) serve $P1 --no-record; N1=$!; ADDR=127.0.0.1:$P1; PIDS=$N1 ;;
  one) serve $P1 $RECORD --cluster redis://127.0.0.1:$RP/0; N1=$!; ADDR=127.0.0.1:$P1; PIDS=$N1 ;;
  two) serve $P1 $RECORD --cluster redis://127.0.0.1:$RP/0; N1=$!
       serve $P2 $RECORD --cluster redis://127.0.0.1:$RP/0; N2=$!
       ADDR=127.0.0.1:$P1,127.0.0.1:$P2; PIDS=$N1,$N2 ;;
  *) echo "usage: $0 single|one|two [ROOMS]" >&2; kill $RPID; exit 2 ;;
esac
for a in ${ADDR//,/ }; do
  for _ in $(seq 100); do (echo > /dev/tcp/${a%:*}/${a#*:}) 2>/dev/null && break; sleep 0.2; done
done
sleep 1
$LOADGEN -addr $ADDR -rooms $ROOMS -per-room 8 -input-hz 30 -duration 15 -warmup 3 -pid $PIDS
echo "redis CPU seconds: $(awk '{print ($14+$15)/100}' /proc/$RPID/stat)"
kill $N1 $N2 2>/dev/null
wait $N1 $N2 2>/dev/null
kill $RPID
rm -rf "$DATA"
