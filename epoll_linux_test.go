package selectors

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// epoll refuses regular files with EPERM, and nothing stays registered.
func TestEpollRegularFile(t *testing.T) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	defer s.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "regular"))
	require.NoError(t, err)
	defer f.Close()
	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()

	for _, file := range []*os.File{f, null} {
		_, err = s.Register(file, EVENT_READ, nil)
		require.ErrorIs(t, err, unix.EPERM)
		assert.Contains(t, err.Error(), "epoll_ctl add")
		assert.Contains(t, err.Error(), "poll and select can", "the error says what to use instead")
		assert.Empty(t, s.GetMap())
		_, err = s.GetKey(file)
		require.ErrorIs(t, err, ErrNotRegistered)
	}

	// poll and select take it, and report it ready, as Python's do.
	for _, name := range []string{"poll", "select"} {
		other := newTestSelector(t, name)
		_, err := other.Register(f, EVENT_READ|EVENT_WRITE, nil)
		require.NoError(t, err)
		fd := rawFD(t, f)
		assert.Equal(t, map[int]Events{fd: EVENT_READ | EVENT_WRITE}, selectNow(t, other))
	}
}

// When the kernel refuses a Modify, the error is returned and the object is
// no longer registered: the keys and the kernel never disagree.
func TestEpollModifyRefusedDropsKey(t *testing.T) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	defer s.Close()
	err = modifyClosedDropsKey(t, s) // epoll_ctl(MOD) fails with EBADF
	assert.Contains(t, err.Error(), "epoll_ctl mod")
}

func init() {
	unmadeSelectors = append(unmadeSelectors, &EpollSelector{}, (*EpollSelector)(nil))
}

// A selector not made by its constructor has no descriptor.
func TestEpollFilenoUnmade(t *testing.T) {
	assert.Equal(t, -1, (&EpollSelector{}).Fileno())
	assert.Equal(t, -1, (*EpollSelector)(nil).Fileno())
}

func TestEpollFileno(t *testing.T) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	fd := s.Fileno()
	require.Greater(t, fd, 2)
	// It is an epoll instance that the caller can watch.
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	link, err := os.Readlink(filepath.Join("/proc/self/fd", itoa(fd)))
	require.NoError(t, err)
	assert.Contains(t, link, "eventpoll")
	require.NoError(t, s.Close())
	assert.Equal(t, -1, s.Fileno())
}

// After the purge of a stale item (see epoll.purge), Fileno is the same
// number but names a new epoll instance: a selector that watched the old
// one sees nothing more until it registers the number again, as Fileno's
// documentation says.
func TestEpollFilenoAfterPurge(t *testing.T) {
	inner, err := NewEpollSelector()
	require.NoError(t, err)
	defer inner.Close()
	outer, err := NewEpollSelector()
	require.NoError(t, err)
	defer outer.Close()
	num := inner.Fileno()
	_, err = outer.Register(num, EVENT_READ, "inner")
	require.NoError(t, err)

	// A writable socket closed while registered, its file kept by a dup:
	// its item stays in inner's set, ready and keyless.
	a, _ := socketPair(t)
	_, err = inner.Register(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	d, err := unix.Dup(a)
	require.NoError(t, err)
	trackEnd(t, d)
	closeEnd(t, a)
	_, err = inner.Unregister(a)
	require.NoError(t, err)
	assert.Equal(t, map[int]Events{num: EVENT_READ}, selectNow(t, outer), "the stale item makes inner ready")

	// Two waits in a row that report only it: inner purges.
	assert.Empty(t, selectNow(t, inner))
	assert.Empty(t, selectNow(t, inner))
	assert.Equal(t, num, inner.Fileno(), "the same number")
	assert.Empty(t, selectNow(t, outer), "two keyless waits did not purge")

	c, _ := socketPair(t)
	_, err = inner.Register(c, EVENT_WRITE, nil)
	require.NoError(t, err)
	assert.Equal(t, map[int]Events{c: EVENT_WRITE}, selectNow(t, inner))
	assert.Empty(t, selectNow(t, outer), "outer watched the old instance, released by the purge")

	// Registered again, the number is watched as the new instance.
	_, err = outer.Unregister(num)
	require.NoError(t, err)
	_, err = outer.Register(num, EVENT_READ, "inner")
	require.NoError(t, err)
	assert.Equal(t, map[int]Events{num: EVENT_READ}, selectNow(t, outer))
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// DefaultSelector falls back to the next backend when one cannot be
// created.
func TestDefaultSelectorFallsBack(t *testing.T) {
	saved := backends
	defer func() { backends = saved }()
	backends[byEpoll].new = func() (Selector, error) {
		return nil, unix.ENOSYS // as under a seccomp filter that forbids epoll
	}
	s, err := DefaultSelector()
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, "poll", BackendName(s))

	for i := range backends {
		backends[i].new = func() (Selector, error) { return nil, unix.ENOSYS }
	}
	_, err = DefaultSelector()
	require.ErrorIs(t, err, unix.ENOSYS)
}

// A's number registered again, for another socket, while the stale item
// of a's old file (writable) is in the set. Left to report, it came beside
// the new socket's item, two Ready for one descriptor (found by
// FuzzSelector: seed epoll-closed-while-shared-two-ready), and alone once
// the new socket was full, the old file's readiness as the new one's, at
// once, forever: a loop spun. The registration's tag in the event data
// tells the stale item's events apart.
func TestEpollStaleItemBesideNewRegistration(t *testing.T) {
	other, _ := socketPair(t) // before a is closed, so not on its number
	s, a := closedWhileShared(t)
	require.NoError(t, unix.Dup3(other, a, unix.O_CLOEXEC))
	trackEnd(t, a)
	_, err := s.Register(a, EVENT_WRITE, "new")
	require.NoError(t, err)
	rs, err := s.Select(0)
	require.NoError(t, err)
	require.Len(t, rs, 1, "Select reported fd %d %d times: %v", a, len(rs), rs)
	assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))

	fillEnd(t, a) // the new socket is no longer writable; the old one is
	for i := range 3 {
		start := time.Now()
		rs, err := s.Select(200 * time.Millisecond)
		require.NoError(t, err)
		require.Empty(t, rs, "Select %d after %v: fd %d (a full socket) is not writable: the stale item of its old file reports under its number", i, time.Since(start), a)
	}
}

