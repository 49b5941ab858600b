#!/usr/bin/env bash
# Redraws bench/select-scaling.png: runs the root package's
# BenchmarkScaling (the time of one Select, one descriptor ready, against
# the number registered, for every backend) and plots it with bench/plot.
#
#   BENCHTIME=200ms  -benchtime of each point
#   COUNT=3          -count: each point is drawn at the median of its runs
#
# The benchmark's output is kept in bench/results/select-scaling.txt.
set -euo pipefail

BENCHTIME=${BENCHTIME:-200ms}
COUNT=${COUNT:-3}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$here/results"
out=$here/results/select-scaling.txt

(cd "$root" && go test -run '^$' -bench '^BenchmarkScaling$' -benchtime="$BENCHTIME" -count="$COUNT" .) | tee "$out"
(cd "$here" && go run ./plot -o "$here/select-scaling.png" "$out")
echo "wrote $here/select-scaling.png (from $out)" >&2
