//go:build unix

package selectors

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// settle finishes the system call that do, or Read or Write itself, made
// on op.fd: it makes it again if a signal interrupted it, and tells the
// end of a stream from an empty datagram after a read of 0 bytes, asking
// the descriptor's type only on that rare path, and while the descriptor
// is still the one read.
func (op *ioOp) settle() {
	if op.err == unix.EINTR {
		op.do(uintptr(op.fd))
		return
	}
	if op.n == 0 && op.err == nil && (op.kind == opRead || op.kind == opReadFrom) {
		op.eof = zeroReadIsEOF(op.fd)
	}
}

// sysRead and sysWrite are read(2) and write(2) on fd, once. They are
// small enough for the compiler to inline into Read and Write.
func sysRead(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func sysWrite(fd int, p []byte) (int, error) { return unix.Write(fd, p) }

// recvfrom receives a datagram and its sender's address on socket fd.
func recvfrom(fd int, p []byte) (int, sockaddr, error) { return unix.Recvfrom(fd, p, 0) }

// sockaddr is the address of a socket's peer.
type sockaddr = unix.Sockaddr

// sendto sends p to addr from socket fd, as one datagram.
func sendto(fd int, p []byte, addr net.Addr) (int, error) {
	sa, err := sockaddrOf(fd, addr)
	if err != nil {
		return 0, err
	}
	// SendmsgN, not Sendto, which drops the count: a stream socket, which
	// takes a sendto too, may take part of p.
	return unix.SendmsgN(fd, p, nil, sa, 0)
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
