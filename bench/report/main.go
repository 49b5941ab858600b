// Command report turns the lines that load prints into one Markdown table
// per scenario: the median of each server's runs, and the ratios that
// compare ours (the selectors package in a server as lean as rawepoll) and
// the example server to the others.
//
// The user and system time come from load's perf samples when every run
// of the scenario has them, and from the clock ticks of /proc/PID/stat
// otherwise; the table's note says which.
//
// Usage:
//
//	report [results.jsonl ...]   (standard input when no file is named)
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// run is the part of load's output line that the report uses; a line
// with Error set is a run that failed, which run.sh writes.
type run struct {
	Server    string  `json:"server"`
	Scenario  string  `json:"scenario"`
	Round     int     `json:"round"`
	RTPerSec  float64 `json:"rt_per_s"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	UserUs    float64 `json:"user_us_per_rt"`
	SysUs     float64 `json:"sys_us_per_rt"`
	TotalUs   float64 `json:"total_us_per_rt"`
	SchedUsRT float64 `json:"sched_us_per_rt"`
	UserTicks float64 `json:"user_ticks"`
	Together  int     `json:"together"` // servers run at once (TOGETHER=1), or 0
	Error     string  `json:"error"`

	source string // the file the run came from: rounds pair within one

	PerfSamples     float64 `json:"perf_samples"`
	PerfUserSamples float64 `json:"perf_user_samples"`
	PerfFreq        float64 `json:"perf_freq"`
	PerfCoverage    float64 `json:"perf_coverage"`
	UserUsPerf      float64 `json:"user_us_per_rt_perf"`
	SysUsPerf       float64 `json:"sys_us_per_rt_perf"`
}

// group is one server's runs in one scenario.
type group struct {
	server string
	runs   []run
	failed int
}

type scenario struct {
	name   string
	groups []*group // in the order the servers first ran
}

// find returns the group of server, or nil.
func (s *scenario) find(server string) *group {
	for _, g := range s.groups {
		if g.server == server {
			return g
		}
	}
	return nil
}

// group returns the group of server, added if it is new.
func (s *scenario) group(server string) *group {
	if g := s.find(server); g != nil {
		return g
	}
	g := &group{server: server}
	s.groups = append(s.groups, g)
	return g
}

func main() {
	var scenarios []*scenario
	var err error
	if len(os.Args) == 1 {
		scenarios, err = read(os.Stdin, "standard input", scenarios)
	}
	for _, name := range os.Args[1:] {
		f, ferr := os.Open(name)
		if ferr != nil {
			err = ferr
			break
		}
		scenarios, err = read(f, name, scenarios)
		f.Close()
		if err != nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if len(scenarios) == 0 {
		fmt.Fprintln(os.Stderr, "report: no results")
		os.Exit(1)
	}
	for i, s := range scenarios {
		if i > 0 {
			fmt.Println()
		}
		write(os.Stdout, s)
	}
}

// read adds the runs of r to scenarios, which keep the order they first
// appear in.
func read(r io.Reader, name string, scenarios []*scenario) ([]*scenario, error) {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		x := run{source: name}
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		i := slices.IndexFunc(scenarios, func(s *scenario) bool { return s.name == x.Scenario })
		if i < 0 {
			i = len(scenarios)
			scenarios = append(scenarios, &scenario{name: x.Scenario})
		}
		g := scenarios[i].group(x.Server)
		if x.Error != "" {
			g.failed++
			continue
		}
		g.runs = append(g.runs, x)
	}
	return scenarios, sc.Err()
}

// median of the field f of runs; 0 for none.
func median(runs []run, f func(run) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return medianOf(v)
}

// medianOf v, which it sorts; v is not empty.
func medianOf(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// perf tells whether every run of the scenario has perf samples.
func (s *scenario) perf() bool {
	n := 0
	for _, g := range s.groups {
		for _, r := range g.runs {
			if r.PerfSamples <= 0 {
				return false
			}
			n++
		}
	}
	return n > 0
}

func user(r run) float64     { return r.UserUs }
func total(r run) float64    { return r.TotalUs }
func userPerf(r run) float64 { return r.UserUsPerf }
func onCPU(r run) float64    { return r.SchedUsRT }

// runsCell is a group's runs column: how many, and how many failed.
func runsCell(g *group) string {
	if g.failed > 0 {
		return fmt.Sprintf("%d (%d failed)", len(g.runs), g.failed)
	}
	return fmt.Sprint(len(g.runs))
}

// spread is the lowest and the highest of f over runs, which are not empty.
func spread(runs []run, f func(run) float64) (lo, hi float64) {
	lo, hi = f(runs[0]), f(runs[0])
	for _, r := range runs[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return lo, hi
}

func write(w io.Writer, s *scenario) {
	fmt.Fprintf(w, "### %s\n\n", s.name)
	if s.perf() {
		writePerf(w, s)
		return
	}
	fmt.Fprintln(w, "| server | runs | round trips/s | p50 µs | p99 µs | user µs/rt | sys µs/rt | total µs/rt | user spread | on-CPU µs/rt | user ticks |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	for _, g := range s.groups {
		runs := runsCell(g)
		if len(g.runs) == 0 {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | |\n", g.server, runs)
			continue
		}
		lo, hi := spread(g.runs, user)
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f–%.2f | %.2f | %.0f |\n",
			g.server, runs,
			median(g.runs, func(r run) float64 { return r.RTPerSec }),
			median(g.runs, func(r run) float64 { return r.P50us }),
			median(g.runs, func(r run) float64 { return r.P99us }),
			median(g.runs, user),
			median(g.runs, func(r run) float64 { return r.SysUs }),
			median(g.runs, total),
			lo, hi,
			median(g.runs, func(r run) float64 { return r.SchedUsRT }),
			median(g.runs, func(r run) float64 { return r.UserTicks }))
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "user and sys from clock ticks (/proc/PID/stat), as not every run has perf samples: coarse, see user ticks.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ours/rawepoll user %s, total %s; ours/gnet user %s; python/ours user %s\n",
		ratio(s, "ours", "rawepoll", user), ratio(s, "ours", "rawepoll", total),
		ratio(s, "ours", "gnet", user), ratio(s, "python", "ours", user))
}

// writePerf writes the table of a scenario whose runs all have perf
// samples: user time from the samples in user mode, system time the rest
// of the on-CPU time.
func writePerf(w io.Writer, s *scenario) {
	fmt.Fprintln(w, "| server | runs | round trips/s | p50 µs | p99 µs | user µs/rt | sys µs/rt | on-CPU µs/rt | user spread | user samples | sampled | user µs/rt (ticks) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
	freq := 0.0
	for _, g := range s.groups {
		runs := runsCell(g)
		if len(g.runs) == 0 {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | | |\n", g.server, runs)
			continue
		}
		freq = g.runs[0].PerfFreq
		lo, hi := spread(g.runs, userPerf)
		fmt.Fprintf(w, "| %s | %s | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f–%.2f | %.0f | %.0f%% | %.2f |\n",
			g.server, runs,
			median(g.runs, func(r run) float64 { return r.RTPerSec }),
			median(g.runs, func(r run) float64 { return r.P50us }),
			median(g.runs, func(r run) float64 { return r.P99us }),
			median(g.runs, userPerf),
			median(g.runs, func(r run) float64 { return r.SysUsPerf }),
			median(g.runs, onCPU),
			lo, hi,
			median(g.runs, func(r run) float64 { return r.PerfUserSamples }),
			100*median(g.runs, func(r run) float64 { return r.PerfCoverage }),
			median(g.runs, user))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "user from perf: the cpu-clock samples of the server's CPU (%.0f per s) that fell on the server in user mode; "+
		"sys = on-CPU − user; sampled: the share of on-CPU time its samples cover (the rest is kernel time at context switches).\n", freq)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ours/rawepoll user %s, on-CPU %s; ours/gnet user %s; python/ours user %s\n",
		ratio(s, "ours", "rawepoll", userPerf), ratio(s, "ours", "rawepoll", onCPU),
		ratio(s, "ours", "gnet", userPerf), ratio(s, "python", "ours", userPerf))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s (median, range): ours/rawepoll user %s, on-CPU %s\n", s.pairing(),
		paired(s, "ours", "rawepoll", userPerf), paired(s, "ours", "rawepoll", onCPU))
	if s.find("example") != nil { // the example server, beside the lean one
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s (median, range): example/rawepoll user %s, on-CPU %s\n", s.pairing(),
			paired(s, "example", "rawepoll", userPerf), paired(s, "example", "rawepoll", onCPU))
	}
	if s.find("base") != nil { // run.sh's BASE: ours at another revision
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%s (median, range): ours/base user %s, on-CPU %s\n", s.pairing(),
			paired(s, "ours", "base", userPerf), paired(s, "ours", "base", onCPU))
	}
}

// pairing says how paired pairs runs: by round, by the window in which
// the servers ran together, or both, for the files of both kinds.
func (s *scenario) pairing() string {
	alone, together := false, false
	for _, g := range s.groups {
		for _, r := range g.runs {
			if r.Together > 1 {
				together = true
			} else {
				alone = true
			}
		}
	}
	switch {
	case together && alone:
		return "paired by round, or by window where side by side"
	case together:
		return "side by side on one CPU, paired by window"
	}
	return "paired by round"
}

// paired is the median and range of the ratios of f between the runs of
// servers a and b in the same round of the same file, which ran a minute
// apart at most (or at once, with TOGETHER=1): a drift of the machine's
// speed from one round to the next stays out of them.
func paired(s *scenario, a, b string, f func(run) float64) string {
	ga, gb := s.find(a), s.find(b)
	if ga == nil || gb == nil {
		return "n/a"
	}
	var ratios []float64
	for _, ra := range ga.runs {
		for _, rb := range gb.runs {
			if ra.source == rb.source && ra.Round == rb.Round && f(rb) != 0 {
				ratios = append(ratios, f(ra)/f(rb))
			}
		}
	}
	if len(ratios) == 0 {
		return "n/a"
	}
	m := medianOf(ratios) // sorts ratios
	lo, hi := ratios[0], ratios[len(ratios)-1]
	if k := medianCIRank(len(ratios)); k > 0 {
		return fmt.Sprintf("%.2f (%.2f–%.2f, %d rounds; 95%% CI of the median %.2f–%.2f)",
			m, lo, hi, len(ratios), ratios[k-1], ratios[len(ratios)-k])
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f, %d rounds)", m, lo, hi, len(ratios))
}

// medianCIRank returns the k for which the k-th smallest and the k-th
// largest of n samples bound a confidence interval of at least 95% for
// their median, or 0 when n is too small for one (n < 6). It assumes
// nothing of the distribution, only that the samples are independent:
// the median lies below the k-th smallest only if fewer than k samples
// fall below it, which has the probability of fewer than k heads in n
// fair coin tosses, and likewise above.
func medianCIRank(n int) int {
	// P(X < k) for X ~ Binomial(n, 1/2), summed in logs: 2^-n underflows
	// past n = 1074.
	lgN, _ := math.Lgamma(float64(n + 1))
	k, below := 0, 0.0
	for i := 0; i < n; i++ {
		lgI, _ := math.Lgamma(float64(i + 1))
		lgRest, _ := math.Lgamma(float64(n - i + 1))
		below += math.Exp(lgN - lgI - lgRest - float64(n)*math.Ln2) // P(X = i)
		if below > 0.025 {
			break
		}
		k = i + 1 // P(X < i+1) <= 2.5% on each side
	}
	return k
}

// ratio is the median of f over the runs of server a divided by that of
// b, or n/a.
func ratio(s *scenario, a, b string, f func(run) float64) string {
	ga, gb := s.find(a), s.find(b)
	if ga == nil || gb == nil || len(ga.runs) == 0 || len(gb.runs) == 0 {
		return "n/a"
	}
	num, den := median(ga.runs, f), median(gb.runs, f)
	if den == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", num/den)
}
