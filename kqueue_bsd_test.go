//go:build darwin || ios || dragonfly || freebsd || netbsd || openbsd

package selectors

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func init() {
	unmadeSelectors = append(unmadeSelectors, &KqueueSelector{}, (*KqueueSelector)(nil))
}

// A selector not made by its constructor has no descriptor.
func TestKqueueFilenoUnmade(t *testing.T) {
	assert.Equal(t, -1, (&KqueueSelector{}).Fileno())
	assert.Equal(t, -1, (*KqueueSelector)(nil).Fileno())
}

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

// What one kevent says: its own filter's event, and both for an error;
// and whether it is a hang-up that the kernel will not report again.
func TestKqueueEvents(t *testing.T) {
	for _, c := range []struct {
		filter int
		flags  int
		fflags uint32
		want   Events
		hungUp bool
	}{
		{unix.EVFILT_READ, 0, 0, EVENT_READ, false},
		{unix.EVFILT_WRITE, 0, 0, EVENT_WRITE, false},
		{unix.EVFILT_READ, unix.EV_EOF, 0, EVENT_READ, false},                                 // the end of the stream
		{unix.EVFILT_WRITE, unix.EV_EOF, 0, EVENT_WRITE, false},                               // the reader went: a write fails
		{unix.EVFILT_READ, unix.EV_EOF, uint32(unix.ECONNRESET), allEvents, false},            // an error
		{unix.EVFILT_WRITE, unix.EV_ERROR, 0, allEvents, false},                               // a failed change
		{unix.EVFILT_WRITE, unix.EV_EOF | unix.EV_ONESHOT, 0, allEvents, true},                // FreeBSD's knlist_clear
		{unix.EVFILT_READ, unix.EV_EOF | unix.EV_ONESHOT, 0, allEvents, true},                 // a revoke
		{unix.EVFILT_READ, unix.EV_CLEAR, 0, 0, false},                                        // the pipe guard: data
		{unix.EVFILT_READ, unix.EV_CLEAR | unix.EV_EOF, 0, allEvents, true},                   // the pipe guard: the reader went
		{unix.EVFILT_READ, unix.EV_CLEAR | unix.EV_EOF | unix.EV_ONESHOT, 0, allEvents, true}, // the pipe guard: a revoke
	} {
		var e unix.Kevent_t
		unix.SetKevent(&e, 3, c.filter, c.flags)
		e.Fflags = c.fflags
		m, hungUp := keventEvents(&e)
		assert.Equal(t, c.want, m, "filter %d, flags %#x, fflags %d", c.filter, c.flags, c.fflags)
		assert.Equal(t, c.hungUp, hungUp, "filter %d, flags %#x, fflags %d: hung up", c.filter, c.flags, c.fflags)
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

// pipeEnds returns the reading and writing ends of a new non-blocking
// pipe, closed at the end of the test unless it closed them first with
// closeEnd.
func pipeEnds(t testing.TB) (r, w int) {
	t.Helper()
	var p [2]int
	require.NoError(t, unix.Pipe(p[:]))
	for _, fd := range p {
		trackEnd(t, fd)
		unix.CloseOnExec(fd)
		require.NoError(t, unix.SetNonblock(fd, true))
	}
	return p[0], p[1]
}

// assertNoFilter checks that s's kqueue holds no filter filt for fd: its
// delete fails with ENOENT. A filter left behind is deleted by the check.
func assertNoFilter(t testing.TB, s *KqueueSelector, fd, filt int) {
	t.Helper()
	err := keventChange(s.Fileno(), fd, filt, unix.EV_DELETE, 0)
	assert.ErrorIs(t, err, unix.ENOENT, "filter %d of fd %d was left behind", filt, fd)
}

// oobThenPastMark sends one urgent byte to a and has a read it and read
// past its mark, so that the urgent condition ends on every kernel: the
// BSDs and macOS keep it until the reader has read past the mark
// (SIOCATMARK), not only until the urgent byte is read.
func oobThenPastMark(t testing.TB, s Selector, a, b int) {
	t.Helper()
	sendOOB(t, b, '!')
	waitFor(t, s, map[int]Events{a: EVENT_URGENT})
	assert.Equal(t, byte('!'), recvOOB(t, a))
	writeEnd(t, b, []byte("y"))
	require.Eventually(t, func() bool { return len(readEnd(t, a, 10)) > 0 }, 2*time.Second, 10*time.Millisecond)
}

// awaitReadable waits until fd has data to read, as poll(2) sees it.
func awaitReadable(t testing.TB, fd int) {
	t.Helper()
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 2000)
	require.NoError(t, err)
	require.Equal(t, 1, n, "fd %d has nothing to read", fd)
}

// Darwin's except filter fires for plain data too (it is the read filter's
// code), and keeps NOTE_OOB once set: a socket registered for EVENT_URGENT
// alone with plain data unread is neither reported nor keeps the wait
// from blocking, before and after an urgent byte came and went. The waits
// are counted: a filter that fired at every wait would make thousands in
// the Select, where an edge-triggered one wakes it once.
func TestKqueueUrgentIgnoresPlainData(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := tcpPair(t)
	if !registerUrgent(t, s, a, EVENT_URGENT) {
		return
	}
	quietFewWaits := func(why string) {
		t.Helper()
		waits := s.waits
		assertQuiet(t, s, 200*time.Millisecond, why)
		assert.LessOrEqual(t, s.waits-waits, uint32(3), "%s: the Select spun", why)
	}
	writeEnd(t, b, []byte("n"))
	awaitReadable(t, a)
	quietFewWaits("plain data unread")
	assert.Equal(t, []byte("n"), readEnd(t, a, 10))

	oobThenPastMark(t, s, a, b)
	writeEnd(t, b, []byte("z"))
	awaitReadable(t, a)
	quietFewWaits("plain data after urgent data")
}

// The urgent condition is level-triggered, as the other events are: every
// Select reports it until the reader is past the mark. Darwin's except
// filter is edge-triggered and added again after each report for that.
func TestKqueueUrgentLevelTriggered(t *testing.T) {
	s := newKqueueSelector(t)
	a, b := tcpPair(t)
	if !registerUrgent(t, s, a, EVENT_READ|EVENT_URGENT) {
		return
	}
	sendOOB(t, b, '!')
	waitFor(t, s, map[int]Events{a: EVENT_URGENT})
	for range 3 {
		assert.Equal(t, map[int]Events{a: EVENT_URGENT}, selectNow(t, s))
	}
	assert.Equal(t, byte('!'), recvOOB(t, a))
	writeEnd(t, b, []byte("y"))
	awaitReadable(t, a)
	assert.Equal(t, []byte("y"), readEnd(t, a, 10))
	assertQuiet(t, s, 50*time.Millisecond, "past the mark")
}

// The except filter watches sockets only: for another file Register and
// Modify return the kernel's refusal (EINVAL; EOPNOTSUPP on DragonFly),
// and leave no filter behind, the read filter added before it included.
// Where the kernel has no except filter, ErrInvalidEvents.
func TestKqueueUrgentRefusedForPipe(t *testing.T) {
	s := newKqueueSelector(t)
	r, _ := pipeEnds(t)
	refused := func(err error) {
		t.Helper()
		if kqueueEvents&EVENT_URGENT == 0 {
			require.ErrorIs(t, err, ErrInvalidEvents)
			return
		}
		require.Error(t, err)
		assert.True(t, errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP), "%v", err)
		assert.Empty(t, s.GetMap())
		assertNoFilter(t, s, r, unix.EVFILT_READ)
	}
	_, err := s.Register(r, EVENT_READ|EVENT_URGENT, nil)
	refused(err)
	_, err = s.Register(r, EVENT_READ, nil)
	require.NoError(t, err)
	_, err = s.Modify(r, EVENT_READ|EVENT_URGENT, nil)
	refused(err)
}

