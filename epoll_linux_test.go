package selectors

import (
	"os"
	"path/filepath"
	"testing"

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

	_, err = s.Register(f, EVENT_READ, nil)
	require.ErrorIs(t, err, unix.EPERM)
	assert.Contains(t, err.Error(), "epoll_ctl add")
	assert.Empty(t, s.GetMap())
	_, err = s.GetKey(f)
	require.ErrorIs(t, err, ErrNotRegistered)

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
	a, _ := socketPair(t)
	_, err = s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	closeEnd(t, a) // epoll_ctl(MOD) now fails with EBADF

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.ErrorIs(t, err, unix.EBADF)
	assert.Contains(t, err.Error(), "epoll_ctl mod")
	_, err = s.GetKey(a)
	require.ErrorIs(t, err, ErrNotRegistered)
	assert.Empty(t, s.GetMap())
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
