//go:build unix

package selectors

// Micro benchmarks. Each selector benchmark has a sibling "op=raw" that
// does the same work with x/sys alone (the same wait over the same
// descriptors, and a lookup of each ready descriptor's data), so that one
// run gives the ratio:
//
//	go test -run '^$' -bench . -benchmem -count 10 . > new.txt
//	benchstat -col /op new.txt

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// rawLoop waits on a set of descriptors with x/sys alone, the way a
// hand-written loop would: it returns how many descriptors were ready,
// after looking up each one's data.
type rawLoop interface {
	wait(data []any) int
	close()
}

// rawLoops holds a constructor per backend that has a raw counterpart.
var rawLoops = map[string]func(fds []int, events Events) (rawLoop, error){
	"poll":   newRawPoll,
	"select": newRawSelect,
}

type rawPoll struct{ fds []unix.PollFd }

func newRawPoll(fds []int, events Events) (rawLoop, error) {
	p := &rawPoll{}
	for _, fd := range fds {
		p.fds = append(p.fds, pollFD(fd, events))
	}
	return p, nil
}

func (p *rawPoll) wait(data []any) int {
	n, err := unix.Poll(p.fds, -1)
	if err != nil {
		panic(err)
	}
	found := 0
	for i := 0; i < len(p.fds) && found < n; i++ {
		if p.fds[i].Revents != 0 {
			found++
			_ = data[p.fds[i].Fd]
		}
	}
	return found
}

func (p *rawPoll) close() {}

type rawSelect struct {
	fds        []int
	read, rset unix.FdSet
	nfd        int
}

func newRawSelect(fds []int, events Events) (rawLoop, error) {
	if events != EVENT_READ {
		return nil, fmt.Errorf("raw select watches input only")
	}
	p := &rawSelect{fds: fds}
	for _, fd := range fds {
		p.read.Set(fd)
		p.nfd = max(p.nfd, fd+1)
	}
	return p, nil
}

func (p *rawSelect) wait(data []any) int {
	p.rset = p.read
	n, err := unix.Select(p.nfd, &p.rset, nil, nil, nil)
	if err != nil {
		panic(err)
	}
	found := 0
	for i := 0; i < len(p.fds) && found < n; i++ {
		if p.rset.IsSet(p.fds[i]) {
			found++
			_ = data[p.fds[i]]
		}
	}
	return found
}

func (p *rawSelect) close() {}

// benchDescriptors returns n descriptors, ends of socket pairs, and writes
// a byte to the peers of the first ready of them, so that exactly ready
// descriptors are readable; they stay so, since nothing reads them.
func benchDescriptors(b *testing.B, n, ready int) []int {
	b.Helper()
	ends := make([]int, 0, n+1)
	for len(ends) < n {
		x, y := socketPair(b)
		ends = append(ends, x, y)
	}
	for i := range ready {
		_, err := unix.Write(ends[i^1], []byte{1})
		require.NoError(b, err)
	}
	return ends[:n]
}

// benchSizes are the numbers of registered descriptors: 1, 100, 1,000 and
// 10,000 (of the 20,000 this sandbox's RLIMIT_NOFILE allows). select takes
// only descriptors below FD_SETSIZE, so it stops at 100.
func benchSizes(backend string) []int {
	if backend == "select" {
		return []int{1, 100}
	}
	return []int{1, 100, 1_000, 10_000}
}

// BenchmarkSelect: one Select with registered descriptors, one or all of
// them ready, against the raw system call doing the same.
func BenchmarkSelect(b *testing.B) {
	for _, backend := range Backends() {
		for _, n := range benchSizes(backend) {
			for _, ready := range []int{1, n}[:min(n, 2)] {
				name := fmt.Sprintf("%s/registered=%d/ready=%d", backend, n, ready)
				b.Run(name, func(b *testing.B) { benchSelect(b, backend, n, ready) })
			}
		}
	}
}