// pipeHangUpsLost reports whether this kernel refuses a read filter on a
// pipe's writing end, as NetBSD's sys_pipe.c 1.165 does: such a kernel
// tells neither end of a pipe through kqueue that the other end closed,
// and the selector has no way around it (see KqueueSelector).
func pipeHangUpsLost(t testing.TB) bool {
	t.Helper()
	kq, err := unix.Kqueue()
	require.NoError(t, err)
	defer unix.Close(kq)
	_, w := pipeEnds(t)
	err = keventChange(kq, w, unix.EVFILT_READ, unix.EV_ADD, 0)
	if err == unix.EINVAL {
		return true
	}
	require.NoError(t, err)
	return false
}

// assertHangUpLost checks what KqueueSelector documents for kernels that
// lose a pipe's hang-up: poll(2) sees fd's condition at once, Select does
// not.
func assertHangUpLost(t testing.TB, s *KqueueSelector, fd int, events int16) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	n, err := unix.Poll(pfd, 1000)
	require.NoError(t, err)
	require.Equal(t, 1, n, "poll(2) does not see the hang-up either")
	rs, err := s.Select(200 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, checkReady(t, s, rs), "this kernel was thought to lose the hang-up: poll(2) reported %#x", pfd[0].Revents)
}

// OpenBSD, NetBSD and FreeBSD wake the write filter of a pipe whose reader
// closes before they mark the pipe closed, and never again: the writer of
// a full pipe, registered for EVENT_WRITE, was never told, where poll
// reports POLLHUP at once. Its read filter on the writing end, which the
// selector adds for that, is.
func TestKqueuePipeWriterToldReaderClosed(t *testing.T) {
	s := newKqueueSelector(t)
	r, w := pipeEnds(t)
	fillEnd(t, w)
	_, err := s.Register(w, EVENT_WRITE, nil)
	require.NoError(t, err)
	assertQuiet(t, s, 50*time.Millisecond, "a full pipe")
	closeEnd(t, r)
	if pipeHangUpsLost(t) {
		assertHangUpLost(t, s, w, unix.POLLOUT)
		return
	}
	waitFor(t, s, map[int]Events{w: EVENT_WRITE})
	_, err = unix.Write(w, []byte("x"))
	assert.ErrorIs(t, err, unix.EPIPE)
}

