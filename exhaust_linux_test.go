package selectors

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The descriptor-exhaustion tests fill the process's descriptor table.
// They must not run in parallel with anything (no t.Parallel here, and
// none in this package), since every other test would meet EMFILE.

// fillLimit bounds the descriptor table that the exhaustion tests fill:
// far past select's FD_SETSIZE and this machine's 20,000, and quick to
// fill (a second or so) where the hard limit is in the millions.
const fillLimit = 1 << 15

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit, or to
// fillLimit if that is lower, for the test, and returns it.
func raiseNoFile(t *testing.T) int {
	t.Helper()
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	raised := saved
	raised.Cur = min(raised.Max, fillLimit)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
	return int(raised.Cur)
}

// closeAll closes every descriptor of fds.
func closeAll(t *testing.T, fds []int) {
	t.Helper()
	for _, fd := range fds {
		if err := unix.Close(fd); err != nil {
			t.Errorf("close(%d): %v", fd, err)
		}
	}
}

// TestFillDescriptorTable fills the process to within a few dozen descriptors
// of its limit with socket-pair ends registered for EVENT_WRITE, on epoll
// and then on poll, and checks that one Select reports every one of them
// writable and that they all unregister.
func TestFillDescriptorTable(t *testing.T) {
	limit := raiseNoFile(t)
	before := openFDs(t)
	const margin = 40 // descriptors left free: the selector's, the runtime's
	for _, backend := range []string{"epoll", "poll"} {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			s, err := New(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A select selector made while low numbers are free, to see
			// it refuse the high ones.
			sel, err := NewSelectSelector()
			if err != nil {
				t.Fatal(err)
			}
			defer sel.Close()
			pairs := (limit - openFDs(t) - margin) / 2
			ends := make([]int, 0, 2*pairs)
			defer func() { closeAll(t, ends) }()
			for range pairs {
				p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatalf("socketpair after %d ends: %v", len(ends), err)
				}
				ends = append(ends, p[0], p[1])
			}
			for _, fd := range ends {
				if _, err := s.Register(fd, EVENT_WRITE, nil); err != nil {
					t.Fatalf("Register(%d): %v", fd, err)
				}
			}
			open := openFDs(t)
			t.Logf("%s: %d ends registered, %d descriptors open of %d", backend, len(ends), open, limit)
			if open < limit-2*margin {
				t.Fatalf("only %d descriptors open of %d", open, limit)
			}

			// select refuses the high numbers, and a new select selector
			// finds no number below FD_SETSIZE for its waker.
			high := ends[len(ends)-1]
			if _, err := sel.Register(high, EVENT_WRITE, nil); !errors.Is(err, ErrInvalidFileObj) {
				t.Errorf("select: Register(%d): %v, want ErrInvalidFileObj", high, err)
			}
			if s2, err := NewSelectSelector(); !errors.Is(err, ErrInvalidFileObj) {
				t.Errorf("NewSelectSelector with every number below FD_SETSIZE taken: %v, %v; want ErrInvalidFileObj", s2, err)
			}
			if n := openFDs(t); n != open {
				t.Errorf("%d descriptors open after the refused NewSelectSelector, %d before", n, open)
			}

			// One Select holds them all (epoll's buffer grows with the
			// registrations), and the next one too.
			for round := range 2 {
				rs, err := s.Select(0)
				if err != nil {
					t.Fatalf("Select: %v", err)
				}
				if len(rs) != len(ends) {
					t.Fatalf("Select %d reported %d of %d writable ends", round, len(rs), len(ends))
				}
				seen := make(map[int]bool, len(rs))
				for _, r := range rs {
					if r.Mask != EVENT_WRITE || seen[r.Key.FD] {
						t.Fatalf("Select %d: fd %d reported with %v (twice: %v)", round, r.Key.FD, r.Mask, seen[r.Key.FD])
					}
					seen[r.Key.FD] = true
				}
			}

			for _, fd := range ends {
				if _, err := s.Unregister(fd); err != nil {
					t.Fatalf("Unregister(%d): %v", fd, err)
				}
			}
			if m := s.GetMap(); len(m) != 0 {
				t.Fatalf("%d keys left after unregistering all", len(m))
			}
			if rs, err := s.Select(0); err != nil || len(rs) != 0 {
				t.Fatalf("Select after unregistering all: %d ready, %v", len(rs), err)
			}
			t.Logf("%s: filled, selected, unregistered in %v", backend, time.Since(start))
		})
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open, %d before", after, before)
	}
	goleak.VerifyNone(t)
}

