#!/usr/bin/env bash
# Echo comparison: the selectors example server ("ours") against raw epoll,
# Go's net package, gnet and Python's selectors, under the same ping-pong
# load. Each server runs pinned to one CPU with GOMAXPROCS=1, the load
# generator to another, over loopback only. The servers take turns in
# interleaved rounds (A B C D E, A B C D E, ...), each run on a server
# started fresh and killed after, so that a drift in the machine's speed
# spreads over all of them.
#
# Needs go, python3 and taskset (util-linux). Settings, from the
# environment:
#
#   ROUNDS=3        rounds of every server in every scenario
#   DURATION=3s     measured window of a run
#   WARMUP=1s       traffic before it
#   SCENARIOS="1x64 50x64 200x64 50x16384"   connections x message bytes
#   SERVERS="rawepoll stdlib gnet python ours"
#   SERVER_CPU=0 LOAD_CPU=1
#
# A quick smoke run: ROUNDS=1 DURATION=0.5s WARMUP=0.2s bash bench/run.sh
#
# It prints a Markdown table per scenario and keeps the raw lines and the
# tables in bench/results/echo-<time>.{jsonl,md}. It exits 1 if any run
# failed (a wrong byte, a dropped connection, a server that did not start).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
WARMUP=${WARMUP:-1s}
SCENARIOS=${SCENARIOS:-"1x64 50x64 200x64 50x16384"}
SERVERS=${SERVERS:-"rawepoll stdlib gnet python ours"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=$here/bin
results=$here/results

die() {
	echo "run.sh: $*" >&2
	exit 1
}

for tool in go python3 taskset; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 100)) || die "ROUNDS=$ROUNDS: want 1 to 100"
for s in $SCENARIOS; do
	[[ $s =~ ^[0-9]+x[0-9]+$ ]] || die "SCENARIOS: $s is not CONNSxBYTES"
done
for name in $SERVERS; do
	case $name in
	rawepoll | stdlib | gnet | python | ours) ;;
	*) die "SERVERS: no server $name" ;;
	esac
done

echo "building..." >&2
mkdir -p "$bin" "$results"
(cd "$here" && go build -o "$bin/" ./servers/rawepoll ./servers/stdlib ./servers/gnet ./load ./report)
(cd "$root" && go build -o "$bin/ours" ./examples/echo-server)

work=$(mktemp -d)
server_pid=

# stop_server ends the running server: SIGTERM, then SIGKILL after 5 s.
stop_server() {
	[[ -n $server_pid ]] || return 0
	kill "$server_pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

cleanup() {
	stop_server
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME starts a fresh server on a free loopback port, pinned
# to SERVER_CPU, and sets server_pid and server_addr from its first line.
start_server() {
	local cmd
	case $1 in
	python) cmd=(python3 "$here/servers/python/echo.py") ;;
	*) cmd=("$bin/$1") ;;
	esac
	: >"$work/out"
	# taskset execs the server, so $! is the server's own process id,
	# whose /proc/PID/stat load reads.
	GOMAXPROCS=1 taskset -c "$SERVER_CPU" "${cmd[@]}" -addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
	server_pid=$!
	local line=
	for ((i = 0; i < 100; i++)); do # 10 s at most
		line=$(head -n 1 "$work/out")
		[[ $line =~ ^listening\ on\ ([^ ]+)\ \(.*\)$ ]] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! $line =~ ^listening\ on\ ([^ ]+)\ \(.*\)$ ]]; then
		echo "run.sh: $1 did not start: ${line:-no output}" >&2
		cat "$work/err" >&2
		stop_server
		return 1
	fi
	server_addr=${BASH_REMATCH[1]}
}

label() { # 50x16384 -> "50 connections, 16 KiB messages"
	local conns=${1%x*} size=${1#*x} unit="B"
	if ((size >= 1024 && size % 1024 == 0)); then
		size=$((size / 1024)) unit="KiB"
	fi
	local c="connections"
	((conns == 1)) && c="connection"
	echo "$conns $c, $size $unit messages"
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw=$results/echo-$stamp.jsonl
tables=$results/echo-$stamp.md
: >"$raw"
failures=0
echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP, servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU" >&2

for ((round = 1; round <= ROUNDS; round++)); do
	for s in $SCENARIOS; do
		conns=${s%x*} size=${s#*x} scenario=$(label "$s")
		for name in $SERVERS; do
			printf 'round %d/%d  %-34s %-9s ' "$round" "$ROUNDS" "$scenario" "$name" >&2
			error=
			if start_server "$name"; then
				if line=$(taskset -c "$LOAD_CPU" "$bin/load" -addr "$server_addr" -pid "$server_pid" \
					-conns "$conns" -size "$size" -warmup "$WARMUP" -duration "$DURATION" \
					-server "$name" -scenario "$scenario" -round "$round" 2>"$work/load.err"); then
					echo "$line" >>"$raw"
					rate=$(sed -n 's/.*"rt_per_s":\([0-9]*\).*/\1/p' <<<"$line")
					user=$(sed -n 's/.*"user_us_per_rt":\([0-9]*\.\{0,1\}[0-9]\{0,2\}\).*/\1/p' <<<"$line")
					echo "$rate rt/s, user $user µs/rt" >&2
				else
					error=$(tr '"\\\n' "'/ " <"$work/load.err")
				fi
				stop_server
			else
				error="did not start"
			fi
			if [[ -n $error ]]; then
				echo "FAILED: $error" >&2
				failures=$((failures + 1))
				printf '{"server":"%s","scenario":"%s","round":%d,"error":"%s"}\n' \
					"$name" "$scenario" "$round" "$error" >>"$raw"
			fi
		done
	done
done

echo >&2
"$bin/report" "$raw" | tee "$tables"
echo >&2
echo "raw results: $raw" >&2
echo "tables:      $tables" >&2
if ((failures > 0)); then
	die "$failures run(s) failed"
fi
