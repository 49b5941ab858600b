// Command plot draws how the time of one Select grows with the number of
// registered descriptors, one line per backend, from the output of the
// root package's BenchmarkScaling (one descriptor ready each time):
//
//	BenchmarkScaling/epoll/registered=16-2   1000000   1234 ns/op   0 B/op   0 allocs/op
//
// Both axes are logarithmic. A point measured more than once (go test
// -count) is drawn at its median.
//
// Usage:
//
//	go test -run '^$' -bench '^BenchmarkScaling$' . | plot [-o select-scaling.png]
//	plot [-o select-scaling.png] bench.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// A result line: the backend is the second element of the name, the
// GOMAXPROCS suffix is optional.
var line = regexp.MustCompile(`^BenchmarkScaling/([^/\s]+)/registered=(\d+)(?:-\d+)?\s+\d+\s+([0-9.e+]+) ns/op`)

// series is one backend's measurements: ns/op by registered count.
type series struct {
	backend string
	points  map[int][]float64
}

func main() {
	out := flag.String("o", "select-scaling.png", "the `PNG` to write")
	flag.Parse()

	var in io.Reader = os.Stdin
	name := "standard input"
	switch flag.NArg() {
	case 0:
	case 1:
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fail(err)
		}
		defer f.Close()
		in, name = f, flag.Arg(0)
	default:
		fail(fmt.Errorf("one input file at most, got %d", flag.NArg()))
	}

	all, err := parse(in)
	if err != nil {
		fail(err)
	}
	if len(all) == 0 {
		fail(fmt.Errorf("no BenchmarkScaling/<backend>/registered=<n> results in %s", name))
	}
	if err := draw(all, *out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "plot:", err)
	os.Exit(1)
}

// parse reads benchmark output, passing over every line that is not a
// BenchmarkScaling result; backends keep the order they first appear in.
func parse(r io.Reader) ([]*series, error) {
	var all []*series
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("registered=%s: not a positive count", m[2])
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil || ns <= 0 {
			return nil, fmt.Errorf("%s ns/op: not a positive time", m[3])
		}
		i := slices.IndexFunc(all, func(s *series) bool { return s.backend == m[1] })
		if i < 0 {
			i = len(all)
			all = append(all, &series{backend: m[1], points: map[int][]float64{}})
		}
		all[i].points[n] = append(all[i].points[n], ns)
	}
	return all, sc.Err()
}

// xys returns the medians of s, by registered count.
func (s *series) xys() plotter.XYs {
	counts := make([]int, 0, len(s.points))
	for n := range s.points {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	xys := make(plotter.XYs, len(counts))
	for i, n := range counts {
		xys[i] = plotter.XY{X: float64(n), Y: median(s.points[n])}
	}
	return xys
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ticks125 marks a log axis at 1, 2 and 5 times each power of ten, with
// unlabelled ticks between: plot.LogTicks labels the powers of ten alone,
// which leaves a range within one decade with one label or none.
type ticks125 struct {
	label func(float64) string
}

func (t125 ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); decade <= hi; decade *= 10 {
		for m := 1; m < 10; m++ {
			v := float64(m) * decade
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = t125.label(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

func draw(all []*series, path string) error {
	p := plot.New()
	p.Title.Text = "Time per Select, one descriptor ready"
	p.X.Label.Text = "registered descriptors"
	p.Y.Label.Text = "time per Select"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = ticks125{label: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }}
	p.Y.Tick.Marker = ticks125{label: func(ns float64) string { return time.Duration(ns).String() }}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true

	var lines []any
	for _, s := range all {
		lines = append(lines, s.backend, s.xys())
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return err
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
