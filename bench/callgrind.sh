#!/usr/bin/env bash
# Counts the instructions that an echo server runs per round trip, and the
# 64-byte lines of code they come from, function by function, at one
# connection: valgrind's callgrind counts each instruction executed, so the
# figures repeat from run to run whatever else the machine does, where
# run.sh's times move with it. Instructions are not time: a line of code
# that a wait evicted costs more than many instructions. But they tell what
# a change to the per-event path did to it, without noise.
#
# Usage (from the repository root or bench/):
#   bash bench/callgrind.sh [server ...]      default: rawepoll ours
# environment:
#   WINDOW=3      the seconds counted, after a second and a half of warm-up
#   BASE=<rev>    builds that revision's example server as "base" (as run.sh)
#
# It builds into a directory of its own, never touching run.sh's bench/bin.
#
# Needs valgrind (Debian's package) and Go. One server at a time runs under
# callgrind on CPU 0, with GOMAXPROCS=1 and asynchronous preemption off
# (callgrind cannot follow its signals), against bench/load on CPU 1.
set -euo pipefail

die() {
	echo "callgrind.sh: $*" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=base.sh
source "$here/base.sh"
WINDOW=${WINDOW:-3}
[[ $WINDOW =~ ^[1-9][0-9]*$ ]] || die "WINDOW=$WINDOW: want whole seconds"
servers=("$@")
((${#servers[@]})) || servers=(rawepoll ours)

for tool in go valgrind callgrind_control python3 taskset; do
	command -v "$tool" >/dev/null || die "needs $tool"
done

work=$(mktemp -d)
vg=
cleanup() {
	[[ -n $vg ]] && kill -9 "$vg" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bin=$work/bin
mkdir "$bin"
export CGO_ENABLED=0 # as run.sh builds them
(cd "$here" && go build -o "$bin/" ./servers/rawepoll ./servers/ours ./load)
(cd "$root" && go build -o "$bin/example" ./examples/echo-server)
if [[ -n ${BASE:-} ]]; then
	mkdir "$work/src"
	build_base "$BASE" "$root" "$bin" "$work/src"
fi

for name in "${servers[@]}"; do
	case $name in
	rawepoll | ours | example | base) ;;
	*) die "server $name: want rawepoll, ours, example or base" ;;
	esac
	[[ -x $bin/$name ]] || die "server $name not built (BASE unset?)"
	out=$work/$name.callgrind
	# cpu.rdtscp=off: valgrind 3.19 cannot run RDTSCP, which the runtime's
	# cputicks uses when a lock is contended (SIGILL).
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=1 taskset -c 0 \
		valgrind --tool=callgrind --dump-instr=yes --dump-line=no --compress-pos=no \
		--compress-strings=no --callgrind-out-file="$out" \
		"$bin/$name" -addr 127.0.0.1:0 >"$work/$name.log" 2>"$work/$name.err" &
	vg=$!
	for _ in $(seq 100); do
		grep -q '^listening on' "$work/$name.log" 2>/dev/null && break
		sleep 0.1
	done
	addr=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$work/$name.log")
	[[ -n $addr ]] || die "$name did not start: $(tail -3 "$work/$name.err")"
	# The load runs longer than the window, which is zeroed after its
	# warm-up and dumped before it ends: only steady ping-pong is counted.
	taskset -c 1 "$bin/load" -addr "$addr" -pid "$vg" -conns 1 -size 64 \
		-warmup 1s -duration "$((WINDOW + 2))s" >"$work/$name.load" 2>&1 &
	load=$!
	sleep 1.5
	callgrind_control -z "$vg" >/dev/null 2>&1
	sleep "$WINDOW"
	callgrind_control -d "$vg" >/dev/null 2>&1
	wait "$load" || die "$name: the load failed: $(tail -3 "$work/$name.load")"
	kill -9 "$vg" 2>/dev/null
	wait "$vg" 2>/dev/null || true
	vg=
	dump=$(ls "$out".* 2>/dev/null | head -1)
	[[ -n $dump ]] || die "$name: callgrind wrote no dump"
	echo "### $name"
	echo
	python3 "$here/callgrind.py" "$dump" "$bin/$name"
	echo
done
