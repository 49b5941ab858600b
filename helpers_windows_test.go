package selectors

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
)

// socketPair returns the two ends of a connected, non-blocking loopback
// TCP connection, as SOCKET handles; both are closed at the end of the
// test unless the test closed them first with closeEnd.
func socketPair(t testing.TB) (a, b int) {
	t.Helper()
	sa, sb, err := loopbackPair()
	require.NoError(t, err)
	trackEnd(t, int(sa))
	trackEnd(t, int(sb))
	return int(sa), int(sb)
}

// trackEnd closes s at the end of the test unless closeEnd did first.
func trackEnd(t testing.TB, s int) {
	closed := false
	endsClosed[s] = &closed
	t.Cleanup(func() {
		if !closed {
			windows.Closesocket(windows.Handle(s))
		}
	})
}

// endsClosed records which tracked sockets a test closed itself. Tests
// that use it do not run in parallel.
var endsClosed = map[int]*bool{}

// closeEnd closes one end now.
func closeEnd(t testing.TB, s int) {
	t.Helper()
	require.NoError(t, windows.Closesocket(windows.Handle(s)))
	if c := endsClosed[s]; c != nil {
		*c = true
		delete(endsClosed, s)
	}
}

// send writes what fits of p to s without blocking.
func send(s int, p []byte) (int, error) {
	buf := windows.WSABuf{Len: uint32(len(p)), Buf: &p[0]}
	var n uint32
	err := windows.WSASend(windows.Handle(s), &buf, 1, &n, 0, nil, nil)
	return int(n), err
}

// writeEnd writes p to s, all of it, and fails the test otherwise.
func writeEnd(t testing.TB, s int, p []byte) {
	t.Helper()
	n, err := send(s, p)
	require.NoError(t, err)
	require.Equal(t, len(p), n)
}

// readEnd reads what is there, up to max bytes, without blocking.
func readEnd(t testing.TB, s int, max int) []byte {
	t.Helper()
	p := make([]byte, max)
	buf := windows.WSABuf{Len: uint32(max), Buf: &p[0]}
	var n, flags uint32
	err := windows.WSARecv(windows.Handle(s), &buf, 1, &n, &flags, nil, nil)
	if errors.Is(err, windows.WSAEWOULDBLOCK) {
		return nil
	}
	require.NoError(t, err)
	return p[:n]
}

// fillEnd writes to s until its buffers are full, so that it is no
// longer writable.
func fillEnd(t testing.TB, s int) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for {
		_, err := send(s, chunk)
		if errors.Is(err, windows.WSAEWOULDBLOCK) {
			return
		}
		require.NoError(t, err)
	}
}

// drainEnd reads s until nothing is left.
func drainEnd(t testing.TB, s int) {
	t.Helper()
	for len(readEnd(t, s, 64<<10)) > 0 {
	}
}

// openFDs returns -1: Windows has no /proc/self/fd or /dev/fd to count
// the process's descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	return -1
}

// tcpPair returns the two ends of a non-blocking TCP connection over
// 127.0.0.1: socketPair's on Windows.
func tcpPair(t testing.TB) (a, b int) { return socketPair(t) }

// sendOOB sends c on socket s as urgent (out-of-band) data.
func sendOOB(t testing.TB, s int, c byte) {
	t.Helper()
	var sent uint32
	require.NoError(t, windows.WSASend(windows.Handle(s), &windows.WSABuf{Len: 1, Buf: &c}, 1, &sent, windows.MSG_OOB, nil, nil))
	require.Equal(t, uint32(1), sent)
}

// recvOOB reads the urgent byte waiting on socket s.
func recvOOB(t testing.TB, s int) byte {
	t.Helper()
	var c byte
	var n uint32
	flags := uint32(windows.MSG_OOB)
	require.NoError(t, windows.WSARecv(windows.Handle(s), &windows.WSABuf{Len: 1, Buf: &c}, 1, &n, &flags, nil, nil))
	require.Equal(t, uint32(1), n)
	return c
}

// resetEnd closes s with SO_LINGER 0, so that its peer is reset.
func resetEnd(t testing.TB, s int) {
	t.Helper()
	l := windows.Linger{Onoff: 1, Linger: 0}
	require.NoError(t, windows.SetsockoptLinger(windows.Handle(s), windows.SOL_SOCKET, windows.SO_LINGER, &l))
	closeEnd(t, s)
}

func init() {
	unmadeSelectors = append(unmadeSelectors, &SelectSelector{}, (*SelectSelector)(nil), &AFDSelector{}, (*AFDSelector)(nil))
}

// nonSockets returns handles that are not sockets, as the file objects
// a user might pass: a file, both ends of a pipe, and the file's handle
// as an integer. They are closed at the end of the test.
func nonSockets(t testing.TB) []any {
	t.Helper()
	f, err := os.Open(os.Args[0]) // a file that needs no removing afterwards
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	return []any{f, r, w, f.Fd()}
}

// refusedConnect returns a socket whose non-blocking connect to a port
// where nothing listens is under way.
func refusedConnect(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close()) // nothing listens there now
	c, err := tcpSocket()
	require.NoError(t, err)
	trackEnd(t, int(c))
	require.NoError(t, setNonblock(c))
	err = windows.Connect(c, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	require.ErrorIs(t, err, windows.WSAEWOULDBLOCK)
	return int(c)
}
