package selectors

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	ws2_32 = windows.NewLazySystemDLL("ws2_32.dll")
	// golang.org/x/sys/windows has neither: its Accept is a stub, and
	// select has no binding at all.
	procAccept = ws2_32.NewProc("accept")
	procSelect = ws2_32.NewProc("select")
)

// fionbio is Winsock's FIONBIO, _IOW('f', 126, u_long).
const fionbio = 0x8004667e

// wsaStartup initializes Winsock once per process, as the net package
// does; it is never undone, since the net package's sockets need it too.
var wsaStartup = sync.OnceValue(func() error {
	var d windows.WSAData
	if err := windows.WSAStartup(0x0202, &d); err != nil {
		return fmt.Errorf("selectors: WSAStartup: %w", err)
	}
	return nil
})

// fdWaker is a connected pair of loopback TCP sockets, Windows having no
// pipe that select can watch: wake sends a byte on w, drain reads all
// that arrived on r. A full buffer is readable already, so wakeups
// coalesce.
type fdWaker struct{ r, w windows.Handle }

func newWaker() (fdWaker, error) {
	r, w, err := loopbackPair()
	if err != nil {
		return fdWaker{windows.InvalidHandle, windows.InvalidHandle}, fmt.Errorf("selectors: waker: %w", err)
	}
	return fdWaker{r, w}, nil
}

// loopbackPair returns the two ends of a TCP connection over 127.0.0.1,
// both non-blocking and not inherited by child processes: what
// socketpair(2) gives on Unix. The listener it goes through is closed
// before it returns.
func loopbackPair() (a, b windows.Handle, err error) {
	if err := wsaStartup(); err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, err
	}
	ln, err := tcpSocket()
	if err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, err
	}
	defer windows.Closesocket(ln)
	if err := windows.Bind(ln, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, fmt.Errorf("bind: %w", err)
	}
	if err := windows.Listen(ln, 1); err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, fmt.Errorf("listen: %w", err)
	}
	addr, err := windows.Getsockname(ln)
	if err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, fmt.Errorf("getsockname: %w", err)
	}
	b, err = tcpSocket()
	if err != nil {
		return windows.InvalidHandle, windows.InvalidHandle, err
	}
	// Both ends still block here: the listener's backlog completes the
	// connect, and accept then has it waiting.
	if err := windows.Connect(b, addr); err != nil {
		windows.Closesocket(b)
		return windows.InvalidHandle, windows.InvalidHandle, fmt.Errorf("connect: %w", err)
	}
	a, err = acceptSocket(ln)
	if err == nil {
		// Another local process could have connected first: take only
		// our own connection, as Python's socketpair does on Windows.
		err = checkPeer(a, b)
	}
	for _, s := range []windows.Handle{a, b} {
		if err == nil {
			err = setNonblock(s)
		}
	}
	if err == nil {
		// One byte per wakeup must leave at once, not wait for an ack.
		err = windows.SetsockoptInt(b, windows.IPPROTO_TCP, windows.TCP_NODELAY, 1)
	}
	if err != nil {
		windows.Closesocket(b)
		if a != windows.InvalidHandle {
			windows.Closesocket(a)
		}
		return windows.InvalidHandle, windows.InvalidHandle, err
	}
	return a, b, nil
}

// tcpSocket returns a new IPv4 TCP socket that child processes do not
// inherit.
func tcpSocket() (windows.Handle, error) {
	s, err := windows.WSASocket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP, nil, 0,
		windows.WSA_FLAG_OVERLAPPED|windows.WSA_FLAG_NO_HANDLE_INHERIT)
	if err != nil {
		return windows.InvalidHandle, fmt.Errorf("socket: %w", err)
	}
	return s, nil
}

// acceptSocket takes a connection from ln, waiting for one if ln blocks.
func acceptSocket(ln windows.Handle) (windows.Handle, error) {
	r, _, e := procAccept.Call(uintptr(ln), 0, 0)
	s := windows.Handle(r)
	if s == windows.InvalidHandle {
		return windows.InvalidHandle, fmt.Errorf("accept: %w", e)
	}
	// Sockets inherit no such attribute from their listener.
	windows.CloseOnExec(s)
	return s, nil
}

// checkPeer makes sure that a's peer is b.
func checkPeer(a, b windows.Handle) error {
	peer, err := windows.Getpeername(a)
	if err != nil {
		return fmt.Errorf("getpeername: %w", err)
	}
	self, err := windows.Getsockname(b)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	p, ok1 := peer.(*windows.SockaddrInet4)
	s, ok2 := self.(*windows.SockaddrInet4)
	if !ok1 || !ok2 || *p != *s {
		return errors.New("loopback connection accepted from another socket")
	}
	return nil
}

func setNonblock(s windows.Handle) error {
	on := uint32(1)
	var n uint32
	if err := windows.WSAIoctl(s, fionbio, (*byte)(unsafe.Pointer(&on)), uint32(unsafe.Sizeof(on)), nil, 0, &n, nil, 0); err != nil {
		return fmt.Errorf("FIONBIO: %w", err)
	}
	return nil
}

// readFD is the handle to watch for input.
func (w fdWaker) readFD() int { return int(w.r) }

func (w fdWaker) wake() error {
	one := byte(1)
	buf := windows.WSABuf{Len: 1, Buf: &one}
	var n uint32
	err := windows.WSASend(w.w, &buf, 1, &n, 0, nil, nil)
	if err == windows.WSAEWOULDBLOCK {
		return nil // the buffers are full, so r is readable already
	}
	if err != nil {
		return fmt.Errorf("selectors: wake socket: %w", err)
	}
	return nil
}

func (w fdWaker) drain() {
	var p [64]byte
	for {
		buf := windows.WSABuf{Len: uint32(len(p)), Buf: &p[0]}
		var n, flags uint32
		err := windows.WSARecv(w.r, &buf, 1, &n, &flags, nil, nil)
		if err != nil || n < uint32(len(p)) {
			return
		}
	}
}

func (w fdWaker) close() error {
	errR, errW := windows.Closesocket(w.r), windows.Closesocket(w.w)
	if err := errors.Join(errR, errW); err != nil {
		return fmt.Errorf("selectors: close waker sockets: %w", err)
	}
	return nil
}

func (w fdWaker) owns(fd int) bool { return fd == int(w.r) || fd == int(w.w) }
