//go:build unix

package main

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// socket is a connection's descriptor, owned by the loop: only close
// closes it.
type socket = int

// prepareListener has nothing to do: Go's listeners are non-blocking.
func prepareListener(*net.TCPListener) error { return nil }

// accept takes one connection from ln without waiting, and returns its
// non-blocking descriptor and the peer's address. No connection waiting
// is an error for which wouldBlock is true.
func accept(ln *net.TCPListener) (socket, string, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, "", err
	}
	fd, sa := -1, syscall.Sockaddr(nil)
	var aerr error
	// A listener's RawConn has only Control (Read is EINVAL), which runs
	// the function once and never parks: the selector does the waiting.
	err = rc.Control(func(lfd uintptr) {
		// Hold ForkLock as the net package does, so that a child started
		// meanwhile by another goroutine cannot inherit the descriptor.
		syscall.ForkLock.RLock()
		fd, sa, aerr = ignoringEINTRAccept(int(lfd))
		if aerr == nil {
			syscall.CloseOnExec(fd)
		}
		syscall.ForkLock.RUnlock()
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return -1, "", err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, "", err
	}
	// No Nagle delay on small replies, as Go's net package does for every
	// TCP connection it makes.
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		syscall.Close(fd)
		return -1, "", err
	}
	return fd, sockaddrString(sa), nil
}

func ignoringEINTRAccept(fd int) (int, syscall.Sockaddr, error) {
	for {
		nfd, sa, err := syscall.Accept(fd)
		if err != syscall.EINTR {
			return nfd, sa, err
		}
	}
}

// recv reads what has arrived on s without waiting, as read(2) does: n > 0
// bytes, or 0 and no error at the end of the stream, or an error. A read
// interrupted by a signal fails with EINTR, which wouldBlock accepts: s
// stays ready, and the selector reports it again. recv and send are a
// bare system call each, small enough to inline, so that it is made from
// the caller's frame (see conn.handle).
func recv(s socket, p []byte) (int, error) {
	return syscall.Read(s, p)
}

// send writes as much of p to s as fits now, as write(2) does: the count,
// or an error (EINTR too, which wouldBlock accepts, as for recv).
func send(s socket, p []byte) (int, error) {
	return syscall.Write(s, p)
}

func closeSocket(s socket) {
	// Not retried on EINTR: POSIX leaves the descriptor's state unknown.
	_ = syscall.Close(s)
}

// wouldBlock reports the error of a call that found nothing to do now:
// the socket is not ready, or a signal interrupted the call.
func wouldBlock(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) ||
		errors.Is(err, syscall.EINTR)
}

// connAborted reports a connection reset before it was accepted.
func connAborted(err error) bool {
	return errors.Is(err, syscall.ECONNABORTED)
}

func sockaddrString(sa syscall.Sockaddr) string {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return "?"
}
