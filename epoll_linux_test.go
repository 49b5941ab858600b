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
