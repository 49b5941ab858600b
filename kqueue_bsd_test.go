//go:build darwin || ios || dragonfly || freebsd || netbsd || openbsd

package selectors

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// kernelFilters returns the filters that the kqueue itself reports ready
// for fd now, whatever Select makes of them: what the selector asked of
// the kernel.
func kernelFilters(t testing.TB, s *KqueueSelector, fd int) []int {
	t.Helper()
	events := make([]unix.Kevent_t, 16)
	n, err := unix.Kevent(s.Fileno(), nil, events, &unix.Timespec{})
	require.NoError(t, err)
	var filters []int
	for _, e := range events[:n] {
		if int(e.Ident) == fd {
			filters = append(filters, int(e.Filter))
		}
	}
	slices.Sort(filters)
	return filters
}

// awaitFilters waits until the kqueue reports exactly filters ready for fd.
func awaitFilters(t testing.TB, s *KqueueSelector, fd int, filters []int, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return slices.Equal(kernelFilters(t, s, fd), filters)
	}, 2*time.Second, 10*time.Millisecond, msg)
}

func sortedFilters(filters ...int) []int {
	slices.Sort(filters)
	return filters
}

func newKqueueSelector(t testing.TB) *KqueueSelector {
	t.Helper()
	s, err := NewKqueueSelector()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestKqueueFileno(t *testing.T) {
	s, err := NewKqueueSelector()
	require.NoError(t, err)
	fd := s.Fileno()
	require.Greater(t, fd, 2)
	// It is a kqueue that the caller can wait on.
	n, err := unix.Kevent(fd, nil, make([]unix.Kevent_t, 1), &unix.Timespec{})
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.Close())
	assert.Equal(t, -1, s.Fileno())
}

// The kernel reports a descriptor ready to read and to write as two
// kevents; Select makes them one Ready.
func TestKqueueOneReadyForReadAndWrite(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := socketPair(t)
	_, err := s.Register(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	writeEnd(t, b, []byte("x"))
	both := sortedFilters(unix.EVFILT_READ, unix.EVFILT_WRITE)
	awaitFilters(t, s, a, both, "the kernel's two kevents")

	assert.Equal(t, map[int]Events{a: EVENT_READ | EVENT_WRITE}, selectNow(t, s), "one Ready")
}

// Modify leaves the kernel the filters of the new events, and Unregister
// deletes them all.
func TestKqueueModifyChangesFilters(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := socketPair(t)
	writeEnd(t, b, []byte("x")) // a is readable and writable
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	awaitFilters(t, s, a, []int{unix.EVFILT_READ}, "")

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{unix.EVFILT_WRITE}, kernelFilters(t, s, a))
	_, err = s.Modify(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	assert.Equal(t, sortedFilters(unix.EVFILT_READ, unix.EVFILT_WRITE), kernelFilters(t, s, a))
	_, err = s.Unregister(a)
	require.NoError(t, err)
	assert.Empty(t, kernelFilters(t, s, a))
}

// Closing a registered descriptor is a misuse, but a common one: its
// filters go with it, and when a new file takes the number, Modify watches
// that file for every event asked, not only for those it adds (Modify
// added only the write filter here, and the new file's data went unseen).
func TestKqueueModifyAfterNumberReused(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := socketPair(t)
	writeEnd(t, b, []byte("x"))
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	awaitFilters(t, s, a, []int{unix.EVFILT_READ}, "")
	c, d := socketPair(t)
	writeEnd(t, d, []byte("x")) // c is readable and writable
	require.NoError(t, unix.Dup2(c, a), "a's number now names c's file")
	assert.Empty(t, kernelFilters(t, s, a), "closing a took its readable filter")

	_, err = s.Modify(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	both := sortedFilters(unix.EVFILT_READ, unix.EVFILT_WRITE)
	awaitFilters(t, s, a, both, "the new file's two kevents")
	assert.Equal(t, map[int]Events{a: EVENT_READ | EVENT_WRITE}, selectNow(t, s), "one Ready")
}

// A kqueue descriptor takes EVFILT_READ but refuses EVFILT_WRITE: a
// registration for both fails and leaves no read filter behind.
func TestKqueueFailedAddLeavesNothing(t *testing.T) {
	s := newKqueueSelector(t)
	inner := newKqueueSelector(t)
	a, _ := socketPair(t)
	_, err := inner.Register(a, EVENT_WRITE, nil) // inner's kqueue is readable
	require.NoError(t, err)
	fd := inner.Fileno()

	_, err = s.Register(fd, EVENT_READ|EVENT_WRITE, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kevent add write")
	assert.Empty(t, s.GetMap())
	assert.Empty(t, kernelFilters(t, s, fd), "the read filter stayed")

	// The read filter alone is taken, and seen: the check above means it.
	_, err = s.Register(fd, EVENT_READ, nil)
	require.NoError(t, err)
	awaitFilters(t, s, fd, []int{unix.EVFILT_READ}, "")
}
