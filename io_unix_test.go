//go:build unix

package selectors

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The errors of the kernel that Read, Write and Accept wrap.
var (
	wouldBlockErrno error = unix.EAGAIN
	connResetErrno  error = unix.ECONNRESET
)

// writeChunk is the size of TestWriteShort's writes: larger than a pipe's
// buffer, so that one of them is short.
const writeChunk = 1 << 20

// udpUnavailable reports whether err, of net.ListenUDP, says that the
// net package cannot open UDP sockets here: never on Unix.
func udpUnavailable(error) bool { return false }

// resetReadAsEOF reports whether a reset connection can read as the end
// of the stream: never on Unix.
func resetReadAsEOF() bool { return false }

func platformIOKinds() []ioKind {
	return []ioKind{
		// Another integer type, through fileDescriptor.
		{name: "uintptr", ends: func(t *testing.T, _ bool) ioEnds {
			a, b := rawSocketPair(t)
			trackEnd(t, a)
			return ioEnds{uintptr(a), fileConn(t, b)}
		}},
		// Read's own path for an int, on a datagram socket.
		{name: "int (UDP)", datagram: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := udpPair(t)
			return ioEnds{rawFD(t, a), b}
		}},
		{name: "*os.File", ends: func(t *testing.T, toObj bool) ioEnds {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			t.Cleanup(func() { r.Close(); w.Close() })
			if toObj {
				return ioEnds{r, w}
			}
			return ioEnds{w, r}
		}},
		{name: "*net.UnixConn", ends: func(t *testing.T, _ bool) ioEnds {
			a, b := rawSocketPair(t)
			return ioEnds{fileConn(t, a), fileConn(t, b)}
		}},
	}
}

// rawSocketPair returns the two ends of a connected, non-blocking,
// close-on-exec stream socket pair, which the caller closes.
func rawSocketPair(t testing.TB) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		require.NoError(t, unix.SetNonblock(fd, true))
	}
	return fds[0], fds[1]
}

// fileConn returns a net.Conn of a copy of fd, closed at the end of the
// test, and closes fd through the *os.File that took it: closed another
// way, the file's finalizer would close the number again, once reused.
func fileConn(t testing.TB, fd int) net.Conn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "socket")
	c, err := net.FileConn(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func platformListenerKinds() []listenerKind {
	return []listenerKind{{"unix", func(t *testing.T) (net.Listener, func() (net.Conn, error)) {
		// A short path: a socket's path has at most 104 bytes on some
		// systems, less than t.TempDir can give.
		dir, err := os.MkdirTemp("", "sel")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "s")
		ln, err := net.Listen("unix", path)
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		return ln, func() (net.Conn, error) { return net.Dial("unix", path) }
	}}}
}

// checkAcceptedLikeGo checks that c, from Accept(ln), is set up as own,
// from ln's own Accept: close-on-exec, non-blocking, and for TCP the same
// TCP_NODELAY and keep-alive.
func checkAcceptedLikeGo(t *testing.T, ln net.Listener, c, own net.Conn) {
	t.Helper()
	ours, theirs := rawFD(t, c.(syscall.Conn)), rawFD(t, own.(syscall.Conn))
	for _, fd := range []int{ours, theirs} {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.NoError(t, err)
		assert.NotZero(t, flags&unix.FD_CLOEXEC, "fd %d is close-on-exec", fd)
		assert.True(t, isNonblocking(t, fd), "fd %d is non-blocking", fd)
	}
	if _, ok := ln.(*net.TCPListener); !ok {
		return
	}
	for _, opt := range socketOptions {
		want, err := unix.GetsockoptInt(theirs, opt.level, opt.opt)
		require.NoError(t, err, opt.name)
		got, err := unix.GetsockoptInt(ours, opt.level, opt.opt)
		require.NoError(t, err, opt.name)
		assert.Equal(t, want, got, "%s as Go's own Accept sets it", opt.name)
	}
}

// socketOption is a socket option an accepted TCP connection is set up
// with.
type socketOption struct {
	name       string
	level, opt int
}

var socketOptions = append([]socketOption{
	{"TCP_NODELAY", unix.IPPROTO_TCP, unix.TCP_NODELAY},
	{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE},
}, platformSocketOptions...)

// fixSendBuffer gives socket fd a send buffer of a set size: Linux grows
// one it sizes itself as acknowledgements come, the peer's data too, and
// then a full buffer no longer is.
func fixSendBuffer(t testing.TB, fd int) {
	t.Helper()
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
}

func platformDatagramKinds() []datagramKind {
	return []datagramKind{
		{"int", func(t *testing.T) (any, any, net.Addr, net.Addr) {
			a, b := listenUDP(t, "127.0.0.1:0"), listenUDP(t, "127.0.0.1:0")
			return rawFD(t, a), rawFD(t, b), a.LocalAddr(), b.LocalAddr()
		}},
		{"*net.UnixConn", func(t *testing.T) (any, any, net.Addr, net.Addr) {
			dir, err := os.MkdirTemp("", "sel")
			require.NoError(t, err)
			t.Cleanup(func() { os.RemoveAll(dir) })
			var conns [2]*net.UnixConn
			for i := range conns {
				c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, string(rune('a'+i))), Net: "unixgram"})
				require.NoError(t, err)
				t.Cleanup(func() { c.Close() })
				conns[i] = c
			}
			return conns[0], conns[1], conns[0].LocalAddr(), conns[1].LocalAddr()
		}},
	}
}

// WriteTo on a stream socket, which takes a sendto and ignores its
// address, sends what fits now, as Write does: a short send says how
// much, with ErrWouldBlock, and the rest is the caller's to send.
func TestWriteToStreamShortSend(t *testing.T) {
	a, b := tcpConns(t)
	require.NoError(t, a.SetWriteBuffer(8<<10))
	p := make([]byte, 8<<20)
	to := net.UDPAddrFromAddrPort(b.LocalAddr().(*net.TCPAddr).AddrPort())
	n, err := WriteTo(a, p, to)
	require.ErrorIs(t, err, ErrWouldBlock)
	assert.Positive(t, n)
	assert.Less(t, n, len(p), "a peer that does not read took all of p")
}

// A sender's IPv6 zone may be a number (ReadFrom gives one for an
// interface without a name), and WriteTo takes it back, as the net
// package does: a numeric zone is the interface of that index.
func TestWriteToNumericZone(t *testing.T) {
	a, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer a.Close()
	b, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	require.NoError(t, err)
	defer b.Close()
	lo := loopback(t)
	to := &net.UDPAddr{IP: net.IPv6loopback, Port: b.LocalAddr().(*net.UDPAddr).Port, Zone: strconv.Itoa(lo.Index)}
	n, err := WriteTo(a, []byte("zoned"), to)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	buf := make([]byte, 16)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, _, err = b.ReadFromUDP(buf)
	require.NoError(t, err)
	assert.Equal(t, "zoned", string(buf[:n]))
}

// loopback returns the loopback interface.
func loopback(t *testing.T) net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	require.NoError(t, err)
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi
		}
	}
	t.Skip("no loopback interface")
	return net.Interface{}
}