// exhaust opens descriptors (a pipe, then duplicates of its read end)
// until the process has none left, and returns them.
func exhaust(t *testing.T, limit int) []int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	fds := []int{p[0], p[1]}
	for len(fds) <= limit {
		fd, err := unix.FcntlInt(uintptr(p[0]), unix.F_DUPFD_CLOEXEC, 0)
		if err == unix.EMFILE {
			return fds
		}
		if err != nil {
			closeAll(t, fds)
			t.Fatalf("dup after %d descriptors: %v", len(fds), err)
		}
		fds = append(fds, fd)
	}
	closeAll(t, fds)
	t.Fatalf("%d descriptors opened and no EMFILE: RLIMIT_NOFILE is %d", len(fds), limit)
	return nil
}

// freeDescriptors counts the descriptors the process can still open (at
// most max), by opening and closing them.
func freeDescriptors(t *testing.T, max int) int {
	t.Helper()
	var opened []int
	defer func() { closeAll(t, opened) }()
	for len(opened) < max {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			t.Fatalf("eventfd: %v", err)
		}
		opened = append(opened, fd)
	}
	return len(opened)
}

// The constructors, as Selectors.
var constructors = []struct {
	name string
	new  func() (Selector, error)
	fds  int // the descriptors a selector holds on Linux
}{
	{"NewEpollSelector", func() (Selector, error) { return asSelector(NewEpollSelector()) }, 2},
	{"NewPollSelector", func() (Selector, error) { return asSelector(NewPollSelector()) }, 1},
	{"NewSelectSelector", func() (Selector, error) { return asSelector(NewSelectSelector()) }, 1},
	{"DefaultSelector", DefaultSelector, 0},
}

// TestConstructorsOutOfDescriptors exhausts the process's descriptors and
// checks that every constructor returns an error wrapping EMFILE, with no
// panic and nothing leaked; then, with one descriptor free, that epoll
// (which needs two) still leaks nothing and DefaultSelector falls back to
// poll; and with a few free, that every constructor works again.
func TestConstructorsOutOfDescriptors(t *testing.T) {
	limit := raiseNoFile(t)
	beforeFDs := openFDs(t)
	start := time.Now()
	fds := exhaust(t, limit)
	defer func() {
		closeAll(t, fds)
		if after := openFDs(t); after != beforeFDs {
			t.Errorf("%d descriptors open, %d before", after, beforeFDs)
		}
		goleak.VerifyNone(t)
	}()
	t.Logf("%d descriptors opened until EMFILE (limit %d), in %v", len(fds), limit, time.Since(start))

	// None free.
	for _, c := range constructors {
		s, err := c.new()
		if !errors.Is(err, unix.EMFILE) || s != nil {
			t.Errorf("%s with no descriptor free: %v, %v; want an error wrapping EMFILE", c.name, s, err)
			if s != nil {
				s.Close()
			}
		}
	}
	if n := freeDescriptors(t, 10); n != 0 {
		t.Fatalf("%d descriptors free after the failed constructors, want 0", n)
	}

	// One free, a low number (select's waker must be below FD_SETSIZE):
	// epoll makes its instance, fails on its waker and must close the
	// instance again; the others fit.
	closeAll(t, fds[:1])
	fds = fds[1:]
	for _, c := range constructors {
		s, err := c.new()
		switch {
		case c.fds > 1:
			if !errors.Is(err, unix.EMFILE) || s != nil {
				t.Errorf("%s with one descriptor free: %v, %v; want an error wrapping EMFILE", c.name, s, err)
			}
		case err != nil:
			t.Errorf("%s with one descriptor free: %v", c.name, err)
		default:
			if c.name == "DefaultSelector" && BackendName(s) != "poll" {
				t.Errorf("DefaultSelector with one descriptor free is %q, want poll (epoll needs two)", BackendName(s))
			}
			if err := s.Close(); err != nil {
				t.Errorf("%s: Close: %v", c.name, err)
			}
		}
		if n := freeDescriptors(t, 10); n != 1 {
			t.Fatalf("after %s with one descriptor free, %d are free: it leaked", c.name, n)
		}
	}

	// A few free: everything works, and works as a selector.
	const few = 8
	closeAll(t, fds[:few])
	fds = fds[few:]
	for _, c := range constructors {
		s, err := c.new()
		if err != nil {
			t.Errorf("%s with %d descriptors free: %v", c.name, few+1, err)
			continue
		}
		if err := s.Wakeup(); err != nil {
			t.Errorf("%s: Wakeup: %v", c.name, err)
		}
		if rs, err := s.Select(time.Second); err != nil || len(rs) != 0 {
			t.Errorf("%s: Select after Wakeup: %v, %v", c.name, rs, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", c.name, err)
		}
		if n := freeDescriptors(t, 2*few); n != few+1 {
			t.Errorf("after %s and Close, %d descriptors free, want %d", c.name, n, few+1)
		}
	}
}
