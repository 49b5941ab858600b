// Command report turns the lines that load prints into one Markdown table
// per scenario: the median of each server's runs, and the ratios that
// compare ours (the selectors example server) to the others.
//
// Usage:
//
//	report [results.jsonl ...]   (standard input when no file is named)
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
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
	Error     string  `json:"error"`
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
		var x run
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
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func user(r run) float64  { return r.UserUs }
func total(r run) float64 { return r.TotalUs }

func write(w io.Writer, s *scenario) {
	fmt.Fprintf(w, "### %s\n\n", s.name)
	fmt.Fprintln(w, "| server | runs | round trips/s | p50 µs | p99 µs | user µs/rt | sys µs/rt | total µs/rt | user spread | on-CPU µs/rt | user ticks |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	for _, g := range s.groups {
		runs := fmt.Sprint(len(g.runs))
		if g.failed > 0 {
			runs += fmt.Sprintf(" (%d failed)", g.failed)
		}
		if len(g.runs) == 0 {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | | |\n", g.server, runs)
			continue
		}
		lo := slices.MinFunc(g.runs, byUser).UserUs
		hi := slices.MaxFunc(g.runs, byUser).UserUs
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

	ratio := func(a, b string, f func(run) float64) string {
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
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ours/rawepoll user %s, total %s; ours/gnet user %s; python/ours user %s\n",
		ratio("ours", "rawepoll", user), ratio("ours", "rawepoll", total),
		ratio("ours", "gnet", user), ratio("python", "ours", user))
}

func byUser(a, b run) int { return cmp.Compare(a.UserUs, b.UserUs) }
