//go:build linux

package selectors

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestSelectUnderSignals runs Select(500ms) on every backend while the
// process takes a storm of signals (see underSignals). Every interrupted
// wait must be resumed with the time that remains: no error (EINTR never
// leaks), never back before 500ms, never long after.
func TestSelectUnderSignals(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			s := newTestSelector(t, name)
			a, _ := socketPair(t)
			if _, err := s.Register(a, EVENT_READ, nil); err != nil { // never readable
				t.Fatal(err)
			}
			before := openFDs(t)
			var (
				ready   []Ready
				err     error
				elapsed time.Duration
			)
			underSignals(t, func() {
				start := time.Now()
				ready, err = s.Select(signalTimeout)
				elapsed = time.Since(start)
			})
			t.Logf("%s: Select(%v) took %v", name, signalTimeout, elapsed)
			if err != nil {
				t.Errorf("Select under signals: %v", err)
			}
			if len(ready) != 0 {
				t.Errorf("Select under signals reported %v; nothing is ready", ready)
			}
			if elapsed < signalTimeout {
				t.Errorf("Select(%v) returned after %v: early", signalTimeout, elapsed)
			}
			if elapsed > signalTimeout+signalSlack {
				t.Errorf("Select(%v) returned after %v: late", signalTimeout, elapsed)
			}
			if after := openFDs(t); after != before {
				t.Errorf("%d descriptors open, %d before the storm", after, before)
			}
		})
	}
}

// A positive timeout below the backend's resolution is rounded up before
// Select takes its deadline, so a wait that a signal interrupts goes on for
// what remains of the whole resolution. The deadline was once the timeout
// itself: Select(1ns) interrupted after 50µs found it passed and returned.
func TestSelectRoundedUpUnderSignals(t *testing.T) {
	for _, name := range Backends() {
		t.Run(name, func(t *testing.T) {
			res, ok := resolution[name]
			require.True(t, ok, "no resolution known for backend %q", name)
			s := newTestSelector(t, name)
			var (
				early []time.Duration // the Selects that ended before res
				err   error
			)
			underSignals(t, func() {
				for range 100 {
					start := time.Now()
					var rs []Ready
					rs, err = s.Select(time.Nanosecond)
					elapsed := time.Since(start)
					if err != nil || len(rs) != 0 {
						err = fmt.Errorf("Select(1ns) = %v, %v", rs, err)
						return
					}
					if elapsed < res {
						early = append(early, elapsed)
					}
				}
			})
			require.NoError(t, err)
			assert.Empty(t, early, "Select(1ns) interrupted returned before its resolution, %v", res)
		})
	}
}

const (
	signalTimeout = 500 * time.Millisecond
	signalSlack   = 1500 * time.Millisecond // a generous bound for a loaded machine
	signalMaxSent = 2000                    // SIGUSR1 sent, at most, per storm
	signalMaxKids = 40                      // children, at most, per storm
	signalMaxWork = 10 * time.Second        // for the work under the storm
)

// noChildrenEnv, when set (CI sets it for the arm64 run under qemu-user),
// makes the storm send SIGCHLD itself instead of starting children: os/exec
// under QEMU user mode 7.2, Debian 12's, can hang starting a process
// (golang/go#69259), and it did here once, in forkExec waiting for a child
// that never ran. Every assertion stays; the native runs keep the children.
const noChildrenEnv = "SELECTORS_TEST_NO_CHILDREN"

