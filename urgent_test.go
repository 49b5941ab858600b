package selectors

// EVENT_URGENT on every backend of the platform: TCP urgent data, as
// API.md's "Exceptional conditions" says.

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// selectExceptShowsErrors is whether this platform's select shows a
// socket's error in the exceptional set too: illumos's libc select, made
// over poll, marks it there on POLLERR and POLLHUP; Linux, the BSDs and
// Winsock do not.
var selectExceptShowsErrors = runtime.GOOS == "solaris" || runtime.GOOS == "illumos"

// noUrgent names the backends of this platform whose kernel has no
// exceptional condition to report; a kernel's test file fills it.
var noUrgent = map[string]bool{}

// urgentAloneMissesErrors names the backends of this platform whose
// exceptional condition leaves a socket's error out, so that a socket
// registered for EVENT_URGENT alone meets its error at its next operation,
// as with select(2); a kernel's test file fills it.
var urgentAloneMissesErrors = map[string]bool{}

// urgentUntilMark is whether this platform's TCP keeps the urgent
// condition until the reader has read past the urgent byte's mark in the
// stream (SIOCATMARK: so_oobmark and SS_RCVATMARK in the BSDs' and
// Darwin's tcp_input and soreceive), which may be after it read the
// urgent byte, where Linux ends it when the urgent byte is read.
var urgentUntilMark = map[string]bool{
	"darwin": true, "ios": true, "dragonfly": true, "freebsd": true, "netbsd": true, "openbsd": true,
}[runtime.GOOS]

// registerUrgent registers fd for events, which hold EVENT_URGENT, and
// reports whether the backend took it; one that cannot report it must
// refuse it with ErrInvalidEvents naming the backend.
func registerUrgent(t *testing.T, s Selector, fd int, events Events) bool {
	t.Helper()
	_, err := s.Register(fd, events, nil)
	name := BackendName(s)
	if noUrgent[name] {
		require.ErrorIs(t, err, ErrInvalidEvents)
		assert.Contains(t, err.Error(), name)
		assert.Empty(t, s.GetMap())
		return false
	}
	require.NoError(t, err)
	return true
}

// Urgent data is EVENT_URGENT, whether registered alone or with
// EVENT_READ, and only while it waits: a socket readable with plain data
// is not reported to a registration for EVENT_URGENT alone.
func TestUrgentData(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, b := tcpPair(t)
		if !registerUrgent(t, s, a, EVENT_READ|EVENT_URGENT) {
			return
		}
		writeEnd(t, b, []byte("n"))
		waitFor(t, s, map[int]Events{a: EVENT_READ})
		_, err := s.Modify(a, EVENT_URGENT, nil)
		require.NoError(t, err)
		assertQuiet(t, s, 100*time.Millisecond, "plain data alone")

		sendOOB(t, b, '!')
		waitFor(t, s, map[int]Events{a: EVENT_URGENT})
		_, err = s.Modify(a, EVENT_READ|EVENT_URGENT, nil)
		require.NoError(t, err)
		waitFor(t, s, map[int]Events{a: EVENT_READ | EVENT_URGENT})

		assert.Equal(t, byte('!'), recvOOB(t, a))
		if urgentUntilMark {
			// The mark is behind "n": reading "n" takes the reader to it,
			// and reading on, past it.
			waitFor(t, s, map[int]Events{a: EVENT_READ | EVENT_URGENT})
			assert.Equal(t, []byte("n"), readEnd(t, a, 10))
			waitFor(t, s, map[int]Events{a: EVENT_URGENT})
			writeEnd(t, b, []byte("m"))
			waitFor(t, s, map[int]Events{a: EVENT_READ | EVENT_URGENT})
			assert.Equal(t, []byte("m"), readEnd(t, a, 10))
		} else {
			waitFor(t, s, map[int]Events{a: EVENT_READ})
			assert.Equal(t, []byte("n"), readEnd(t, a, 10))
		}
		_, err = s.Modify(a, EVENT_URGENT, nil)
		require.NoError(t, err)
		assertQuiet(t, s, 100*time.Millisecond, "the urgent byte read")
	})
}

// A registration for EVENT_URGENT alone is woken by an error too, as
// every event registered is, where the kernel reports errors for it:
// poll-like kernels do; select(2) shows a socket's error only in its read
// and write sets, so there the registration learns of it at its next
// operation.
func TestUrgentErrorIsEveryEvent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, b := tcpPair(t)
		c, d := tcpPair(t)
		if !registerUrgent(t, s, a, EVENT_URGENT) {
			return
		}
		_, err := s.Register(c, allEvents, nil)
		require.NoError(t, err)
		drainWritable(t, s, c)
		resetEnd(t, b)
		resetEnd(t, d)
		want := map[int]Events{a: EVENT_URGENT, c: allEvents}
		if BackendName(s) == "select" && !selectExceptShowsErrors {
			want = map[int]Events{c: EVENT_READ | EVENT_WRITE}
		} else if urgentAloneMissesErrors[BackendName(s)] {
			want = map[int]Events{c: allEvents}
		}
		waitFor(t, s, want)
	})
}

// drainWritable fills c's buffer, so that only an error makes it
// writable, and waits until the selector agrees.
func drainWritable(t *testing.T, s Selector, c int) {
	t.Helper()
	fillEnd(t, c)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if selectNow(t, s)[c]&EVENT_WRITE == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fd %d stays writable with a full buffer", c)
}

// assertQuiet checks that Select reports nothing within d.
func assertQuiet(t *testing.T, s Selector, d time.Duration, why string) {
	t.Helper()
	rs, err := s.Select(d)
	require.NoError(t, err)
	assert.Empty(t, checkReady(t, s, rs), why)
}

// A backend refuses EVENT_URGENT with a wrapped ErrInvalidEvents that
// names it, or takes it everywhere: in Register and in Modify.
func TestUrgentRefusedOrTaken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Selector) {
		a, _ := socketPair(t)
		_, err := s.Register(a, EVENT_READ, nil)
		require.NoError(t, err)
		_, err = s.Modify(a, EVENT_READ|EVENT_URGENT, "urgent")
		if noUrgent[BackendName(s)] {
			require.True(t, errors.Is(err, ErrInvalidEvents), "%v", err)
			key, err := s.GetKey(a)
			require.NoError(t, err, "a refused EVENT_URGENT unregistered the object")
			assert.Equal(t, EVENT_READ, key.Events)
			return
		}
		require.NoError(t, err)
		key, err := s.GetKey(a)
		require.NoError(t, err)
		assert.Equal(t, EVENT_READ|EVENT_URGENT, key.Events)
	})
}