func benchSelect(b *testing.B, backend string, n, ready int) {
	fds := benchDescriptors(b, n, ready)
	data := make([]any, fds[len(fds)-1]+1)
	s := newTestSelector(b, backend)
	for _, fd := range fds {
		data[fd] = fd
		_, err := s.Register(fd, EVENT_READ, fd)
		require.NoError(b, err)
	}
	warmUp(b, s, ready)
	touch := func(rs []Ready) int {
		found := 0
		for _, r := range rs {
			if r.Key.Data != nil {
				found++
			}
		}
		return found
	}
	newRaw := rawLoops[backend]
	if newRaw != nil { // first, so that no garbage of Select's is collected in its time
		raw, err := newRaw(fds, EVENT_READ)
		require.NoError(b, err)
		defer raw.close()
		b.Run("op=raw", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got := raw.wait(data); got != ready {
					b.Fatalf("raw wait: %d ready, want %d", got, ready)
				}
			}
		})
		b.Run("op=paired", func(b *testing.B) {
			rs := make([]Ready, 0, n)
			benchPaired(b, func() bool { return raw.wait(data) == ready }, func() bool {
				var err error
				rs, err = s.SelectInto(rs[:0], -1)
				return err == nil && touch(rs) == ready
			})
		})
	}
	b.Run("op=SelectInto", func(b *testing.B) {
		b.ReportAllocs()
		rs := make([]Ready, 0, n)
		for b.Loop() {
			var err error
			rs, err = s.SelectInto(rs[:0], -1)
			if err != nil || touch(rs) != ready {
				b.Fatalf("SelectInto: %d ready, %v; want %d", len(rs), err, ready)
			}
		}
	})
	b.Run("op=Select", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rs, err := s.Select(-1)
			if err != nil || touch(rs) != ready {
				b.Fatalf("Select: %d ready, %v; want %d", len(rs), err, ready)
			}
		}
	})
}

// pairSpan is about how long benchPaired runs one kind of wait before it
// switches to the other: short beside the machine's drift, long beside a
// clock read.
const pairSpan = 50 * time.Microsecond

// benchPaired runs the raw wait and SelectInto in alternate blocks, as
// many of one kind as take about pairSpan (one, for waits longer than
// that), and reports each one's time per wait and their ratio, "ours/raw".
// Separate benchmarks run seconds apart, and on a virtual machine whose
// speed drifts by 10% and more in that time their ratio drifts with it;
// blocks microseconds apart see the same machine. One op is one wait.
func benchPaired(b *testing.B, raw, ours func() bool) {
	names := [2]string{"raw wait", "SelectInto"}
	benchAlternating(b, "wait", [2]func() bool{raw, ours}, func(kind int) {
		b.Fatalf("%s: not what the other benchmarks found ready", names[kind])
	})
}

// benchAlternating is benchPaired for any two calls, raw first, of which
// unit is one: "raw-ns/"+unit, "ours-ns/"+unit and "ours/raw". When a
// call returns false, its block's clock stops while redo(kind) makes it
// ready (or fails the benchmark), and the call is made again.
func benchAlternating(b *testing.B, unit string, calls [2]func() bool, redo func(kind int)) {
	var total [2]time.Duration
	var count [2]int
	start := time.Now()
	call := func(kind int) {
		for !calls[kind]() {
			total[kind] += time.Since(start)
			redo(kind)
			start = time.Now()
		}
	}
	// The block size, from one call of each kind.
	call(0)
	call(1)
	block := max(1, min(64, int(2*pairSpan/max(time.Since(start), 1))))
	total = [2]time.Duration{}
	kind, k := 0, 0
	b.ReportAllocs()
	start = time.Now()
	for b.Loop() {
		call(kind)
		if k++; k == block {
			now := time.Now()
			total[kind] += now.Sub(start)
			count[kind] += k
			start, k, kind = now, 0, kind^1
		}
	}
	if count[0] == 0 || count[1] == 0 {
		return // b.N too small for a block of each (-benchtime=1x)
	}
	per := [2]float64{}
	for i := range per {
		per[i] = float64(total[i].Nanoseconds()) / float64(count[i])
	}
	b.ReportMetric(per[0], "raw-ns/"+unit)
	b.ReportMetric(per[1], "ours-ns/"+unit)
	b.ReportMetric(per[1]/per[0], "ours/raw")
}

