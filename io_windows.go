package selectors

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Go's sockets on Windows are in blocking mode, and must stay so: their
// own I/O is overlapped, through the runtime's completion port, and a
// socket made non-blocking (FIONBIO) would fail it. So Read, Write and
// Accept first ask select, with a zero timeout, whether the socket is
// ready; only then do they make the call, which a ready socket completes
// at once.

// do makes op's system call on socket fd if select finds it ready, and
// else leaves WSAEWOULDBLOCK in op.err.
func (op *ioOp) do(fd uintptr) {
	op.fd = int(fd)
	s := windows.Handle(fd)
	writing := op.kind == opWrite || op.kind == opWriteTo
	if op.err = readyFor(fd, writing); op.err != nil {
		return
	}
	buf := windows.WSABuf{Len: uint32(len(op.p)), Buf: unsafe.SliceData(op.p)}
	var n uint32
	switch op.kind {
	case opRead:
		var flags uint32
		op.err = windows.WSARecv(s, &buf, 1, &n, &flags, nil, nil)
	case opWrite:
		op.err = windows.WSASend(s, &buf, 1, &n, 0, nil, nil)
	case opReadFrom:
		var rsa windows.RawSockaddrAny
		size := int32(unsafe.Sizeof(rsa))
		var flags uint32
		op.err = windows.WSARecvFrom(s, &buf, 1, &n, &flags, &rsa, &size, nil, nil)
		if op.err == nil || op.err == windows.WSAEMSGSIZE {
			op.from, _ = rsa.Sockaddr() // none (nil) from a connected stream
		}
	case opWriteTo:
		var sa windows.Sockaddr
		if sa, op.err = sockaddrOf(int(fd), op.to); op.err == nil {
			if op.err = windows.Sendto(s, op.p, 0, sa); op.err == nil {
				n = uint32(len(op.p))
			}
		}
	}
	op.n = int(n)
	if !writing && op.err == windows.WSAEMSGSIZE {
		// A datagram longer than p filled it and the rest is lost, as
		// on Unix, where that is no error.
		op.n, op.err = len(op.p), nil
	}
	if !writing && op.err == nil && n == 0 {
		op.eof = zeroReadIsEOF(fd)
	}
}

// readyFor asks select, without waiting, whether socket s can be read
// now, or written if write is true: nil if so, WSAEWOULDBLOCK if not, or
// select's error (WSAENOTSOCK for a handle that is no socket).
//
// A send on a blocking socket that select finds writable completes at
// once: Winsock copies all of it into its own buffer, past SO_SNDBUF if
// need be, while what is buffered is within SO_SNDBUF. A reset
// connection is readable but not writable, and a send on it fails at
// once; so when a socket is readable and not writable, a peek tells a
// reset, whose error the write returns, from data or an end of stream
// waiting to be read, with which a send would block.
func readyFor(s uintptr, write bool) error {
	rset := [2]uintptr{1, s} // an fd_set: a count, then the sockets
	if !write {
		return selectNoWait(&rset, nil)
	}
	wset := rset
	if err := selectNoWait(&rset, &wset); err != nil && err != windows.WSAEWOULDBLOCK {
		return err
	}
	if wset[0] == 1 {
		return nil
	}
	if rset[0] == 1 {
		var b byte
		buf := windows.WSABuf{Len: 1, Buf: &b}
		var n uint32
		flags := uint32(windows.MSG_PEEK)
		if err := windows.WSARecv(windows.Handle(s), &buf, 1, &n, &flags, nil, nil); err != nil {
			return err
		}
	}
	return windows.WSAEWOULDBLOCK
}

// selectNoWait calls select with a zero timeout on read and write, fd_sets
// of one socket (write may be nil), which it leaves holding what is
// ready. It returns nil if anything is, else WSAEWOULDBLOCK, or select's
// error.
func selectNoWait(read, write *[2]uintptr) error {
	var tv windows.Timeval
	var wp unsafe.Pointer
	if write != nil {
		wp = unsafe.Pointer(write)
	}
	// The first argument, nfds, is ignored by Winsock.
	r, _, errno := syscall.SyscallN(procSelect.Addr(), 0,
		uintptr(unsafe.Pointer(read)), uintptr(wp), 0, uintptr(unsafe.Pointer(&tv)))
	// select returns an int: on amd64 the upper half of r is not its.
	switch n := int32(r); {
	case n == -1: // SOCKET_ERROR; WSAGetLastError is GetLastError, which errno holds
		// Windows says WSAENOTSOCK of a handle that is no socket, Wine
		// WSAEOPNOTSUPP; a socket has a type.
		if _, err := windows.GetsockoptInt(windows.Handle(read[1]), windows.SOL_SOCKET, soType); err != nil {
			return windows.WSAENOTSOCK
		}
		return errno
	case n == 0:
		return windows.WSAEWOULDBLOCK
	}
	return nil
}

// sockaddr is the address of a socket's peer.
type sockaddr = windows.Sockaddr

// isIPv6Socket reports whether socket fd is an IPv6 one.
func isIPv6Socket(fd int) (bool, error) {
	local, err := windows.Getsockname(windows.Handle(fd))
	_, v6 := local.(*windows.SockaddrInet6)
	return v6, err
}

func inet4Sockaddr(port int, ip [4]byte) sockaddr {
	return &windows.SockaddrInet4{Port: port, Addr: ip}
}

func inet6Sockaddr(port int, ip [16]byte, zone uint32) sockaddr {
	return &windows.SockaddrInet6{Port: port, Addr: ip, ZoneId: zone}
}

func unixSockaddr(path string) sockaddr { return &windows.SockaddrUnix{Name: path} }