// Registering a number that a stale item may share costs what any
// Register costs: no new kernel set, and so no descriptor. It once purged
// first, an O(n) rebuild at each Register after a close-then-Unregister,
// and failed when out of descriptors.
func TestEpollCloseBeforeUnregisterDoesNotRebuild(t *testing.T) {
	other, _ := socketPair(t)
	s, a := closedWhileShared(t)
	require.True(t, s.p.(*epoll).suspect, "no stale item: the test proves nothing")
	require.NoError(t, unix.Dup3(other, a, unix.O_CLOEXEC))
	trackEnd(t, a)

	withoutDescriptors(t, func() {
		_, err := s.Register(a, EVENT_WRITE, "new")
		require.NoError(t, err, "out of descriptors")
	})
	assert.True(t, s.p.(*epoll).suspect, "Register rebuilt the kernel set")
	assert.Equal(t, map[int]Events{a: EVENT_WRITE}, selectNow(t, s))
}

// lowestFreeFD returns the number the next new descriptor would take.
func lowestFreeFD(t *testing.T) int {
	t.Helper()
	free, err := unix.Dup(0)
	require.NoError(t, err)
	require.NoError(t, unix.Close(free))
	return free
}

// withoutDescriptors runs f with the descriptor table full: the lowest
// free number becomes the limit.
func withoutDescriptors(t *testing.T, f func()) {
	t.Helper()
	free := lowestFreeFD(t)
	var saved unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &saved))
	limited := saved
	limited.Cur = uint64(free)
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &limited))
	defer func() { require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)) }()
	f()
}

// In fallback, a descriptor closed while registered is invalid to
// poll(2), which then returned at once at every wait (POLLNVAL), though
// epoll, which dropped it, reports nothing: Select spun until the next
// purge attempt. The descriptor here is above the limit, so that its close
// frees no number a purge could take.
func TestEpollFallbackClosedWhileRegisteredDoesNotSpin(t *testing.T) {
	s, _ := closedWhileShared(t) // a stale item, keyless, always ready
	x, _ := socketPair(t)
	high := lowestFreeFD(t) + 64
	require.NoError(t, unix.Dup3(x, high, unix.O_CLOEXEC))
	closed := false
	t.Cleanup(func() {
		if !closed {
			unix.Close(high)
		}
	})
	_, err := s.Register(high, EVENT_READ, "closed while registered")
	require.NoError(t, err)
	withoutDescriptors(t, func() {
		assertSleeps(t, s, 200*time.Millisecond)
		require.NotNil(t, s.p.(*epoll).fallback, "no fallback: the test proves nothing")
		closed = true
		require.NoError(t, unix.Close(high))
		assertSleeps(t, s, 2*purgeRetry)
	})
	_, err = s.Unregister(high)
	require.NoError(t, err)
}