// warmUp makes the first Select, which sizes the backend's buffers to the
// registrations (and builds poll's and select's sets), outside the timed
// loop: the benchmarks measure the steady state.
func warmUp(b *testing.B, s Selector, ready int) {
	b.Helper()
	rs, err := s.Select(-1)
	require.NoError(b, err)
	require.Len(b, rs, ready)
}

// scalingSizes are the registered counts of the scaling plot: powers of
// two from 16 to 16,384, the largest below this sandbox's 20,000
// descriptors; select stops below FD_SETSIZE.
func scalingSizes(backend string) []int {
	var sizes []int
	for n := 16; n <= 16_384; n *= 2 {
		if backend == "select" && n >= fdSetSize-32 {
			break
		}
		sizes = append(sizes, n)
	}
	if backend == "select" {
		sizes = append(sizes, fdSetSize-32)
	}
	return sizes
}

// BenchmarkScaling: SelectInto with one ready descriptor among more and
// more registered ones. bench/plot.sh draws bench/select-scaling.png from
// its output: select and poll grow with the registered set, epoll does not.
func BenchmarkScaling(b *testing.B) {
	for _, backend := range Backends() {
		for _, n := range scalingSizes(backend) {
			b.Run(fmt.Sprintf("%s/registered=%d", backend, n), func(b *testing.B) {
				fds := benchDescriptors(b, n, 1)
				s := newTestSelector(b, backend)
				for _, fd := range fds {
					_, err := s.Register(fd, EVENT_READ, nil)
					require.NoError(b, err)
				}
				warmUp(b, s, 1)
				rs := make([]Ready, 0, 1)
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if rs, err = s.SelectInto(rs[:0], -1); err != nil || len(rs) != 1 {
						b.Fatalf("SelectInto: %d ready, %v", len(rs), err)
					}
				}
			})
		}
	}
}

// BenchmarkRegister: Register then Unregister of one descriptor.
func BenchmarkRegister(b *testing.B) {
	for _, backend := range Backends() {
		b.Run(backend, func(b *testing.B) {
			x, _ := socketPair(b)
			s := newTestSelector(b, backend)
			b.Run("op=RegisterUnregister", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Register(x, EVENT_READ, nil); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Unregister(x); err != nil {
						b.Fatal(err)
					}
				}
			})
			if raw := rawCtls[backend]; raw != nil {
				b.Run("op=raw", func(b *testing.B) { raw.addRemove(b, x) })
			}
		})
	}
}

// BenchmarkModify: Modify of one registered descriptor, its events changed
// (a system call where the backend keeps state in the kernel) or its data
// alone (none).
func BenchmarkModify(b *testing.B) {
	for _, backend := range Backends() {
		b.Run(backend, func(b *testing.B) {
			x, _ := socketPair(b)
			s := newTestSelector(b, backend)
			_, err := s.Register(x, EVENT_READ, nil)
			require.NoError(b, err)
			b.Run("op=events", func(b *testing.B) {
				b.ReportAllocs()
				events := [2]Events{EVENT_READ | EVENT_WRITE, EVENT_READ}
				i := 0
				for b.Loop() {
					if _, err := s.Modify(x, events[i&1], nil); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("op=data", func(b *testing.B) {
				b.ReportAllocs()
				data := [2]any{nil, s}
				i := 0
				for b.Loop() {
					if _, err := s.Modify(x, EVENT_READ, data[i&1]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			if raw := rawCtls[backend]; raw != nil {
				b.Run("op=raw", func(b *testing.B) { raw.modify(b, x) })
			}
		})
	}
}

// rawCtl is the raw counterpart of Register, Unregister and Modify, for
// backends that keep their registrations in the kernel.
type rawCtl interface {
	addRemove(b *testing.B, fd int)
	modify(b *testing.B, fd int)
}

var rawCtls = map[string]rawCtl{}

// BenchmarkWakeup: Wakeup, then the Select it ends.
func BenchmarkWakeup(b *testing.B) {
	for _, backend := range Backends() {
		b.Run(backend, func(b *testing.B) {
			s := newTestSelector(b, backend)
			b.ReportAllocs()
			rs := make([]Ready, 0, 1)
			for b.Loop() {
				if err := s.Wakeup(); err != nil {
					b.Fatal(err)
				}
				var err error
				if rs, err = s.SelectInto(rs[:0], -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