// The reader of an empty pipe is told that the writer closed: EVENT_READ,
// and a read returns 0. NetBSD's sys_pipe.c 1.165 loses that too.
func TestKqueuePipeReaderToldWriterClosed(t *testing.T) {
	s := newKqueueSelector(t)
	r, w := pipeEnds(t)
	_, err := s.Register(r, EVENT_READ, nil)
	require.NoError(t, err)
	assertQuiet(t, s, 50*time.Millisecond, "an empty pipe")
	closeEnd(t, w)
	if pipeHangUpsLost(t) {
		assertHangUpLost(t, s, r, unix.POLLIN)
		return
	}
	waitFor(t, s, map[int]Events{r: EVENT_READ})
	n, err := unix.Read(r, make([]byte, 1))
	require.NoError(t, err)
	assert.Zero(t, n, "the end of the stream")
}

// A hang-up is reported by every Select until the caller unregisters,
// level-triggered: FreeBSD's knlist_clear drops a pipe writer's write
// filter when the reader closes (EV_EOF|EV_ONESHOT), and the pipe guard
// reports the close once (EV_CLEAR), so the selector keeps reporting it.
// A socket whose peer closed stays reported by the kernel itself.
func TestKqueueHangupReportedUntilUnregistered(t *testing.T) {
	for _, c := range []struct {
		name string
		ends func(testing.TB) (int, int)
		full bool
	}{
		{"pipe", pipeEnds, false},
		{"full pipe", pipeEnds, true},
		{"socket", socketPair, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newKqueueSelector(t)
			peer, w := c.ends(t)
			if c.full {
				fillEnd(t, w)
			}
			_, err := s.Register(w, EVENT_WRITE, nil)
			require.NoError(t, err)
			closeEnd(t, peer)
			if c.full && pipeHangUpsLost(t) {
				assertHangUpLost(t, s, w, unix.POLLOUT)
				return
			}
			waitFor(t, s, map[int]Events{w: EVENT_WRITE})
			for range 3 {
				assert.Equal(t, map[int]Events{w: EVENT_WRITE}, selectNow(t, s), "reported once only")
			}
			_, err = s.Unregister(w)
			require.NoError(t, err)
			assert.Empty(t, selectNow(t, s))
			assertNoFilter(t, s, w, unix.EVFILT_WRITE)
			assertNoFilter(t, s, w, unix.EVFILT_READ)
		})
	}
}

// Modify after a pipe's reader closed: a change of data alone keeps the
// hang-up reported; a change of events adds the write filter again, which
// FreeBSD, DragonFly and older OpenBSD refuse with EPIPE and NetBSD before
// sys_pipe.c 1.182 with EBADF (the key is then dropped, as for any refusal
// of Modify), and macOS and newer OpenBSD take, reporting the pipe
// writable.
func TestKqueueModifyAfterPipeReaderClosed(t *testing.T) {
	s := newKqueueSelector(t)
	r, w := pipeEnds(t)
	fillEnd(t, w)
	_, err := s.Register(w, EVENT_WRITE, "old")
	require.NoError(t, err)
	closeEnd(t, r)
	if !pipeHangUpsLost(t) {
		waitFor(t, s, map[int]Events{w: EVENT_WRITE})
		key, err := s.Modify(w, EVENT_WRITE, "new")
		require.NoError(t, err)
		assert.Equal(t, "new", key.Data)
		assert.Equal(t, map[int]Events{w: EVENT_WRITE}, selectNow(t, s), "a change of data forgot the hang-up")
	}

	_, err = s.Modify(w, EVENT_READ|EVENT_WRITE, nil)
	if err != nil {
		// NetBSD's sys_pipe.c 1.165 refuses any read filter on a
		// writing end (EINVAL).
		assert.True(t, errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EBADF) ||
			pipeHangUpsLost(t) && errors.Is(err, unix.EINVAL), "%v", err)
		assert.Empty(t, s.GetMap())
		assertNoFilter(t, s, w, unix.EVFILT_READ)
		assertNoFilter(t, s, w, unix.EVFILT_WRITE)
		return
	}
	var got map[int]Events
	require.Eventually(t, func() bool {
		got = selectNow(t, s)
		return got[w]&EVENT_WRITE != 0
	}, 2*time.Second, 10*time.Millisecond, "the writer of a pipe without reader, reported %v", got)
}