// netAddr returns sa, a sender's address, as a net.Addr: nil for none.
func netAddr(sa sockaddr) net.Addr {
	switch a := sa.(type) {
	case *windows.SockaddrInet4:
		return &net.UDPAddr{IP: a.Addr[:], Port: a.Port}
	case *windows.SockaddrInet6:
		return &net.UDPAddr{IP: a.Addr[:], Port: a.Port, Zone: zoneName(a.ZoneId)}
	case *windows.SockaddrUnix:
		return unixAddr(a.Name)
	}
	return nil
}

// zeroReadIsEOF reports whether a read of 0 bytes from socket s means the
// end of the stream: for anything but a datagram or raw socket, whose
// messages may be empty. The net package draws the same line.
func zeroReadIsEOF(s uintptr) bool {
	typ, err := windows.GetsockoptInt(windows.Handle(s), windows.SOL_SOCKET, soType)
	return err != nil || (typ != windows.SOCK_DGRAM && typ != windows.SOCK_RAW)
}

// wouldBlock returns the error of op finding nothing to do: it wraps
// ErrWouldBlock, WSAEWOULDBLOCK and, for programs written for Unix too,
// EAGAIN.
func wouldBlock(op string) error {
	return fmt.Errorf("%w: %s: %w", ErrWouldBlock, op, wsaError{windows.WSAEWOULDBLOCK, syscall.EAGAIN})
}

func isWouldBlock(err error) bool { return err == windows.WSAEWOULDBLOCK }

// sysError returns err, a Winsock error of an operation on socket fd, as
// Read and Write wrap it: a handle that is not a socket is an invalid
// file object, and the errors a program written for Unix looks for also
// match their Unix names (syscall.ECONNRESET for WSAECONNRESET, ...).
func sysError(what string, fd int, err error) error {
	if err == windows.WSAENOTSOCK {
		return fmt.Errorf("%w: handle %d is not a socket: %w", ErrInvalidFileObj, fd, err)
	}
	if e, ok := err.(syscall.Errno); ok {
		if u, ok := unixErrnos[e]; ok {
			err = wsaError{e, u}
		}
	}
	return fmt.Errorf("selectors: %s socket %d: %w", what, fd, err)
}

// unixErrnos are the Unix names of Winsock's errors, as the syscall
// package defines them on Windows.
var unixErrnos = map[syscall.Errno]syscall.Errno{
	windows.WSAECONNRESET:   syscall.ECONNRESET,
	windows.WSAECONNABORTED: syscall.ECONNABORTED,
	windows.WSAECONNREFUSED: syscall.ECONNREFUSED,
	windows.WSAENOTCONN:     syscall.ENOTCONN,
	windows.WSAESHUTDOWN:    syscall.EPIPE, // what a write after shutdown gets on Unix
	windows.WSAETIMEDOUT:    syscall.ETIMEDOUT,
	windows.WSAEMSGSIZE:     syscall.EMSGSIZE,
	windows.WSAENETUNREACH:  syscall.ENETUNREACH,
	windows.WSAEHOSTUNREACH: syscall.EHOSTUNREACH,
	windows.WSAENETRESET:    syscall.ENETRESET,
}

// wsaError is a Winsock error that also matches its Unix name.
type wsaError struct{ wsa, unix syscall.Errno }

func (e wsaError) Error() string   { return e.wsa.Error() }
func (e wsaError) Unwrap() []error { return []error{e.wsa, e.unix} }

// acceptGuard bounds the wait of Go's own Accept after select found a
// connection pending: it completes at once, unless the connection was
// reset and dropped from the queue in between, when it would wait for
// the next one.
const acceptGuard = 50 * time.Millisecond

// accept takes a pending connection from the listener behind rc with the
// listener's own Accept, once select has found one pending: Go's
// listeners on Windows accept with AcceptEx into sockets of their own
// making, and no other way gives a *net.TCPConn set up as theirs.
func accept(ln net.Listener, rc syscall.RawConn) (net.Conn, error) {
	// Each turn takes one connection off the queue: those reset while
	// they waited fail, and the next is tried, while select finds one.
	for {
		var err error
		if cerr := rc.Control(func(s uintptr) { err = readyFor(s, false) }); cerr != nil {
			return nil, objectError(ln, cerr)
		}
		if isWouldBlock(err) {
			return nil, errAcceptWouldBlock
		}
		if err != nil {
			return nil, fmt.Errorf("selectors: accept on %v: %w", ln.Addr(), err)
		}
		c, err := acceptGuarded(ln)
		if !isResetBeforeAccept(err) {
			return c, err
		}
	}
}

// acceptGuarded calls ln's own Accept with a deadline of acceptGuard.
func acceptGuarded(ln net.Listener) (net.Conn, error) {
	d := ln.(interface{ SetDeadline(time.Time) error })
	if err := d.SetDeadline(time.Now().Add(acceptGuard)); err != nil {
		return nil, objectError(ln, err)
	}
	c, err := ln.Accept()
	d.SetDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errAcceptWouldBlock
	case errors.Is(err, net.ErrClosed):
		return nil, objectError(ln, err)
	case err != nil:
		return nil, fmt.Errorf("selectors: accept on %v: %w", ln.Addr(), err)
	}
	return c, nil
}

// isResetBeforeAccept reports an error of Accept that belongs to the
// connection it took, reset while it waited in the queue, and not to the
// listener. Go's Accept skips two such errors itself; Wine gives a third,
// WSAENOTCONN.
func isResetBeforeAccept(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case windows.WSAENOTCONN, windows.WSAECONNRESET, windows.WSAECONNABORTED, windows.ERROR_NETNAME_DELETED:
		return true
	}
	return false
}
