//go:build unix

package selectors

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// socketPair returns the two ends of a connected, non-blocking stream
// socket pair; both are closed at the end of the test unless the test
// closed them first with closeEnd.
func socketPair(t testing.TB) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	for _, fd := range fds {
		trackEnd(t, fd)
		unix.CloseOnExec(fd)
		require.NoError(t, unix.SetNonblock(fd, true))
	}
	return fds[0], fds[1]
}

// trackEnd closes fd at the end of the test unless closeEnd did first.
func trackEnd(t testing.TB, fd int) {
	closed := false
	endsClosed[fd] = &closed
	t.Cleanup(func() {
		if !closed {
			unix.Close(fd)
		}
	})
}

// endsClosed records which tracked descriptors a test closed itself.
// Tests that use it do not run in parallel.
var endsClosed = map[int]*bool{}

// closeEnd closes one end now.
func closeEnd(t testing.TB, fd int) {
	t.Helper()
	require.NoError(t, unix.Close(fd))
	if c := endsClosed[fd]; c != nil {
		*c = true
		delete(endsClosed, fd)
	}
}

// writeEnd writes p to fd, all of it, and fails the test otherwise.
func writeEnd(t testing.TB, fd int, p []byte) {
	t.Helper()
	n, err := unix.Write(fd, p)
	require.NoError(t, err)
	require.Equal(t, len(p), n)
}

// readEnd reads what is there, up to max bytes, without blocking.
func readEnd(t testing.TB, fd int, max int) []byte {
	t.Helper()
	buf := make([]byte, max)
	n, err := unix.Read(fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return nil
	}
	require.NoError(t, err)
	return buf[:n]
}

// fillEnd writes to fd until its buffer is full, so that it is no
// longer writable.
func fillEnd(t testing.TB, fd int) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for {
		_, err := unix.Write(fd, chunk)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		require.NoError(t, err)
	}
}

// drainEnd reads fd until nothing is left.
func drainEnd(t testing.TB, fd int) {
	t.Helper()
	for len(readEnd(t, fd, 64<<10)) > 0 {
	}
}

// openFDs counts the process's open descriptors, or returns -1 where the
// platform has no /proc/self/fd or /dev/fd to count them.
func openFDs(t testing.TB) int {
	t.Helper()
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			return len(ents)
		}
	}
	return -1
}
