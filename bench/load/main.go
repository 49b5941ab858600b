// Command load drives an echo server with ping-pong traffic and measures
// it: -conns connections each send a -size byte message, read the whole
// echo, check every byte, and go again. After -warmup it counts round trips
// and their latency for -duration, and reads the server's CPU time from
// /proc before and after that window. With -perf it also samples the
// server with perf record in that window, for a finer split of that
// time into user and system (see perf.go).
//
// Given lists for -addr, -pid and -server (comma-separated, one entry per
// server), it drives several servers at once, -conns connections each, in
// one window and with one perf: a pair of servers measured side by side
// on one CPU sees the same machine, however its speed drifts.
//
// It prints one JSON object on one line per server (see result) and exits
// 0, or prints the error to stderr and exits 1: a wrong byte, a connection
// that fails or closes, or a server that stops answering for -grace.
//
// Usage:
//
//	load -addr 127.0.0.1:PORT[,...] -pid PID[,...] [-server NAME[,...]] [-conns 50] [-size 64]
//	     [-warmup 1s] [-duration 3s] [-perf FILE]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Phases of a run, in order: only round trips that end while measuring
// are counted.
const (
	warming int32 = iota
	measuring
	stopping
)

// result is the output line.
type result struct {
	Server     string  `json:"server"`
	Scenario   string  `json:"scenario"`
	Round      int     `json:"round"`
	Conns      int     `json:"conns"`
	Size       int     `json:"size"`
	Seconds    float64 `json:"seconds"`     // the measured window
	RoundTrips int64   `json:"round_trips"` // completed and checked in it
	RTPerSec   float64 `json:"rt_per_s"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`

	// The server's CPU time in the window: user and system from
	// /proc/PID/stat in clock ticks, and the time on CPU from the
	// scheduler (/proc/PID/task/*/schedstat) in nanoseconds, which is
	// finer but does not split user from system.
	UserTicks   int64   `json:"user_ticks"`
	SysTicks    int64   `json:"sys_ticks"`
	ClockTick   int64   `json:"clk_tck"`
	SchedNs     int64   `json:"sched_ns"`
	UserUsPerRT float64 `json:"user_us_per_rt"`
	SysUsPerRT  float64 `json:"sys_us_per_rt"`
	TotUsPerRT  float64 `json:"total_us_per_rt"`
	SchedUsRT   float64 `json:"sched_us_per_rt"`
	ServerComm  string  `json:"server_comm"`
	ServerPID   int     `json:"server_pid"`
	Together    int     `json:"together,omitempty"` // servers measured at once, if more than one

	// With -perf (see perf.go): the cpu-clock samples of the server's
	// CPU in the window that fell on the server, those of them in user
	// mode, and the on-CPU time they stand for; the user time per round
	// trip from them, the system time as the rest of the on-CPU time,
	// and the share of the on-CPU time that the samples cover. Left out
	// when perf was not asked for or failed.
	PerfSamples     int64   `json:"perf_samples,omitempty"`
	PerfUserSamples int64   `json:"perf_user_samples,omitempty"`
	PerfFreq        int     `json:"perf_freq,omitempty"`
	PerfSampledNs   int64   `json:"perf_sampled_ns,omitempty"`
	PerfUserNs      int64   `json:"perf_user_ns,omitempty"`
	UserUsPerRTPerf float64 `json:"user_us_per_rt_perf,omitempty"`
	SysUsPerRTPerf  float64 `json:"sys_us_per_rt_perf,omitempty"`
	PerfCoverage    float64 `json:"perf_coverage,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run() error {
	addrs := flag.String("addr", "", "the echo server's `host:port` (loopback only); a comma-separated list for several")
	pids := flag.String("pid", "", "the server's process `id`, for its CPU time; a list, one per -addr")
	conns := flag.Int("conns", 50, "connections")
	size := flag.Int("size", 64, "message size in bytes")
	warmup := flag.Duration("warmup", time.Second, "traffic before measuring")
	duration := flag.Duration("duration", 3*time.Second, "the measured window")
	grace := flag.Duration("grace", 5*time.Second, "how long a round trip may take before the run fails")
	names := flag.String("server", "", "the server's name, copied to the output; a list, one per -addr")
	scenario := flag.String("scenario", "", "the scenario's name, copied to the output")
	round := flag.Int("round", 0, "the round number, copied to the output")
	perfData := flag.String("perf", "", "sample the server with perf record into `file` for the user/system split (none if empty)")
	perfFreq := flag.Int("perf-freq", 4000, "perf's samples per second")
	perfCPU := flag.Int("perf-cpu", 0, "the CPU that the server is pinned to, which perf samples")
	flag.Parse()

	targets, err := parseTargets(*addrs, *pids, *names)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := checkFlags(t.addr, t.pid, *conns, *size, *warmup, *duration, *grace); err != nil {
			return err
		}
	}
	if *perfFreq < 100 || *perfFreq > 20000 {
		return fmt.Errorf("-perf-freq %d: want 100 to 20000", *perfFreq)
	}
	if *perfCPU < 0 || *perfCPU > 4095 {
		return fmt.Errorf("-perf-cpu %d: want 0 to 4095", *perfCPU)
	}
	// perf is optional: if it fails, the run goes on without it, and
	// says so on stderr.
	var perf *perfRun
	perfWarn := func(err error) {
		fmt.Fprintf(os.Stderr, "load: %v; no perf figures in this run\n", err)
		if perf != nil {
			perf.abort()
			perf = nil
		}
	}
	if *perfData != "" {
		var err error
		if perf, err = perfStart(*perfCPU, *perfFreq, *perfData); err != nil {
			perfWarn(err)
		}
	}
	defer func() {
		if perf != nil {
			perf.abort()
		}
	}()
	// Everything below is bounded by the deadlines set on the
	// connections, and perf by its own timeouts; this is the bound if
	// something else hangs. perf dies with the load (Pdeathsig).
	limit := 10*time.Second + time.Duration(len(targets)*(*conns))*(*grace) + *warmup + *duration + *grace
	if perf != nil {
		limit += 80 * time.Second
	}
	time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "load: gave up after %v\n", limit)
		os.Exit(1)
	})

	var clients []*client
	defer func() {
		for _, c := range clients {
			c.conn.Close()
		}
	}()
	for _, t := range targets {
		var err error
		t.clients, err = dialAll(t.addr, *conns, *size, *grace)
		clients = append(clients, t.clients...)
		if err != nil {
			return fmt.Errorf("%s: %w", t.addr, err)
		}
	}

	var phase atomic.Int32
	errc := make(chan error, len(clients))
	var wg sync.WaitGroup
	for _, t := range targets {
		for _, c := range t.clients {
			wg.Go(func() {
				err := c.pingPong(&phase, *grace)
				if err != nil {
					// Named, as a run with several servers fails for one.
					who := t.addr
					if t.name != "" {
						who = t.name + " at " + t.addr
					}
					err = fmt.Errorf("%s: %w", who, err)
				}
				errc <- err
			})
		}
	}

	failed := func() error {
		select {
		case err := <-errc:
			if err != nil {
				return err
			}
		default:
		}
		return nil
	}
	time.Sleep(*warmup)
	if err := failed(); err != nil {
		phase.Store(stopping)
		return err
	}
	if perf != nil {
		if err := perf.command("enable", 5*time.Second); err != nil {
			perfWarn(err)
		}
	}
	for _, t := range targets {
		if t.cpu0, err = readCPU(t.pid); err != nil {
			phase.Store(stopping)
			return err
		}
	}
	start := time.Now()
	phase.Store(measuring)
	time.Sleep(*duration)
	phase.Store(stopping)
	elapsed := time.Since(start)
	for _, t := range targets {
		if t.cpu1, err = readCPU(t.pid); err != nil {
			return err
		}
	}
	var splits map[int]perfSplit
	if perf != nil {
		err := perf.command("disable", 5*time.Second)
		if err == nil {
			err = perf.stop(10 * time.Second)
		}
		if err == nil {
			ids := make([]int, len(targets))
			for i, t := range targets {
				ids[i] = t.pid
			}
			splits, err = perfCount(*perfData, ids, 60*time.Second)
		}
		if err != nil {
			perfWarn(err)
			splits = nil
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}

	for _, t := range targets {
		r, err := t.result(elapsed, splits[t.pid], *perfFreq)
		if err != nil {
			return err
		}
		r.Scenario, r.Round, r.Conns, r.Size = *scenario, *round, *conns, *size
		if len(targets) > 1 {
			r.Together = len(targets)
		}
		line, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Println(string(line))
	}
	return nil
}

// target is one server that the load drives.
type target struct {
	addr, name string
	pid        int
	clients    []*client
	cpu0, cpu1 cpuTime // at the edges of the window
}

// parseTargets pairs the entries of the -addr, -pid and -server lists;
// checkFlags checks each.
func parseTargets(addrs, pids, names string) ([]*target, error) {
	a, p := strings.Split(addrs, ","), strings.Split(pids, ",")
	n := make([]string, len(a))
	if names != "" {
		n = strings.Split(names, ",")
	}
	if len(p) != len(a) || len(n) != len(a) {
		return nil, fmt.Errorf("-addr %q, -pid %q, -server %q: want one of each per server", addrs, pids, names)
	}
	if len(a) > 8 {
		return nil, fmt.Errorf("-addr %q: 8 servers at most", addrs)
	}
	targets := make([]*target, len(a))
	for i := range a {
		pid := 0
		if p[i] != "" {
			var err error
			if pid, err = strconv.Atoi(p[i]); err != nil {
				return nil, fmt.Errorf("-pid %q: %q is not a process id", pids, p[i])
			}
		}
		targets[i] = &target{addr: a[i], pid: pid, name: n[i]}
	}
	return targets, nil
}

// result is what t's clients and CPU times say of the window.
func (t *target) result(elapsed time.Duration, split perfSplit, perfFreq int) (result, error) {
	var hist histogram
	var rts int64
	for _, c := range t.clients {
		hist.add(&c.hist)
		rts += c.roundTrips
	}
	if rts == 0 {
		return result{}, fmt.Errorf("%s: no round trip completed in the measured window", t.addr)
	}
	r := result{
		Server:     t.name,
		Seconds:    elapsed.Seconds(),
		RoundTrips: rts,
		RTPerSec:   float64(rts) / elapsed.Seconds(),
		P50us:      hist.quantile(0.50) / 1e3,
		P99us:      hist.quantile(0.99) / 1e3,
		MaxUs:      hist.quantile(1) / 1e3,
		UserTicks:  t.cpu1.user - t.cpu0.user,
		SysTicks:   t.cpu1.sys - t.cpu0.sys,
		ClockTick:  clockTick,
		SchedNs:    t.cpu1.schedNs - t.cpu0.schedNs,
		ServerComm: t.cpu1.comm,
		ServerPID:  t.pid,
	}
	usPerTick := 1e6 / float64(clockTick)
	r.UserUsPerRT = float64(r.UserTicks) * usPerTick / float64(rts)
	r.SysUsPerRT = float64(r.SysTicks) * usPerTick / float64(rts)
	r.TotUsPerRT = r.UserUsPerRT + r.SysUsPerRT
	r.SchedUsRT = float64(r.SchedNs) / 1e3 / float64(rts)
	if split.samples > 0 {
		r.PerfSamples = split.samples
		r.PerfUserSamples = split.user
		r.PerfFreq = perfFreq
		r.PerfSampledNs = split.sampledNs
		r.PerfUserNs = split.userNs
		r.UserUsPerRTPerf = float64(split.userNs) / 1e3 / float64(rts)
		r.SysUsPerRTPerf = r.SchedUsRT - r.UserUsPerRTPerf
		if r.SchedNs > 0 {
			r.PerfCoverage = float64(split.sampledNs) / float64(r.SchedNs)
		}
	}
	return r, nil
}

func checkFlags(addr string, pid, conns, size int, warmup, duration, grace time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	// Loopback only: this tool sends as fast as it can.
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only a loopback address is allowed", addr)
	}
	switch {
	case pid <= 0:
		return errors.New("-pid: the server's process id is required")
	case conns < 1 || conns > 10000:
		return fmt.Errorf("-conns %d: want 1 to 10000", conns)
	case size < 1 || size > 16<<20:
		return fmt.Errorf("-size %d: want 1 to 16 MiB", size)
	case warmup < 0 || warmup > time.Minute:
		return fmt.Errorf("-warmup %v: want 0 to 1m", warmup)
	case duration < 100*time.Millisecond || duration > 10*time.Minute:
		return fmt.Errorf("-duration %v: want 100ms to 10m", duration)
	case grace < 100*time.Millisecond || grace > time.Minute:
		return fmt.Errorf("-grace %v: want 100ms to 1m", grace)
	}
	return nil
}

// client is one connection and what it measured.
type client struct {
	id         int
	conn       net.Conn
	pattern    []byte // messages are windows of it, a different one each time
	reply      []byte
	hist       histogram
	roundTrips int64
}

// dialAll opens n connections one after another, each within timeout.
func dialAll(addr string, n, size int, timeout time.Duration) ([]*client, error) {
	clients := make([]*client, 0, n)
	d := net.Dialer{Timeout: timeout}
	for i := range n {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return clients, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		c := &client{
			id:      i,
			conn:    conn,
			pattern: make([]byte, size+patternSlack),
			reply:   make([]byte, size),
		}
		rng := rand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(size), byte(size >> 8)})
		rng.Read(c.pattern)
		clients = append(clients, c)
	}
	return clients, nil
}

// patternSlack is how many different messages a connection cycles
// through: a prime, so that an echo of an older message cannot pass.
const patternSlack = 251

// maxRoundTrips bounds the round trips of one connection: more than the
// longest run allowed (warm-up and window under 11 minutes) could make at
// a million a second, so a run that reaches it has lost its clock.
const maxRoundTrips = 1 << 30

// pingPong runs round trips until the phase is stopping, counting those
// that end while measuring. A round trip that takes longer than grace
// fails the run (one that takes more than half of grace may), whenever in
// the run it starts: a server that stops answering cannot go unseen.
func (c *client) pingPong(phase *atomic.Int32, grace time.Duration) error {
	var deadline time.Time
	for i := 0; i < maxRoundTrips; i++ {
		if phase.Load() == stopping {
			return nil
		}
		off := i % patternSlack
		msg := c.pattern[off : off+len(c.reply)]
		t0 := time.Now()
		// Moved on once half of it is spent, not at every round trip,
		// which would cost the load a timer update per message.
		if deadline.Sub(t0) < grace/2 {
			deadline = t0.Add(grace)
			if err := c.conn.SetDeadline(deadline); err != nil {
				return fmt.Errorf("connection %d: %w", c.id, err)
			}
		}
		if _, err := c.conn.Write(msg); err != nil {
			return fmt.Errorf("connection %d, message %d: write: %w", c.id, i, err)
		}
		if _, err := io.ReadFull(c.conn, c.reply); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection")
			}
			return fmt.Errorf("connection %d, message %d: read: %w", c.id, i, err)
		}
		took := time.Since(t0)
		if !bytes.Equal(c.reply, msg) {
			at := 0
			for at < len(msg) && c.reply[at] == msg[at] {
				at++
			}
			return fmt.Errorf("connection %d, message %d: byte %d of %d is %#02x, want %#02x",
				c.id, i, at, len(msg), c.reply[at], msg[at])
		}
		// Counted when it ends while measuring, as the server's CPU
		// time is: at each edge of the window as many round trips are
		// cut in two, and those counted make up for those that are not.
		if phase.Load() == measuring {
			c.roundTrips++
			c.hist.record(took)
		}
	}
	return fmt.Errorf("connection %d: %d round trips and the run has not ended", c.id, maxRoundTrips)
}