// underSignals runs work on a thread of its own while the process takes a
// storm of signals: SIGUSR1 sent to the process and to that very thread,
// SIGCHLD from short-lived children, and SIGPROF from the CPU profiler. It
// returns once work has, and fails t if work takes more than
// signalMaxWork, or if the storm does not interrupt a raw poll on the
// thread: then it would prove nothing.
//
// Linux only for tgkill, which aims the signals at the working thread: a
// signal sent to the process lands on whichever thread the kernel picks.
func underSignals(t *testing.T, work func()) {
	t.Helper()
	noChildren := os.Getenv(noChildrenEnv) != ""
	truePath := ""
	if !noChildren {
		var err error
		if truePath, err = exec.LookPath("true"); err != nil {
			t.Fatalf("the storm needs true(1) for its children: %v", err)
		}
	}

	// SIGUSR1 and SIGCHLD are caught, so they interrupt without killing.
	var caught atomic.Int64
	sigs := make(chan os.Signal, 256)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGCHLD)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for range sigs {
			caught.Add(1)
		}
	}()
	defer func() {
		signal.Stop(sigs)
		close(sigs)
		<-counted
	}()

	// SIGPROF: a profile may already run (go test -cpuprofile), which
	// sends SIGPROF just as well.
	if err := pprof.StartCPUProfile(io.Discard); err == nil {
		defer pprof.StopCPUProfile()
	} else {
		t.Logf("CPU profile already running: %v", err)
	}

	tids := make(chan int, 1)
	eintrs := make(chan int, 1) // how often a raw poll on the thread was interrupted
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		// One thread, known by its id, so that tgkill reaches the work.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		<-started
		// The control: under the same storm, a raw poll on this thread
		// meets EINTR, so the work meets it too.
		n := 0
		for range 5 {
			if _, err := unix.Poll(nil, 50); err == unix.EINTR {
				n++
			}
		}
		work()
		eintrs <- n
		<-release // keep the thread until the signals stop
	}()
	tid := <-tids
	pid := os.Getpid()

	// raise sends sig to the process and to the working thread.
	raise := func(sig unix.Signal) error {
		if err := unix.Kill(pid, sig); err != nil {
			return fmt.Errorf("kill %v: %w", sig, err)
		}
		if err := unix.Tgkill(pid, tid, sig); err != nil {
			return fmt.Errorf("tgkill %v: %w", sig, err)
		}
		return nil
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, kids atomic.Int64
	wg.Go(func() {
		for range signalMaxSent / 2 {
			select {
			case <-stop:
				return
			default:
			}
			if err := raise(unix.SIGUSR1); err != nil {
				t.Error(err)
				return
			}
			sent.Add(2)
			time.Sleep(500 * time.Microsecond)
		}
	})
	wg.Go(func() {
		for range signalMaxKids {
			select {
			case <-stop:
				return
			default:
			}
			if noChildren {
				// The SIGCHLD a child's exit would bring, to the process
				// and to the working thread, at about a child's pace.
				if err := raise(unix.SIGCHLD); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(2 * time.Millisecond)
				continue
			}
			// Run waits, so every child is reaped.
			if err := exec.Command(truePath).Run(); err != nil {
				t.Errorf("child: %v", err)
				return
			}
			kids.Add(1)
		}
	})
	wg.Go(func() {
		// Work for the profiler to sample, a millisecond at a time.
		for {
			select {
			case <-stop:
				return
			default:
			}
			for end := time.Now().Add(time.Millisecond); time.Now().Before(end); {
			}
			time.Sleep(time.Millisecond)
		}
	})
	close(started)

	n, timedOut := 0, false
	select {
	case n = <-eintrs:
	case <-time.After(signalMaxWork):
		timedOut = true
	}
	close(stop)
	wg.Wait()
	close(release)
	if timedOut {
		t.Fatalf("the work under signals did not end within %v", signalMaxWork)
	}

	if noChildren {
		t.Logf("%s set: SIGCHLD sent by the test, no children started", noChildrenEnv)
	}
	t.Logf("%d SIGUSR1 sent, %d children, %d signals caught; %d of 5 raw polls interrupted",
		sent.Load(), kids.Load(), caught.Load(), n)
	if n == 0 {
		t.Errorf("no raw poll on the working thread was interrupted: the storm does not reach the work, so the test proves nothing")
	}
}
