package selectors

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/windows"
)

// The errors of Winsock that Read, Write and Accept wrap.
var (
	wouldBlockErrno error = windows.WSAEWOULDBLOCK
	connResetErrno  error = windows.WSAECONNRESET
)

// writeChunk is the size of TestWriteShort's writes.
const writeChunk = 1 << 20

// udpUnavailable reports whether err, of net.ListenUDP, says that the
// net package cannot open UDP sockets here: Wine 8 does not implement
// SIO_UDP_NETRESET, which it sets on each. The kind "int (UDP)" tests
// datagrams there.
func udpUnavailable(err error) bool { return errors.Is(err, windows.WSAEOPNOTSUPP) }

// resetReadAsEOF reports whether a reset connection can read as the end
// of the stream: under Wine, whose server clears the socket's error
// (SO_ERROR) as it polls, so that recv finds no error left, only the
// end. Windows itself reports the reset.
func resetReadAsEOF() bool { return underWine }

// underWine: Wine's ntdll exports wine_get_version, Windows' does not.
var underWine = windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil

func platformIOKinds() []ioKind {
	return []ioKind{
		// A UDP socket of Winsock's own, in blocking mode as Go's are.
		{name: "int (UDP)", datagram: true, ends: func(t *testing.T, _ bool) ioEnds {
			a, b := rawUDPSocket(t), rawUDPSocket(t)
			aAddr, err := windows.Getsockname(a)
			require.NoError(t, err)
			bAddr, err := windows.Getsockname(b)
			require.NoError(t, err)
			require.NoError(t, windows.Connect(a, bAddr))
			return ioEnds{int(a), rawUDPPeer{b, aAddr}}
		}},
	}
}

// rawUDPSocket returns a UDP socket bound to 127.0.0.1, closed at the end
// of the test.
func rawUDPSocket(t *testing.T) windows.Handle {
	t.Helper()
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_DGRAM, windows.IPPROTO_UDP)
	require.NoError(t, err)
	t.Cleanup(func() { windows.Closesocket(s) })
	require.NoError(t, windows.Bind(s, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	return s
}

// rawUDPPeer is a UDP socket of Winsock's own that writes to one address,
// with Go's blocking calls.
type rawUDPPeer struct {
	s  windows.Handle
	to windows.Sockaddr
}

func (p rawUDPPeer) Read(b []byte) (int, error) {
	n, _, err := windows.Recvfrom(p.s, b, 0)
	return n, err
}

func (p rawUDPPeer) Write(b []byte) (int, error) {
	if err := windows.Sendto(p.s, b, 0, p.to); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p rawUDPPeer) Close() error { return windows.Closesocket(p.s) }

// SetDeadline bounds the reads with SO_RCVTIMEO.
func (p rawUDPPeer) SetDeadline(d time.Time) error {
	return windows.SetsockoptInt(p.s, windows.SOL_SOCKET, windows.SO_RCVTIMEO, int(max(1, time.Until(d).Milliseconds())))
}

func platformListenerKinds() []listenerKind { return nil }

// GetHandleInformation, which golang.org/x/sys/windows lacks.
var procGetHandleInformation = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetHandleInformation")

// checkAcceptedLikeGo checks that c, from Accept(ln), is set up as own,
// from ln's own Accept: not inherited by child processes, and the same
// TCP_NODELAY and keep-alive.
func checkAcceptedLikeGo(t *testing.T, ln net.Listener, c, own net.Conn) {
	t.Helper()
	ours, theirs := rawFD(t, c.(syscall.Conn)), rawFD(t, own.(syscall.Conn))
	for _, s := range []int{ours, theirs} {
		var flags uint32
		r, _, err := procGetHandleInformation.Call(uintptr(s), uintptr(unsafe.Pointer(&flags)))
		require.NotZero(t, r, "GetHandleInformation: %v", err)
		assert.Zero(t, flags&windows.HANDLE_FLAG_INHERIT, "socket %d is not inherited", s)
	}
	for _, opt := range []struct {
		name       string
		level, opt int
	}{
		{"TCP_NODELAY", windows.IPPROTO_TCP, windows.TCP_NODELAY},
		{"SO_KEEPALIVE", windows.SOL_SOCKET, windows.SO_KEEPALIVE},
	} {
		want, err := windows.GetsockoptInt(windows.Handle(theirs), opt.level, opt.opt)
		require.NoError(t, err, opt.name)
		got, err := windows.GetsockoptInt(windows.Handle(ours), opt.level, opt.opt)
		require.NoError(t, err, opt.name)
		assert.Equal(t, want, got, "%s as Go's own Accept sets it", opt.name)
	}
}

// fixSendBuffer leaves socket fd's send buffer as it is: Winsock does not
// grow it as Linux does, and under Wine a small one would make a blocking
// send of more than it has room for wait for the peer (see Write).
func fixSendBuffer(testing.TB, int) {}

// Read and Write take sockets only: a file or pipe handle is an invalid
// file object, as Register finds it.
func TestIONotSocket(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	for _, obj := range []any{r, w, r.Fd()} {
		_, err := Read(obj, make([]byte, 8))
		require.ErrorIs(t, err, ErrInvalidFileObj, "Read(%T)", obj)
		assert.ErrorContains(t, err, "not a socket")
		_, err = Write(obj, []byte("x"))
		require.ErrorIs(t, err, ErrInvalidFileObj, "Write(%T)", obj)
		assert.ErrorContains(t, err, "not a socket")
	}
}

func platformDatagramKinds() []datagramKind {
	return []datagramKind{
		// UDP sockets of Winsock's own, where Wine cannot open Go's.
		{"int", func(t *testing.T) (any, any, net.Addr, net.Addr) {
			a, b := rawUDPSocket(t), rawUDPSocket(t)
			return int(a), int(b), localUDPAddr(t, a), localUDPAddr(t, b)
		}},
	}
}

func localUDPAddr(t *testing.T, s windows.Handle) net.Addr {
	t.Helper()
	sa, err := windows.Getsockname(s)
	require.NoError(t, err)
	in := sa.(*windows.SockaddrInet4)
	return &net.UDPAddr{IP: in.Addr[:], Port: in.Port}
}
