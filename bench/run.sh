#!/usr/bin/env bash
# Echo comparison: the selectors package ("ours", bench/servers/ours, as
# lean as rawepoll) and the example server ("example",
# examples/echo-server, with Go's own types, idle timers and a memory
# bound) against raw epoll, Go's net package, gnet and Python's selectors,
# under the same ping-pong load. Each server runs pinned to one CPU with GOMAXPROCS=1, the load
# generator to another, over loopback only. The servers take turns in
# interleaved rounds (A B C D E, A B C D E, ...), each run on a server
# started fresh and killed after, so that a drift in the machine's speed
# spreads over all of them.
#
# Needs go, python3 and taskset (util-linux), and perf (linux-perf) for the
# finer user/system split. Settings, from the
# environment:
#
#   ROUNDS=3        rounds of every server in every scenario
#   DURATION=3s     measured window of a run
#   WARMUP=1s       traffic before it
#   SCENARIOS="1x64 50x64 200x64 50x16384"   connections x message bytes
#   SERVERS="rawepoll stdlib gnet python ours example"
#   BASE=           a git revision of this repository: its server ours
#                   (see base.sh) is built as server "base", to
#                   put in SERVERS and measure a change against, say
#                   BASE=HEAD~1 TOGETHER=1 SERVERS="base ours"
#   SERVER_CPU=0 LOAD_CPU=1
#   TOGETHER=0      1: the servers of SERVERS (two, say "rawepoll ours") run
#                   at once, both on SERVER_CPU, driven by one load in one
#                   window and sampled by one perf: each round pairs them
#                   on the same machine, whatever its drift
#   PERF=auto       sample the servers with perf record for the user/system
#                   split (1: must, 0: never, auto: if perf works)
#   PERF_FREQ=4000  its samples per second of SERVER_CPU
#   POLL_IDLE=auto  1: hold /dev/cpu_dma_latency at 0 for the whole run,
#                   so that an idle CPU polls instead of halting (the
#                   low-latency tuning of tuned's latency-performance
#                   profile); 0: leave the CPUs alone; auto: 1 if the
#                   file can be opened for writing (root), else 0 and a
#                   warning. Under a hypervisor a halted virtual CPU
#                   costs an exit and a wake-up at every round trip that
#                   finds the server idle, and at 1 connection that cost,
#                   which varies from run to run, dominated the figures
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
SERVERS=${SERVERS:-"rawepoll stdlib gnet python ours example"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PERF=${PERF:-auto}
PERF_FREQ=${PERF_FREQ:-4000}
TOGETHER=${TOGETHER:-0}
BASE=${BASE:-}
POLL_IDLE=${POLL_IDLE:-auto}

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=$here/bin
results=$here/results
# shellcheck source=base.sh
source "$here/base.sh"

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
	rawepoll | stdlib | gnet | python | ours | example) ;;
	base) [[ -n $BASE ]] || die "SERVERS has base: set BASE to the git revision to build it from" ;;
	*) die "SERVERS: no server $name" ;;
	esac
done
if [[ -n $BASE ]]; then
	[[ " $SERVERS " == *" base "* ]] || die "BASE=$BASE: add base to SERVERS"
	check_base "$BASE" "$root"
fi
[[ $PERF_FREQ =~ ^[0-9]+$ ]] && ((PERF_FREQ >= 100 && PERF_FREQ <= 20000)) || die "PERF_FREQ=$PERF_FREQ: want 100 to 20000"
[[ $SERVER_CPU =~ ^[0-9]+$ ]] || die "SERVER_CPU=$SERVER_CPU: want one CPU number"
case $TOGETHER in
0) ;;
1)
	read -ra together <<<"$SERVERS"
	((${#together[@]} >= 2 && ${#together[@]} <= 8)) || die "TOGETHER=1 wants 2 to 8 SERVERS, not \"$SERVERS\""
	;;
*) die "TOGETHER=$TOGETHER: want 0 or 1" ;;
esac
# perf is optional: the user/system split falls back to the clock ticks
# of /proc/PID/stat without it. Sampled as load does: the server's CPU,
# kernel samples too, which perf_event_paranoid may forbid (root, or
# perf_event_paranoid at most 0, is needed).
perf_probe="perf stat -e cpu-clock:uk -C $SERVER_CPU true"
perf_works() {
	command -v perf >/dev/null && $perf_probe >/dev/null 2>&1
}
case $PERF in
auto)
	if perf_works; then
		PERF=1
	else
		PERF=0
		echo "run.sh: warning: perf is missing or does not work ($perf_probe);" \
			"user and system time from clock ticks only, too coarse to tell ratios near 1" >&2
	fi
	;;
1) perf_works || die "PERF=1 but perf does not work: $perf_probe fails" ;;
0) ;;
*) die "PERF=$PERF: want auto, 1 or 0" ;;
esac
case $POLL_IDLE in
auto | 1 | 0) ;;
*) die "POLL_IDLE=$POLL_IDLE: want auto, 1 or 0" ;;
esac

