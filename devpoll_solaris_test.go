//go:build solaris || illumos

package selectors

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// driverEvents returns the revents that the driver itself reports for fd
// now, whatever Select makes of them: what the selector asked of it.
func init() {
	unmadeSelectors = append(unmadeSelectors, &DevpollSelector{}, (*DevpollSelector)(nil))
}

// A selector not made by its constructor has no descriptor.
func TestDevpollFilenoUnmade(t *testing.T) {
	assert.Equal(t, -1, (&DevpollSelector{}).Fileno())
	assert.Equal(t, -1, (*DevpollSelector)(nil).Fileno())
}

func driverEvents(t testing.TB, s *DevpollSelector, fd int) int16 {
	t.Helper()
	fds := make([]unix.PollFd, 16)
	n, err := dpPollIoctl(s.Fileno(), &dvpoll{fds: &fds[0], nfds: uint(len(fds)), timeout: 0})
	require.NoError(t, err)
	for _, pfd := range fds[:n] {
		if int(pfd.Fd) == fd {
			return pfd.Revents
		}
	}
	return 0
}

func TestDevpollFileno(t *testing.T) {
	s, err := NewDevpollSelector()
	require.NoError(t, err)
	fd := s.Fileno()
	require.Greater(t, fd, 2)
	// It is a /dev/poll descriptor that the caller can poll.
	n, err := dpPollIoctl(fd, &dvpoll{fds: &make([]unix.PollFd, 1)[0], nfds: 1, timeout: 0})
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.Close())
	assert.Equal(t, -1, s.Fileno())
}

// The driver adds the events of a record to those it has: Modify must drop
// the old ones, or a descriptor modified from EVENT_READ to EVENT_WRITE is
// still watched for input.
func TestDevpollModifyReplacesEvents(t *testing.T) {
	s, err := NewDevpollSelector()
	require.NoError(t, err)
	defer s.Close()
	a, b := socketPair(t)
	fillEnd(t, a)               // a is not writable
	writeEnd(t, b, []byte("x")) // but readable
	_, err = s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	assert.NotZero(t, driverEvents(t, s, a)&unix.POLLIN)

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.NoError(t, err)
	assert.Zero(t, driverEvents(t, s, a), "the driver still watches a for input")
	_, err = s.Unregister(a)
	require.NoError(t, err)
	assert.Zero(t, driverEvents(t, s, a))
}

// Modify of a descriptor closed since it was registered fails with EBADF
// and drops the key, as on epoll and kqueue. The driver took the records
// of a number not open without error, never reported them, and kept their
// events for the file that took the number next (illumos dpwrite).
func TestDevpollModifyClosedDescriptor(t *testing.T) {
	s, err := NewDevpollSelector()
	require.NoError(t, err)
	defer s.Close()
	err = modifyClosedDropsKey(t, s)
	assert.Contains(t, err.Error(), "/dev/poll modify")
}
