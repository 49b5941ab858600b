package main

import (
	"fmt"
	"strings"
	"testing"
)

// reportOf is the report of in, load's lines of one scenario.
func reportOf(t *testing.T, in string) string {
	t.Helper()
	scenarios, err := read(strings.NewReader(in), "test", nil)
	if err != nil || len(scenarios) != 1 {
		t.Fatalf("read: %d scenarios, %v", len(scenarios), err)
	}
	var out strings.Builder
	write(&out, scenarios[0])
	return out.String()
}

// perfLine is a load output line with perf fields, as report reads them.
func perfLine(server string, round, together int, user, onCPU float64) string {
	return fmt.Sprintf(`{"server":%q,"scenario":"s","round":%d,"together":%d,"rt_per_s":1000,`+
		`"perf_samples":100,"perf_user_samples":10,"perf_freq":4000,"perf_coverage":0.9,`+
		`"user_us_per_rt_perf":%g,"sched_us_per_rt":%g}`+"\n", server, round, together, user, onCPU)
}

func TestPairedByRoundAndByWindow(t *testing.T) {
	for _, c := range []struct {
		together int
		want     string
	}{
		{0, "paired by round (median, range): ours/rawepoll user 1.35 (1.20–1.50, 2 rounds), on-CPU 1.10 (1.10–1.10, 2 rounds)"},
		{2, "side by side on one CPU, paired by window (median, range): ours/rawepoll user 1.35 (1.20–1.50, 2 rounds)"},
	} {
		// Two rounds: ours/rawepoll user 1.2 then 1.5, on-CPU 1.1 both times.
		in := perfLine("rawepoll", 1, c.together, 1, 10) + perfLine("ours", 1, c.together, 1.2, 11) +
			perfLine("rawepoll", 2, c.together, 1, 10) + perfLine("ours", 2, c.together, 1.5, 11)
		out := reportOf(t, in)
		if !strings.Contains(out, c.want) {
			t.Errorf("together=%d: the report does not say %q:\n%s", c.together, c.want, out)
		}
	}
}

// With a server "base" (run.sh's BASE), the report pairs ours with it too,
// and says nothing of base without one.
func TestPairedWithBase(t *testing.T) {
	in := perfLine("base", 1, 2, 2, 10) + perfLine("ours", 1, 2, 1.8, 10) +
		perfLine("base", 2, 2, 2, 10) + perfLine("ours", 2, 2, 2.2, 12)
	out := reportOf(t, in)
	want := "side by side on one CPU, paired by window (median, range): ours/base user 1.00 (0.90–1.10, 2 rounds), on-CPU 1.10 (1.00–1.20, 2 rounds)"
	if !strings.Contains(out, want) {
		t.Errorf("the report does not say %q:\n%s", want, out)
	}

	out = reportOf(t, perfLine("rawepoll", 1, 0, 1, 10)+perfLine("ours", 1, 0, 1.2, 11))
	if strings.Contains(out, "ours/base") {
		t.Errorf("a report without base mentions it:\n%s", out)
	}
}

// Rounds pair within one file: round 1 of one run.sh run is not round 1 of
// another, and a report over several files must not pair them.
func TestPairedWithinAFile(t *testing.T) {
	var scenarios []*scenario
	var err error
	// In each file ours/rawepoll is 1.00 in every round; across the files
	// it would be 0.50 or 2.00.
	for i, k := range []float64{1, 2} {
		in := perfLine("rawepoll", 1, 0, k, 10*k) + perfLine("ours", 1, 0, k, 10*k)
		if scenarios, err = read(strings.NewReader(in), fmt.Sprint("file", i), scenarios); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	write(&out, scenarios[0])
	want := "paired by round (median, range): ours/rawepoll user 1.00 (1.00–1.00, 2 rounds), on-CPU 1.00 (1.00–1.00, 2 rounds)"
	if !strings.Contains(out.String(), want) {
		t.Errorf("the report does not say %q:\n%s", want, out.String())
	}
}

// The ranks of the median's 95% interval, as the binomial tables give them.
func TestMedianCIRank(t *testing.T) {
	for n, want := range map[int]int{1: 0, 5: 0, 6: 1, 8: 1, 9: 2, 20: 6, 30: 10, 100: 40} {
		if got := medianCIRank(n); got != want {
			t.Errorf("medianCIRank(%d) = %d, want %d", n, got, want)
		}
	}
}

// With six rounds or more, the paired ratios come with the interval that
// their median lies in at 95%: of seven, the lowest and the highest.
func TestPairedInterval(t *testing.T) {
	var in strings.Builder
	for i, r := range []float64{1.03, 1.07, 1.01, 1.05, 1.02, 1.04, 1.06} {
		in.WriteString(perfLine("rawepoll", i+1, 0, 1, 10) + perfLine("ours", i+1, 0, r, 10))
	}
	out := reportOf(t, in.String())
	want := "ours/rawepoll user 1.04 (1.01–1.07, 7 rounds; 95% CI of the median 1.01–1.07)"
	if !strings.Contains(out, want) {
		t.Errorf("the report does not say %q:\n%s", want, out)
	}
}
