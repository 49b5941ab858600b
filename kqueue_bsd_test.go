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
func init() {
	unmadeSelectors = append(unmadeSelectors, &KqueueSelector{}, (*KqueueSelector)(nil))
}

// A selector not made by its constructor has no descriptor.
func TestKqueueFilenoUnmade(t *testing.T) {
	assert.Equal(t, -1, (&KqueueSelector{}).Fileno())
	assert.Equal(t, -1, (*KqueueSelector)(nil).Fileno())
}

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

// A peer that shuts down its side leaves the read filter ready with
// EV_EOF for good. That is the end of the stream, not an error: the
// socket is reported readable only, as poll and epoll report it, and not
// writable while its buffer is full (it was reported both, and a loop
// waiting to write spun on it).
func TestKqueueHalfClosedIsNotWritable(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := socketPair(t)
	fillEnd(t, a) // a is not writable
	_, err := s.Register(a, EVENT_READ|EVENT_WRITE, nil)
	require.NoError(t, err)
	require.NoError(t, unix.Shutdown(b, unix.SHUT_WR))
	awaitFilters(t, s, a, []int{unix.EVFILT_READ}, "the end of b's stream")
	assert.Equal(t, map[int]Events{a: EVENT_READ}, selectNow(t, s))
}

// What one kevent says: its own filter's event, and both for an error.
func TestKqueueEvents(t *testing.T) {
	for _, c := range []struct {
		filter int
		flags  int
		fflags uint32
		want   Events
	}{
		{unix.EVFILT_READ, 0, 0, EVENT_READ},
		{unix.EVFILT_WRITE, 0, 0, EVENT_WRITE},
		{unix.EVFILT_READ, unix.EV_EOF, 0, EVENT_READ},                                     // the end of the stream
		{unix.EVFILT_WRITE, unix.EV_EOF, 0, EVENT_WRITE},                                   // the reader went: a write fails
		{unix.EVFILT_READ, unix.EV_EOF, uint32(unix.ECONNRESET), EVENT_READ | EVENT_WRITE}, // an error
		{unix.EVFILT_WRITE, unix.EV_ERROR, 0, EVENT_READ | EVENT_WRITE},
	} {
		var e unix.Kevent_t
		unix.SetKevent(&e, 3, c.filter, c.flags)
		e.Fflags = c.fflags
		assert.Equal(t, c.want, keventEvents(&e), "filter %d, flags %#x, fflags %d", c.filter, c.flags, c.fflags)
	}
}

// Modify to fewer filters after a descriptor was closed while registered
// and a new file took its number: the delete of a filter that went with
// the old file fails (ENOENT), and in one kevent call with the adds it
// stopped the call, failing the Modify and dropping the key, where
// Python's modify, an unregister and a register, succeeds.
func TestKqueueModifyToFewerAfterNumberReused(t *testing.T) {
	s := newKqueueSelector(t)
	a, _ := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	c, _ := socketPair(t) // writable
	require.NoError(t, unix.Dup2(c, a), "a's number now names c's file")

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	awaitFilters(t, s, a, []int{unix.EVFILT_WRITE}, "the new file's write filter")
	assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
}

// Modify of a descriptor closed since it was registered fails with EBADF
// (the add of the new filter) and drops the key, as on epoll and /dev/poll.
func TestKqueueModifyClosedDropsKey(t *testing.T) {
	err := modifyClosedDropsKey(t, newKqueueSelector(t))
	assert.Contains(t, err.Error(), "kevent modify")
}
