//go:build linux || darwin || ios || dragonfly || freebsd || netbsd || openbsd || solaris || illumos

package selectors

// Helpers for the tests of the backends whose registrations the kernel
// holds: epoll, kqueue and /dev/poll.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// modifyClosedDropsKey registers a socket on s, closes it, and checks that
// Modify then fails with EBADF and drops the key, as on every backend whose
// Modify asks the kernel: the keys and the kernel never disagree. It
// returns Modify's error, for the backend's own checks.
func modifyClosedDropsKey(t *testing.T, s Selector) error {
	t.Helper()
	a, _ := socketPair(t)
	_, err := s.Register(a, EVENT_READ, nil)
	require.NoError(t, err)
	closeEnd(t, a)

	_, err = s.Modify(a, EVENT_WRITE, nil)
	require.ErrorIs(t, err, unix.EBADF)
	_, kerr := s.GetKey(a)
	require.ErrorIs(t, kerr, ErrNotRegistered)
	assert.Empty(t, s.GetMap())
	return err
}
