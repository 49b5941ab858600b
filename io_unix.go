//go:build unix

package selectors

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// do makes op's system call on fd, again while a signal interrupts it.
func (op *ioOp) do(fd uintptr) {
	op.fd = int(fd)
	for {
		switch op.kind {
		case opRead:
			op.n, op.err = unix.Read(op.fd, op.p)
		case opWrite:
			op.n, op.err = unix.Write(op.fd, op.p)
		case opReadFrom:
			op.n, op.from, op.err = unix.Recvfrom(op.fd, op.p, 0)
		case opWriteTo:
			op.n, op.err = sendto(op.fd, op.p, op.to)
		}
		if op.err != unix.EINTR {
			break
		}
	}
	if (op.kind == opRead || op.kind == opReadFrom) && op.n == 0 && op.err == nil {
		// The descriptor's type is asked only here, on this rare path,
		// and here, where the descriptor is still the one read.
		op.eof = zeroReadIsEOF(op.fd)
	}
}

// sockaddr is the address of a socket's peer.
type sockaddr = unix.Sockaddr

// sendto sends p to addr from socket fd, as one datagram.
func sendto(fd int, p []byte, addr net.Addr) (int, error) {
	sa, err := sockaddrOf(fd, addr)
	if err != nil {
		return 0, err
	}
	if err := unix.Sendto(fd, p, 0, sa); err != nil {
		return 0, err
	}
	return len(p), nil
}

// isIPv6Socket reports whether socket fd is an IPv6 one.
func isIPv6Socket(fd int) (bool, error) {
	local, err := unix.Getsockname(fd)
	_, v6 := local.(*unix.SockaddrInet6)
	return v6, err
}

func inet4Sockaddr(port int, ip [4]byte) sockaddr { return &unix.SockaddrInet4{Port: port, Addr: ip} }

func inet6Sockaddr(port int, ip [16]byte, zone uint32) sockaddr {
	return &unix.SockaddrInet6{Port: port, Addr: ip, ZoneId: zone}
}

func unixSockaddr(path string) sockaddr { return &unix.SockaddrUnix{Name: path} }

// netAddr returns sa, a sender's address, as a net.Addr: nil for none.
func netAddr(sa sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: a.Addr[:], Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.UDPAddr{IP: a.Addr[:], Port: a.Port, Zone: zoneName(a.ZoneId)}
	case *unix.SockaddrUnix:
		return unixAddr(a.Name)
	}
	return nil
}

// zeroReadIsEOF reports whether a read of 0 bytes from fd means the end of
// the stream: for anything but a datagram or raw socket, whose messages
// may be empty. The net package draws the same line.
func zeroReadIsEOF(fd int) bool {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err != nil || (typ != unix.SOCK_DGRAM && typ != unix.SOCK_RAW)
}

// wouldBlock returns the error of op finding nothing to do: it wraps
// ErrWouldBlock and EAGAIN.
func wouldBlock(op string) error {
	return fmt.Errorf("%w: %s: %w", ErrWouldBlock, op, unix.EAGAIN)
}

// isWouldBlock reports whether err, a system call's, means that the
// descriptor had nothing to do now.
func isWouldBlock(err error) bool {
	return err == unix.EAGAIN || err == unix.EWOULDBLOCK
}

// sysError returns err, the error of a system call on fd, as Read and
// Write wrap it.
func sysError(what string, fd int, err error) error {
	return fmt.Errorf("selectors: %s fd %d: %w", what, fd, err)
}

// accept takes a pending connection from the listener behind rc and
// makes it a net.Conn of ln's kind.
func accept(ln net.Listener, rc syscall.RawConn) (net.Conn, error) {
	fd := -1
	var err error
	if cerr := rc.Control(func(lfd uintptr) { fd, err = acceptRetrying(int(lfd)) }); cerr != nil {
		return nil, objectError(ln, cerr)
	}
	if isWouldBlock(err) {
		return nil, errAcceptWouldBlock
	}
	if err != nil {
		return nil, fmt.Errorf("selectors: accept on %v: %w", ln.Addr(), err)
	}
	// FileConn sets up a copy of the descriptor as the net package sets up
	// the connections it accepts: non-blocking, in the runtime's poller,
	// TCP_NODELAY and keep-alive for TCP, and the addresses.
	f := os.NewFile(uintptr(fd), "accepted from "+ln.Addr().String())
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("selectors: accept on %v: %w", ln.Addr(), err)
	}
	return c, nil
}

// acceptRetrying accepts a connection from lfd, close-on-exec, skipping
// those reset while they waited (ECONNABORTED), as the net package does,
// and starting again when a signal interrupts it.
func acceptRetrying(lfd int) (int, error) {
	for {
		fd, err := acceptCloexec(lfd)
		if err != unix.EINTR && err != unix.ECONNABORTED {
			return fd, err
		}
	}
}