// A stale item that reports while the process is out of descriptors, so
// that no new kernel set can be made: Select sleeps on the keys through
// poll(2) instead of spinning on the set (it burned its whole timeout on
// the CPU), still reports what is ready, still takes registrations and
// wakes, and purges as soon as a descriptor is free.
func TestEpollStaleItemOutOfDescriptorsDoesNotSpin(t *testing.T) {
	s, _ := closedWhileShared(t) // a stale item, keyless, always ready
	c, d := socketPair(t)
	e, _ := socketPair(t)
	withoutDescriptors(t, func() {
		assertSleeps(t, s, 500*time.Millisecond)
		require.NotNil(t, s.p.(*epoll).fallback, "no fallback: the test proves nothing")

		_, err := s.Register(c, EVENT_READ, "c")
		require.NoError(t, err)
		writeEnd(t, d, []byte("x"))
		rs, err := s.Select(5 * time.Second)
		require.NoError(t, err)
		assert.Equal(t, map[int]Events{c: EVENT_READ}, checkReady(t, s, rs))
		readEnd(t, c, 1)

		ch := blockedSelect(s, 5*time.Second)
		require.NoError(t, s.Wakeup())
		r := await(t, ch)
		require.NoError(t, r.err)
		assert.Less(t, r.elapsed, time.Second, "Wakeup did not end a Select in fallback")

		ch = blockedSelect(s, 5*time.Second)
		_, err = s.Register(e, EVENT_WRITE, "e")
		require.NoError(t, err)
		r = await(t, ch)
		require.NoError(t, r.err)
		assert.Equal(t, map[int]Events{e: EVENT_WRITE}, checkReady(t, s, r.ready))
		_, err = s.Unregister(e)
		require.NoError(t, err)
	})
	// Descriptors free again: the next purge attempt, within purgeRetry,
	// rids the set of the stale item.
	assertSleeps(t, s, 2*purgeRetry)
	assert.Nil(t, s.p.(*epoll).fallback, "no purge once descriptors were free")
	assert.False(t, s.p.(*epoll).suspect)
	assertSleeps(t, s, 300*time.Millisecond)
}

// A Modify refused on a descriptor closed while its file lives on drops
// the key as Unregister does, and tells the selector that a stale item may
// be left: Select does not spin on it.
func TestEpollModifyRefusedWhileSharedDoesNotSpin(t *testing.T) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	defer s.Close()
	a, _ := closeWhileShared(t, s, EVENT_WRITE, nil)

	_, err = s.Modify(a, EVENT_READ, nil)
	require.ErrorIs(t, err, unix.EBADF)
	assert.Empty(t, s.GetMap())
	assertSleeps(t, s, 300*time.Millisecond)
}

// The purge builds the new set with the waker and every key, with their
// tags, and keeps the number close-on-exec: registered descriptors are
// still reported, and Wakeup and Close still end a blocked Select.
func TestEpollPurgeKeepsWakerAndKeys(t *testing.T) {
	s, _ := closedWhileShared(t) // a stale item, keyless, always ready
	c, _ := socketPair(t)
	_, err := s.Register(c, EVENT_WRITE, "c")
	require.NoError(t, err)
	for range 2 { // a stale item reports in two waits in a row: a purge
		assert.Equal(t, map[int]Events{c: EVENT_WRITE}, selectNow(t, s))
	}
	require.False(t, s.p.(*epoll).suspect, "no purge: the test proves nothing")
	flags, err := unix.FcntlInt(uintptr(s.Fileno()), unix.F_GETFD, 0)
	require.NoError(t, err)
	assert.NotZero(t, flags&unix.FD_CLOEXEC, "the purged epoll descriptor lost close-on-exec")

	assert.Equal(t, map[int]Events{c: EVENT_WRITE}, selectNow(t, s), "c did not come across")
	_, err = s.Unregister(c)
	require.NoError(t, err)

	ch := blockedSelect(s, 3*time.Second)
	require.NoError(t, s.Wakeup())
	r := await(t, ch)
	require.NoError(t, r.err)
	assert.Less(t, r.elapsed, time.Second, "Wakeup did not reach the purged set")

	ch = blockedSelect(s, 3*time.Second)
	start := time.Now()
	require.NoError(t, s.Close())
	r = await(t, ch)
	require.ErrorIs(t, r.err, ErrClosed)
	assert.Less(t, time.Since(start), time.Second, "Close did not reach the purged set")
}