// Registering EVENT_WRITE for a pipe whose reader has closed: the kernel
// refuses it (EPIPE, or EBADF on NetBSD before sys_pipe.c 1.182), and then
// nothing stays registered, the pipe guard added before it included; or
// it takes it and the pipe is reported writable.
func TestKqueueWriteFilterOnPipeWithoutReader(t *testing.T) {
	s := newKqueueSelector(t)
	r, w := pipeEnds(t)
	closeEnd(t, r)
	_, err := s.Register(w, EVENT_WRITE, nil)
	if err != nil {
		assert.True(t, errors.Is(err, unix.EPIPE) || errors.Is(err, unix.EBADF), "%v", err)
		assert.Empty(t, s.GetMap())
		assertNoFilter(t, s, w, unix.EVFILT_READ)
		assertNoFilter(t, s, w, unix.EVFILT_WRITE)
		return
	}
	waitFor(t, s, map[int]Events{w: EVENT_WRITE})
}

// The pipe guard is no read filter of the registration's: data in the
// writing end's own buffer (pipes go both ways on FreeBSD and OpenBSD) is
// never reported to a registration for EVENT_WRITE alone. A Modify that
// adds EVENT_READ swaps it for a level-triggered read filter, and back.
// Register takes EVENT_WRITE on every kernel, also where the guard is
// refused (NetBSD's sys_pipe.c 1.165) or never fires (1.182).
func TestKqueuePipeGuardIsNoReadFilter(t *testing.T) {
	s := newKqueueSelector(t)
	r, w := pipeEnds(t)
	fillEnd(t, w)
	_, err := s.Register(w, EVENT_WRITE, nil)
	require.NoError(t, err)
	assertQuiet(t, s, 50*time.Millisecond, "a full pipe")
	_, err = unix.Write(r, []byte("x"))
	backwards := err == nil
	assertQuiet(t, s, 50*time.Millisecond, "data for the writing end's guard")

	_, err = s.Modify(w, EVENT_READ|EVENT_WRITE, nil)
	if pipeHangUpsLost(t) {
		// That kernel refuses any read filter on a writing end.
		require.ErrorIs(t, err, unix.EINVAL)
		assert.Empty(t, s.GetMap())
		assertNoFilter(t, s, w, unix.EVFILT_WRITE)
		return
	}
	require.NoError(t, err)
	if backwards {
		for range 3 {
			assert.Equal(t, map[int]Events{w: EVENT_READ}, selectNow(t, s), "the read filter is level-triggered")
		}
	}
	_, err = s.Modify(w, EVENT_WRITE, nil)
	require.NoError(t, err)
	assertQuiet(t, s, 50*time.Millisecond, "the guard again")
	_, err = s.Unregister(w)
	require.NoError(t, err)
	assertNoFilter(t, s, w, unix.EVFILT_READ)
	assertNoFilter(t, s, w, unix.EVFILT_WRITE)
}

// A regular file at its end is never readable for kqueue's read filter
// (filt_vfsread, filt_ufsread, filt_genfsread, filt_vnode_common), where
// poll and select report a regular file always readable. FreeBSD's
// NOTE_FILE_POLL and OpenBSD's NOTE_EOF ask for poll's behaviour; macOS,
// NetBSD and DragonFly report it readable only before its end, as
// KqueueSelector documents.
func TestKqueueRegularFileAtEOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	open := func() int {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		trackEnd(t, fd)
		return fd
	}
	s := newKqueueSelector(t)
	before, atEnd := open(), open()
	_, err := unix.Read(atEnd, make([]byte, 1))
	require.NoError(t, err)
	for _, fd := range []int{before, atEnd} {
		_, err := s.Register(fd, EVENT_READ|EVENT_WRITE, nil)
		require.NoError(t, err)
	}
	atEndMask := EVENT_WRITE
	if regularFileFflags != 0 {
		atEndMask |= EVENT_READ
	}
	assert.Equal(t, map[int]Events{before: EVENT_READ | EVENT_WRITE, atEnd: atEndMask}, selectNow(t, s))

	_, err = unix.Pwrite(before, []byte("y"), 1)
	require.NoError(t, err)
	waitFor(t, s, map[int]Events{before: EVENT_READ | EVENT_WRITE, atEnd: EVENT_READ | EVENT_WRITE})
}
