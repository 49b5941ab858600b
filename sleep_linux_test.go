package selectors

// A Select with nothing to report sleeps in the kernel. These tests read
// the CPU time of the thread that selects to catch one that spins
// instead: a wait that returns at once, again and again (an undrained
// waker, a set that lost track of the keys, a timeout rounded down to
// zero). The thread's, not the process's: the runtime's other threads
// (sysmon, the collector) work meanwhile, and under an emulator such as
// qemu-user their work alone could pass for a spin.

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// assertSleeps runs Select(timeout), which must find nothing, and checks
// that it waited the timeout out asleep: a tenth of it on the CPU at most,
// where a spinning Select takes nearly all of it.
func assertSleeps(t *testing.T, s Selector, timeout time.Duration) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpuBefore, start := cpuTime(t), time.Now()
	rs, err := s.Select(timeout)
	cpu, wall := cpuTime(t)-cpuBefore, time.Since(start)
	require.NoError(t, err)
	assert.Empty(t, rs)
	assert.GreaterOrEqual(t, wall, timeout)
	assert.Less(t, cpu, timeout/10, "Select(%v) used %v of CPU in %v: it spins", timeout, cpu, wall)
}

// A Wakeup is consumed by the Select it ends: the next Select sleeps.
func TestWakeupConsumed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, _ := socketPair(t)
		_, err := s.Register(a, EVENT_READ, nil) // never ready
		require.NoError(t, err)
		require.NoError(t, s.Wakeup())
		rs, err := s.Select(5 * time.Second)
		require.NoError(t, err)
		assert.Empty(t, rs)
		assertSleeps(t, s, 300*time.Millisecond)
	})
}

// Wakeups before a Select coalesce, however many: none fails when a pipe
// waker is full, and one Select consumes them all.
func TestManyWakeupsBeforeSelect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		for i := range 100_000 { // past a pipe's 64 KiB
			require.NoError(t, s.Wakeup(), "Wakeup %d", i)
		}
		start := time.Now()
		rs, err := s.Select(5 * time.Second)
		require.NoError(t, err)
		assert.Empty(t, rs)
		assert.Less(t, time.Since(start), time.Second)
		assertSleeps(t, s, 300*time.Millisecond)
	})
}

// An unregistered descriptor leaves the kernel's set even when no Select
// was blocked to be woken: a ready one left in a poll set would make every
// wait return at once.
func TestUnregisteredReadyDescriptorLeavesSet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, _ := socketPair(t)
		_, err := s.Register(a, EVENT_WRITE, nil) // always ready
		require.NoError(t, err)
		assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
		_, err = s.Unregister(a)
		require.NoError(t, err)
		assertSleeps(t, s, 300*time.Millisecond)
	})
}

// A timeout that is not a whole number of milliseconds is rounded up for
// the kernel, not down: rounded down, the end of every such Select would be
// a loop of waits with a timeout of zero.
func TestSubMillisecondTimeoutSleeps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		const rounds, timeout = 100, 900 * time.Microsecond
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpuBefore, start := cpuTime(t), time.Now()
		for range rounds {
			rs, err := s.Select(timeout)
			require.NoError(t, err)
			require.Empty(t, rs)
		}
		cpu, wall := cpuTime(t)-cpuBefore, time.Since(start)
		assert.GreaterOrEqual(t, wall, rounds*timeout)
		assert.Less(t, cpu, wall/4, "%d × Select(%v) used %v of CPU in %v: it spins", rounds, timeout, cpu, wall)
	})
}

// cpuTime is the CPU time, user and system, that the calling thread has
// used: lock the goroutine to it first.
func cpuTime(t testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