// One Select reports every ready descriptor, even with a Wakeup pending
// beside them: epoll's buffer has room for the waker too.
func TestSelectReportsAllReadyBesideWakeup(t *testing.T) {
	for _, n := range []int{firstEvents - 1, firstEvents, 2 * firstEvents} {
		forEachBackend(t, func(t *testing.T, s Selector) {
			require.NoError(t, s.Wakeup()) // the waker is ready first
			want := map[int]Events{}
			for len(want) < n {
				a, b := socketPair(t)
				for _, fd := range []int{a, b} {
					if len(want) < n {
						_, err := s.Register(fd, EVENT_WRITE, nil)
						require.NoError(t, err)
						want[fd] = EVENT_WRITE
					}
				}
			}
			assert.Equal(t, want, selectNow(t, s), "%d registered, all writable", n)
		})
	}
}

// What every Select reads of the poller takes its first cache line on
// 64-bit platforms; the fields for stale items, read only once one may
// exist, come after.
func TestEpollFitsACacheLine(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is kept for 64-bit platforms")
	}
	var ep epoll
	assert.LessOrEqual(t, unsafe.Offsetof(ep.suspect)+unsafe.Sizeof(ep.suspect), uintptr(64))
}

// A descriptor closed while registered and while its file lives on, whose
// number then names a regular file: EPOLL_CTL_DEL meets the file, which
// epoll refuses (EPERM). Unregister succeeds, as after any close, and the
// stale item of the old file is purged: it neither makes Select spin once
// ready nor reports as the file registered under the number next.
func TestEpollUnregisterAfterNumberNamesRegularFile(t *testing.T) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	defer s.Close()
	a, peer := closeWhileShared(t, s, EVENT_READ, "old")
	rf, err := unix.Open(filepath.Join(t.TempDir(), "regular"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	require.NoError(t, err)
	if rf != a { // the lowest free number is a's, but make sure
		require.NoError(t, unix.Dup3(rf, a, unix.O_CLOEXEC))
		require.NoError(t, unix.Close(rf))
	}
	trackEnd(t, a)

	key, err := s.Unregister(a)
	require.NoError(t, err, "the kernel's refusal of a number that names a regular file now")
	assert.Equal(t, "old", key.Data)
	assert.Empty(t, s.GetMap())

	writeEnd(t, peer, []byte("x")) // the old file, open through alias, is readable
	assertSleeps(t, s, 300*time.Millisecond)

	fresh, _ := socketPair(t) // not readable
	require.NoError(t, unix.Dup3(fresh, a, unix.O_CLOEXEC))
	_, err = s.Register(a, EVENT_READ, "new")
	require.NoError(t, err)
	assert.Empty(t, selectNow(t, s), "fd %d reported readable: the old file's stale item reports under its number", a)
}

// Regressions found by FuzzSelector (seed epoll-closed-while-shared-two-ready).
//
// A descriptor closed while registered, whose open file lives on through
// another descriptor (dup, fork, SCM_RIGHTS), stays in the epoll set: the
// kernel keys its items by file and number and drops them only when the
// file is released. Unregister then cannot remove it (EPOLL_CTL_DEL of a
// closed number is EBADF, which is swallowed), and the item goes on
// reporting under the old number.

// closedWhileShared registers a on an epoll selector for EVENT_WRITE,
// shares its file through another number, closes a and unregisters it:
// the state above.
func closedWhileShared(t *testing.T) (s *EpollSelector, a int) {
	s, err := NewEpollSelector()
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	a, _ = closeWhileShared(t, s, EVENT_WRITE, "old")
	_, err = s.Unregister(a)
	require.NoError(t, err)
	return s, a
}

// closeWhileShared registers a new socket a on s for events, shares its
// file through another number and closes a, still registered. peer is the
// other end of a's connection.
func closeWhileShared(t *testing.T, s *EpollSelector, events Events, data any) (a, peer int) {
	t.Helper()
	a, peer = socketPair(t)
	alias, _ := socketPair(t)
	closeEnd(t, alias) // a free number, to share a's file through
	_, err := s.Register(a, events, data)
	require.NoError(t, err)
	require.NoError(t, unix.Dup3(a, alias, unix.O_CLOEXEC))
	trackEnd(t, alias)
	closeEnd(t, a)
	return a, peer
}

// The stale item is always ready (a socket with room to write), but has no
// key: every wait returns at once with nothing for the caller, and Select
// waits again, spinning on the CPU until its timeout.
func TestEpollClosedWhileSharedSelectDoesNotSpin(t *testing.T) {
	s, _ := closedWhileShared(t)
	assertSleeps(t, s, 300*time.Millisecond)
}
