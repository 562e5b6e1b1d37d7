#!/bin/sh
# with-parent.sh PARENT_PID COMMAND...
# Runs COMMAND and stops it when PARENT_PID is gone, so a crashed test run or demo never leaves a
# broker or database behind. /proc is checked instead of `kill -0` because the command may run
# as another user (Postgres refuses to run as root), for whom kill -0 on root's pid fails.
# STOP_SIGNAL picks the signal that means "shut down cleanly" (Postgres: INT, a fast shutdown;
# its TERM waits for every client to leave).
sig=${STOP_SIGNAL:-TERM}
parent=$1
shift
"$@" &
child=$!
stop_child() {
  kill -"$sig" "$child" 2>/dev/null
  i=0
  while kill -0 "$child" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
  kill -KILL "$child" 2>/dev/null
  wait "$child" 2>/dev/null
}
trap 'stop_child; exit 0' TERM INT
while [ -d "/proc/$parent" ] && kill -0 "$child" 2>/dev/null; do
  sleep 0.5
done
if kill -0 "$child" 2>/dev/null; then
  stop_child
  exit 0
fi
wait "$child"