work=$(mktemp -d)
base_src=       # BASE's source, while it builds
server_pids=()  # the running servers
server_addrs=() # and their addresses
load_pid=
qos_pid= # the process that holds /dev/cpu_dma_latency open

# stop_servers ends the running servers: SIGTERM, then SIGKILL after 5 s.
stop_servers() {
	((${#server_pids[@]} > 0)) || return 0
	kill "${server_pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "${server_pids[@]}" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "${server_pids[@]}" 2>/dev/null || true
	wait "${server_pids[@]}" 2>/dev/null || true
	server_pids=() server_addrs=()
}

# The load's perf record, if any, dies with the load (its parent-death
# signal), and stops by itself when the server exits.
cleanup() {
	if [[ -n $load_pid ]]; then
		kill "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	stop_servers
	if [[ -n $qos_pid ]]; then
		kill "$qos_pid" 2>/dev/null || true
		wait "$qos_pid" 2>/dev/null || true
	fi
	rm -rf "$work" "$base_src"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building..." >&2
mkdir -p "$bin" "$results"
# Every Go server is built the same way, without cgo: rawepoll, which does
# not import net, links statically anyway, while a server that imports net
# is linked with the C library when cgo is on, and then each of its threads
# is registered for glibc's rseq (__rseq_handle_notify_resume at returns
# to user mode after a switch), a cost that rawepoll would not pay.
export CGO_ENABLED=0
(cd "$here" && go build -o "$bin/" ./servers/rawepoll ./servers/stdlib ./servers/gnet ./servers/ours ./load ./report)
(cd "$root" && go build -o "$bin/example" ./examples/echo-server)
if [[ -n $BASE ]]; then
	base_src=$(mktemp -d)
	build_base "$BASE" "$root" "$bin" "$base_src" # on failure cleanup removes base_src
	rm -rf "$base_src"
fi

# start_server NAME starts a fresh server on a free loopback port, pinned
# to SERVER_CPU, and adds it to server_pids and server_addrs (from its
# first line).
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
	local server_pid=$!
	server_pids+=("$server_pid")
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
		stop_servers
		return 1
	fi
	server_addrs+=("${BASH_REMATCH[1]}")
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

# hold_poll_idle asks the kernel for a CPU wake-up latency of 0 µs, which
# its cpuidle governors meet with the polling idle state only. The request
# lasts while /dev/cpu_dma_latency stays open: a child holds it open until
# cleanup ends it, or within a second of run.sh's end however it ends (a
# SIGKILL too), so that no machine is left polling. It succeeds once the
# file reads back 0.
hold_poll_idle() {
	local parent=$$
	(
		exec 3>/dev/cpu_dma_latency && printf 0 >&3 || exit
		while kill -0 "$parent" 2>/dev/null; do sleep 1 3>&-; done
	) >/dev/null 2>&1 &
	qos_pid=$!
	local now
	for ((i = 0; i < 20; i++)); do # 2 s at most
		now=$(od -An -td4 -N4 /dev/cpu_dma_latency 2>/dev/null | tr -d ' ')
		[[ $now == 0 ]] && return 0
		kill -0 "$qos_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$qos_pid" 2>/dev/null || true
	wait "$qos_pid" 2>/dev/null || true
	qos_pid=
	return 1
}
idle="CPUs left to halt when idle (POLL_IDLE=0)"
case $POLL_IDLE in
auto)
	if hold_poll_idle; then
		POLL_IDLE=1
	else
		POLL_IDLE=0
		idle="CPUs left to halt when idle (/dev/cpu_dma_latency cannot be held at 0 here)"
		echo "run.sh: warning: cannot hold /dev/cpu_dma_latency at 0 (root can): idle CPUs halt," \
			"and under a hypervisor the 1-connection figures then vary widely from run to run" >&2
	fi
	;;
1) hold_poll_idle || die "POLL_IDLE=1 but /dev/cpu_dma_latency cannot be held at 0" ;;
esac
if ((POLL_IDLE)); then
	idle="idle CPUs poll: /dev/cpu_dma_latency held at 0 (POLL_IDLE=1)"
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
raw=$results/echo-$stamp.jsonl
tables=$results/echo-$stamp.md
: >"$raw"
failures=0
echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP PERF=$PERF, servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $idle" >&2
perf_args=()
if ((PERF)); then
	perf_args=(-perf "$work/perf.data" -perf-freq "$PERF_FREQ" -perf-cpu "$SERVER_CPU")
fi

# The runs of a round: each server alone, or all of them together.
groups=()
if ((TOGETHER)); then
	groups=("$SERVERS")
else
	for name in $SERVERS; do groups+=("$name"); done
fi
join() { # join , a b c -> a,b,c
	local IFS=$1
	shift
	echo "$*"
}

for ((round = 1; round <= ROUNDS; round++)); do
	for s in $SCENARIOS; do
		conns=${s%x*} size=${s#*x} scenario=$(label "$s")
		for group in "${groups[@]}"; do
			read -ra names <<<"$group"
			printf 'round %d/%d  %-34s %-9s ' "$round" "$ROUNDS" "$scenario" "${names[*]}" >&2
			error=
			for name in "${names[@]}"; do
				start_server "$name" || {
					error="$name did not start"
					break
				}
			done
			if [[ -z $error ]]; then
				# In the background, so that a signal to run.sh is
				# handled at once and cleanup can end the load.
				taskset -c "$LOAD_CPU" "$bin/load" -addr "$(join , "${server_addrs[@]}")" \
					-pid "$(join , "${server_pids[@]}")" -server "$(join , "${names[@]}")" \
					-conns "$conns" -size "$size" -warmup "$WARMUP" -duration "$DURATION" \
					-scenario "$scenario" -round "$round" "${perf_args[@]}" \
					>"$work/load.out" 2>"$work/load.err" &
				load_pid=$!
				status=0
				wait "$load_pid" || status=$?
				if ((status == 0)); then
					load_pid=
					cat "$work/load.out" >>"$raw"
					while read -r line; do
						rate=$(sed -n 's/.*"rt_per_s":\([0-9]*\).*/\1/p' <<<"$line")
						user=$(sed -n 's/.*"user_us_per_rt":\([0-9]*\.\{0,1\}[0-9]\{0,2\}\).*/\1/p' <<<"$line")
						puser=$(sed -n 's/.*"user_us_per_rt_perf":\([0-9]*\.\{0,1\}[0-9]\{0,2\}\).*/\1/p' <<<"$line")
						if [[ -n $puser ]]; then
							printf '%s rt/s, user %s µs/rt (perf; ticks %s)  ' "$rate" "$puser" "$user" >&2
						else
							printf '%s rt/s, user %s µs/rt (ticks)  ' "$rate" "$user" >&2
						fi
					done <"$work/load.out"
					echo >&2
					if [[ -s $work/load.err ]]; then # perf failed in this run
						sed 's/^/    /' "$work/load.err" >&2
					fi
				else
					load_pid=
					# One line of JSON: quotes and backslashes replaced,
					# control characters (a panic's tabs) dropped.
					error=$(tr '"\\\n\t' "'/  " <"$work/load.err" | tr -d '\000-\037\177')
					[[ -n $error ]] || error="load exited with status $status, saying nothing"
				fi
			fi
			stop_servers
			if [[ -n $error ]]; then
				echo "FAILED: $error" >&2
				failures=$((failures + 1))
				for name in "${names[@]}"; do
					printf '{"server":"%s","scenario":"%s","round":%d,"error":"%s"}\n' \
						"$name" "$scenario" "$round" "$error" >>"$raw"
				done
			fi
		done
	done
done

echo >&2
{
	echo "$idle"
	echo
	"$bin/report" "$raw"
} | tee "$tables"
echo >&2
echo "raw results: $raw" >&2
echo "tables:      $tables" >&2
if ((failures > 0)); then
	die "$failures run(s) failed"
fi
