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

// tcpPair returns the two ends of a non-blocking TCP connection over
// 127.0.0.1, closed at the end of the test as socketPair's are: what
// urgent data needs, which Unix sockets do not carry.
func tcpPair(t testing.TB) (a, b int) {
	t.Helper()
	socket := func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		require.NoError(t, err)
		unix.CloseOnExec(fd)
		return fd
	}
	ln := socket()
	defer unix.Close(ln)
	require.NoError(t, unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, unix.Listen(ln, 1))
	addr, err := unix.Getsockname(ln)
	require.NoError(t, err)
	b = socket()
	trackEnd(t, b)
	require.NoError(t, unix.Connect(b, addr))
	a, _, err = unix.Accept(ln)
	require.NoError(t, err)
	unix.CloseOnExec(a)
	trackEnd(t, a)
	for _, fd := range []int{a, b} {
		require.NoError(t, unix.SetNonblock(fd, true))
	}
	return a, b
}

// sendOOB sends c on TCP socket fd as urgent (out-of-band) data.
func sendOOB(t testing.TB, fd int, c byte) {
	t.Helper()
	require.NoError(t, unix.Sendto(fd, []byte{c}, unix.MSG_OOB, nil))
}

// recvOOB reads the urgent byte waiting on TCP socket fd.
func recvOOB(t testing.TB, fd int) byte {
	t.Helper()
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_OOB)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	return b[0]
}

// resetEnd closes fd with SO_LINGER 0, so that its peer is reset.
func resetEnd(t testing.TB, fd int) {
	t.Helper()
	require.NoError(t, unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}))
	closeEnd(t, fd)
}

func init() {
	unmadeSelectors = append(unmadeSelectors, &PollSelector{}, (*PollSelector)(nil), &SelectSelector{}, (*SelectSelector)(nil))
}
